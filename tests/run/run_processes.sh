#!/bin/bash
# Controller and runner as separate processes over `jungbench broker`; a
# silent runner is named and its platform skipped; Ctrl-C of `jungbench run`
# leaves no process and prints how to resume.
. "$(dirname "$0")/lib.sh"
"$JB" broker --port 0 > "$TMP/broker.out" 2>&1 &
broker=$!
wait_line "$TMP/broker.out" 30 '^bootstrap='
bs=$(sed -n 's/^bootstrap=//p' "$TMP/broker.out")
[ -n "$bs" ] || { fail "broker did not start"; finish; }
# --results: the runner keeps its time series in its own database, as on
# another machine; summaries and boot times reach the controller's in messages.
"$JB" runner --broker "$bs" --id r1 --results "$TMP/runner-side" > "$TMP/runner.out" 2>&1 &
runner=$!
sed -e 's/^iterations: 2/iterations: 1/' -e 's/^runner:/runner:\n  id: r1/' \
    "$SRC/tests/run/tiny.yaml" > "$TMP/remote.yaml"
"$JB" controller "$TMP/remote.yaml" --broker "$bs" --out "$TMP/a" -q > "$TMP/ctl.out" 2>&1
check "controller exit status" "$?" 0
db=$(ls "$TMP"/a/*/results.db 2>/dev/null | head -1)
check "iterations done" "$(q "$db" "select count(*) from iterations where status='done'")" 1
check "measured requests" "$(q "$db" "select count(*) from samples where phase='measure'")" 20
check "metric summaries (from RESULTS)" "$(q "$db" "select count(*) from metric_summaries")" 8
check "boot times (from READY)" "$(q "$db" "select count(*) from boot_times")" 8
check "process ready before group joined (from READY)" \
    "$(q "$db" "select count(*) from boot_times where process_ready_ms > 0 and process_ready_ms <= ready_ms")" 8
rdb=$(ls "$TMP"/runner-side/*/results.db 2>/dev/null | head -1)
check "time series in the runner's database" "$(q "$rdb" "select count(*) > 8 from metric_samples")" 1
grep -q "RESULTS" "$TMP/runner.out" || fail "runner log has no RESULTS line"
# The controller stores every figure the runner measured: each table the
# runner writes has as many rows, and each column as many non-NULL values,
# in the controller's database (PSS, source and cgroup figures, stop times,
# machine load, image sizes, the time series and log paths were dropped).
# The time series comes in ROWS parts of up to 1,000 rows.
for t in metric_summaries boot_times stop_times iteration_load image_sizes platform_builds \
    metric_samples; do
    check "$t rows as the runner has them" \
        "$(q "$db" "select count(*) from $t")" "$(q "$rdb" "select count(*) from $t")"
    for col in $(q "$rdb" "select name from pragma_table_info('$t')"); do
        check "$t.$col as the runner has it" \
            "$(q "$db" "select count($col) from $t")" "$(q "$rdb" "select count($col) from $t")"
    done
done
check "runner wrote stop times and image sizes" \
    "$(q "$rdb" "select (select count(*) from stop_times) > 0 and (select count(*) from image_sizes) > 0")" 1
check "boot times name each instance's log on the runner's host" \
    "$(q "$db" "select count(*) from boot_times where log_path like '$TMP/runner-side/%.log'")" 8
check "the runner's host recorded" "$(q "$db" "select count(*) from runner_hosts where runner='r1'
                                            and json_extract(environment, '$.kernel') <> ''")" 1
check "runner measured PSS of every service" \
    "$(q "$rdb" "select count(*) from metric_summaries where kind='service' and pss_mean_kb > 0")" 8

# A runner nobody started: named, the platform's other iterations skipped.
sed -e 's/^runner:/runner:\n  id: ghost/' -e 's/silence_timeout_ms: 20000/silence_timeout_ms: 1500/' \
    "$SRC/tests/run/tiny.yaml" > "$TMP/ghost.yaml"
"$JB" controller "$TMP/ghost.yaml" --broker "$bs" --out "$TMP/b" -q > "$TMP/ghost.out" 2>&1
check "silent runner exit status" "$?" 1
db=$(ls "$TMP"/b/*/results.db | head -1)
err=$(q "$db" "select error from iterations where iteration=1")
case "$err" in *"runner 'ghost' is silent"*"jungbench runner --id ghost"*) ;;
    *) fail "silent runner error: '$err'" ;; esac
check "second iteration skipped" "$(q "$db" "select status from iterations where iteration=2")" skipped
kill -TERM "$runner"; wait "$runner"
check "runner exit status after SIGTERM" "$?" 0
kill -INT "$broker"; wait "$broker"

# Ctrl-C of `jungbench run` while Jung is up.
"$JB" run "$SRC/tests/run/tiny.yaml" --out "$TMP/c" > "$TMP/int.out" 2>&1 &
pid=$!
for _ in $(seq 1 50); do db=$(ls "$TMP"/c/*/results.db 2>/dev/null | head -1); [ -n "$db" ] && break; sleep 0.2; done
wait_db "$db" 60 "select count(*) from boot_times" || fail "Jung never came up"
kill -INT "$pid"
wait "$pid"
check "interrupted exit status" "$?" 1
grep -q -- "--resume tiny-" "$TMP/int.out" || fail "no resume hint: $(cat "$TMP/int.out")"
check "run status" "$(q "$db" "select status from runs")" interrupted
check "processes left after Ctrl-C" "$(count_tagged)" 0
finish
