#!/bin/bash
# Clean stops through `jungbench run` on native processes: every service
# gets one SIGTERM, says "<instance>: stopped" in its log and exits with
# status 0 well within stop_grace_ms; stop_times records it so. Also the
# noise guard's iteration_load row.
. "$(dirname "$0")/lib.sh"
sed -e 's/^iterations: 2/iterations: 1/' "$SRC/tests/run/tiny.yaml" > "$TMP/stops.yaml"
"$JB" run "$TMP/stops.yaml" --out "$TMP/out" -q > "$TMP/run.out" 2>&1
check "run exit status" "$?" 0
db=$(ls "$TMP"/out/*/results.db 2>/dev/null | head -1)
logs=$(dirname "$db")/logs/native-1
check "stop_times rows" "$(q "$db" "select count(*) from stop_times")" 8
check "instances killed" "$(q "$db" "select count(*) from stop_times where killed")" 0
check "instances not exiting 0" \
    "$(q "$db" "select count(*) from stop_times where exit_code is not 0")" 0
check "stops not measured or over the 2 s grace" \
    "$(q "$db" "select count(*) from stop_times where stop_ms is null or stop_ms >= 2000")" 0
check "iteration warnings" "$(q "$db" "select count(*) from iterations where error != ''")" 0
# The noise guard's row: how busy the machine was before and during.
check "iteration_load rows with sane shares" "$(q "$db" "select count(*) from iteration_load
    where idle_before_pct between 0 and 100 and idle_pct between 0 and 100
    and steal_pct between 0 and 100 and load1_before >= 0 and busy = (idle_before_pct < 80
    or steal_pct > 5)")" 1
for inst in $(q "$db" "select instance from stop_times"); do
    grep -q "^$inst: stopped$" "$logs/$inst.log" || fail "$inst.log does not say '$inst: stopped'"
done
[ "$FAILS" = 0 ] || cat "$TMP/run.out" >&2
finish
