#!/usr/bin/env bash
# The shape the code keeps: no source file over 800 lines and no function
# over 80 (protoc-c's generated code aside), measured with universal-ctags
# (a function runs from its line to its end line).
#   tests/code_shape.sh [SOURCE_DIR]
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
MAX_FILE=800 MAX_FUNCTION=80
cd "$ROOT"
command -v ctags-universal >/dev/null || { echo "code_shape: universal-ctags is not installed" >&2; exit 1; }
mapfile -t files < <(find agent collector common cli tests bench -name '*.[ch]' ! -name '*.pb-c.*' | sort)
bad=0
for f in "${files[@]}"; do
    n=$(wc -l <"$f")
    if [ "$n" -gt "$MAX_FILE" ]; then
        echo "$f: $n lines (at most $MAX_FILE)"
        bad=1
    fi
done
long=$(ctags-universal --fields=+ne --c-kinds=f -o - "${files[@]}" |
    awk -F'\t' -v max="$MAX_FUNCTION" '{
        l = ""; e = ""
        for (i = 4; i <= NF; i++) { if ($i ~ /^line:/) l = substr($i, 6); if ($i ~ /^end:/) e = substr($i, 5) }
        if (l != "" && e != "" && e - l + 1 > max) printf "%s:%s: %s is %d lines (at most %d)\n", $2, l, $1, e - l + 1, max
    }')
if [ -n "$long" ]; then
    echo "$long"
    bad=1
fi
[ "$bad" -eq 0 ] && echo "code_shape: ${#files[@]} files, none over $MAX_FILE lines, no function over $MAX_FUNCTION"
exit "$bad"
