#!/usr/bin/env bash
# The depot's bounds: 256 magazines a small size class, 16 MiB in all; malloc_trim
# empties it (depotcap.c).
set -u
unset UMM_CACHE UMM_DEBUG                  # the default configuration: cache on, no guard heap
. tests/preload/lib.bash
UMM_PURGE_DELAY=-1 under_umm c "$B/tests/preload/depotcap" || { cat "$TMPD/c.out"; exit 1; }
cat "$TMPD/c.out"
grep '^depotcap:' "$TMPD/c.err"
