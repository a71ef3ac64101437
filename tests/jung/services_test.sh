#!/bin/sh
# services_test: Jung's seven back-end services over the mock broker, driven
# task by task (no HTTP): users, devices, auth outcomes, readings, commands
# and the rule engine's corrective command.
# Usage: services_test.sh BUILD_DIR
set -u
BUILD=${1:?usage: services_test.sh BUILD_DIR}
JUNG=$BUILD/jung
CALL=$BUILD/tests/jung/jung-call
WORK=$(mktemp -d)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; for f in "$WORK"/*.log; do echo "== $f"; grep -v '^kafka' "$f" | tail -5; done; exit 1; }

"$BUILD/tests/jung/jung-test-broker" >"$WORK/broker.log" 2>&1 &
PIDS="$!"
# The mock creates all of Jung's topics first: seconds on a loaded machine.
for _ in $(seq 600); do grep -q bootstrap= "$WORK/broker.log" && break; sleep 0.1; done
B=$(sed -n 's/^bootstrap=//p' "$WORK/broker.log")
[ -n "$B" ] || { echo "SKIP: the mock broker did not start"; exit 77; }

for s in user-registry auth-manager device-registry device-monitor device-commander rule-engine device-gateway; do
    extra=""
    [ "$s" = user-registry ] && extra="--max-devices-per-user 3"
    [ "$s" = rule-engine ] && extra="--interval-ms 200"
    [ "$s" = device-gateway ] && extra="--interval-ms 100 --initial-state 5"
    # shellcheck disable=SC2086
    "$JUNG/jung-$s" --brokers "$B" $extra >"$WORK/$s.log" 2>&1 &
    PIDS="$PIDS $!"
done
for s in user_registry auth_manager device_registry device_monitor device_commander rule_engine device_gateway; do
    f=$WORK/$(echo $s | tr _ -).log
    for _ in $(seq 300); do grep -q "^jung $s ready instance=" "$f" && break; sleep 0.1; done
    grep -q "^jung $s ready instance=" "$f" || fail "$s never printed its readiness line"
done

"$CALL" --brokers "$B" --script <<'SCRIPT' || fail "scenario"
expect|{"username":"ana"}|user_registry|CREATE|{"username":"ana","password":"s3cret"}
expect|{"username":"bob"}|user_registry|CREATE|{"username":"bob","password":"hunter2"}
expect|error 409|user_registry|CREATE|{"username":"ana","password":"x"}
expect|error 400|user_registry|CREATE|{"username":"carl"}
expect|"id":"dev-1"|device_registry|CREATE|{"owner":"ana","id":"dev-1"}
expect|"gateway":"gw-1"|device_registry|GET|{"id":"dev-1"}
expect|error 409|device_registry|CREATE|{"owner":"ana","id":"dev-1"}
expect|error 404|device_registry|CREATE|{"owner":"nobody","id":"dev-x"}
expect|error 404|device_registry|GET|{"id":"dev-x"}
expect|error 400|device_registry|CREATE|{"owner":"ana","id":"a b"}
expect|"devices":["dev-1"]|user_registry|GET|{"username":"ana"}
expect|"owner":"ana"|device_registry|CREATE|{"owner":"ana"}
# at most 3 devices per user here (--max-devices-per-user 3): the 4th is
# refused and not kept
expect|"id":"dev-3"|device_registry|CREATE|{"owner":"ana","id":"dev-3"}
expect|error 409 user 'ana' already has 3 devices|device_registry|CREATE|{"owner":"ana","id":"dev-4"}
expect|error 404|device_registry|GET|{"id":"dev-4"}
# auth: right password, device ownership, wrong password, unknown user, 403, 404
expect|"username":"ana"|auth_manager|AUTH|{"username":"ana","password":"s3cret"}
expect|"owner":"ana"|auth_manager|AUTH|{"username":"ana","password":"s3cret","device_id":"dev-1"}
expect|error 401|auth_manager|AUTH|{"username":"ana","password":"wrong"}
expect|error 401|auth_manager|AUTH|{"username":"zed","password":"s3cret"}
expect|error 403|auth_manager|AUTH|{"username":"bob","password":"hunter2","device_id":"dev-1"}
expect|error 404|auth_manager|AUTH|{"username":"ana","password":"s3cret","device_id":"nope"}
# missing, empty or over-long credentials are bad credentials: 401, not 400
expect|error 401|auth_manager|AUTH|{"username":"ana"}
expect|error 401|auth_manager|AUTH|{"username":"","password":"s3cret"}
# readings: the gateway reports the initial state 5 every 100 ms
until|3000|"value":5}|device_monitor|READ|{"device_id":"dev-1","page":0,"size":3}
until|3000|"size":3,"total":3|device_monitor|READ|{"device_id":"dev-1","page":0,"size":3}
expect|error 400|device_monitor|READ|{"device_id":"dev-1","page":-1}
expect|"readings":{"dev-1":{"timestamp"|device_monitor|LATEST|{"device_ids":["dev-1","ghost"]}
# a command changes what the device reports
expect|"gateway":"gw-1"|device_commander|COMMAND|{"device_id":"dev-1","value":7}
expect|error 404|device_commander|COMMAND|{"device_id":"ghost","value":7}
expect|error 400|device_commander|COMMAND|{"device_id":"dev-1","value":"high"}
until|3000|"value":7}|device_monitor|READ|{"device_id":"dev-1","page":0,"size":1}
# a rule "value < 3, else command 1" fires and brings the device to 1
expect|error 400|rule_engine|CREATE|{"device_id":"dev-1","owner":"ana","operator":"<=","value":3,"command":{"value":1}}
expect|error 403|rule_engine|CREATE|{"device_id":"dev-1","owner":"bob","operator":"<","value":3,"command":{"value":1}}
expect|error 404|rule_engine|CREATE|{"device_id":"ghost","owner":"ana","operator":"<","value":3,"command":{"value":1}}
expect|"operator":"<"|rule_engine|CREATE|{"device_id":"dev-1","owner":"ana","operator":"<","value":3,"command":{"value":1}}
expect|"operator":"<"|rule_engine|GET|{"device_id":"dev-1"}
until|5000|"value":1}|device_monitor|READ|{"device_id":"dev-1","page":0,"size":1}
# malformed tasks are answered or skipped; the services keep answering
expect|error 400|user_registry|NOPE|{}
send|device_monitor|WRITE|{"device_id":"dev-1","value":"x","timestamp":1}
expect|"username":"ana"|user_registry|GET|{"username":"ana"}
SCRIPT

# SIGTERM: every service exits 0 and promptly: within the 5 s grace the
# platforms give before SIGKILL (the broker is still up, as under `up`).
set -- $PIDS
shift
started=$(date +%s)
for p in "$@"; do kill -TERM "$p"; done
for p in "$@"; do wait "$p" || fail "a service (pid $p) exited with status $?"; done
took=$(($(date +%s) - started))
[ "$took" -le 5 ] || fail "the services took ${took} s to exit after SIGTERM (at most 5 s)"
PIDS=${PIDS%% *}
echo ok
