/* large.c - large blocks: 64 KiB - 32 MiB (log-uniform), at most 20 live in
 * all, zero-filled: half come from calloc (checked zero, then dirtied so a
 * reused block must be cleared again), half from malloc + memset. Reports
 * blocks per second and GiB/s filled. */
#include "common.h"

#define LIVE 20

typedef struct {
  long ops;
  int slots;
  uint64_t seed;
  double bytes;
} job_t;

static void *worker(void *arg) {
  job_t *j = arg;
  uint64_t s = j->seed;
  unsigned char **a = calloc((size_t)j->slots, sizeof *a);
  size_t *len = calloc((size_t)j->slots, sizeof *len);
  if (!a || !len) bench_fail("calloc");
  double bytes = 0;
  for (long i = 0; i < j->ops; i++) {
    size_t k = rng_below(&s, (size_t)j->slots);
    free(a[k]);
    double e = 16.0 + 9.0 * rng_unit(&s);            /* 2^16 .. 2^25 */
    size_t n = (size_t)__builtin_exp2(e);
    unsigned char *p;
    if (i & 1) {
      p = calloc(1, n);
      if (!p) bench_fail("calloc");
      for (size_t o = 0; o < n; o += 4096)
        if (p[o]) bench_fail("calloc block not zeroed");
      if (p[n - 1] || p[n / 2]) bench_fail("calloc block not zeroed");
    } else {
      p = malloc(n);
      if (!p) bench_fail("malloc");
      memset(p, 0, n);
    }
    for (size_t o = 0; o < n; o += 4096) p[o] = 0xa5;   /* dirty it */
    p[n - 1] = 0xa5;
    a[k] = p;
    len[k] = n;
    bytes += (double)n;
  }
  for (int k = 0; k < j->slots; k++) free(a[k]);
  free(a);
  free(len);
  j->bytes = bytes;
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int T = A.threads;
  long total = bench_scaled(400, A.scale, T);
  job_t *jobs = xmalloc(sizeof(job_t) * (size_t)T);
  for (int t = 0; t < T; t++) {
    jobs[t].ops = total / T;
    jobs[t].slots = LIVE / T > 0 ? LIVE / T : 1;
    jobs[t].seed = 17 + (uint64_t)t;
  }
  double t0 = bench_now();
  bench_run_threads(T, worker, jobs, sizeof(job_t));
  double secs = bench_now() - t0;
  double bytes = 0;
  for (int t = 0; t < T; t++) bytes += jobs[t].bytes;
  free(jobs);
  double ops = (double)(total / T) * T;
  bench_report("large", &A, secs, ops, "blocks/s", ops / secs, "gib_per_s=%.3f", bytes / secs / 1073741824.0);
  return 0;
}
