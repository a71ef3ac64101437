#!/bin/sh
# osv_images.sh JUNGBENCH JUNG_DIR - `jungbench images build osv` as a user
# runs it, its disks read back by an independent reader (osv_image_read.py:
# MBR, ROFS superblock, inodes, entries), modes QEMU's user needs, the size
# table counting the kernel once, and the refusals of bad kernels.
# A real kernel is not needed to write disks: without JB_OSV_KERNEL a
# static x86-64 executable stands in for it (the kernel is only copied).
set -u
JB=$1
JUNG=$2
HERE=$(dirname "$0")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }

command -v python3 >/dev/null || { echo "SKIP: python3 missing (apt-get install python3)"; exit 77; }
[ -x "$JUNG/static/jung-user-registry" ] || { echo "SKIP: no static services in $JUNG/static (JB_STATIC_SERVICES off?)"; exit 77; }
KERNEL=${JB_OSV_KERNEL:-$JUNG/static/jung-user-registry}

# a folder QEMU's user cannot enter is refused with the fix, not written into
mkdir -m 700 "$TMP/private"
"$JB" images build osv --kernel "$KERNEL" --image-dir "$TMP/private/images" --bin-dir "$JUNG" \
    >"$TMP/e0" 2>&1 && no "an image folder under a 0700 folder was accepted"
grep -q "is not searchable by libvirt's QEMU user (mode 0700).*chmod o+x $TMP/private" "$TMP/e0" ||
    { cat "$TMP/e0"; no "the 0700 folder is not named with its fix"; }
chmod 755 "$TMP"

"$JB" images build osv --kernel "$KERNEL" --image-dir "$TMP/images" --bin-dir "$JUNG" \
    >"$TMP/out" 2>&1 || { cat "$TMP/out"; echo "FAIL: images build osv failed"; exit 1; }
cat "$TMP/out"
grep -q "osv: {kernel: $TMP/images/osv/kernel.elf}" "$TMP/out" || no "no config hint printed"
cmp -s "$KERNEL" "$TMP/images/osv/kernel.elf" || no "kernel not copied"
for svc in auth_manager user_registry device_registry device_monitor device_commander \
           rule_engine device_gateway api_gateway; do
    img=$TMP/images/osv/$svc.img
    exe=$JUNG/static/jung-$(echo $svc | tr _ -)
    python3 "$HERE/osv_image_read.py" check "$img" "$svc" "$exe" || no "$svc image read back"
    [ "$(stat -c %a "$img")" = 644 ] || no "$img mode $(stat -c %a "$img"), QEMU's user cannot read it"
    size=$(stat -c %s "$img")
    [ "$size" -lt 2000000 ] || no "$svc image $size bytes, goal < 2 MB"
done
for d in "$TMP/images" "$TMP/images/osv"; do
    [ "$(stat -c %a "$d")" = 755 ] || no "$d mode $(stat -c %a "$d")"
done
[ "$(stat -c %a "$TMP/images/osv/kernel.elf")" = 644 ] || no "kernel copy not 0644"
python3 "$HERE/osv_image_read.py" list "$TMP/images/osv/user_registry.img"

# the size table: the kernel once, shared, then each disk
"$JB" images list osv --image-dir "$TMP/images" >"$TMP/list" 2>&1 || no "images list osv failed"
cat "$TMP/list"
k=$(stat -c %s "$TMP/images/osv/kernel.elf")
disks=$(cat "$TMP"/images/osv/*.img | wc -c)
grep -q "total (osv, 8 images, shared layers once): $((k + disks)) bytes" "$TMP/list" ||
    no "total is not kernel once + the 8 disks ($((k + disks)))"

# refusals: each says what is wrong and what to give
"$JB" images build osv --image-dir "$TMP/x" >"$TMP/e1" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "needs --kernel PATH" "$TMP/e1" || { cat "$TMP/e1"; no "missing --kernel: rc $rc"; }
echo "not an elf" >"$TMP/notelf"
"$JB" images build osv --kernel "$TMP/notelf" --image-dir "$TMP/x" >"$TMP/e2" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "is not an ELF file: give OSv's loader-stripped.elf" "$TMP/e2" ||
    { cat "$TMP/e2"; no "non-ELF kernel: rc $rc"; }
"$JB" images build osv --kernel /bin/true --image-dir "$TMP/x" >"$TMP/e3" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "is not an ELF executable" "$TMP/e3" || { cat "$TMP/e3"; no "PIE as kernel: rc $rc"; }
[ ! -e "$TMP/x/osv/user_registry.img" ] || no "an image was written with a bad kernel"

# the reader is not a rubber stamp: a flipped byte in the program is seen
cp "$TMP/images/osv/user_registry.img" "$TMP/bad.img"
printf 'X' | dd of="$TMP/bad.img" bs=1 seek=5000 conv=notrunc 2>/dev/null
python3 "$HERE/osv_image_read.py" check "$TMP/bad.img" user_registry "$JUNG/static/jung-user-registry" \
    >/dev/null && no "the reader accepted a corrupted image"
[ $fail = 0 ] && echo "PASS"
exit $fail
