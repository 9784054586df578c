#!/usr/bin/env bash
# Thread churn: 100,000 short-lived threads (8 at a time) each allocate mixed sizes,
# free some and leave the rest to the main thread; RSS after the churn may exceed
# the RSS after the first 1000 threads by less than 64 MiB (reasoning in churn.c).
set -u
. tests/preload/lib.bash
timeout -s KILL 120 env LD_PRELOAD="$SO" "$B/tests/preload/churn" "$@" >"$TMPD/o" 2>"$TMPD/e"
rc=$?
cat "$TMPD/o"
line=$(grep '^threads ' "$TMPD/o")
if [ $rc -ne 0 ] || [ -z "$line" ]; then
  echo "FAIL: churn exit $rc (137: killed by the outer timeout)"
  tail -n 20 "$TMPD/e"
  exit 1
fi
set -- $line
echo "ok: $2 threads; RSS $6 KiB at the end ($4 KiB after 1000 threads, growth ${10} KiB < ${12} KiB, peak $8 KiB); ${18} ms"
