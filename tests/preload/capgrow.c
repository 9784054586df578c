/* capgrow.c - how far thread caches may grow (cache.c, "adaptive bin
 * limits"). A thread that allocates and then frees more blocks of a size
 * than its bin holds, round after round, doubles that bin's limit once per
 * round, up to UMMP_BIN_CAP bytes; the growth of one thread stays within
 * UMMP_THREAD_CAP and that of all threads together within UMMP_CACHE_CAP.
 * Read from the "limits grown X of Y" field of malloc_stats():
 *   - one thread churning SIZES sizes (600 KiB each) grows past 4 MiB (the
 *     old per-thread cap) and stays within its own cap, 8 MiB;
 *   - THREADS threads doing the same at once grow to within the overall
 *     cap, 32 MiB, and past half of it;
 *   - when they have exited, the growth they held is given back: 0 B. */
#include "ptest.h"
#include <malloc.h>
#include <pthread.h>

#define THREADS 8
#define SIZES   12                                   /* bins 3 .. 14: 40 .. 216 bytes */
#define ROUNDS  10                                   /* a bin doubles once per round: 4 KiB -> 1 MiB takes 8 */
#define MIB     ((double)(1 << 20))

static pthread_barrier_t churned, checked;

/* The "limits grown" field of malloc_stats(), in bytes (stderr briefly
 * goes to a file). */
static double grown(void) {
  FILE *f = tmpfile();
  if (!f) { perror("tmpfile"); exit(2); }
  fflush(stderr);
  int saved = dup(2);
  dup2(fileno(f), 2);
  malloc_stats();
  dup2(saved, 2);
  close(saved);
  rewind(f);
  char line[512];
  double v = -1;
  while (fgets(line, sizeof line, f)) {
    const char *p = strstr(line, "limits grown ");
    char unit[8];
    double x;
    if (p && sscanf(p, "limits grown %lf %7s", &x, unit) == 2) {
      v = x * (!strcmp(unit, "KiB") ? 1024.0 : !strcmp(unit, "MiB") ? MIB : !strcmp(unit, "GiB") ? MIB * 1024 : 1.0);
      fprintf(stderr, "capgrow: %s", p);
    }
  }
  fclose(f);
  return v;
}

/* Allocate, then free, 600 KiB worth of each size, ROUNDS times. */
static void churn(void) {
  enum { MAXN = 600 * 1024 / 40 };
  void **b = malloc(sizeof(void *) * MAXN);
  for (int r = 0; r < ROUNDS; r++)
    for (int s = 0; s < SIZES; s++) {
      size_t size = 40 + 16 * (size_t)s, n = 600 * 1024 / (size + 8);
      for (size_t i = 0; i < n; i++) { b[i] = malloc(size); memset(b[i], (int)i, 8); }
      for (size_t i = 0; i < n; i++) free(b[i]);
    }
  free(b);
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
  *out = grown();
  return NULL;
}

int main(void) {
  double one = -1;
  pthread_t th[THREADS];
  CHECK(pthread_create(&th[0], NULL, single, &one) == 0);
  pthread_join(th[0], NULL);
  CHECK(one > 4 * MIB);                              /* one thread may hold more than the old 4 MiB cap */
  CHECK(one <= 8 * MIB);
  CHECK(grown() == 0);                               /* its growth went with it */

  pthread_barrier_init(&churned, NULL, THREADS + 1);
  pthread_barrier_init(&checked, NULL, THREADS + 1);
  for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, worker, NULL) == 0);
  pthread_barrier_wait(&churned);
  double all = grown();
  CHECK(all > 16 * MIB);                             /* they wanted 8 MiB each */
  CHECK(all <= 32 * MIB);                            /* but all together stay within the overall cap */
  pthread_barrier_wait(&checked);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  CHECK(grown() == 0);
  printf("one thread %.1f MiB, %d threads %.1f MiB\n", one / MIB, THREADS, all / MIB);
  return pt_report();
}
