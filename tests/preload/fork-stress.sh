#!/usr/bin/env bash
# glibc-style fork-deadlock test: 4 threads fork for 3 s while 8 threads malloc/free
# (16 B..64 KiB, rare >32 MiB blocks, cross-thread frees); every child frees the
# pre-fork blocks, allocates, frees and must _exit(42). Watchdog: 30 s.
set -u
. tests/preload/lib.bash
timeout -s KILL 60 env LD_PRELOAD="$SO" "$B/tests/preload/fork_stress" >"$TMPD/o" 2>"$TMPD/e"
rc=$?
cat "$TMPD/o"
if [ $rc -ne 0 ]; then
  echo "FAIL: fork_stress exit $rc (137: killed by the outer timeout; 142: SIGALRM)"
  tail -n 20 "$TMPD/e"
  exit 1
fi
line=$(grep '^forks ' "$TMPD/o") || { echo "FAIL: no summary line"; exit 1; }
set -- $line
forks=$2 ok=$4
[ "$forks" -gt 0 ] && [ "$ok" -eq "$forks" ] || { echo "FAIL: $ok of $forks children exited 42"; exit 1; }
echo "ok: $forks forks, every child exited 42 (${line##* ms } ms)"
