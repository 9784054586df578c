/* heap.c - the lock protocol and the operations that change chunks.
 *
 * ============================== LOCK PROTOCOL ==============================
 * Locks. Two kinds, both one bit taken with an __atomic compare-and-swap:
 *   chunk lock  bit LOCK of a chunk header (umm_types.h);
 *   bin lock    bit 0 of a bin head word of the free index (index.c).
 * Nothing else is a lock: no region-wide mutex, no OS primitive.
 *
 * What guards what.
 *   - A chunk's header word (size, IN_USE, PREV_FREE, CHECK, TAGS) changes
 *     only under that chunk's lock (umm_set_tags / umm_retag take it, write
 *     and drop it in one CAS that expects the lock bit clear, and so do the
 *     successor flips below). Single exception: umm_free_nowait sets
 *     DEFERRED on an in-use chunk with a CAS that keeps the rest of the word,
 *     whoever holds the lock (it must never wait). Therefore a lock holder
 *     unlocks an in-use chunk that is not its own (a neighbour, a walked
 *     chunk) with an atomic read-modify-write (chunk_unlock,
 *     chunk_unlock_update); free chunks, new chunks and the caller's own
 *     block are unlocked with a plain release store of the final header.
 *   - The footer of a free chunk F (its last 8 bytes: a pointer to F) is
 *     written under F's lock AND either the lock of F's successor S or
 *     before a flip that sets S's PREV_FREE (below), and read only under
 *     S's lock when S's PREV_FREE bit is set. So while you hold a chunk,
 *     the boundary just before it cannot move.
 *   - Successor flips. The holder of chunk X's lock may set or clear the
 *     PREV_FREE bit of X's in-use successor S without holding S's lock: one
 *     CAS (chunk_flip_unlocked) that expects S's lock bit clear and changes
 *     only that bit. It is S's lock taken, the bit written and the lock
 *     dropped in one indivisible step (release/acquire), so it conflicts with
 *     every holder of S as taking S's lock would. Used where the general
 *     path locks S only to change that bit: X freed with both neighbours in
 *     use (X's footer is written first; nobody reads it while S's PREV_FREE
 *     is clear, and the flip's release publishes it with the bit) and X
 *     claimed whole (S's PREV_FREE cleared; X's footer then becomes payload
 *     that nobody reads). A flip is always the last lock an operation takes,
 *     so a failed flip leaves nothing to undo. Two locked instructions fewer
 *     per malloc + free pair than lock, write, unlock.
 *   - A free chunk's bin links (next, prev; the head's prev is undefined)
 *     and the bin head are guarded by the bin's lock; the map byte of a bin
 *     changes under that bin's lock (index.h).
 *   - The deferred stack is lock-free (CAS push; the drainer takes the whole
 *     stack with one exchange, so there is no ABA).
 *
 * Invariants kept whenever no lock is held on the chunks concerned:
 *   I1  sizes tile the region from the start sentinel to the end sentinel;
 *   I2  PREV_FREE of a chunk == its predecessor is free, and then the
 *       predecessor's footer points at the predecessor;
 *   I3  a free chunk that is not locked is in exactly the bin of its size;
 *       a bin holds only free chunks (locked ones transiently);
 *   I4  no two free chunks are adjacent. Regions larger than the 21-bit
 *       size field are cut by separators (1-granule in-use chunks, like
 *       the start sentinel) every MAX_G granules, so a merge always fits.
 *   "Free and indexed" change together: a chunk is unlinked from its bin
 *   before it stops being free or changes size, and linked after it is free
 *   with its final size, all while its lock is held.
 *
 * Deriving addresses. A thread touches a header only at an address it
 * derived while holding a lock that keeps that address a real header:
 *   - the successor of a locked chunk c is c + size(c) (size frozen by c's lock);
 *   - the free predecessor of a locked chunk c with PREV_FREE is c's footer
 *     (frozen by c's lock, see above);
 *   - a chunk found in a bin, while that bin's lock is held (it cannot be
 *     unlinked, claimed, merged or resized without that lock);
 *   - the caller's own block (in use, so nobody else merges it away).
 * A chunk stops being a header only when it is absorbed by a merge, and the
 * merger then holds the absorbed chunk's lock and every lock through which
 * it can be derived (its predecessor, its successor, its bin).
 *
 * Lock order: none is needed, because every lock is taken with a try-lock and
 * a failed try-lock ends the attempt: the operation releases every lock it
 * holds, in any order, leaving every header exactly as it found it (no
 * mutation happens before all the locks of an operation are held), counts the
 * failure in umm_stats.contention, and returns UMMI_CONTENDED. The waiting
 * flavour then calls the contention callback and starts again from a stable
 * point (its own in-use block, or the bins), recomputing every address; the
 * nowait flavour skips to another candidate and gives up after a bounded
 * number of candidates (UMMI_NOWAIT_BINS x UMMI_SCAN, and nomem_confirm's
 * one locked list). No thread ever waits while holding a lock, hence no
 * deadlock; a signal handler that interrupted a lock holder only ever sees
 * failed try-locks, hence the nowait calls finish.
 *
 * The exceptions are the two hand-over-hand walks, umm_walk (walk.c) and
 * umm_memalign's search for an aligned spot (claim_by_walk, memalign.c):
 * each waits for the lock of the next chunk while holding the current one,
 * and calls the contention callback while it waits (umm.h says so). That
 * cannot deadlock: walks only wait forwards (higher addresses), and every
 * other lock holder uses try-locks and releases on failure, so the lock a
 * walk waits for is freed in a bounded number of the holder's steps. Both
 * count themselves in u->walkers (umm_free_batch relies on it, free.c).
 *
 * Operations and the locks each takes (all try-locks, all before any write
 * but a footer written into the freed chunk's own payload before a flip):
 *   claim (malloc, batch):  bin B of the candidate F, F, F's successor S
 *                           (flipped when F goes whole), the bin of the
 *                           remainder R (if split off); writes F (now in
 *                           use), R (new, linked), S's PREV_FREE/footer.
 *                           claim_exact and claim_split are the one-block
 *                           cases without the lockset.
 *   release (free):         the chunk C, its successor S (flipped when
 *                           neither neighbour is free), its free
 *                           predecessor P and P's bin (if merging back), S's
 *                           bin and S's successor SS (if merging forward),
 *                           the bin of the merged chunk. ummi_free_fast is
 *                           umm_free's pass that tests, locks and releases.
 *   "no memory" (nomem_confirm): every bin from the request's up, at once,
 *                           to confirm the lock-free search's empty answer.
 *   grow (realloc):         C, its successor S, S's bin, S's successor SS,
 *                           the remainder's bin.
 *   split of an in-use chunk (realloc shrink, memalign trim): only that
 *                           chunk's lock: the new tail is in use, so no
 *                           neighbour's PREV_FREE or footer changes; the tail
 *                           is then freed by release.
 *   fuse (umm_free_batch):  a run of adjacent in-use chunks of the caller
 *                           becomes one (inner headers die, the head is
 *                           marked DEFERRED) and is then freed by release.
 *                           Locks: the head, and each inner chunk unless no
 *                           walk is in progress (u->walkers == 0, read after
 *                           the head's lock: why that suffices is at
 *                           run_quiet in free.c).
 * ==========================================================================*/
#include "umm_internal.h"

#define UMMI_SCAN        16u   /* candidates looked at per bin */
#define UMMI_NOWAIT_BINS 4u    /* bins looked at by a nowait claim */

/* ---- a set of held locks, released all at once on failure ----------------- */
typedef struct lockset {
  umm_block_t *chunk[4];                   /* chunks locked, in taking order */
  unsigned     nchunk;                     /* how many */
  unsigned     bin[3];                     /* bins locked */
  unsigned     nbin;                       /* how many */
} lockset_t;

static inline __attribute__((always_inline)) int ls_chunk(umm_t *u, lockset_t *ls, umm_block_t *c, uint64_t *seen) {
  if (!chunk_trylock(c, seen)) { ummi_contended(u); return 0; }
  ls->chunk[ls->nchunk++] = c;
  return 1;
}
static inline __attribute__((always_inline)) int ls_bin(umm_t *u, lockset_t *ls, unsigned b) {
  for (unsigned i = 0; i < ls->nbin; i++) if (ls->bin[i] == b) return 1;
  if (!ummi_bin_trylock(u, b)) return 0;
  ls->bin[ls->nbin++] = b;
  return 1;
}
static void ls_unlock_bins(umm_t *u, lockset_t *ls) {
  for (unsigned i = 0; i < ls->nbin; i++) ummi_bin_unlock(u, ls->bin[i]);
  ls->nbin = 0;
}
/* Failure path: nothing was written, so every header goes back as it was. */
static int ls_fail(umm_t *u, lockset_t *ls) {
  while (ls->nchunk) chunk_unlock(ls->chunk[--ls->nchunk]);
  ls_unlock_bins(u, ls);
  return UMMI_CONTENDED;
}

uint64_t ummi_lock_wait(umm_t *u, umm_block_t *c) {
  uint64_t h;
  while (!chunk_trylock(c, &h)) { ummi_contended(u); ummi_backoff(u); }
  return h;
}

/* ---- claim --------------------------------------------------------------- */
/* Carve the locked free chunk F (removed from bin b by this function) into k
 * blocks of g granules; the rest becomes a free remainder or joins the last
 * block. Caller holds: bin b, F, S = F's successor, the remainder's bin. */
static inline __attribute__((always_inline)) size_t carve_locked(umm_t *u, lockset_t *ls, unsigned b, umm_block_t *F, uint64_t hF,
                           umm_block_t *S, size_t g, size_t n, uint32_t tags, void **out) {
  size_t total = hdr_size(hF);
  size_t k = n == 1 ? 1 : total / g < n ? total / g : n;   /* n == 1 (claim1, inlined): no division */
  size_t rest = total - k * g;
  UMM_ASSERT(k >= 1 && hdr_is_free(hF));
  for (size_t i = 1; i < k; i++) {                  /* not reachable until F is released */
    umm_block_t *a = chunk_at(F, i * g);
    size_t ga = (i == k - 1 && rest < MIN_G) ? g + rest : g;
    UMMI_VG_HDR(a);                                 /* was free payload */
    __atomic_store_n(&a->hdr, hdr_make(a, ga, HDR_IN_USE, tags), __ATOMIC_RELAXED);
    out[i] = chunk_payload(a);
  }
  size_t g0 = (k == 1 && rest < MIN_G) ? g + rest : g;
  out[0] = chunk_payload(F);
  if (rest >= MIN_G) {
    umm_block_t *R = chunk_at(F, k * g);
    UMMI_VG_HDR(R);
    __atomic_store_n(&R->hdr, hdr_make(R, rest, HDR_LOCK, 0), __ATOMIC_RELAXED);
    ummi_set_footer(R, rest);                     /* S keeps PREV_FREE; its footer now names R */
    /* Link R before unlinking F, so the free space never vanishes from the
     * index: a nowait search meanwhile finds it locked (EAGAIN), not absent. */
    ummi_bin_link_locked(u, ummi_bin_of(rest), R);
    ummi_bin_unlink_locked(u, b, F);
    ls_unlock_bins(u, ls);
    chunk_unlock_store(R, hdr_peek(R));
    chunk_unlock(S);
  } else {
    ummi_bin_unlink_locked(u, b, F);
    ls_unlock_bins(u, ls);
    chunk_unlock_update(S, HDR_PREV_FREE, 0);      /* predecessor now in use */
  }
  chunk_unlock_store(F, hdr_make(F, g0, HDR_IN_USE | (hF & HDR_PREV_FREE), tags));
  return k;
}

/* Claim F (found in bin b, whose lock ls holds): lock F, its successor and
 * the remainder's bin, then carve. 0 when a try-lock failed (F and S
 * released again, bin b still held). */
static inline __attribute__((always_inline)) int claim_chunk(umm_t *u, lockset_t *ls, unsigned b, umm_block_t *F,
                                                             size_t g, size_t n, uint32_t tags, void **out, size_t *got) {
  uint64_t hF, hS;
  if (!ls_chunk(u, ls, F, &hF)) return 0;
  UMM_ASSERT(hdr_is_free(hF) && ummi_bin_of(hdr_size(hF)) == b);
  size_t fg = hdr_size(hF);
  umm_block_t *S = chunk_at(F, fg);
  if (!ls_chunk(u, ls, S, &hS)) { chunk_unlock(F); ls->nchunk = 0; return 0; }
  UMM_ASSERT(hdr_prev_free(hS) && ummi_prev_free(S) == F);
  size_t k = n == 1 ? 1 : fg / g < n ? fg / g : n;      /* F fits: fg >= g */
  size_t rest = fg - k * g;
  if (rest >= MIN_G && !ls_bin(u, ls, ummi_bin_of(rest))) {
    chunk_unlock(S); chunk_unlock(F); ls->nchunk = 0;
    return 0;
  }
  *got = carve_locked(u, ls, b, F, hF, S, g, n, tags, out);
  return 1;
}

/* Try the chunks of bin b for one of >= want granules. In an exact bin or a
 * bin above the request's every chunk fits: the first that locks, from the
 * head. In the request's own ranged bin sizes may be below want: the best
 * fit among the first UMMI_SCAN chunks, then any other fitting one. */
static inline __attribute__((always_inline)) int claim_from_bin(umm_t *u, unsigned b, size_t want, size_t g, size_t n,
                                                                uint32_t tags, void **out, size_t *got, int *busy) {
  lockset_t ls = {{0}, 0, {0}, 0};
  if (!ls_bin(u, &ls, b)) return UMMI_CONTENDED;
  umm_block_t *c = ummi_bin_head_locked(u, b);
  if (b < UMMI_EXACT_BINS || ummi_bin_floor(b) >= want) {
    for (unsigned i = 0; c && i < UMMI_SCAN; c = ummi_meta_get(&c->next), i++) {
      if (claim_chunk(u, &ls, b, c, g, n, tags, out, got)) return UMMI_OK;
      *busy = 1;
    }
  } else {
    umm_block_t *best = NULL;
    size_t best_g = SIZE_MAX;
    for (unsigned i = 0; c && i < UMMI_SCAN; c = ummi_meta_get(&c->next), i++) {
      size_t cg = hdr_size(hdr_peek(c));            /* stable: c is indexed, we hold its bin */
      if (cg >= want && cg < best_g) { best = c; best_g = cg; if (cg == want) break; }
    }
    if (best) {
      if (claim_chunk(u, &ls, b, best, g, n, tags, out, got)) return UMMI_OK;
      *busy = 1;
      c = ummi_bin_head_locked(u, b);
      for (unsigned i = 0; c && i < UMMI_SCAN; c = ummi_meta_get(&c->next), i++) {
        if (c == best || hdr_size(hdr_peek(c)) < want) continue;
        if (claim_chunk(u, &ls, b, c, g, n, tags, out, got)) return UMMI_OK;
      }
    }
  }
  ls_unlock_bins(u, &ls);
  return UMMI_NOMEM;
}

/* The search reads the non-empty map without locks, so it can miss free
 * space that another thread is moving to a lower bin meanwhile (a split
 * leaves the remainder below the bin it came from: the search may read the
 * lower bin's byte before the move and the upper one's after). So before the
 * answer is "no memory", hold every bin from b0 up at once: no move among
 * them is then half done (a move to a lower bin holds both; a merge's bin
 * is never below the bins it empties), so what they hold is what the search
 * should have seen. UMMI_NOMEM (no indexed chunk fits; the linearisation
 * point is when the last lock was taken), UMMI_CONTENDED (a try-lock failed;
 * everything released: a nowait caller then says EAGAIN where it might have
 * said ENOMEM) or UMMI_RETRY (something fitting is indexed: search again).
 * In a ranged b0 bin, where only some chunks fit, the whole list is read,
 * not only the UMMI_SCAN chunks the search looks at, and a fitting chunk
 * found further down is moved to the head (relinking needs only the bin's
 * lock), where the search finds it: otherwise umm_malloc said ENOMEM with a
 * fitting chunk free (a review found it with one 35-granule chunk behind 16
 * of 32 in one bin). Bounded for a nowait caller: UMMI_NBINS try-locks and
 * one list that cannot grow while its lock is held. The cost (up to ~160
 * locked instructions, during which other threads' try-locks on those bins
 * fail, and that list's length in loads) is paid only by an allocation that
 * would fail. */
static UMMI_NOINLINE int nomem_confirm(umm_t *u, unsigned b0, size_t want) {
  unsigned b;
  int r = UMMI_NOMEM;
  for (b = b0; b < UMMI_NBINS && r == UMMI_NOMEM; b++) {
    if (!ummi_bin_trylock(u, b)) { r = UMMI_CONTENDED; break; }
    umm_block_t *c = ummi_bin_head_locked(u, b);
    if (b == b0 && b >= UMMI_EXACT_BINS && ummi_bin_floor(b) < want) {   /* only some fit */
      for (size_t i = 0; c; c = ummi_meta_get(&c->next), i++) {
        if (hdr_size(hdr_peek(c)) < want) continue;
        if (i >= UMMI_SCAN) {                       /* beyond the search's window: to the head */
          ummi_bin_unlink_locked(u, b, c);
          ummi_bin_link_locked(u, b, c);
        }
        r = UMMI_RETRY;
        break;
      }
    } else if (c) {
      r = UMMI_RETRY;
    }
  }
  while (b-- > b0) ummi_bin_unlock(u, b);
  return r;
}

/* Search the bins from want's up for a chunk of >= want granules. confirm:
 * check a "no memory" answer under the bin locks (nomem_confirm); callers
 * that fall back to a smaller want pass 0 for the first try. */
static inline __attribute__((always_inline)) int claim_want(umm_t *u, size_t want, size_t g, size_t n, uint32_t tags, int nowait,
                      int confirm, void **out, size_t *got) {
  unsigned b0 = ummi_bin_of(want);
  for (unsigned pass = 0;; pass++) {
    int busy = 0;
    unsigned tries = 0;
    /* In an exact bin every chunk fits; in a ranged one only some. */
    for (int b = ummi_bin_next_nonempty(u, b0); b >= 0; b = ummi_bin_next_nonempty(u, (unsigned)b + 1u)) {
      int r = claim_from_bin(u, (unsigned)b, want, g, n, tags, out, got, &busy);
      if (r == UMMI_OK) return r;
      if (r == UMMI_CONTENDED) { busy = 1; if (!nowait) return r; }
      if (nowait && ++tries >= UMMI_NOWAIT_BINS) break;
    }
    if (busy) return UMMI_CONTENDED;
    if (!confirm) return UMMI_NOMEM;
    int r = nomem_confirm(u, b0, want);
    if (r != UMMI_RETRY) return r;
    if (nowait && pass >= 1) return UMMI_CONTENDED;   /* bounded: the space keeps moving */
  }
}

/* The common umm_malloc: the head F of exact bin b (every chunk there has b
 * granules, so no remainder) with the locks and writes of claim_chunk and
 * carve_locked for that case (bin b, F, F's successor S), without the
 * lockset. UMMI_NOMEM when the bin is empty, UMMI_CONTENDED when a try-lock
 * failed (everything released, the failure not yet counted): the caller
 * then takes the general path. claim_split's "F whole" case does the same;
 * letting claim_split serve exact bins too (searching from g instead of
 * g + 1) cost 62.4 -> 65.4 M instructions over core_scale's 200k counted
 * pairs at 1k live, so the exact case keeps its own short function. */
static inline __attribute__((always_inline)) int claim_exact(umm_t *u, unsigned b, uint32_t tags, void **out) {
  if (!ummi_bin_trylock_quiet(u, b)) return UMMI_CONTENDED;
  umm_block_t *F = ummi_bin_head_locked(u, b);
  uint64_t hF;
  if (!F) { ummi_bin_unlock(u, b); return UMMI_NOMEM; }
  if (!chunk_trylock(F, &hF)) { ummi_bin_unlock(u, b); return UMMI_CONTENDED; }
  UMM_ASSERT(hdr_is_free(hF) && hdr_size(hF) == b);
  umm_block_t *S = chunk_at(F, b);
  if (!chunk_flip_unlocked(S, HDR_PREV_FREE, 0)) {   /* predecessor now in use */
    chunk_unlock(F); ummi_bin_unlock(u, b); return UMMI_CONTENDED;
  }
  ummi_bin_pop_unlock(u, b, F);
  chunk_unlock_store(F, hdr_make(F, b, HDR_IN_USE | (hF & HDR_PREV_FREE), tags));
  *out = chunk_payload(F);
  return UMMI_OK;
}

/* The next umm_malloc case, for a small g whose exact bin is empty: the
 * head F of the first non-empty bin above, all of whose chunks fit (the best
 * fit the general path would find too). The locks and writes of claim_chunk
 * and carve_locked for one block, without the lockset: bin b, F, the rest's
 * bin if it differs from b, and F's successor S: locked when a remainder R
 * is cut off (S's footer then moves from F to R), flipped (one CAS, see
 * "Successor flips") when F goes whole. UMMI_NOMEM when the case does not
 * apply (no bin above, or it emptied), UMMI_CONTENDED when a try-lock failed
 * (not yet counted); either way everything is released and nothing written,
 * and the general path then runs. */
static inline __attribute__((always_inline)) int claim_split(umm_t *u, size_t g, uint32_t tags, void **out) {
  int bi = ummi_bin_next_nonempty(u, (unsigned)g + 1u);
  if (bi < 0) return UMMI_NOMEM;
  unsigned b = (unsigned)bi, br = b;
  int r = UMMI_CONTENDED;
  if (!ummi_bin_trylock_quiet(u, b)) return r;
  umm_block_t *F = ummi_bin_head_locked(u, b);
  uint64_t hF;
  if (!F) { r = UMMI_NOMEM; goto unlock_b; }
  if (!chunk_trylock(F, &hF)) goto unlock_b;
  size_t fg = hdr_size(hF), rest = fg - g;
  UMM_ASSERT(hdr_is_free(hF) && ummi_bin_of(fg) == b && fg > g);
  umm_block_t *S = chunk_at(F, fg);
  if (rest >= MIN_G && (br = ummi_bin_of(rest)) != b && !ummi_bin_trylock_quiet(u, br)) goto unlock_F;
  uint64_t hS;
  if (rest >= MIN_G ? !chunk_trylock(S, &hS) : !chunk_flip_unlocked(S, HDR_PREV_FREE, 0)) {
    if (br != b) ummi_bin_unlock(u, br);
    goto unlock_F;
  }
  if (rest < MIN_G) {                               /* F whole */
    ummi_bin_pop_unlock(u, b, F);
    chunk_unlock_store(F, hdr_make(F, fg, HDR_IN_USE | (hF & HDR_PREV_FREE), tags));
    *out = chunk_payload(F);
    return UMMI_OK;
  }
  umm_block_t *R = chunk_at(F, g);
  UMMI_VG_HDR(R);
  uint64_t hR = hdr_make(R, rest, HDR_LOCK, 0);
  __atomic_store_n(&R->hdr, hR, __ATOMIC_RELAXED);
  ummi_set_footer(R, rest);
  ummi_bin_pop_locked(u, b, F);
  ummi_bin_link_locked(u, br, R);
  if (br != b) ummi_bin_unlock(u, br);
  ummi_bin_unlock(u, b);
  chunk_unlock_store(R, hR);
  chunk_unlock(S);
  chunk_unlock_store(F, hdr_make(F, g, HDR_IN_USE | (hF & HDR_PREV_FREE), tags));
  *out = chunk_payload(F);
  return UMMI_OK;
unlock_F:
  chunk_unlock(F);
unlock_b:
  ummi_bin_unlock(u, b);
  return r;
}

/* ummi_malloc_small's way out when a try-lock failed (everything released):
 * count it and take the general path. Out of line, so that the paths that
 * end here make no call of their own and need no stack frame. */
static UMMI_NOINLINE void *malloc_contended(umm_t *u, size_t g, uint32_t tags) {
  ummi_contended(u);
  return ummi_malloc_slow(u, g, tags);
}

/* The end of malloc_split and ummi_malloc_small: block p on UMMI_OK, else
 * the general path by a tail call (malloc_contended after a failed try-lock). */
static inline __attribute__((always_inline)) void *malloc_small_done(umm_t *u, size_t g, uint32_t tags, int r, void *p) {
  if (ummi_likely(r == UMMI_OK)) {
    UMMI_VG_ALLOC(p, umm_usable_size(p));
    UMM_CHECK_QUIET(u);
    return p;
  }
  if (r == UMMI_CONTENDED) return malloc_contended(u, g, tags);
  return ummi_malloc_slow(u, g, tags);
}

/* ummi_malloc_small's case of an empty exact bin: claim_split, else the
 * general path. */
static UMMI_NOINLINE void *malloc_split(umm_t *u, size_t g, uint32_t tags) {
  void *p = NULL;
  int r = claim_split(u, g, tags, &p);
  return malloc_small_done(u, g, tags, r, p);
}

/* umm_malloc for g < UMMI_EXACT_BINS when no free is deferred: the common
 * case, an exact bin with a head, is claim_exact inlined; an empty exact bin
 * goes to malloc_split, a bin that emptied meanwhile to ummi_malloc_slow and
 * a failed try-lock (everything released) to malloc_contended, all by tail
 * calls, so the function makes no call and needs no stack frame. While it
 * called ummi_contended itself it saved and restored 5 registers on every
 * call, and the split path paid two frames: core_scale at 1k live, 266.8 ->
 * 250.7 instructions per malloc + free pair (callgrind). */
void *ummi_malloc_small(umm_t *u, size_t g, uint32_t tags) {
  UMM_ASSERT(g >= MIN_G && g < UMMI_EXACT_BINS);
  void *p = NULL;
  if (ummi_unlikely(!ummi_bin_nonempty(u, (unsigned)g))) return malloc_split(u, g, tags);
  int r = claim_exact(u, (unsigned)g, tags, &p);
  return malloc_small_done(u, g, tags, r, p);
}

int ummi_claim1(umm_t *u, size_t g, uint32_t tags, int nowait, void **out) {
  if (g < UMMI_EXACT_BINS) {
    int r = ummi_bin_nonempty(u, (unsigned)g) ? claim_exact(u, (unsigned)g, tags, out)
                                              : claim_split(u, g, tags, out);
    if (r == UMMI_OK) return r;
    if (r == UMMI_CONTENDED) ummi_contended(u);
  }
  size_t got;
  return claim_want(u, g, g, 1, tags, nowait, 1, out, &got);    /* n = 1: the carving loop folds away */
}

/* A batch takes the best fit for UMMI_BATCH_MIN blocks (or n if fewer) and
 * carves up to n from it: freed holes of a few blocks get reused instead of
 * always cutting fresh memory for the whole batch (which made thread-cache
 * refills grow the heap), while a batch still costs one lock round-trip.
 * 4 (was 8): the holes that thread-cache flushes leave are mostly short
 * runs; with 8 they stayed unused while refills cut fresh pages. Peak RSS
 * (bench/run, medians of 5, with the preload's other changes of the same
 * commit): rptest 1.84 -> 1.64x glibc, mstress 1.22 -> 1.10x; 2 took
 * churn's time 1.05 -> 1.17x glibc (more, smaller refills), 4 1.09x. */
#define UMMI_BATCH_MIN 4u

int ummi_claim(umm_t *u, size_t g, size_t n, uint32_t tags, int nowait, void **out, size_t *got) {
  if (n > MAX_G / g) n = MAX_G / g;
  size_t first = n < UMMI_BATCH_MIN ? n : UMMI_BATCH_MIN;
  int r = claim_want(u, g * first, g, n, tags, nowait, first == 1, out, got);
  if (r == UMMI_NOMEM && first > 1) r = claim_want(u, g, g, n, tags, nowait, 1, out, got);
  return r;
}

/* ---- release ------------------------------------------------------------- */
/* Release C (locked, header hC, in use, its predecessor in use) whose
 * successor S (locked) is in use: nothing to merge. The locks and writes of
 * release_merge_locked for that case (C, S, C's bin) without the lockset. */
static int release_alone_locked(umm_t *u, umm_block_t *C, uint64_t hC, umm_block_t *S) {
  size_t gc = hdr_size(hC);
  unsigned b = ummi_bin_of(gc);
  if (!ummi_bin_trylock(u, b)) { chunk_unlock(C); return UMMI_CONTENDED; }
  ummi_set_footer(C, gc);
  if (!chunk_flip_unlocked(S, HDR_PREV_FREE, HDR_PREV_FREE)) { ummi_bin_unlock(u, b); return UMMI_RETRY; }
  uint64_t h = hdr_make(C, gc, HDR_LOCK, 0);
  __atomic_store_n(&C->hdr, h, __ATOMIC_RELAXED);
  ummi_bin_link_unlock(u, b, C);
  chunk_unlock_store(C, h);
  return UMMI_OK;
}

/* The general release: C (locked, header hC) and its successor S (locked,
 * header hS), at least one of C's neighbours free (release_alone_locked
 * takes the other case); merges with a free predecessor P (C's footer names
 * it) and/or a free successor S. Locks, in this order, all try-locks, all
 * before any write: P and P's bin bp; S's bin bs and S's successor SS (S's
 * footer, which moves to the merged chunk, is the word before SS); the
 * merged chunk's bin bm. A bin already held is not taken twice. Written
 * straight rather than through the lockset: a merge follows one free in 3
 * to 7 in core_scale at 1k live chunks, and the lockset made it about 210
 * instructions instead of 143. UMMI_CONTENDED with everything released, C
 * and S included, when a try-lock fails. */
static int release_merge_locked(umm_t *u, umm_block_t *C, uint64_t hC, umm_block_t *S, uint64_t hS) {
  size_t m = hdr_size(hC);
  int merge_prev = hdr_prev_free(hC), merge_next = hdr_is_free(hS);
  UMM_ASSERT(merge_prev || merge_next);
  umm_block_t *P = NULL, *SS = NULL, *M = C;
  uint64_t hP = 0, hSS;
  unsigned bp = UMMI_NBINS, bs = UMMI_NBINS, bm;
  if (merge_prev) {
    P = ummi_prev_free(C);
    if (!chunk_trylock(P, &hP)) { ummi_contended(u); P = NULL; goto fail; }
    UMM_ASSERT(hdr_is_free(hP) && chunk_at(P, hdr_size(hP)) == C);
    bp = ummi_bin_of(hdr_size(hP));
    if (!ummi_bin_trylock(u, bp)) { bp = UMMI_NBINS; goto fail; }
    M = P;
    m += hdr_size(hP);
  }
  if (merge_next) {
    bs = ummi_bin_of(hdr_size(hS));
    if (bs != bp && !ummi_bin_trylock(u, bs)) { bs = UMMI_NBINS; goto fail; }
    SS = chunk_at(S, hdr_size(hS));
    if (!chunk_trylock(SS, &hSS)) { ummi_contended(u); SS = NULL; goto fail; }
    UMM_ASSERT(hdr_prev_free(hSS) && ummi_prev_free(SS) == S);
    m += hdr_size(hS);
  }
  UMM_ASSERT(m <= MAX_G);                           /* separators bound every merge */
  bm = ummi_bin_of(m);
  if (bm != bp && bm != bs && !ummi_bin_trylock(u, bm)) { bm = UMMI_NBINS; goto fail; }

  /* Every lock held: now write. The merged chunk is linked before S leaves
   * the index, and P stays linked when its bin does not change, so the free
   * space stays visible to nowait searches (as locked) throughout. */
  if (P && bp != bm) ummi_bin_unlink_locked(u, bp, P);
  uint64_t h = hdr_make(M, m, HDR_LOCK | ((P ? hP : hC) & HDR_PREV_FREE), 0);
  __atomic_store_n(&M->hdr, h, __ATOMIC_RELAXED);
  ummi_set_footer(M, m);
  if (!P || bp != bm) ummi_bin_link_locked(u, bm, M);
  if (merge_next) ummi_bin_unlink_locked(u, bs, S);
  /* Absorbed headers become "dead" (unlocked, recognisable): a later free of
   * that address reports a double free instead of waiting on a stale lock. */
  if (P) __atomic_store_n(&C->hdr, HDR_DEAD, __ATOMIC_RELAXED);
  if (merge_next) __atomic_store_n(&S->hdr, HDR_DEAD, __ATOMIC_RELAXED);
  if (bm != bp && bm != bs) ummi_bin_unlock(u, bm);
  if (merge_next && bs != bp) ummi_bin_unlock(u, bs);
  if (P) ummi_bin_unlock(u, bp);
  if (merge_next) chunk_unlock(SS);                 /* already PREV_FREE; footer moved to M */
  else chunk_unlock_update(S, 0, HDR_PREV_FREE);    /* S in use and not ours: RMW unlock */
  chunk_unlock_store(M, h);
  return UMMI_OK;
fail:                                               /* a *_NBINS / NULL: not taken */
  if (SS) chunk_unlock(SS);
  if (bs < UMMI_NBINS && bs != bp) ummi_bin_unlock(u, bs);
  if (bp < UMMI_NBINS) ummi_bin_unlock(u, bp);
  if (P) chunk_unlock(P);
  chunk_unlock(S);
  chunk_unlock(C);
  return UMMI_CONTENDED;
}

int ummi_release_locked(umm_t *u, umm_block_t *C, uint64_t hC) {
  size_t gc = hdr_size(hC);
  uint64_t hS;
  UMM_ASSERT(hdr_is_used(hC) && gc >= MIN_G);
  umm_block_t *S = chunk_at(C, gc);
  if (ummi_likely(!hdr_prev_free(hC))) {
    int r = release_alone_locked(u, C, hC, S);
    if (ummi_likely(r != UMMI_RETRY)) return r;
  }
  if (!chunk_trylock(S, &hS)) { ummi_contended(u); chunk_unlock(C); return UMMI_CONTENDED; }
  UMM_ASSERT(!hdr_prev_free(hS));
  if (ummi_unlikely(!hdr_prev_free(hC) && hdr_is_used(hS))) {   /* S was locked a moment ago: flip again */
    chunk_unlock(S);
    int r = release_alone_locked(u, C, hC, S);
    if (r != UMMI_RETRY) return r;
    ummi_contended(u);
    chunk_unlock(C);
    return UMMI_CONTENDED;
  }
  return release_merge_locked(u, C, hC, S, hS);
}

/* The merge case of ummi_free_fast (C locked, header hC; S its successor,
 * header hS as tested, a neighbour free): S is locked by a CAS that expects
 * hS and release_merge_locked merges; the general path frees C if a
 * try-lock fails (everything released). Out of line, so that the common
 * case pays no stack frame. */
static UMMI_NOINLINE void free_merge(umm_t *u, umm_block_t *C, uint64_t hC, umm_block_t *S, uint64_t hS) {
  if (__atomic_compare_exchange_n(&S->hdr, &hS, hS | HDR_LOCK, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    if (release_merge_locked(u, C, hC, S, hS) == UMMI_OK) { UMM_CHECK_QUIET(u); return; }
  } else {
    chunk_unlock(C);
  }
  ummi_free_chunk(u, C, 0, ummi_free_msg);          /* everything was released */
}

/* C (locked by ummi_free_fast, nothing written) goes back unlocked, counted
 * as contention, and the general, waiting path frees it. */
static UMMI_NOINLINE void free_contended(umm_t *u, umm_block_t *C) {
  ummi_contended(u);
  chunk_unlock(C);
  ummi_free_chunk(u, C, 0, ummi_free_msg);
}

/* umm_free in one pass for a good block: the tests of ummi_ptr_state for a
 * live block folded into two masked compares (C: a header whose CHECK and
 * flags say "in use, unlocked, not deferred"; its successor S: a valid
 * header, in use or free, unlocked, "previous in use"), then C's lock taken
 * by a CAS that expects the header just tested. When neither neighbour is
 * free (the common case) the locks and writes are release_alone_locked's,
 * with S flipped by a CAS that expects its header just tested; otherwise
 * free_merge locks S the same way and release_merge_locked merges.
 * (Calling ummi_release_locked after C's lock instead, which re-reads S and
 * goes through one more call, measured 32.2 -> 34.5 ns per pair at 1k live
 * and 35-38 -> 40.6 at 10k: core_scale, 3 alternating runs.) When a test
 * fails nothing is done and ummi_free_slow validates p itself (reporting a
 * bad pointer); when a try-lock fails after the tests passed, the general,
 * waiting path frees C. Every way out of the common case is a tail call, so
 * the common case needs no stack frame: fewer instructions per free, and at
 * millions of live chunks a shorter window between a free's cache misses
 * and the next operation's. */
_Static_assert((HDR_IN_USE << 10) == HDR_CHECK_FREE && (HDR_CHECK_FREE >> 7) == HDR_DEFERRED,
               "ummi_free_fast's flag arithmetic");
void ummi_free_fast(umm_t *u, void *p) {
  uintptr_t a = (uintptr_t)p - UMM_HEADER_SIZE;
  if (ummi_unlikely((a & (G - 1)) != UMM_HEADER_SIZE || a < (uintptr_t)u->first || a >= (uintptr_t)u->end)) {
    ummi_free_slow(u, p);
    return;
  }
  umm_block_t *C = (umm_block_t *)a;
  /* S's header is the second cache miss of a free whose block is cold, and
   * its address waits for the first (C's size). The 4 lines after C's line
   * hold it for every chunk of up to 256 bytes: asking for them now, beside
   * C's header, overlaps the two misses instead of chaining them (a
   * prefetch never faults; for a larger chunk the lines are its own
   * payload). core_scale, 10 runs alternating with the build before,
   * median umm/glibc: 100k live chunks 1.92 -> 1.51; 1M 2.27 -> 2.27; 1k
   * 2.03 -> 2.06 (4 instructions); 2 or 3 lines gained less at 100k. */
  for (unsigned k = 1; k <= 4; k++) __builtin_prefetch((char *)(a & ~(uintptr_t)63) + 64u * k);
  uint64_t hC = hdr_peek(C);
  size_t g = hdr_size(hC);
  if (ummi_unlikely((((((uint64_t)a >> 4) ^ g) << HDR_CHECK_SHIFT ^ hC) &
                     (HDR_CHECK_MASK | HDR_IN_USE | HDR_LOCK | HDR_DEFERRED)) != HDR_IN_USE ||
                    g < MIN_G || (size_t)((char *)u->end - (char *)C) < g * G)) {
    ummi_free_slow(u, p);
    return;
  }
  umm_block_t *S = chunk_at(C, g);
  uint64_t hS = hdr_peek(S);
  uint64_t flip = (~hS & HDR_IN_USE) << 10;         /* HDR_CHECK_FREE when S is free */
  if (ummi_unlikely(((((((uint64_t)(uintptr_t)S >> 4) ^ hdr_size(hS)) << HDR_CHECK_SHIFT ^ hS ^ flip) &
                      (HDR_CHECK_MASK | HDR_LOCK | HDR_PREV_FREE)) | (hS & flip >> 7)) != 0)) {
    ummi_free_slow(u, p);                           /* (a free S is never DEFERRED: that is a dead header) */
    return;
  }
  UMMI_VG_FREE(p);                                  /* p is freed from here on, one way or the other */
  if (ummi_unlikely(!__atomic_compare_exchange_n(&C->hdr, &hC, hC | HDR_LOCK, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))) {
    ummi_free_chunk(u, C, 0, ummi_free_msg);        /* C changed under us: the general path looks again */
    return;
  }
  if (ummi_unlikely(hdr_prev_free(hC) || flip)) {  /* a neighbour is free: merge */
    free_merge(u, C, hC, S, hS);
    return;
  }
  unsigned b = ummi_bin_of(g);
  /* Not ummi_bin_trylock: the failure is counted by free_contended, so the
   * common case makes no call (with the call: 2 instructions per pair more). */
  if (ummi_unlikely(!ummi_bin_trylock_quiet(u, b))) {
    free_contended(u, C);
    return;
  }
  ummi_set_footer(C, g);
  if (ummi_unlikely(!__atomic_compare_exchange_n(&S->hdr, &hS, hS | HDR_PREV_FREE, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))) {
    ummi_bin_unlock(u, b);
    free_contended(u, C);
    return;
  }
  uint64_t h = hdr_make(C, g, HDR_LOCK, 0);
  __atomic_store_n(&C->hdr, h, __ATOMIC_RELAXED);
  ummi_bin_link_unlock(u, b, C);
  chunk_unlock_store(C, h);
  UMM_CHECK_QUIET(u);
}

void ummi_free_chunk(umm_t *u, umm_block_t *c, int from_drain, const char *const msg[3]) {
  for (;;) {
    uint64_t h;
    if (chunk_trylock(c, &h)) {
      if (ummi_unlikely(hdr_is_free(h) || (hdr_is_deferred(h) && !from_drain))) {
        chunk_unlock(c);
        ummi_fatal(msg[1], chunk_payload(c));
      }
      if (ummi_release_locked(u, c, h) == UMMI_OK) return;
    } else {
      ummi_contended(u);
    }
    ummi_backoff(u);
  }
}

/* ---- in-use chunk changes (realloc, memalign) --------------------------- */
umm_block_t *ummi_split_used_locked(umm_block_t *c, uint64_t *h, size_t keep) {
  size_t g = hdr_size(*h);
  UMM_ASSERT(hdr_is_used(*h) && keep >= MIN_G && g >= keep + MIN_G);
  umm_block_t *t = chunk_at(c, keep);
  /* DEFERRED marks the tail as "being freed" for walkers until released. */
  UMMI_VG_HDR(t);
  __atomic_store_n(&t->hdr, hdr_make(t, g - keep, HDR_IN_USE | HDR_DEFERRED, 0), __ATOMIC_RELAXED);
  *h = hdr_make(c, keep, *h & (HDR_IN_USE | HDR_PREV_FREE | HDR_LOCK | HDR_DEFERRED), hdr_tags(*h)) | HDR_LOCK;
  __atomic_store_n(&c->hdr, *h, __ATOMIC_RELAXED);
  return t;
}

int ummi_grow_locked(umm_t *u, umm_block_t *C, uint64_t *hC, size_t want) {
  lockset_t ls = {{C}, 1, {0}, 0};
  size_t g = hdr_size(*hC);
  uint64_t hS, hSS;
  umm_block_t *S = chunk_at(C, g);
  if (!ls_chunk(u, &ls, S, &hS)) return ls_fail(u, &ls);
  if (!hdr_is_free(hS) || g + hdr_size(hS) < want) { chunk_unlock(S); return UMMI_NOMEM; }
  unsigned bs = ummi_bin_of(hdr_size(hS));
  if (!ls_bin(u, &ls, bs)) return ls_fail(u, &ls);
  umm_block_t *SS = chunk_at(S, hdr_size(hS));
  if (!ls_chunk(u, &ls, SS, &hSS)) return ls_fail(u, &ls);
  /* Grow by at least MIN_G granules so the remainder's header never lands
   * on S's bin links (S + 8 .. S + 24): R can then be linked before S is
   * unlinked, and the free space never vanishes from the index. */
  if (want < g + MIN_G) want = g + MIN_G;
  size_t total = g + hdr_size(hS), rest = total - want;
  if (rest < MIN_G) { want = total; rest = 0; }
  else if (!ls_bin(u, &ls, ummi_bin_of(rest))) return ls_fail(u, &ls);

  *hC = hdr_make(C, want, (*hC & (HDR_IN_USE | HDR_PREV_FREE | HDR_DEFERRED)) | HDR_LOCK, hdr_tags(*hC));
  if (rest) {
    umm_block_t *R = chunk_at(C, want);
    UMMI_VG_HDR(R);                                 /* was S's payload */
    __atomic_store_n(&R->hdr, hdr_make(R, rest, HDR_LOCK, 0), __ATOMIC_RELAXED);
    ummi_set_footer(R, rest);
    ummi_bin_link_locked(u, ummi_bin_of(rest), R);
    ummi_bin_unlink_locked(u, bs, S);
    __atomic_store_n(&C->hdr, *hC, __ATOMIC_RELAXED);
    ls_unlock_bins(u, &ls);
    chunk_unlock_store(R, hdr_peek(R));
    chunk_unlock(SS);
  } else {
    ummi_bin_unlink_locked(u, bs, S);
    __atomic_store_n(&C->hdr, *hC, __ATOMIC_RELAXED);
    __atomic_store_n(&S->hdr, HDR_DEAD, __ATOMIC_RELAXED);
    ls_unlock_bins(u, &ls);
    chunk_unlock_update(SS, HDR_PREV_FREE, 0);
  }
  return UMMI_OK;
}
