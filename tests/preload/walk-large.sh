#!/usr/bin/env bash
# umm_heap_walk / umm_dump while threads free and realloc large blocks
# (walk_large.c): no crash. 3 runs of 5 s.
set -u
. tests/preload/lib.bash
fail=0
for i in 1 2 3; do
  timeout 60 env LD_PRELOAD=$SO "$B/tests/preload/walk_large" >"$TMPD/out" 2>&1 || { echo "FAIL: run $i: status $? ($(head -c 200 "$TMPD/out"))"; fail=1; }
done
[ $fail = 0 ] && echo "ok: $(cat "$TMPD/out")"
exit $fail
