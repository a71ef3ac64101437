#!/bin/bash
# Two hosts, one experiment (docs/multi-host.md), simulated on this machine:
# a network namespace is the runner's host, a veth pair the wire between.
#   root namespace: `jungbench broker --listen` on the veth address, and
#                   `jungbench run` (the controller and the local runner);
#   namespace A:    `jungbench runner --id host-a --advertise ADDR_A`.
# One config names both runners (platform `runner:`): one run, one
# results.db with both platforms, complete, and one report over both.
# Two concurrent runs on that broker do not serve each other.
# Then the decoy: a Jung on the controller's loopback holds the fixed port a
# runner that advertises its own loopback names in READY; the controller
# must refuse it, not measure it. Everything the test creates (namespace,
# veth, processes) it removes. Skips (77) without root or `ip netns`.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: network namespaces need root"; exit 77; }
command -v ip > /dev/null || { echo "SKIP: no 'ip' command (iproute2)"; exit 77; }
NS=jbmh-$$
VETH=jbmh$$
NET=10.213.$(($$ % 200 + 20)) # one /24 per test process, on a veth only
HOST_ADDR=$NET.1 A_ADDR=$NET.2
ip netns add "$NS" 2> "$TMP/netns.err" ||
    { echo "SKIP: cannot create a network namespace: $(cat "$TMP/netns.err")"; exit 77; }
cleanup_net() {
    kill_tagged
    ip netns del "$NS" 2> /dev/null
    ip link del "${VETH}h" 2> /dev/null
    rm -rf "$TMP"
}
trap cleanup_net EXIT
ip link add "${VETH}h" type veth peer name "${VETH}a" &&
    ip link set "${VETH}a" netns "$NS" &&
    ip addr add "$HOST_ADDR/24" dev "${VETH}h" && ip link set "${VETH}h" up &&
    ip -n "$NS" addr add "$A_ADDR/24" dev "${VETH}a" && ip -n "$NS" link set "${VETH}a" up &&
    ip -n "$NS" link set lo up || { fail "cannot set up the veth pair"; finish; }

"$JB" broker --listen "$HOST_ADDR" > "$TMP/broker.out" 2> "$TMP/broker.err" &
wait_line "$TMP/broker.out" 20 '^bootstrap=' || { fail "broker did not start: $(cat "$TMP/broker.err")"; finish; }
BOOT=$(sed -n 's/^bootstrap=//p' "$TMP/broker.out")
check "broker advertises the veth address" "${BOOT%:*}" "$HOST_ADDR"

start_runner() { # ID [--advertise ADDR]: a runner in namespace A
    local id=$1
    shift
    ip netns exec "$NS" "$JB" runner --broker "$BOOT" --id "$id" "$@" \
        --results "$TMP/runner-$id" > "$TMP/runner-$id.log" 2>&1 &
    wait_line "$TMP/runner-$id.log" 30 "listening on" ||
        { fail "runner $id did not start: $(tail -5 "$TMP/runner-$id.log")"; finish; }
}
start_runner host-a --advertise "$A_ADDR"

config() { # NAME ITERATIONS, then platform lines on stdin
    cat << YAML
name: $1
iterations: $2
broker: {bootstrap: $BOOT}
platforms:
$(cat)
workload:
  users: 2
  devices_per_user: 2
  requests_per_user: 10
  mix: {get_user: 1, get_device: 1, get_readings: 4, post_command: 4}
metrics:
  interval_ms: 100
  runtime_daemons: false
runner:
  silence_timeout_ms: 20000
  parallel: ${PARALLEL:-false}
YAML
}

# ---- one run over two hosts, in parallel ----------------------------------------
# runner.parallel: the two hosts' platforms run at the same time, each on
# its own topic prefix, so neither serves the other's requests.
PARALLEL=true config two-hosts 2 > "$TMP/two-hosts.yaml" << YAML
  - {name: host_a, driver: process, runner: host-a, stop_grace_ms: 2000}
  - {name: local, driver: process, stop_grace_ms: 2000}
YAML
"$JB" run "$TMP/two-hosts.yaml" --out "$TMP/out" > "$TMP/run.out" 2>&1
rc=$?
check "two-host run exit status" "$rc" 0
[ "$rc" = 0 ] || tail -20 "$TMP/run.out" >&2
db=$(ls "$TMP"/out/two-hosts-*/results.db 2> /dev/null | head -1)
[ -f "$db" ] || { fail "no results.db"; finish; }
for p in host_a local; do
    check "$p iterations done" "$(q "$db" "select count(*) from iterations where platform='$p' and status='done'")" 2
    check "$p requests (2 it x 2 users x 10)" \
        "$(q "$db" "select count(*) from samples where platform='$p' and phase='measure'")" 40
    check "$p failed requests" \
        "$(q "$db" "select count(*) from samples where platform='$p' and success=0")" 0
    check "$p boot times (2 it x 8)" "$(q "$db" "select count(*) from boot_times where platform='$p'")" 16
    check "$p service summaries (2 it x 8)" \
        "$(q "$db" "select count(*) from metric_summaries where platform='$p' and kind='service'")" 16
done
# The remote platform's load went to namespace A's address: its runner
# said so in READY, and its gateway listened there.
grep -q "READY .* host_a#1 at http://$A_ADDR:" "$TMP/runner-host-a.log" ||
    fail "runner host-a's READY does not name http://$A_ADDR:PORT: $(grep READY "$TMP/runner-host-a.log" | head -2)"
"$JB" report "$db" > "$TMP/report" 2>&1 || fail "report over both hosts failed: $(tail -3 "$TMP/report")"
grep -q "host_a" "$TMP/report" && grep -q "local" "$TMP/report" || fail "the report does not compare both platforms"

grep -q "the platforms of 2 runners run at the same time" "$TMP/run.out" ||
    fail "the run does not say it runs the two runners in parallel"
check "two-host run: the hosts' iterations overlap in time" \
    "$(q "$db" "select count(*) > 0 from iterations a join iterations b
                 on a.platform='host_a' and b.platform='local'
                 and a.started_ms < b.finished_ms and b.started_ms < a.finished_ms")" 1
grep -l "has no device" "$TMP"/runner-host-a/*/logs/*/*.log "$(dirname "$db")"/logs/*/*.log 2> /dev/null &&
    fail "two-host run: a device gateway got the other host's commands"
check "two-host run: no runner gaps flagged" "$(q "$db" "select count(*) from runner_liveness where gap")" 0
check "two-host run: liveness rows (2 platforms x 2 it)" "$(q "$db" "select count(*) from runner_liveness")" 4

# ---- two concurrent runs on one broker ---------------------------------------------
# Each `jungbench run` has its own in-process runner and its Jung its own
# topic prefix, so neither serves the other's requests: both finish with 0
# errors, and no device gateway saw a command for another run's device.
config concurrent 2 > "$TMP/concurrent.yaml" << YAML
  - {name: native, driver: process, stop_grace_ms: 2000}
YAML
"$JB" run "$TMP/concurrent.yaml" --out "$TMP/c1" > "$TMP/c1.out" 2>&1 &
c1=$!
"$JB" run "$TMP/concurrent.yaml" --out "$TMP/c2" > "$TMP/c2.out" 2>&1
rc2=$?
wait "$c1"
rc1=$?
check "concurrent runs' exit statuses" "$rc1 $rc2" "0 0"
for d in c1 c2; do
    cdb=$(ls "$TMP/$d"/concurrent-*/results.db 2> /dev/null | head -1)
    [ -f "$cdb" ] || { fail "$d: no results.db"; continue; }
    check "$d: requests (2 it x 2 users x 10)" "$(q "$cdb" "select count(*) from samples where phase='measure'")" 40
    check "$d: failed requests" "$(q "$cdb" "select count(*) from samples where success=0")" 0
    grep -l "has no device" "$(dirname "$cdb")"/logs/*/*.log 2> /dev/null &&
        fail "$d: a device gateway got another run's commands"
done

# ---- faults on the wire ----------------------------------------------------------
# A longer load (2 users x 100 requests, about 10 s) on host-a, with the
# link to namespace A cut for 8 s in the middle: more than two heartbeats
# miss, the run goes on (silence_timeout_ms is 20 s), and the iteration is
# flagged. Then runner host-a is killed (-9) mid-load: the iteration fails
# within the silence timeout plus 10 s, naming the silent runner.
# Waits up to 60 s for a faults run other than $1 to record a measured sample.
wait_measuring() {
    for _ in $(seq 1 600); do
        d=$(ls -td "$TMP"/out/faults-* 2> /dev/null | head -1)
        if [ -n "$d" ] && [ "$d/results.db" != "${1:-}" ] &&
            [ "$(q "$d/results.db" "select count(*) > 0 from samples where phase='measure'" 2> /dev/null)" = 1 ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}
config faults 1 > "$TMP/faults.yaml" << YAML
  - {name: host_a, driver: process, runner: host-a, stop_grace_ms: 2000}
YAML
sed -i 's/requests_per_user: 10/requests_per_user: 100/' "$TMP/faults.yaml"
"$JB" run "$TMP/faults.yaml" --out "$TMP/out" > "$TMP/partition.out" 2>&1 &
run_pid=$!
wait_measuring || fail "the partition run never started measuring"
ip -n "$NS" link set "${VETH}a" down
sleep 8 # the partition itself: how long the link stays down
ip -n "$NS" link set "${VETH}a" up
wait "$run_pid"
pdb=$(ls -t "$TMP"/out/faults-*/results.db 2> /dev/null | head -1)
[ -f "$pdb" ] || { fail "no results.db of the partition run"; finish; }
check "partition: gap flagged" "$(q "$pdb" "select gap from runner_liveness")" 1
"$JB" report "$pdb" > "$TMP/partition.report" 2>&1
grep -q "lost contact with their runner" "$TMP/partition.report" ||
    fail "the report does not flag the partition: $(grep -i warn "$TMP/partition.report" | head -3)"

# A partition longer than the silence timeout (75 s against the default
# 30 s, scaled here to 15 s against 5 s to keep the suite short): the
# iteration it hits fails, naming the silent runner; the next one's RUN
# waits for the runner that answered before (up to runner.ready_timeout_ms)
# and runs once the link is back.
config long-partition 2 > "$TMP/long.yaml" << YAML
  - {name: host_a, driver: process, runner: host-a, stop_grace_ms: 2000}
YAML
sed -i 's/silence_timeout_ms: 20000/silence_timeout_ms: 5000/; s/requests_per_user: 10/requests_per_user: 60/' \
    "$TMP/long.yaml"
"$JB" run "$TMP/long.yaml" --out "$TMP/out" > "$TMP/long.out" 2>&1 &
run_pid=$!
for _ in $(seq 1 600); do # iteration 1 measuring
    ldb=$(ls "$TMP"/out/long-partition-*/results.db 2> /dev/null | head -1)
    [ -n "$ldb" ] && [ "$(q "$ldb" "select count(*) > 0 from samples where phase='measure'" 2> /dev/null)" = 1 ] && break
    sleep 0.1
done
ip -n "$NS" link set "${VETH}a" down
sleep 15 # the partition itself: three silence timeouts
ip -n "$NS" link set "${VETH}a" up
wait "$run_pid"
ldb=$(ls "$TMP"/out/long-partition-*/results.db 2> /dev/null | head -1)
[ -f "$ldb" ] || { fail "no results.db of the long-partition run"; finish; }
check "long partition: iteration 1 failed" "$(q "$ldb" "select status from iterations where iteration=1")" failed
q "$ldb" "select error from iterations where iteration=1" | grep -q "host-a" ||
    fail "long partition: iteration 1's error does not name the silent runner: $(q "$ldb" "select error from iterations where iteration=1")"
check "long partition: the iteration after it ran once the link came back" \
    "$(q "$ldb" "select group_concat(status) from iterations where iteration > 1 order by iteration")" done
check "long partition: its requests all answered" \
    "$(q "$ldb" "select count(*) from samples where iteration > 1 and phase='measure' and success=1")" 120

"$JB" run "$TMP/faults.yaml" --out "$TMP/out" > "$TMP/kill.out" 2>&1 &
run_pid=$!
wait_measuring "$pdb" || fail "the second faults run never started measuring"
killed_at=$(date +%s)
for env in /proc/[0-9]*/environ; do # the runner process in namespace A, by its command line
    pid=${env#/proc/}; pid=${pid%/environ}
    tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -q -- "runner --broker $BOOT --id host-a" &&
        kill -9 "$pid"
done
wait "$run_pid"
rc=$?
took=$(($(date +%s) - killed_at))
[ "$rc" != 0 ] || fail "a run whose runner was killed mid-load exited 0"
[ "$took" -le 30 ] || fail "the run ended $took s after the runner was killed (silence timeout 20 s + 10 s)"
grep -q "runner 'host-a'" "$TMP/kill.out" || fail "the failure does not name the silent runner: $(tail -3 "$TMP/kill.out")"

# ---- Apache Kafka on the veth address, Docker beside a remote runner ------------
# The issue's set-up: Kafka listens on and advertises the root side's veth
# address (scripts/kafka with JB_KAFKA_HOST), a runner in namespace A runs
# native processes, the in-process runner runs Docker; one run, 2
# iterations each, 0 errors, one database complete for both. Skipped,
# loudly, without Java or a Docker engine.
kafka_docker() {
    command -v java > /dev/null || { echo "SKIP (Kafka + Docker part): no java for scripts/kafka"; return; }
    timeout 10 docker info > /dev/null 2>&1 || { echo "SKIP (Kafka + Docker part): no Docker engine"; return; }
    local kport=$((19100 + ($$ % 400) * 2)) tag=jbmh-$$
    export JB_KAFKA_HOST=$HOST_ADDR JB_KAFKA_PORT=$kport JB_KAFKA_RUN=$TMP/kafka
    trap 'JB_KAFKA_RUN=$TMP/kafka "$SRC/scripts/kafka" stop > /dev/null 2>&1; docker rmi -f $(docker images -q --filter reference="jung/*:'"$tag"'") > /dev/null 2>&1; cleanup_net' EXIT
    "$SRC/scripts/kafka" start > "$TMP/kafka.out" 2>&1 ||
        { fail "scripts/kafka on $HOST_ADDR:$kport: $(tail -3 "$TMP/kafka.out")"; return; }
    local kboot=$HOST_ADDR:$kport
    check "Kafka advertises the veth address" "$(sed -n 's/^bootstrap=//p' "$TMP/kafka.out" | tail -1)" "$kboot"
    "$JB" images build docker --tag "$tag" > "$TMP/images.out" 2>&1 ||
        { fail "images build docker: $(tail -3 "$TMP/images.out")"; return; }
    BOOT=$kboot start_runner host-k --advertise "$A_ADDR"
    BOOT=$kboot config kafka-docker 2 > "$TMP/kd.yaml" << YAML
  - {name: host_k, driver: process, runner: host-k, stop_grace_ms: 2000}
  - {name: docker, driver: docker, network: host, image_tag: $tag, stop_grace_ms: 2000}
YAML
    "$JB" run "$TMP/kd.yaml" --out "$TMP/out" > "$TMP/kd.out" 2>&1
    local rc=$?
    check "Kafka + Docker run exit status" "$rc" 0
    [ "$rc" = 0 ] || tail -20 "$TMP/kd.out" >&2
    local kdb
    kdb=$(ls "$TMP"/out/kafka-docker-*/results.db 2> /dev/null | head -1)
    [ -f "$kdb" ] || { fail "no results.db of the Kafka + Docker run"; return; }
    for p in host_k docker; do
        check "$p on Kafka: iterations done" \
            "$(q "$kdb" "select count(*) from iterations where platform='$p' and status='done'")" 2
        check "$p on Kafka: failed requests" \
            "$(q "$kdb" "select count(*) from samples where platform='$p' and success=0")" 0
        check "$p on Kafka: boot times (2 it x 8)" \
            "$(q "$kdb" "select count(*) from boot_times where platform='$p'")" 16
        check "$p on Kafka: time series present" \
            "$(q "$kdb" "select count(*) > 16 from metric_samples where platform='$p'")" 1
    done
    check "Docker's services ran in containers (cgroup figures)" \
        "$(q "$kdb" "select count(*) from metric_summaries where platform='docker' and kind='service'
                     and cgroup_mem_mean_kb > 0")" 16
    check "the remote runner's machine recorded" \
        "$(q "$kdb" "select count(*) from runner_hosts where runner='host-k'")" 1
    "$JB" report "$kdb" > "$TMP/kd.report" 2>&1 || fail "report of the Kafka + Docker run failed"
    "$SRC/scripts/kafka" stop > /dev/null 2>&1
    unset JB_KAFKA_HOST JB_KAFKA_PORT JB_KAFKA_RUN
}
kafka_docker

# ---- the decoy ---------------------------------------------------------------
# A Jung on the controller's loopback at PORT, and a runner that advertises
# its own loopback (the default) with gateway_port PORT: READY names
# http://127.0.0.1:PORT, which on the controller's host is the decoy.
PORT=$((20000 + $$ % 20000))
cat > "$TMP/decoy.yaml" << YAML
name: decoy
broker: embedded
platforms: [{name: native, driver: process, stop_grace_ms: 2000}]
jung: {gateway_port: $PORT}
YAML
"$JB" up "$TMP/decoy.yaml" > "$TMP/decoy.out" 2>&1 &
wait_line "$TMP/decoy.out" 60 '^gateway=' || { fail "decoy Jung did not start: $(tail -5 "$TMP/decoy.out")"; finish; }
start_runner host-b
config decoyed 1 > "$TMP/decoyed.yaml" << YAML
  - {name: host_b, driver: process, runner: host-b, stop_grace_ms: 2000}
YAML
echo "jung: {gateway_port: $PORT}" >> "$TMP/decoyed.yaml"
"$JB" run "$TMP/decoyed.yaml" --out "$TMP/out" > "$TMP/decoyed.out" 2>&1
rc=$?
[ "$rc" != 0 ] || fail "a run measured through the decoy exited 0"
grep -q "is answered by another Jung" "$TMP/decoyed.out" ||
    fail "no refusal naming the other Jung: $(tail -5 "$TMP/decoyed.out")"
ddb=$(ls "$TMP"/out/decoyed-*/results.db 2> /dev/null | head -1)
[ -f "$ddb" ] && check "requests measured through the decoy" \
    "$(q "$ddb" "select count(*) from samples where phase='measure'")" 0
finish
