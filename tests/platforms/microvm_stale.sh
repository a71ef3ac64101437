#!/bin/bash
# microvm_stale.sh JUNGBENCH JUNG_DIR - `jungbench images build microvm`
# writes <image>.sha256, the SHA-256 of the executable the initramfs holds,
# and `jungbench provision` on a microVM platform refuses an initramfs that
# holds another executable than the build tree's (or does not say which)
# before it boots anything, as Docker images and OSv disks are refused.
# Skips (77) without Debian's cloud kernel (images) or libvirtd.
set -uo pipefail
JB=$(readlink -f "$1") JUNG=$(readlink -f "$2")
TMP=$(mktemp -d /tmp/jungbench-microvm-stale.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
exe="$JUNG/static/jung-user-registry"
[ -x "$exe" ] || { echo "SKIP: no static services in $JUNG/static"; exit 77; }
chmod 755 "$TMP"
if ! "$JB" images build microvm --services user_registry --image-dir "$TMP/images" \
    --bin-dir "$JUNG" > "$TMP/build.out" 2>&1; then
    grep -qi "kernel\|modules" "$TMP/build.out" &&
        { echo "SKIP: cannot build a microVM image here: $(tail -1 "$TMP/build.out")"; exit 77; }
    cat "$TMP/build.out"; fail "images build microvm failed"
fi
img="$TMP/images/microvm/user_registry.cpio.xz"
[ "$(cat "$img.sha256")" = "$(sha256sum "$exe" | cut -c1-64)" ] ||
    fail "$img.sha256 is not the SHA-256 of $exe"
cat > "$TMP/c.yaml" <<YAML
name: microvm-stale
broker: embedded
platforms:
  - name: microvm
    driver: libvirt
    image: microvm
    image_dir: $TMP/images
YAML
# provision_refuses WHAT PATTERN: provision fails before booting, naming why.
provision_refuses() {
    "$JB" provision "$TMP/c.yaml" --instances 1 --timeout-ms 20000 > "$TMP/p.out" 2>&1 &&
        fail "$1: provision booted a stale initramfs"
    if grep -qi "libvirt.*\(connect\|socket\|failed to\)" "$TMP/p.out" && ! grep -q "$2" "$TMP/p.out"; then
        echo "SKIP: libvirtd not reachable: $(tail -1 "$TMP/p.out")"; exit 77
    fi
    grep -q "$2" "$TMP/p.out" || { cat "$TMP/p.out"; fail "$1: not refused with '$2'"; }
}
echo 0000000000000000000000000000000000000000000000000000000000000000 > "$img.sha256"
provision_refuses "another executable" "holds another executable than $exe.*images build microvm"
rm "$img.sha256"
provision_refuses "no record" "does not say which executable it holds"
echo "microvm_stale: sidecar written, stale and unrecorded initramfs refused"
