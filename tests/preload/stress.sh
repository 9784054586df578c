#!/usr/bin/env bash
# Thread stress with content verification and cross-thread frees, 2 and 8 threads.
set -u
. tests/preload/lib.bash
under_umm s2 "$B/tests/preload/stress" 2 4 100000 || exit 1
tail -n 1 "$TMPD/s2.out"
under_umm s8 "$B/tests/preload/stress" 8 3 30000 || exit 1
tail -n 1 "$TMPD/s8.out"
grep -E 'hit rate|contention' "$TMPD/s8.err"
