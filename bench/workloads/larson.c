/* larson.c - larson-like server simulation with cross-thread frees.
 *
 * Each of T "connections" owns an array of SLOTS blocks (8-1000 B). A worker
 * thread repeatedly frees a random slot and allocates a fresh random-sized block
 * into it. After each round the workers exit and new threads take over the
 * arrays rotated by one, so most frees hit blocks that another (often already
 * exited) thread allocated. Reports malloc+free pairs per second. */
#include "common.h"

#define SLOTS 5000
#define ROUNDS 40

typedef struct {
  void **slots;
  long ops;
  uint64_t seed;
  long checksum;
} job_t;

static void *worker(void *arg) {
  job_t *j = arg;
  uint64_t s = j->seed;
  void **a = j->slots;
  long sum = 0;
  for (long i = 0; i < j->ops; i++) {
    size_t k = rng_below(&s, SLOTS);
    unsigned char *old = a[k];
    sum += old[0];
    free(old);
    size_t n = 8 + rng_below(&s, 993);
    unsigned char *p = malloc(n);
    if (!p) bench_fail("malloc");
    p[0] = (unsigned char)k;
    p[n - 1] = (unsigned char)n;
    a[k] = p;
  }
  j->checksum = sum;
  j->seed = s;
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int T = A.threads;
  long total = bench_scaled(10e6, A.scale, ROUNDS * T);
  long per = total / ((long)ROUNDS * T);
  void ***arrays = xmalloc(sizeof(void **) * (size_t)T);
  uint64_t s = 42;
  for (int t = 0; t < T; t++) {
    arrays[t] = xmalloc(sizeof(void *) * SLOTS);
    for (int k = 0; k < SLOTS; k++) {
      size_t n = 8 + rng_below(&s, 993);
      unsigned char *p = xmalloc(n);
      p[0] = (unsigned char)k;
      arrays[t][k] = p;
    }
  }
  job_t *jobs = xmalloc(sizeof(job_t) * (size_t)T);
  for (int t = 0; t < T; t++) jobs[t].seed = 1000 + (uint64_t)t;
  double t0 = bench_now();
  long sum = 0;
  for (int r = 0; r < ROUNDS; r++) {
    for (int t = 0; t < T; t++) {
      jobs[t].slots = arrays[(t + r) % T];
      jobs[t].ops = per;
    }
    bench_run_threads(T, worker, jobs, sizeof(job_t));
    for (int t = 0; t < T; t++) sum += jobs[t].checksum;
  }
  double secs = bench_now() - t0;
  for (int t = 0; t < T; t++) {
    for (int k = 0; k < SLOTS; k++) free(arrays[t][k]);
    free(arrays[t]);
  }
  free(arrays);
  free(jobs);
  double ops = (double)per * ROUNDS * T;
  bench_report("larson", &A, secs, ops, "ops/s", ops / secs, "checksum=%ld", sum & 0xffff);
  return 0;
}
