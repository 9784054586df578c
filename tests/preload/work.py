# work.py - a threaded Python workload (dicts, strings, json, re) for
# real-python.sh; deterministic output. Run with PYTHONMALLOC=malloc so every
# object is a malloc block.
import json, re, threading, hashlib

def job(k):
    d = {}
    for i in range(30000):
        key = "k%d-%d" % (k, i * 7919 % 100003)
        d[key] = {"i": i, "s": ("x%d" % i) * (i % 9), "l": list(range(i % 13))}
    text = json.dumps(d, sort_keys=True)
    back = json.loads(text)
    nums = re.findall(r'"i": (\d+)', text)
    words = re.sub(r"x(\d)", r"y\1", text[:200000])
    h = hashlib.sha256(text.encode()).hexdigest()
    return "job %d: %d keys, %d numbers, %d chars, sha %s, %s" % (
        k, len(back), len(nums), len(words), h[:16], sorted(back)[:2])

out = [None] * 4
def run(k):
    out[k] = job(k)
ts = [threading.Thread(target=run, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(out))
