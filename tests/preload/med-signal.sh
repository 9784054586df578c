#!/usr/bin/env bash
# Signals landing in medium-class malloc/free hits (med_signal.c): no crash,
# no corrupted block, the handler's and main's blocks of one class mixed.
set -u
. tests/preload/lib.bash
timeout -s KILL 60 env LD_PRELOAD="$SO" UMM_STATS=1 "$B/tests/preload/med_signal" 3 >"$TMPD/o" 2>"$TMPD/e"
rc=$?
cat "$TMPD/o"
[ $rc -eq 0 ] || { echo "FAIL: exit $rc (139: SIGSEGV, 137: hung)"; tail -20 "$TMPD/e"; exit 1; }
grep -q '^umm: stats' "$TMPD/e" || { echo "FAIL: umm did not run"; exit 1; }
echo "ok: medium hits under a signal storm"
