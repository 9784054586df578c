#!/usr/bin/env bash
# python3 (PYTHONMALLOC=malloc) with UMM_TAG=site: a dump taken by signal in
# the middle of the run (many live objects) must name CPython functions
# (module!Py...+0x..) and pass the json schema check; the exit dump too; the
# output of the script is unchanged; UMM_CHECK=1 finds the heap healthy.
set -u
. tests/preload/lib.bash
py=$(command -v /usr/bin/python3 || command -v python3) || { echo "FAIL: python3 missing (apt: python3)"; exit 1; }
cat >"$TMPD/w.py" <<'PY'
import os, signal
keep = [{"k%d" % i: [str(i) * 3, (i, float(i))]} for i in range(20000)]
if "LD_PRELOAD" not in os.environ:            # the reference run: no handler
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
os.kill(os.getpid(), signal.SIGUSR2)          # the dump is written by a later allocation
more = [bytearray(100 + i % 900) for i in range(5000)]
print(len(keep), sum(len(b) for b in more))
PY
export PYTHONMALLOC=malloc PYTHONHASHSEED=0
"$py" "$TMPD/w.py" >"$TMPD/ref" || { echo "FAIL: python3 alone"; exit 1; }
timeout 120 env LD_PRELOAD=$SO UMM_TAG=site UMM_DUMP="$TMPD/dump.json" UMM_DUMP_FORMAT=json UMM_DUMP_SIGNAL=USR2 \
  UMM_CHECK=1 "$py" "$TMPD/w.py" >"$TMPD/out" 2>"$TMPD/err" || { echo "FAIL: python3 under umm"; tail "$TMPD/err"; exit 1; }
cmp -s "$TMPD/ref" "$TMPD/out" || { echo "FAIL: output differs"; exit 1; }
[ -f "$TMPD/dump.json.1" ] || { echo "FAIL: no signal dump"; exit 1; }
python3 tests/preload/dump_check.py --kind site --min-tags 10 --name-re '![A-Za-z_]*Py[A-Za-z_]*\+0x' \
  "$TMPD/dump.json.1" "$TMPD/dump.json" || exit 1
grep -q 'heap check at exit: 0 violations' "$TMPD/err" || { echo "FAIL: UMM_CHECK"; cat "$TMPD/err"; exit 1; }
python3 - "$TMPD/dump.json.1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["totals"]
assert t["live_blocks"] > 20000, t
for g in d["tags"][:5]:
    print("  %10d bytes %7d blocks  %s  [%s]" % (g["bytes"], g["blocks"], g["name"], g.get("module_offset", "")))
PY
