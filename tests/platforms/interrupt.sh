#!/bin/bash
# interrupt.sh - Ctrl-C leaves nothing behind: `jungbench provision` on
# processes and (when dockerd runs) containers of the fake service, SIGINT
# once the instances exist, then: exit status 1, no process of the run, no
# container of the run. And SIGKILL: the processes die with the harness
# (their death signal), the containers stay until the next jungbench that
# opens the docker driver removes them (their owner is gone).
# Usage: interrupt.sh JUNGBENCH FAKE_SERVICE
set -uo pipefail
JB=$(readlink -f "$1") FAKE=$(readlink -f "$2")
tmp=$(mktemp -d /tmp/jungbench-interrupt.XXXXXX)
TAG=jbtest-int
docker_ok=false
[ -S /var/run/docker.sock ] && curl -sf --unix-socket /var/run/docker.sock http://d/version >/dev/null && docker_ok=true
cleanup() {
    if $docker_ok; then # the base exists when the fake is dynamic (sanitizer builds)
        for img in fake_slow fake base; do
            curl -s -o /dev/null --unix-socket /var/run/docker.sock -X DELETE "http://d/images/jung/$img:$TAG?force=1"
        done
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/bin"
ln -s "$FAKE" "$tmp/bin/jung-fake_slow" # ready only after 60 s
ln -s "$FAKE" "$tmp/bin/jung-fake"      # ready at once
cat > "$tmp/c.yaml" <<YAML
name: interrupt
broker: embedded
platforms:
  - name: native
    driver: process
    bin_dir: $tmp/bin
    build: dynamic # the fake service is one plain executable
  - name: docker
    driver: docker
    image_tag: $TAG
    build: static # the fake service is linked -static in every build
YAML
# fake_slow waits 60 s before it is ready, so the interrupt lands while
# provision waits for readiness.
# Starts `provision` of 4 slow instances in the background, waits until
# COUNT-COMMAND sees all 4, and leaves its pid in $pid.
start_four() { # PLATFORM COUNT-COMMAND
    "$JB" provision "$tmp/c.yaml" --platform "$1" --service fake_slow --instances 4 > "$tmp/out" 2>&1 &
    pid=$!
    local i
    for i in $(seq 100); do
        [ "$(eval "$2")" -ge 4 ] && break
        sleep 0.1
    done
    [ "$(eval "$2")" -ge 4 ] || { kill -9 $pid; fail "$1: the 4 instances never appeared"; }
}
interrupt() { # PLATFORM COUNT-COMMAND
    local pid i
    start_four "$1" "$2"
    kill -INT $pid
    wait $pid
    local rc=$?
    [ $rc -eq 1 ] || fail "$1: exit status $rc after SIGINT, want 1: $(cat "$tmp/out")"
    grep -q "interrupted" "$tmp/out" || fail "$1: no 'interrupted' message: $(cat "$tmp/out")"
    [ "$(eval "$2")" -eq 0 ] || fail "$1: instances left after SIGINT"
    echo "$1: SIGINT with 4 instances starting: exit 1, nothing left"
}
# SIGKILL: no chance to clean up. AFTER-COMMAND runs once the harness is
# gone; then the count must reach 0 within 10 s.
kill9() { # PLATFORM COUNT-COMMAND AFTER-COMMAND
    local pid i
    start_four "$1" "$2"
    kill -9 $pid
    wait $pid 2>/dev/null
    eval "$3"
    for i in $(seq 100); do
        [ "$(eval "$2")" -eq 0 ] && break
        sleep 0.1
    done
    [ "$(eval "$2")" -eq 0 ] || fail "$1: $(eval "$2") instance(s) left 10 s after SIGKILL and '$3'"
    echo "$1: SIGKILL with 4 instances starting, then '$3': nothing left"
}
count_procs() { pgrep -f -- "$tmp/bin/jung-fake_slow" | wc -l; }
interrupt native count_procs
kill9 native count_procs true
if $docker_ok; then
    "$JB" images build docker --services fake_slow --bin-dir "$tmp/bin" --tag $TAG >/dev/null || fail "image build"
    count_containers() {
        curl -s --unix-socket /var/run/docker.sock \
            'http://d/containers/json?all=1&filters=%7B%22label%22%3A%5B%22jungbench.service%3Dfake_slow%22%5D%7D' |
            grep -o '"Id"' | wc -l
    }
    interrupt docker count_containers
    "$JB" images build docker --services fake --bin-dir "$tmp/bin" --tag $TAG >/dev/null || fail "image build"
    # the next harness to open the docker driver removes the dead one's containers
    next_provision() {
        "$JB" provision "$tmp/c.yaml" --platform docker --service fake --instances 1 > "$tmp/next" 2>&1 ||
            fail "provision after SIGKILL: $(cat "$tmp/next")"
        grep -q "removed 4 container(s) of jungbench processes that are gone" "$tmp/next" ||
            fail "no note of the removed containers: $(cat "$tmp/next")"
    }
    kill9 docker count_containers next_provision
else
    echo "docker: not running, not checked"
fi
