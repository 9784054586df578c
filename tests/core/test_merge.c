/* test_merge.c - neighbours freed concurrently by different threads, so that
 * merges with a free predecessor and with a free successor race each other
 * (heap.c: merge_one_locked, release_merge_locked, their failure paths).
 *   test_merge [-t threads] [-r rounds] [-n blocks per round] [-s seed] [-m MiB]
 * Each round: thread 0 allocates n blocks (contiguous, from the coalesced
 * region), gives them to the threads by a pattern (interleaved, pairs, random),
 * then all threads free theirs at once (ascending / descending / random order;
 * umm_free, umm_free_nowait + umm_drain, or umm_free_batch of one). After each
 * round: umm_check == 0, fully coalesced, back to the initial stats. */
#include "../check.h"
#include <pthread.h>

#define MAXT 16
static umm_t *U;
static umm_stats_t g_init;
static int T = 4;
static size_t N = 2000;
static void **g_blk;
static int *g_owner;
static int g_order, g_mode;
static pthread_barrier_t g_bar;
static volatile int g_done;
static uint64_t g_seed;

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  size_t *mine = malloc(N * sizeof *mine);
  for (;;) {
    pthread_barrier_wait(&g_bar);
    if (g_done) break;
    size_t k = 0;
    for (size_t i = 0; i < N; i++) if (g_owner[i] == id) mine[k++] = i;
    uint64_t rs = g_seed * 131u + (uint64_t)id;
    if (g_order == 1) for (size_t i = 0; i < k / 2; i++) { size_t t = mine[i]; mine[i] = mine[k - 1 - i]; mine[k - 1 - i] = t; }
    if (g_order == 2) for (size_t i = k; i > 1; i--) { size_t j = check_below(&rs, i); size_t t = mine[i - 1]; mine[i - 1] = mine[j]; mine[j] = t; }
    for (size_t i = 0; i < k; i++) {
      void *p = g_blk[mine[i]];
      int mode = g_mode == 3 ? (int)check_below(&rs, 3) : g_mode;
      if (mode == 0) umm_free(U, p);
      else if (mode == 1) { umm_free_nowait(U, p); if ((i & 7) == 0) umm_drain(U); }
      else umm_free_batch(U, &p, 1);
    }
    umm_drain(U);
    pthread_barrier_wait(&g_bar);
  }
  free(mine);
  return NULL;
}

#ifndef MERGE_DEFAULT_ROUNDS
#define MERGE_DEFAULT_ROUNDS 2000
#endif

int main(int argc, char **argv) {
  int rounds = MERGE_DEFAULT_ROUNDS, opt;
  uint64_t seed = 1;
  size_t mb = 8;
  while ((opt = getopt(argc, argv, "t:r:n:s:m:")) != -1) {
    switch (opt) {
    case 't': T = atoi(optarg); break;
    case 'r': rounds = atoi(optarg); break;
    case 'n': N = (size_t)strtoull(optarg, NULL, 0); break;
    case 's': seed = strtoull(optarg, NULL, 0); break;
    case 'm': mb = (size_t)strtoull(optarg, NULL, 0); break;
    default: return 2;
    }
  }
  if (T < 1 || T > MAXT) return 2;
  check_install_fatal();
  size_t bytes = mb << 20;
  void *space = aligned_alloc(4096, bytes);
  U = umm_init(space, bytes);
  CHECK(U != NULL);
  umm_get_stats(U, &g_init);
  g_blk = calloc(N, sizeof *g_blk);
  g_owner = calloc(N, sizeof *g_owner);
  pthread_barrier_init(&g_bar, NULL, (unsigned)T + 1);
  pthread_t th[MAXT];
  for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
  uint64_t rs = seed;
  /* sizes: exact-bin sizes (merged bin differs), and large ranged sizes where
   * a merge with a small neighbour often stays in the same bin */
  static const size_t sizes[] = { 24, 40, 100, 200, 480, 1000, 3000, 9000, 40000 };
  const size_t nsz = sizeof sizes / sizeof sizes[0];
  unsigned long fails = 0;
  for (int r = 0; r < rounds && !fails; r++) {
    g_seed = check_rand(&rs);
    int sizemode = (int)check_below(&rs, 4);
    size_t fixed = sizes[check_below(&rs, nsz)];
    size_t total = 0;
    for (size_t i = 0; i < N; i++) {
      size_t s;
      if (sizemode == 0) s = fixed;
      else if (sizemode == 1) s = sizes[check_below(&rs, 4)];            /* small, exact bins */
      else if (sizemode == 2) s = (i & 1) ? 24 : sizes[5 + check_below(&rs, 4)]; /* big/small alternating: same-bin merges */
      else s = 16 + check_below(&rs, 5000);
      if (total + s + 64 > bytes / 2) { s = 0; }
      g_blk[i] = s ? umm_malloc(U, s, 0) : umm_malloc(U, 16, 0);
      CHECK(g_blk[i] != NULL);
      total += umm_usable_size(g_blk[i]) + 8;
    }
    int pat = (int)check_below(&rs, 4);
    for (size_t i = 0; i < N; i++) {
      if (pat == 0) g_owner[i] = (int)(i % (size_t)T);
      else if (pat == 1) g_owner[i] = (int)((i / 2) % (size_t)T);
      else if (pat == 2) g_owner[i] = (int)(i < N / 2 ? (i % (size_t)T) : ((i + 1) % (size_t)T));
      else g_owner[i] = (int)check_below(&rs, (size_t)T);
    }
    g_order = (int)check_below(&rs, 3);
    g_mode = (int)check_below(&rs, 4);
    pthread_barrier_wait(&g_bar);   /* go */
    pthread_barrier_wait(&g_bar);   /* all freed */
    fails += check_back_to_initial(U, &g_init);
    if (fails) fprintf(stderr, "round %d failed (sizemode %d pat %d order %d mode %d)\n", r, sizemode, pat, g_order, g_mode);
  }
  g_done = 1;
  pthread_barrier_wait(&g_bar);
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  umm_stats_t st;
  umm_get_stats(U, &st);
  printf("contention %llu\n", (unsigned long long)st.contention);
  CHECK_EQ(umm_check(U), 0);
  return check_report();
}
