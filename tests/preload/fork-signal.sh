#!/usr/bin/env bash
# fork() from a SIGUSR1 handler that lands during malloc/free/realloc (another thread
# keeps allocating); each child mallocs/frees and must _exit(7) (or 8: a call got
# NULL + ENOMEM, allowed in at most 1 fork of 500, see fork_signal.c); no child may hang
# (children arm alarm(10); the parent reaps with a deadline and kills stragglers).
#
# The second case signals both allocating threads, so two handlers fork at once
# (this deadlocked the fork gate until forkwait, preload/fork.c: one forker held the
# flag and waited without bound for a thread whose handler, interrupted inside a
# section, waited for the flag).
set -u
. tests/preload/lib.bash

run_case() {   # NAME ARGS...
  local name=$1; shift
  timeout -s KILL 40 env LD_PRELOAD="$SO" "$B/tests/preload/fork_signal" "$@" >"$TMPD/$name.o" 2>"$TMPD/$name.e"
  local rc=$?
  cat "$TMPD/$name.o"
  if [ $rc -ne 0 ]; then
    echo "FAIL: fork_signal $*: exit $rc (137: killed by the outer timeout; 142: SIGALRM watchdog, a hang)"
    tail -n 20 "$TMPD/$name.e"
    return 1
  fi
  local line
  line=$(grep '^signals ' "$TMPD/$name.o") || { echo "FAIL: no summary line"; return 1; }
  set -- $line
  local forks=$6 exit7=$8 hung=${12} exit8=${20}
  # exit 8: a re-entrant call got NULL + ENOMEM (allowed, rarely: fork_signal.c's child())
  [ "$forks" -gt 0 ] && [ $((exit7 + exit8)) -eq "$forks" ] && [ "$exit8" -le $((1 + forks / 500)) ] && [ "$hung" -eq 0 ] ||
    { echo "FAIL: $exit7 of $forks children exited 7, $exit8 with ENOMEM, $hung hung"; return 1; }
  echo "ok: $name: $forks forks from a signal handler during malloc (of $2 signals sent): $exit7 children exited 7, $exit8 got ENOMEM"
}

run_case one-thread-signalled || exit 1
run_case both-threads-signalled both || exit 1
exit 0
