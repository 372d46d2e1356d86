#!/usr/bin/env bash
# tools/runbook.sh [BUILDDIR] - runs docs/runbook.md: every ```sh block of
# it, in order, in one bash, from the top of the repository, as a reader
# pasting them would.  With BUILDDIR the binaries of that build are used
# instead of building `build` first.  Then checks what the runbook says
# the reader sees: preflight held on the wrong account, the bad AI key
# rolled back (exit 4), the fixed one verified, a rerun with zero writes,
# and the rotation pushed.  Exits 1 naming the first expectation missed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
build=${1:-}

script=$(awk '/^```sh$/ { f = 1; next } /^```$/ { f = 0 } f' docs/runbook.md)
if [ -n "$build" ]; then
    build=$(cd "$build" && pwd) || exit 1
    script=$(printf '%s\n' "$script" |
        sed -e '/^tools\/dev build$/d' -e "s|\$repo/build/|$build/|g")
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
bash -c "$script" >"$out" 2>&1
rc=$?
cat "$out"

expect() {
    if ! grep -qF -- "$1" "$out"; then
        echo "runbook: expected '$1' in the output" >&2
        exit 1
    fi
}
expect "tier 'ai': rolled-back"
expect "exit 4"
expect "tier 'ai': verified (1 worker pushed)"
expect "writes: 0"
expect "tier 'core': verified (4 workers pushed)"
[ "$rc" -eq 0 ] || { echo "runbook: the last block exited $rc" >&2; exit 1; }
echo "runbook: every step did what docs/runbook.md says"
