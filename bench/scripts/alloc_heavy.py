"""alloc_heavy.py SCALE - an allocation-heavy Python workload for the benchmark suite.

Run as `PYTHONMALLOC=malloc python3 alloc_heavy.py 1.0` so every Python object
goes through the C malloc (and so through a preloaded allocator). Mixes the
shapes real Python programs have: many small dicts and objects, string
building and splitting, trees built and dropped, JSON round trips, sorting.
Prints a RESULT line (ops = tasks done) and a checksum that does not depend on
the allocator.
"""
import json
import sys
import time


class Node:
    def __init__(self, left, right, value):
        self.left = left
        self.right = right
        self.value = value


def tree(depth, v):
    if depth == 0:
        return Node(None, None, v)
    return Node(tree(depth - 1, 2 * v), tree(depth - 1, 2 * v + 1), v)


def check(n):
    if n.left is None:
        return 1
    return 1 + check(n.left) + check(n.right)


def records(n, seed):
    out = []
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append({
            "id": i,
            "name": "user-%d-%x" % (i, x),
            "tags": [str(x % 97), str(x % 89), "t%d" % (x % 13)],
            "score": (x % 10007) / 7.0,
            "pos": (x % 1000, x % 777),
        })
    return out


def task(k):
    s = 0
    # small objects and dicts
    recs = records(2000, k)
    by_tag = {}
    for r in recs:
        for t in r["tags"]:
            by_tag.setdefault(t, []).append(r["id"])
    s += len(by_tag)
    # sorting with keys (tuples allocated per element)
    recs.sort(key=lambda r: (r["score"], r["name"]))
    s += recs[0]["id"]
    # strings: build, split, join, replace
    text = " ".join(r["name"] for r in recs)
    words = text.split()
    s += len(words)
    s += len("".join(w.upper() for w in words[:500]).replace("USER", "u"))
    # JSON round trip
    blob = json.dumps(recs[:400])
    back = json.loads(blob)
    s += len(back)
    # a tree built and dropped
    t = tree(10, k)
    s += check(t)
    del t
    # a list of tuples, a set and a comprehension
    pairs = [(i, str(i)) for i in range(3000)]
    st = {p[1] for p in pairs if i_mod(p[0])}
    s += len(st)
    return s


def i_mod(i):
    return i % 3 != 0


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    n = max(1, int(150 * scale))
    t0 = time.perf_counter()
    total = 0
    for k in range(n):
        total += task(k)
    secs = time.perf_counter() - t0
    print("RESULT workload=python threads=1 scale=%g secs=%.4f ops=%d rate=%.6g unit=tasks/s checksum=%d"
          % (scale, secs, n, n / secs, total))


if __name__ == "__main__":
    main()
