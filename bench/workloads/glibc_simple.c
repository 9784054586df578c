/* glibc_simple.c - glibc-simple-like fixed-size loops.
 *
 * For sizes 16, 32 and 64 B and live counts 25, 50, ... 1600: allocate that
 * many blocks, then free them all (in allocation order), many times. Each
 * thread works on its own. Reports malloc+free pairs per second. */
#include "common.h"

typedef struct {
  long iters;
  long pairs;
} job_t;

static const size_t sizes[] = {16, 32, 64};
static const int counts[] = {25, 50, 100, 200, 400, 800, 1600};

static void *worker(void *arg) {
  job_t *j = arg;
  void *blk[1600];
  long pairs = 0;
  for (long it = 0; it < j->iters; it++)
    for (size_t si = 0; si < 3; si++)
      for (size_t ci = 0; ci < 7; ci++) {
        int n = counts[ci];
        for (int k = 0; k < n; k++) {
          blk[k] = malloc(sizes[si]);
          if (!blk[k]) bench_fail("malloc");
          *(int *)blk[k] = k;
        }
        for (int k = 0; k < n; k++) {
          if (*(int *)blk[k] != k) bench_fail("block contents");
          free(blk[k]);
        }
        pairs += n;
      }
  j->pairs = pairs;
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int T = A.threads;
  long total_iters = bench_scaled(4000, A.scale, T);
  job_t *jobs = xmalloc(sizeof(job_t) * (size_t)T);
  for (int t = 0; t < T; t++) jobs[t].iters = total_iters / T;
  double t0 = bench_now();
  bench_run_threads(T, worker, jobs, sizeof(job_t));
  double secs = bench_now() - t0;
  double ops = 0;
  for (int t = 0; t < T; t++) ops += (double)jobs[t].pairs;
  free(jobs);
  bench_report("glibc-simple", &A, secs, ops, "pairs/s", ops / secs, NULL);
  return 0;
}
