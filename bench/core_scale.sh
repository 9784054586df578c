#!/usr/bin/env bash
# Smoke test for the core_scale benchmark (make test): a short run at 1k and
# 10k live chunks without instruction counting; passes when it completes,
# the region comes back whole and the table is printed. It does not judge the
# performance targets (that is `make core-scale` / core_scale --assert).
set -u
bin=${B:-build}/core_scale
out=$("$bin" --quick 2>&1); rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "core_scale.sh: core_scale exited $rc"; exit 1; }
rows=$(printf '%s\n' "$out" | grep -cE '^\| (1k|10k) \| [0-9.]+ \| [0-9.]+ \|')
[ "$rows" -eq 2 ] || { echo "core_scale.sh: expected 2 table rows, got $rows"; exit 1; }
echo "core_scale.sh: ok"
