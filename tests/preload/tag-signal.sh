#!/usr/bin/env bash
# A malloc from a signal handler that interrupted a heap walk holding the lock
# of a thread-cache bin's head, with site tags or a program tag (the tag lane):
# must not wait for that lock (tests/preload/tag_signal.c). Also under a walk
# in UMM_CACHE=0 and UMM_TAG=thread/none (no tag lane) as a control.
set -u
. tests/preload/lib.bash
fail=0
for c in "UMM_TAG=site" "UMM_TAG=thread push" "UMM_TAG=none push" "UMM_TAG=thread" "UMM_TAG=site UMM_CACHE=0"; do
  set -- $c
  envs=() args=()
  for w in "$@"; do case $w in UMM_*) envs+=("$w") ;; *) args+=("$w") ;; esac; done
  timeout -s KILL 30 env LD_PRELOAD=$SO "${envs[@]}" "$B/tests/preload/tag_signal" "${args[@]}" >"$TMPD/o" 2>"$TMPD/e"
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "FAIL: $c: exit $rc (142: SIGALRM, the handler waited for the walk's lock)"; cat "$TMPD/o"; tail -5 "$TMPD/e"; fail=1
  else
    echo "ok: $c: $(tail -n 1 "$TMPD/o")"
  fi
done
exit $fail
