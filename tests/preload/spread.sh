#!/usr/bin/env bash
# Medium blocks carved one after another spread over the cache sets (spread.c).
set -u
unset UMM_CACHE UMM_DEBUG                  # the default configuration: medium classes on
. tests/preload/lib.bash
under_umm s "$B/tests/preload/spread" || { cat "$TMPD/s.out"; exit 1; }
cat "$TMPD/s.out"
