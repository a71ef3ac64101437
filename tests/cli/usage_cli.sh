#!/bin/bash
# usage_cli.sh JUNGBENCH: every command answers an unknown option and an
# option missing its value with exit 2 and one error line naming the
# option (then the --help hint), never getopt's line beside ours.
J=$1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
T=$(mktemp -d /tmp/jb-usage-XXXXXX)
trap 'rm -rf "$T"' EXIT

# expect_usage CMD WANT_LINE ARGS...
expect_usage() {
    local cmd=$1 want=$2
    shift 2
    "$J" "$cmd" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    [ "$rc" -eq 2 ] || fail "$cmd $*: exit $rc, want 2"
    local first hint
    first=$(sed -n 1p "$T/err") hint=$(sed -n 2p "$T/err")
    [ "$first" = "jungbench $cmd: $want" ] || fail "$cmd $*: first line '$first', want '$want'"
    [ "$hint" = "Try 'jungbench $cmd --help'." ] || fail "$cmd $*: second line '$hint'"
    [ "$(wc -l <"$T/err")" -eq 2 ] || fail "$cmd $*: $(wc -l <"$T/err") lines on stderr, want 2"
}

for cmd in run controller runner up report compare loadgen metrics images provision doctor \
    broker topics; do
    expect_usage "$cmd" "unknown option '--bogus'" --bogus
done
for cmd in run controller report; do
    expect_usage "$cmd" "option '--out' needs a value" x --out
done
expect_usage compare "option '--threshold' needs a value" a b --threshold
expect_usage runner "option '--id' needs a value" --id
[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "usage_cli: all checks passed"
