#!/usr/bin/env bash
# python3 (PYTHONMALLOC=malloc) running a threaded workload: same output with and without umm.
set -u
. tests/preload/lib.bash
py=$(command -v /usr/bin/python3 || command -v python3) || { echo "FAIL: python3 missing (apt: python3)"; exit 1; }
export PYTHONMALLOC=malloc PYTHONHASHSEED=0
compare python "$py" tests/preload/work.py || exit 1
grep -E 'hit rate' "$TMPD/python.err"
