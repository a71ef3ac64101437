#!/bin/sh
# jmeter_dashboard.sh JUNGBENCH REPORT_FIXTURE JMETER_SCRIPT
# Issue 7: the JTL export must load in real Apache JMeter. Exports the
# fixture run as JTL, has JMeter 5.6.3 (scripts/jmeter, fetched from Maven
# Central) generate its HTML dashboard with its default jmeter.properties
# (so JMeter infers the columns from our header), and checks JMeter's
# statistics.json against `jungbench report --format json`.
# SKIP (77) when JMeter cannot be fetched.
set -u
J=$1 FIX=$2 JMETER=$3
T=$(mktemp -d /tmp/jb-jmeter-dash-XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM

mkdir -p "$T/base"
"$FIX" "$T/base/results.db" base || { echo "FAIL: fixture" >&2; exit 1; }
"$J" report "$T/base" --format jtl --out "$T/jtl" || { echo "FAIL: jtl export" >&2; exit 1; }
"$J" report "$T/base" --format json >"$T/report.json" || { echo "FAIL: json report" >&2; exit 1; }
"$J" report "$T/base" --format jtl --iteration 2 --out "$T/jtl-it2" ||
    { echo "FAIL: jtl export of iteration 2" >&2; exit 1; }

"$JMETER" fetch
rc=$?
[ $rc -eq 3 ] && { echo "SKIP: JMeter 5.6.3 cannot be fetched with mvn (see above)"; exit 77; }
[ $rc -eq 0 ] || { echo "FAIL: scripts/jmeter fetch exit $rc" >&2; exit 1; }
for plat in docker osv; do
    "$JMETER" dashboard "$T/jtl/$plat.jtl" "$T/dash-$plat" >"$T/$plat.out" 2>&1 ||
        { echo "FAIL: JMeter refused $plat.jtl:" >&2; tail -20 "$T/$plat.out" "$T/dash-$plat.jmeter.log" >&2; exit 1; }
done

# Past JMeter's default statistic window: 25,000 samples, the first 5,000
# slow (1,000 ms) and the rest fast (10-29 ms). The Total percentiles must
# cover all of them, as jungbench's do, not only the last 20,000.
python3 - "$T/jtl/docker.jtl" "$T/big.jtl" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
out = csv.DictWriter(open(sys.argv[2], "w", newline=""), fieldnames=list(rows[0]))
out.writeheader()
t0 = int(rows[0]["timeStamp"])
for i in range(25000):
    r = dict(rows[i % len(rows)])
    r.update(timeStamp=str(t0 + 10 * i), elapsed=str(1000 if i < 5000 else 10 + i % 20),
             success="true", responseCode="200", responseMessage="OK", failureMessage="",
             label="GET /users/{u}")
    out.writerow(r)
PY
"$JMETER" dashboard "$T/jtl-it2/docker.iteration-2.jtl" "$T/dash-it2" >"$T/it2.out" 2>&1 ||
    { echo "FAIL: JMeter refused docker.iteration-2.jtl:" >&2; tail -20 "$T/it2.out" >&2; exit 1; }
"$JMETER" dashboard "$T/big.jtl" "$T/dash-big" >"$T/big.out" 2>&1 ||
    { echo "FAIL: JMeter refused big.jtl:" >&2; tail -20 "$T/big.out" >&2; exit 1; }

python3 - "$T" <<'PY'
import csv, json, math, sys
t = sys.argv[1]
rep = json.load(open(f"{t}/report.json"))["tables"]
fails = []

def legacy_percentile(values, p):
    # JMeter's dashboard uses commons-math Percentile (LEGACY estimator):
    # position p(n+1)/100, linear interpolation, clamped to the ends.
    v = sorted(values)
    pos = p * (len(v) + 1) / 100
    if pos < 1: return v[0]
    if pos >= len(v): return v[-1]
    lo = math.floor(pos)
    return v[lo - 1] + (pos - lo) * (v[lo] - v[lo - 1])

def near(a, b, what):
    if abs(a - b) > 1e-6 * max(1, abs(b)):
        fails.append(f"{what}: JMeter {a}, jungbench {b}")

for plat in ("docker", "osv"):
    stats = json.load(open(f"{t}/dash-{plat}/statistics.json"))
    ours = {r["label"]: r for r in rep["requests_by_label"] if r["platform"] == plat}
    ours["Total"] = next(r for r in rep["requests"] if r["platform"] == plat)
    if set(stats) != set(ours):
        fails.append(f"{plat}: JMeter labels {sorted(stats)} != jungbench {sorted(ours)}")
    rows = list(csv.DictReader(open(f"{t}/jtl/{plat}.jtl", newline="")))
    for label, o in ours.items():
        s = stats.get(label)
        if s is None: continue
        w = f"{plat} {label}"
        near(s["sampleCount"], o["samples"], w + " sampleCount")
        near(s["errorCount"], o["ko"], w + " errorCount")
        near(s["errorPct"], o["error_pct"], w + " errorPct")
        near(s["meanResTime"], o["avg_ms"], w + " meanResTime")
        near(s["minResTime"], o["min_ms"], w + " minResTime")
        near(s["maxResTime"], o["max_ms"], w + " maxResTime")
        # jungbench's p50/p90/p99 are nearest-rank; JMeter interpolates, so
        # its percentiles are checked against the same elapsed values.
        el = [int(r["elapsed"]) for r in rows if label == "Total" or r["label"] == label]
        for key, p in (("medianResTime", 50), ("pct1ResTime", 90), ("pct2ResTime", 95), ("pct3ResTime", 99)):
            near(s[key], legacy_percentile(el, p), w + " " + key)
    first = min(int(r["timeStamp"]) for r in rows)
    if first < 10**12:
        fails.append(f"{plat}: timeStamp {first} is not epoch milliseconds")

# The failed docker request's failureMessage has a comma, a quote and a
# newline: JMeter counted exactly one error under the POST label and the
# 500 response code in its Errors table, so that record parsed as one row.
js = open(f"{t}/dash-docker/content/js/dashboard.js").read()
if "500/Internal Server Error" not in js:
    fails.append("docker dashboard lacks the 500/Internal Server Error error row")
rows = list(csv.DictReader(open(f"{t}/big.jtl", newline="")))
el = [int(r["elapsed"]) for r in rows]
total = json.load(open(f"{t}/dash-big/statistics.json"))["Total"]
for key, p in (("medianResTime", 50), ("pct1ResTime", 90), ("pct2ResTime", 95), ("pct3ResTime", 99)):
    if abs(total[key] - legacy_percentile(el, p)) > 1:
        fails.append(f"25,000 samples: JMeter's Total {key} {total[key]}, over all samples "
                     f"{legacy_percentile(el, p)} (statistic window not lifted?)")
# One iteration's file: JMeter's throughput (first start to last end) is
# the iteration's own, the unit of jungbench's per-iteration throughput.
rows = list(csv.DictReader(open(f"{t}/jtl-it2/docker.iteration-2.jtl", newline="")))
span = max(int(r["timeStamp"]) + int(r["elapsed"]) for r in rows) - min(int(r["timeStamp"]) for r in rows)
it2 = json.load(open(f"{t}/dash-it2/statistics.json"))["Total"]
if it2["sampleCount"] != len(rows) or abs(it2["throughput"] - len(rows) / span * 1000) > 1e-6:
    fails.append(f"iteration 2: JMeter {it2['sampleCount']} samples at {it2['throughput']}/s, "
                 f"the file {len(rows)} over {span} ms")
# The fixture starts at 1700000100000 ms = 2023-11-14 22:15 UTC.
info = open(f"{t}/dash-docker/index.html").read()
if '"11/14/23, 10:15 PM"' not in info:
    fails.append("docker dashboard's Start Time is not 11/14/23, 10:15 PM UTC (timeStamp not read as epoch ms?)")
for f in fails: print("FAIL:", f, file=sys.stderr)
sys.exit(1 if fails else 0)
PY
