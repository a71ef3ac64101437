#!/bin/bash
# Jung on Linux microVMs under load through the user's path: `jungbench
# images build microvm`, then `jungbench run tests/run/microvm.yaml` (its
# image_dir pointed at those images): 2 iterations, 0 failed requests, the
# gateway reached through the host port the driver chose, times labelled
# with the accel the driver found, no domain left. Skips (77) only when
# libvirt cannot start.
. "$(dirname "$0")/lib.sh"
start=$(date +%s)
timeout 20 virsh -c qemu:///system version > /dev/null 2>&1 ||
    { echo "SKIP: libvirtd not reachable at qemu:///system (scripts/services start)"; exit 77; }
chmod 755 "$TMP" # QEMU runs as libvirt's user and reads the images from here
"$JB" images build microvm --image-dir "$TMP/images" > "$TMP/images.log" 2>&1 ||
    { cat "$TMP/images.log" >&2; fail "images build microvm"; finish; }
sed "s|^\( *image_dir:\).*|\1 $TMP/images|" "$SRC/tests/run/microvm.yaml" > "$TMP/microvm.yaml"
"$JB" run "$TMP/microvm.yaml" --out "$TMP" > "$TMP/out" 2>&1
rc=$?
check "exit status" "$rc" 0
[ "$rc" = 0 ] || grep -v '^trace' "$TMP/out" | head -20 >&2
run=$(ls "$TMP" | grep '^microvm-' | head -1)
db="$TMP/$run/results.db"
[ -f "$db" ] || { fail "no results.db"; finish; }
check "run status" "$(q "$db" "select status from runs")" done
check "iterations done" "$(q "$db" "select count(*) from iterations where status='done'")" 2
accel=$(q "$db" "select group_concat(distinct accel) from iterations")
case "$accel" in kvm|emulated) ;; *) fail "iterations.accel: got '$accel', expected kvm or emulated" ;; esac
check "boot times labelled as the iterations" \
    "$(q "$db" "select count(*) from boot_times where accel='$accel'")" 16
check "measured requests (2 it x 2 users x 10)" \
    "$(q "$db" "select count(*) from samples where phase='measure'")" 40
check "failed requests" "$(q "$db" "select count(*) from samples where success=0")" 0
check "emulation's timeout factor recorded" \
    "$(q "$db" "select json_extract(environment, '$.emulated_timeout_scale') from runs")" 6
check "image sizes (8 + cumulative)" \
    "$(q "$db" "select count(*) from image_sizes where platform='microvm' and bytes > 0")" 9
gw=$(tr -d '\r' < "$TMP/$run/logs/microvm-1/api_gateway-1.console" | grep -o 'http=[^ ]*' | head -1)
check "the gateway listens on the guest's interface" "$gw" "http=http://0.0.0.0:8080"
check "domains of this run left" \
    "$(virsh -c qemu:///system list --all --name | grep -c "^jungbench-$run")" 0
grep "^\[" "$TMP/out"
echo "run_microvm: accel $accel, $(($(date +%s) - start)) s"
finish
