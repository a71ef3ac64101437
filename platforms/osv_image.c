/* osv_image.c - the disk image an OSv kernel boots one Jung service from:
 * a raw disk with an MBR whose second entry holds a ROFS (OSv's read-only
 * file system) with the service as /jung-<service> and the few files OSv
 * reads at boot. Written here from the format's description below; the
 * kernel itself is booted directly by libvirt (<kernel>), so the disk
 * carries no copy of it.
 *
 * ON-DISK FORMAT
 *
 * All integers are little-endian. A "block" is 512 bytes. Offsets in the
 * ROFS are relative to the start of its partition.
 *
 * Disk:
 *
 *   offset            size  what
 *   0                  512  MBR (below)
 *   512 * START        ...  the ROFS partition, START = JB_OSV_PART_START
 *   end                     the file ends with the partition (whole blocks)
 *
 * MBR (sector 0): OSv's block layer reads it when the virtio disk appears
 * and makes device vblk0.<i> of the i-th of the four entries whose type is
 * not 0 and whose CHS start sector is not 0. The loader mounts
 * /dev/vblk0.1 as root, i.e. the SECOND entry:
 *
 *   offset  size  what
 *   0        446  zero (no boot code: the kernel is not booted from disk)
 *   446       16  entry 0: zero (unused)
 *   462       16  entry 1: the ROFS partition
 *     +0       1    status: 0 (not bootable)
 *     +1       3    CHS of the first sector (head; sector | cyl<<6 as u16)
 *     +4       1    type: 0x83 (Linux)
 *     +5       3    CHS of the sector after the last one (same encoding)
 *     +8       4    first sector (LBA) = START
 *     +12      4    number of sectors
 *   478       32  entries 2, 3: zero
 *   510        2  0x55 0xAA
 *
 * ROFS (in the partition):
 *
 *   block 0                superblock (64 bytes, rest of the block zero)
 *   blocks 1 ..            file contents, each file from the start of a
 *                          block, its last block zero-padded; empty files
 *                          take no block
 *   block I (info start)   structure info, packed, zero-padded to a block:
 *                          all directory entries, then all symlink targets,
 *                          then all inodes
 *
 *   superblock                 offset  size
 *     magic 0xDEADBEAD              0     8
 *     version 1                     8     8
 *     block size 512               16     8
 *     info start block I           24     8
 *     info length in blocks        32     8
 *     directory entries count      40     8
 *     symlinks count               48     8
 *     inodes count                 56     8
 *
 *   directory entry (variable)     inode number u64, name length u16, name
 *                                  bytes (no NUL)
 *   symlink target (variable)      length u16, path bytes (no NUL)
 *   inode (32 bytes)               mode u32 + 4 zero bytes, inode number
 *                                  u64, data u64, count u64
 *
 * Inodes are numbered from 1 and stored in that order (inode n is the
 * n-th of the table); inode 1 is the root directory. By type (mode's
 * S_IFMT bits; OSv reports every file as mode 0555):
 *   directory: data = index of its first entry in the directory entry
 *              table, count = number of entries (its children are
 *              consecutive; there are no "." and ".." entries)
 *   file:      data = first block of its contents, count = size in bytes
 *   symlink:   data = index in the symlink table, count = 1
 *
 * OSv mounts it read-only, then reads /etc/fstab from it and mounts what
 * it lists on directories that must exist in the image (a read-only root
 * cannot get new ones): devfs on /dev, procfs on /proc, sysfs on /sys, a
 * ramfs on /tmp. /etc/hosts serves libc's name lookups of localhost.
 */
#include "platforms/images.h"
#include "platforms/internal.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 512u
#define ROFS_MAGIC 0xDEADBEADull
#define MAX_NODES 64

typedef enum { NODE_DIR, NODE_FILE, NODE_LINK } node_kind;

/* One file, directory or symlink of the tree; children of a directory are
 * a linked list in insertion order. */
typedef struct rofs_node {
    char name[256];
    node_kind kind;
    const jb_osv_file *file; /* NODE_FILE, NODE_LINK: what it holds */
    int parent, first_child, last_child, next_sibling;
    uint64_t inode_no, data, count;
} rofs_node;

typedef struct rofs_tree {
    rofs_node nodes[MAX_NODES];
    size_t n;
} rofs_tree;

typedef struct disk_writer {
    FILE *f;
    uint64_t block; /* next free block of the partition */
    char *err;
    size_t errlen;
} disk_writer;

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int child_named(const rofs_tree *t, int dir, const char *name, size_t len)
{
    for (int c = t->nodes[dir].first_child; c >= 0; c = t->nodes[c].next_sibling)
        if (strlen(t->nodes[c].name) == len && memcmp(t->nodes[c].name, name, len) == 0)
            return c;
    return -1;
}

static int add_node(rofs_tree *t, int parent, const char *name, size_t len, node_kind kind,
                    char *err, size_t errlen)
{
    if (t->n == MAX_NODES || len == 0 || len >= sizeof t->nodes[0].name) {
        snprintf(err, errlen, "OSv image: too many files or a bad name '%.*s'", (int)len, name);
        return -1;
    }
    int i = (int)t->n++;
    rofs_node *n = &t->nodes[i];
    memset(n, 0, sizeof *n);
    memcpy(n->name, name, len);
    n->kind = kind;
    n->parent = parent;
    n->first_child = n->last_child = n->next_sibling = -1;
    if (parent >= 0) {
        rofs_node *p = &t->nodes[parent];
        if (p->last_child >= 0)
            t->nodes[p->last_child].next_sibling = i;
        else
            p->first_child = i;
        p->last_child = i;
    }
    return i;
}

/* Adds f at its absolute path, making the directories on the way. */
static bool add_path(rofs_tree *t, const jb_osv_file *f, char *err, size_t errlen)
{
    const char *p = f->path;
    if (*p != '/') {
        snprintf(err, errlen, "OSv image: path '%s' is not absolute", f->path);
        return false;
    }
    int dir = 0;
    while (*p) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 0)
            break;
        bool last = p[len] == '\0' || p[len + strspn(p + len, "/")] == '\0';
        int c = child_named(t, dir, p, len);
        if (last) {
            if (c >= 0) {
                snprintf(err, errlen, "OSv image: '%s' given twice", f->path);
                return false;
            }
            node_kind k = f->link_target ? NODE_LINK : f->is_dir ? NODE_DIR : NODE_FILE;
            c = add_node(t, dir, p, len, k, err, errlen);
            if (c < 0)
                return false;
            t->nodes[c].file = f;
            return true;
        }
        if (c < 0 && (c = add_node(t, dir, p, len, NODE_DIR, err, errlen)) < 0)
            return false;
        if (t->nodes[c].kind != NODE_DIR) {
            snprintf(err, errlen, "OSv image: '%s' is under a file", f->path);
            return false;
        }
        dir = c;
        p += len;
    }
    return true;
}

/* Inode numbers breadth first, so each directory's children are
 * consecutive inodes and consecutive directory entries; order[k] is the
 * node of inode k + 1. */
static void number_nodes(rofs_tree *t, int *order)
{
    size_t head = 0, tail = 0;
    order[tail++] = 0;
    t->nodes[0].inode_no = 1;
    uint64_t dirent = 0;
    while (head < tail) {
        rofs_node *d = &t->nodes[order[head++]];
        if (d->kind != NODE_DIR)
            continue;
        d->data = dirent;
        for (int c = d->first_child; c >= 0; c = t->nodes[c].next_sibling) {
            order[tail] = c;
            t->nodes[c].inode_no = ++tail;
            dirent++;
            d->count++;
        }
    }
}

static bool write_all(disk_writer *w, const void *buf, size_t len)
{
    if (fwrite(buf, 1, len, w->f) == len)
        return true;
    snprintf(w->err, w->errlen, "OSv image: write failed: %s", strerror(errno));
    return false;
}

static bool pad_block(disk_writer *w, uint64_t bytes)
{
    static const uint8_t zero[BLOCK];
    size_t rest = (size_t)(bytes % BLOCK);
    return rest == 0 || write_all(w, zero, BLOCK - rest);
}

/* A file's contents from the next free block; data/count of its inode. */
static bool write_contents(disk_writer *w, rofs_node *n)
{
    const jb_osv_file *f = n->file;
    uint64_t size = 0;
    n->data = w->block;
    if (f->data) {
        if (!write_all(w, f->data, f->data_len))
            return false;
        size = f->data_len;
    } else {
        FILE *in = fopen(f->source, "rb");
        if (!in) {
            snprintf(w->err, w->errlen, "OSv image: cannot read %s: %s", f->source,
                     strerror(errno));
            return false;
        }
        char buf[65536];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, in)) > 0) {
            if (!write_all(w, buf, got)) {
                fclose(in);
                return false;
            }
            size += got;
        }
        bool bad = ferror(in);
        fclose(in);
        if (bad) {
            snprintf(w->err, w->errlen, "OSv image: reading %s failed", f->source);
            return false;
        }
    }
    n->count = size;
    w->block += (size + BLOCK - 1) / BLOCK;
    return pad_block(w, size);
}

/* The structure info (entries, symlinks, inodes) in memory; its length. */
static uint8_t *structure_info(const rofs_tree *t, const int *order, size_t *len, uint64_t *ndir,
                               uint64_t *nlink)
{
    size_t cap = t->n * (8 + 2 + 256 + 2 + 4096 + 32);
    uint8_t *buf = calloc(1, cap), *p = buf;
    if (!buf)
        return NULL;
    *ndir = *nlink = 0;
    for (size_t k = 1; k < t->n; k++) { /* entries in inode order = BFS order */
        const rofs_node *n = &t->nodes[order[k]];
        size_t l = strlen(n->name);
        put_u64(p, n->inode_no);
        put_u16(p + 8, (uint16_t)l);
        memcpy(p + 10, n->name, l);
        p += 10 + l;
        (*ndir)++;
    }
    for (size_t k = 0; k < t->n; k++) {
        const rofs_node *n = &t->nodes[order[k]];
        if (n->kind != NODE_LINK)
            continue;
        size_t l = strlen(n->file->link_target);
        put_u16(p, (uint16_t)l);
        memcpy(p + 2, n->file->link_target, l);
        p += 2 + l;
        (*nlink)++;
    }
    for (size_t k = 0; k < t->n; k++) {
        const rofs_node *n = &t->nodes[order[k]];
        uint32_t mode = n->kind == NODE_DIR    ? S_IFDIR | 0755
                        : n->kind == NODE_FILE ? S_IFREG | 0755
                                               : S_IFLNK | 0777;
        put_u32(p, mode);
        put_u64(p + 8, n->inode_no);
        put_u64(p + 16, n->data);
        put_u64(p + 24, n->count);
        p += 32;
    }
    *len = (size_t)(p - buf);
    return buf;
}

static void chs(uint64_t lba, uint8_t *out)
{
    uint64_t c = lba / 63 / 255, h = lba / 63 % 255, s = lba % 63 + 1;
    if (c > 1023)
        c = 1023, h = 254, s = 63;
    out[0] = (uint8_t)h;
    put_u16(out + 1, (uint16_t)(s | (c << 6)));
}

static bool write_mbr(disk_writer *w, uint64_t part_blocks)
{
    uint8_t mbr[BLOCK] = {0}, *e = mbr + 446 + 16; /* entry 1: OSv's vblk0.1 */
    chs(JB_OSV_PART_START, e + 1);
    e[4] = 0x83;
    chs(JB_OSV_PART_START + part_blocks, e + 5);
    put_u32(e + 8, JB_OSV_PART_START);
    put_u32(e + 12, (uint32_t)part_blocks);
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    return fseek(w->f, 0, SEEK_SET) == 0 && write_all(w, mbr, sizeof mbr);
}

static bool write_superblock(disk_writer *w, uint64_t info_block, uint64_t info_blocks,
                             uint64_t ndir, uint64_t nlink, uint64_t ninodes)
{
    uint8_t sb[BLOCK] = {0};
    put_u64(sb, ROFS_MAGIC);
    put_u64(sb + 8, 1);
    put_u64(sb + 16, BLOCK);
    put_u64(sb + 24, info_block);
    put_u64(sb + 32, info_blocks);
    put_u64(sb + 40, ndir);
    put_u64(sb + 48, nlink);
    put_u64(sb + 56, ninodes);
    return fseek(w->f, (long)(JB_OSV_PART_START * BLOCK), SEEK_SET) == 0 &&
           write_all(w, sb, sizeof sb);
}

/* Everything after the MBR: superblock placeholder, contents, structure
 * info, then the superblock and the MBR that describe them. */
static bool write_disk(disk_writer *w, rofs_tree *t)
{
    int order[MAX_NODES];
    number_nodes(t, order);
    static const uint8_t zero[BLOCK];
    for (uint64_t b = 0; b < JB_OSV_PART_START + 1; b++)
        if (!write_all(w, zero, BLOCK))
            return false;
    w->block = 1;
    for (size_t k = 0; k < t->n; k++)
        if (t->nodes[order[k]].kind == NODE_FILE && !write_contents(w, &t->nodes[order[k]]))
            return false;
    for (size_t k = 0; k < t->n; k++)
        if (t->nodes[order[k]].kind == NODE_LINK)
            t->nodes[order[k]].count = 1;
    uint64_t ndir, nlink, link = 0;
    for (size_t k = 0; k < t->n; k++)
        if (t->nodes[order[k]].kind == NODE_LINK)
            t->nodes[order[k]].data = link++;
    size_t len;
    uint8_t *info = structure_info(t, order, &len, &ndir, &nlink);
    if (!info) {
        snprintf(w->err, w->errlen, "out of memory");
        return false;
    }
    uint64_t info_block = w->block, info_blocks = (len + BLOCK - 1) / BLOCK;
    bool ok = write_all(w, info, len) && pad_block(w, len);
    free(info);
    uint64_t part_blocks = info_block + info_blocks;
    return ok && write_superblock(w, info_block, info_blocks, ndir, nlink, t->n) &&
           write_mbr(w, part_blocks);
}

bool jb_osv_write_image(const char *out_path, const jb_osv_file *files, size_t n, uint64_t *bytes,
                        char *err, size_t errlen)
{
    rofs_tree *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    add_node(t, -1, "/", 1, NODE_DIR, err, errlen);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = add_path(t, &files[i], err, errlen);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    disk_writer w = {.f = NULL, .err = err, .errlen = errlen};
    if (ok && !(w.f = fopen(tmp, "wb"))) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        ok = false;
    }
    if (ok)
        ok = write_disk(&w, t);
    long end = ok && fseek(w.f, 0, SEEK_END) == 0 ? ftell(w.f) : -1;
    if (w.f && fclose(w.f) != 0 && ok) {
        snprintf(err, errlen, "writing %s failed: %s", tmp, strerror(errno));
        ok = false;
    }
    /* libvirt's QEMU runs as its own user (libvirt-qemu): it reads the disk */
    if (ok && (chmod(tmp, 0644) != 0 || rename(tmp, out_path) != 0)) {
        snprintf(err, errlen, "cannot install %s: %s", out_path, strerror(errno));
        ok = false;
    }
    if (!ok && w.f)
        unlink(tmp);
    if (ok && bytes)
        *bytes = (uint64_t)end;
    free(t);
    return ok;
}

/* What OSv reads at boot besides the program; see the format comment. */
static const char osv_fstab[] = "/dev/vblk0.1 /          rofs      defaults 0 0\n"
                                "none         /dev       devfs     defaults 0 0\n"
                                "none         /proc      procfs    defaults 0 0\n"
                                "none         /sys       sysfs     defaults 0 0\n"
                                "none         /tmp       ramfs     defaults 0 0\n";
static const char osv_hosts[] = "127.0.0.1 localhost\n";

bool jb_osv_build_image(const char *out_path, const char *exe, const char *service, uint64_t *bytes,
                        char *err, size_t errlen)
{
    if (!jb_elf_is_static(exe, err, errlen))
        return false;
    char program[300];
    snprintf(program, sizeof program, "/jung-%s", service);
    const jb_osv_file files[] = {
        {.path = program, .source = exe},
        {.path = "/etc/fstab", .data = osv_fstab, .data_len = sizeof osv_fstab - 1},
        {.path = "/etc/hosts", .data = osv_hosts, .data_len = sizeof osv_hosts - 1},
        {.path = "/etc/mnttab", .link_target = "/proc/mounts"},
        {.path = "/dev", .is_dir = true},
        {.path = "/proc", .is_dir = true},
        {.path = "/sys", .is_dir = true},
        {.path = "/tmp", .is_dir = true},
    };
    if (!jb_osv_write_image(out_path, files, sizeof files / sizeof files[0], bytes, err, errlen))
        return false;
    /* Beside the disk: which executable it holds, so the driver can check
     * that it is the one the other platforms run (jb_image_matches_build). */
    return jb_write_image_sha256(out_path, exe, err, errlen);
}

/* libvirt boots the kernel directly (QEMU's ELF loader for a multiboot/PVH
 * kernel), so it must be a 64-bit x86 executable with loadable segments
 * and no interpreter: what loader-stripped.elf is, and what a disk image
 * or a Linux program given by mistake is not. */
bool jb_osv_kernel_usable(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open OSv kernel %s: %s", path, strerror(errno));
        return false;
    }
    Elf64_Ehdr eh;
    const char *why = NULL;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG))
        why = "is not an ELF file";
    else if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)
        why = "is not a 64-bit x86 ELF";
    else if (eh.e_type != ET_EXEC)
        why = "is not an ELF executable (OSv's kernel is ET_EXEC)";
    size_t loads = 0;
    for (unsigned i = 0; !why && i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) !=
            (ssize_t)sizeof ph)
            why = "has a truncated program header table";
        else if (ph.p_type == PT_INTERP)
            why = "has a program interpreter (a Linux program, not OSv's kernel)";
        else if (ph.p_type == PT_LOAD)
            loads++;
    }
    close(fd);
    if (!why && loads == 0)
        why = "has no loadable segment";
    if (why)
        snprintf(err, errlen, "OSv kernel %s %s: give OSv's loader-stripped.elf", path, why);
    return why == NULL;
}
