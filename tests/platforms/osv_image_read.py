#!/usr/bin/env python3
"""osv_image_read.py - an independent reader of the OSv disks `jungbench
images build osv` writes: parses the MBR and the ROFS itself, the way OSv's
block layer and ROFS driver read them (platforms/osv_image.c documents the
format), and prints or checks what is inside.

  osv_image_read.py list IMAGE          the tree: type, size, path[, target]
  osv_image_read.py check IMAGE SERVICE EXE
      exit 0 when the image holds exactly /jung-SERVICE (byte-equal to EXE)
      and the skeleton OSv reads, in partition 1 of an MBR disk; else 1
      with what is wrong.
"""
import os
import stat
import struct
import sys

BLOCK = 512
MAGIC = 0xDEADBEAD


class Bad(Exception):
    pass


def partition(disk):
    """(offset, size) in bytes of the MBR partition OSv mounts as vblk0.1:
    the second entry whose type and CHS start sector are not zero."""
    if len(disk) < BLOCK or disk[510:512] != b"\x55\xaa":
        raise Bad("no MBR signature 55 AA at offset 510")
    found = []
    for index in range(4):
        e = disk[446 + 16 * index : 462 + 16 * index]
        system_id = e[4]
        chs_sector = struct.unpack_from("<H", e, 2)[0] & 0x3F
        lba, count = struct.unpack_from("<II", e, 8)
        if system_id and chs_sector:
            found.append((index, lba * BLOCK, count * BLOCK, system_id))
    ours = [f for f in found if f[0] == 1]
    if not ours:
        raise Bad("MBR entry 1 (OSv's vblk0.1) is empty; entries: %r" % (found,))
    _, off, size, system_id = ours[0]
    if off + size > len(disk):
        raise Bad("partition [%d, +%d) runs past the disk (%d bytes)" % (off, size, len(disk)))
    return off, size, system_id


def rofs(part):
    """{path: (kind, size, contents-or-target)} of the ROFS in part."""
    sb = struct.unpack_from("<8Q", part, 0)
    magic, version, block_size, info_block, info_blocks, ndirent, nlink, ninode = sb
    if magic != MAGIC or version != 1 or block_size != BLOCK:
        raise Bad("superblock: magic %#x version %d block size %d" % (magic, version, block_size))
    info = part[info_block * BLOCK : (info_block + info_blocks) * BLOCK]
    if len(info) != info_blocks * BLOCK:
        raise Bad("structure info [%d, +%d blocks) past the partition" % (info_block, info_blocks))
    pos, dirents, links, inodes = 0, [], [], []
    for _ in range(ndirent):
        ino, length = struct.unpack_from("<QH", info, pos)
        dirents.append((ino, info[pos + 10 : pos + 10 + length].decode()))
        pos += 10 + length
    for _ in range(nlink):
        (length,) = struct.unpack_from("<H", info, pos)
        links.append(info[pos + 2 : pos + 2 + length].decode())
        pos += 2 + length
    for k in range(ninode):
        mode, _pad, ino, data, count = struct.unpack_from("<IIQQQ", info, pos)
        if ino != k + 1:
            raise Bad("inode %d of the table says it is inode %d" % (k + 1, ino))
        inodes.append((mode, data, count))
        pos += 32
    if pos > len(info):
        raise Bad("structure info is longer than its %d blocks" % info_blocks)
    tree = {}

    def walk(ino, path, depth):
        if depth > 16 or not 1 <= ino <= ninode:
            raise Bad("bad inode %d at %s" % (ino, path or "/"))
        mode, data, count = inodes[ino - 1]
        if stat.S_ISDIR(mode):
            tree[path or "/"] = ("dir", count, None)
            if data + count > ndirent:
                raise Bad("directory %s: entries [%d, +%d) past the table" % (path, data, count))
            for child, name in dirents[data : data + count]:
                if "/" in name or name in ("", ".", ".."):
                    raise Bad("bad name %r in %s" % (name, path or "/"))
                walk(child, path + "/" + name, depth + 1)
        elif stat.S_ISREG(mode):
            body = part[data * BLOCK : data * BLOCK + count]
            if len(body) != count or data < 1 or data >= info_block:
                raise Bad("file %s: blocks from %d, %d bytes, outside the data area" % (path, data, count))
            tree[path] = ("file", count, body)
        elif stat.S_ISLNK(mode):
            if data >= nlink or count != 1:
                raise Bad("symlink %s: index %d count %d" % (path, data, count))
            tree[path] = ("link", len(links[data]), links[data])
        else:
            raise Bad("inode %d (%s) has mode %o" % (ino, path, mode))

    walk(1, "", 0)
    return tree


def read(path):
    with open(path, "rb") as f:
        disk = f.read()
    off, size, system_id = partition(disk)
    if len(disk) % BLOCK:
        raise Bad("disk is %d bytes, not whole sectors" % len(disk))
    return off, size, system_id, rofs(disk[off : off + size])


def check(image, service, exe):
    off, size, system_id, tree = read(image)
    with open(exe, "rb") as f:
        program = f.read()
    problems = []
    if off != 512:
        problems.append("partition at offset %d, expected 512 (right after the MBR)" % off)
    if system_id != 0x83:
        problems.append("partition type %#x, expected 0x83" % system_id)
    if off + size != os.path.getsize(image):
        problems.append("disk is %d bytes, partition ends at %d" % (os.path.getsize(image), off + size))
    expected = {
        "/": ("dir", 6),
        "/jung-" + service: ("file", len(program)),
        "/etc": ("dir", 3),
        "/etc/fstab": ("file", None),
        "/etc/hosts": ("file", None),
        "/etc/mnttab": ("link", None),
        "/dev": ("dir", 0),
        "/proc": ("dir", 0),
        "/sys": ("dir", 0),
        "/tmp": ("dir", 0),
    }
    if set(tree) != set(expected):
        problems.append("tree %s, expected %s" % (sorted(tree), sorted(expected)))
    for path, (kind, size_) in expected.items():
        got = tree.get(path)
        if got and (got[0] != kind or (size_ is not None and got[1] != size_)):
            problems.append("%s: %s of size %d, expected %s of size %s" % (path, got[0], got[1], kind, size_))
    prog = tree.get("/jung-" + service)
    if prog and prog[2] != program:
        problems.append("/jung-%s differs from %s" % (service, exe))
    fstab = tree.get("/etc/fstab", (0, 0, b""))[2] or b""
    for line in (b"/dev/vblk0.1 /", b"devfs", b"procfs", b"sysfs", b"ramfs"):
        if line not in fstab:
            problems.append("/etc/fstab lacks %r" % line)
    if b"127.0.0.1" not in (tree.get("/etc/hosts", (0, 0, b""))[2] or b""):
        problems.append("/etc/hosts lacks 127.0.0.1")
    if tree.get("/etc/mnttab", (0, 0, ""))[2] != "/proc/mounts":
        problems.append("/etc/mnttab is not a symlink to /proc/mounts")
    for p in problems:
        print("FAIL: %s: %s" % (image, p))
    if not problems:
        print("ok: %s: partition at %d (%d bytes), %d entries, /jung-%s = %s (%d bytes)"
              % (image, off, size, len(tree), service, exe, len(program)))
    return not problems


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "list":
            off, size, _, tree = read(argv[2])
            print("partition 1 at %d, %d bytes" % (off, size))
            for path in sorted(tree):
                kind, size_, body = tree[path]
                print("%-4s %10d %s%s" % (kind, size_, path, " -> " + body if kind == "link" else ""))
            return 0
        if len(argv) == 5 and argv[1] == "check":
            return 0 if check(argv[2], argv[3], argv[4]) else 1
    except (Bad, struct.error, UnicodeDecodeError) as e:
        print("FAIL: %s: %s" % (argv[2], e))
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
