#!/usr/bin/env bash
# `jungbench broker` as a process: usage errors exit 2 naming the argument,
# the first stdout line is bootstrap=127.0.0.1:PORT, --port is honoured,
# clients can produce and consume through it (also listening on 0.0.0.0
# and advertising 127.0.0.1), a busy port exits 1 with a
# clear message, SIGTERM and SIGINT exit 0 and leave nothing listening.
# Usage: broker_cli.sh JUNGBENCH CORE_TEST_KAFKA
set -u
JB=$1
ROUNDTRIP=$2
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

expect_usage() { # args...: must exit 2 and name the first bad argument
  local name=$1; shift
  "$JB" broker "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [[ $rc == 2 ]] || fail "broker $* exited $rc, want 2"
  grep -q -- "$name" "$tmp/err" || fail "broker $*: error does not name '$name': $(cat "$tmp/err")"
}
expect_usage --port --port abc
expect_usage --port --port 65536
expect_usage --port --port -1
expect_usage --partitions --partitions 0
expect_usage --bogus --bogus
expect_usage stray stray
expect_usage --advertise --listen 0.0.0.0
expect_usage --advertise --advertise 0.0.0.0
"$JB" broker --help >"$tmp/out" || fail "--help exited $?"
grep -q -- "--port" "$tmp/out" || fail "--help does not document --port"

# Start on a free port (ask the kernel for one, then let it go).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_broker() { # $1: output prefix; extra args
  local out=$1; shift
  "$JB" broker "$@" >"$tmp/$out.out" 2>"$tmp/$out.err" &
  pids+=($!)
  for _ in $(seq 100); do
    [[ -s $tmp/$out.out ]] && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
}
start_broker a --port "$port" --partitions 2
bpid=${pids[-1]}
first=$(head -n1 "$tmp/a.out")
[[ $first == "bootstrap=127.0.0.1:$port" ]] || fail "first line '$first', want bootstrap=127.0.0.1:$port"

# Produce and consume through it (consumer group, auto-created topic).
KAFKA_BOOTSTRAP=127.0.0.1:$port "$ROUNDTRIP" >"$tmp/rt" 2>&1 || fail "roundtrip: $(cat "$tmp/rt")"

# Busy port: exit 1 and say so.
"$JB" broker --port "$port" >"$tmp/b.out" 2>"$tmp/b.err"
rc=$?
[[ $rc == 1 ]] || fail "second broker on busy port exited $rc, want 1"
grep -q "in use" "$tmp/b.err" || fail "busy port message: $(cat "$tmp/b.err")"
[[ ! -s $tmp/b.out ]] || fail "failed broker printed a bootstrap line: $(cat "$tmp/b.out")"

stop_and_check() { # $1 pid, $2 signal
  kill "-$2" "$1"
  local rc=0
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  wait "$1"; rc=$?
  [[ $rc == 0 ]] || fail "SIG$2 gave exit $rc, want 0"
}
stop_and_check "$bpid" TERM
if ss -ltn "sport = :$port" | grep -q LISTEN; then fail "port $port still listening after SIGTERM"; fi

# Listening on every interface, advertising one address: clients are
# told that address, with the port that listens.
start_broker d --listen 0.0.0.0 --advertise 127.0.0.1
dboot=$(head -n1 "$tmp/d.out")
[[ $dboot =~ ^bootstrap=127\.0\.0\.1:[0-9]+$ ]] || fail "--advertise line: '$dboot' $(cat "$tmp/d.err")"
dport=${dboot##*:}
ss -ltnH "sport = :$dport" | grep -q "0.0.0.0:$dport" || fail "--listen 0.0.0.0: not listening on 0.0.0.0:$dport"
KAFKA_BOOTSTRAP=127.0.0.1:$dport "$ROUNDTRIP" >"$tmp/rt2" 2>&1 || fail "roundtrip over --advertise: $(cat "$tmp/rt2")"
stop_and_check "${pids[-1]}" TERM

start_broker c
[[ $(head -n1 "$tmp/c.out") =~ ^bootstrap=127\.0\.0\.1:[0-9]+$ ]] || fail "port 0 line: $(cat "$tmp/c.out")"
stop_and_check "${pids[-1]}" INT

if ((failures)); then echo "$failures check(s) failed" >&2; exit 1; fi
echo ok
