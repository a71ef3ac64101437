#!/bin/sh
# report_cli.sh JUNGBENCH REPORT_FIXTURE GOLDEN_DIR
# `jungbench report` and `jungbench compare` end to end on fixture
# databases: golden text and CSV, JTL format, JSON, bad inputs, exit codes.
# Regenerate the golden files after an intended change with
#   UPDATE_GOLDEN=1 tests/report/report_cli.sh ...
set -u
J=$1 FIX=$2 GOLDEN=$3
T=$(mktemp -d /tmp/jb-report-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect RC DESCRIPTION COMMAND...: runs it, output in $T/out and $T/err
expect() {
    want=$1 what=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" -eq "$want" ] || { fail "$what: exit $rc, want $want"; sed 's/^/  | /' "$T/err" >&2; }
}
contains() { grep -qF -- "$2" "$1" || fail "$1 lacks: $2"; }

for v in base rawmetrics rerun regressed three three-regressed users40 unfinished empty foreign; do
    mkdir -p "$T/$v"
    "$FIX" "$T/$v/results.db" "$v" || { echo "fixture $v failed" >&2; exit 1; }
done

# --- golden text and CSV ------------------------------------------------
expect 0 "report text" "$J" report "$T/base"
cp "$T/out" "$T/base.txt"
expect 0 "report csv" "$J" report "$T/base" --format csv --out "$T/csv"
if [ "${UPDATE_GOLDEN:-}" = 1 ]; then
    mkdir -p "$GOLDEN/csv" && cp "$T/base.txt" "$GOLDEN/base.txt" && cp "$T"/csv/*.csv "$GOLDEN/csv/"
    echo "golden files updated in $GOLDEN"
fi
diff -u "$GOLDEN/base.txt" "$T/base.txt" >&2 || fail "text report differs from golden base.txt"
diff -ru "$GOLDEN/csv" "$T/csv" >&2 || fail "CSV tables differ from golden csv/"
[ "$(ls "$T/csv" | wc -l)" -eq 11 ] || fail "want 11 CSV tables, got $(ls "$T/csv")"
# The error table: the fixture's one failed measured request (docker
# iteration 1, the 4th sample at BASE_MS + 103000 ms), none of setup's.
contains "$T/base.txt" "Failed requests by kind"
contains "$T/base.txt" 'docker     500  expected "ok", got 500  POST /users/{u}/devices/{d}/commands      1     5.00  22:15:03.000  22:15:03.000'
contains "$T/csv/errors.csv" 'docker,500,"expected ""ok"", got 500",POST /users/{u}/devices/{d}/commands,1,5,1700000103000,1700000103000'

expect 0 "report md" "$J" report "$T/base" --format md
contains "$T/out" "| User Registry | 13.000 ± 1.581 | 23.000 ± 1.581 |"
# Default CSV folder: beside the database.
expect 0 "report csv default folder" "$J" report "$T/base/results.db" --format csv
[ -f "$T/base/report-csv/requests.csv" ] || fail "csv default folder not written"

# Without metric_summaries the raw metric_samples give the same tables.
expect 0 "report from raw metric samples" "$J" report "$T/rawmetrics" --format csv --out "$T/rawcsv"
for t in cpu memory total_memory; do
    diff -u "$GOLDEN/csv/$t.csv" "$T/rawcsv/$t.csv" >&2 || fail "$t from metric_samples differs"
done
expect 0 "report text from raw metric samples" "$J" report "$T/rawmetrics"
contains "$T/out" "no metric_summaries rows: CPU and memory are averaged from metric_samples"

# --- JSON ---------------------------------------------------------------
expect 0 "report json" "$J" report "$T/base" --format json
python3 - "$T/out" <<'PY' || fail "JSON report content"
import json, sys
d = json.load(open(sys.argv[1]))
rows = {(r["platform"]): r for r in d["tables"]["requests"]}
assert rows["docker"]["samples"] == 20 and rows["docker"]["ko"] == 1, rows
assert abs(rows["osv"]["avg_ms"] - 128) < 1e-9, rows
tot = [r for r in d["tables"]["total_memory"] if r["group"] == "runtime" and r["platform"] == "osv"]
assert tot[0]["mean_mib"] is None, tot  # not measured: null, never 0
assert d["run"]["status"] == "done" and len(d["warnings"]) == 3, d["warnings"]
assert "busy machine" in d["warnings"][0], d["warnings"]
assert "docker #1 (25.0 %)" in d["warnings"][1], d["warnings"]
PY

# --- JTL ----------------------------------------------------------------
expect 0 "report jtl" "$J" report "$T/base" --format jtl --out "$T/jtl"
python3 - "$T/jtl" <<'PY' || fail "JTL format"
import csv, sys
header = ("timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,"
          "failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect")
for plat, n, ko in (("docker", 20, 1), ("osv", 20, 0)):
    raw = open(f"{sys.argv[1]}/{plat}.jtl", newline="").read()
    assert raw.split("\n", 1)[0] == header, raw[:200]
    rows = list(csv.reader(raw.splitlines(keepends=True)))[1:]
    assert len(rows) == n, (plat, len(rows))  # measured only: no setup, no failed iteration
    assert all(len(r) == 17 for r in rows)
    assert sum(r[7] == "false" for r in rows) == ko and all(r[7] in ("true", "false") for r in rows)
    assert all(r[6] == "text" for r in rows)
    ts = [int(r[0]) for r in rows]
    assert ts == sorted(ts)
failed = [r for r in csv.reader(open(f"{sys.argv[1]}/docker.jtl", newline="")) if r[7] == "false"]
assert failed[0][8] == 'expected "ok",\ngot 500', failed[0][8]
# JMeter quoting: quotes doubled, field quoted because of comma/quote/newline
assert '"expected ""ok"",\ngot 500"' in open(f"{sys.argv[1]}/docker.jtl").read()
PY

# --- HTML written to the default place ------------------------------------
expect 0 "report html" "$J" report "$T/base" --format html
[ -s "$T/base/report.html" ] || fail "html default file not written"
contains "$T/base/report.html" "<svg"
if grep -qE "(src|href)=\"https?:" "$T/base/report.html"; then fail "HTML refers to the network"; fi

# --- bad input ----------------------------------------------------------
expect 1 "missing database" "$J" report "$T/nowhere"
contains "$T/err" "no such results database"
expect 1 "foreign database" "$J" report "$T/foreign"
contains "$T/err" "not a jungbench results database"
printf 'not a database at all, just text\n' >"$T/garbage.db"
expect 1 "not SQLite" "$J" report "$T/garbage.db"
contains "$T/err" "not a SQLite database"
expect 1 "unknown run id" "$J" report "$T/base" --run nosuchrun
contains "$T/err" "no run 'nosuchrun'"
expect 0 "run without samples" "$J" report "$T/empty"
contains "$T/out" "has no iterations, samples or metrics recorded"
contains "$T/out" "Not measured: the run has no metric_summaries"
expect 0 "unfinished run" "$J" report "$T/unfinished"
contains "$T/out" "WARNING: run fixture-unfinished is not finished (status 'running')"
contains "$T/out" "1 of 3 iterations did not finish"
# the running iteration's 50 s sample is left out
if grep -q "50000" "$T/out"; then fail "unfinished iteration leaked into the tables"; fi
# --iteration N: one iteration's samples per platform; the mean over the
# files of JMeter's throughput (samples over first start to last end) is
# jungbench's per-iteration throughput.
for it in 1 2 3 4 5; do
    expect 0 "jtl --iteration $it" "$J" report "$T/base" --format jtl --iteration $it --out "$T/jtl-it"
done
expect 0 "report json for the iteration files" "$J" report "$T/base" --format json
python3 - "$T/jtl-it" "$T/out" <<'PY' || fail "per-iteration JTL files"
import csv, json, sys
d, rep = sys.argv[1], json.load(open(sys.argv[2]))["tables"]
for plat in ("docker", "osv"):
    rates = []
    for it in range(1, 6):
        rows = list(csv.DictReader(open(f"{d}/{plat}.iteration-{it}.jtl", newline="")))
        span = max(int(r["timeStamp"]) + int(r["elapsed"]) for r in rows) - min(int(r["timeStamp"]) for r in rows)
        rates.append(len(rows) / span * 1000)
    ours = next(r for r in rep["requests_per_iteration"] if r["group"] == "throughput" and r["platform"] == plat)
    assert abs(sum(rates) / 5 - ours["mean"]) < 1e-9, (plat, rates, ours)
PY
expect 1 "jtl --iteration of a failed iteration" "$J" report "$T/base" --format jtl --iteration 6 --out "$T/jtl-it"
contains "$T/err" "iteration 6 has no measured samples on any platform"
expect 2 "--iteration without --format jtl" "$J" report "$T/base" --iteration 2
contains "$T/err" "--iteration applies to --format jtl only"

# No table is drawn as a bare header: one platform (nothing to test) and a
# run without samples say why a table is empty, in text, Markdown and HTML.
cp "$T/base/results.db" "$T/one-platform.db"
python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for (t,) in c.execute(\"SELECT name FROM sqlite_master WHERE type='table'\").fetchall():
    if 'platform' in [r[1] for r in c.execute('PRAGMA table_info(%s)' % t)]:
        c.execute('DELETE FROM %s WHERE platform=?' % t, ('osv',))
c.commit()" "$T/one-platform.db"
for db in "$T/one-platform.db" "$T/empty"; do
    for f in text md html; do
        expect 0 "report $f of $(basename "$db")" "$J" report "$db" --format $f --out "$T/r.$f"
        python3 - "$T/r.$f" $f <<'PY' || fail "$(basename "$db") $f: a table without rows"
import re, sys
s, f = open(sys.argv[1]).read(), sys.argv[2]
bare = {"text": r"\n-+(  -+)*\n\n", "md": r"\| --- \|( ---: \|)*\n\n",
        "html": r"<tbody>\n</tbody>"}[f]
assert not re.search(bare, s), re.search(bare, s)
PY
    done
done
grep -q "No tests: only one platform was measured" "$T/r.text" 2>/dev/null ||
    "$J" report "$T/one-platform.db" | grep -q "No tests: only one platform was measured" ||
    fail "one platform: the tests table does not say why it is empty"
# Two runs in one database: the latest by default, with a warning; --run picks.
cp "$T/base/results.db" "$T/two-runs.db"
python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO runs VALUES('old','old','{}','{}',1,2,'done')\"); c.commit()" "$T/two-runs.db"
expect 0 "two runs" "$J" report "$T/two-runs.db"
contains "$T/out" "the database holds 2 runs; this report is about the latest, fixture-base"
expect 0 "two runs, --run" "$J" report "$T/two-runs.db" --run old
contains "$T/out" "jungbench report: run old"
expect 2 "no arguments" "$J" report
expect 2 "bad format" "$J" report "$T/base" --format pdf
contains "$T/err" "--format must be text, md, csv, jtl, html or json"
expect 0 "report --help" "$J" report --help
contains "$T/out" "Usage: jungbench report"
expect 1 "csv into a file" "$J" report "$T/base" --format csv --out "$T/base.txt"
contains "$T/err" "a file has that name"

# --- compare ------------------------------------------------------------
expect 0 "compare with itself" "$J" compare "$T/base" "$T/base"
contains "$T/out" "0 regressions"
expect 0 "compare noise under threshold" "$J" compare "$T/base" "$T/rerun/results.db"
expect 1 "compare planted regression" "$J" compare "$T/base" "$T/regressed"
contains "$T/err" "regression: avg_ms on docker"
contains "$T/err" "regression: p99_ms on docker"
if grep -q "on osv" "$T/err"; then fail "osv did not change but was flagged"; fi
expect 0 "improvement is not a regression" "$J" compare "$T/regressed" "$T/base"
contains "$T/out" "improved"
expect 0 "threshold above the change" "$J" compare "$T/base" "$T/regressed" --threshold 500
expect 0 "only unchanged metrics" "$J" compare "$T/base" "$T/regressed" --metrics cpu,memory,image_bytes
# sizes in MiB as in the reports (not "1465104.000 bytes"); JSON keeps bytes
grep -Eq '^image_bytes +MiB +docker ' "$T/out" || fail "compare shows image sizes not in MiB"
expect 0 "compare json of sizes" "$J" compare "$T/base" "$T/regressed" --metrics image_bytes --format json
python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['comparisons'][0]; assert r['unit']=='bytes' and r['base']>1e5, r" "$T/out" ||
    fail "compare JSON of sizes is not in bytes"
expect 1 "json compare" "$J" compare "$T/base" "$T/regressed" --format json --metrics p99_ms
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['regressions']==['p99_ms on docker'], d" "$T/out" ||
    fail "compare JSON"
# The gate fails closed: a change for the worse that these iterations can
# never test (p >= 0.05 whatever the data) is exit 3, never a pass.
expect 3 "3 vs 3 iterations, docker +20 ms" "$J" compare "$T/three" "$T/three-regressed"
contains "$T/out" "CANNOT DECIDE"
contains "$T/out" "decision: cannot decide (exit 3)"
contains "$T/err" "cannot decide: avg_ms on docker"
contains "$T/err" "run at least 4 per side"
expect 3 "2 finished iterations against 5" "$J" compare "$T/unfinished" "$T/regressed" --metrics avg_ms
expect 0 "3 vs 3, nothing changed" "$J" compare "$T/three" "$T/three"
contains "$T/out" "decision: pass (exit 0)"
expect 1 "5 vs 5 iterations, docker +20 ms" "$J" compare "$T/base" "$T/regressed" --metrics avg_ms
contains "$T/out" "decision: regression (exit 1)"
expect 3 "json: cannot decide" "$J" compare "$T/three" "$T/three-regressed" --format json --metrics p99_ms
python3 -c "
import json,sys
d=json.load(open(sys.argv[1]))
assert d['decision']=='cannot decide' and d['exit_code']==3, d
assert d['regressions']==[] and len(d['undecided'])==1 and 'p99_ms on docker' in d['undecided'][0], d
v={(c['metric'],c['platform']):c['verdict'] for c in d['comparisons']}
assert v[('p99_ms','docker')]=='CANNOT DECIDE' and v[('p99_ms','osv')]=='ok', v
" "$T/out" || fail "compare JSON of an undecided gate"
expect 3 "md: cannot decide" "$J" compare "$T/three" "$T/three-regressed" --format md
contains "$T/out" "| metric |"
contains "$T/out" "**decision: cannot decide (exit 3)**"
# Different work is refused, unless asked for.
expect 3 "different workloads" "$J" compare "$T/base" "$T/users40"
contains "$T/err" "different work (users: 30 vs 40)"
contains "$T/err" "--allow-different-workload"
expect 0 "different workloads allowed" "$J" compare "$T/base" "$T/users40" --allow-different-workload
contains "$T/err" "the workloads differ (users: 30 vs 40)"
# CPU per 1,000 requests is compared too.
expect 0 "cpu per request" "$J" compare "$T/base" "$T/base" --metrics cpu_per_1k_req
contains "$T/out" "cpu_per_1k_req"
expect 2 "unknown metric" "$J" compare "$T/base" "$T/regressed" --metrics cpu,latency
contains "$T/err" "unknown metric 'latency'"
expect 2 "bad threshold" "$J" compare "$T/base" "$T/regressed" --threshold -3
expect 2 "one run only" "$J" compare "$T/base"
# A broken pipeline is not a regression: exit 3, not 1.
expect 3 "compare missing base" "$J" compare "$T/nowhere" "$T/base"
contains "$T/err" "cannot decide: BASE:"
expect 3 "compare unreadable new" "$J" compare "$T/base" "$T/foreign/results.db"
contains "$T/err" "cannot decide: NEW:"
expect 0 "compare --help" "$J" compare --help

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "report_cli: all checks passed"
