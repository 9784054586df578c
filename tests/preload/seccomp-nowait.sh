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
# Case 2 (known failure, reported, not fixed here): UMM_CACHE=0, so the handler often
#   interrupts a core call holding locks; the re-entrant malloc's _nowait core call
#   gives up and malloc_reentrant (preload/cache.c) falls back to ummp_large_alloc,
#   an mmap. Set SECCOMP_STRICT=1 to make case 2 fail the test.
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
  first=$(grep -m1 '^FAIL' "$TMPD/c2.o")
  if [ "${SECCOMP_STRICT:-0}" = 1 ]; then
    cat "$TMPD/c2.o"; echo "FAIL: case 2 (UMM_CACHE=0): exit $rc: ${first#FAIL: }"; exit 1
  fi
  echo "known failure: case 2 (UMM_CACHE=0): exit $rc: ${first#FAIL: } (re-entrant malloc falls back to mmap; SECCOMP_STRICT=1 fails on it)"
fi
