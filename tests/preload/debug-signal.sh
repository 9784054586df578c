#!/usr/bin/env bash
# UMM_DUMP_SIGNAL=USR2 while 8 threads allocate: no deadlock (timeout and the
# program's alarm), no corruption, every dump (PATH.N, json) valid; then the
# same with the text format on stderr.
set -u
. tests/preload/lib.bash
fail=0
timeout 120 env LD_PRELOAD=$SO UMM_TAG=site UMM_DUMP="$TMPD/dump" UMM_DUMP_FORMAT=json UMM_DUMP_SIGNAL=USR2 \
  "$B/tests/preload/debug_signal" 20 >"$TMPD/o" 2>"$TMPD/e"
rc=$?
cat "$TMPD/o"
[ $rc -eq 0 ] || { echo "FAIL: exit $rc"; tail -5 "$TMPD/e"; exit 1; }
n=$(ls "$TMPD"/dump.* 2>/dev/null | wc -l)
[ "$n" -ge 1 ] || { echo "FAIL: no signal dump written"; exit 1; }
python3 tests/preload/dump_check.py --kind site "$TMPD"/dump.* >"$TMPD/chk" || { cat "$TMPD/chk"; fail=1; }
grep -l '"reason": "signal"' "$TMPD"/dump.* >/dev/null || { echo "FAIL: no signal reason"; fail=1; }
python3 tests/preload/dump_check.py "$TMPD/dump" >/dev/null || { echo "FAIL: exit dump"; fail=1; }
echo "ok: $n signal dumps + the exit dump valid"
timeout 120 env LD_PRELOAD=$SO UMM_DUMP=stderr UMM_DUMP_SIGNAL=SIGUSR2 "$B/tests/preload/debug_signal" 10 >"$TMPD/o" 2>"$TMPD/e"
rc=$?
[ $rc -eq 0 ] || { echo "FAIL: text run exit $rc"; tail -5 "$TMPD/e"; exit 1; }
k=$(grep -c '^umm: heap dump (signal)' "$TMPD/e")
e=$(grep -c '^umm: end of heap dump' "$TMPD/e")
x=$(grep -c '^umm: heap dump (exit)' "$TMPD/e")
[ "$k" -ge 1 ] && [ "$x" -eq 1 ] && [ "$e" -eq $((k + 1)) ] || { echo "FAIL: text dumps: $k signal, $x exit, $e ends"; fail=1; }
grep -q '^umm:  .* thread [0-9]' "$TMPD/e" || { echo "FAIL: no thread tags in the text dump"; fail=1; }
echo "ok: $k text dumps on stderr"
exit $fail
