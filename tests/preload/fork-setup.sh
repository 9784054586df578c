#!/usr/bin/env bash
# fork after a signal handler set a thread up inside that thread's first
# allocator section (fork_setup.c): the fork must return. 8 runs, 20 s each.
set -u
. tests/preload/lib.bash
fail=0
for i in 1 2 3 4 5 6 7 8; do
  timeout 20 env LD_PRELOAD=$SO "$B/tests/preload/fork_setup" >"$TMPD/out" 2>&1
  st=$?
  [ $st = 0 ] || { echo "FAIL: run $i: status $st ($( [ $st = 124 ] && echo 'fork hung' ); $(head -c 200 "$TMPD/out"))"; fail=1; }
done
[ $fail = 0 ] && echo "ok: 8 forks returned ($(cat "$TMPD/out"))"
exit $fail
