#!/bin/sh
# osv_doctor.sh JUNGBENCH JUNG_DIR - `jungbench doctor CONFIG` on a config
# with an OSv platform: kernel, disks, QEMU's access and accel, each
# failure with the command that fixes it. A static x86-64 executable
# stands in for the kernel (JB_OSV_KERNEL if given): only its ELF header
# is checked here.
set -u
JB=$1
JUNG=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"
fail=0
no() { echo "FAIL: $*"; fail=1; }
[ -x "$JUNG/static/jung-user-registry" ] || { echo "SKIP: no static services in $JUNG/static"; exit 77; }
KERNEL=${JB_OSV_KERNEL:-$JUNG/static/jung-user-registry}
"$JB" images build osv --kernel "$KERNEL" --image-dir "$TMP/images" --bin-dir "$JUNG" \
    --services user_registry,device_monitor >/dev/null || { echo "FAIL: images build osv"; exit 1; }
cat >"$TMP/c.yaml" <<YAML
name: doctor-osv
services: [user_registry, device_monitor]
platforms:
  - {name: vm, driver: libvirt, image: osv, accel: emulated, image_dir: $TMP/images,
     osv: {kernel: $TMP/images/osv/kernel.elf}}
YAML
doctor() { "$JB" doctor "$TMP/c.yaml" --image-dir "$TMP/images" >"$TMP/out" 2>&1; }
expect() { grep -q -- "$1" "$TMP/out" || { sed -n '/^ok *config/,$p' "$TMP/out"; no "$2"; }; }

doctor
expect "^ok *vm *osv kernel .*x86-64 ELF executable, readable by QEMU" "kernel not ok"
expect "^ok *vm *osv disks *2 of 2 ($TMP/images/osv/{service}.img), readable by QEMU" "disks not ok"
expect "^ok *vm *accel *emulated (accel: emulated)" "accel not reported"

rm "$TMP/images/osv/device_monitor.img"
chmod 600 "$TMP/images/osv/user_registry.img"
doctor
expect "^MISSING *vm *osv disks *0 of 2 .*user_registry.img (mode 0600) is not readable by libvirt-qemu: chmod o+r" "unreadable disk not named"
expect "fix: jungbench images build osv --kernel <OSv's loader-stripped.elf> --image-dir $TMP/images" "no fix for the disks"

echo "not an elf" >"$TMP/images/osv/kernel.elf"
doctor; rc=$?
[ $rc = 1 ] || no "doctor exit $rc with a bad kernel"
expect "^MISSING *vm *osv kernel .*is not an ELF file: give OSv's loader-stripped.elf" "bad kernel not named"
expect "fix: jungbench images build osv --kernel" "no fix for the kernel"

"$JB" doctor "$TMP/none.yaml" >"$TMP/out" 2>&1
expect "^MISSING *config *load .*none.yaml" "a missing config is not reported"
[ $fail = 0 ] && echo PASS
exit $fail
