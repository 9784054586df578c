#!/usr/bin/env bash
# tests/valgrind/preload.sh PRELOAD_SO VG_PROG - a umm-preloaded program under
# valgrind gets memcheck's checking:
#   LD_PRELOAD=libumm_preload.so valgrind --soname-synonyms=somalloc=libumm_preload.so ...
# makes valgrind redirect the malloc family that libumm_preload.so exports
# (instead of libc's) to its own, so memcheck tracks every block (umm then
# serves nothing). The synonym names the library's SONAME; for a library
# linked without one, valgrind's pattern is NONE (chosen below).
#  1. VG_PROG (tests/valgrind/vg_prog.c) leaks one block of 123 bytes and reads
#     one after free: memcheck must report both (and exit with the error code);
#  2. real programs (python3, sed, ls -l /) run that way with 0 errors (ls
#     calls reallocarray, which valgrind 3.19 does not replace: umm's
#     reallocarray goes through the exported realloc, which it does).
set -u
so=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
prog=$2
VALGRIND=${VALGRIND:-valgrind}
log=$(mktemp "${TMPDIR:-/tmp}/umm-vg-preload.XXXXXX")
trap 'rm -f "$log"' EXIT
fail=0
# valgrind matches somalloc against the library's DT_SONAME; a library built
# without one is matched by the pattern NONE instead.
if readelf -d "$so" 2>/dev/null | grep -q 'SONAME.*\[libumm_preload\.so\]'; then
  synonym=libumm_preload.so
else
  synonym=NONE
  echo "note: $so has no SONAME: using --soname-synonyms=somalloc=NONE (link it with -Wl,-soname,libumm_preload.so for somalloc=libumm_preload.so)"
fi
vg() {
  LD_PRELOAD=$so "$VALGRIND" --tool=memcheck -q --error-exitcode=9 --leak-check=full \
    --soname-synonyms=somalloc=$synonym "$@"
}

# 1. memcheck intercepts the preload's malloc/free.
rc=0; vg "$prog" >"$log" 2>&1 || rc=$?
if [ "$rc" -ne 9 ] || ! grep -q 'Invalid read of size 1' "$log" ||
   ! grep -q "inside a block of size 64 free'd" "$log" ||
   ! grep -q '123 bytes in 1 blocks are definitely lost' "$log" || ! grep -q 'vg_prog done' "$log"; then
  echo "FAIL preload under valgrind: memcheck did not report vg_prog's leak and read after free (exit $rc):"
  sed 's/^/    | /' "$log"; fail=1
else
  echo "PASS preload under valgrind: vg_prog's leak (definitely lost) and read after free reported"
fi

# 2. real programs: 0 errors (still-reachable memory is not an error).
run_clean() {            # run_clean WHAT CMD...
  local what=$1; shift
  rc=0; LD_PRELOAD=$so "$VALGRIND" --tool=memcheck -q --error-exitcode=9 --leak-check=full \
    --soname-synonyms=somalloc=$synonym "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ] && ! grep -q '^==[0-9]*== [A-Z]' "$log"; then
    echo "PASS preload under valgrind: $what, 0 errors"; return 0
  fi
  echo "FAIL preload under valgrind: $what (exit $rc):"; sed 's/^/    | /' "$log" | tail -n 40; fail=1
}
seq 20000 > "$log.in"
trap 'rm -f "$log" "$log.in"' EXIT
if command -v python3 >/dev/null; then
  run_clean "python3 -c pass" python3 -c pass
  run_clean "python3, a dict of 50000 strings to json" \
    python3 -c 'import json; d = {i: str(i) * 3 for i in range(50000)}; assert len(json.dumps(d)) > 500000'
fi
run_clean "sed -n 100p, 20000 lines" sed -n 100p "$log.in"
run_clean "ls -l / (reallocarray)" ls -l /
exit $fail
