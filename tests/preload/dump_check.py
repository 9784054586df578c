#!/usr/bin/env python3
"""dump_check.py FILE... - schema-style check of umm_dump's json format.

Options: --name-re REGEX (some tag name must match), --min-tags N,
--kind KIND (some tag must be of that kind). Exit 0 when every file is a
valid dump, else prints what is wrong and exits 1."""
import json
import re
import sys

KINDS = {"untagged", "program", "thread", "site", "overflow"}
TOTALS = ["live_blocks", "live_bytes", "cached_blocks", "cached_bytes", "free_chunks", "free_bytes",
          "largest_free", "deferred_blocks", "deferred_bytes", "large_blocks", "large_bytes",
          "ungrouped_blocks", "tags"]
REGION = ["index", "bytes", "in_use", "cached", "free", "free_chunks", "largest_free"]
HEX = re.compile(r"^0x[0-9a-f]+$")


def uint(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check(doc):
    err = []
    def need(cond, what):
        if not cond:
            err.append(what)
    need(isinstance(doc, dict), "top level is not an object")
    if err:
        return err
    need(doc.get("umm_dump") == 1, "umm_dump != 1")
    need(doc.get("reason") in ("exit", "signal", "call"), "bad reason %r" % doc.get("reason"))
    need(uint(doc.get("pid")), "bad pid")
    need(doc.get("tag_mode") in ("none", "thread", "site"), "bad tag_mode")
    need(isinstance(doc.get("partial"), bool), "partial not a bool")
    tot = doc.get("totals")
    need(isinstance(tot, dict), "totals missing")
    if not isinstance(tot, dict):
        return err
    for k in TOTALS:
        need(uint(tot.get(k)), "totals.%s not a count" % k)
    regs = doc.get("regions")
    need(isinstance(regs, list), "regions not a list")
    for r in regs or []:
        for k in REGION:
            need(uint(r.get(k)), "region.%s not a count" % k)
        f = r.get("fragmentation")
        need(isinstance(f, (int, float)) and 0 <= f <= 1, "region.fragmentation %r not in [0,1]" % f)
        need(r.get("largest_free", 0) <= r.get("free", 0), "region largest_free > free")
        need(r.get("in_use", 0) + r.get("cached", 0) + r.get("free", 0) <= r.get("bytes", 0), "region parts exceed bytes")
    tags = doc.get("tags")
    need(isinstance(tags, list), "tags not a list")
    if not isinstance(tags, list) or err:
        return err
    need(len(tags) == tot["tags"], "totals.tags != len(tags)")
    prev = None
    blocks = nbytes = 0
    for t in tags:
        where = "tag %r" % t.get("tag")
        need(uint(t.get("tag")) and t["tag"] < 2**32, where + ": bad tag")
        need(t.get("kind") in KINDS, where + ": bad kind")
        need(isinstance(t.get("name"), str) and t["name"], where + ": no name")
        for k in ("blocks", "bytes", "smallest", "largest"):
            need(uint(t.get(k)), where + ": %s not a count" % k)
        if err:
            return err
        need(t["blocks"] >= 1 and t["smallest"] <= t["largest"], where + ": smallest > largest")
        need(t["smallest"] * t["blocks"] <= t["bytes"] <= t["largest"] * t["blocks"], where + ": bytes inconsistent")
        a = t.get("addresses")
        need(isinstance(a, list) and len(a) == min(4, t["blocks"]) and all(isinstance(x, str) and HEX.match(x) for x in a),
             where + ": bad addresses")
        if "module" in t:
            need(t.get("kind") == "site", where + ": module on a non-site tag")
            need(isinstance(t["module"], str) and HEX.match(t.get("module_offset", "")), where + ": bad module_offset")
        if t.get("kind") == "site":
            need(HEX.match(t.get("address", "")) is not None, where + ": site without address")
        if prev is not None:
            need(prev >= t["bytes"], "tags not sorted by bytes")
        prev = t["bytes"]
        blocks += t["blocks"]
        nbytes += t["bytes"]
    need(blocks + tot["ungrouped_blocks"] == tot["live_blocks"], "tag blocks do not add up to live_blocks")
    if not tot["ungrouped_blocks"]:
        need(nbytes == tot["live_bytes"], "tag bytes do not add up to live_bytes")
    return err


def main(argv):
    name_re = kind = None
    min_tags = 0
    files = []
    i = 0
    while i < len(argv):
        if argv[i] == "--name-re":
            name_re = re.compile(argv[i + 1]); i += 2
        elif argv[i] == "--min-tags":
            min_tags = int(argv[i + 1]); i += 2
        elif argv[i] == "--kind":
            kind = argv[i + 1]; i += 2
        else:
            files.append(argv[i]); i += 1
    bad = 0
    for f in files:
        try:
            with open(f) as fh:
                doc = json.load(fh)
        except Exception as e:  # noqa: BLE001 - report any parse failure
            print("FAIL: %s: not json: %s" % (f, e)); bad += 1; continue
        err = check(doc)
        tags = doc.get("tags", []) if isinstance(doc, dict) else []
        if not err and len(tags) < min_tags:
            err.append("only %d tags" % len(tags))
        if not err and name_re and not any(name_re.search(t["name"]) for t in tags):
            err.append("no tag name matches %s" % name_re.pattern)
        if not err and kind and not any(t["kind"] == kind for t in tags):
            err.append("no tag of kind %s" % kind)
        if err:
            print("FAIL: %s: %s" % (f, "; ".join(err[:5]))); bad += 1
        else:
            print("ok: %s: %d tags, %d live blocks, %d live bytes" % (
                f, len(tags), doc["totals"]["live_blocks"], doc["totals"]["live_bytes"]))
    return 1 if bad or not files else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
