/* stress.c - thread stress through the malloc API: every block carries a
 * pattern derived from its address, size and a seed, checked before it is
 * freed or reallocated; a quarter of the blocks change hands through a
 * shared array (cross-thread frees); threads are re-created each round.
 * usage: stress THREADS [ROUNDS [OPS]]  (stress.sh runs 2 and 8 threads) */
#include "ptest.h"
#include <pthread.h>

#define SLOTS 512
#define SHARED 1024
static void *shared[SHARED];                       /* blocks in transit between threads */
static size_t shared_n[SHARED];
static long ops_per_round = 200000;
static long verify_fail;

typedef struct { void *p; size_t n; } blk_t;

static size_t pick_size(uint64_t *s) {
  uint64_t r = pt_rand(s);
  if (r % 1000 == 0) return (size_t)(r >> 20) % (40u << 20);  /* up to 40 MiB: large blocks too */
  switch (r % 100) {
    case 0: return (size_t)(r >> 20) % (1u << 20);             /* up to 1 MiB */
    case 1: case 2: case 3: return (size_t)(r >> 20) % 70000;  /* mid */
    default: return (size_t)(r >> 20) % 1100;                  /* small (cache) */
  }
}

static void check_free(void *p, size_t n) {
  if (!p) return;
  if (!pt_verify(p, n, 0xabc)) __atomic_fetch_add(&verify_fail, 1, __ATOMIC_RELAXED);
  free(p);
}

static void *run(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg * 0x12345 + 1;
  blk_t *b = calloc(SLOTS, sizeof *b);
  for (long i = 0; i < ops_per_round; i++) {
    unsigned k = (unsigned)(pt_rand(&s) % SLOTS);
    uint64_t r = pt_rand(&s);
    if (r % 8 == 0 && b[k].p) {                     /* realloc, keeping the verified prefix */
      size_t n = pick_size(&s);
      if (!pt_verify(b[k].p, b[k].n, 0xabc)) __atomic_fetch_add(&verify_fail, 1, __ATOMIC_RELAXED);
      void *q = realloc(b[k].p, n ? n : 1);
      if (q) { b[k].p = q; b[k].n = n ? n : 1; pt_fill(q, b[k].n, 0xabc); }
    } else if (r % 4 == 1) {                        /* exchange with the shared array */
      unsigned j = (unsigned)(pt_rand(&s) % SHARED);
      /* publish size before pointer: the slot is a pair swapped under a tiny spin */
      void *mine = b[k].p;
      size_t mn = b[k].n;
      void *theirs;
      size_t tn;
      while ((theirs = __atomic_exchange_n(&shared[j], (void *)1, __ATOMIC_ACQUIRE)) == (void *)1) {}
      tn = shared_n[j];
      shared_n[j] = mn;
      __atomic_store_n(&shared[j], mine, __ATOMIC_RELEASE);
      b[k].p = theirs;
      b[k].n = tn;
    } else {
      check_free(b[k].p, b[k].n);
      size_t n = pick_size(&s);
      void *p = (r % 3) ? malloc(n) : calloc(1, n);
      if (!p) { b[k].p = NULL; continue; }
      if (!(r % 3)) for (size_t z = 0; z < n; z += 61) if (((unsigned char *)p)[z]) __atomic_fetch_add(&verify_fail, 1, __ATOMIC_RELAXED);
      pt_fill(p, n, 0xabc);
      b[k].p = p;
      b[k].n = n;
    }
  }
  /* keep half the blocks for the next round's threads (they free them) */
  for (unsigned k = 0; k < SLOTS; k++) {
    if (k % 2) { check_free(b[k].p, b[k].n); continue; }
    unsigned j = k % SHARED;
    void *theirs;
    while ((theirs = __atomic_exchange_n(&shared[j], (void *)1, __ATOMIC_ACQUIRE)) == (void *)1) {}
    size_t tn = shared_n[j];
    shared_n[j] = b[k].n;
    __atomic_store_n(&shared[j], b[k].p, __ATOMIC_RELEASE);
    check_free(theirs, tn);
  }
  free(b);
  return NULL;
}

int main(int argc, char **argv) {
  int nt = argc > 1 ? atoi(argv[1]) : 2;
  int rounds = argc > 2 ? atoi(argv[2]) : 4;
  if (argc > 3) ops_per_round = atol(argv[3]);
  CHECK(pt_preloaded());
  for (int r = 0; r < rounds; r++) {
    pthread_t t[64];
    for (int i = 0; i < nt; i++) pthread_create(&t[i], NULL, run, (void *)(uintptr_t)(r * 100 + i + 1));
    for (int i = 0; i < nt; i++) pthread_join(t[i], NULL);
  }
  for (unsigned j = 0; j < SHARED; j++) check_free(shared[j], shared_n[j]);
  CHECK(verify_fail == 0);
  return pt_report();
}
