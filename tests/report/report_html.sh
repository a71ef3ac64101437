#!/bin/sh
# report_html.sh JUNGBENCH REPORT_FIXTURE
# The HTML report rendered by headless Chromium: no console errors, the
# header names the run, its times, config, environment, jungbench version
# and build, accel and noise flags, the DOM holds every chart with the
# expected bars and lines, and the
# screenshot shows both platforms' colours (an empty run shows none).
set -u
J=$1 FIX=$2
HERE=$(dirname "$0")
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    echo "SKIP: chromium not installed"
    exit 77
fi
T=$(mktemp -d /tmp/jb-report-html-XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# chrome OUTPUT_ARGS... URL: one headless Chromium, its stderr in $T/log.
chrome() {
    HOME=$T timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d "$T/profile-XXXXXX")" --enable-logging=stderr --v=0 \
        --window-size=1280,4000 "$@" 2>>"$T/log"
}

for v in base empty; do
    mkdir -p "$T/$v"
    "$FIX" "$T/$v/results.db" "$v" || exit 1
    "$J" report "$T/$v" --format html --out "$T/$v.html" 2>/dev/null || { echo "report $v failed" >&2; exit 1; }
done

chrome --dump-dom "file://$T/base.html" >"$T/dom.html" || fail "chromium --dump-dom failed"
if grep -E "Uncaught|ERROR:CONSOLE|CONSOLE.*[Ee]rror" "$T/log" >&2; then
    fail "console errors while rendering"
fi
python3 - "$T/dom.html" <<'PY' || fail "rendered DOM lacks the expected charts"
import re, sys
dom = open(sys.argv[1]).read()
charts = re.findall(r'<svg class="chart" data-chart="([a-z_]+)"(.*?)</svg>', dom, re.S)
names = [c[0] for c in charts]
want = ["cpu", "memory", "total_memory", "images", "histogram", "by_index",
        "over_time_throughput", "over_time_latency", "over_time_errors", "over_time_cpu",
        "over_time_rss", "boot"]
assert names == want, names
bars = {n: body.count('class="bar"') for n, body in charts}
# 2 services x 2 platforms; total memory: osv has no runtime bar; images:
# 2 images + total x 2 platforms; histogram: 21 bins x 2; boot: 2 x 2.
assert bars == {"cpu": 4, "memory": 4, "total_memory": 5, "images": 6, "histogram": 42,
                "by_index": 0, "over_time_throughput": 0, "over_time_latency": 0,
                "over_time_errors": 0, "over_time_cpu": 0, "over_time_rss": 0, "boot": 4}, bars
# Over time: a line per platform (p50 and a dashed p99 for latency); the
# fixture has metric summaries but no metric samples, so no CPU/RSS lines.
body = dict(charts)
lines = {n: body[n].count("<polyline") for n in body if n.startswith("over_time")}
assert lines == {"over_time_throughput": 2, "over_time_latency": 4, "over_time_errors": 2,
                 "over_time_cpu": 0, "over_time_rss": 0}, lines
assert body["over_time_latency"].count('stroke-dasharray') == 2
assert "nothing recorded over time" in body["over_time_cpu"]
assert '<div id="over_time">' in dom
lines = dict(charts)["by_index"].count("<polyline")
assert lines == 2, lines
assert dom.count("<table>") == 11, dom.count("<table>")
# the error table (the fixture's one failed request), and a self-contained page
errors = dom[dom.index('<div id="errors">'):]
assert 'expected "ok", got 500' in errors[:4000].replace("&quot;", '"'), errors[:400]
assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', dom), "an external URL"
# the header: what ran, when, where, with which jungbench, and its noise
info = dom[dom.index('<section id="run_info">'):]
info = info[:info.index('</section>')]
row = lambda k: re.search(r'<tr id="run_%s"><th>[^<]*</th><td>([^<]*)</td>' % k, info).group(1)
assert row("id") == "fixture-base", row("id")
assert row("started") == "2023-11-14 22:13:20 UTC" and row("finished") == "2023-11-14 22:25:00 UTC"
assert row("config").startswith("configs/fixture.yaml: 5 iteration(s) per platform; 30 users x 4 requests, closed model, seed 1"), row("config")
assert row("environment").startswith("fixture-host: Linux 6.1.0-fixture"), row("environment")
assert row("jungbench").startswith("9.8.7 (Fixture, GNU 12)"), row("jungbench")
assert row("accel") == "docker: native, osv: emulated", row("accel")
assert row("noise").startswith("1 iteration(s) started on a busy machine: osv #2"), row("noise")
assert dom.index('id="run_info"') < dom.index('data-chart="cpu"'), "the header is not first"

PY

# Ready times orders of magnitude apart, one platform's SD above its mean
# (a guest that once took 100 s): the boot chart turns logarithmic and no
# whisker reaches below the axis.
mkdir -p "$T/spread"
cp "$T/base/results.db" "$T/spread/results.db"
python3 -c "
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute(\"UPDATE boot_times SET ready_ms = 2 WHERE platform = 'docker'\")
c.execute(\"UPDATE boot_times SET ready_ms = CASE iteration WHEN 1 THEN 100000 ELSE 100 END\"
          \" WHERE platform = 'osv'\")
c.commit()" "$T/spread/results.db"
"$J" report "$T/spread" --format html --out "$T/spread.html" 2>/dev/null || fail "report spread"
chrome --dump-dom "file://$T/spread.html" >"$T/spread-dom.html" || fail "chromium --dump-dom failed"
python3 - "$T/spread-dom.html" "$T/dom.html" <<'PY' || fail "chart scales or whiskers"
import re, sys
spread, base = (open(f).read() for f in sys.argv[1:3])
def chart(dom, name):
    return re.search(r'<svg class="chart" data-chart="%s"(.*?)</svg>' % name, dom, re.S).group(1)
def scale(dom, name):
    return re.search(r'<desc class="scale">(\w+)</desc>', chart(dom, name)).group(1)
assert scale(spread, "boot") == "log", scale(spread, "boot")
assert "(log scale)" in chart(spread, "boot")
assert scale(base, "boot") == "linear" and scale(base, "cpu") == "linear"
axis = 330 - 78  # H - MB: the x axis
for dom in (spread, base):
    for lo in re.findall(r'<path class="err" d="M[\d.]+ [\d.]+V([\d.]+)', dom):
        assert float(lo) <= axis + 0.05, ("a whisker below the axis", lo)
# osv's mean 20,080 ms with SD 44,677 ms: its whiskers end at the axis
los = [float(v) for v in re.findall(r'd="M[\d.]+ [\d.]+V([\d.]+)', chart(spread, "boot"))]
assert los and max(los) == axis, los
PY

chrome --screenshot="$T/base.png" "file://$T/base.html" >/dev/null || fail "screenshot failed"
chrome --screenshot="$T/empty.png" "file://$T/empty.html" >/dev/null || fail "screenshot failed"
# palette: docker #4e79a7, osv #f28e2b
set -- $(python3 "$HERE/png_colors.py" "$T/base.png" 4e79a7 f28e2b)
echo "base screenshot: $1 docker-blue, $2 osv-orange, $3 non-white pixels"
[ "${1:-0}" -gt 20000 ] || fail "too few docker-coloured pixels in the charts: ${1:-none}"
[ "${2:-0}" -gt 20000 ] || fail "too few osv-coloured pixels in the charts: ${2:-none}"
set -- $(python3 "$HERE/png_colors.py" "$T/empty.png" 4e79a7 f28e2b)
echo "empty-run screenshot: $1 docker-blue, $2 osv-orange, $3 non-white pixels"
[ "${1:-1}" -lt 50 ] && [ "${2:-1}" -lt 50 ] || fail "an empty run drew bars"
[ "${3:-0}" -gt 1000 ] || fail "empty-run page rendered blank"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s); chromium log:" >&2
    tail -20 "$T/log" >&2
    exit 1
fi
echo "report_html: all checks passed"
