#!/usr/bin/env bash
# Under ulimit -v (RLIMIT_AS) and ulimit -d (RLIMIT_DATA): start-up reserves a
# smaller arena; 4 threads allocate until NULL, free everything, allocate
# every other block again: all of it succeeds. Under a tiny ulimit -d or -v,
# the registry of large blocks shrinks too and programs still run.
set -u
. tests/preload/lib.bash
F=$B/tests/preload/fault
for lim in "-v 1048576" "-v 307200" "-v 65536" "-d 1048576" "-d 307200" "-d 204800" "-d 32768"; do
  name=lim${lim// /}
  if ! ( ulimit $lim && exec env LD_PRELOAD="$SO" UMM_STATS=1 "$F" limits ) >"$TMPD/$name.out" 2>"$TMPD/$name.err"; then
    echo "FAIL: ulimit $lim"; cat "$TMPD/$name.out"; tail -n 20 "$TMPD/$name.err"; exit 1
  fi
  grep -q '^umm: stats' "$TMPD/$name.err" || { echo "FAIL: ulimit $lim: no umm summary"; cat "$TMPD/$name.err"; exit 1; }
  regions=$(grep -o 'regions [0-9]* committed of [0-9]* ([^)]*)' "$TMPD/$name.err")
  echo "ulimit $lim: $(sed -n 2p "$TMPD/$name.out" | sed 's/^ *//'); $regions"
  # a smaller reservation, and regions that fit in the limit were used
  case $regions in
    *"arena 64.0 GiB"*) echo "FAIL: ulimit $lim: the full 64 GiB arena was reserved"; exit 1 ;;
    "regions 0 "*) echo "FAIL: ulimit $lim: no region could be committed"; exit 1 ;;
  esac
done
for lim in "-d 8192" "-d 4096" "-v 12288" "-v 8192"; do
  n=$( (ulimit $lim && seq 100000 | LD_PRELOAD="$SO" sort -R | LD_PRELOAD="$SO" sort -n | wc -l) 2>&1)
  [ "$n" = 100000 ] || { echo "FAIL: ulimit $lim: sort under umm: $n"; exit 1; }
  echo "ulimit $lim: sort -R | sort -n of 100000 lines: ok"
done
echo "fault-limits: ok"
