#!/bin/bash
# `jungbench up` exit codes: an invalid CONFIG is a usage error (2, one
# line); SIGTERM while a service cannot exit (stopped with SIGSTOP, so it
# needs SIGKILL after stop_grace_ms) still stops everything: exit 0 and a
# warning naming the service.
. "$(dirname "$0")/lib.sh"
printf 'name: x\nplatforms: [{name: p, driver: dokker}]\n' > "$TMP/bad.yaml"
"$JB" up "$TMP/bad.yaml" > "$TMP/bad.out" 2> "$TMP/bad.err"
check "up, invalid config: exit" "$?" 2
grep -q "^jungbench up: $TMP/bad.yaml:2:31: 'driver' is 'dokker'" "$TMP/bad.err" ||
    fail "up, invalid config: $(head -1 "$TMP/bad.err")"
check "up, invalid config: stderr lines (error, --help hint)" "$(wc -l < "$TMP/bad.err")" 2

sed 's/stop_grace_ms: .*/stop_grace_ms: 300/' "$SRC/tests/run/tiny.yaml" > "$TMP/up.yaml"
"$JB" up "$TMP/up.yaml" > "$TMP/up.out" 2> "$TMP/up.err" &
up=$!
for _ in $(seq 1 600); do grep -q '^gateway=' "$TMP/up.out" && break; sleep 0.1; done
grep -q '^gateway=' "$TMP/up.out" || { fail "up printed no gateway= line: $(cat "$TMP/up.err")"; finish; }
pid=$(sed -n 's/^service rule_engine pid=\([0-9]*\) .*/\1/p' "$TMP/up.out")
[ -n "$pid" ] || fail "no rule_engine pid in: $(cat "$TMP/up.out")"
kill -STOP "$pid"
kill -TERM "$up"
wait "$up"
check "up, SIGTERM with a service needing SIGKILL: exit" "$?" 0
grep -q '^jungbench up: warning: rule_engine.* was killed (SIGKILL)' "$TMP/up.err" ||
    fail "no warning naming the killed service: $(cat "$TMP/up.err")"
kill -0 "$pid" 2>/dev/null && fail "rule_engine (pid $pid) is still there"
check "processes left behind" "$(count_tagged)" 0
finish
