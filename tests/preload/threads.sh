#!/usr/bin/env bash
# 10,000 short-lived threads that each allocate (blocks freed after their thread exited).
set -u
. tests/preload/lib.bash
under_umm t "$B/tests/preload/threads" || { cat "$TMPD/t.out"; exit 1; }
cat "$TMPD/t.out"
grep -E 'hit rate' "$TMPD/t.err"
