#!/bin/bash
# With a real OSv kernel (JB_OSV_KERNEL: OSv's loader-stripped.elf): the
# user's two commands, `jungbench images build osv --kernel $JB_OSV_KERNEL`
# (default image folder) and `jungbench run tests/run/osv.yaml`: all eight
# services on OSv, 2 iterations of a small load, 0 failed requests, boot
# times labelled with the accel used, the kernel counted once in the image
# sizes, and no domain left. SKIP (77) without a kernel or libvirtd.
. "$(dirname "$0")/lib.sh"
[ -n "${JB_OSV_KERNEL:-}" ] || { echo "SKIP: JB_OSV_KERNEL is not set (path of an OSv loader-stripped.elf)"; exit 77; }
[ -r "$JB_OSV_KERNEL" ] || { echo "SKIP: JB_OSV_KERNEL=$JB_OSV_KERNEL is not readable"; exit 77; }
command -v virsh > /dev/null && timeout 10 virsh -c qemu:///system version > /dev/null 2>&1 ||
    { echo "SKIP: libvirtd not reachable (virtlogd -d; libvirtd -d)"; exit 77; }
"$JB" images build osv --kernel "$JB_OSV_KERNEL" > "$TMP/images" 2>&1
rc=$?
check "images build osv" "$rc" 0
[ "$rc" = 0 ] || { cat "$TMP/images" >&2; finish; }
"$JB" run "$SRC/tests/run/osv.yaml" --out "$TMP" > "$TMP/out" 2>&1
rc=$?
check "exit status" "$rc" 0
[ "$rc" = 0 ] || { grep -E '^\[|rror|fail' "$TMP/out" | head -20; tail -40 "$TMP/out"; } >&2
run=$(ls "$TMP" | grep '^osv-' | head -1)
db="$TMP/$run/results.db"
[ -f "$db" ] || { fail "no results.db"; finish; }
check "run status" "$(q "$db" "select status from runs")" done
check "iterations done" "$(q "$db" "select count(*) from iterations where platform='osv' and status='done'")" 2
check "measured requests (2 it x 2 users x 10)" \
    "$(q "$db" "select count(*) from samples where platform='osv' and phase='measure'")" 40
check "failed requests" \
    "$(q "$db" "select count(*) from samples where platform='osv' and success=0")" 0
check "boot times (2 it x 8)" "$(q "$db" "select count(*) from boot_times where platform='osv'")" 16
check "boot times labelled kvm or emulated" \
    "$(q "$db" "select count(*) from boot_times where platform='osv' and accel in ('kvm','emulated')")" 16
check "image sizes (8 + cumulative)" \
    "$(q "$db" "select count(*) from image_sizes where platform='osv' and bytes > 0")" 9
kernel=$(stat -c %s /var/lib/jungbench/images/osv/kernel.elf)
disks=$(cat /var/lib/jungbench/images/osv/*.img | wc -c)
check "cumulative image size: the kernel once + 8 disks" \
    "$(q "$db" "select bytes from image_sizes where platform='osv' and service='_cumulative'")" \
    "$((kernel + disks))"
echo "ready ms (service, iteration 1, 2):"
q "$db" "select service, group_concat(cast(ready_ms as int), ', '), accel from boot_times where platform='osv' group by service" >&2
check "domains of this run left" "$(virsh -c qemu:///system list --all --name | grep -c "^jungbench-$run")" 0
check "processes left behind" "$(count_tagged)" 0
finish
