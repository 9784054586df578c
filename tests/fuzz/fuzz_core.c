/* fuzz_core.c - libFuzzer target for the umm core (one region, one thread).
 *
 * The input is decoded into a sequence of core operations (umm_malloc,
 * _nowait, umm_free, _nowait, umm_drain, umm_realloc, umm_memalign, the batch
 * calls, umm_set_tags, umm_walk, _nowait, umm_check, umm_get_stats) with sizes,
 * alignments and tags taken from the input. A shadow table keeps every live
 * block (pointer, requested size, usable size, tags, content seed); after
 * every operation the region is checked against it:
 *   - umm_check == 0; the walk tiles the region, every live block appears
 *     exactly once as an in-use chunk with its tags and umm_usable_size, every
 *     other in-use chunk is a deferred free (umm_free_nowait) not yet merged;
 *   - umm_get_stats equals the sums over the walk (deferred included);
 *   - live blocks do not overlap; content patterns are intact before every
 *     free / realloc and at the end; realloc keeps the content prefix and the
 *     tags; memalign honours the alignment; usable size >= the request (and
 *     not more than one unsplittable remainder above it); errno on failure;
 *   - a request that fits the largest free chunk (or an aligned spot in one)
 *     must not fail.
 * At the end everything is freed and drained: the region must be back to its
 * initial state. Any mismatch prints "fuzz_core: FAIL ..." with the operation
 * number and aborts, so libFuzzer reports a crash.
 *
 * Build with -DFUZZ_REPLAY_MAIN for a plain program (no libFuzzer runtime)
 * that runs every file / directory given as arguments (see replay_main.c).
 * Environment: FUZZ_CORE_TRACE=1 prints every decoded operation to stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umm.h"
#define FZ_NAME "fuzz_core"
#include "fz_common.h"

#define FZ_MAX_LIVE   256u                 /* shadow table capacity */
#define FZ_MAX_OPS    400u                 /* operations decoded per input */
#define FZ_HEAD       512u                 /* pattern bytes at a block's start */
#define FZ_TAIL       64u                  /* ... and before the end of the request */
#define FZ_MIN_G      2u                   /* smallest chunk in granules (src/umm_header.h MIN_G) */
#define FZ_SPACE      ((size_t)40 << 20)   /* largest region: more than one 32 MiB chunk */
#define FZ_MAX_CHUNKS 4096u                /* walk buffer */

static int fz_drains;                     /* the running call drains the deferred list */

__attribute__((noreturn)) static void fz_fatal(const char *msg, const void *ptr) {
  fz_fail("umm fatal handler: %s ptr=%p", msg ? msg : "(null)", ptr);
}


/* Sizes: mostly small, with every edge the API names. */
static size_t in_size(fz_in_t *in) {
  uint8_t k = in_u8(in);
  switch (k & 15) {
  case 0:  return 0;
  case 1: case 2: case 3: case 4: return in_u8(in);
  case 5: case 6: return in_u16(in) & 0x0fff;
  case 7:  return in_u16(in);
  case 8:  return (size_t)in_u32(in) & 0x3fffff;            /* up to 4 MiB */
  case 9:  return UMM_MAX_CHUNK - (size_t)(in_u8(in) & 63);  /* largest chunk */
  case 10: return UMM_MAX_CHUNK + 1 + (size_t)(in_u8(in) & 63);
  case 11: return SIZE_MAX - (size_t)in_u8(in);             /* near SIZE_MAX */
  case 12: return ((size_t)1 << (in_u8(in) % 64)) + (size_t)(int8_t)in_u8(in); /* powers of two +- */
  case 13: return (size_t)PTRDIFF_MAX + (size_t)(int8_t)in_u8(in);
  case 14: return (size_t)in_u8(in) * 16u + 8u - (size_t)(in_u8(in) & 15); /* around granule edges */
  default: return (size_t)in_u8(in) << 12;
  }
}
/* Alignments: valid powers of two (1 .. 2^24) and invalid ones. */
static size_t in_align(fz_in_t *in) {
  uint8_t k = in_u8(in);
  if (k < 200) return (size_t)1 << (k % 25);
  switch (k % 6) {
  case 0:  return 0;
  case 1:  return (size_t)1 << (25 + k % 8);                /* too large */
  case 2:  return SIZE_MAX;
  case 3:  return (size_t)1 << 63;
  case 4:  return (size_t)(in_u8(in) | 1u) * 48u;           /* not a power of two */
  default: return ((size_t)1 << (k % 25)) + 16;
  }
}
static uint32_t in_tags(fz_in_t *in) {
  uint8_t k = in_u8(in);
  switch (k & 3) {
  case 0:  return 0;
  case 1:  return k >> 2;
  case 2:  return 0xffffffffu - (k >> 2);
  default: return in_u32(in);
  }
}

/* ---- shadow table ------------------------------------------------------------------------ */
typedef struct fz_block {
  unsigned char *p;
  size_t   req;                            /* requested size */
  size_t   usable;                         /* umm_usable_size at allocation */
  uint32_t tags;
  uint32_t seed;                           /* content pattern */
} fz_block_t;

static fz_block_t fz_live[FZ_MAX_LIVE];
static size_t fz_nlive;
static void *fz_deferred[FZ_MAX_OPS + 1];   /* freed with umm_free_nowait, maybe not merged yet */
static size_t fz_ndeferred;
static uint32_t fz_seed_next;

static umm_t *fz_u;
static unsigned char *fz_space;
static size_t fz_bytes;
static umm_chunk_t fz_chunks[FZ_MAX_CHUNKS];
static size_t fz_nchunks;
static umm_stats_t fz_init_stats, fz_stats;
static size_t fz_largest_free;              /* from the last check */

/* Pattern positions: [0, min(req, HEAD)), [max(HEAD, req - TAIL), req), and
 * the last 8 usable bytes (they prove the usable size is really ours). */
static void fill(const fz_block_t *b) {
  size_t h = b->req < FZ_HEAD ? b->req : FZ_HEAD;
  for (size_t i = 0; i < h; i++) b->p[i] = pat(b->seed, i);
  for (size_t i = b->req > FZ_HEAD + FZ_TAIL ? b->req - FZ_TAIL : h; i < b->req; i++) b->p[i] = pat(b->seed, i);
  for (size_t i = b->usable - 8; i < b->usable; i++) b->p[i] = pat(b->seed, i);
}
/* Checks the pattern positions of b below `limit` (req for a full check);
 * `q` is where the bytes are now (realloc may have moved them). */
static void verify(const fz_block_t *b, const unsigned char *q, size_t limit, int with_usable_tail, const char *what) {
  size_t h = b->req < FZ_HEAD ? b->req : FZ_HEAD;
  size_t lim = limit < b->req ? limit : b->req;
  for (size_t i = 0; i < h && i < lim; i++)
    FZ_CHECK(q[i] == pat(b->seed, i), "%s: content of block %p (req %zu) changed at byte %zu: 0x%02x, expected 0x%02x",
             what, (void *)b->p, b->req, i, q[i], pat(b->seed, i));
  for (size_t i = b->req > FZ_HEAD + FZ_TAIL ? b->req - FZ_TAIL : h; i < lim; i++)
    FZ_CHECK(q[i] == pat(b->seed, i), "%s: content of block %p (req %zu) changed at byte %zu: 0x%02x, expected 0x%02x",
             what, (void *)b->p, b->req, i, q[i], pat(b->seed, i));
  if (with_usable_tail)
    for (size_t i = b->usable - 8; i < b->usable; i++)
      FZ_CHECK(q[i] == pat(b->seed, i), "%s: last usable bytes of block %p (usable %zu) changed at byte %zu",
               what, (void *)b->p, b->usable, i);
}

static size_t g_of(size_t size) {          /* as the core rounds: granules incl. header */
  size_t g = (size + UMM_HEADER_SIZE + UMM_GRANULE - 1) / UMM_GRANULE;
  return g < FZ_MIN_G ? FZ_MIN_G : g;
}

/* A fresh block from an allocation call: checks and records it. Its usable
 * size may exceed the request's granules (or floor_g, when larger) by at most
 * MIN_G - 1 granules: a remainder too small to split off. */
static void add_block(void *p, size_t req, uint32_t tags, size_t align, size_t floor_g) {
  FZ_CHECK(p != NULL, "internal: add_block(NULL)");
  FZ_CHECK(fz_nlive < FZ_MAX_LIVE, "internal: shadow table full");
  uintptr_t a = (uintptr_t)p;
  if (align < UMM_ALIGNMENT) align = UMM_ALIGNMENT;
  FZ_CHECK((a & (align - 1)) == 0, "block %p (req %zu) not aligned to %zu", p, req, align);
  FZ_CHECK(a >= (uintptr_t)fz_space && a + req <= (uintptr_t)fz_space + fz_bytes,
           "block %p (req %zu) outside the region [%p, +%zu)", p, req, (void *)fz_space, fz_bytes);
  size_t us = umm_usable_size(p);
  FZ_CHECK(us >= req, "usable size %zu < request %zu (block %p)", us, req, p);
  size_t g = g_of(req) > floor_g ? g_of(req) : floor_g;
  size_t max_us = (g + FZ_MIN_G - 1) * UMM_GRANULE - UMM_HEADER_SIZE;
  FZ_CHECK(us <= max_us, "usable size %zu of block %p too large for request %zu (max %zu)", us, p, req, max_us);
  FZ_CHECK(umm_tags(p) == tags, "tags of new block %p: 0x%x, expected 0x%x", p, umm_tags(p), tags);
  FZ_CHECK(umm_owns(fz_u, p) == 1, "umm_owns(new block %p) != 1", p);
  for (size_t i = 0; i < fz_nlive; i++) {
    const fz_block_t *o = &fz_live[i];
    FZ_CHECK(a + us <= (uintptr_t)o->p - UMM_HEADER_SIZE || (uintptr_t)o->p + o->usable <= a - UMM_HEADER_SIZE,
             "new block %p (usable %zu) overlaps live block %p (usable %zu)", p, us, (void *)o->p, o->usable);
  }
  fz_block_t *b = &fz_live[fz_nlive++];
  b->p = p; b->req = req; b->usable = us; b->tags = tags; b->seed = ++fz_seed_next * 2654435761u;
  fill(b);
}
static void drop_block(size_t i) { fz_live[i] = fz_live[--fz_nlive]; }

/* ---- region checks ---------------------------------------------------------------------- */
typedef struct fz_walk { size_t n, stop_after; int stop_value; } fz_walk_t;
static int walk_visit(const umm_chunk_t *c, void *arg) {
  fz_walk_t *w = arg;
  FZ_CHECK(w->n < FZ_MAX_CHUNKS, "walk: more than %u chunks", FZ_MAX_CHUNKS);
  fz_chunks[w->n++] = *c;
  if (w->stop_after && w->n >= w->stop_after) return w->stop_value;
  return 0;
}
static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const fz_block_t *)a)->p, y = (uintptr_t)((const fz_block_t *)b)->p;
  return x < y ? -1 : x > y;
}

/* The whole region against the shadow; after_drain: the call just run drains
 * the deferred list, so nothing may be deferred any more. */
static void check_region(int after_drain) {
  int r = umm_check(fz_u);
  FZ_CHECK(r == 0, "umm_check = %d", r);
  fz_walk_t w = {0, 0, 0};
  r = umm_walk(fz_u, walk_visit, &w);
  FZ_CHECK(r == 0, "umm_walk returned %d", r);
  fz_nchunks = w.n;
  umm_get_stats(fz_u, &fz_stats);

  /* Live blocks sorted by address: matched against the walk in one pass. */
  static fz_block_t sorted[FZ_MAX_LIVE];
  memcpy(sorted, fz_live, fz_nlive * sizeof *sorted);
  qsort(sorted, fz_nlive, sizeof *sorted, cmp_ptr);
  for (size_t i = 0; i + 1 < fz_nlive; i++)
    FZ_CHECK((uintptr_t)sorted[i].p + sorted[i].usable + UMM_HEADER_SIZE <= (uintptr_t)sorted[i + 1].p,
             "live blocks overlap: %p (usable %zu) and %p", (void *)sorted[i].p, sorted[i].usable, (void *)sorted[i + 1].p);

  size_t li = 0, nfree = 0, inuse = 0, freeb = 0, largest = 0, ndef = 0, total = 0;
  uintptr_t lo = (uintptr_t)fz_space, hi = lo + fz_bytes;
  for (size_t i = 0; i < fz_nchunks; i++) {
    const umm_chunk_t *c = &fz_chunks[i];
    uintptr_t p = (uintptr_t)c->ptr;
    FZ_CHECK((p & (UMM_ALIGNMENT - 1)) == 0, "walk: chunk %p not 16-aligned", c->ptr);
    FZ_CHECK(p - UMM_HEADER_SIZE >= lo && p + c->size <= hi, "walk: chunk %p (%zu) outside the region", c->ptr, c->size);
    FZ_CHECK((c->size + UMM_HEADER_SIZE) % UMM_GRANULE == 0, "walk: chunk %p size %zu not granular", c->ptr, c->size);
    if (i + 1 < fz_nchunks) {
      uintptr_t next = (uintptr_t)fz_chunks[i + 1].ptr, end = p + c->size + UMM_HEADER_SIZE;
      FZ_CHECK(next == end || next == end + UMM_GRANULE, "walk: chunk %p (%zu) followed by %p (not tiled)",
               c->ptr, c->size, fz_chunks[i + 1].ptr);
    }
    total += c->size + UMM_HEADER_SIZE;
    while (li < fz_nlive && (uintptr_t)sorted[li].p < p)
      fz_fail("live block %p (req %zu, usable %zu) not seen by the walk (next chunk %p)",
              (void *)sorted[li].p, sorted[li].req, sorted[li].usable, c->ptr);
    if (c->in_use) {
      inuse += c->size;
      if (li < fz_nlive && (uintptr_t)sorted[li].p == p) {
        const fz_block_t *b = &sorted[li++];
        FZ_CHECK(!(c->flags & UMM_CHUNK_DEFERRED), "walk: live block %p flagged deferred", c->ptr);
        FZ_CHECK(c->size == b->usable, "walk: live block %p size %zu, usable size was %zu", c->ptr, c->size, b->usable);
        FZ_CHECK(c->size == umm_usable_size(c->ptr), "walk: block %p size %zu != umm_usable_size %zu",
                 c->ptr, c->size, umm_usable_size(c->ptr));
        FZ_CHECK(c->tags == b->tags, "walk: block %p tags 0x%x, expected 0x%x", c->ptr, c->tags, b->tags);
        FZ_CHECK(umm_tags(c->ptr) == b->tags, "umm_tags(%p) = 0x%x, expected 0x%x", c->ptr, umm_tags(c->ptr), b->tags);
      } else {
        FZ_CHECK(c->flags & UMM_CHUNK_DEFERRED, "walk: in-use chunk %p (%zu bytes, tags 0x%x) is no live block and not deferred",
                 c->ptr, c->size, c->tags);
        size_t k = 0;
        while (k < fz_ndeferred && fz_deferred[k] != c->ptr) k++;
        FZ_CHECK(k < fz_ndeferred, "walk: deferred chunk %p was never freed with umm_free_nowait", c->ptr);
        ndef++;
      }
    } else {
      nfree++; freeb += c->size;
      if (c->size > largest) largest = c->size;
      FZ_CHECK(c->tags == 0 && c->flags == 0, "walk: free chunk %p has tags 0x%x flags 0x%x", c->ptr, c->tags, c->flags);
      FZ_CHECK(!umm_owns(fz_u, c->ptr), "umm_owns(free chunk %p) != 0", c->ptr);
    }
  }
  FZ_CHECK(li == fz_nlive, "live block %p (req %zu) not seen by the walk", (void *)sorted[li].p, sorted[li].req);
  /* Deferred entries no longer flagged have been merged. */
  size_t keep = 0;
  for (size_t k = 0; k < fz_ndeferred; k++) {
    int seen = 0;
    for (size_t i = 0; i < fz_nchunks && !seen; i++)
      seen = fz_chunks[i].ptr == fz_deferred[k] && fz_chunks[i].in_use && (fz_chunks[i].flags & UMM_CHUNK_DEFERRED);
    if (seen) fz_deferred[keep++] = fz_deferred[k];
  }
  fz_ndeferred = keep;
  if (after_drain) FZ_CHECK(ndef == 0, "%zu deferred chunks left after a draining call", ndef);
  FZ_CHECK(fz_stats.chunks == fz_nchunks, "stats.chunks %zu, walk saw %zu", fz_stats.chunks, fz_nchunks);
  FZ_CHECK(fz_stats.free_chunks == nfree, "stats.free_chunks %zu, walk saw %zu", fz_stats.free_chunks, nfree);
  FZ_CHECK(fz_stats.bytes_in_use == inuse, "stats.bytes_in_use %zu, walk saw %zu", fz_stats.bytes_in_use, inuse);
  size_t shadow_inuse = 0;
  for (size_t i = 0; i < fz_nlive; i++) shadow_inuse += fz_live[i].usable;
  FZ_CHECK(fz_stats.bytes_in_use >= shadow_inuse, "stats.bytes_in_use %zu < live usable bytes %zu",
           fz_stats.bytes_in_use, shadow_inuse);
  FZ_CHECK(fz_stats.bytes_free == freeb, "stats.bytes_free %zu, walk saw %zu", fz_stats.bytes_free, freeb);
  FZ_CHECK(fz_stats.largest_free == largest, "stats.largest_free %zu, walk saw %zu", fz_stats.largest_free, largest);
  FZ_CHECK(fz_stats.deferred == ndef, "stats.deferred %zu, walk saw %zu deferred chunks", fz_stats.deferred, ndef);
  FZ_CHECK(fz_stats.bytes_total == fz_init_stats.bytes_total, "stats.bytes_total %zu, was %zu at init",
           fz_stats.bytes_total, fz_init_stats.bytes_total);
  FZ_CHECK(total <= fz_stats.bytes_total, "walk tiles %zu bytes > bytes_total %zu", total, fz_stats.bytes_total);
  FZ_CHECK(fz_stats.contention == 0, "contention %llu in a single thread", (unsigned long long)fz_stats.contention);
  fz_largest_free = largest;
}

/* Whether a free chunk (last walk) holds `size` bytes at an `align`-aligned
 * spot with 64 bytes of margin each side (then memalign must not fail). */
static int aligned_fit(size_t align, size_t size) {
  if (align < UMM_ALIGNMENT) align = UMM_ALIGNMENT;
  for (size_t i = 0; i < fz_nchunks; i++) {
    if (fz_chunks[i].in_use) continue;
    uintptr_t lo = (uintptr_t)fz_chunks[i].ptr, hi = lo + fz_chunks[i].size;
    uintptr_t a = (lo + 64 + align - 1) & ~(uintptr_t)(align - 1);
    if (a > lo && a < hi && size <= hi - a && hi - a - size >= 64) return 1;
  }
  return 0;
}
/* A request the largest free chunk can hold (so waiting calls must succeed). */
static int fits(size_t size) {
  return size <= UMM_MAX_CHUNK && g_of(size) * UMM_GRANULE - UMM_HEADER_SIZE <= fz_largest_free;
}
static void expect_errno(int got, int want, const char *what, size_t size) {
  FZ_CHECK(got == want, "%s(size %zu) failed with errno %d (%s), expected %d (%s)", what, size, got, strerror(got),
           want, strerror(want));
}

/* ---- operations ---------------------------------------------------------------------------------- */
enum { OP_MALLOC, OP_MALLOC_NOWAIT, OP_FREE, OP_FREE_NOWAIT, OP_DRAIN, OP_REALLOC, OP_MEMALIGN, OP_MALLOC_BATCH,
       OP_FREE_BATCH, OP_SET_TAGS, OP_WALK, OP_WALK_NOWAIT, OP_CHECK, OP_STATS, OP_MALLOC2, OP_FREE2, OP_COUNT };
static const char *const OP_NAMES[OP_COUNT] = {
  "umm_malloc", "umm_malloc_nowait", "umm_free", "umm_free_nowait", "umm_drain", "umm_realloc", "umm_memalign",
  "umm_malloc_batch", "umm_free_batch", "umm_set_tags", "umm_walk", "umm_walk_nowait", "umm_check",
  "umm_get_stats", "umm_malloc", "umm_free" };

static void do_malloc(fz_in_t *in, int nowait) {
  size_t size = in_size(in);
  uint32_t tags = in_tags(in);
  if (fz_nlive >= FZ_MAX_LIVE) return;
  int fit = fits(size);
  if (!nowait && size <= UMM_MAX_CHUNK) fz_drains = 1;
  errno = 12345;
  void *p = nowait ? umm_malloc_nowait(fz_u, size, tags) : umm_malloc(fz_u, size, tags);
  int e = errno;
  fz_log("%s(%zu, tags 0x%x) = %p errno %d", nowait ? "umm_malloc_nowait" : "umm_malloc", size, tags, p, p ? 0 : e);
  if (p) { add_block(p, size, tags, 0, 0); return; }
  FZ_CHECK(size > UMM_MAX_CHUNK || !fit || nowait, "umm_malloc(%zu) failed though the largest free chunk has %zu bytes",
           size, fz_largest_free);
  expect_errno(e, ENOMEM, nowait ? "umm_malloc_nowait" : "umm_malloc", size);
}

static void do_free(fz_in_t *in, int nowait) {
  uint8_t k = in_u8(in);
  if (!fz_nlive || k == 255) {             /* NULL is a no-op */
    errno = 777;
    if (nowait) umm_free_nowait(fz_u, NULL); else umm_free(fz_u, NULL);
    FZ_CHECK(errno == 777, "free(NULL) changed errno to %d", errno);
    fz_log("%s(NULL)", nowait ? "umm_free_nowait" : "umm_free");
    return;
  }
  size_t i = k % fz_nlive;
  fz_block_t b = fz_live[i];
  verify(&b, b.p, b.req, 1, "before free");
  fz_log("%s(%p) req %zu", nowait ? "umm_free_nowait" : "umm_free", (void *)b.p, b.req);
  errno = 777;
  if (nowait) { umm_free_nowait(fz_u, b.p); fz_deferred[fz_ndeferred++] = b.p; }
  else { umm_free(fz_u, b.p); fz_drains = 1; }
  FZ_CHECK(errno == 777, "free changed errno to %d", errno);
  drop_block(i);
}

static void do_realloc(fz_in_t *in) {
  uint8_t k = in_u8(in);
  size_t size = in_size(in);
  if (!fz_nlive || k == 255) {             /* realloc(NULL, n) = malloc(n, tags 0) */
    if (fz_nlive >= FZ_MAX_LIVE) return;
    int fit = fits(size);
    if (size <= UMM_MAX_CHUNK) fz_drains = 1;
    errno = 12345;
    void *p = umm_realloc(fz_u, NULL, size);
    int e = errno;
    fz_log("umm_realloc(NULL, %zu) = %p", size, p);
    if (p) { add_block(p, size, 0, 0, 0); return; }
    FZ_CHECK(!fit, "umm_realloc(NULL, %zu) failed though the largest free chunk has %zu bytes", size, fz_largest_free);
    expect_errno(e, ENOMEM, "umm_realloc(NULL)", size);
    return;
  }
  size_t i = k % fz_nlive;
  fz_block_t b = fz_live[i];
  verify(&b, b.p, b.req, 1, "before realloc");
  FZ_CHECK(umm_usable_size(b.p) == b.usable, "umm_usable_size(%p) = %zu, was %zu", (void *)b.p,
           umm_usable_size(b.p), b.usable);
  int fit = fits(size);
  if (size <= UMM_MAX_CHUNK) fz_drains = 1;
  errno = 12345;
  unsigned char *q = umm_realloc(fz_u, b.p, size);
  int e = errno;
  fz_log("umm_realloc(%p req %zu usable %zu, %zu) = %p", (void *)b.p, b.req, b.usable, size, (void *)q);
  if (size == 0) {                         /* frees, returns NULL */
    FZ_CHECK(q == NULL, "umm_realloc(p, 0) returned %p, expected NULL", (void *)q);
    drop_block(i);
    return;
  }
  if (!q) {
    FZ_CHECK(size > UMM_MAX_CHUNK || !fit, "umm_realloc(%p, %zu) failed though the largest free chunk has %zu bytes",
             (void *)b.p, size, fz_largest_free);
    expect_errno(e, ENOMEM, "umm_realloc", size);
    verify(&b, b.p, b.req, 1, "after failed realloc (block must be intact)");
    FZ_CHECK(umm_tags(b.p) == b.tags, "failed realloc changed tags of %p", (void *)b.p);
    return;
  }
  if (size <= UMM_MAX_CHUNK && g_of(size) <= (b.usable + UMM_HEADER_SIZE) / UMM_GRANULE)
    FZ_CHECK(q == b.p, "umm_realloc(%p usable %zu, %zu) moved to %p: a shrink must stay in place",
             (void *)b.p, b.usable, size, (void *)q);
  verify(&b, q, size, 0, "after realloc (content prefix)");
  FZ_CHECK(umm_tags(q) == b.tags, "umm_realloc(%p) -> %p lost the tags: 0x%x, expected 0x%x", (void *)b.p,
           (void *)q, umm_tags(q), b.tags);
  drop_block(i);
  /* Grow in place takes at least MIN_G granules from the successor (so the
   * remainder's header never lands on its bin links: src/heap.c). */
  size_t old_g = (b.usable + UMM_HEADER_SIZE) / UMM_GRANULE;
  add_block(q, size, b.tags, 0, q == b.p && g_of(size) > old_g ? old_g + FZ_MIN_G : 0);
}

static void do_memalign(fz_in_t *in) {
  size_t align = in_align(in);
  size_t size = in_size(in);
  uint32_t tags = in_tags(in);
  if (fz_nlive >= FZ_MAX_LIVE) return;
  int valid = align && !(align & (align - 1)) && align <= UMM_MAX_ALIGN;
  int fit = valid && size <= UMM_MAX_CHUNK &&
            (align <= UMM_ALIGNMENT ? fits(size) : aligned_fit(align, g_of(size) * UMM_GRANULE));
  errno = 12345;
  void *p = umm_memalign(fz_u, align, size, tags);
  int e = errno;
  fz_log("umm_memalign(%zu, %zu, tags 0x%x) = %p errno %d", align, size, tags, p, p ? 0 : e);
  if (!valid) {
    FZ_CHECK(p == NULL, "umm_memalign(bad alignment %zu) returned %p", align, p);
    FZ_CHECK(e == EINVAL, "umm_memalign(bad alignment %zu) errno %d, expected EINVAL", align, e);
    return;
  }
  if (p) { add_block(p, size, tags, align, 0); return; }
  FZ_CHECK(!fit, "umm_memalign(%zu, %zu) failed though a free chunk has an aligned spot for it", align, size);
  expect_errno(e, ENOMEM, "umm_memalign", size);
}

static void do_malloc_batch(fz_in_t *in) {
  size_t size = in_size(in);
  uint32_t tags = in_tags(in);
  size_t n = in_u8(in) % 17;
  if (fz_nlive + n > FZ_MAX_LIVE) n = FZ_MAX_LIVE - fz_nlive;
  void *out[17];
  for (size_t i = 0; i < 17; i++) out[i] = (void *)(uintptr_t)0x5a5a5a5a;
  int fit = fits(size);
  if (n && size <= UMM_MAX_CHUNK) fz_drains = 1;
  errno = 12345;
  size_t got = umm_malloc_batch(fz_u, size, tags, out, n);
  int e = errno;
  fz_log("umm_malloc_batch(%zu, tags 0x%x, n %zu) = %zu", size, tags, n, got);
  FZ_CHECK(got <= n, "umm_malloc_batch returned %zu > n %zu", got, n);
  for (size_t i = got; i < 17; i++)
    FZ_CHECK(out[i] == (void *)(uintptr_t)0x5a5a5a5a, "umm_malloc_batch wrote out[%zu] beyond its count %zu", i, got);
  for (size_t i = 0; i < got; i++) add_block(out[i], size, tags, 0, 0);
  if (n == 0 || got) return;
  FZ_CHECK(!fit, "umm_malloc_batch(%zu, n %zu) got none though the largest free chunk has %zu bytes", size, n,
           fz_largest_free);
  expect_errno(e, ENOMEM, "umm_malloc_batch", size);
}

static void do_free_batch(fz_in_t *in) {
  void *ptrs[32];
  size_t n = in_u8(in) % 33, m = 0;
  for (size_t j = 0; j < n; j++) {
    uint8_t k = in_u8(in);
    if (!fz_nlive || k >= 240) { ptrs[m++] = NULL; continue; }
    size_t i = k % fz_nlive;
    verify(&fz_live[i], fz_live[i].p, fz_live[i].req, 1, "before free_batch");
    ptrs[m++] = fz_live[i].p;
    drop_block(i);
  }
  fz_log("umm_free_batch(n %zu)", m);
  errno = 777;
  umm_free_batch(fz_u, ptrs, m);
  FZ_CHECK(errno == 777, "umm_free_batch changed errno to %d", errno);
}

static void do_set_tags(fz_in_t *in) {
  uint8_t k = in_u8(in);
  uint32_t tags = in_tags(in);
  if (!fz_nlive) return;
  fz_block_t *b = &fz_live[k % fz_nlive];
  fz_log("umm_set_tags(%p, 0x%x)", (void *)b->p, tags);
  umm_set_tags(fz_u, b->p, tags);
  b->tags = tags;
  FZ_CHECK(umm_tags(b->p) == tags, "umm_tags after umm_set_tags(%p, 0x%x) = 0x%x", (void *)b->p, tags, umm_tags(b->p));
  verify(b, b->p, b->req, 1, "after set_tags");
}

/* A walk stopped by the visitor returns its value and visits no more. */
static void do_walk(fz_in_t *in, int nowait) {
  size_t stop = in_u8(in) % 8;
  int value = (int)(int8_t)in_u8(in);
  if (!value) value = 1;
  fz_walk_t w = {0, stop, value};
  int r = nowait ? umm_walk_nowait(fz_u, walk_visit, &w) : umm_walk(fz_u, walk_visit, &w);
  fz_log("%s(stop after %zu, value %d) = %d, visited %zu", nowait ? "umm_walk_nowait" : "umm_walk", stop, value, r, w.n);
  /* fz_chunks now holds this walk's chunks; check_region() refreshes it. */
  if (stop && w.n >= stop) {
    FZ_CHECK(r == value, "walk stopped by the visitor returned %d, expected %d", r, value);
    FZ_CHECK(w.n == stop, "walk visited %zu chunks after the visitor stopped it at %zu", w.n, stop);
  } else {
    FZ_CHECK(r == 0, "complete walk returned %d", r);
  }
}

static void free_all_and_check_initial(void) {
  fz_opname = "final free + drain";
  for (size_t i = 0; i < fz_nlive; i++) verify(&fz_live[i], fz_live[i].p, fz_live[i].req, 1, "at the end");
  while (fz_nlive) { umm_free(fz_u, fz_live[fz_nlive - 1].p); fz_nlive--; }
  umm_drain(fz_u);
  check_region(1);
  const umm_stats_t *a = &fz_init_stats, *s = &fz_stats;
  FZ_CHECK(s->bytes_in_use == 0 && s->deferred == 0 && s->chunks == s->free_chunks,
           "region not empty at the end: in_use %zu deferred %zu chunks %zu free %zu", s->bytes_in_use, s->deferred,
           s->chunks, s->free_chunks);
  FZ_CHECK(s->bytes_free + s->free_chunks * UMM_HEADER_SIZE == a->bytes_free + a->free_chunks * UMM_HEADER_SIZE,
           "free bytes at the end %zu (%zu chunks), at init %zu (%zu chunks)", s->bytes_free, s->free_chunks,
           a->bytes_free, a->free_chunks);
  if (a->chunks == 1)
    FZ_CHECK(s->chunks == 1 && s->bytes_free == a->bytes_free && s->largest_free == a->largest_free,
             "one-chunk region not back to one chunk: chunks %zu free %zu largest %zu (init %zu)", s->chunks,
             s->bytes_free, s->largest_free, a->bytes_free);
  for (size_t i = 0; i + 1 < fz_nchunks; i++)        /* fully coalesced */
    FZ_CHECK(fz_chunks[i].size + fz_chunks[i + 1].size + 2 * UMM_HEADER_SIZE > (((size_t)1 << UMM_SIZE_BITS) - 1u) * UMM_GRANULE,
             "free neighbours %p (%zu) and %p (%zu) not merged at the end", fz_chunks[i].ptr, fz_chunks[i].size,
             fz_chunks[i + 1].ptr, fz_chunks[i + 1].size);
}

/* ---- entry point ---------------------------------------------------------------------------------- */
static _Alignas(64) unsigned char fz_buffer[FZ_SPACE + 128];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_in_t in = {data, size};
  static int inited;
  if (!inited) {
    inited = 1;
    const char *t = getenv("FUZZ_CORE_TRACE");
    fz_trace = t && *t && *t != '0';
    umm_on_fatal(fz_fatal);
  }
  fz_nlive = 0; fz_ndeferred = 0; fz_seed_next = 0; fz_opno = 0; fz_opname = "init";

  /* Region: start offset (any byte alignment) and size from the first bytes. */
  uint8_t m = in_u8(&in);
  size_t off = in_u8(&in) & 63, bytes;
  switch (m & 7) {
  case 0:  bytes = UMM_MIN_SPACE + (size_t)(in_u8(&in) & 15) * 16; break;
  case 1:  bytes = (size_t)64 << 10; break;
  case 2:  bytes = ((size_t)1 << 20) + in_u16(&in); break;
  case 7:  bytes = FZ_SPACE - (size_t)in_u16(&in); break;     /* two chunks and a separator */
  default: bytes = (size_t)4 << 20; break;
  }
  fz_space = fz_buffer + off;
  fz_bytes = bytes;
  errno = 0;
  FZ_CHECK(umm_init(NULL, bytes) == NULL && errno == EINVAL, "umm_init(NULL) must fail with EINVAL");
  errno = 0;
  FZ_CHECK(umm_init(fz_space, UMM_MIN_SPACE - 1) == NULL && errno == EINVAL, "umm_init(too small) must fail with EINVAL");
  fz_u = umm_init(fz_space, bytes);
  FZ_CHECK(fz_u != NULL, "umm_init(%p, %zu) failed, errno %d", (void *)fz_space, bytes, errno);
  fz_log("umm_init(space+%zu, %zu)", off, bytes);
  fz_init_stats.bytes_total = 0;
  umm_get_stats(fz_u, &fz_init_stats);
  check_region(1);
  FZ_CHECK(fz_stats.bytes_in_use == 0 && fz_stats.chunks == fz_stats.free_chunks,
           "fresh region not empty: in_use %zu chunks %zu free %zu", fz_stats.bytes_in_use, fz_stats.chunks,
           fz_stats.free_chunks);

  while (in.n && fz_opno < FZ_MAX_OPS) {
    uint8_t op = in_u8(&in) % OP_COUNT;
    fz_opno++;
    fz_opname = OP_NAMES[op];
    fz_drains = 0;
    switch (op) {
    case OP_MALLOC: case OP_MALLOC2: do_malloc(&in, 0); break;
    case OP_MALLOC_NOWAIT: do_malloc(&in, 1); break;
    case OP_FREE: case OP_FREE2: do_free(&in, 0); break;
    case OP_FREE_NOWAIT: do_free(&in, 1); break;
    case OP_DRAIN: fz_log("umm_drain()"); umm_drain(fz_u); fz_drains = 1; break;
    case OP_REALLOC: do_realloc(&in); break;
    case OP_MEMALIGN: do_memalign(&in); break;
    case OP_MALLOC_BATCH: do_malloc_batch(&in); break;
    case OP_FREE_BATCH: do_free_batch(&in); fz_drains = 1; break;
    case OP_SET_TAGS: do_set_tags(&in); break;
    case OP_WALK: do_walk(&in, 0); break;
    case OP_WALK_NOWAIT: do_walk(&in, 1); break;
    case OP_CHECK: fz_log("umm_check()"); break;               /* check_region runs it */
    case OP_STATS: {
      umm_stats_t a, b;
      umm_get_stats(fz_u, &a);
      umm_get_stats(fz_u, &b);
      fz_log("umm_get_stats(): in_use %zu free %zu chunks %zu deferred %zu", a.bytes_in_use, a.bytes_free, a.chunks,
             a.deferred);
      FZ_CHECK(memcmp(&a, &b, sizeof a) == 0, "two umm_get_stats in a row differ");
      break;
    }
    }
    check_region(fz_drains);
  }
  free_all_and_check_initial();
  return 0;
}
