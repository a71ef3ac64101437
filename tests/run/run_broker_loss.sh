#!/bin/bash
# The broker dies under `jungbench run` (an external `jungbench broker`,
# killed with -9): the iteration fails within runner.silence_timeout_ms
# (5 s here) plus 10 s, with an error that names the broker, not the
# runner; what was recorded before stays; the run ends with exit status 1
# and leaves no process behind. Twice: as the iteration starts (its RUN in
# flight), and mid-load.
. "$(dirname "$0")/lib.sh"
SILENCE_S=5

# start_broker: a fresh external broker; sets BROKER_PID and BOOTSTRAP.
start_broker() {
    "$JB" broker > "$TMP/broker.out" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 300); do grep -q '^bootstrap=' "$TMP/broker.out" && break; sleep 0.1; done
    BOOTSTRAP=$(sed -n 's/^bootstrap=//p' "$TMP/broker.out")
    [ -n "$BOOTSTRAP" ] || { echo "SKIP: jungbench broker did not start: $(cat "$TMP/broker.out")"; exit 77; }
}

# config NAME: tiny.yaml on the external broker, an open-model load of 30 s.
config() {
    sed -e "s/^name: tiny/name: $1/" \
        -e "s/^broker: embedded/broker: {bootstrap: \"$BOOTSTRAP\"}/" \
        -e 's/requests_per_user: 10$/requests_per_user: 3000\n  model: open\n  rate: 200/' \
        -e "s/silence_timeout_ms: 20000/silence_timeout_ms: $((SILENCE_S * 1000))/" \
        "$SRC/tests/run/tiny.yaml" > "$TMP/$1.yaml"
}

# lose_broker NAME WHEN_SQL: runs NAME, kills the broker once WHEN_SQL holds,
# then checks how the run ended.
lose_broker() {
    local name=$1 when=$2
    start_broker
    config "$name"
    "$JB" run "$TMP/$name.yaml" --out "$TMP" > "$TMP/$name.out" 2>&1 &
    local pid=$! db=""
    for _ in $(seq 1 100); do db=$(ls "$TMP"/"$name"-*/results.db 2>/dev/null | head -1); [ -n "$db" ] && break; sleep 0.2; done
    [ -n "$db" ] || { fail "$name: no results database"; kill "$pid"; return; }
    wait_db "$db" 120 "$when" || fail "$name: never reached the point to kill the broker"
    local before
    before=$(q "$db" "select count(*) from samples where iteration=1")
    local killed_ms
    killed_ms=$(date +%s%3N)
    kill -9 "$BROKER_PID"
    wait "$pid"
    local rc=$? took=$((($(date +%s%3N) - killed_ms) / 1000))
    check "$name: exit status" "$rc" 1
    # The iteration's verdict is bounded by the silence timeout; the run's
    # exit also includes the teardown, so it gets a wider bound.
    local ended
    ended=$(q "$db" "select cast((finished_ms - $killed_ms) / 1000 as int) from iterations where iteration=1")
    [ "$ended" -le $((SILENCE_S + 10)) ] || fail "$name: iteration 1 ended $ended s after the broker died (at most $((SILENCE_S + 10)))"
    [ "$took" -le 60 ] || fail "$name: the run took $took s to exit after the broker died"
    check "$name: iteration 1" "$(q "$db" "select status from iterations where iteration=1")" failed
    local err
    err=$(q "$db" "select error from iterations where iteration=1")
    case "$err" in *"broker $BOOTSTRAP unreachable since "*) ;; *) fail "$name: iteration 1 error: '$err'" ;; esac
    grep -q "broker $BOOTSTRAP unreachable since" "$TMP/$name.out" || fail "$name: the output does not name the broker: $(tail -3 "$TMP/$name.out")"
    local after
    after=$(q "$db" "select count(*) from samples where iteration=1")
    [ "$after" -ge "$before" ] || fail "$name: samples lost: $before before the kill, $after after"
    check "$name: run status" "$(q "$db" "select status from runs")" failed
    check "$name: processes left behind" "$(count_tagged)" 0
    echo "$name: iteration failed $ended s and the run exited $took s after the broker died; $after samples kept; $err"
}

lose_broker boot "select count(*) from iterations where iteration=1 and status='running'"
lose_broker load "select count(*) from samples where iteration=1 and phase='measure'"
finish
