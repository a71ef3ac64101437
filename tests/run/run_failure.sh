#!/bin/bash
# A service that dies during the load: the runner's ERROR stops the load at
# once, the iteration is recorded as failed naming the service, and the run
# goes on with the next iteration (exit status 1 at the end).
. "$(dirname "$0")/lib.sh"
sed -e 's/requests_per_user: 10$/requests_per_user: 3000\n  model: open\n  rate: 1000/' \
    "$SRC/tests/run/tiny.yaml" > "$TMP/fail.yaml"
"$JB" run "$TMP/fail.yaml" --out "$TMP" -q > "$TMP/out" 2>&1 &
pid=$!
for _ in $(seq 1 50); do db=$(ls "$TMP"/fail-*/results.db "$TMP"/tiny-*/results.db 2>/dev/null | head -1); [ -n "$db" ] && break; sleep 0.2; done
# The load lasts 6 s whatever the machine: 2 x 3,000 requests at 1,000
# req/s in all (open model; a quick Jung answered 2 x 3,000 closed-loop
# requests within a second). The first batch of its samples reaches the
# database within a second of the load starting: the load is then under
# way with about 5 s to go.
wait_db "$db" 60 "select count(*) from boot_times where iteration=1" || fail "iteration 1 never booted"
wait_db "$db" 30 "select count(*) from samples where iteration=1" || fail "iteration 1 never measured"
victim=""
for env in /proc/[0-9]*/environ; do
    p=${env#/proc/}; p=${p%/environ}
    if { tr '\0' '\n' < "$env"; } 2>/dev/null | grep -qx "JB_TEST_TAG=$JB_TEST_TAG" &&
        [ "$({ cat "/proc/$p/comm"; } 2>/dev/null)" = jung-device-reg ]; then victim=$p; fi
done
[ -n "$victim" ] || fail "no device_registry process found"
kill -9 "$victim"
wait "$pid"
check "exit status" "$?" 1
check "iteration 1" "$(q "$db" "select status from iterations where iteration=1")" failed
err=$(q "$db" "select error from iterations where iteration=1")
case "$err" in *"device_registry-1 stopped on its own"*) ;; *) fail "iteration 1 error: '$err'" ;; esac
check "load stopped early" "$(q "$db" "select count(*) < 6000 from samples where iteration=1 and phase='measure'")" 1
check "iteration 2" "$(q "$db" "select status from iterations where iteration=2")" done
check "run status" "$(q "$db" "select status from runs")" failed
check "processes left behind" "$(count_tagged)" 0
finish
