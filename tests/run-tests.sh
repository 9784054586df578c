#!/usr/bin/env bash
# Runs each argument (a path to a test program or script, run without
# arguments from the repository root), logs its output to
# build/test-logs/<path with / as _>.log, prints PASS/FAIL per test and a
# closing "N passed, N failed" line. Exit status 1 if any failed.
set -u
mkdir -p "${B:-build}/test-logs"
pass=0; fail=0
for t in "$@"; do
  name=${t#"${B:-build}"/}; name=${name//\//_}
  log="${B:-build}/test-logs/$name.log"
  start=$(date +%s)
  case $t in /*) run=$t ;; *) run=./$t ;; esac
  if "$run" >"$log" 2>&1; then
    pass=$((pass+1)); printf 'PASS %-36s %4ss\n' "$t" $(( $(date +%s) - start ))
  else
    rc=$?; fail=$((fail+1))
    printf 'FAIL %-36s %4ss  exit %s  (%s)\n' "$t" $(( $(date +%s) - start )) "$rc" "$log"
    tail -n 25 "$log" | sed 's/^/    | /'
  fi
done
echo "${pass} passed, ${fail} failed"
[ "$fail" -eq 0 ]
