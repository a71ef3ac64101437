#!/bin/sh
# test_docker.sh JUNGBENCH CHILD_SOURCE - a real container: a FROM-scratch
# image of the ground-truth child holding 32 MiB, sampled through its cgroup
# (found from State.Pid) next to the Docker daemons. Skips without Docker.
set -u
JB="$1"
SRC="$2"
docker info >/dev/null 2>&1 || { echo "SKIP: no Docker daemon reachable"; exit 77; }
tmp=$(mktemp -d /tmp/jb-metrics-docker-XXXXXX)
cid=""
image=jb-metrics-probe:$$ # per run: concurrent test runs do not collide
cleanup() {
    [ -n "$cid" ] && docker rm -f "$cid" >/dev/null 2>&1
    docker rmi -f "$image" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cc -O2 -static -o "$tmp/child" "$SRC" 2>"$tmp/cc.err" || { echo "SKIP: no static libc to build the probe"; exit 77; }
printf 'FROM scratch\nCOPY child /child\nENTRYPOINT ["/child"]\n' >"$tmp/Dockerfile"
docker build -q -t $image "$tmp" >/dev/null || { echo "FAIL: docker build"; exit 1; }
cid=$(docker run -d --network none $image hold 32 30) || { echo "FAIL: docker run"; exit 1; }
pid=$(docker inspect -f '{{.State.Pid}}' "$cid")
"$JB" metrics --container "$pid" --name probe --runtime docker --interval 300 --duration 1.5 \
    --pss-interval 0 --db "$tmp/r.db" --run-id t --platform docker >"$tmp/out" 2>&1 ||
    { echo "FAIL: jungbench metrics exited $?"; cat "$tmp/out"; exit 1; }
q() { sqlite3 "$tmp/r.db" "$1"; }
fail=0
# 32 MiB = 32768 kB touched in the container, plus a few hundred kB of process
rss=$(q "SELECT CAST(rss_mean_kb AS INT) FROM metric_summaries WHERE grp='probe'")
cg=$(q "SELECT CAST(cgroup_mem_mean_kb AS INT) FROM metric_summaries WHERE grp='probe'")
src=$(q "SELECT source FROM metric_summaries WHERE grp='probe'")
daemons=$(q "SELECT count(*) FROM metric_summaries WHERE kind='runtime' AND grp IN ('dockerd','containerd')")
echo "probe: rss ${rss} kB, cgroup ${cg} kB, source ${src}; runtime groups with samples: ${daemons}"
[ "${rss:-0}" -ge 32768 ] && [ "${rss:-0}" -le 36000 ] || { echo "FAIL: probe RSS ${rss} kB, want 32-35 MiB"; fail=1; }
[ "${cg:-0}" -ge 32768 ] && [ "${cg:-0}" -le 40000 ] || { echo "FAIL: cgroup memory ${cg} kB, want 32-39 MiB"; fail=1; }
case "$src" in procfs,cgroup1|procfs,cgroup2) ;; *) echo "FAIL: source '$src'"; fail=1 ;; esac
[ "$daemons" -eq 2 ] || { echo "FAIL: dockerd/containerd not sampled"; cat "$tmp/out"; fail=1; }
exit $fail
