#!/usr/bin/env bash
# Debug heap API: tag push/pop/of round trips, heap walk, check and dumps,
# under UMM_TAG=none, thread and site (and without thread caches); the json
# dumps pass the schema check, the svg heap maps are well formed (xmllint),
# render (rsvg-convert) and have one band per region of the json dump;
# UMM_CHECK=1 reports a healthy heap at exit.
set -u
. tests/preload/lib.bash
need xmllint libxml2-utils
need rsvg-convert librsvg2-bin
fail=0
for mode in none thread site; do
  for cache in 1 0; do
    if ! LD_PRELOAD=$SO UMM_TAG=$mode UMM_CACHE=$cache UMM_CHECK=1 timeout 60 "$B/tests/preload/debug_tags" \
         "$TMPD/d.txt" "$TMPD/d.json" "$TMPD/d.svg" >"$TMPD/o" 2>"$TMPD/e"; then
      echo "FAIL: UMM_TAG=$mode UMM_CACHE=$cache"; cat "$TMPD/o"; tail -5 "$TMPD/e"; fail=1; continue
    fi
    grep -q 'heap check at exit: 0 violations' "$TMPD/e" || { echo "FAIL: no healthy UMM_CHECK line ($mode)"; fail=1; }
    grep -q '^umm: heap dump (call)' "$TMPD/d.txt" || { echo "FAIL: text dump ($mode)"; fail=1; }
    python3 tests/preload/dump_check.py --kind program "$TMPD/d.json" >/dev/null || { python3 tests/preload/dump_check.py "$TMPD/d.json"; fail=1; }
    xmllint --noout "$TMPD/d.svg" 2>"$TMPD/x" || { head -5 "$TMPD/x"; false; } || { echo "FAIL: svg not well formed ($mode)"; fail=1; }
    rsvg-convert "$TMPD/d.svg" -o "$TMPD/d.png" 2>/dev/null && [ -s "$TMPD/d.png" ] || { echo "FAIL: svg does not render ($mode)"; fail=1; }
    bands=$(xmllint --xpath "count(//*[local-name()='g'][@class='band'])" "$TMPD/d.svg")
    regs=$(python3 -c 'import json,sys; print(sum(1 for r in json.load(open(sys.argv[1]))["regions"] if r["bytes"]))' "$TMPD/d.json")
    [ "$bands" = "$regs" ] && [ "$bands" -ge 1 ] || { echo "FAIL: $bands bands for $regs regions ($mode)"; fail=1; }
    echo "ok: UMM_TAG=$mode UMM_CACHE=$cache: $(tail -1 "$TMPD/o"), svg $bands band(s)"
  done
done
# without the preload the weak symbols are NULL: the program says so and fails cleanly
"$B/tests/preload/debug_tags" >"$TMPD/o" 2>&1 && { echo "FAIL: ran without the preload?"; fail=1; }
grep -q 'debug API is missing' "$TMPD/o" || { echo "FAIL: weak symbols"; fail=1; }
exit $fail
