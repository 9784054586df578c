/* umm_internal.h - header accessors, micro locks, and the internal functions
 * shared across the core's files (prefix ummi_, grouped by owning file).
 * Only <stdint.h>, <stddef.h>, <string.h> (and <errno.h> for the API's errno
 * promises) are included: the core makes no OS call. */
#ifndef UMM_INTERNAL_H
#define UMM_INTERNAL_H

#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "umm_types.h"

#ifndef UMM_DEBUG
#define UMM_DEBUG 0                        /* 1: assert invariants; 2: also umm_check after each call */
#endif

#define ummi_likely(x)   __builtin_expect(!!(x), 1)
#define ummi_unlikely(x) __builtin_expect(!!(x), 0)
#define UMMI_NOINLINE    __attribute__((noinline))
#define UMMI_STR2(x) #x
#define UMMI_STR(x)  UMMI_STR2(x)

#define UMMI_MAGIC      0x756d6d2d72656731ull   /* "umm-reg1" */

#include "umm_header.h"
#include "umm_valgrind.h"

/* ---- metadata words inside free chunks ------------------------------------
 * Bin links, footers and the deferred-stack link live in payload bytes that
 * are not the program's (free or freed): every core access goes through
 * these, which in UMM_VALGRIND builds open the word for memcheck around the
 * access (umm_valgrind.h) and are plain loads/stores otherwise. */
static inline umm_block_t *ummi_meta_get(umm_block_t *const *w) {
  UMMI_VG_OPEN(w);
  umm_block_t *v = *w;
  UMMI_VG_CLOSE(w);
  return v;
}
static inline void ummi_meta_set(umm_block_t **w, umm_block_t *v) {
  UMMI_VG_OPEN(w);
  *w = v;
  UMMI_VG_CLOSE(w);
}
/* chunk_prev_free / the footer of c (g granules), through ummi_meta_*. */
static inline umm_block_t *ummi_prev_free(umm_block_t *c) {
  return ummi_meta_get((umm_block_t *const *)(void *)((char *)c - sizeof(void *)));
}
static inline void ummi_set_footer(umm_block_t *c, size_t g) { ummi_meta_set(chunk_footer(c, g), c); }
/* The header word at c, which may be no header at all (a pointer under test
 * by ummi_validate / umm_owns): under memcheck it may lie in undefined or
 * NOACCESS bytes, so it is read with its state saved and restored. */
#if UMM_VALGRIND
static inline uint64_t ummi_peek_any(const umm_block_t *c) {
  uint64_t vbits = 0;
  unsigned st = (unsigned)VALGRIND_GET_VBITS(&c->hdr, &vbits, sizeof c->hdr);
  UMMI_VG_DEFINED(&c->hdr, sizeof c->hdr);
  uint64_t h = hdr_peek(c);
  if (st == 1) (void)VALGRIND_SET_VBITS(&c->hdr, &vbits, sizeof c->hdr);
  else if (st == 3) UMMI_VG_NOACCESS(&c->hdr, sizeof c->hdr);
  return h;
}
#else
#define ummi_peek_any(c) hdr_peek(c)
#endif


/* Request size -> chunk granules; 0 when impossible. */
static inline size_t size_to_g(size_t size) {
  if (ummi_unlikely(size > UMM_MAX_CHUNK)) return 0;
  size_t g = (size + UMM_HEADER_SIZE + G - 1) / G;
  return g < MIN_G ? MIN_G : g;
}

/* ---- micro locks ----------------------------------------------------------
 * chunk_trylock: CAS the LOCK bit in; *seen = the header before locking.
 * Fails only when the lock bit is set (a CAS that fails spuriously or loses
 * to a concurrent unlock re-reads and tries again). */
static inline int chunk_trylock(umm_block_t *c, uint64_t *seen) {
  uint64_t h = __atomic_load_n(&c->hdr, __ATOMIC_RELAXED);
  while (!(h & HDR_LOCK)) {
    if (__atomic_compare_exchange_n(&c->hdr, &h, h | HDR_LOCK, 1, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
      *seen = h;
      return 1;
    }
  }
  return 0;
}
/* Unlock a chunk whose header nobody else may change meanwhile (it is free,
 * newly made, or the caller's own block): a plain release store of its final
 * header. */
static inline void chunk_unlock_store(umm_block_t *c, uint64_t h) {
  __atomic_store_n(&c->hdr, h & ~HDR_LOCK, __ATOMIC_RELEASE);
}
/* Unlock an in-use chunk that is not the caller's (a neighbour, a walked
 * chunk): umm_free_nowait may set its DEFERRED bit meanwhile, so clear
 * `clear`, set `set` and drop the lock in one atomic read-modify-write. */
static inline void chunk_unlock_update(umm_block_t *c, uint64_t clear, uint64_t set) {
  uint64_t h = __atomic_load_n(&c->hdr, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(&c->hdr, &h, ((h & ~(clear | HDR_LOCK)) | set), 1,
                                      __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {}
}
/* Lock, change and unlock the in-use chunk c in one step: clear `clear` and
 * set `set` in its header with a CAS that expects the lock bit clear (a
 * concurrent DEFERRED mark only makes it try again). 0, nothing written, when
 * c is locked or free. Used on a successor's PREV_FREE by the holder of its
 * predecessor's lock (heap.c, "Successor flips"). */
static inline int chunk_flip_unlocked(umm_block_t *c, uint64_t clear, uint64_t set) {
  uint64_t h = __atomic_load_n(&c->hdr, __ATOMIC_RELAXED);
  while (!(h & HDR_LOCK) && hdr_is_used(h)) {
    if (__atomic_compare_exchange_n(&c->hdr, &h, (h & ~clear) | set, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
      return 1;
  }
  return 0;
}
static inline void chunk_unlock(umm_block_t *c) { __atomic_fetch_and(&c->hdr, ~HDR_LOCK, __ATOMIC_RELEASE); }

/* ---- fatal errors and asserts --------------------------------------------- */
/* init.c */
__attribute__((noreturn, cold)) void ummi_fatal(const char *msg, const void *ptr);
void ummi_contended(umm_t *u);                         /* count one failed try-lock */
void ummi_backoff(umm_t *u);                           /* run the contention callback */

#if UMM_DEBUG
#define UMM_ASSERT(c) do { if (ummi_unlikely(!(c))) \
    ummi_fatal("assertion failed: " __FILE__ ":" UMMI_STR(__LINE__) ": " #c, NULL); } while (0)
#else
#define UMM_ASSERT(c) do { (void)sizeof(c); } while (0)
#endif
#if UMM_DEBUG >= 2
#define UMM_CHECK_QUIET(u) do { if (umm_check(u) != 0) ummi_fatal("umm_check failed after a call", (u)); } while (0)
#else
#define UMM_CHECK_QUIET(u) do { } while (0)
#endif

/* ---- index.h: free bins (inline; see index.h) ---------------------------- */
#include "index.h"

/* ---- heap.c: the lock protocol's operations ---------------------------------- */
#define UMMI_OK         0
#define UMMI_CONTENDED  1                      /* a try-lock failed; everything was released */
#define UMMI_NOMEM      2                      /* nothing fits */
#define UMMI_RETRY      3                      /* (heap.c internal) take the general path */
/* Claim a free chunk of >= want granules and carve it into up to n chunks of g
 * granules each (want = g * n is preferred, min g): blocks stored in out[],
 * count in *got. nowait bounds the search. */
int      ummi_claim(umm_t *u, size_t g, size_t n, uint32_t tags, int nowait, void **out, size_t *got);
/* Free the in-use chunk c (caller holds c's lock; h = its header as locked):
 * coalesce both sides and index the result. On UMMI_CONTENDED c's lock has
 * been released too. */
int      ummi_release_locked(umm_t *u, umm_block_t *c, uint64_t h);
/* Free c (any thread, waits): lock, check it is in use (else fatal msg[1]),
 * release; retries with back-off. */
void     ummi_free_chunk(umm_t *u, umm_block_t *c, int from_drain, const char *const msg[3]);
/* umm_free's one-pass common case (p not NULL): frees p, handing anything
 * unusual to ummi_free_slow or the general path. umm_free calls it when no
 * free is deferred; umm_free_batch also with some deferred (harmless: a
 * deferred chunk stays in use until a drain frees it, so nothing merges it
 * meanwhile, and a p marked DEFERRED fails the header test). */
void     ummi_free_fast(umm_t *u, void *p);
/* umm_malloc's common case: g < UMMI_EXACT_BINS granules, no free deferred. */
void    *ummi_malloc_small(umm_t *u, size_t g, uint32_t tags);
/* Lock c, waiting; returns the header as locked. */
uint64_t ummi_lock_wait(umm_t *u, umm_block_t *c);
/* Split the in-use chunk c (lock held, header h) after `keep` granules: the
 * tail becomes an in-use chunk with tags 0 that the caller frees. Returns the
 * tail (unlocked). c stays locked with header *h updated. */
umm_block_t *ummi_split_used_locked(umm_block_t *c, uint64_t *h, size_t keep);
/* Grow the in-use chunk c (lock held, header *h) in place into its free
 * successor up to want granules. UMMI_OK with *h updated (c still locked),
 * UMMI_NOMEM when the successor cannot give it, UMMI_CONTENDED (c released). */
int      ummi_grow_locked(umm_t *u, umm_block_t *c, uint64_t *h, size_t want);
int      ummi_claim1(umm_t *u, size_t g, uint32_t tags, int nowait, void **out); /* one block of g granules */
/* For error messages only: 1 when h, which fails its CHECK, looks like an
 * in-use header whose low size byte was overwritten (a 1-byte overflow from
 * the block before): the size restored from CHECK (low 7 bits; bit 7 either
 * way) leads to a valid header that says "previous in use". Reads stay
 * below end (the region's end sentinel). */
static inline int ummi_size_overwritten(const umm_block_t *c, uint64_t h, const void *end) {
  if (!hdr_is_used(h)) return 0;
  size_t low = (size_t)(((h >> HDR_CHECK_SHIFT) ^ ((uintptr_t)c >> 4)) & 0x7f);
  for (size_t b7 = 0; b7 < 2; b7++) {
    size_t g = (hdr_size(h) & ~(size_t)0xff) | (b7 << 7) | low;
    if (g < MIN_G || (size_t)((const char *)end - (const char *)c) < g * G) continue;
    const umm_block_t *s = (const umm_block_t *)((const char *)c + g * G);
    uint64_t hs = ummi_peek_any(s);              /* any memory: memcheck must not mind */
    if (hs != HDR_DEAD && hdr_check_ok(s, hs) && !hdr_prev_free(hs)) return 1;
  }
  return 0;
}
/* umm_ptr_state (umm.h), with p's chunk in *out when it is live. No lock,
 * nothing written. The header integrity test: the size must lead to a chunk
 * with a valid header that says "previous in use" (c is in use, so its
 * successor's PREV_FREE stays clear: only freeing c sets it). The one
 * classifier behind every message about a pointer (ummi_validate here, the
 * preload's through umm_ptr_state). */
#define UMMI_PTR_RETRIES 1000u                  /* looks at a locked header that disagrees with its successor */
/* ummi_ptr_state's common answer in a few instructions: 1 (LIVE, chunk in
 * *out) when p's header is a good unlocked in-use header, in the region,
 * and its successor's is good and says "previous in use"; 0 when anything
 * else holds (a locked header included), and the full classification
 * decides. The tests are ummi_ptr_state's own for that case; the loop, the
 * retries and the diagnosis behind it cost umm_free_batch 88 instructions
 * per block (bench fragment: 540k blocks flushed by thread caches). */
static inline __attribute__((always_inline)) int ummi_ptr_live(umm_t *u, const void *p, umm_block_t **out) {
  uintptr_t a = (uintptr_t)p - UMM_HEADER_SIZE;
  if ((a & (G - 1)) != UMM_HEADER_SIZE || a < (uintptr_t)u->first || a >= (uintptr_t)u->end) return 0;
  umm_block_t *c = (umm_block_t *)a;
  uint64_t h = ummi_peek_any(c);
  size_t g = hdr_size(h);
  /* in use, so CHECK is (address ^ size) alone: hdr_check_ok's free-flag term is 0 */
  if ((h & (HDR_IN_USE | HDR_LOCK | HDR_DEFERRED)) != HDR_IN_USE ||
      ((((uint64_t)(uintptr_t)c >> 4 ^ g) << HDR_CHECK_SHIFT ^ h) & HDR_CHECK_MASK) != 0 || g < MIN_G ||
      (size_t)((char *)u->end - (char *)c) < g * G)
    return 0;
  umm_block_t *s = chunk_at(c, g);
  uint64_t hs = ummi_peek_any(s);
  if (!hdr_successor_live(s, hs)) return 0;
  *out = c;
  return 1;
}
static int ummi_ptr_state_full(umm_t *u, const void *p, umm_block_t **out);
static inline int ummi_ptr_state(umm_t *u, const void *p, umm_block_t **out) {
  if (ummi_likely(ummi_ptr_live(u, p, out))) return UMM_PTR_LIVE;
  return ummi_ptr_state_full(u, p, out);
}
static __attribute__((noinline, unused)) int ummi_ptr_state_full(umm_t *u, const void *p, umm_block_t **out) {
  uintptr_t a = (uintptr_t)p - UMM_HEADER_SIZE;    /* integer compare: p may be anything */
  if (ummi_unlikely((a & (G - 1)) != UMM_HEADER_SIZE || a < (uintptr_t)u->first || a >= (uintptr_t)u->end))
    return UMM_PTR_INVALID;
  umm_block_t *c = chunk_of(p);
  for (unsigned tries = 0;; tries++) {
    uint64_t h = ummi_peek_any(c);
    size_t g = hdr_size(h);
    if (ummi_unlikely(h == HDR_DEAD)) return UMM_PTR_FREED;
    if (ummi_unlikely(!hdr_check_ok(c, h) || g < MIN_G))    /* not a header, or a sentinel's */
      return ummi_size_overwritten(c, h, u->end) ? UMM_PTR_CORRUPT : UMM_PTR_INVALID;
    int freed = hdr_is_free(h) || hdr_is_deferred(h);
    if (ummi_unlikely((size_t)((char *)u->end - (char *)c) < g * G)) return freed ? UMM_PTR_INVALID : UMM_PTR_CORRUPT;
    umm_block_t *s = chunk_at(c, g);
    uint64_t hs = ummi_peek_any(s);
    /* The successor must agree: PREV_FREE exactly when c is free. A word
     * that only looks like a freed header (payload bytes: 1 in 128 pass the
     * CHECK test) is then an invalid pointer, not a double free. But a
     * locked header may be half way through an operation (a release flips
     * the successor's PREV_FREE before it writes the freed header): it is
     * looked at again, a bounded number of times, before it is judged. */
    int agree = hs != HDR_DEAD && hdr_check_ok(s, hs) && hdr_prev_free(hs) == hdr_is_free(h);
    if (ummi_unlikely(!agree && hdr_is_locked(h) && tries < UMMI_PTR_RETRIES)) continue;
    if (ummi_unlikely(freed)) return agree ? UMM_PTR_FREED : UMM_PTR_INVALID;
    if (ummi_unlikely(!agree)) return UMM_PTR_CORRUPT;
    *out = c;
    return UMM_PTR_LIVE;
  }
}
/* Validate a pointer given to free/realloc (msg[0]: invalid pointer message,
 * msg[1]: double free, msg[2]: corrupted header); fatal if bad, else its
 * chunk. */
static inline umm_block_t *ummi_validate(umm_t *u, const void *p, const char *const msg[3]) {
  umm_block_t *c = NULL;
  int st = ummi_ptr_state(u, p, &c);
  if (ummi_unlikely(st != UMM_PTR_LIVE)) ummi_fatal(msg[st - 1], p);
  return c;
}

/* free.c */
extern const char *const ummi_free_msg[3];   /* umm_free's messages: invalid, double free, corrupt */
void     ummi_drain(umm_t *u);
/* umm_free's general path for a non-NULL p: drain, validate (fatal if bad),
 * free waiting. */
void     ummi_free_slow(umm_t *u, void *p);
static inline void ummi_maybe_drain(umm_t *u) {
  if (ummi_unlikely(__atomic_load_n(&u->deferred_count, __ATOMIC_RELAXED) != 0)) ummi_drain(u);
}

/* malloc.c */
/* umm_malloc's general path for g granules (g >= MIN_G): drain, claim
 * waiting; NULL + ENOMEM when nothing fits. */
void    *ummi_malloc_slow(umm_t *u, size_t g, uint32_t tags);

/* walk.c */
/* The count of hand-over-hand walks in progress (umm_walk, umm_memalign's
 * claim_by_walk) goes up before the walk's first lock and down after its
 * last unlock: umm_free_batch relies on it (run_quiet, free.c). */
static inline void ummi_walkers_enter(umm_t *u) { __atomic_fetch_add(&u->walkers, 1u, __ATOMIC_SEQ_CST); }
static inline void ummi_walkers_leave(umm_t *u) { __atomic_fetch_sub(&u->walkers, 1u, __ATOMIC_RELEASE); }
/* One hand-over-hand step (the walker holds n's predecessor): lock n,
 * waiting with back-off unless nowait. 1 (locked, header *hn), 0 (busy,
 * nowait) or -1 (n's header is damaged: out of the region, a bad CHECK, or
 * size 0 short of the end). */
int      ummi_walk_next(umm_t *u, umm_block_t *n, uint64_t *hn, int nowait);

#endif /* UMM_INTERNAL_H */
