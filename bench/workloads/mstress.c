/* mstress.c - mstress-like mixed lifetimes.
 *
 * Sizes are 8 B times a power of two (small ones far more likely) with a rare
 * big block (128 KiB - 1 MiB). Each worker keeps a local array of live blocks;
 * a quarter of its operations swap one of them with a random entry of an array
 * shared by all threads (so blocks migrate between threads), the rest allocate
 * or free. Workers are re-created every round; each frees half of its blocks at
 * exit and leaves the other half to the next round's worker. Reports ops/s. */
#include "common.h"

#define LOCAL 2000
#define SHARED 4096
#define ROUNDS 20

static void *shared[SHARED];

typedef struct {
  void **local;
  long ops;
  uint64_t seed;
} job_t;

static size_t pick_size(uint64_t *s) {
  uint64_t r = rng_next(s);
  if (r % 4000 == 0) return (size_t)128 << (r >> 20) % 4;   /* rare big: 128 KiB..1 MiB */
  unsigned k = (unsigned)__builtin_ctzll((r >> 12) | (1ull << 9)); /* geometric 0..9 */
  return (size_t)8 << k;
}

static void *make(uint64_t *s) {
  size_t n = pick_size(s);
  char *p = malloc(n);
  if (!p) bench_fail("malloc");
  p[0] = 1;
  p[n - 1] = 2;
  if (n >= 4096)
    for (size_t i = 0; i < n; i += 4096) p[i] = 3;
  return p;
}

static void *worker(void *arg) {
  job_t *j = arg;
  uint64_t s = j->seed;
  void **L = j->local;
  for (long i = 0; i < j->ops; i++) {
    uint64_t r = rng_next(&s);
    size_t k = (size_t)(r >> 16) % LOCAL;
    unsigned op = (unsigned)(r & 3);
    if (op == 0) {                       /* swap through the shared array */
      size_t x = (size_t)(r >> 40) % SHARED;
      L[k] = __atomic_exchange_n(&shared[x], L[k], __ATOMIC_ACQ_REL);
    } else if (op == 1 || !L[k]) {       /* allocate (replacing) */
      free(L[k]);
      L[k] = make(&s);
    } else {                             /* free */
      free(L[k]);
      L[k] = NULL;
    }
  }
  /* free half, leave half to the next round's thread */
  for (size_t k = 0; k < LOCAL; k += 2) {
    free(L[k]);
    L[k] = NULL;
  }
  j->seed = s;
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int T = A.threads;
  long total = bench_scaled(16e6, A.scale, ROUNDS * T);
  long per = total / ((long)ROUNDS * T);
  job_t *jobs = xmalloc(sizeof(job_t) * (size_t)T);
  for (int t = 0; t < T; t++) {
    jobs[t].local = calloc(LOCAL, sizeof(void *));
    if (!jobs[t].local) bench_fail("calloc");
    jobs[t].seed = 7 + (uint64_t)t;
  }
  double t0 = bench_now();
  for (int r = 0; r < ROUNDS; r++) {
    for (int t = 0; t < T; t++) jobs[t].ops = per;
    bench_run_threads(T, worker, jobs, sizeof(job_t));
    /* rotate the surviving arrays so survivors change threads too */
    void **first = jobs[0].local;
    for (int t = 0; t + 1 < T; t++) jobs[t].local = jobs[t + 1].local;
    jobs[T - 1].local = first;
  }
  double secs = bench_now() - t0;
  for (int t = 0; t < T; t++) {
    for (size_t k = 0; k < LOCAL; k++) free(jobs[t].local[k]);
    free(jobs[t].local);
  }
  for (size_t x = 0; x < SHARED; x++) free(shared[x]);
  free(jobs);
  double ops = (double)per * ROUNDS * T;
  bench_report("mstress", &A, secs, ops, "ops/s", ops / secs, NULL);
  return 0;
}
