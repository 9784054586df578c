/* cache_thrash.c - active false sharing.
 *
 * Each worker runs rounds of malloc(8), many writes, free. An allocator that
 * hands neighbouring small blocks to different threads makes them write the
 * same cache line. Reports writes per second. */
#include "common.h"

#define OBJ 8

typedef struct {
  long rounds, writes;
} job_t;

static void *worker(void *arg) {
  job_t *j = arg;
  for (long r = 0; r < j->rounds; r++) {
    volatile char *p = malloc(OBJ);
    if (!p) bench_fail("malloc");
    for (long w = 0; w < j->writes; w++) p[w & (OBJ - 1)] = (char)(p[w & (OBJ - 1)] + 1);
    free((void *)p);
  }
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int T = A.threads;
  long writes = 500;
  long rounds = bench_scaled(1000000, A.scale, 1);
  job_t *jobs = xmalloc(sizeof(job_t) * (size_t)T);
  for (int t = 0; t < T; t++) {
    jobs[t].rounds = rounds;
    jobs[t].writes = writes;
  }
  double t0 = bench_now();
  bench_run_threads(T, worker, jobs, sizeof(job_t));
  double secs = bench_now() - t0;
  free(jobs);
  double ops = (double)T * (double)rounds * (double)writes;
  bench_report("cache-thrash", &A, secs, ops, "writes/s", ops / secs, NULL);
  return 0;
}
