/* free.c - umm_free, umm_free_nowait (the deferred stack), umm_drain,
 * umm_free_batch. */
#include "umm_internal.h"

static const char *const FREE_MSG[2] = {"free(): invalid pointer", "free(): double free"};

void umm_free(umm_t *u, void *p) {
  if (!p) return;
  ummi_maybe_drain(u);
  ummi_free_chunk(u, ummi_validate(u, p, FREE_MSG), 0, FREE_MSG);
  UMM_CHECK_QUIET(u);
}

/* Sort by address. Batches from a LIFO cache often come in descending order:
 * reverse those in O(n); otherwise a Shell sort (no recursion, no memory). */
static void sort_ptrs(void **v, size_t n) {
  size_t desc = 1;
  while (desc < n && (uintptr_t)v[desc - 1] >= (uintptr_t)v[desc]) desc++;
  if (desc == n) {
    for (size_t i = 0, j = n ? n - 1 : 0; i < j; i++, j--) { void *x = v[i]; v[i] = v[j]; v[j] = x; }
    return;
  }
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
      /* Inside the region (it follows a valid chunk), so validate's bounds
       * and successor tests are implied; the lock in run_fuse checks in-use. */
      umm_block_t *x = chunk_of(ptrs[i + k]);
      uint64_t hx = hdr_peek(x);
      if (ummi_unlikely(hx == HDR_DEAD)) ummi_fatal(FREE_MSG[1], ptrs[i + k]);
      size_t gx = hdr_size(hx);
      if (ummi_unlikely(!hdr_check_ok(x, hx) || gx < MIN_G)) ummi_fatal(FREE_MSG[0], ptrs[i + k]);
      if (g + gx > MAX_G) break;
      g += gx;
      k++;
    }
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

/* Lock-free: mark the chunk DEFERRED with a CAS that keeps the rest of the
 * word (so it works while a neighbour, a walker or the very thread this
 * signal handler interrupted holds the chunk's lock; see heap.c) and push it
 * on the deferred stack. */
void umm_free_nowait(umm_t *u, void *p) {
  if (!p) return;
  umm_block_t *c = ummi_validate(u, p, FREE_MSG);
  uint64_t h = __atomic_load_n(&c->hdr, __ATOMIC_RELAXED);
  do {
    if (ummi_unlikely(hdr_is_free(h) || hdr_is_deferred(h))) ummi_fatal(FREE_MSG[1], p);
  } while (!__atomic_compare_exchange_n(&c->hdr, &h, h | HDR_DEFERRED, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  /* Count before the push and uncount after each merge: the count never
   * drops below the number of chunks still waiting. */
  __atomic_fetch_add(&u->deferred_count, 1, __ATOMIC_RELAXED);
  umm_block_t *head = __atomic_load_n(&u->deferred, __ATOMIC_RELAXED);
  do {
    c->next = head;
  } while (!__atomic_compare_exchange_n(&u->deferred, &head, c, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

void ummi_drain(umm_t *u) {
  umm_block_t *c = __atomic_exchange_n(&u->deferred, NULL, __ATOMIC_ACQUIRE);
  while (c) {
    umm_block_t *next = c->next;                    /* read before c stops being ours */
    ummi_free_chunk(u, c, 1, FREE_MSG);
    __atomic_fetch_sub(&u->deferred_count, 1, __ATOMIC_RELAXED);
    c = next;
  }
}

void umm_drain(umm_t *u) {
  ummi_drain(u);
  UMM_CHECK_QUIET(u);
}
