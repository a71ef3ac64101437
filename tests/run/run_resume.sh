#!/bin/bash
# kill -9 of `jungbench run` after its first iteration, then --resume: the
# finished iteration is kept as it was, the one in flight is redone from
# nothing, and the run completes with exactly the expected rows.
. "$(dirname "$0")/lib.sh"
cp "$SRC/tests/run/tiny.yaml" "$TMP/tiny.yaml" # 2 iterations: kill -9 while the 2nd runs
setsid "$JB" run "$TMP/tiny.yaml" --out "$TMP" -q > "$TMP/out1" 2>&1 &
pid=$!
for _ in $(seq 1 50); do run=$(ls "$TMP" | grep '^tiny-' | head -1); [ -n "$run" ] && break; sleep 0.2; done
db="$TMP/$run/results.db"
wait_db "$db" 90 "select count(*) from iterations where status='done'" || fail "iteration 1 never finished"
first=$(q "$db" "select started_ms from iterations where iteration=1")
"$JB" run "$TMP/tiny.yaml" --out "$TMP" --resume "$run" -q > "$TMP/busy" 2>&1
check "resume while the run goes" "$?" 1
grep -q "is in use by another jungbench" "$TMP/busy" || fail "no in-use message: $(cat "$TMP/busy")"
kill -9 "$pid"
wait "$pid" 2>/dev/null
kill_tagged # the harness cannot clean up after SIGKILL: its services are orphans
check "run left as running" "$(q "$db" "select status from runs")" running
"$JB" run "$TMP/tiny.yaml" --out "$TMP" --resume "$run" -q > "$TMP/out2" 2>&1
rc=$?
check "resume exit status" "$rc" 0
[ "$rc" = 0 ] || cat "$TMP/out2" >&2
check "run status" "$(q "$db" "select status from runs")" done
check "iterations done" "$(q "$db" "select count(*) from iterations where status='done'")" 2
check "iteration 1 kept" "$(q "$db" "select started_ms from iterations where iteration=1")" "$first"
check "measured requests (2 x 20, no duplicates)" \
    "$(q "$db" "select count(*) from samples where phase='measure'")" 40
check "boot times (2 x 8)" "$(q "$db" "select count(*) from boot_times")" 16
check "resume of an unknown run fails" \
    "$("$JB" run "$TMP/tiny.yaml" --out "$TMP" --resume nosuch -q > /dev/null 2>&1; echo $?)" 1
finish
