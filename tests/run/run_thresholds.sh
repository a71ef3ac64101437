#!/bin/bash
# The config's thresholds through `jungbench run` (tiny.yaml, one iteration):
# limits that hold exit 0 with each shown as pass; a breached one exits 1
# with a line naming it. `report --check` and `compare` then give the same
# verdicts from the stored runs.
. "$(dirname "$0")/lib.sh"

# tiny.yaml with one iteration and the given thresholds block appended
config() { # config NAME THRESHOLDS...
    local file="$TMP/$1.yaml"
    sed -e 's/^iterations: .*/iterations: 1/' -e "s/^name: .*/name: $1/" \
        "$SRC/tests/run/tiny.yaml" > "$file"
    shift
    printf 'thresholds:\n' >> "$file"
    printf '  %s\n' "$@" >> "$file"
    echo "$file"
}
run_dir() { ls -d "$TMP/out/$1"-* | head -1; }

holds=$(config holds "p95_ms: '< 60000'" "error_rate: '< 50%'" "throughput_rps: '> 0'" \
    "labels: {get_user: {p99_ms: '< 60000 ms'}}" "platforms: {native: {cpu_pct: '< 10000'}}")
"$JB" run "$holds" --out "$TMP/out" > "$TMP/holds.out" 2> "$TMP/holds.err"
check "run with thresholds that hold: exit" "$?" 0
grep -q '^Thresholds: 5 of 5 passed' "$TMP/holds.out" || fail "no 'Thresholds: 5 of 5 passed' line"
check "lines marked pass" "$(grep -c '^  pass ' "$TMP/holds.out")" 5
grep -q '^  pass p99_ms < 60000 ms on native (get_user) ' "$TMP/holds.out" ||
    fail "the label's threshold is not named"
grep -q 'threshold breached' "$TMP/holds.err" && fail "a breach reported for limits that hold"

breached=$(config breached "p95_ms: '< 60000'" "throughput_rps: '> 1000000000'")
"$JB" run "$breached" --out "$TMP/out" > "$TMP/breached.out" 2> "$TMP/breached.err"
check "run with a breached threshold: exit" "$?" 1
grep -q '^Thresholds: 1 of 2 passed' "$TMP/breached.out" || fail "no 'Thresholds: 1 of 2 passed'"
grep -q '^  FAIL throughput_rps > 1000000000 req/s on native ' "$TMP/breached.out" ||
    fail "the breached threshold is not marked FAIL"
grep -q '^jungbench run: threshold breached: throughput_rps > 1000000000 req/s on native: ' \
    "$TMP/breached.err" || fail "no stderr line naming the breached threshold"
check "the run itself finished" \
    "$(q "$(run_dir breached)/results.db" "select status from runs")" done

# report --check: the same verdicts from the stored runs
"$JB" report "$(run_dir holds)" --check > "$TMP/check.out" 2>&1
check "report --check, limits hold: exit" "$?" 0
check "report --check lines marked pass" "$(grep -c '^  pass ' "$TMP/check.out")" 5
"$JB" report "$(run_dir breached)" --check > "$TMP/check.out" 2> "$TMP/check.err"
check "report --check, breached: exit" "$?" 1
grep -q '^jungbench report: threshold breached: throughput_rps > 1000000000 req/s on native' \
    "$TMP/check.err" || fail "report --check does not name the breach"
"$JB" report "$(run_dir breached)" --format json > "$TMP/report.json"
check "report --format json: the thresholds that failed" \
    "$(python3 -c "import json,sys; print(','.join(t['metric'] for t in json.load(open(sys.argv[1]))['thresholds'] if not t['pass']))" "$TMP/report.json")" \
    throughput_rps
"$JB" report "$TMP/nonexistent" --check > /dev/null 2>&1
check "report --check on a missing run: exit (cannot decide)" "$?" 3

# compare gates NEW on its own thresholds
"$JB" compare "$(run_dir holds)" "$(run_dir holds)" > "$TMP/cmp.out" 2>&1
check "compare, NEW's limits hold: exit" "$?" 0
grep -q '^decision: pass (exit 0)' "$TMP/cmp.out" || fail "compare does not say pass"
"$JB" compare "$(run_dir breached)" "$(run_dir breached)" --format json > "$TMP/cmp.json" \
    2> "$TMP/cmp.err"
check "compare, NEW breached a threshold: exit" "$?" 1
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$TMP/cmp.json"; }
check "compare JSON decision" "$(json "d['decision']")" "threshold breached"
check "compare JSON failed thresholds" \
    "$(json "','.join(t['metric'] for t in d['thresholds'] if not t['pass'])")" throughput_rps
grep -q '^jungbench compare: threshold breached: throughput_rps' "$TMP/cmp.err" ||
    fail "compare does not name the breach"
check "processes left behind" "$(count_tagged)" 0
finish
