#!/usr/bin/env bash
# Allocate 1 GiB in small blocks, free it all: RSS falls below 64 MiB within a bounded number of further calls.
set -u
. tests/preload/lib.bash
under_umm r "$B/tests/preload/rss" || { cat "$TMPD/r.out"; exit 1; }
cat "$TMPD/r.out"
grep -E 'returned' "$TMPD/r.err"
