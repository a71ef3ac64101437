#!/usr/bin/env bash
# `jungbench topics`: usage errors exit 2 naming the problem; against a real
# Kafka (KAFKA_BOOTSTRAP) it creates every Jung topic and a second run finds
# them all existing (idempotent). Usage: topics_cli.sh JUNGBENCH
set -u
JB=$1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

check_usage() { # what-the-error-names, args...
  local name=$1; shift
  KAFKA_BOOTSTRAP= "$JB" topics "$@" >/dev/null 2>"$out"
  local rc=$?
  [[ $rc == 2 ]] || fail "topics $* exited $rc, want 2"
  grep -q -- "$name" "$out" || fail "topics $*: message does not name '$name': $(cat "$out")"
}
check_usage "--bootstrap" # no cluster at all
check_usage "--partitions" --bootstrap 127.0.0.1:9 --partitions 0
check_usage "--replication" --bootstrap 127.0.0.1:9 --replication 0
check_usage "KEY=VALUE" --bootstrap 127.0.0.1:9 --property nonsense
check_usage "no.such.property" --bootstrap 127.0.0.1:9 --property no.such.property=1
"$JB" topics --help | grep -q -- "--bootstrap" || fail "--help does not document --bootstrap"

if [[ -z ${KAFKA_BOOTSTRAP:-} ]]; then
  ((failures)) && exit 1
  echo "SKIP: KAFKA_BOOTSTRAP is not set; usage checks passed, creation not tested"
  exit 77
fi
"$JB" topics >"$out" 2>&1 || fail "first run: $(cat "$out")"
[[ $(grep -cE '^(created|exists)  ' "$out") == 18 ]] || fail "want 18 topics: $(cat "$out")"
"$JB" topics >"$out" 2>&1 || fail "second run: $(cat "$out")"
[[ $(grep -c '^exists  ' "$out") == 18 ]] || fail "second run should find all 18: $(cat "$out")"
if ((failures)); then echo "$failures check(s) failed" >&2; exit 1; fi
echo ok
