#!/usr/bin/env bash
# tools/check-style.sh [SRCDIR] - the house style, checked: every C and C++
# file is formatted as .clang-format says, no line is wider than 80
# columns, and no TODO/FIXME/XXX marker is left (NEEDSWORK: is the tag for
# a known shortcoming).  Exits 1 listing each offending file.
set -u
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1

files=$(find store policies cli agent tests \
    \( -name '*.c' -o -name '*.h' -o -name '*.cpp' \) -type f | sort)
rc=0
fmt=$(command -v clang-format || true)
for f in $files; do
    if [ -n "$fmt" ] && ! "$fmt" --dry-run --Werror "$f" 2>/dev/null; then
        echo "style: '$f' is not formatted (run: clang-format -i '$f')"
        rc=1
    fi
    wide=$(expand "$f" | awk 'length > 80 { print NR }' | head -3 | xargs)
    if [ -n "$wide" ]; then
        echo "style: '$f': lines over 80 columns: $wide"
        rc=1
    fi
    if grep -nE '\b(TODO|FIXME|XXX)\b' "$f" >/dev/null; then
        echo "style: '$f': a TODO/FIXME/XXX marker (use NEEDSWORK:)"
        rc=1
    fi
done
[ -n "$fmt" ] || echo "style: clang-format not found, format not checked"
exit $rc
