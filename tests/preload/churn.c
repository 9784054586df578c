/* churn.c - thread churn: THREADS short-lived threads, BATCH alive at a time.
 * Each thread allocates KEEP+TMP blocks of mixed sizes (16 B .. 16 KiB, one
 * in 8 up to 64 KiB), frees the TMP ones itself (they go through its thread
 * cache, which the thread's exit must flush back), and hands the KEEP ones
 * to the main thread, which frees them after the join (frees of blocks whose
 * allocating thread is gone).
 *
 * RSS bound: the live data at any instant is at most BATCH threads x
 * (KEEP+TMP) blocks x 64 KiB worst case = 8 x 40 x 64 KiB = 20 MiB (typical
 * well under 1 MiB), plus glibc's cache of thread stacks (40 MiB of address
 * space by default, of which only the touched pages of the stacks count).
 * The baseline is taken after WARMUP threads, when every one of those is
 * already in place, so a steady state adds nothing: the growth allowed
 * after it, GROWTH_MB = 64 MiB, is margin for fragmentation. A leak per
 * thread is caught: 100,000 threads x 700 bytes (one unflushed cache bin, a
 * leaked slot or per-thread record) is 67 MiB.
 *
 * Output: "threads N rss_kb_warm N rss_kb_end N growth_kb N ms N". */
#include "ptest.h"
#include <pthread.h>
#include <time.h>

#define THREADS   100000
#define BATCH     8
#define KEEP      16
#define TMP       24
#define WARMUP    1000
#define GROWTH_MB 64

typedef struct job {
  uint64_t seed;
  void *keep[KEEP];
  size_t keep_n[KEEP];
  int bad;
} job_t;

static size_t pick(uint64_t *s) {
  uint64_t r = pt_rand(s);
  if (r % 8 == 0) return 16 + (size_t)(r >> 8) % 65520;
  if (r % 2 == 0) return 16 + (size_t)(r >> 8) % 240;
  return 16 + (size_t)(r >> 8) % 16368;
}

static void *worker(void *arg) {
  job_t *j = arg;
  uint64_t s = j->seed;
  void *tmp[TMP];
  size_t tn[TMP];
  for (int i = 0; i < TMP; i++) {
    tn[i] = pick(&s);
    tmp[i] = malloc(tn[i]);
    if (!tmp[i]) { j->bad = 1; continue; }
    memset(tmp[i], 0x33, tn[i] < 64 ? tn[i] : 64);
  }
  for (int i = 0; i < KEEP; i++) {
    j->keep_n[i] = pick(&s);
    j->keep[i] = malloc(j->keep_n[i]);
    if (!j->keep[i]) { j->bad = 1; continue; }
    pt_fill(j->keep[i], j->keep_n[i] < 256 ? j->keep_n[i] : 256, j->seed + (uint64_t)i);
  }
  for (int i = 0; i < TMP; i++) free(tmp[i]);
  return NULL;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int main(int argc, char **argv) {
  CHECK(pt_preloaded());
  long threads = argc > 1 ? atol(argv[1]) : THREADS;
  long growth_kb = (argc > 2 ? atol(argv[2]) : GROWTH_MB) * 1024;
  static job_t jobs[BATCH];
  pthread_t t[BATCH];
  uint64_t t0 = now_ms();
  size_t warm_kb = 0, peak_kb = 0;
  long done = 0, create_fail = 0, bad = 0;
  while (done < threads) {
    int n = (int)(threads - done < BATCH ? threads - done : BATCH);
    int started[BATCH] = {0};
    for (int i = 0; i < n; i++) {
      memset(&jobs[i], 0, sizeof jobs[i]);
      jobs[i].seed = (uint64_t)(done + i) * 0x9e3779b97f4a7c15ull + 1;
      if (pthread_create(&t[i], NULL, worker, &jobs[i]) == 0) started[i] = 1;
      else create_fail++;
    }
    for (int i = 0; i < n; i++) {
      if (!started[i]) continue;
      pthread_join(t[i], NULL);
      if (jobs[i].bad) bad++;
      for (int k = 0; k < KEEP; k++) {
        void *p = jobs[i].keep[k];
        if (!p) continue;
        size_t m = jobs[i].keep_n[k];
        if (!pt_verify(p, m < 256 ? m : 256, jobs[i].seed + (uint64_t)k)) bad++;
        free(p);
      }
    }
    done += n;
    if (done == WARMUP || (done < WARMUP && done == threads)) warm_kb = ummp_rss_kb();
    if (done % 10000 == 0) {
      size_t r = ummp_rss_kb();
      if (r > peak_kb) peak_kb = r;
    }
  }
  size_t end_kb = ummp_rss_kb();
  if (end_kb > peak_kb) peak_kb = end_kb;
  long growth = (long)end_kb - (long)warm_kb;
  printf("threads %ld rss_kb_warm %zu rss_kb_end %zu rss_kb_peak %zu growth_kb %ld bound_kb %ld create_fail %ld bad %ld ms %llu\n",
         done, warm_kb, end_kb, peak_kb, growth, growth_kb, create_fail, bad,
         (unsigned long long)(now_ms() - t0));
  CHECK(create_fail == 0);
  CHECK(bad == 0);
  CHECK(growth < growth_kb);
  CHECK((long)peak_kb - (long)warm_kb < growth_kb);
  return pt_report();
}
