#!/usr/bin/env bash
# CPython's own regression tests (Debian package libpython3.11-testsuite) with
# every Python object from malloc (PYTHONMALLOC=malloc), under umm: threads,
# the garbage collector, weak references, fork and subprocesses, signals,
# mmap, ctypes and the container types hit the allocator in ways our own
# scripts do not. Each module runs in its own interpreter under the preload
# (without UMM_STATS: the tests compare their children's stderr, and the
# summary would land there; one interpreter with UMM_STATS=1 first shows
# that umm serves python here, and a preload the loader refused would say
# so on stderr, which fails the module). A module that fails under
# umm is run again without the preload: if it passes there, umm broke it and
# the test fails; if it fails there too, the environment lacks something it
# needs and it is reported and not counted (at most a few may do that).
set -u
. tests/preload/lib.bash
py=/usr/bin/python3
[ -x "$py" ] || { echo "FAIL: $py missing (apt: python3)"; exit 1; }
"$py" -c 'import test.test_gc' 2>/dev/null ||
  { echo "FAIL: CPython's test package missing (apt: libpython3.11-testsuite)"; exit 1; }

mods="test_dict test_list test_set test_tuple test_unicode test_bytes test_json test_re
      test_collections test_itertools test_functools test_heapq test_array test_memoryview
      test_struct test_pickle test_zlib test_hashlib test_decimal test_ctypes test_mmap
      test_gc test_weakref test_threading test_thread test_queue test_threadsignals
      test_signal test_fork1 test_subprocess"
export PYTHONMALLOC=malloc PYTHONHASHSEED=0
run() { "$py" -m test --timeout 300 "$1"; }
under_umm sanity "$py" -c 'import test.support, gc; gc.collect()' || exit 1
# Under umm, 3 modules at a time (several mostly sleep: signal, subprocess).
export SO TMPD py
printf '%s\n' $mods | xargs -P 3 -I{} sh -c '
  if LD_PRELOAD=$SO "$py" -m test --timeout 300 {} >"$TMPD/{}.out" 2>"$TMPD/{}.err" &&
     ! grep -q "cannot be preloaded" "$TMPD/{}.err"; then touch "$TMPD/{}.ok"; fi'
ok=0 env_fail=() umm_fail=()
for m in $mods; do
  if [ -e "$TMPD/$m.ok" ]; then ok=$((ok + 1)); continue; fi
  if run "$m" >"$TMPD/$m.ref" 2>&1; then
    umm_fail+=("$m")
    echo "FAIL: $m passes with glibc malloc but not under umm:"
    tail -n 25 "$TMPD/$m.out" "$TMPD/$m.err"
  else
    env_fail+=("$m")
    echo "note: $m fails without umm too (environment), not counted"
  fi
done
echo "cpython: $ok modules passed under umm; ${#umm_fail[@]} broken by umm; ${#env_fail[@]} environment failures"
((${#umm_fail[@]} == 0 && ${#env_fail[@]} <= 3)) || exit 1
echo "ok: cpython regression tests under umm"
