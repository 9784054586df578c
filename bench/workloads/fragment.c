/* fragment.c - fragmentation: phases of random sizes; in each phase allocate N
 * blocks, free every other one, then allocate N/2 blocks twice as large (they
 * do not fit the holes). The survivors of a phase stay live through the next
 * phase. Reports peak RSS, the peak of the bytes requested and live, and their
 * ratio (lower is better; 1.0 would be no overhead at all). */
#include "common.h"

#define PHASES 8

typedef struct {
  long n;
  uint64_t seed;
  long peak_live;
} job_t;

static void touch(char *p, size_t n) {
  for (size_t i = 0; i < n; i += 2048) p[i] = 1;
  p[n - 1] = 1;
}

static void *worker(void *arg) {
  job_t *j = arg;
  uint64_t s = j->seed;
  long n = j->n;
  char **cur = xmalloc(sizeof(char *) * (size_t)(n + n / 2));
  size_t *len = xmalloc(sizeof(size_t) * (size_t)(n + n / 2));
  char **prev = NULL;
  size_t *plen = NULL;
  long pcount = 0, live = 0, peak = 0;
  size_t lo = 16, hi = 96;
  for (int ph = 0; ph < PHASES; ph++) {
    long c = 0;
    for (long i = 0; i < n; i++) {
      size_t m = lo + rng_below(&s, hi - lo + 1);
      cur[c] = xmalloc(m);
      len[c] = m;
      touch(cur[c], m);
      live += (long)m;
      c++;
    }
    if (live > peak) peak = live;
    for (long i = 1; i < n; i += 2) {         /* free every other block */
      free(cur[i]);
      live -= (long)len[i];
      cur[i] = NULL;
    }
    for (long i = 0; i < n / 2; i++) {        /* larger blocks: the holes do not fit */
      size_t m = 2 * lo + rng_below(&s, 2 * (hi - lo) + 1);
      cur[c] = xmalloc(m);
      len[c] = m;
      touch(cur[c], m);
      live += (long)m;
      c++;
    }
    if (live > peak) peak = live;
    /* the previous phase's survivors die now */
    for (long i = 0; i < pcount; i++)
      if (prev[i]) { free(prev[i]); live -= (long)plen[i]; }
    free(prev);
    free(plen);
    prev = cur;
    plen = len;
    pcount = c;
    cur = xmalloc(sizeof(char *) * (size_t)(n + n / 2));
    len = xmalloc(sizeof(size_t) * (size_t)(n + n / 2));
    lo = lo * 3 / 2;
    hi = hi * 3 / 2;
  }
  for (long i = 0; i < pcount; i++) free(prev[i]);
  free(prev); free(plen); free(cur); free(len);
  j->peak_live = peak;
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int T = A.threads;
  long n = bench_scaled(100000, A.scale, 16) / T;
  job_t *jobs = xmalloc(sizeof(job_t) * (size_t)T);
  for (int t = 0; t < T; t++) { jobs[t].n = n; jobs[t].seed = 3 + (uint64_t)t; }
  long rss0 = bench_cur_rss_kb();
  double t0 = bench_now();
  bench_run_threads(T, worker, jobs, sizeof(job_t));
  double secs = bench_now() - t0;
  long peak_live = 0;
  for (int t = 0; t < T; t++) peak_live += jobs[t].peak_live;  /* upper bound of the joint peak */
  free(jobs);
  long peak = bench_peak_rss_kb();
  double ops = (double)n * T * PHASES * 1.5;
  bench_report("fragment", &A, secs, ops, "allocs/s", ops / secs,
               "peak_live_kb=%ld rss_over_live=%.3f", peak_live / 1024,
               (double)(peak - rss0) * 1024.0 / (double)peak_live);
  return 0;
}
