#!/bin/bash
# A module's internal header (its first comment says "Internal to" or "not
# public" / "not part of the public interface") is included only by its own
# module's files and that module's tests (tests/<module>/); jung/lib's is
# shared with the services by design (jung/). Any other include names the
# file and line, and the module's public header to use instead.
# Usage: internal_headers.sh SOURCE_DIR
set -u
src=${1:?usage: internal_headers.sh SOURCE_DIR}
cd "$src" || exit 2
fails=0 headers=0
while IFS= read -r h; do
    head -5 "$h" | grep -qiE "internal to|not public|not part of the public interface" || continue
    headers=$((headers + 1))
    module=${h%%/*}
    [ "$module" = jung ] && allowed="^jung/" || allowed="^($module/|tests/$module/)"
    while IFS=: read -r file line _; do
        [[ $file =~ $allowed ]] && continue
        echo "FAIL: $file:$line includes $h, internal to $module/ (include $module's public header)"
        fails=$((fails + 1))
    done < <(grep -rn --exclude-dir='build*' --exclude-dir=.git --include='*.c' --include='*.h' "#include \"$h\"" . | sed 's|^\./||')
done < <(find . -name '*.h' -not -path './build*' -not -path './.git/*' | sed 's|^\./||' | sort)
[ "$headers" -gt 0 ] || { echo "FAIL: no internal header found under $src (wrong folder?)"; exit 1; }
[ "$fails" -eq 0 ] || exit 1
echo "ok: $headers internal headers, each included only inside its module"
