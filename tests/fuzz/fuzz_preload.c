/* fuzz_preload.c - libFuzzer target for the preload's malloc family (one
 * thread), built without interposition.
 *
 * The preload's sources (every .c of preload/ and of the core, src/) are compiled into
 * this binary and their exported malloc-family symbols are renamed with a
 * prefix (objcopy --redefine-syms=tests/fuzz/preload.syms: malloc ->
 * ummfz_malloc, ...; see fuzz.mk), so ASan and libFuzzer keep the real
 * malloc while this target calls ummfz_*: the preload's thread caches
 * (small and medium classes), its regions (rotation, commit, purge) and its
 * large blocks (own mappings, mremap) are all reached.
 *
 * The input is decoded into up to FZ_MAX_OPS operations: malloc, calloc,
 * free (and cfree, free_sized, free_aligned_sized), realloc, reallocarray,
 * posix_memalign, aligned_alloc, memalign, valloc, pvalloc,
 * malloc_usable_size, malloc_trim, mallinfo2 / mallinfo / mallopt /
 * malloc_info, operator new (the four forms), the debug API (umm_tag_push /
 * umm_tag_pop, umm_tag_of, umm_heap_walk, umm_heap_check, umm_dump text /
 * json / svg to /dev/null) and the fault layer (umm_fault_set: the
 * preload's mmap / mprotect / madvise / mremap / munmap fail for a while).
 * A shadow table holds every live block (pointer, request, usable size at
 * allocation, expected tag, content seed). Checked:
 *   - every new block: 16-aligned (or the requested alignment; page for
 *     valloc / pvalloc), usable size >= request, not overlapping any live
 *     block, calloc memory zero, umm_tag_of the current tag (the pushed
 *     program tag; with none pushed this thread's tag, or a program tag kept
 *     by a block re-served from the thread cache);
 *   - the content pattern (first 512 and last 64 bytes of the request, last
 *     8 usable bytes; every usable byte of blocks up to 4 KiB) is intact
 *     before every free and realloc, after malloc_trim and faults, and at
 *     the end; realloc keeps the content prefix and never fails to shrink;
 *     a failed realloc / reallocarray leaves the block intact;
 *   - malloc_usable_size of a live block is what it was at allocation;
 *   - errors: NULL + ENOMEM for impossible sizes and overflowing products
 *     (calloc, reallocarray), posix_memalign's EINVAL / ENOMEM return
 *     without touching *out (EINVAL: nor errno; a success may change errno,
 *     e.g. when an munmap of the excess fails), memalign / aligned_alloc EINVAL only
 *     for alignments above 2^63; free keeps errno; with no fault armed a
 *     request of a few MiB never fails;
 *   - umm_heap_check() == 0 after every operation; umm_heap_walk agrees
 *     with the shadow table after each of the first 4 operations, then after
 *     every 8th, before mallinfo and at the end (a walk scans the whole
 *     large-block registry, 2^20 slots: about 1 ms): every live block exactly once (an in-use core
 *     chunk of its usable size and tag, or a UMM_CHUNK_LARGE entry), no other
 *     in-use chunk (thread-cache blocks are UMM_CHUNK_CACHED, not in use;
 *     deferred frees are flagged), no two chunks overlap;
 *   - at the end of every input, after freeing everything and malloc_trim:
 *     no in-use chunk and no large block left; mallinfo2 counts none.
 * Any mismatch prints "fuzz_preload: FAIL at op N (call): ..." and aborts;
 * the preload's own fatal messages (invalid / double free) abort too.
 *
 * Environment set before the preload's constructor reads it (only where the
 * variable is not set already): UMM_ARENA_SIZE=4G (a smaller reservation
 * next to ASan's shadow), UMM_LARGE=256K (large blocks at fuzzable sizes),
 * UMM_PURGE_DELAY=0 (purging on every slow path). FUZZ_PRELOAD_TRACE=1
 * prints every decoded operation to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "umm.h"
#define FZ_NAME "fuzz_preload"
#include "fz_common.h"
#include "umm_debug.h"
#include "umm_fault.h"

/* ---- the preload's malloc family, renamed (tests/fuzz/preload.syms) --------------- */
void  *ummfz_malloc(size_t n);
void   ummfz_free(void *p);
void  *ummfz_calloc(size_t n, size_t m);
void  *ummfz_realloc(void *p, size_t n);
void  *ummfz_reallocarray(void *p, size_t n, size_t m);
int    ummfz_posix_memalign(void **out, size_t align, size_t n);
void  *ummfz_aligned_alloc(size_t align, size_t n);
void  *ummfz_memalign(size_t align, size_t n);
void  *ummfz_valloc(size_t n);
void  *ummfz_pvalloc(size_t n);
size_t ummfz_malloc_usable_size(void *p);
void   ummfz_cfree(void *p);
void   ummfz_free_sized(void *p, size_t n);
void   ummfz_free_aligned_sized(void *p, size_t align, size_t n);
void  *ummfz___libc_malloc(size_t n);
void  *ummfz___libc_calloc(size_t n, size_t m);
void  *ummfz___libc_realloc(void *p, size_t n);
void   ummfz___libc_free(void *p);
void  *ummfz___libc_memalign(size_t align, size_t n);
int    ummfz___posix_memalign(void **out, size_t align, size_t n);
struct mallinfo2 ummfz_mallinfo2(void);
struct mallinfo  ummfz_mallinfo(void);
int    ummfz_malloc_trim(size_t pad);
int    ummfz_mallopt(int param, int value);
int    ummfz_malloc_info(int options, FILE *fp);
void  *ummfz__Znwm(size_t n);
void  *ummfz__Znam(size_t n);
void  *ummfz__ZnwmRKSt9nothrow_t(size_t n, const void *nt);
void  *ummfz__ZnamRKSt9nothrow_t(size_t n, const void *nt);

#define FZ_MAX_LIVE    256u                 /* shadow table capacity */
#define FZ_MAX_OPS     300u                 /* operations decoded per input */
#define FZ_HEAD        512u                 /* pattern bytes at a block's start */
#define FZ_TAIL        64u                  /* ... and before the end of the request */
#define FZ_FULL        4096u                /* blocks up to this usable size are patterned entirely */
#define FZ_LARGE       ((size_t)256 << 10)  /* UMM_LARGE set below */
#define FZ_SURE        ((size_t)4 << 20)    /* with no fault armed, requests up to this never fail */
#define FZ_BUDGET      ((size_t)256 << 20)  /* live bytes at most (requests beyond are skipped) */
#define FZ_MAX_CHUNKS  (1u << 18)           /* walk buffer */

/* ---- environment: before the preload's constructor (default priority) --------------- */
__attribute__((constructor(101))) static void fz_env(void) {
  setenv("UMM_ARENA_SIZE", "4G", 0);
  setenv("UMM_LARGE", "256K", 0);
  setenv("UMM_PURGE_DELAY", "0", 0);
}



/* Sizes: mostly small (the thread caches' classes up to 1032 bytes, medium
 * classes up to 32 KiB), with the preload's edges: the small / medium /
 * core / large boundaries, a few MiB, PTRDIFF_MAX, SIZE_MAX. */
static size_t in_size(fz_in_t *in) {
  uint8_t k = in_u8(in);
  switch (k & 15) {
  case 0:  return 0;
  case 1: case 2: case 3: return in_u8(in);
  case 4:  return 1032 - 40 + (size_t)(in_u8(in) % 80);           /* small max (1032) +- */
  case 5: case 6: return in_u16(in) & 0x0fff;
  case 7:  return in_u16(in);                                      /* medium classes, core */
  case 8:  return (size_t)in_u32(in) & 0x3fffff;                   /* up to 4 MiB: large */
  case 9:  return FZ_LARGE - 64 + (size_t)(in_u8(in) & 127);       /* large threshold +- */
  case 10: return (32768 - 64) + (size_t)(in_u8(in) & 127);        /* medium max +- */
  case 11: return SIZE_MAX - (size_t)in_u8(in);
  case 12: return ((size_t)1 << (in_u8(in) % 64)) + (size_t)(int8_t)in_u8(in); /* powers of two +- */
  case 13: return (size_t)PTRDIFF_MAX + (size_t)(int8_t)in_u8(in);
  case 14: return (size_t)in_u8(in) * 16u + 8u - (size_t)(in_u8(in) & 15);   /* granule edges */
  default: return (size_t)in_u8(in) << 12;                         /* pages, up to 1 MiB */
  }
}
/* Alignments: powers of two up to 2^28, and odd ones. */
static size_t in_align(fz_in_t *in) {
  uint8_t k = in_u8(in);
  if (k < 200) return (size_t)1 << (k % 29);
  switch (k % 6) {
  case 0:  return 0;
  case 1:  return (size_t)1 << (60 + k % 4);                       /* absurd */
  case 2:  return SIZE_MAX - (k & 7);
  case 3:  return ((size_t)1 << 63) + (k & 1);
  case 4:  return (size_t)(in_u8(in) | 1u) * 48u;                  /* not a power of two */
  default: return ((size_t)1 << (k % 25)) + 8;
  }
}

/* ---- shadow table ------------------------------------------------------------------------ */
typedef struct fz_block {
  unsigned char *p;
  size_t   req;
  size_t   usable;
  uint32_t tag;                            /* expected umm_tag_of */
  uint32_t alt_tag;                        /* also accepted (realloc may keep the old tag) */
  int      loose;                          /* made with no program tag pushed: any program tag is
                                              accepted too (a block re-served from the thread
                                              cache keeps the tag it had, see preload/tag.c) */
  uint32_t seed;
  int      large;                          /* seen as UMM_CHUNK_LARGE by the last walk */
} fz_block_t;

static fz_block_t fz_live[FZ_MAX_LIVE];
static size_t fz_nlive, fz_live_bytes;
static uint32_t fz_seed_next;
static uint32_t fz_thread_tag;             /* this thread's automatic tag (UMM_TAG=thread) */
static uint32_t fz_tag_stack[20];
static unsigned fz_tag_depth;
static int fz_fault;                       /* a fault spec is armed: allocations may fail */
static size_t fz_page;
static int fz_devnull;                     /* umm_dump's fd */
static FILE *fz_devnull_f;                 /* malloc_info's stream */

static int tag_ok(const fz_block_t *b, uint32_t t) {
  return t == b->tag || t == b->alt_tag || (b->loose && !(t & 0x80000000u));
}

static uint32_t cur_tag(void) {
  if (!fz_tag_depth) return fz_thread_tag;
  return fz_tag_stack[(fz_tag_depth < 16 ? fz_tag_depth : 16) - 1] & 0x7fffffffu;
}

/* Pattern positions (as fz_check): all usable bytes of small blocks; else
 * [0, min(req, HEAD)), [max(HEAD, req - TAIL), req) and the last 8 usable. */
static void fill(const fz_block_t *b) {
  if (b->usable <= FZ_FULL) {
    for (size_t i = 0; i < b->usable; i++) b->p[i] = pat(b->seed, i);
    return;
  }
  size_t h = b->req < FZ_HEAD ? b->req : FZ_HEAD;
  for (size_t i = 0; i < h; i++) b->p[i] = pat(b->seed, i);
  for (size_t i = b->req > FZ_HEAD + FZ_TAIL ? b->req - FZ_TAIL : h; i < b->req; i++) b->p[i] = pat(b->seed, i);
  for (size_t i = b->usable - 8; i < b->usable; i++) b->p[i] = pat(b->seed, i);
}
/* Checks b's pattern at q (where its bytes are now) below `limit`;
 * with_tail: also the bytes past the request (not kept by realloc). */
static void verify(const fz_block_t *b, const unsigned char *q, size_t limit, int with_tail, const char *what) {
  size_t lim = limit < b->req ? limit : b->req;
  if (b->usable <= FZ_FULL) {
    size_t end = with_tail ? b->usable : lim;
    for (size_t i = 0; i < end; i++)
      FZ_CHECK(q[i] == pat(b->seed, i), "%s: block %p (req %zu, usable %zu) changed at byte %zu: 0x%02x, expected 0x%02x",
               what, (void *)b->p, b->req, b->usable, i, q[i], pat(b->seed, i));
    return;
  }
  size_t h = b->req < FZ_HEAD ? b->req : FZ_HEAD;
  for (size_t i = 0; i < h && i < lim; i++)
    FZ_CHECK(q[i] == pat(b->seed, i), "%s: block %p (req %zu) changed at byte %zu: 0x%02x, expected 0x%02x",
             what, (void *)b->p, b->req, i, q[i], pat(b->seed, i));
  for (size_t i = b->req > FZ_HEAD + FZ_TAIL ? b->req - FZ_TAIL : h; i < lim; i++)
    FZ_CHECK(q[i] == pat(b->seed, i), "%s: block %p (req %zu) changed at byte %zu: 0x%02x, expected 0x%02x",
             what, (void *)b->p, b->req, i, q[i], pat(b->seed, i));
  if (with_tail)
    for (size_t i = b->usable - 8; i < b->usable; i++)
      FZ_CHECK(q[i] == pat(b->seed, i), "%s: last usable bytes of block %p (usable %zu) changed at byte %zu",
               what, (void *)b->p, b->usable, i);
}
static void verify_all(const char *what) {
  for (size_t i = 0; i < fz_nlive; i++) verify(&fz_live[i], fz_live[i].p, fz_live[i].req, 1, what);
}

/* Zero check of calloc memory: everything up to 64 KiB, then the last
 * 4 KiB and one word per 64 KiB in between. */
static void check_zero(const unsigned char *p, size_t n) {
  size_t head = n < 65536 ? n : 65536;
  for (size_t i = 0; i < head; i++) FZ_CHECK(p[i] == 0, "calloc(%zu) block %p byte %zu is 0x%02x", n, (void *)p, i, p[i]);
  if (n <= 65536) return;
  for (size_t i = n - 4096; i < n; i++) FZ_CHECK(p[i] == 0, "calloc(%zu) block %p byte %zu is 0x%02x", n, (void *)p, i, p[i]);
  for (size_t i = 65536; i < n; i += 65536) FZ_CHECK(p[i] == 0, "calloc(%zu) block %p byte %zu is 0x%02x", n, (void *)p, i, p[i]);
}

/* A fresh block: checks and records it. align: what the pointer must honour. */
static void add_block(void *p, size_t req, size_t align, uint32_t tag, uint32_t alt_tag) {
  FZ_CHECK(p != NULL, "internal: add_block(NULL)");
  FZ_CHECK(fz_nlive < FZ_MAX_LIVE, "internal: shadow table full");
  uintptr_t a = (uintptr_t)p;
  if (align < UMM_ALIGNMENT) align = UMM_ALIGNMENT;
  FZ_CHECK((a & (align - 1)) == 0, "block %p (req %zu) not aligned to %zu", p, req, align);
  size_t us = ummfz_malloc_usable_size(p);
  FZ_CHECK(us >= req, "malloc_usable_size %zu < request %zu (block %p)", us, req, p);
  for (size_t i = 0; i < fz_nlive; i++) {
    const fz_block_t *o = &fz_live[i];
    FZ_CHECK(a + us <= (uintptr_t)o->p || (uintptr_t)o->p + o->usable <= a,
             "new block %p (usable %zu) overlaps live block %p (usable %zu)", p, us, (void *)o->p, o->usable);
  }
  fz_block_t *b = &fz_live[fz_nlive++];
  b->p = p; b->req = req; b->usable = us; b->tag = tag; b->alt_tag = alt_tag; b->large = 0;
  b->loose = tag == fz_thread_tag || alt_tag == fz_thread_tag;
  b->seed = ++fz_seed_next * 2654435761u;
  uint32_t t = umm_tag_of(p);
  FZ_CHECK(tag_ok(b, t), "umm_tag_of(new block %p) = 0x%x, expected 0x%x (or 0x%x%s)", p, t, tag, alt_tag,
           b->loose ? " or a program tag" : "");
  fz_live_bytes += req;
  fill(b);
}
static void drop_block(size_t i) {
  fz_live_bytes -= fz_live[i].req;
  fz_live[i] = fz_live[--fz_nlive];
}

/* Whether a request of n bytes fits the live-bytes budget (larger ones are
 * skipped unless they must fail anyway: beyond 2^47 no mapping succeeds). */
static int affordable(size_t n) {
  return n > ((size_t)1 << 47) || fz_live_bytes + n <= FZ_BUDGET;
}
static void expect_fail(void *p, int e, const char *what, size_t n) {
  FZ_CHECK(p == NULL, "%s(%zu) succeeded (%p), expected NULL + ENOMEM", what, n, p);
  FZ_CHECK(e == ENOMEM, "%s(%zu) failed with errno %d (%s), expected ENOMEM", what, n, e, strerror(e));
}
/* After a failed allocation of n bytes: allowed only when it was impossible
 * or a fault is armed. */
static void allowed_failure(int e, const char *what, size_t n) {
  FZ_CHECK(fz_fault || n > FZ_SURE, "%s(%zu) failed (errno %d) with no fault armed", what, n, e);
  FZ_CHECK(e == ENOMEM, "%s(%zu) failed with errno %d (%s), expected ENOMEM", what, n, e, strerror(e));
}

/* ---- the heap walk against the shadow table ----------------------------------------- */
static umm_chunk_t fz_chunks[FZ_MAX_CHUNKS];
static size_t fz_nchunks;
static int fz_walk_overflow;
static int walk_visit(const umm_chunk_t *c, void *arg) {
  (void)arg;
  if (fz_nchunks >= FZ_MAX_CHUNKS) { fz_walk_overflow = 1; return 1; }
  fz_chunks[fz_nchunks++] = *c;
  return 0;
}
static int cmp_chunk(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const umm_chunk_t *)a)->ptr, y = (uintptr_t)((const umm_chunk_t *)b)->ptr;
  return x < y ? -1 : x > y;
}
static const umm_chunk_t *find_chunk(const void *p) {
  size_t lo = 0, hi = fz_nchunks;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if ((uintptr_t)fz_chunks[mid].ptr < (uintptr_t)p) lo = mid + 1; else hi = mid;
  }
  return lo < fz_nchunks && fz_chunks[lo].ptr == p ? &fz_chunks[lo] : NULL;
}

static void check_heap(int walk) {
  int bad = umm_heap_check();
  FZ_CHECK(bad == 0, "umm_heap_check() = %d", bad);
  if (!walk) return;
  fz_nchunks = 0; fz_walk_overflow = 0;
  int r = umm_heap_walk(walk_visit, NULL);
  if (fz_walk_overflow) return;            /* more chunks than the buffer: skip the comparison */
  FZ_CHECK(r == 0, "umm_heap_walk returned %d", r);
  qsort(fz_chunks, fz_nchunks, sizeof *fz_chunks, cmp_chunk);
  size_t inuse = 0;
  for (size_t i = 0; i < fz_nchunks; i++) {
    const umm_chunk_t *c = &fz_chunks[i];
    FZ_CHECK(((uintptr_t)c->ptr & (UMM_ALIGNMENT - 1)) == 0, "walk: chunk %p not 16-aligned", c->ptr);
    if (i + 1 < fz_nchunks)
      FZ_CHECK((uintptr_t)c->ptr + c->size <= (uintptr_t)fz_chunks[i + 1].ptr, "walk: chunk %p (%zu bytes, flags 0x%x) overlaps %p",
               c->ptr, c->size, c->flags, fz_chunks[i + 1].ptr);
    if (c->in_use && !(c->flags & UMM_CHUNK_DEFERRED)) inuse++;
    if (c->flags & UMM_CHUNK_CACHED) FZ_CHECK(!c->in_use, "walk: cached chunk %p reported in use", c->ptr);
  }
  for (size_t i = 0; i < fz_nlive; i++) {
    fz_block_t *b = &fz_live[i];
    const umm_chunk_t *c = find_chunk(b->p);
    FZ_CHECK(c != NULL, "live block %p (req %zu, usable %zu) not seen by umm_heap_walk", (void *)b->p, b->req, b->usable);
    FZ_CHECK(c->in_use && !(c->flags & (UMM_CHUNK_DEFERRED | UMM_CHUNK_CACHED)),
             "walk: live block %p (req %zu) seen as in_use %d flags 0x%x", (void *)b->p, b->req, c->in_use, c->flags);
    FZ_CHECK(c->size == b->usable, "walk: live block %p size %zu, usable size %zu", (void *)b->p, c->size, b->usable);
    FZ_CHECK(tag_ok(b, c->tags), "walk: live block %p tags 0x%x, expected 0x%x", (void *)b->p,
             c->tags, b->tag);
    b->large = (c->flags & UMM_CHUNK_LARGE) != 0;
  }
  FZ_CHECK(inuse == fz_nlive, "walk: %zu in-use chunks, %zu live blocks (a block the program does not hold is in use)",
           inuse, fz_nlive);
}

/* ---- operations -------------------------------------------------------------------------- */
enum { OP_MALLOC, OP_CALLOC, OP_FREE, OP_REALLOC, OP_REALLOCARRAY, OP_POSIX_MEMALIGN, OP_MEMALIGN, OP_USABLE,
       OP_TRIM, OP_TAG, OP_FAULT, OP_INFO, OP_NEW, OP_MALLOC2, OP_FREE2, OP_REWRITE, OP_COUNT };
static const char *const OP_NAMES[OP_COUNT] = {
  "malloc", "calloc", "free", "realloc", "reallocarray", "posix_memalign", "memalign", "malloc_usable_size",
  "malloc_trim", "umm_tag_push/pop", "umm_fault_set", "mallinfo", "operator new", "malloc", "free", "rewrite" };

static void do_malloc(fz_in_t *in) {
  uint8_t v = in_u8(in);
  size_t n = in_size(in);
  if (fz_nlive >= FZ_MAX_LIVE || !affordable(n)) return;
  errno = 12345;
  void *p = v & 1 ? ummfz___libc_malloc(n) : ummfz_malloc(n);
  int e = errno;
  fz_log("%smalloc(%zu) = %p errno %d", v & 1 ? "__libc_" : "", n, p, p ? 0 : e);
  if (n > PTRDIFF_MAX) { expect_fail(p, e, "malloc", n); return; }
  if (!p) { allowed_failure(e, "malloc", n); return; }
  add_block(p, n, 0, cur_tag(), cur_tag());
}

static void do_calloc(fz_in_t *in) {
  uint8_t v = in_u8(in);
  size_t n, m;
  if (v & 2) { n = in_size(in); m = in_u8(in) & 15; }
  else { n = in_u16(in) & 0x3ff; m = in_size(in); }
  size_t total;
  int ovf = __builtin_mul_overflow(n, m, &total);
  if (fz_nlive >= FZ_MAX_LIVE || (!ovf && !affordable(total))) return;
  errno = 12345;
  unsigned char *p = v & 1 ? ummfz___libc_calloc(n, m) : ummfz_calloc(n, m);
  int e = errno;
  fz_log("calloc(%zu, %zu) = %p errno %d", n, m, (void *)p, p ? 0 : e);
  if (ovf || total > PTRDIFF_MAX) { expect_fail(p, e, "calloc (overflowing product)", total); return; }
  if (!p) { allowed_failure(e, "calloc", total); return; }
  check_zero(p, total);
  add_block(p, total, 0, cur_tag(), cur_tag());
}

static void do_free(fz_in_t *in) {
  uint8_t k = in_u8(in), how = in_u8(in);
  if (!fz_nlive || k == 255) {
    errno = 777;
    ummfz_free(NULL);
    ummfz_cfree(NULL);
    FZ_CHECK(errno == 777, "free(NULL) changed errno to %d", errno);
    fz_log("free(NULL)");
    return;
  }
  size_t i = k % fz_nlive;
  fz_block_t b = fz_live[i];
  verify(&b, b.p, b.req, 1, "before free");
  fz_log("free#%u(%p) req %zu", how % 5, (void *)b.p, b.req);
  errno = 777;
  switch (how % 5) {
  case 0: ummfz_free(b.p); break;
  case 1: ummfz_cfree(b.p); break;
  case 2: ummfz_free_sized(b.p, b.req); break;
  case 3: ummfz_free_aligned_sized(b.p, 16, b.req); break;
  default: ummfz___libc_free(b.p); break;
  }
  FZ_CHECK(errno == 777, "free changed errno to %d", errno);
  drop_block(i);
}

/* realloc / reallocarray of live block i (or NULL when i == SIZE_MAX) to n
 * bytes; `arr`: reallocarray(p, n1, n2) with the product n (ovf: it overflowed). */
static void realloc_common(size_t i, size_t n1, size_t n2, int arr) {
  size_t n;
  int ovf = arr ? __builtin_mul_overflow(n1, n2, &n) : (n = n1, 0);
  const char *what = arr ? "reallocarray" : "realloc";
  if (i == SIZE_MAX) {
    if (fz_nlive >= FZ_MAX_LIVE || (!ovf && !affordable(n))) return;
    errno = 12345;
    void *p = arr ? ummfz_reallocarray(NULL, n1, n2) : ummfz_realloc(NULL, n);
    int e = errno;
    fz_log("%s(NULL, %zu) = %p", what, n, p);
    if (ovf || n > PTRDIFF_MAX) { expect_fail(p, e, what, n); return; }
    if (!p) { allowed_failure(e, what, n); return; }
    add_block(p, n, 0, cur_tag(), cur_tag());
    return;
  }
  fz_block_t b = fz_live[i];
  if (!ovf && n > b.req && !affordable(n - b.req)) return;
  verify(&b, b.p, b.req, 1, "before realloc");
  size_t us = ummfz_malloc_usable_size(b.p);
  FZ_CHECK(us == b.usable, "malloc_usable_size(%p) = %zu, was %zu at allocation", (void *)b.p, us, b.usable);
  errno = 12345;
  unsigned char *q = arr ? ummfz_reallocarray(b.p, n1, n2) : (i & 1 ? ummfz___libc_realloc(b.p, n) : ummfz_realloc(b.p, n));
  int e = errno;
  fz_log("%s(%p req %zu usable %zu%s, %zu) = %p errno %d", what, (void *)b.p, b.req, b.usable, b.large ? " large" : "",
         n, (void *)q, q ? 0 : e);
  if (!ovf && n == 0) {                    /* glibc: frees, returns NULL */
    FZ_CHECK(q == NULL, "%s(p, 0) returned %p, expected NULL", what, (void *)q);
    drop_block(i);
    return;
  }
  if (ovf || n > PTRDIFF_MAX || !q) {
    if (ovf || n > PTRDIFF_MAX) expect_fail(q, e, what, n);
    else {
      FZ_CHECK(n > b.usable, "%s(%p usable %zu, %zu): a shrink failed (errno %d)", what, (void *)b.p, b.usable, n, e);
      allowed_failure(e, what, n);
    }
    verify(&b, b.p, b.req, 1, "after a failed realloc (block must be intact)");
    FZ_CHECK(ummfz_malloc_usable_size(b.p) == b.usable, "a failed realloc changed the usable size of %p", (void *)b.p);
    return;
  }
  verify(&b, q, n, 0, "after realloc (content prefix)");
  /* The tag: the current one (none pushed: also a program tag kept in the
   * thread cache), or the block's own, kept (in place, or moved by mremap). */
  uint32_t t = umm_tag_of(q);
  FZ_CHECK(t == cur_tag() || tag_ok(&b, t) || (!fz_tag_depth && !(t & 0x80000000u)),
           "%s(%p) -> %p: umm_tag_of = 0x%x, expected 0x%x or the block's 0x%x", what, (void *)b.p, (void *)q, t,
           cur_tag(), b.tag);
  drop_block(i);
  add_block(q, n, 0, t, t);
}

static void do_realloc(fz_in_t *in) {
  uint8_t k = in_u8(in);
  size_t n = in_size(in);
  realloc_common(!fz_nlive || k == 255 ? SIZE_MAX : k % fz_nlive, n, 1, 0);
}

static void do_reallocarray(fz_in_t *in) {
  uint8_t k = in_u8(in), v = in_u8(in);
  size_t n1 = in_size(in), n2;
  switch (v & 3) {
  case 0:  n2 = 1; break;
  case 1:  n2 = in_u8(in); break;
  case 2:  n2 = (size_t)1 << (in_u8(in) % 64); break;    /* often overflowing */
  default: n2 = in_size(in); break;
  }
  realloc_common(!fz_nlive || k == 255 ? SIZE_MAX : k % fz_nlive, n1, n2, 1);
}

static int pow2(size_t a) { return a && !(a & (a - 1)); }

static void do_posix_memalign(fz_in_t *in) {
  uint8_t v = in_u8(in);
  size_t align = in_align(in), n = in_size(in);
  if (fz_nlive >= FZ_MAX_LIVE || !affordable(n)) return;
  void *out = (void *)(uintptr_t)0x5a5a5a50;
  errno = 4242;
  int r = v & 1 ? ummfz___posix_memalign(&out, align, n) : ummfz_posix_memalign(&out, align, n);
  fz_log("posix_memalign(%zu, %zu) = %d, %p", align, n, r, out);
  if (align < sizeof(void *) || !pow2(align)) {
    FZ_CHECK(r == EINVAL, "posix_memalign(bad alignment %zu) = %d, expected EINVAL", align, r);
    FZ_CHECK(errno == 4242, "posix_memalign(bad alignment %zu) changed errno to %d", align, errno);
  } else if (r == 0) {
    add_block(out, n, align, cur_tag(), cur_tag());
    return;
  } else {
    FZ_CHECK(r == ENOMEM, "posix_memalign(%zu, %zu) = %d, expected 0 or ENOMEM", align, n, r);
    FZ_CHECK(fz_fault || n > FZ_SURE || align > ((size_t)1 << 28),
             "posix_memalign(%zu, %zu) failed with no fault armed", align, n);
  }
  FZ_CHECK(out == (void *)(uintptr_t)0x5a5a5a50, "failed posix_memalign wrote *out = %p", out);
}

/* aligned_alloc, memalign, __libc_memalign, valloc, pvalloc. */
static void do_memalign(fz_in_t *in) {
  uint8_t v = in_u8(in);
  size_t align = in_align(in), n = in_size(in);
  unsigned kind = v % 5;
  if (kind >= 3) align = fz_page;
  size_t req = n;
  if (kind == 4) {                         /* pvalloc: size rounded up to pages */
    if (n > SIZE_MAX - (fz_page - 1)) req = SIZE_MAX;
    else req = (n + fz_page - 1) & ~(fz_page - 1);
  }
  if (fz_nlive >= FZ_MAX_LIVE || !affordable(req)) return;
  static const char *const names[5] = {"aligned_alloc", "memalign", "__libc_memalign", "valloc", "pvalloc"};
  errno = 12345;
  void *p;
  switch (kind) {
  case 0:  p = ummfz_aligned_alloc(align, n); break;
  case 1:  p = ummfz_memalign(align, n); break;
  case 2:  p = ummfz___libc_memalign(align, n); break;
  case 3:  p = ummfz_valloc(n); break;
  default: p = ummfz_pvalloc(n); break;
  }
  int e = errno;
  fz_log("%s(%zu, %zu) = %p errno %d", names[kind], align, n, p, p ? 0 : e);
  if (align > SIZE_MAX / 2 + 1) {          /* glibc: EINVAL only above 2^63 */
    FZ_CHECK(p == NULL && e == EINVAL, "%s(alignment %zu) = %p errno %d, expected NULL + EINVAL", names[kind], align, p, e);
    return;
  }
  if (req > PTRDIFF_MAX) { expect_fail(p, e, names[kind], req); return; }
  if (!p) {
    FZ_CHECK(e == ENOMEM, "%s(%zu, %zu) failed with errno %d, expected ENOMEM", names[kind], align, n, e);
    FZ_CHECK(fz_fault || req > FZ_SURE || align > ((size_t)1 << 28) || req + align < req,
             "%s(%zu, %zu) failed with no fault armed", names[kind], align, n);
    return;
  }
  size_t a = align <= 1 ? 1 : pow2(align) ? align : (size_t)1 << (64 - __builtin_clzll((unsigned long long)align));
  add_block(p, req, a, cur_tag(), cur_tag());
}

static void do_usable(fz_in_t *in) {
  uint8_t k = in_u8(in);
  FZ_CHECK(ummfz_malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) != 0");
  if (!fz_nlive) return;
  const fz_block_t *b = &fz_live[k % fz_nlive];
  size_t us = ummfz_malloc_usable_size(b->p);
  fz_log("malloc_usable_size(%p) = %zu", (void *)b->p, us);
  FZ_CHECK(us == b->usable, "malloc_usable_size(%p) = %zu, was %zu at allocation", (void *)b->p, us, b->usable);
  uint32_t t = umm_tag_of(b->p);
  FZ_CHECK(tag_ok(b, t), "umm_tag_of(%p) = 0x%x, expected 0x%x", (void *)b->p, t, b->tag);
}

static void do_trim(fz_in_t *in) {
  size_t pad = (size_t)in_u8(in) << 12;
  errno = 31;
  int r = ummfz_malloc_trim(pad);
  fz_log("malloc_trim(%zu) = %d", pad, r);
  FZ_CHECK(errno == 31, "malloc_trim changed errno to %d", errno);
  FZ_CHECK(r == 0 || r == 1, "malloc_trim returned %d", r);
  verify_all("after malloc_trim");
}

static void do_tag(fz_in_t *in) {
  uint8_t v = in_u8(in);
  if (v & 1) {
    if (fz_tag_depth) fz_tag_depth--;
    umm_tag_pop();
    fz_log("umm_tag_pop() depth %u", fz_tag_depth);
    return;
  }
  uint32_t tag = v & 2 ? in_u32(in) : (uint32_t)(v >> 2);
  if (fz_tag_depth >= 20) return;
  if (fz_tag_depth < 16) fz_tag_stack[fz_tag_depth] = tag;   /* deeper pushes share the 16th */
  fz_tag_depth++;
  umm_tag_push(tag);
  fz_log("umm_tag_push(0x%x) depth %u", tag, fz_tag_depth);
}

static void do_fault(fz_in_t *in) {
  static const char *const specs[] = {
    "off", "mmap:count=1", "mmap", "mprotect", "mprotect:count=1", "madvise", "mremap", "mremap:count=1",
    "munmap:count=1", "mmap+mremap", "all", "all:after=1,every=2", "mmap:after=1,count=2", "madvise:every=2", "off",
    "off" };
  uint8_t v = in_u8(in);
  const char *s = specs[v % (sizeof specs / sizeof specs[0])];
  int r = umm_fault_set(s);
  FZ_CHECK(r == 0, "umm_fault_set(\"%s\") = %d", s, r);
  fz_fault = strcmp(s, "off") != 0;
  fz_log("umm_fault_set(\"%s\")", s);
  verify_all("after umm_fault_set");
}

static void do_info(fz_in_t *in) {
  uint8_t v = in_u8(in);
  struct mallinfo2 m = ummfz_mallinfo2();
  size_t large, large_bytes;
  check_heap(1);                           /* which live blocks are large */
  large = large_bytes = 0;
  for (size_t i = 0; i < fz_nlive; i++)
    if (fz_live[i].large) { large++; large_bytes += fz_live[i].usable; }
  fz_log("mallinfo2(): arena %zu hblks %zu hblkhd %zu uordblks %zu fordblks %zu", m.arena, m.hblks, m.hblkhd,
         m.uordblks, m.fordblks);
  FZ_CHECK(m.hblks == large, "mallinfo2().hblks = %zu, %zu large blocks live", m.hblks, large);
  FZ_CHECK(m.hblkhd >= large_bytes, "mallinfo2().hblkhd = %zu < %zu bytes of live large blocks", m.hblkhd, large_bytes);
  if (v & 1) {
    struct mallinfo mi = ummfz_mallinfo();
    FZ_CHECK((size_t)mi.hblks == large, "mallinfo().hblks = %d, %zu large blocks live", mi.hblks, large);
  }
  if (v & 2) FZ_CHECK(ummfz_mallopt(v >> 2, (int)v) == 1, "mallopt did not return 1");
  if (v & 4) {                             /* umm_dump, to /dev/null */
    static const char *const fmts[4] = {"text", "json", "svg", "bogus"};
    const char *f = fmts[(v >> 3) & 3];
    errno = 0;
    int r = umm_dump(fz_devnull, f);
    fz_log("umm_dump(\"%s\") = %d errno %d", f, r, r ? errno : 0);
    if (f[0] == 'b') FZ_CHECK(r == -1 && errno == EINVAL, "umm_dump(bad format) = %d errno %d", r, errno);
    else FZ_CHECK(r == 0 || fz_fault, "umm_dump(\"%s\") = %d errno %d", f, r, errno);
    verify_all("after umm_dump");
  }
  if (v & 0x40) {                          /* malloc_info, to /dev/null */
    errno = 0;
    int r = ummfz_malloc_info(v >> 7, fz_devnull_f);
    if (v >> 7) FZ_CHECK(r == -1 && errno == EINVAL, "malloc_info(options %d) = %d errno %d", v >> 7, r, errno);
    else FZ_CHECK(r == 0, "malloc_info(0) = %d", r);
  }
}

/* operator new: only sizes that succeed (a failure would call libstdc++'s). */
static void do_new(fz_in_t *in) {
  uint8_t v = in_u8(in);
  size_t n = in_u16(in);
  if (fz_nlive >= FZ_MAX_LIVE || fz_fault) return;
  static const int nothrow_tag = 0;
  void *p;
  switch (v & 3) {
  case 0:  p = ummfz__Znwm(n); break;
  case 1:  p = ummfz__Znam(n); break;
  case 2:  p = ummfz__ZnwmRKSt9nothrow_t(n, &nothrow_tag); break;
  default: p = ummfz__ZnamRKSt9nothrow_t(n, &nothrow_tag); break;
  }
  fz_log("operator new#%u(%zu) = %p", v & 3, n, p);
  FZ_CHECK(p != NULL, "operator new(%zu) returned NULL", n);
  add_block(p, n, 0, cur_tag(), cur_tag());
}

/* New content in a live block (fresh seed): all of it must stay ours. */
static void do_rewrite(fz_in_t *in) {
  uint8_t k = in_u8(in);
  if (!fz_nlive) return;
  fz_block_t *b = &fz_live[k % fz_nlive];
  verify(b, b->p, b->req, 1, "before rewrite");
  b->seed = ++fz_seed_next * 2654435761u;
  fill(b);
  fz_log("rewrite(%p)", (void *)b->p);
}

static void finish(void) {
  fz_opname = "final free + trim";
  if (fz_fault) { umm_fault_set("off"); fz_fault = 0; }
  verify_all("at the end");
  while (fz_nlive) {
    void *p = fz_live[fz_nlive - 1].p;
    drop_block(fz_nlive - 1);
    ummfz_free(p);
  }
  while (fz_tag_depth) { umm_tag_pop(); fz_tag_depth--; }
  ummfz_malloc_trim(0);
  check_heap(1);
  FZ_CHECK(fz_walk_overflow || fz_nchunks == 0 || !(fz_chunks[fz_nchunks - 1].flags & UMM_CHUNK_LARGE),
           "a large block is left after everything was freed: %p", fz_chunks[fz_nchunks - 1].ptr);
  struct mallinfo2 m = ummfz_mallinfo2();
  FZ_CHECK(m.hblks == 0 && m.hblkhd == 0, "mallinfo2 after everything was freed: hblks %zu hblkhd %zu", m.hblks, m.hblkhd);
}

static void init_once(void) {
  const char *t = getenv("FUZZ_PRELOAD_TRACE");
  fz_trace = t && *t && *t != '0';
  fz_page = (size_t)sysconf(_SC_PAGESIZE);
  fz_devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  fz_devnull_f = fopen("/dev/null", "w");
  FZ_CHECK(fz_devnull >= 0 && fz_devnull_f, "cannot open /dev/null");
  FZ_CHECK(umm_dump, "umm_dump is not linked in");
  FZ_CHECK(umm_tag_of && umm_heap_walk && umm_heap_check && umm_fault_set, "the debug / fault API is not linked in");
  /* This thread's tag: a block from the first slow path may predate set-up. */
  void *a = ummfz_malloc(24), *b = ummfz_malloc(5000);
  FZ_CHECK(a && b, "first allocations failed");
  fz_thread_tag = umm_tag_of(b);
  FZ_CHECK((fz_thread_tag & 0xc0000000u) == 0xc0000000u, "thread tag 0x%x: not UMM_TAG=thread", fz_thread_tag);
  ummfz_free(a);
  ummfz_free(b);
  /* UMM_LARGE must be in effect (else the environment came too late). */
  void *l = ummfz_malloc(FZ_LARGE + 1);
  FZ_CHECK(l != NULL, "malloc(%zu) failed", FZ_LARGE + 1);
  fz_nchunks = 0;
  umm_heap_walk(walk_visit, NULL);
  int seen = 0;
  for (size_t i = 0; i < fz_nchunks; i++) seen |= fz_chunks[i].ptr == l && (fz_chunks[i].flags & UMM_CHUNK_LARGE);
  FZ_CHECK(seen, "a %zu-byte block is not a large block: UMM_LARGE=%s not applied", FZ_LARGE + 1, getenv("UMM_LARGE"));
  ummfz_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int inited;
  if (!inited) { inited = 1; init_once(); }
  fz_in_t in = {data, size};
  fz_nlive = 0; fz_live_bytes = 0; fz_seed_next = 0; fz_opno = 0; fz_opname = "start"; fz_tag_depth = 0; fz_fault = 0;
  check_heap(0);                           /* the walk: the last input's end */
  while (in.n && fz_opno < FZ_MAX_OPS) {
    uint8_t op = in_u8(&in) % OP_COUNT;
    fz_opno++;
    fz_opname = OP_NAMES[op];
    switch (op) {
    case OP_MALLOC: case OP_MALLOC2: do_malloc(&in); break;
    case OP_CALLOC: do_calloc(&in); break;
    case OP_FREE: case OP_FREE2: do_free(&in); break;
    case OP_REALLOC: do_realloc(&in); break;
    case OP_REALLOCARRAY: do_reallocarray(&in); break;
    case OP_POSIX_MEMALIGN: do_posix_memalign(&in); break;
    case OP_MEMALIGN: do_memalign(&in); break;
    case OP_USABLE: do_usable(&in); break;
    case OP_TRIM: do_trim(&in); break;
    case OP_TAG: do_tag(&in); break;
    case OP_FAULT: do_fault(&in); break;
    case OP_INFO: do_info(&in); break;
    case OP_NEW: do_new(&in); break;
    case OP_REWRITE: do_rewrite(&in); break;
    }
    check_heap(fz_opno <= 4 || fz_opno % 8 == 0);
  }
  finish();
  return 0;
}
