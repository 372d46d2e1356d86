#!/usr/bin/env bash
# tests/bench/run.sh BUILDDIR - every benchmark, one after the other.
# Figures go to stdout; docs/performance.md records them with the command.
set -eu
build=${1:?usage: tests/bench/run.sh BUILDDIR}
here=$(cd "$(dirname "$0")" && pwd)
echo "== vault (tiervault CLI)"
python3 "$here/vault_bench.py" "$build"
if [ -f "$here/agent_bench.py" ]; then
    echo "== agent (tiervault-agent against the fake Cloudflare API)"
    python3 "$here/agent_bench.py" "$build"
fi
