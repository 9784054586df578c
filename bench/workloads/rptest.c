/* rptest.c - rptest-like: 16-16000 B with decreasing frequency, about LIVE live
 * blocks per thread, memory touched, and every other replacement freed by the
 * next thread instead of the allocating one (handed over through a lock-free
 * inbox). Reports operations per CPU-second, peak RSS and the overhead: peak
 * RSS over the peak of the bytes requested and live. */
#include "common.h"
#include <sched.h>

#define LIVE 1000
#define MINSZ 16            /* room for the inbox link and size */
#define MAXSZ 16000

typedef struct node { struct node *next; size_t n; } node_t;

typedef struct {
  node_t *inbox;         /* blocks other threads pass us to free */
  long pending;          /* blocks in the inbox (bounds the hand-over) */
  long ops;
  uint64_t seed;
  long live;             /* bytes this thread holds + sent - freed from its inbox */
  int id;
  char pad[64];
} job_t;

#define MAX_PENDING (LIVE / 4)

static job_t *jobs;
static int T;
static int done;
static pthread_barrier_t start;
static long published[1024 * 8];   /* each thread's live (padded by 8 longs) */
static long peak_live;

static size_t pick_size(uint64_t *s) {
  double u = rng_unit(s);
  return MINSZ + (size_t)((MAXSZ - MINSZ) * u * u * u);
}

static void *make(size_t n, size_t k) {
  char *p = malloc(n);
  if (!p) bench_fail("malloc");
  for (size_t i = 0; i < n; i += 256) p[i] = (char)k;
  p[n - 1] = (char)k;
  return p;
}

static void drain(job_t *j) {
  node_t *l = __atomic_exchange_n(&j->inbox, NULL, __ATOMIC_ACQUIRE);
  long k = 0;
  while (l) {
    node_t *next = l->next;
    j->live -= (long)l->n;
    free(l);
    l = next;
    k++;
  }
  if (k) __atomic_fetch_sub(&j->pending, k, __ATOMIC_RELAXED);
}

static void publish(job_t *j) {
  __atomic_store_n(&published[j->id * 8], j->live, __ATOMIC_RELAXED);
  long sum = 0;
  for (int t = 0; t < T; t++) sum += __atomic_load_n(&published[t * 8], __ATOMIC_RELAXED);
  long pk = __atomic_load_n(&peak_live, __ATOMIC_RELAXED);
  while (sum > pk && !__atomic_compare_exchange_n(&peak_live, &pk, sum, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

static void *worker(void *arg) {
  job_t *j = arg;
  job_t *next = &jobs[(j->id + 1) % T];
  uint64_t s = j->seed;
  node_t **a = xmalloc(sizeof(node_t *) * LIVE);
  for (size_t k = 0; k < LIVE; k++) {
    size_t n = pick_size(&s);
    a[k] = make(n, k);
    a[k]->n = n;
    j->live += (long)n;
  }
  pthread_barrier_wait(&start);
  for (long i = 0; i < j->ops; i++) {
    size_t k = rng_below(&s, LIVE);
    node_t *old = a[k];
    if ((i & 1) && __atomic_load_n(&next->pending, __ATOMIC_RELAXED) < MAX_PENDING) {
      /* the next thread frees it (its bytes stay counted as ours until then) */
      __atomic_fetch_add(&next->pending, 1, __ATOMIC_RELAXED);
      node_t *h = __atomic_load_n(&next->inbox, __ATOMIC_RELAXED);
      do old->next = h;
      while (!__atomic_compare_exchange_n(&next->inbox, &h, old, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    } else {
      j->live -= (long)old->n;
      free(old);
    }
    size_t n = pick_size(&s);
    a[k] = make(n, k);
    a[k]->n = n;
    j->live += (long)n;
    if ((i & 63) == 63) {
      drain(j);
      publish(j);
    }
  }
  publish(j);
  /* keep serving the inbox until every thread has stopped sending */
  __atomic_fetch_add(&done, 1, __ATOMIC_ACQ_REL);
  while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) < T) {
    drain(j);
    publish(j);
    sched_yield();
  }
  drain(j);
  publish(j);
  for (size_t k = 0; k < LIVE; k++) free(a[k]);
  free(a);
  j->live = 0;
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  T = A.threads;
  if (T > 1024) T = 1024;
  long total = bench_scaled(4e6, A.scale, T);
  jobs = calloc((size_t)T, sizeof(job_t));
  if (!jobs) bench_fail("calloc");
  for (int t = 0; t < T; t++) {
    jobs[t].ops = total / T;
    jobs[t].seed = 99 + (uint64_t)t;
    jobs[t].id = t;
  }
  pthread_barrier_init(&start, NULL, (unsigned)T);
  long rss0 = bench_cur_rss_kb();
  double c0 = bench_cpu_secs();
  double t0 = bench_now();
  bench_run_threads(T, worker, jobs, sizeof(job_t));
  double secs = bench_now() - t0;
  double cpu = bench_cpu_secs() - c0;
  long peak = bench_peak_rss_kb();
  double overhead = peak_live > 0 ? 100.0 * ((double)(peak - rss0) * 1024.0 - (double)peak_live) / (double)peak_live : 0;
  free(jobs);
  double ops = (double)(total / T) * T;
  bench_report("rptest", &A, secs, ops, "ops/cpu-s", ops / (cpu > 0 ? cpu : secs),
               "cpu_s=%.3f peak_live_kb=%ld overhead_pct=%.1f", cpu, peak_live / 1024, overhead);
  return 0;
}
