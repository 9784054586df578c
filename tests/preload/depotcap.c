/* depotcap.c - how much the depot (cache.c) may hold: at most 256
 * magazines per small size class and UMMP_DEPOT_CAP (Y, 16 MiB) in all,
 * read from the "holding X of Y" field of malloc_stats():
 *   - the main thread allocates about 4 MiB over SIZES small sizes for each
 *     of THREADS consumer threads, which verify and free them and exit:
 *     threads that free more than they allocate park whole magazines (up to
 *     256 a bin), so 64 MiB is offered, more than either bound lets in.
 *     What the depot holds afterwards is over 3/4 of Y and at most Y; what
 *     did not fit went back to the core, and the heap checks out (a refused
 *     magazine is put back on its bin, then flushed);
 *   - THREADS threads then allocate the same again, writing and verifying
 *     every block (magazines handed over keep working lists), free them and
 *     exit;
 *   - malloc_trim gives what is left back to the core: 0 B, no chunk
 *     cached any more (none was lost), heap intact.
 * depotcap.sh turns purging off, so no decay step empties the depot midway. */
#include "ptest.h"
#include "umm_debug.h"
#include <malloc.h>
#include <pthread.h>

#define THREADS 16
#define SIZES   40                                   /* 40 .. 664 bytes: small bins 3 .. 42 */
#define PER     ((size_t)4 << 20)                    /* bytes each thread allocates */
#define MIB     ((double)(1 << 20))

/* The "holding X of Y" field of malloc_stats() (depot bytes): X in bytes,
 * Y (the cap) in *cap. */
static double holding(double *cap) { return pt_stats_bytes("holding", cap, "depotcap: "); }

/* Chunks the heap walk reports as cached (in a thread cache or the depot). */
static int count_cached(const umm_chunk_t *c, void *arg) {
  if (c->flags & UMM_CHUNK_CACHED) ++*(size_t *)arg;
  return 0;
}
static size_t cached_chunks(void) {
  size_t k = 0;
  umm_heap_walk(count_cached, &k);
  return k;
}

/* One thread's worth of blocks, b[0..): (PER / SIZES) bytes of each size.
 * make: allocate and fill them from seed; else verify and free them.
 * Returns how many (b NULL: only count). */
static size_t blocks(void **b, uint64_t seed, int make) {
  size_t n = 0;
  int bad = 0;
  for (int s = 0; s < SIZES; s++) {
    size_t size = 40 + 16 * (size_t)s;
    for (size_t i = 0; i < (PER / SIZES) / size; i++, n++) {
      if (!b) continue;
      if (make) {
        if (!(b[n] = malloc(size))) exit(2);
        pt_fill(b[n], size, seed);
      } else {
        bad += !pt_verify(b[n], size, seed);
        free(b[n]);
      }
    }
  }
  if (b && !make) CHECK(bad == 0);
  return n;
}

typedef struct { void **b; uint64_t seed; } job_t;

static void *consumer(void *arg) {                   /* frees what main allocated, allocates nothing */
  job_t *j = arg;
  blocks(j->b, j->seed, 0);
  return NULL;                                       /* exit: its cache goes to the depot too */
}

static void *worker(void *arg) {                     /* allocates, then frees, its own */
  job_t *j = arg;
  blocks(j->b, j->seed, 1);
  blocks(j->b, j->seed, 0);
  return NULL;
}

static void run_threads(void *(*fn)(void *), job_t *jobs) {
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    if (pthread_create(&th[i], NULL, fn, &jobs[i]) != 0) { perror("pthread_create"); exit(1); }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
}

int main(void) {
  job_t jobs[THREADS];
  for (int i = 0; i < THREADS; i++) {
    jobs[i].b = malloc(sizeof(void *) * blocks(NULL, 0, 0));
    if (!jobs[i].b) exit(2);
    jobs[i].seed = 100 + (uint64_t)i;
    blocks(jobs[i].b, jobs[i].seed, 1);
  }
  double cap = 0;
  run_threads(consumer, jobs);
  double full = holding(&cap);
  CHECK(cap >= 4 * MIB && cap < 64 * MIB);           /* the test offers 64 MiB: more than the cap */
  CHECK(full > cap * 3 / 4);                         /* the exits parked */
  CHECK(full <= cap);                                /* UMMP_DEPOT_CAP */
  CHECK(umm_heap_check() == 0);
  for (int i = 0; i < THREADS; i++) jobs[i].seed = 200 + (uint64_t)i;
  run_threads(worker, jobs);                         /* take magazines first, then park again */
  double again = holding(NULL);
  CHECK(again <= cap);
  CHECK(umm_heap_check() == 0);
  malloc_trim(0);
  CHECK(cached_chunks() == 0);                       /* no magazine lost on the way (a refused put went back) */
  CHECK(holding(NULL) == 0);
  CHECK(umm_heap_check() == 0);
  for (int i = 0; i < THREADS; i++) free(jobs[i].b);
  printf("depot after the first exits %.1f MiB, after the second %.1f MiB (cap %.1f MiB)\n", full / MIB, again / MIB,
         cap / MIB);
  return pt_report();
}
