#!/bin/bash
# store/ is the only module that writes the results database: no C file
# outside store/ holds a statement that changes it (INSERT, UPDATE, DELETE,
# REPLACE, DROP, CREATE, ALTER) in a string literal. The test fixtures
# (tests/) and the benchmark clients (bench/) may build their own rows.
# Each hit names the file, the line, and the typed writer to use instead.
# Usage: sql_owner.sh SOURCE_DIR
set -u
src=${1:?usage: sql_owner.sh SOURCE_DIR}
cd "$src" || exit 2
[ -f store/store.h ] || { echo "FAIL: no store/store.h under $src (wrong folder?)"; exit 1; }
pattern='"[^"]*\b(INSERT|UPDATE|DELETE|REPLACE|DROP|CREATE|ALTER)[[:space:]]+(OR[[:space:]]+[A-Z]+[[:space:]]+)?(INTO|FROM|TABLE|INDEX|[a-z_]+[[:space:]]+SET)\b'
fails=0 files=0
while IFS= read -r f; do
    files=$((files + 1))
    while IFS=: read -r line text; do
        echo "FAIL: $f:$line writes SQL outside store/: $(echo "$text" | sed 's/^[[:space:]]*//' | cut -c1-100)"
        echo "      (add or use a typed writer in store/store.h: jb_store_put_*, jb_store_add_*, jb_store_set_*)"
        fails=$((fails + 1))
    done < <(grep -nE "$pattern" "$f")
done < <(find . \( -name '*.c' -o -name '*.h' \) -not -path './build*' -not -path './.git/*' \
              -not -path './store/*' -not -path './tests/*' -not -path './bench/*' | sed 's|^\./||' | sort)
[ "$files" -gt 0 ] || { echo "FAIL: no C files found under $src"; exit 1; }
[ "$fails" -eq 0 ] || exit 1
echo "ok: $files C files outside store/, none writes SQL"
