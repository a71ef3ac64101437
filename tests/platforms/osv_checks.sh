#!/bin/bash
# osv_checks.sh - what OSv needs of Jung's service executables that can be
# checked without OSv (docs/osv.md): each dynamic jung-<service> is a
# position-independent executable, and imports none of the C11 thread
# functions OSv's libc lacks (thrd_*, mtx_*, cnd_*, tss_*, call_once).
# Debian's librdkafka.so.1 does import them (it is built with C11 threads):
# printed as a note, since it is not our code (docs/osv.md says what to do).
# Usage: osv_checks.sh JUNG_BIN_DIR
set -uo pipefail
dir=${1:?usage: osv_checks.sh JUNG_BIN_DIR}
fail=0
c11='^(thrd_|mtx_|cnd_|tss_|call_once$)'
n=0
for exe in "$dir"/jung-*; do
    case $exe in *-static) continue ;; esac
    [ -x "$exe" ] && [ -f "$exe" ] || continue
    n=$((n + 1))
    name=$(basename "$exe")
    if ! readelf -h "$exe" | grep -q 'Type: *DYN'; then
        echo "FAIL: $name is not position-independent (ELF type $(readelf -h "$exe" | sed -n 's/ *Type: *//p'))"
        fail=1
    elif ! readelf -d "$exe" | grep -q 'Flags:.*PIE'; then
        echo "FAIL: $name is a shared object without the PIE flag"
        fail=1
    fi
    bad=$(nm -D --undefined-only "$exe" | awk '{print $NF}' | sed 's/@.*//' | grep -E "$c11" | tr '\n' ' ')
    if [ -n "$bad" ]; then
        echo "FAIL: $name imports C11 thread functions OSv lacks: $bad"
        fail=1
    fi
done
[ $n -ge 7 ] || { echo "FAIL: found $n service executables in $dir, want the 7 or 8 services"; exit 1; }
echo "checked $n service executables: PIE, no C11 thread imports"
lib=$(ldd "$dir/jung-user-registry" 2>/dev/null | awk '/librdkafka/ {print $3}')
if [ -n "$lib" ]; then
    libc11=$(nm -D --undefined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | grep -cE "$c11")
    echo "note: $lib imports $libc11 C11 thread functions (an OSv image needs a librdkafka built with --disable-c11threads)"
fi
exit $fail
