#!/bin/bash
# One launch plan: `jungbench run`, `up` and `provision` start every service
# with the same executable, options, environment and ports from the same
# config (each leaves plan.jsonl beside its logs). The bus is an external
# broker (`jungbench broker`), so the Kafka properties of a real cluster
# (fetch.wait.max.ms) are part of what is compared.
. "$(dirname "$0")/lib.sh"
services="auth_manager user_registry device_registry device_monitor device_commander rule_engine device_gateway api_gateway"
"$JB" broker > "$TMP/broker.out" 2> "$TMP/broker.err" &
broker=$!
for _ in $(seq 1 100); do grep -q '^bootstrap=' "$TMP/broker.out" && break; sleep 0.1; done
bs=$(sed -n 's/^bootstrap=//p' "$TMP/broker.out")
[ -n "$bs" ] || { fail "jungbench broker printed no bootstrap"; finish; }
cat > "$TMP/plans.yaml" <<YAML
name: plans
iterations: 1
broker: {bootstrap: '$bs', properties: {socket.keepalive.enable: 'true'}}
platforms:
  - name: native
    driver: process
    stop_grace_ms: 3000
jung: {rule_interval_ms: 700, call_timeout_ms: 4000}
workload:
  users: 1
  devices_per_user: 1
  requests_per_user: 4
  reading_interval_ms: 900
  mix: {get_user: 1, get_device: 1, get_readings: 1, post_command: 1}
metrics: {interval_ms: 200, runtime_daemons: false}
runner: {silence_timeout_ms: 20000}
YAML
# What is compared: everything but the line order, and the two variables
# only a run's runner adds: its gateway's per-iteration identity and its
# Jung's topic prefix (one run's names on a shared cluster). Both are
# checked to be there before they are dropped.
norm() { sort "$1" | sed -E 's/,"JUNG_(GATEWAY_ID|TOPIC_PREFIX)=[^"]*"//g; s/^/  /'; }

"$JB" run "$TMP/plans.yaml" --out "$TMP/run" -q > "$TMP/run.out" 2>&1
check "run exit status" "$?" 0
runplan=$(ls "$TMP"/run/*/logs/native-1/plan.jsonl)
norm "$runplan" > "$TMP/run.plan"
check "run's gateway identity" "$(grep '"service":"api_gateway"' "$runplan" | grep -c '"JUNG_GATEWAY_ID=plans-')" 1
check "run's topic prefix on every service" "$(grep -c '"JUNG_TOPIC_PREFIX=r[0-9a-f]*\."' "$runplan")" 8

"$JB" up "$TMP/plans.yaml" > "$TMP/up.out" 2> "$TMP/up.err" &
up=$!
for _ in $(seq 1 300); do grep -q '^gateway=' "$TMP/up.out" && break; sleep 0.1; done
grep -q '^gateway=' "$TMP/up.out" || fail "up printed no gateway= line: $(cat "$TMP/up.err")"
updir=$(dirname "$(sed -n 's/^service .* log=//p' "$TMP/up.out" | head -1)")
norm "$updir/plan.jsonl" > "$TMP/up.plan"
kill -TERM "$up"; wait "$up"
check "up exit status" "$?" 0

: > "$TMP/provision.jsonl"
for s in $services; do
    "$JB" provision "$TMP/plans.yaml" --service "$s" --instances 1 > "$TMP/prov.out" 2>&1 ||
        fail "provision $s: $(tail -3 "$TMP/prov.out")"
    dir=$(sed -n 's/^logs=//p' "$TMP/prov.out")
    cat "$dir"/*/plan.jsonl >> "$TMP/provision.jsonl"
    rm -rf "$dir"
done
norm "$TMP/provision.jsonl" > "$TMP/provision.plan"
[ -n "$updir" ] && [ "$updir" != . ] && rm -rf "$updir"

check "run's plan lines" "$(wc -l < "$TMP/run.plan")" 8
diff "$TMP/run.plan" "$TMP/up.plan" > "$TMP/d1" || fail "run and up start different things: $(cat "$TMP/d1")"
diff "$TMP/run.plan" "$TMP/provision.plan" > "$TMP/d2" ||
    fail "run and provision start different things: $(cat "$TMP/d2")"
# The plan is the config's: options, properties after the Kafka default, build.
grep -q '"service":"rule_engine".*"args":\["--interval-ms","700"\]' "$TMP/run.plan" || fail "rule_engine's --interval-ms"
grep -q '"service":"device_gateway".*"args":\["--interval-ms","900"\]' "$TMP/run.plan" || fail "device_gateway's --interval-ms"
check "instances with the Kafka properties" \
    "$(grep -c '"JUNG_KAFKA_PROPS=fetch.wait.max.ms=100,socket.keepalive.enable=true","JUNG_TIMEOUT_MS=4000"' "$TMP/run.plan")" 8
# The default build is the tree's own: static where it made the musl
# services, dynamic in a tree without them (the sanitizer build).
if [ -x "$(dirname "$JB")/jung/static/jung-user-registry" ]; then
    check "instances of the static build" "$(grep -c '"build":"static","image":"[^"]*/jung/static/jung-' "$TMP/run.plan")" 8
else
    check "instances of the dynamic build" "$(grep -c '"build":"dynamic","image":"[^"]*/jung/jung-' "$TMP/run.plan")" 8
fi
kill -TERM "$broker"; wait "$broker"
[ "$FAILS" = 0 ] || { cat "$TMP/run.plan" >&2; tail -5 "$TMP/run.out" >&2; }
finish
