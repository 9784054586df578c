#!/usr/bin/env bash
# UMM_* values: one that umm does not understand is ignored with one line on
# stderr; UMM_DUMP/UMM_LEAKS 0 turn the report off (no file named "0"), 1 sends
# it to stderr; UMM_DUMP_SIGNAL refuses signals that stop programs.
set -u
. tests/preload/lib.bash
fail=0
run() { (cd "$TMPD" && env "$@" LD_PRELOAD=$SO ls / >/dev/null 2>"$TMPD/err"); }
expect_line() {   # VAR=VALUE HINT
  run "$1"
  local want="umm: $1: not understood, ignored ($2)"
  if [ "$(cat "$TMPD/err")" != "$want" ]; then
    echo "FAIL: $1: stderr was: $(head -c 300 "$TMPD/err")"; fail=1
  else
    echo "ok: $1 -> one line"
  fi
}
expect_line UMM_TAG=sites "none | thread | site"
expect_line UMM_DUMP_FORMAT=xml "text | json"
expect_line UMM_DUMP_SIGNAL=TERM "USR1, USR2, WINCH, URG, PWR or a real-time signal's number 34-64"
expect_line UMM_DUMP_SIGNAL=INT "USR1, USR2, WINCH, URG, PWR or a real-time signal's number 34-64"
for v in UMM_TAG=SITE UMM_DUMP_FORMAT=JSON UMM_DUMP_SIGNAL=usr2 UMM_DUMP_SIGNAL=SIGUSR1 UMM_DUMP_SIGNAL=40; do
  run "$v"
  if [ -s "$TMPD/err" ]; then echo "FAIL: $v: $(head -c 300 "$TMPD/err")"; fail=1; else echo "ok: $v accepted"; fi
done
run UMM_DUMP=0 UMM_LEAKS=0
if [ -e "$TMPD/0" ] || [ -s "$TMPD/err" ]; then echo "FAIL: UMM_DUMP=0 / UMM_LEAKS=0 wrote something"; fail=1; else echo "ok: 0 is off"; fi
for v in UMM_DUMP=1 UMM_LEAKS=1; do
  run "$v"
  if [ -e "$TMPD/1" ] || ! grep -q '^umm: \(heap dump\|leak report\) (exit)' "$TMPD/err"; then
    echo "FAIL: $v: no report on stderr"; fail=1
  else
    echo "ok: $v -> stderr"
  fi
done
# %p is the process id: one file per process; a path that cannot be written
# says so; a relative path is the start directory's even after chdir
run "UMM_DUMP=$TMPD/d.%p"
ls "$TMPD" | grep -qx 'd\.[0-9][0-9]*' && echo "ok: %p -> $(ls "$TMPD" | grep -x 'd\.[0-9]*')" || { echo "FAIL: %p: $(ls "$TMPD")"; fail=1; }
run UMM_DUMP=/nonexistent/dir/d
if [ "$(cat "$TMPD/err")" = "umm: cannot write the heap dump to /nonexistent/dir/d" ]; then echo "ok: unwritable path -> one line"
else echo "FAIL: unwritable path: $(head -c 300 "$TMPD/err")"; fail=1; fi
printf '#include <stdlib.h>\n#include <unistd.h>\nint main(void) { free(malloc(100)); if (chdir("/")) return 1; free(malloc(200)); return 0; }\n' >"$TMPD/cd.c"
${CC:-cc} -O1 -o "$TMPD/cd" "$TMPD/cd.c" || { echo "FAIL: build cd.c"; exit 1; }
(cd "$TMPD" && UMM_DUMP=rel.txt LD_PRELOAD=$SO ./cd 2>/dev/null)
[ -s "$TMPD/rel.txt" ] && echo "ok: relative path after chdir" || { echo "FAIL: relative UMM_DUMP after chdir: not in the start directory"; fail=1; }
exit $fail
