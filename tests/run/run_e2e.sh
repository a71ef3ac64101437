#!/bin/bash
# `jungbench run` end to end on native processes: exit 0, and the database
# holds the expected counts of iterations, requests, metrics and boot times.
. "$(dirname "$0")/lib.sh"
"$JB" run "$SRC/tests/run/tiny.yaml" --out "$TMP" -q > "$TMP/out" 2>&1
check "exit status" "$?" 0
run=$(ls "$TMP" | grep '^tiny-' | head -1)
db="$TMP/$run/results.db"
[ -f "$db" ] || { cat "$TMP/out" >&2; fail "no results.db"; finish; }
check "run status" "$(q "$db" "select status from runs")" done
check "iterations done" "$(q "$db" "select count(*) from iterations where status='done'")" 2
check "measured requests (2 it x 2 users x 10)" \
    "$(q "$db" "select count(*) from samples where phase='measure'")" 40
check "failed requests" "$(q "$db" "select count(*) from samples where phase='measure' and success=0")" 0
check "load summaries" "$(q "$db" "select count(*) from load_summaries")" 2
check "boot times (2 it x 8 services)" "$(q "$db" "select count(*) from boot_times")" 16
check "process ready before group joined (2 it x 8)" \
    "$(q "$db" "select count(*) from boot_times where process_ready_ms > 0 and process_ready_ms <= ready_ms")" 16
check "metric summaries (2 it x 8 services)" \
    "$(q "$db" "select count(*) from metric_summaries where kind='service'")" 16
check "every group sampled at least twice" \
    "$(q "$db" "select count(*) from metric_summaries where samples < 2")" 0
check "metric samples exist" "$(q "$db" "select count(*) > 16 from metric_samples")" 1
check "platforms row" "$(q "$db" "select driver from platforms where platform='native'")" process
check "image sizes (8 services + cumulative)" \
    "$(q "$db" "select count(*) from image_sizes where platform='native' and bytes > 0")" 9
check "environment names the broker and librdkafka" \
    "$(q "$db" "select json_extract(environment, '$.broker') != '' and json_extract(environment, '$.librdkafka') != '' from runs")" 1
check "config as run" "$(q "$db" "select json_extract(config, '$.workload.users') from runs")" 2
check "environment" "$(q "$db" "select json_extract(environment, '$.cores') > 0 from runs")" 1
[ -s "$TMP/$run/config.json" ] || fail "no config.json"
[ -s "$TMP/$run/environment.json" ] || fail "no environment.json"
check "processes left behind" "$(count_tagged)" 0
finish
