#!/bin/sh
# test_loadgen_cli.sh JUNGBENCH FAKE_JUNG_SERVER [TRANSPORT]
# `jungbench loadgen` as a process: usage errors exit 2 naming the argument,
# an unreachable target exits 1 before measuring, a run writes its rows, and
# SIGINT stops sending, keeps every recorded sample, leaves the database
# consistent and exits 1. TRANSPORT (raw or curl, default raw) is the
# --transport of the runs.
set -u
JB=$1
FAKE=$2
TRANSPORT=${3:-raw}
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 command not installed"; exit 77; }
TMP=$(mktemp -d /tmp/jb-loadgen-cli.XXXXXX)
SERVER_PID=
LOAD_PID=
cleanup() {
    [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# expect_usage "TEXT IN MESSAGE" ARGS... : exit 2 and the message names the argument.
expect_usage() {
    want=$1
    shift
    "$JB" loadgen "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ $rc -eq 2 ] || fail "loadgen $* exited $rc, expected 2"
    grep -q -- "$want" "$TMP/err" || fail "loadgen $*: message lacks '$want': $(cat "$TMP/err")"
}

"$JB" loadgen --help >"$TMP/out" || fail "--help did not exit 0"
grep -q -- "--requests-per-user" "$TMP/out" || fail "--help lacks the options"
expect_usage "--target" --users 3
expect_usage "--users" --target http://127.0.0.1:1 --users 0
expect_usage "--users" --target http://127.0.0.1:1 --users lots
expect_usage "--target" --target ftp://127.0.0.1/
expect_usage "get_users" --target http://127.0.0.1:1 --mix get_users=3
expect_usage "--model" --target http://127.0.0.1:1 --model half-open
expect_usage "--rate" --target http://127.0.0.1:1 --model open
expect_usage "--rate" --target http://127.0.0.1:1 --rate 0 --model open
expect_usage "--timeout-ms" --target http://127.0.0.1:1 --timeout-ms -5
expect_usage "--bogus" --target http://127.0.0.1:1 --bogus
expect_usage "extra" --target http://127.0.0.1:1 extra
expect_usage "--threads" --target http://127.0.0.1:1 --threads 0
expect_usage "--threads" --target http://127.0.0.1:1 --users 2 --threads 3
expect_usage "--transport" --target http://127.0.0.1:1 --transport quic

# Unreachable: port 9 (discard) is not listening on a test machine's loopback.
"$JB" loadgen --transport "$TRANSPORT" --target http://127.0.0.1:9 --db "$TMP/unreach.db" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] || fail "unreachable target exited $rc, expected 1"
grep -q "cannot reach the target http://127.0.0.1:9" "$TMP/err" || fail "message: $(cat "$TMP/err")"
[ "$(sqlite3 "$TMP/unreach.db" "SELECT count(*) FROM samples WHERE phase='measure'")" = 0 ] ||
    fail "measured samples after an unreachable target"

# A fake Jung answering every 3rd request 30 ms late.
"$FAKE" "$TMP/port" 3 30 &
SERVER_PID=$!
i=0
while [ ! -s "$TMP/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -s "$TMP/port" ] || { echo "SKIP: fake Jung server did not start"; exit 77; }
URL="http://127.0.0.1:$(cat "$TMP/port")"

"$JB" loadgen --transport "$TRANSPORT" --target "$URL" --users 2 --requests-per-user 12 --devices-per-user 2 \
    --db "$TMP/ok.db" --run-id r1 --platform fake --iteration 3 >"$TMP/out" 2>"$TMP/err" ||
    fail "a short run failed: $(cat "$TMP/err")"
grep -q "24 samples, 0 errors" "$TMP/out" || fail "summary: $(cat "$TMP/out")"
[ "$(sqlite3 "$TMP/ok.db" "SELECT count(*) FROM samples WHERE run_id='r1' AND platform='fake'
      AND iteration=3 AND phase='measure'")" = 24 ] || fail "rows of the short run"
[ "$(sqlite3 "$TMP/ok.db" "SELECT status FROM runs WHERE run_id='r1'")" = done ] ||
    fail "runs row not marked done"

# SIGINT in the middle of a long run.
"$JB" loadgen --transport "$TRANSPORT" --target "$URL" --users 3 --requests-per-user 100000 --devices-per-user 2 \
    --db "$TMP/int.db" --run-id r2 >"$TMP/out" 2>"$TMP/err" &
LOAD_PID=$!
# Waits for measured samples in the database (written at least every second)
# so that the interruption has some to keep.
i=0
until [ "$(sqlite3 "$TMP/int.db" "SELECT count(*) FROM samples WHERE phase='measure'" 2>/dev/null)" -gt 0 ] 2>/dev/null; do
    [ $i -lt 300 ] || fail "no measured samples in int.db within 30 s: $(cat "$TMP/err")"
    sleep 0.1
    i=$((i + 1))
done
kill -INT "$LOAD_PID"
wait "$LOAD_PID"
rc=$?
LOAD_PID=
[ $rc -eq 1 ] || fail "SIGINT run exited $rc, expected 1: $(cat "$TMP/err")"
grep -q "interrupted" "$TMP/err" || fail "no interruption note: $(cat "$TMP/err")"
[ "$(sqlite3 "$TMP/int.db" "PRAGMA integrity_check")" = ok ] || fail "database not consistent"
rows=$(sqlite3 "$TMP/int.db" "SELECT count(*) FROM samples WHERE phase='measure'")
summary=$(sqlite3 "$TMP/int.db" "SELECT samples FROM load_summaries WHERE run_id='r2'")
[ "$rows" -gt 0 ] || fail "no samples kept"
[ "$rows" = "$summary" ] || fail "summary says $summary samples, table has $rows"
grep -q "$rows samples kept" "$TMP/err" || fail "note does not count the samples: $(cat "$TMP/err")"
[ "$(sqlite3 "$TMP/int.db" "SELECT status FROM runs WHERE run_id='r2'")" = interrupted ] ||
    fail "runs row not marked interrupted"
echo "PASS loadgen_cli $TRANSPORT ($rows samples kept after SIGINT)"
