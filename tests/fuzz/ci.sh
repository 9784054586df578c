#!/usr/bin/env bash
# tests/fuzz/ci.sh - the core fuzzer's test (run from the repository root).
#  1. Replays every input of the committed corpus (tests/fuzz/corpus/core,
#     crash-* regression inputs included) with the gcc ASan/UBSan replay
#     binary: no clang fuzzer runtime needed.
#  2. Fuzzes for FUZZ_SECONDS seconds (default 60 when CI=true, else 10; 0
#     skips) with the libFuzzer binary on a scratch copy of the corpus.
# A failing input is kept under $B/fuzz-ci/crashes/ and named in the output.
set -u
B=${B:-build}
corpus=tests/fuzz/corpus/core
replay=$B/fuzz/fuzz_core_replay
fuzzer=$B/fuzz/fuzz_core
if [ -n "${FUZZ_SECONDS:-}" ]; then secs=$FUZZ_SECONDS
elif [ "${CI:-}" = true ]; then secs=60
else secs=10; fi

[ -x "$replay" ] || { echo "ci.sh: $replay not built (make $replay)"; exit 1; }
n=$(find "$corpus" -type f | wc -l)
echo "replay: $n inputs from $corpus"
if ! "$replay" -v "$corpus" 2>"$B/fuzz-replay.err"; then
  tail -n 40 "$B/fuzz-replay.err"
  echo "ci.sh: replay FAILED (last 'running' line above names the input;" \
       "decode it with FUZZ_CORE_TRACE=1 $replay FILE)"
  exit 1
fi
grep -c '^running' "$B/fuzz-replay.err" | sed 's/^/replay: ran /; s/$/ inputs, all passed/'

[ "$secs" -gt 0 ] 2>/dev/null || { echo "fuzzing skipped (FUZZ_SECONDS=$secs)"; exit 0; }
[ -x "$fuzzer" ] || { echo "ci.sh: $fuzzer not built"; exit 1; }
work=$B/fuzz-ci
rm -rf "$work/corpus"; mkdir -p "$work/corpus" "$work/crashes"
cp "$corpus"/* "$work/corpus/"
echo "fuzz: $secs s"
if "$fuzzer" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$work/crashes/" \
     "$work/corpus" >"$work/fuzz.log" 2>&1; then
  grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|stat::number_of_executed_units|stat::average_exec_per_sec' "$work/fuzz.log"
  echo "fuzz: no crash in $secs s"
else
  tail -n 60 "$work/fuzz.log"
  echo "ci.sh: fuzzing FAILED; inputs in $work/crashes/:"; ls -l "$work/crashes/"
  exit 1
fi
