# preload/demo.py - a short allocation-heavy workload for `make demo`:
# run under LD_PRELOAD=build/libumm_preload.so with PYTHONMALLOC=malloc, every
# Python object below is a umm block; UMM_STATS=1 prints the summary at exit.
import json, re, threading

def work(seed):
    d = {}
    for i in range(20000):
        d["key%d" % (i * seed)] = [str(i) * (i % 7 + 1), {"n": i, "s": "x" * (i % 50)}]
    text = json.dumps(d)
    back = json.loads(text)
    words = re.findall(r"key(\d+)", text)
    return len(back), len(words), len(text)

results = [None] * 4
def run(k):
    results[k] = work(k + 1)
threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
for k, r in enumerate(results):
    print("thread %d: %d entries, %d matches, %d bytes of JSON" % (k, *r))
