/* free.c - umm_free, umm_free_nowait (the deferred stack), umm_drain,
 * umm_free_batch. */
#include "umm_internal.h"

const char *const ummi_free_msg[3] = {"free(): invalid pointer", "free(): double free",
                                         "free(): corrupted header (size does not match the next chunk)"};

void umm_free(umm_t *u, void *p) {
  if (ummi_likely(p != NULL && __atomic_load_n(&u->deferred_count, __ATOMIC_RELAXED) == 0)) {
    ummi_free_fast(u, p);                           /* a tail call */
    return;
  }
  if (p) ummi_free_slow(u, p);
}

void ummi_free_slow(umm_t *u, void *p) {
  ummi_maybe_drain(u);
  umm_block_t *c = ummi_validate(u, p, ummi_free_msg);
  UMMI_VG_FREE(p);                                  /* before the chunk is anyone else's */
  ummi_free_chunk(u, c, 0, ummi_free_msg);
  UMM_CHECK_QUIET(u);
}

/* The inner chunks of the run at c (header hc, locked) when no walk is in
 * progress: 1 when every one is in use and unlocked (it is then fused
 * without taking its lock), 0 to take the locks after all. Why no lock is
 * needed: an inner chunk is in use, the caller's, and its predecessor is in
 * the run, so no neighbour operation touches it (a release locks only its
 * successor and its free predecessor; a claim only free chunks and their
 * successors); the only other lockers of an in-use chunk are walks and a
 * second free of the same block. A walk (umm_walk, or umm_memalign's
 * search) counts itself in u->walkers before its first lock (walk.c); one
 * that passed c before we locked it released c to us through a chain of lock
 * hand-offs (release/acquire), so its count is visible here; one that starts
 * later stops or waits at c, locked until the merged chunk is released. A
 * free of an inner block racing with this batch (a double free in two
 * threads at once) is not caught: sequential double frees are (the in-use
 * test below, and every free path's own). */
static int run_quiet(umm_t *u, umm_block_t *c, size_t k, uint64_t hc) {
  if (__atomic_load_n(&u->walkers, __ATOMIC_SEQ_CST) != 0) return 0;
  umm_block_t *x = c;
  uint64_t hx = hc;
  for (size_t i = 1; i < k; i++) {
    x = chunk_at(x, hdr_size(hx));
    hx = hdr_peek(x);
    if (ummi_unlikely(hdr_is_locked(hx))) return 0;
    if (ummi_unlikely(hdr_is_free(hx) || hdr_is_deferred(hx))) ummi_fatal(ummi_free_msg[1], chunk_payload(x));
  }
  return 1;
}

/* Fuse the run of k adjacent in-use chunks starting at c (all the caller's,
 * together g granules) into one in-use chunk, with every chunk of the run
 * locked (try-locks; all released and UMMI_CONTENDED on a failure), or only
 * c when no walk is in progress (run_quiet). On UMMI_OK c is left locked
 * with header *h. Nothing outside the run changes: its successor still
 * follows an in-use chunk. */
static int run_fuse(umm_t *u, umm_block_t *c, size_t k, size_t g, uint64_t *h) {
  uint64_t hc, hx;
  if (!chunk_trylock(c, &hc)) { ummi_contended(u); return UMMI_CONTENDED; }
  umm_block_t *x = c;
  size_t i;
  if (run_quiet(u, c, k, hc)) goto fuse;
  for (i = 1; i < k; i++) {
    x = chunk_at(x, hdr_size(i == 1 ? hc : hx));
    if (!chunk_trylock(x, &hx)) break;
    if (ummi_unlikely(hdr_is_free(hx) || hdr_is_deferred(hx))) ummi_fatal(ummi_free_msg[1], chunk_payload(x));
  }
  if (i < k) {                                      /* release the i chunks held, unchanged */
    ummi_contended(u);
    umm_block_t *y = c;
    uint64_t hy = hc;
    for (size_t j = 0; j < i; j++) {
      umm_block_t *next = chunk_at(y, hdr_size(hy));
      if (j + 1 < i) hy = hdr_peek(next);
      chunk_unlock(y);
      y = next;
    }
    return UMMI_CONTENDED;
  }
fuse:
  if (ummi_unlikely(hdr_is_free(hc) || hdr_is_deferred(hc))) ummi_fatal(ummi_free_msg[1], chunk_payload(c));
  x = c;
  uint64_t hy = hc;
  for (i = 1; i < k; i++) {                         /* inner headers die (ours: locked, or quiet) */
    x = chunk_at(x, hdr_size(hy));
    hy = hdr_peek(x);
    __atomic_store_n(&x->hdr, HDR_DEAD, __ATOMIC_RELAXED);
  }
  /* DEFERRED: "being freed" for walks, should the release below find a
   * neighbour busy and unlock it before freeing it again (as realloc's tails) */
  *h = hdr_make(c, g, HDR_IN_USE | HDR_DEFERRED | HDR_LOCK | (hc & HDR_PREV_FREE), 0);
  __atomic_store_n(&c->hdr, *h, __ATOMIC_RELAXED);
  return UMMI_OK;
}

/* Free the run of k adjacent blocks starting at c (g granules in all). A
 * single block takes umm_free's own path (its checks again, a few loads of
 * lines just read; the general lock loop only if a try-lock fails): a thread cache
 * flushing blocks that no longer lie side by side (bench fragment frees
 * every other block) paid about 270 instructions per block through
 * ummi_free_chunk. */
static void run_free(umm_t *u, umm_block_t *c, size_t k, size_t g) {
  if (k == 1) { ummi_free_fast(u, chunk_payload(c)); return; }   /* UMMI_VG_FREE inside */
#if UMM_VALGRIND
  for (umm_block_t *x = c; x != chunk_at(c, g); x = chunk_at(x, hdr_size(hdr_peek(x)))) UMMI_VG_FREE(chunk_payload(x));
#endif
  uint64_t h;
  while (run_fuse(u, c, k, g, &h) == UMMI_CONTENDED) ummi_backoff(u);
  if (ummi_release_locked(u, c, h) != UMMI_OK) ummi_free_chunk(u, c, 1, ummi_free_msg);   /* DEFERRED is ours */
}

/* Like n calls of umm_free, cheaper for blocks that lie next to each other
 * (a thread cache giving back what one batch carved): each run of adjacent
 * blocks is fused and released as one chunk, so one coalescing free per run.
 *
 * Runs are found without sorting or searching: the blocks of a group of up
 * to UMMI_BATCH_GROUP go into a direct-mapped table of chunk addresses (a
 * colliding block just overwrites the slot), and each block looks up its
 * physical successor with one load and one compare. A successor lost to a
 * collision only costs a fusion, never correctness (the entry found is
 * compared with the address). Before this, a probing table's loop and, before
 * it, a merge sort's compares mispredicted: 5-20 % of python3's and churn's
 * time. A block given twice is freed twice in order: the second free (or the
 * fuse of a run it sits in) finds it free and reports the double free. */
#define UMMI_BATCH_GROUP 64u
#define UMMI_BATCH_SLOTS 256u                       /* a power of two */
static inline unsigned batch_slot(const umm_block_t *c) {
  return (unsigned)((((uint64_t)(uintptr_t)c >> 4) * 0x9e3779b97f4a7c15ull) >> 56);
}
void umm_free_batch(umm_t *u, void **ptrs, size_t n) {
  ummi_maybe_drain(u);
  umm_block_t *c[UMMI_BATCH_GROUP];
  size_t g[UMMI_BATCH_GROUP];
  unsigned char next[UMMI_BATCH_GROUP], linked[UMMI_BATCH_GROUP], slot[UMMI_BATCH_SLOTS];
  size_t i = 0;
  while (i < n) {
    unsigned m = 0;
    memset(slot, 0, sizeof slot);                  /* block index + 1; 0 empty */
    for (; i < n && m < UMMI_BATCH_GROUP; i++) {
      if (!ptrs[i]) continue;
      umm_block_t *b = ummi_validate(u, ptrs[i], ummi_free_msg);
      c[m] = b;
      g[m] = hdr_size(hdr_peek(b));
      linked[m] = 0;
      slot[batch_slot(b)] = (unsigned char)(m + 1);
      m++;
    }
    for (unsigned k = 0; k < m; k++) {             /* successor links */
      umm_block_t *s = chunk_at(c[k], g[k]);
      unsigned t = slot[batch_slot(s)];
      unsigned v = t && c[t - 1] == s ? t - 1 : 0xffu;
      next[k] = (unsigned char)v;
      if (v != 0xffu) linked[v] = 1;
    }
    for (unsigned k = 0; k < m; k++) {             /* each run from its head */
      if (linked[k]) continue;
      unsigned x = k;
      while (x != 0xff) {
        umm_block_t *head = c[x];
        size_t total = g[x], cnt = 1;
        for (x = next[x]; x != 0xff && total + g[x] <= MAX_G; x = next[x]) { total += g[x]; cnt++; }
        run_free(u, head, cnt, total);             /* x: the rest of an over-long run, or none */
      }
    }
  }
  UMM_CHECK_QUIET(u);
}

/* Lock-free, never waits. The chunk is marked DEFERRED and handed to the next
 * waiting call (or umm_drain), in one of two ways:
 *  - its lock is free: one CAS takes the lock and sets DEFERRED; the stack
 *    link is written into the payload under that lock (so a walker, which
 *    reads content only under the chunk's lock, never sees it change), the
 *    chunk is pushed on the deferred stack (CAS) and unlocked;
 *  - its lock is busy (a walker, a neighbour's operation, or the very thread
 *    this signal handler interrupted holds it): DEFERRED is set by a CAS that
 *    keeps the lock bit (holders of foreign in-use chunks unlock by RMW, see
 *    heap.c), and the pointer is parked in a free slot of deferred_slot[]
 *    (CAS into NULL): no payload write. Only when all UMMI_DEFER_SLOTS slots
 *    are taken does it fall back to the stack link (then a walker visiting
 *    this chunk at that moment may see its first word change).
 * The count goes up before the chunk is published and down after each merge,
 * so it never drops below the number still waiting. */
void umm_free_nowait(umm_t *u, void *p) {
  if (!p) return;
  umm_block_t *c = ummi_validate(u, p, ummi_free_msg);
  uint64_t h = __atomic_load_n(&c->hdr, __ATOMIC_RELAXED);
  int took;                                         /* 1: we took the free lock; 0: it was busy */
  for (;;) {
    if (ummi_unlikely(hdr_is_free(h) || hdr_is_deferred(h))) ummi_fatal(ummi_free_msg[1], p);
    took = !hdr_is_locked(h);
    uint64_t n = h | HDR_DEFERRED | (took ? HDR_LOCK : 0);
    if (__atomic_compare_exchange_n(&c->hdr, &h, n, 1, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) { h = n; break; }
  }
  UMMI_VG_FREE(p);                                  /* DEFERRED is ours: no longer the program's */
  __atomic_fetch_add(&u->deferred_count, 1, __ATOMIC_RELAXED);
  if (!took) {
    ummi_contended(u);
    for (unsigned i = 0; i < UMMI_DEFER_SLOTS; i++) {
      umm_block_t *z = NULL;
      if (__atomic_load_n(&u->deferred_slot[i], __ATOMIC_RELAXED) == NULL &&
          __atomic_compare_exchange_n(&u->deferred_slot[i], &z, c, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        return;
    }
  }
  umm_block_t *head = __atomic_load_n(&u->deferred, __ATOMIC_RELAXED);
  do {
    ummi_meta_set(&c->next, head);
  } while (!__atomic_compare_exchange_n(&u->deferred, &head, c, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
  if (took) chunk_unlock_store(c, h);               /* our own block: nobody else wrote the word */
}

static void drain_one(umm_t *u, umm_block_t *c) {
  ummi_free_chunk(u, c, 1, ummi_free_msg);
  __atomic_fetch_sub(&u->deferred_count, 1, __ATOMIC_RELAXED);
}

void ummi_drain(umm_t *u) {
  umm_block_t *c = __atomic_exchange_n(&u->deferred, NULL, __ATOMIC_ACQUIRE);
  while (c) {
    umm_block_t *next = ummi_meta_get(&c->next);    /* read before c stops being ours */
    drain_one(u, c);
    c = next;
  }
  for (unsigned i = 0; i < UMMI_DEFER_SLOTS; i++)
    if (__atomic_load_n(&u->deferred_slot[i], __ATOMIC_RELAXED) &&
        (c = __atomic_exchange_n(&u->deferred_slot[i], NULL, __ATOMIC_ACQUIRE)) != NULL)
      drain_one(u, c);
}

void umm_drain(umm_t *u) {
  ummi_drain(u);
  UMM_CHECK_QUIET(u);
}
