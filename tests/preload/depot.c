/* depot.c - what a thread leaves in its cache when it exits goes to the
 * depot (cache.c), not back to the core, and the next thread that needs
 * blocks of that size takes it:
 *   - after thread A freed N blocks and exited, a heap walk reports every one
 *     of them cached (not live: no leak report; not free in the core);
 *   - thread B, started afterwards, gets exactly those N blocks back; the
 *     first (the block its refill returns) carries B's own thread tag
 *     (UMM_TAG=thread, the default; the others keep A's, tag.c);
 *   - a second free of a block parked in the depot is reported as a double
 *     free (checked in a child process);
 *   - malloc_trim gives the depot's blocks back to the core: the walk then
 *     sees none of them cached.
 * With argument "decay" (run with UMM_PURGE_DELAY=50): A's magazine, which
 * no thread takes, goes back to the core by itself once two purge
 * intervals have passed with allocator calls in them (decay, cache.c).
 * depot.sh also checks the UMM_STATS line that counts depot refills.
 * N is above the bin's starting limit (9 blocks of SIZE): A's frees
 * overflow the bin, which parks a magazine, and A's exit parks the rest;
 * B's refills take them back one magazine at a time. */
#include "ptest.h"
#include "umm_debug.h"
#include <malloc.h>
#include <pthread.h>
#include <time.h>

#define N    20
#define SIZE 424                                     /* a size class nothing else here uses */

static void *mine[N];                                /* A's blocks */
static void *got[N];                                 /* B's blocks */
static uint32_t tag_reused, tag_fresh;

static void *thread_a(void *arg) {
  (void)arg;
  for (int i = 0; i < N; i++) { mine[i] = malloc(SIZE); memset(mine[i], 0xa5, SIZE); }
  for (int i = 0; i < N; i++) free(mine[i]);
  return NULL;                                       /* exit: the bin goes to the depot */
}

static void *thread_b(void *arg) {
  (void)arg;
  for (int i = 0; i < N; i++) got[i] = malloc(SIZE);
  void *fresh = malloc(3000);                        /* from the core: this thread's tag */
  tag_reused = umm_tag_of(got[0]);
  tag_fresh = umm_tag_of(fresh);
  free(fresh);
  for (int i = 0; i < N; i++) free(got[i]);
  return NULL;
}

typedef struct { int cached, live, free_core; } count_t;
static int visit(const umm_chunk_t *c, void *arg) {
  count_t *k = arg;
  for (int i = 0; i < N; i++) {
    if (c->ptr != mine[i]) continue;
    if (c->flags & UMM_CHUNK_CACHED) k->cached++;
    else if (c->in_use) k->live++;
    else k->free_core++;
  }
  return 0;
}
static count_t walk(void) {
  count_t k = {0, 0, 0};
  CHECK(umm_heap_walk(visit, &k) == 0);
  return k;
}

static int is_mine(const void *p) {
  for (int i = 0; i < N; i++) if (mine[i] == p) return 1;
  return 0;
}

static void free_again(void *p) { free(p); }

/* Slow-path calls (a medium size, no cache bin of SIZE) for a while. */
static void calls_for(int ms) {
  struct timespec ts = {0, 5 * 1000000L};
  for (int i = 0; i < ms / 5; i++) {
    for (int k = 0; k < 100; k++) { void *p = malloc(5000); memset(p, 1, 64); free(p); }
    nanosleep(&ts, NULL);
  }
}

static int decay(void) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, thread_a, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(walk().cached == N);                         /* parked */
  calls_for(300);                                    /* several 50 ms intervals */
  count_t k = walk();
  CHECK(k.cached == 0);                              /* given back, unused */
  CHECK(k.live == 0);
  return pt_report();
}

int main(int argc, char **argv) {
  CHECK(pt_preloaded());
  CHECK(umm_heap_walk != NULL && umm_tag_of != NULL);
  if (argc > 1 && !strcmp(argv[1], "decay")) return decay();
  pthread_t t;
  CHECK(pthread_create(&t, NULL, thread_a, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);

  count_t k = walk();
  CHECK(k.cached == N);                              /* parked, still cached */
  CHECK(k.live == 0);

  char line[256];
  int sig = pt_child(free_again, mine[N / 2], line, sizeof line);
  CHECK(sig == SIGABRT);
  CHECK(strstr(line, "double free") != NULL);

  CHECK(pthread_create(&t, NULL, thread_b, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  int reused = 0;
  for (int i = 0; i < N; i++) reused += is_mine(got[i]);
  CHECK(reused == N);                                /* B took A's magazine */
  const char *mode = getenv("UMM_TAG");
  if (!mode || !strcmp(mode, "thread"))             /* the default: tags name the thread */
    CHECK(tag_reused != 0 && tag_reused == tag_fresh);  /* tagged for B */

  k = walk();                                        /* B exited: parked again */
  CHECK(k.cached == N);
  malloc_trim(0);
  k = walk();
  CHECK(k.cached == 0);                              /* back in the core */
  CHECK(k.live == 0);
  return pt_report();
}
