#!/usr/bin/env bash
# tests/fuzz/ci.sh - the fuzzers' test (run from the repository root), for
# each target: core (fuzz_core.c, corpus tests/fuzz/corpus/core) and preload
# (fuzz_preload.c, corpus tests/fuzz/corpus/preload).
#  1. Replays every input of the committed corpus (crash-* regression inputs
#     included) with the gcc ASan/UBSan replay binary: no clang fuzzer
#     runtime needed.
#  2. Fuzzes for FUZZ_SECONDS seconds (default 60 when CI=true, else 10; 0
#     skips) with the libFuzzer binary on a scratch copy of the corpus.
# FUZZ_TARGETS="core preload" (default) chooses the targets. A failing input
# is kept under $B/fuzz-ci/<target>/crashes/ and named in the output.
set -u
B=${B:-build}
if [ -n "${FUZZ_SECONDS:-}" ]; then secs=$FUZZ_SECONDS
elif [ "${CI:-}" = true ]; then secs=60
else secs=10; fi

run_target() {
  local t=$1 corpus=tests/fuzz/corpus/$1 replay=$B/fuzz/fuzz_$1_replay fuzzer=$B/fuzz/fuzz_$1
  local trace=FUZZ_${1^^}_TRACE work=$B/fuzz-ci/$1
  [ -x "$replay" ] || { echo "ci.sh: $replay not built (make $replay)"; return 1; }
  mkdir -p "$work"
  local n
  n=$(find "$corpus" -type f | wc -l)
  echo "$t: replay of $n inputs from $corpus"
  if ! "$replay" -v "$corpus" 2>"$work/replay.err"; then
    tail -n 40 "$work/replay.err"
    echo "ci.sh: $t replay FAILED (last 'running' line above names the input;" \
         "decode it with $trace=1 $replay FILE)"
    return 1
  fi
  grep -c '^running' "$work/replay.err" | sed "s/^/$t: replay ran /; s/\$/ inputs, all passed/"

  [ "$secs" -gt 0 ] 2>/dev/null || { echo "$t: fuzzing skipped (FUZZ_SECONDS=$secs)"; return 0; }
  [ -x "$fuzzer" ] || { echo "ci.sh: $fuzzer not built"; return 1; }
  rm -rf "$work/corpus"; mkdir -p "$work/corpus" "$work/crashes"
  cp "$corpus"/* "$work/corpus/"
  echo "$t: fuzz $secs s"
  if "$fuzzer" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$work/crashes/" \
       "$work/corpus" >"$work/fuzz.log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|stat::number_of_executed_units|stat::average_exec_per_sec' "$work/fuzz.log" |
      sed "s/^/$t: /"
    echo "$t: no crash in $secs s"
  else
    tail -n 60 "$work/fuzz.log"
    echo "ci.sh: $t fuzzing FAILED; inputs in $work/crashes/ (decode with $trace=1 $replay FILE):"
    ls -l "$work/crashes/"
    return 1
  fi
}

rc=0
for t in ${FUZZ_TARGETS:-core preload}; do
  run_target "$t" || rc=1
done
exit $rc
