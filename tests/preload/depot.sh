#!/usr/bin/env bash
# The depot: blocks an exiting thread leaves cached are parked, reused by the
# next thread, seen as cached by walks, caught on a second free, and given
# back to the core by malloc_trim (depot.c); UMM_STATS counts the refills
# the depot served.
set -u
unset UMM_CACHE UMM_DEBUG                  # the default configuration: cache on, no guard heap
. tests/preload/lib.bash
under_umm d "$B/tests/preload/depot" || { cat "$TMPD/d.out"; exit 1; }
cat "$TMPD/d.out"
line=$(grep 'depot magazines parked' "$TMPD/d.err")
echo "$line"
echo "$line" | grep -qE 'refills served by one [1-9]' || { echo "FAIL: no refill was served by the depot"; exit 1; }
# Decay: an unused magazine goes back to the core after two purge intervals.
UMM_PURGE_DELAY=50 under_umm dd "$B/tests/preload/depot" decay || { cat "$TMPD/dd.out"; exit 1; }
cat "$TMPD/dd.out"
line=$(grep 'depot magazines parked' "$TMPD/dd.err")
echo "$line"
echo "$line" | grep -qE 'given back idle [1-9]' || { echo "FAIL: no magazine was given back by decay"; exit 1; }
