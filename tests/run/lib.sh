# Shared helpers of the tests/run scripts (sourced).
# JB: the jungbench executable; every test works in its own temporary folder
# and tags the processes it starts (JB_TEST_TAG in their environment, which
# the Jung services inherit), so cleanup can find orphans after a kill -9.
set -u
JB=${JB:?JB must name the jungbench executable}
SRC=${SRC:?SRC must name the source tree}
TMP=$(mktemp -d /tmp/jb-run-test.XXXXXX)
export JB_TEST_TAG="jbtest-$$-$RANDOM"
FAILS=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
check() { # check DESCRIPTION ACTUAL EXPECTED
    if [ "$2" != "$3" ]; then fail "$1: got '$2', expected '$3'"; fi
}
q() { sqlite3 "$1" "$2"; }

# Kills every process carrying our tag (orphans of a kill -9), by PID.
kill_tagged() {
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}; pid=${pid%/environ}
        [ "$pid" = "$$" ] && continue
        if { tr '\0' '\n' < "$env"; } 2>/dev/null | grep -qx "JB_TEST_TAG=$JB_TEST_TAG"; then
            kill -9 "$pid" 2>/dev/null
        fi
    done
}
count_tagged() {
    n=0
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}; pid=${pid%/environ}
        [ "$pid" = "$$" ] && continue
        { tr '\0' '\n' < "$env"; } 2>/dev/null | grep -qx "JB_TEST_TAG=$JB_TEST_TAG" && n=$((n + 1))
    done
    echo $n
}
cleanup() { kill_tagged; rm -rf "$TMP"; }
trap cleanup EXIT

# Waits up to $2 seconds for SQL $3 on database $1 to print a non-empty, non-0 value.
wait_db() {
    for _ in $(seq 1 $(($2 * 5))); do
        v=$(sqlite3 "$1" "$3" 2>/dev/null)
        [ -n "$v" ] && [ "$v" != 0 ] && return 0
        sleep 0.2
    done
    return 1
}
# Waits up to $2 s for file $1 to hold a line matching $3.
wait_line() {
    for _ in $(seq 1 $(($2 * 10))); do
        grep -q "$3" "$1" 2> /dev/null && return 0
        sleep 0.1
    done
    return 1
}
finish() {
    if [ "$FAILS" -gt 0 ]; then echo "$FAILS check(s) failed" >&2; exit 1; fi
    echo ok
    exit 0
}
