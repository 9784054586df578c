#!/usr/bin/env bash
# Runs the pthread sample for 2 s with 4 threads; passes when it exits 0,
# printed PASS and printed its once-a-second lines.
set -u
bin=${B:-build}/umm_sample
out=$("$bin" -t 4 -s 2 2>&1); rc=$?
printf '%s\n' "$out"
lines=$(printf '%s\n' "$out" | grep -cE '^\[ *[0-9]+s\] chunks=')
if [ "$rc" -ne 0 ]; then echo "sample_test: umm_sample exited $rc"; exit 1; fi
if [ "$lines" -lt 2 ]; then echo "sample_test: expected 2 per-second lines, got $lines"; exit 1; fi
if ! printf '%s\n' "$out" | grep -qx PASS; then echo "sample_test: no PASS line"; exit 1; fi
echo "sample_test: ok ($lines per-second lines)"
