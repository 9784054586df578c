/* glibc_thread.c - glibc-thread-like: per-thread 1024 slots, sizes 4-32768 B
 * with an inverse-square distribution (p(n) ~ 1/n^2), random replacement, no
 * cross-thread frees. Reports iterations (malloc+free pairs) per second. */
#include "common.h"

#define SLOTS 1024
#define MINSZ 4.0
#define MAXSZ 32768.0

typedef struct {
  long ops;
  uint64_t seed;
} job_t;

static size_t pick_size(uint64_t *s) {
  /* inverse CDF of p(n) ~ n^-2 on [MINSZ, MAXSZ] */
  double u = rng_unit(s);
  double inv = 1.0 / MINSZ - u * (1.0 / MINSZ - 1.0 / MAXSZ);
  return (size_t)(1.0 / inv);
}

static void *worker(void *arg) {
  job_t *j = arg;
  uint64_t s = j->seed;
  char **a = calloc(SLOTS, sizeof *a);
  if (!a) bench_fail("calloc");
  for (long i = 0; i < j->ops; i++) {
    size_t k = rng_below(&s, SLOTS);
    free(a[k]);
    size_t n = pick_size(&s);
    a[k] = malloc(n);
    if (!a[k]) bench_fail("malloc");
    a[k][0] = 1;
    a[k][n - 1] = 2;
  }
  for (size_t k = 0; k < SLOTS; k++) free(a[k]);
  free(a);
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int T = A.threads;
  long total = bench_scaled(32e6, A.scale, T);
  job_t *jobs = xmalloc(sizeof(job_t) * (size_t)T);
  for (int t = 0; t < T; t++) { jobs[t].ops = total / T; jobs[t].seed = 31 + (uint64_t)t; }
  double t0 = bench_now();
  bench_run_threads(T, worker, jobs, sizeof(job_t));
  double secs = bench_now() - t0;
  double ops = (double)(total / T) * T;
  free(jobs);
  bench_report("glibc-thread", &A, secs, ops, "iter/s", ops / secs, NULL);
  return 0;
}
