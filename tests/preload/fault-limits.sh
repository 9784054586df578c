#!/usr/bin/env bash
# Under ulimit -v (RLIMIT_AS) and ulimit -d (RLIMIT_DATA): start-up reserves a
# smaller arena; 4 threads allocate until NULL, free everything, allocate half
# as much again: all of it succeeds.
set -u
. tests/preload/lib.bash
F=$B/tests/preload/fault
for lim in "-v 1048576" "-v 307200" "-d 1048576" "-d 307200" "-d 204800"; do
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
echo "fault-limits: ok"
