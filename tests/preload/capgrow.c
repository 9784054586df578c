/* capgrow.c - how far thread caches may grow (cache.c, "adaptive bin
 * limits" and "the pool"). A thread that allocates and then frees more
 * blocks of a size than its bin holds, round after round, doubles that
 * bin's limit once per round, up to UMMP_BIN_CAP bytes; a thread's growth
 * up to 4 MiB is its own, and beyond it (up to 8 MiB) a share of a pool of
 * 32 MiB for all threads. Read from the "cache pool X of Y" field of
 * malloc_stats():
 *   - one thread churning SIZES sizes (600 KiB each) takes a share: its
 *     growth went past 4 MiB, and the share stays within 4 MiB (8 - 4);
 *   - malloc_trim gives its share back (0 B) while it lives;
 *   - a bin of 32-byte chunks grows to its clamp (65535 blocks, just under
 *     2 MiB) and the blocks it hands out keep their contents;
 *   - THREADS threads churning at once (4 MiB of shares wanted each) fill
 *     the pool past half, never past 32 MiB;
 *   - when the threads have exited, their shares are back: 0 B. */
#include "ptest.h"
#include <malloc.h>
#include <pthread.h>

#define THREADS 12
#define SIZES   12                                   /* bins 3 .. 14: 40 .. 216 bytes */
#define ROUNDS  10                                   /* a bin doubles once per round: 4 KiB -> 1 MiB takes 8 */
#define SMALL_N 70000                                /* 16-byte blocks (32-byte chunks): past the 65535 clamp */
#define MIB     ((double)(1 << 20))

static pthread_barrier_t churned, checked;

/* The "cache pool" field of malloc_stats(), in bytes. */
static double pooled(void) { return pt_stats_bytes("cache pool", NULL, "capgrow: "); }

/* Allocate, then free, 600 KiB worth of each size, ROUNDS times. */
static void churn(void) {
  enum { MAXN = 600 * 1024 / 40 };
  void **b = malloc(sizeof(void *) * MAXN);
  if (!b) exit(2);
  for (int r = 0; r < ROUNDS; r++)
    for (int s = 0; s < SIZES; s++) {
      size_t size = 40 + 16 * (size_t)s, n = 600 * 1024 / (size + 8);
      for (size_t i = 0; i < n; i++) { b[i] = malloc(size); memset(b[i], (int)i, 8); }
      for (size_t i = 0; i < n; i++) free(b[i]);
    }
  free(b);
}

/* The 32-byte-chunk bin up to its clamp; every block keeps what was written. */
static void churn_small(void) {
  uint64_t **b = malloc(sizeof(void *) * SMALL_N);
  if (!b) exit(2);
  int bad = 0;
  for (int r = 0; r < ROUNDS + 2; r++) {
    for (size_t i = 0; i < SMALL_N; i++) { b[i] = malloc(16); b[i][0] = i; b[i][1] = ~(uint64_t)i; }
    for (size_t i = 0; i < SMALL_N; i++) bad += b[i][0] != i || b[i][1] != ~(uint64_t)i;
    for (size_t i = 0; i < SMALL_N; i++) free(b[i]);
  }
  free(b);
  CHECK(bad == 0);
}

static void *worker(void *arg) {
  (void)arg;
  churn();
  pthread_barrier_wait(&churned);                    /* alive, caches held, while main reads the stats */
  pthread_barrier_wait(&checked);
  return NULL;
}

static void *single(void *arg) {
  double *out = arg;
  churn();
  out[0] = pooled();
  malloc_trim(0);
  out[1] = pooled();
  churn_small();
  return NULL;
}

static void start(pthread_t *th, void *(*fn)(void *), void *arg) {
  if (pthread_create(th, NULL, fn, arg) != 0) { perror("pthread_create"); exit(1); }
}

int main(void) {
  double one[2] = {-1, -1};
  pthread_t th[THREADS];
  start(&th[0], single, one);
  pthread_join(th[0], NULL);
  CHECK(one[0] > 0);                                 /* it grew past its own 4 MiB */
  CHECK(one[0] <= 4 * MIB);
  CHECK(one[1] == 0);                                /* malloc_trim gave the share back */
  CHECK(pooled() == 0);                              /* and its exit the rest */

  pthread_barrier_init(&churned, NULL, THREADS + 1);
  pthread_barrier_init(&checked, NULL, THREADS + 1);
  for (int i = 0; i < THREADS; i++) start(&th[i], worker, NULL);
  pthread_barrier_wait(&churned);
  double all = pooled();
  CHECK(all > 16 * MIB);                             /* they wanted 4 MiB of shares each */
  CHECK(all <= 32 * MIB);                            /* the pool */
  pthread_barrier_wait(&checked);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  CHECK(pooled() == 0);
  printf("one thread's share %.1f MiB, %d threads' %.1f MiB\n", one[0] / MIB, THREADS, all / MIB);
  return pt_report();
}
