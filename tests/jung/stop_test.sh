#!/usr/bin/env bash
# stop_test: how every Jung service stops (jung/lib/stop.c), on the test
# mock broker:
#   1. start/stop cycles: all eight services, JB_STOP_CYCLES each (default
#      25: 200 SIGTERMs in all), the eight loops side by side. Each cycle
#      waits for the readiness line, sends one SIGTERM and asserts exit 0
#      within 1 s and the "stopped" line; every fifth cycle sends a second
#      SIGTERM at once, which must not change that;
#   2. a second SIGTERM that surely lands inside the teardown (the broker
#      frozen meanwhile) is logged and ignored: exit 0, "stopped";
#   3. a SIGTERM right after the start, before the service is ready: a
#      clean stop too (exit 0, "stopped");
#   4. the stop budget: with the broker frozen (SIGSTOP) a teardown cannot
#      finish, so a service with --stop-timeout-ms 1000 must log the phase
#      it was stuck in and exit with status 3 within 3 s, not hang.
# Usage: stop_test.sh BUILD_DIR
set -u
BUILD=${1:?usage: stop_test.sh BUILD_DIR}
JUNG=$BUILD/jung
CYCLES=${JB_STOP_CYCLES:-25}
WORK=$(mktemp -d)
BROKER_PID=""
cleanup() {
    if [ -n "$BROKER_PID" ]; then
        kill -CONT "$BROKER_PID" 2>/dev/null
        kill -TERM "$BROKER_PID" 2>/dev/null
        wait "$BROKER_PID" 2>/dev/null
    fi
    pkill -KILL -P $$ 2>/dev/null # a service a failed step left behind
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
    echo "FAIL: $*"
    exit 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_line FILE REGEX MS: true once FILE has a line matching REGEX.
wait_line() {
    local deadline=$(($(now_ms) + $3))
    until grep -q -- "$2" "$1" 2>/dev/null; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.02
    done
}

"$BUILD/tests/jung/jung-test-broker" >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
wait_line "$WORK/broker.log" '^bootstrap=' 60000 || { echo "SKIP: the mock broker did not start"; exit 77; }
B=$(sed -n 's/^bootstrap=//p' "$WORK/broker.log")

# handler_installed PID: the process catches SIGTERM (SigCgt bit 15).
handler_installed() {
    local mask
    mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
    [ -n "$mask" ] && (((0x$mask >> 14) & 1))
}

SERVICES="api-gateway user-registry auth-manager device-registry device-monitor device-commander rule-engine device-gateway"
svc_args() {
    case $1 in
    api-gateway) echo "--port 0" ;;
    rule-engine) echo "--interval-ms 200" ;;
    device-gateway) echo "--interval-ms 100" ;;
    esac
}

# start SVC LOG [ARGS...]: starts the service in the background; sets PID.
start() {
    local s=$1 log=$2
    shift 2
    # shellcheck disable=SC2046
    "$JUNG/jung-$s" --brokers "$B" $(svc_args "$s") "$@" >"$log" 2>&1 &
    PID=$!
}

# cycles SVC: CYCLES start/ready/SIGTERM/exit rounds; one line per failure.
cycles() {
    local s=$1 u=${1//-/_} i log t0 took rc
    for i in $(seq "$CYCLES"); do
        log=$WORK/$s-$i.log
        start "$s" "$log"
        if ! wait_line "$log" "^jung $u ready instance=" 30000; then
            echo "$s cycle $i: never ready: $(tail -3 "$log" | tr '\n' ' ')"
            kill -KILL "$PID"
            continue
        fi
        t0=$(now_ms)
        kill -TERM "$PID"
        [ $((i % 5)) -eq 0 ] && kill -TERM "$PID" 2>/dev/null
        wait "$PID"
        rc=$?
        took=$(($(now_ms) - t0))
        [ "$rc" -eq 0 ] || echo "$s cycle $i: exit status $rc: $(tail -3 "$log" | tr '\n' ' ')"
        [ "$took" -le 1000 ] || echo "$s cycle $i: took $took ms to exit after SIGTERM"
        grep -q ': stopped$' "$log" || echo "$s cycle $i: no 'stopped' line"
        echo "$took" >>"$WORK/took-$s"
        rm -f "$log"
    done
}

T0=$(now_ms)
echo "1. $CYCLES start/stop cycles of each of the eight services"
loops=""
for s in $SERVICES; do
    cycles "$s" >"$WORK/fail-$s" 2>&1 &
    loops="$loops $!"
done
# shellcheck disable=SC2086
wait $loops
failures=$(cat "$WORK"/fail-* | grep -c .)
cat "$WORK"/fail-* | head -20
n=$(cat "$WORK"/took-* 2>/dev/null | grep -c .)
[ "$n" -eq $((CYCLES * 8)) ] || fail "$n of $((CYCLES * 8)) cycles completed"
sorted=$(sort -n "$WORK"/took-*)
echo "   $n stops: median $(echo "$sorted" | sed -n "$(((n + 1) / 2))p") ms, max $(echo "$sorted" | tail -1) ms"
[ "$failures" -eq 0 ] || fail "$failures of $n start/stop cycles failed (above)"

echo "   ($(($(now_ms) - T0)) ms)"; T0=$(now_ms)
echo "2. a second SIGTERM during the teardown is logged and ignored"
start device-monitor "$WORK/twice.log"
wait_line "$WORK/twice.log" "^jung device_monitor ready" 30000 || fail "device_monitor never ready"
# With the broker frozen the teardown waits in its group leave, so the
# second signal surely lands inside it; the broker thaws before the budget.
kill -STOP "$BROKER_PID"
kill -TERM "$PID"
wait_line "$WORK/twice.log" ': stop signal: stopping$' 2000 || fail "no 'stopping' line after SIGTERM"
kill -TERM "$PID"
wait_line "$WORK/twice.log" 'another stop signal while stopping: ignored' 2000 ||
    fail "the second SIGTERM was not logged: $(tail -3 "$WORK/twice.log")"
kill -CONT "$BROKER_PID"
wait "$PID"
rc=$?
[ "$rc" -eq 0 ] || fail "a second SIGTERM during the stop gave exit status $rc: $(tail -3 "$WORK/twice.log")"
grep -q ': stopped$' "$WORK/twice.log" || fail "no 'stopped' line after two SIGTERMs"

echo "   ($(($(now_ms) - T0)) ms)"; T0=$(now_ms)
echo "3. SIGTERM before the service is ready"
for s in $SERVICES; do
    start "$s" "$WORK/early-$s.log"
    # The service's promise starts once its SIGTERM handler is installed, the
    # first thing it does: before that (the fork, the exec, the loader and,
    # in a sanitizer build, ASan's start-up) SIGTERM has its default action.
    # So wait for that state, seen as bit 15 of SigCgt in /proc/PID/status.
    deadline=$(($(now_ms) + 10000))
    until handler_installed "$PID"; do
        [ "$(now_ms)" -lt "$deadline" ] || fail "$s installed no SIGTERM handler within 10 s"
        sleep 0.005
    done
    grep -q "^jung ${s//-/_} ready" "$WORK/early-$s.log" && fail "$s was ready before the early SIGTERM"
    kill -TERM "$PID"
    t0=$(now_ms)
    wait "$PID"
    rc=$?
    took=$(($(now_ms) - t0))
    [ "$rc" -eq 0 ] || fail "$s stopped before ready: exit status $rc: $(tail -3 "$WORK/early-$s.log")"
    [ "$took" -le 6000 ] || fail "$s stopped before ready took $took ms"
    grep -q ': stopped$' "$WORK/early-$s.log" || fail "$s stopped before ready: no 'stopped' line"
done

echo "   ($(($(now_ms) - T0)) ms)"; T0=$(now_ms)
echo "4. the stop budget with the broker frozen"
start device-monitor "$WORK/budget.log" --stop-timeout-ms 1000
wait_line "$WORK/budget.log" "^jung device_monitor ready" 30000 || fail "device_monitor never ready"
kill -STOP "$BROKER_PID"
t0=$(now_ms)
kill -TERM "$PID"
wait "$PID"
rc=$?
took=$(($(now_ms) - t0))
kill -CONT "$BROKER_PID"
[ "$rc" -eq 3 ] || fail "a stuck teardown gave exit status $rc, not 3: $(tail -3 "$WORK/budget.log")"
[ "$took" -le 3000 ] || fail "the 1000 ms stop budget took $took ms"
grep -q 'stop budget of 1000 ms exceeded while ' "$WORK/budget.log" ||
    fail "the budget's log line is missing: $(tail -3 "$WORK/budget.log")"
echo "   $(grep -o 'stop budget of 1000 ms exceeded while .*' "$WORK/budget.log") (after $took ms)"
echo ok
