#!/usr/bin/env bash
# fork() from a SIGUSR1 handler that lands during malloc/free/realloc (another thread
# keeps allocating); each child mallocs/frees and must _exit(7); no child may hang
# (children arm alarm(10); the parent reaps with a deadline and kills stragglers).
#
# FORK_SIGNAL_BOTH=1 also runs a second case where both allocating threads are
# signalled, so two handlers fork at once: a known deadlock of the fork gate
# (preload/fork.c, ummp_atfork_prepare: one forker holds the flag and waits without
# bound for a thread whose handler, interrupted inside a section, waits for the
# flag). Not run by default until the preload handles it.
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
  local forks=$6 exit7=$8 hung=${12}
  [ "$forks" -gt 0 ] && [ "$exit7" -eq "$forks" ] && [ "$hung" -eq 0 ] ||
    { echo "FAIL: $exit7 of $forks children exited 7, $hung hung"; return 1; }
  echo "ok: $name: $forks forks from a signal handler during malloc (of $2 signals sent), every child exited 7"
}

run_case one-thread-signalled || exit 1
if [ "${FORK_SIGNAL_BOTH:-0}" = 1 ]; then
  run_case both-threads-signalled both || exit 1
fi
exit 0
