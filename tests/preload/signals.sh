#!/usr/bin/env bash
# Signal storm: handlers that malloc and free while the main thread mallocs and frees.
set -u
. tests/preload/lib.bash
timeout 120 bash -c "LD_PRELOAD=$SO UMM_STATS=1 $B/tests/preload/signals" >"$TMPD/o" 2>"$TMPD/e"
rc=$?
cat "$TMPD/o"
[ $rc -eq 0 ] || { echo "FAIL: exit $rc"; tail -20 "$TMPD/e"; exit 1; }
grep -q '^umm: stats' "$TMPD/e" || { echo "FAIL: umm did not run"; exit 1; }
