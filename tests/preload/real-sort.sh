#!/usr/bin/env bash
# sort of 1M lines: same output with and without umm.
set -u
. tests/preload/lib.bash
need sort coreutils
awk 'BEGIN { srand(42); for (i = 0; i < 1000000; i++) printf "%08d %s\n", int(rand() * 100000000), substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26, 1 + i % 7) }' >"$TMPD/in.txt"
export LC_ALL=C
compare sort sort -k2,2 -k1,1n "$TMPD/in.txt" || exit 1
compare sort-par sort --parallel=2 -S 20M -r "$TMPD/in.txt"
