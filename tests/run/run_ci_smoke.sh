#!/bin/bash
# The issue's end-to-end run: `jungbench run configs/ci-smoke.yaml`, two
# platforms (native processes and Docker), 2 iterations each; the database
# holds the expected iterations, requests, metrics samples, boot times,
# image sizes and platforms, and no process or container is left. Skips
# (77) without a Docker engine; builds the jung/<service> images first.
. "$(dirname "$0")/lib.sh"
services="api_gateway auth_manager user_registry device_registry device_monitor device_commander rule_engine device_gateway"
timeout 10 docker info > /dev/null 2>&1 || { echo "SKIP: no Docker engine reachable"; exit 77; }
# Both platforms run the default build, static: a tree without the static
# services (sanitizer builds) would run dynamic ones against static images.
[ -d "$(dirname "$JB")/jung/static" ] ||
    { echo "SKIP: this build tree has no static services (sanitizer build?)"; exit 77; }
# The user's path: build the images from this tree, then run. Images left
# by another tree would hold other executables, and the Docker driver
# refuses those (the same-executable check), so they are never reused.
"$JB" images build docker > "$TMP/images.out" 2>&1 ||
    { fail "jungbench images build docker: $(tail -3 "$TMP/images.out")"; finish; }
"$JB" run "$SRC/configs/ci-smoke.yaml" --out "$TMP" > "$TMP/out" 2>&1
rc=$?
check "exit status" "$rc" 0
[ "$rc" = 0 ] || tail -30 "$TMP/out" >&2
run=$(ls "$TMP" | grep '^ci-smoke-' | head -1)
db="$TMP/$run/results.db"
[ -f "$db" ] || { fail "no results.db"; finish; }
check "run status" "$(q "$db" "select status from runs")" done
check "platforms" "$(q "$db" "select group_concat(platform || '=' || driver, ' ') from (select * from platforms order by platform)")" "docker=docker native=process"
for p in native docker; do
    check "$p iterations done" "$(q "$db" "select count(*) from iterations where platform='$p' and status='done'")" 2
    check "$p measured requests (2 it x 3 users x 40)" \
        "$(q "$db" "select count(*) from samples where platform='$p' and phase='measure'")" 240
    check "$p failed requests" \
        "$(q "$db" "select count(*) from samples where platform='$p' and phase='measure' and success=0")" 0
    check "$p boot times (2 it x 8)" "$(q "$db" "select count(*) from boot_times where platform='$p'")" 16
    check "$p service metric summaries (2 it x 8)" \
        "$(q "$db" "select count(*) from metric_summaries where platform='$p' and kind='service'")" 16
    check "$p metric samples of every service" \
        "$(q "$db" "select count(distinct grp) from metric_samples where platform='$p' and kind='service'")" 8
    check "$p clean stops (2 it x 8, one SIGTERM, exit 0)" \
        "$(q "$db" "select count(*) from stop_times where platform='$p' and not killed and exit_code = 0")" 16
    for log in "$TMP/$run"/logs/$p-1/*-1.log; do
        grep -q ": stopped$" "$log" || fail "$log does not say the instance stopped"
    done
    check "$p logs kept (8 services)" "$(ls "$TMP/$run"/logs/$p-2/*-1.log 2>/dev/null | wc -l)" 8
    check "$p image sizes (8 + cumulative)" \
        "$(q "$db" "select count(*) from image_sizes where platform='$p' and bytes > 0")" 9
done
# Same build everywhere by default: both platforms ran the static services,
# so per-service memory compares platforms, not linkers (within 25 %). The
# figure is each service's smallest sampled RSS, its resident set at rest
# (executable, libraries, heap): that is what a different build changes. The
# mean is not a fair check here: auth_manager's Argon2id verify holds a 2 MiB
# buffer for a few ms per login, and how many 100 ms samples land inside one
# is chance (a clean-clone run saw native 2648 kB vs docker 1890 kB means).
check "builds recorded" "$(q "$db" "select group_concat(platform || '=' || build, ' ') from (select * from platform_builds order by platform)")" "docker=static native=static"
q "$db" "select n.grp, n.rss, d.rss from
          (select substr(grp, 1, length(grp) - 2) grp, min(rss_kb) rss from metric_samples
            where platform='native' and kind='service' and rss_kb > 0 group by 1) n
          join (select substr(grp, 1, length(grp) - 2) grp, min(rss_kb) rss from metric_samples
            where platform='docker' and kind='service' and rss_kb > 0 group by 1) d using (grp)" > "$TMP/rss"
check "services with RSS on both platforms" "$(wc -l < "$TMP/rss")" 8
while IFS='|' read -r svc native docker; do
    echo "RSS at rest $svc: native $native kB, docker $docker kB"
    awk -v a="$native" -v b="$docker" 'BEGIN { d = a > b ? a - b : b - a; m = a > b ? a : b; exit !(m > 0 && d <= 0.25 * m) }' ||
        fail "$svc RSS native $native kB vs docker $docker kB: more than 25 % apart"
done < "$TMP/rss"
"$JB" report "$db" > "$TMP/report" 2>&1
check "report header: native build" "$(grep -c '^  native: .*build static' "$TMP/report")" 1
check "report header: docker build" "$(grep -c '^  docker: .*build static' "$TMP/report")" 1
check "docker runtime daemon sampled" \
    "$(q "$db" "select count(*) > 0 from metric_samples where platform='docker' and kind='runtime'")" 1
grep -q "docker" "$TMP/out" && grep -qi "native" "$TMP/out" || fail "no summary tables printed"
check "containers of this run left" "$(docker ps -a --filter label=jungbench.run \
    --format '{{.Label "jungbench.run"}}' | grep -c "^$run")" 0
check "processes left behind" "$(count_tagged)" 0
[ "$FAILS" = 0 ] || q "$db" "select 'stop: ' || platform || ' #' || iteration || ' ' || instance || ' ' ||
    round(stop_ms) || ' ms killed=' || killed || ' ' || exit from stop_times
    where killed or exit_code is not 0" >&2
finish
