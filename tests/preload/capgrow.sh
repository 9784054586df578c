#!/usr/bin/env bash
# Thread caches grow with demand, within a per-thread cap and a shared pool,
# and give their pool shares back on malloc_trim and thread exit (capgrow.c).
set -u
unset UMM_CACHE UMM_DEBUG                  # the default configuration: cache on, no guard heap
. tests/preload/lib.bash
under_umm c "$B/tests/preload/capgrow" || { cat "$TMPD/c.out"; exit 1; }
cat "$TMPD/c.out"
grep '^capgrow:' "$TMPD/c.err"
