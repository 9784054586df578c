#!/usr/bin/env bash
# Fault injection (include/umm_fault.h): OS calls of the preload made to fail
# at run time (fault inject) and at start-up (UMM_FAULT): NULL + ENOMEM,
# nothing lost, all works again once the fault clears.
set -u
. tests/preload/lib.bash
F=$B/tests/preload/fault
# a small arena (16 MiB regions) so that the committed regions are quickly
# used up; purging on (madvise is one of the faulted calls)
under_umm inject env UMM_ARENA_SIZE=256M UMM_PURGE_DELAY=0 "$F" inject || exit 1
cat "$TMPD/inject.out"
# again without thread caches (every call to the core) and with a smaller arena
under_umm inject0 env UMM_CACHE=0 UMM_ARENA_SIZE=64M UMM_PURGE_DELAY=0 "$F" inject || exit 1
echo "UMM_CACHE=0: $(tail -n 1 "$TMPD/inject0.out")"
# start-up: the registry's mapping refused (the process runs without an
# arena, every block a mapping), the arena's first reservations refused (a
# smaller one), the first region's commit refused, munmap refused
for spec in "mmap:count=1" "mprotect:count=1" "mmap:after=1,count=3" "mprotect:after=1,count=1" "munmap" "madvise"; do
  if ! UMM_FAULT=$spec UMM_STATS=1 LD_PRELOAD=$SO "$F" startup >"$TMPD/s.out" 2>"$TMPD/s.err"; then
    echo "FAIL: UMM_FAULT=$spec: start-up faults"; cat "$TMPD/s.out"; tail -n 20 "$TMPD/s.err"; exit 1
  fi
  echo "UMM_FAULT=$spec: $(tail -n 1 "$TMPD/s.out"); $(grep -o 'arena [^)]*' "$TMPD/s.err" || echo 'no arena')"
done
# the arena's reservation refused three times: 8 GiB reserved, half kept
UMM_FAULT="mmap:after=1,count=3" UMM_STATS=1 LD_PRELOAD=$SO "$F" startup >/dev/null 2>"$TMPD/s.err"
grep -q 'arena 4.0 GiB' "$TMPD/s.err" || { echo "FAIL: expected a 4 GiB arena"; cat "$TMPD/s.err"; exit 1; }
# at exit with every mmap refused: the dump and the leak report say they were skipped
UMM_DUMP=stderr UMM_LEAKS=1 LD_PRELOAD=$SO "$F" exitfault 2>"$TMPD/x.err" ||
  { echo "FAIL: exitfault exited $?"; cat "$TMPD/x.err"; exit 1; }
for w in "heap dump skipped: no memory for its workspace" "leak report skipped: no memory for its workspace"; do
  grep -q "^umm: $w" "$TMPD/x.err" || { echo "FAIL: no \"umm: $w\" line"; cat "$TMPD/x.err"; exit 1; }
done
echo "exit-time dump and leak report without memory: both say skipped"
echo "fault-inject: ok"
