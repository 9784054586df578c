/* memalign.c - umm_memalign.
 * Fast path: over-allocate size + alignment from the index, then give back
 * the front and the tail as free chunks (through the ordinary release, so they
 * coalesce). When that over-allocation cannot be had (it would exceed one
 * chunk, or no chunk that large is free) but a smaller free chunk holds an
 * aligned spot, a hand-over-hand walk finds and claims that chunk: O(chunks),
 * only for such large aligned requests. */
#include "umm_internal.h"

static const char *const MEMALIGN_MSG[3] = {"memalign(): invalid pointer", "memalign(): double free",
                                             "memalign(): corrupted header"};

/* Offset in granules from c's payload to the first usable aligned spot: 0,
 * or at least MIN_G so the front can become a chunk of its own. */
static size_t front_gap(const umm_block_t *c, size_t alignment) {
  uintptr_t p = (uintptr_t)c + UMM_HEADER_SIZE;
  if (!(p & (alignment - 1))) return 0;
  uintptr_t q = (p + MIN_G * G + alignment - 1) & ~(uintptr_t)(alignment - 1);
  return (q - p) / G;
}

/* Walk to a free chunk with an aligned spot for g granules; claim it whole
 * (its bin and successor locked by the walk). Returns it locked and in use
 * (header in *h), or NULL with *busy set when contention hid candidates. */
static umm_block_t *walk_claim_aligned(umm_t *u, size_t alignment, size_t g, uint32_t tags, uint64_t *h, int *busy) {
  umm_block_t *c = u->start;
  uint64_t hc = ummi_lock_wait(u, c), hn;
  while (c != u->end) {
    size_t cg = hdr_size(hc);
    umm_block_t *n = chunk_at(c, cg);
    if (ummi_walk_next(u, n, &hn, 0) < 0) ummi_fatal(MEMALIGN_MSG[2], chunk_payload(n));   /* forwards only */
    if (hdr_is_free(hc) && front_gap(c, alignment) + g <= cg) {
      unsigned b = ummi_bin_of(cg);
      if (ummi_bin_trylock(u, b)) {                  /* c is free and unlocked before: indexed (I3) */
        ummi_bin_unlink_locked(u, b, c);
        ummi_bin_unlock(u, b);
        *h = hdr_make(c, cg, HDR_IN_USE | (hc & HDR_PREV_FREE) | HDR_LOCK, tags);
        __atomic_store_n(&c->hdr, *h, __ATOMIC_RELAXED);
        chunk_unlock_update(n, HDR_PREV_FREE, 0);    /* its predecessor is in use now */
        return c;
      }
      *busy = 1;
    }
    chunk_unlock(c);
    c = n;
    hc = hn;
  }
  chunk_unlock(c);
  return NULL;
}
/* A walk like umm_walk's, so it is counted like one (u->walkers, free.c). */
static umm_block_t *claim_by_walk(umm_t *u, size_t alignment, size_t g, uint32_t tags, uint64_t *h, int *busy) {
  ummi_walkers_enter(u);
  umm_block_t *c = walk_claim_aligned(u, alignment, g, tags, h, busy);
  ummi_walkers_leave(u);
  return c;
}

void *umm_memalign(umm_t *u, size_t alignment, size_t size, uint32_t tags) {
  if (alignment == 0 || (alignment & (alignment - 1)) || alignment > UMM_MAX_ALIGN) {
    errno = EINVAL;
    return NULL;
  }
  if (alignment <= UMM_ALIGNMENT) return umm_malloc(u, size, tags);
  size_t g = size_to_g(size), extra = alignment / G + MIN_G;
  if (!g) { errno = ENOMEM; return NULL; }
  umm_block_t *c = NULL;
  uint64_t h;
  int err = errno;                                  /* kept when the walk serves what umm_malloc could not */
  if (g <= MAX_G - extra) {
    void *p = umm_malloc(u, chunk_usable(g + extra), tags);
    if (p) { UMMI_VG_FREE(p); c = chunk_of(p); h = ummi_lock_wait(u, c); }   /* announced below, trimmed */
  }
  while (!c) {
    int busy = 0;
    c = claim_by_walk(u, alignment, g, tags, &h, &busy);
    if (!c && !busy) { errno = ENOMEM; return NULL; }
    if (!c) ummi_backoff(u);
  }
  errno = err;
  /* c: locked, in use, holds an aligned spot for g granules. */
  size_t front = front_gap(c, alignment);
  if (front) {
    umm_block_t *a = ummi_split_used_locked(c, &h, front);
    size_t ga = hdr_size(hdr_peek(a));
    __atomic_store_n(&a->hdr, hdr_make(a, ga, HDR_IN_USE, tags), __ATOMIC_RELAXED);
    chunk_unlock_store(c, h | HDR_DEFERRED);        /* the front is being freed */
    ummi_free_chunk(u, c, 1, MEMALIGN_MSG);         /* locks a as its successor */
    c = a;
    h = ummi_lock_wait(u, c);
  }
  if (hdr_size(h) - g >= MIN_G) {
    umm_block_t *t = ummi_split_used_locked(c, &h, g);
    chunk_unlock(c);
    ummi_free_chunk(u, t, 1, MEMALIGN_MSG);
  } else {
    chunk_unlock(c);
  }
  UMM_CHECK_QUIET(u);
  UMMI_VG_ALLOC(chunk_payload(c), umm_usable_size(chunk_payload(c)));
  return chunk_payload(c);
}
