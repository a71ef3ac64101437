#!/bin/bash
# The progress of `jungbench run` on a terminal (script(1) gives it one):
# from the first iteration on, the live line has the load's ETA at its
# request rate and the whole run's elapsed time and ETA; each iteration's
# line ends with the run's elapsed time.
. "$(dirname "$0")/lib.sh"
command -v script >/dev/null || { echo "SKIP: script(1) (util-linux) not installed"; exit 77; }
# tiny.yaml with loads of ~2 s, so the live line is drawn a few times
sed -e 's/^iterations: .*/iterations: 2/' -e 's/requests_per_user: 10/requests_per_user: 200/' \
    "$SRC/tests/run/tiny.yaml" > "$TMP/progress.yaml"
script -qfec "'$JB' run '$TMP/progress.yaml' --out '$TMP/out'" /dev/null > "$TMP/tty" 2>&1
check "exit" "$?" 0
tr '\r' '\n' < "$TMP/tty" > "$TMP/lines"
dur='[0-9]+(h[0-9]+m|m[0-9]+s|s)'
grep -Eq "^  native #1 measure [0-9]+/400 requests, 0 errors, [0-9]+ req/s, ETA $dur; run $dur, ETA $dur" \
    "$TMP/lines" || fail "no live line with the load's and the run's ETA during iteration 1"
grep -Eq "^\[1/2\] native #1 done in $dur: .*; run $dur, ETA $dur$" "$TMP/lines" ||
    fail "iteration 1's line lacks the run's elapsed time and ETA"
grep -Eq "^\[2/2\] native #2 done in $dur: .*; run $dur$" "$TMP/lines" ||
    fail "the last iteration's line lacks the run's elapsed time"
[ "$FAILS" -eq 0 ] || sed 's/^/  | /' "$TMP/lines" | grep -E 'native|ETA' | head -20 >&2
check "processes left behind" "$(count_tagged)" 0
finish
