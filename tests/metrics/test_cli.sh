#!/bin/sh
# test_cli.sh JUNGBENCH - `jungbench metrics`: exit codes, messages, a real
# run against a sleeping process, and --db rows.
set -u
JB="$1"
fail=0
tmp=$(mktemp -d /tmp/jb-metrics-cli-XXXXXX)
sleep 30 & # the process measured (not a wait): killed at exit
victim=$!
trap 'kill $victim 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM

expect() { # expect CODE PATTERN ARGS...: exit code and a stderr/stdout pattern
    code=$1; pattern=$2; shift 2
    "$JB" metrics "$@" >"$tmp/out" 2>&1
    rc=$?
    if [ "$rc" -ne "$code" ] || ! grep -q -- "$pattern" "$tmp/out"; then
        echo "FAIL: metrics $* -> exit $rc (want $code), output:"; cat "$tmp/out"; fail=1
    fi
}

expect 0 "Usage: jungbench metrics" --help
expect 2 "nothing to sample" --interval 100
expect 2 "expects a whole number" --pid abc
expect 2 "expects a whole number" --pid 0
expect 2 "expects a number" --pid "$victim" --interval 1
expect 2 "unknown option" --pid "$victim" --bogus
expect 2 "must follow the group" --name x --pid "$victim"
expect 2 "unknown 'kvm'" --runtime kvm
# 4194304 is the largest PID Linux allows; nothing runs there on a small box
expect 1 "no such process" --pid 4194000 --duration 1
expect 1 "not found" --cgroup /no/such/cgroup --duration 1
expect 0 "sampler thread" --pid "$victim" --name victim --interval 100 --duration 0.6 \
    --db "$tmp/r.db" --run-id cli --platform native
rows=$(sqlite3 "$tmp/r.db" "SELECT count(*) FROM metric_samples WHERE run_id='cli' AND grp='victim'")
sums=$(sqlite3 "$tmp/r.db" "SELECT count(*) FROM metric_summaries WHERE grp='victim'")
if [ "$rows" -lt 1 ] || [ "$sums" -ne 1 ]; then
    echo "FAIL: --db stored $rows samples and $sums summaries"; fail=1
fi
# the process exits mid-run: the command ends on its own, exit 0
sleep 0.6 & # the process measured (not a wait): it exits mid-run
short=$!
"$JB" metrics --pid "$short" --interval 100 >"$tmp/out" 2>&1 &
runner=$!
i=0
while kill -0 $runner 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $runner 2>/dev/null; then
    echo "FAIL: metrics kept running after its only process exited"; kill $runner; fail=1
else
    wait $runner || { echo "FAIL: exit $? after the process exited"; cat "$tmp/out"; fail=1; }
fi
exit $fail
