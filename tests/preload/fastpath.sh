#!/usr/bin/env bash
# Instructions per malloc(32) + free in the fast path, counted by callgrind
# inside malloc and free only (difference of two run lengths, so start-up
# and the amortised refills cancel out). Bound: <= 40 (issue targets), with
# the always-on hardening (header integrity test, safe-linking, cookie);
# 39 since the bin gates (preload/internal.h, malloc.c).
set -u
. tests/preload/lib.bash
need valgrind valgrind
count() {
  LD_PRELOAD=$SO valgrind --tool=callgrind --toggle-collect='*malloc' --toggle-collect='*free' \
    --callgrind-out-file="$TMPD/cg.$1" "$B/tests/preload/fastpath" "$1" 2>&1 |
    sed -n 's/.*I *refs: *//p' | tr -d ,
}
a=$(count 100000) b=$(count 200000)
[ -n "$a" ] && [ -n "$b" ] || { echo "FAIL: callgrind gave no count"; exit 1; }
per=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (b - a) / 100000 }')
echo "malloc+free fast path: $per instructions (callgrind)"
awk -v p="$per" 'BEGIN { exit !(p <= 40) }' || { echo "FAIL: above 40"; exit 1; }
