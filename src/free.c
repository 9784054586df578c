/* free.c - umm_free, umm_free_nowait (the deferred stack), umm_drain,
 * umm_free_batch. */
#include "umm_internal.h"

static const char *const FREE_MSG[3] = {"free(): invalid pointer", "free(): double free",
                                         "free(): corrupted header (size does not match the next chunk)"};

void umm_free(umm_t *u, void *p) {
  if (!p) return;
  ummi_maybe_drain(u);
  umm_block_t *c = ummi_validate(u, p, FREE_MSG);
  UMMI_VG_FREE(p);                                  /* before the chunk is anyone else's */
  ummi_free_chunk(u, c, 0, FREE_MSG);
  UMM_CHECK_QUIET(u);
}

/* Sort by address. Batches from a LIFO cache often come in descending order:
 * reverse those in O(n). Otherwise up to UMMI_SORT_BUF pointers get a
 * bottom-up merge sort through a stack buffer (natural runs first, so a
 * batch made of a few sorted stretches takes few passes; measured on
 * python3's flushes: 6,000 -> ~2,000 instructions per 64-pointer batch);
 * longer batches a Shell sort (no recursion, no memory). */
#define UMMI_SORT_BUF 256
static size_t run_end(void **v, size_t i, size_t n) {
  while (i + 1 < n && (uintptr_t)v[i] <= (uintptr_t)v[i + 1]) i++;
  return i + 1;
}
static void merge_sort(void **v, size_t n) {
  void *buf[UMMI_SORT_BUF];
  void **a = v, **b = buf;
  size_t starts[UMMI_SORT_BUF + 1], nr = 0;
  for (size_t i = 0; i < n; i = run_end(v, i, n)) starts[nr++] = i;   /* natural ascending runs */
  starts[nr] = n;
  while (nr > 1) {
    size_t k = 0;
    for (size_t r = 0; r < nr; r += 2) {
      size_t lo = starts[r], mid = starts[r + 1], hi = r + 2 <= nr ? starts[r + 2] : n;   /* starts[nr] == n */
      size_t x = lo, y = mid, o = lo;
      while (x < mid && y < hi) b[o++] = (uintptr_t)a[y] < (uintptr_t)a[x] ? a[y++] : a[x++];
      while (x < mid) b[o++] = a[x++];
      while (y < hi) b[o++] = a[y++];
      starts[k++] = lo;
    }
    starts[k] = n;
    nr = k;
    void **t = a; a = b; b = t;
  }
  if (a != v) memcpy(v, a, n * sizeof *v);
}
static void sort_ptrs(void **v, size_t n) {
  size_t desc = 1;
  while (desc < n && (uintptr_t)v[desc - 1] >= (uintptr_t)v[desc]) desc++;
  if (desc == n) {
    for (size_t i = 0, j = n ? n - 1 : 0; i < j; i++, j--) { void *x = v[i]; v[i] = v[j]; v[j] = x; }
    return;
  }
  if (n <= UMMI_SORT_BUF) { merge_sort(v, n); return; }
  static const size_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
  for (size_t k = 0; k < sizeof gaps / sizeof gaps[0]; k++) {
    size_t gap = gaps[k];
    for (size_t i = gap; i < n; i++) {
      void *x = v[i];
      size_t j = i;
      for (; j >= gap && (uintptr_t)v[j - gap] > (uintptr_t)x; j -= gap) v[j] = v[j - gap];
      v[j] = x;
    }
  }
}

/* Fuse the run of k adjacent in-use chunks starting at c (all the caller's,
 * together g granules) into one in-use chunk, with every chunk of the run
 * locked (try-locks; all released and UMMI_CONTENDED on a failure). On
 * UMMI_OK c is left locked with header *h. Nothing outside the run changes:
 * its successor still follows an in-use chunk. */
static int run_fuse(umm_t *u, umm_block_t *c, size_t k, size_t g, uint64_t *h) {
  uint64_t hc, hx;
  if (!chunk_trylock(c, &hc)) { ummi_contended(u); return UMMI_CONTENDED; }
  umm_block_t *x = c;
  size_t i;
  for (i = 1; i < k; i++) {
    x = chunk_at(x, hdr_size(i == 1 ? hc : hx));
    if (!chunk_trylock(x, &hx)) break;
    if (ummi_unlikely(hdr_is_free(hx) || hdr_is_deferred(hx))) ummi_fatal(FREE_MSG[1], chunk_payload(x));
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
  if (ummi_unlikely(hdr_is_free(hc) || hdr_is_deferred(hc))) ummi_fatal(FREE_MSG[1], chunk_payload(c));
  x = c;
  uint64_t hy = hc;
  for (i = 1; i < k; i++) {                         /* inner headers die (they were ours, locked) */
    x = chunk_at(x, hdr_size(hy));
    hy = hdr_peek(x);
    __atomic_store_n(&x->hdr, HDR_DEAD, __ATOMIC_RELAXED);
  }
  *h = hdr_make(c, g, HDR_IN_USE | HDR_LOCK | (hc & HDR_PREV_FREE), 0);
  __atomic_store_n(&c->hdr, *h, __ATOMIC_RELAXED);
  return UMMI_OK;
}

/* Like n calls of umm_free, cheaper for blocks that lie next to each other
 * (a thread cache giving back what one batch carved): each run of adjacent
 * blocks is fused and released as one chunk, so one coalescing free per run.
 * Reorders ptrs (sorted by address). */
void umm_free_batch(umm_t *u, void **ptrs, size_t n) {
  ummi_maybe_drain(u);
  sort_ptrs(ptrs, n);
  size_t i = 0;
  while (i < n && !ptrs[i]) i++;                    /* NULLs sort first */
  while (i < n) {
    umm_block_t *c = ummi_validate(u, ptrs[i], FREE_MSG);
    size_t g = hdr_size(hdr_peek(c)), k = 1;
    while (i + k < n && chunk_of(ptrs[i + k]) == chunk_at(c, g)) {
      /* every block of the run gets the full test (its own successor too);
       * the lock in run_fuse checks in-use */
      size_t gx = hdr_size(hdr_peek(ummi_validate(u, ptrs[i + k], FREE_MSG)));
      if (g + gx > MAX_G) break;
      g += gx;
      k++;
    }
#if UMM_VALGRIND
    for (size_t j = 0; j < k; j++) UMMI_VG_FREE(ptrs[i + j]);
#endif
    uint64_t h;
    if (k > 1) {
      int r;
      while ((r = run_fuse(u, c, k, g, &h)) == UMMI_CONTENDED) ummi_backoff(u);
      if (ummi_release_locked(u, c, h) != UMMI_OK) ummi_free_chunk(u, c, 0, FREE_MSG);
    } else {
      ummi_free_chunk(u, c, 0, FREE_MSG);
    }
    i += k;
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
  umm_block_t *c = ummi_validate(u, p, FREE_MSG);
  uint64_t h = __atomic_load_n(&c->hdr, __ATOMIC_RELAXED);
  int took;                                         /* 1: we took the free lock; 0: it was busy */
  for (;;) {
    if (ummi_unlikely(hdr_is_free(h) || hdr_is_deferred(h))) ummi_fatal(FREE_MSG[1], p);
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
  ummi_free_chunk(u, c, 1, FREE_MSG);
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
