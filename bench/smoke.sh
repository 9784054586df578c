#!/usr/bin/env bash
# bench/smoke.sh - `make test`'s check of the benchmark suite (< 30 s):
#  1. every workload program runs once at a tiny scale under glibc and under umm,
#     exits 0, prints its RESULT line, and says its malloc came from the right library;
#  2. the runner goes end to end on a few workloads (glibc and umm, one run, tiny
#     scale, a short callgrind fast-path count) and writes a report and a chart that parses.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
case $B in /*) SO=$B/libumm_preload.so ;; *) SO=$(pwd)/$B/libumm_preload.so ;; esac
WL="larson xmalloc cache_scratch cache_thrash mstress rptest alloc_test glibc_simple glibc_thread realloc fragment large churn"
for w in $WL fastpath measure; do
  [ -x "$B/bench/$w" ] || { make -s bench-workloads >/dev/null || exit 1; break; }
done
[ -f "$SO" ] || { echo "FAIL: $SO missing (make)"; exit 1; }
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT
fail=0
for w in $WL; do
  for a in glibc umm; do
    if [ $a = umm ]; then pre=$SO; want=libumm_preload.so; else pre=; want=libc.so.6; fi
    out=$(LD_PRELOAD=$pre timeout 60 "$B/bench/$w" -t 2 -s 0.01 2>"$TMPD/err")
    rc=$?
    line=$(printf '%s\n' "$out" | grep '^RESULT ')
    if [ $rc -ne 0 ] || [ -z "$line" ]; then
      echo "FAIL: $w under $a: exit $rc, result line: '${line}'"; tail -5 "$TMPD/err"; fail=1; continue
    fi
    case " $line " in
      *" malloc_from=$want "*) echo "ok: $w under $a: ${line#RESULT }" ;;
      *) echo "FAIL: $w under $a: malloc did not come from $want: $line"; fail=1 ;;
    esac
  done
done
# the runner, end to end
only=larson,xmalloc,python
command -v sqlite3 >/dev/null && only=$only,sqlite
command -v lua5.4 >/dev/null && only=$only,lua
if bench/run --runs 1 --scale 0.01 --alloc glibc,umm --only $only --fastpath-n 2000 \
     --out "$TMPD/r.md" 2>"$TMPD/run.err"; then
  for s in "## Targets" "## Machine" "### Wall time" "### Peak RSS" "### Fast path" "| umm |"; do
    grep -qF "$s" "$TMPD/r.md" || { echo "FAIL: report lacks '$s'"; fail=1; }
  done
  if grep -q "^## Failures" "$TMPD/r.md"; then
    echo "FAIL: the runner recorded failures:"; sed -n '/^## Failures/,/^## /p' "$TMPD/r.md"; fail=1
  fi
  python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith("svg")' \
    "$TMPD/r.svg" || { echo "FAIL: the chart is not valid SVG"; fail=1; }
  echo "ok: bench/run end to end ($only; glibc, umm)"
else
  echo "FAIL: bench/run exited non-zero"; tail -20 "$TMPD/run.err"; fail=1
fi
[ $fail -eq 0 ] && echo "bench smoke: all passed"
exit $fail
