#!/usr/bin/env bash
# Impossible sizes and bad alignments on every entry point, with glibc (the
# reference: the expectations are glibc 2.36's) and under umm: NULL + ENOMEM
# (EINVAL for bad alignments), canaries and counters unchanged.
set -u
. tests/preload/lib.bash
F=$B/tests/preload/fault
"$F" sweep >"$TMPD/ref.out" 2>&1 || { echo "FAIL: the sweep's expectations do not hold for glibc"; cat "$TMPD/ref.out"; exit 1; }
tail -n 2 "$TMPD/ref.out"
under_umm sweep "$F" sweep || { cat "$TMPD/sweep.out"; exit 1; }
cat "$TMPD/sweep.out"
echo "fault-sweep: ok"
