#!/usr/bin/env bash
# C++ under UMM_TAG=site: the 2000 nodes made by `new Node` in build() are one
# site inside the program (not libstdc++'s operator new), new[] another; a
# failing new throws bad_alloc, nothrow new returns nullptr; also without umm.
set -u
. tests/preload/lib.bash
bin=$B/tests/preload/cxx_sites
"$bin" >"$TMPD/ref" 2>&1 || { echo "FAIL: without umm"; cat "$TMPD/ref"; exit 1; }
timeout 60 env LD_PRELOAD=$SO UMM_TAG=site "$bin" "$TMPD/d.json" >"$TMPD/o" 2>&1 || { echo "FAIL: under umm"; cat "$TMPD/o"; exit 1; }
python3 tests/preload/dump_check.py --kind site "$TMPD/d.json" >/dev/null || { python3 tests/preload/dump_check.py "$TMPD/d.json"; exit 1; }
python3 - "$TMPD/d.json" <<'PY' || exit 1
import json, sys
d = json.load(open(sys.argv[1]))
nodes = [t for t in d["tags"] if t["blocks"] >= 2000 and t["smallest"] >= 48]
if not nodes:
    print("FAIL: no tag with the 2000 nodes"); sys.exit(1)
t = nodes[0]
print("  nodes: %d blocks at %s" % (t["blocks"], t["name"]))
if not t["name"].startswith("cxx_sites!") or "libstdc++" in t.get("module", ""):
    print("FAIL: the nodes' site is not in the program"); sys.exit(1)
PY
echo "ok: C++ new tagged at its caller"
