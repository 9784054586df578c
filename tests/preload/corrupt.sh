#!/usr/bin/env bash
# Heap corruption and bad calls, one child per case (corrupt.c): each must
# end with the expected signal (or exit code) and write exactly the expected
# line on stderr. Cases dbg_* run with UMM_DEBUG=1 (canaries, fills,
# quarantine); the others with the defaults (always-on checks).
set -u
. tests/preload/lib.bash
BIN=$B/tests/preload/corrupt
fail=0
# case  env  want-status (134 = SIGABRT)
while read -r name env want; do
  [ -n "$name" ] || continue
  env $env LD_PRELOAD=$SO "$BIN" "$name" >"$TMPD/out" 2>"$TMPD/err"
  st=$?
  exp=$(sed -n 's/^expect: //p' "$TMPD/out")
  got=$(head -n 1 "$TMPD/err")
  if [ "$st" != "$want" ]; then
    echo "FAIL: $name: status $st, wanted $want (stdout: $(tr '\n' ' ' <"$TMPD/out"); stderr: $got)"; fail=1
  elif [ -n "$exp" ] && [ "$got" != "$exp" ]; then
    echo "FAIL: $name: stderr line"; echo "   got:    $got"; echo "   wanted: $exp"; fail=1
  elif [ -z "$exp" ] && [ -s "$TMPD/err" ]; then
    echo "FAIL: $name: unexpected stderr: $got"; fail=1
  else
    echo "ok: $name -> status $st${exp:+, \"$got\"}"
  fi
done 2>/dev/null <<'EOF'   # (bash's own "Aborted" notices)
double_small          UMM_DEBUG=0  134
double_medium         UMM_DEBUG=0  134
double_large          UMM_DEBUG=0  134
invalid_stack         UMM_DEBUG=0  134
invalid_interior      UMM_DEBUG=0  134
realloc_double        UMM_DEBUG=0  134
header_nul            UMM_DEBUG=0  134
header_byte           UMM_DEBUG=0  134
header_realloc        UMM_DEBUG=0  134
header_medium_size    UMM_DEBUG=0  134
cache_link            UMM_DEBUG=0  134
cache_link_medium     UMM_DEBUG=0  134
dbg_overflow          UMM_DEBUG=1  134
dbg_overflow_one      UMM_DEBUG=1  134
dbg_overflow_realloc  UMM_DEBUG=1  134
dbg_uaf               UMM_DEBUG=1  134
dbg_double            UMM_DEBUG=1  134
dbg_check             UMM_DEBUG=1  5
dbg_fill              UMM_DEBUG=1  0
dump_damaged          UMM_DEBUG=0  0
EOF
# every case the program knows is listed above
for c in $("$BIN"); do
  grep -q "^$c " "$0" || { echo "FAIL: case $c is not run by corrupt.sh"; fail=1; }
done
exit $fail
