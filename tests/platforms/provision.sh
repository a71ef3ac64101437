#!/bin/bash
# provision.sh - `jungbench provision` on native processes of the fake
# service: the printed line, the provision_times and boot_times rows it
# writes with --db, and its usage errors (exit 2).
# Usage: provision.sh JUNGBENCH FAKE_SERVICE
set -uo pipefail
JB=$(readlink -f "$1") FAKE=$(readlink -f "$2")
tmp=$(mktemp -d /tmp/jungbench-provision-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v sqlite3 >/dev/null || { echo "SKIP: no sqlite3 (apt-get install sqlite3)"; exit 77; }

mkdir "$tmp/bin"
ln -s "$FAKE" "$tmp/bin/jung-fake"
cat > "$tmp/c.yaml" <<YAML
name: provision-test
broker: embedded
platforms:
  - name: native
    driver: process
    bin_dir: $tmp/bin
    build: dynamic # the fake service is one plain executable
YAML
out=$("$JB" provision "$tmp/c.yaml" --service fake --instances 3,5 --repeat 2 --db "$tmp/r.db") ||
    fail "provision failed: $out"
echo "$out"
[ "$(echo "$out" | grep -c '^native .* x fake .*all ready')" -eq 2 ] || fail "one line per count expected"
rows=$(sqlite3 "$tmp/r.db" "SELECT count(*), sum(instances), min(all_ready_ms >= ready_max_ms)
                            FROM provision_times WHERE platform='native' AND service='fake'")
[ "$rows" = "4|16|1" ] || fail "provision_times: want 4 rounds of 3,3,5,5 instances, got '$rows'"
boots=$(sqlite3 "$tmp/r.db" "SELECT count(*), min(ready_ms >= boot_ms), min(accel='native')
                             FROM boot_times WHERE platform='native'")
[ "$boots" = "16|1|1" ] || fail "boot_times: want 16 instances with ready >= boot, got '$boots'"
pgrep -f -- "$tmp/bin/jung-fake" >/dev/null && fail "fake processes left"

"$JB" provision "$tmp/c.yaml" --instances 0 2>/dev/null; [ $? -eq 2 ] || fail "--instances 0 must be a usage error"
"$JB" provision "$tmp/c.yaml" --platform none 2>/dev/null; [ $? -eq 2 ] || fail "unknown platform must be a usage error"
"$JB" provision "$tmp/missing.yaml" 2>/dev/null; [ $? -eq 1 ] || fail "a missing config must fail with 1"
"$JB" provision "$tmp/c.yaml" --service no_such --instances 1 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "jung-no-such" "$tmp/err" || fail "missing executable: rc $rc, $(cat "$tmp/err")"
echo "provision: rows, cleanup and errors as expected"
