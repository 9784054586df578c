/* alloc_test.c - alloc-test-like thread-local churn with skewed sizes up to 1 KiB.
 *
 * Each thread owns SLOTS blocks and does nothing but replace them: half the
 * operations hit a small hot set of slots (short lifetimes), half any slot
 * (long lifetimes). Sizes are skewed towards small ones (u^3 * 1024). No
 * cross-thread frees. Reports milliseconds per million operations. */
#include "common.h"

#define SLOTS 4096
#define HOT 64

typedef struct {
  long ops;
  uint64_t seed;
  long sum;
} job_t;

static void *worker(void *arg) {
  job_t *j = arg;
  uint64_t s = j->seed;
  unsigned char **a = calloc(SLOTS, sizeof *a);
  if (!a) bench_fail("calloc");
  long sum = 0;
  for (long i = 0; i < j->ops; i++) {
    uint64_t r = rng_next(&s);
    size_t k = (r & 1) ? (size_t)(r >> 8) % HOT : (size_t)(r >> 8) % SLOTS;
    if (a[k]) { sum += a[k][0]; free(a[k]); }
    double u = (double)(r >> 40) * (1.0 / 16777216.0);
    size_t n = 1 + (size_t)(1023.0 * u * u * u);
    a[k] = malloc(n);
    if (!a[k]) bench_fail("malloc");
    a[k][0] = (unsigned char)k;
    a[k][n - 1] = (unsigned char)n;
  }
  for (size_t k = 0; k < SLOTS; k++) free(a[k]);
  free(a);
  j->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int T = A.threads;
  long total = bench_scaled(32e6, A.scale, T);
  job_t *jobs = xmalloc(sizeof(job_t) * (size_t)T);
  for (int t = 0; t < T; t++) { jobs[t].ops = total / T; jobs[t].seed = 5 + (uint64_t)t; }
  double t0 = bench_now();
  bench_run_threads(T, worker, jobs, sizeof(job_t));
  double secs = bench_now() - t0;
  double ops = (double)(total / T) * T;
  free(jobs);
  bench_report("alloc-test", &A, secs, ops, "ms/Mops", secs * 1e3 / (ops / 1e6), "ops_per_s=%.6g", ops / secs);
  return 0;
}
