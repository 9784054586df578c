#!/usr/bin/env bash
# A multithreaded program that forks while other threads allocate; children allocate and free.
set -u
. tests/preload/lib.bash
under_umm f "$B/tests/preload/forks" || { cat "$TMPD/f.out"; exit 1; }
cat "$TMPD/f.out"
echo "umm summaries printed: $(grep -c '^umm: stats' "$TMPD/f.err") (parent and children)"
