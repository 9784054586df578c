#!/usr/bin/env bash
# Runs the semantics test program under the preload and checks that umm served it.
set -eu
B=${B:-build}
so=$(cd "$B" && pwd)/libumm_preload.so
err=$(mktemp)
trap 'rm -f "$err"' EXIT
LD_PRELOAD=$so UMM_STATS=1 "$B/tests/preload/semantics" 2>"$err" || { cat "$err"; exit 1; }
grep -v '^umm: ' "$err" >&2 || true
grep -q '^umm: stats' "$err" || { echo "no umm stats: the preload did not run"; exit 1; }
echo "semantics: ok"
