/* check.c - umm_check: count every invariant violation (quiet region only).
 * Reads headers with relaxed atomic loads and takes no lock. Verifies:
 * I1 tiling, I2 PREV_FREE and footers, I3 index membership and bin shape,
 * I4 no adjacent free chunks, the non-empty map, the deferred stack, and that no
 * lock is left held.
 *
 * Membership without memory of its own: the walk in address order adds a hash
 * of every free chunk's address to one sum and of every DEFERRED chunk's to
 * another; the walks of the bins and of the deferred stack and slots subtract
 * the hash of each entry. Equal counts and sums of zero mean that the entries
 * are exactly the chunks (a different set of the same size leaves a sum of
 * zero with odds of about 2^-64), so an entry that is not a chunk of the
 * tiling (a planted header inside a payload) or a chunk missing from its list
 * is counted even when the numbers agree. */
#include "umm_internal.h"

#ifdef UMM_CHECK_TRACE
/* Debugging aid: a test build may define this to learn which check failed. */
void umm_check_trace(int line);
#define FAIL(n) do { if (n) { bad++; umm_check_trace(__LINE__); } } while (0)
#else
#define FAIL(n) (bad += (n) ? 1 : 0)
#endif

static uint64_t addr_hash(const umm_block_t *c) {   /* splitmix64's finaliser */
  uint64_t z = (uint64_t)(uintptr_t)c;
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static int in_region(umm_t *u, const umm_block_t *c) {
  return (const char *)c >= u->first && c < u->end && ((uintptr_t)c & (G - 1)) == UMM_HEADER_SIZE;
}

int umm_check(umm_t *u) {
  int bad = 0;
  if (!u || u->magic != UMMI_MAGIC) return 1;
  uint64_t hs = hdr_peek(u->start);
  FAIL(hs != hdr_make(u->start, 1, HDR_IN_USE, 0));
  /* Chunks in address order. */
  size_t nfree = 0, nchunks = 0, ndeferred = 0;
  uint64_t free_sum = 0, deferred_sum = 0;         /* see "Membership" above */
  umm_block_t *prev = u->start, *c = (umm_block_t *)(void *)u->first;
  int prev_free = 0;
  while (c < u->end) {
    uint64_t h = hdr_peek(c);
    size_t g = hdr_size(h);
    /* separators stand every MAX_G granules (init.c) and nothing spans one */
    size_t off = (size_t)((char *)c - u->first) / G, sep = off / (MAX_G + 1) * (MAX_G + 1) + MAX_G;
    nchunks++;
    FAIL(!hdr_check_ok(c, h));
    FAIL(hdr_is_locked(h));
    if (g == 1) {                                   /* a separator */
      FAIL(off != sep || !hdr_is_used(h) || hdr_tags(h) != 0 || hdr_is_deferred(h));
      nchunks--;
    } else if (g < MIN_G || (size_t)((char *)u->end - (char *)c) < g * G || off + g > sep) { FAIL(1); break; }
    FAIL(hdr_prev_free(h) != prev_free);
    if (prev_free) FAIL(ummi_prev_free(c) != prev);
    if (hdr_is_free(h)) {
      nfree++;
      free_sum += addr_hash(c);
      FAIL(hdr_tags(h) != 0 || hdr_is_deferred(h));
      FAIL(ummi_meta_get(chunk_footer(c, g)) != c);
      FAIL(prev_free);                              /* I4: no adjacent free chunks */
    } else if (hdr_is_deferred(h)) {
      ndeferred++;
      deferred_sum += addr_hash(c);
    }
    prev_free = hdr_is_free(h);
    prev = c;
    c = chunk_at(c, g);
  }
  FAIL(c != u->end);
  uint64_t he = hdr_peek(u->end);
  FAIL(hdr_size(he) != 0 || !hdr_is_used(he) || hdr_is_locked(he) || !hdr_check_ok(u->end, he) ||
       hdr_is_deferred(he) || hdr_tags(he) != 0);
  FAIL(hdr_prev_free(he) != prev_free);
  /* The index: every node a free chunk of the bin's class, links consistent,
   * map byte == non-empty, and as many nodes as free chunks. */
  size_t indexed = 0;
  for (unsigned b = 0; b < UMMI_NBINS; b++) {
    uintptr_t v = __atomic_load_n(&u->bins[b], __ATOMIC_RELAXED);
    FAIL((v & 1) != 0);
    umm_block_t *n = (umm_block_t *)(v & ~(uintptr_t)1), *np = NULL;
    FAIL(__atomic_load_n(&u->nonempty.byte[b], __ATOMIC_RELAXED) != (n != NULL));
    for (size_t k = 0; n; n = ummi_meta_get(&n->next), k++) {
      if (!in_region(u, n) || k > nchunks) { FAIL(1); break; }
      uint64_t h = hdr_peek(n);
      FAIL(!hdr_check_ok(n, h) || !hdr_is_free(h) || ummi_bin_of(hdr_size(h)) != b);
      if (np) FAIL(ummi_meta_get(&n->prev) != np);    /* the head's prev is undefined (index.h) */
      np = n;
      indexed++;
      free_sum -= addr_hash(n);
    }
  }
  FAIL(indexed != nfree || free_sum != 0);
  /* The deferred stack and slots: in-use chunks marked DEFERRED, as many as counted. */
  size_t nstack = 0;
  for (umm_block_t *d = __atomic_load_n(&u->deferred, __ATOMIC_RELAXED); d; d = ummi_meta_get(&d->next)) {
    if (!in_region(u, d) || nstack > nchunks) { FAIL(1); break; }
    uint64_t h = hdr_peek(d);
    FAIL(!hdr_check_ok(d, h) || !hdr_is_used(h) || !hdr_is_deferred(h));
    nstack++;
    deferred_sum -= addr_hash(d);
  }
  for (unsigned i = 0; i < UMMI_DEFER_SLOTS; i++) {
    umm_block_t *d = __atomic_load_n(&u->deferred_slot[i], __ATOMIC_RELAXED);
    if (!d) continue;
    if (!in_region(u, d)) { FAIL(1); continue; }
    uint64_t h = hdr_peek(d);
    FAIL(!hdr_check_ok(d, h) || !hdr_is_used(h) || !hdr_is_deferred(h));
    nstack++;
    deferred_sum -= addr_hash(d);
  }
  FAIL(nstack != ndeferred || nstack != __atomic_load_n(&u->deferred_count, __ATOMIC_RELAXED) ||
       deferred_sum != 0);
  return bad;
}
