#!/usr/bin/env bash
# make test's entry for `make test-valgrind` (tests/valgrind.mk): the core tests
# under memcheck with 0 errors, memcheck seeing core blocks, and preloaded
# programs under valgrind. About one minute.
set -u
command -v valgrind >/dev/null || { echo "FAIL: valgrind not installed (apt package: valgrind)"; exit 1; }
exec make --no-print-directory B="${B:-build}" test-valgrind
