#!/usr/bin/env bash
# Signal-handler allocations under a seccomp filter that traps mmap, munmap, madvise,
# mremap and futex (single-threaded after a warm-up; SIGALRM every 100 us for 2 s; the
# handler mallocs/callocs/reallocs/frees 16 B..60 KB; a trapped call prints the syscall
# and a backtrace and exits 99).
#
# Case 1 (must pass): default caches, UMM_PURGE_DELAY=never. The purge is off because
#   the delayed purge (madvise) runs in whichever slow path comes after the delay,
#   including a handler's call that did not interrupt the allocator (normal path):
#   with the default 1000 ms delay the filter trips at ~1 s in
#   ummp_free_slow/ummp_malloc_slow_general -> ummp_tick -> purge_region -> madvise.
# Case 2 (must pass): UMM_CACHE=0, so the handler often interrupts a core call
#   holding locks and the re-entrant calls take the core's nowait path; they must
#   neither wait nor map: NULL + ENOMEM when nothing can be had (counted), large
#   blocks freed there are unmapped later (ummp_large_free_deferred).
set -u
. tests/preload/lib.bash
[ "$(uname -m)" = x86_64 ] || { echo "ok: skipped (the filter is written for x86_64)"; exit 0; }

run_case() {   # NAME ENV...: runs the program; sets $line, $rc
  local name=$1; shift
  timeout -s KILL 30 env "$@" LD_PRELOAD="$SO" "$B/tests/preload/seccomp_nowait" >"$TMPD/$name.o" 2>"$TMPD/$name.e"
  rc=$?
  line=$(grep '^handler_calls ' "$TMPD/$name.o")
}

run_case c1 UMM_PURGE_DELAY=never
if [ $rc -ne 0 ] || [ -z "$line" ]; then
  cat "$TMPD/c1.o"; tail -n 20 "$TMPD/c1.e"
  echo "FAIL: case 1 (caches on, no purge): exit $rc (99: a forbidden syscall from the allocator, above; 137: timeout)"
  exit 1
fi
set -- $line
[ "$2" -gt 0 ] && [ "$6" -gt 0 ] || { echo "FAIL: case 1: no handler allocations: $line"; exit 1; }
echo "ok: case 1: $2 handler runs ($4 while main was in malloc/free), $6 handler allocations ok, $8 NULL, main ${12} ops, no mmap/munmap/madvise/mremap/futex"

run_case c2 UMM_PURGE_DELAY=never UMM_CACHE=0
if [ $rc -eq 0 ] && [ -n "$line" ]; then
  set -- $line
  echo "ok: case 2 (UMM_CACHE=0): $2 handler runs, $6 handler allocations ok, $8 NULL, no forbidden syscall"
else
  cat "$TMPD/c2.o"; tail -n 20 "$TMPD/c2.e"
  echo "FAIL: case 2 (UMM_CACHE=0): exit $rc (99: a forbidden syscall from the allocator, above; 137: timeout)"
  exit 1
fi
