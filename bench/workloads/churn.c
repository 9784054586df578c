/* churn.c - thread churn: rounds of many short-lived threads (4 per worker
 * slot) that calloc small blocks, free most, and leave one in ten in a shared
 * array; the main thread frees the previous round's leftovers (blocks whose
 * allocating thread has exited). At the end everything is freed, the program
 * waits 0.25 s, does a few small calls (allocators that purge on activity get
 * their chance) and reports the resident set: the memory the allocator keeps
 * after its threads are gone. */
#include "common.h"

#define PER_THREAD 4000
#define KEEP_EVERY 10

typedef struct {
  void **keep;
  uint64_t seed;
} job_t;

static void *worker(void *arg) {
  job_t *j = arg;
  uint64_t s = j->seed;
  void **tmp = xmalloc(sizeof(void *) * PER_THREAD);
  for (int i = 0; i < PER_THREAD; i++) {
    size_t n = 16 + rng_below(&s, 241);
    unsigned char *p = calloc(1, n);
    if (!p) bench_fail("calloc");
    if (p[n - 1]) bench_fail("calloc not zeroed");
    p[0] = (unsigned char)i;
    tmp[i] = p;
  }
  for (int i = 0; i < PER_THREAD; i++) {
    if (i % KEEP_EVERY == 0) j->keep[i / KEEP_EVERY] = tmp[i];
    else free(tmp[i]);
  }
  free(tmp);
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int W = 4 * A.threads;
  long rounds = bench_scaled(150, A.scale, 2);
  size_t kp = PER_THREAD / KEEP_EVERY;
  void **keep[2];
  keep[0] = calloc((size_t)W * kp, sizeof(void *));
  keep[1] = calloc((size_t)W * kp, sizeof(void *));
  job_t *jobs = xmalloc(sizeof(job_t) * (size_t)W);
  if (!keep[0] || !keep[1]) bench_fail("calloc");
  long rss0 = bench_cur_rss_kb();
  double t0 = bench_now(), t_free = 0;           /* t_free: the main thread's serial frees of leftovers */
  for (long r = 0; r < rounds; r++) {
    void **k = keep[r & 1];
    for (int w = 0; w < W; w++) {
      jobs[w].keep = k + (size_t)w * kp;
      jobs[w].seed = (uint64_t)(r * W + w);
    }
    bench_run_threads(W, worker, jobs, sizeof(job_t));
    void **old = keep[(r + 1) & 1];                /* the previous round's leftovers */
    double tf = bench_now();
    for (size_t i = 0; i < (size_t)W * kp; i++) { free(old[i]); old[i] = NULL; }
    t_free += bench_now() - tf;
  }
  double secs = bench_now() - t0;
  for (int b = 0; b < 2; b++) {
    for (size_t i = 0; i < (size_t)W * kp; i++) free(keep[b][i]);
    free(keep[b]);
  }
  free(jobs);
  long rss_freed = bench_cur_rss_kb();
  struct timespec ts = {0, 250000000};
  nanosleep(&ts, NULL);
  for (int i = 0; i < 64; i++) { void *p = malloc(64); bench_escape(p); free(p); }
  long rss_after = bench_cur_rss_kb();
  double threads = (double)rounds * W;
  bench_report("churn", &A, secs, threads, "threads/s", threads / secs,
               "rss_start_kb=%ld rss_freed_kb=%ld rss_after_kb=%ld main_free_s=%.4f", rss0, rss_freed, rss_after, t_free);
  return 0;
}
