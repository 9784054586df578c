#!/usr/bin/env bash
# Signal storm: handlers that malloc and free while the main thread mallocs and frees.
set -u
. tests/preload/lib.bash
timeout 120 bash -c "LD_PRELOAD=$SO UMM_STATS=1 $B/tests/preload/signals" >"$TMPD/o" 2>"$TMPD/e"
rc=$?
cat "$TMPD/o"
[ $rc -eq 0 ] || { echo "FAIL: exit $rc"; tail -20 "$TMPD/e"; exit 1; }
grep -q '^umm: stats' "$TMPD/e" || { echo "FAIL: umm did not run"; exit 1; }
# The same storm with the debug heap (UMM_DEBUG=1: canaries, quarantine): a
# handler's free must not touch the quarantine ring the interrupted free is
# changing (it used to evict the same block twice: false "heap overflow"
# reports or a crash, 5 runs out of 5). Any report line fails the test.
timeout 120 bash -c "LD_PRELOAD=$SO UMM_DEBUG=1 UMM_STATS=1 $B/tests/preload/signals" >"$TMPD/o" 2>"$TMPD/e"
rc=$?
cat "$TMPD/o"
[ $rc -eq 0 ] || { echo "FAIL: UMM_DEBUG=1 exit $rc"; tail -20 "$TMPD/e"; exit 1; }
grep -q '^umm: stats' "$TMPD/e" || { echo "FAIL: umm did not run (UMM_DEBUG=1)"; exit 1; }
if grep -E '^umm: (heap overflow|write after free|free\(\))' "$TMPD/e"; then echo "FAIL: debug heap report under signals"; exit 1; fi
echo "ok: signal storm under UMM_DEBUG=1"
# The storm with site tags and immediate purges: a handler's malloc popped a
# cached block whose chunk lock the interrupted purge walk held, and waited
# for ever to re-tag it (5 of 8 runs hung). tag-signal.sh is the
# deterministic form.
timeout -s KILL 60 env LD_PRELOAD=$SO UMM_TAG=site UMM_PURGE_DELAY=0 UMM_STATS=1 $B/tests/preload/signals >"$TMPD/o" 2>"$TMPD/e"
rc=$?
cat "$TMPD/o"
[ $rc -eq 0 ] || { echo "FAIL: UMM_TAG=site UMM_PURGE_DELAY=0 exit $rc (137: hung, killed by the timeout)"; tail -20 "$TMPD/e"; exit 1; }
echo "ok: signal storm under UMM_TAG=site UMM_PURGE_DELAY=0"
