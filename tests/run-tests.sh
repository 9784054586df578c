#!/usr/bin/env bash
# Runs each "name=command" argument, logs its output to build/test-logs/NAME.log,
# prints PASS/FAIL per test and a closing "N passed, N failed" line.
set -u
mkdir -p build/test-logs
pass=0; fail=0; failed=()
for t in "$@"; do
  name=${t%%=*}; cmd=${t#*=}; cmd=${cmd//@/ }
  start=$(date +%s)
  if bash -c "$cmd" >"build/test-logs/$name.log" 2>&1; then
    pass=$((pass+1)); printf 'PASS %-28s %3ss\n' "$name" $(( $(date +%s) - start ))
  else
    fail=$((fail+1)); failed+=("$name")
    printf 'FAIL %-28s %3ss  (build/test-logs/%s.log)\n' "$name" $(( $(date +%s) - start )) "$name"
    tail -n 20 "build/test-logs/$name.log" | sed 's/^/    | /'
  fi
done
echo "${pass} passed, ${fail} failed"
[ "$fail" -eq 0 ]
