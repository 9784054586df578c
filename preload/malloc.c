/* malloc.c - the exported malloc family (glibc 2.36 semantics) and the two
 * fast paths.
 *
 * malloc fast path: size -> bin (granules), pop the thread cache's list
 * (decoding the link: safe-linking, internal.h).
 * free fast path: range + alignment test against the committed arena (one
 * subtract, rotate, compare), header decode and integrity (size, DEFERRED
 * and the address CHECK bits, which also say "in use", in one masked xor),
 * cookie test (double free; the cookie is a per-process random key, like
 * glibc's tcache key), push with the link xored with the key.
 * Both take the bin's gate with one non-atomic add whose carry says yes or
 * no (internal.h), so a signal handler that interrupts them finds that bin
 * held and takes the slow path; the give-back is one more add and counts the
 * room. No atomic instruction, no call: 16 + 23 = 39 instructions per
 * malloc+free pair (tests/preload/fastpath.sh). Everything else goes to
 * cache.c. */
#define _GNU_SOURCE
#include "internal.h"
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ra: the caller of the exported entry point (UMM_TAG=site); only the slow
 * path needs it. malloc itself passes NULL: its slow call is a tail call
 * (jmp), so ummp_malloc_slow_tail reads the caller's return address itself
 * and the fast path does not load it. */
#define UMMP_RA() __builtin_return_address(0)

static inline __attribute__((always_inline)) void *malloc_ra(size_t n, const void *ra) {
  if (ummp_likely(n <= UMMP_SMALL_MAX)) {
    void *b = ummp_malloc_fast(n);
    if (ummp_likely(b != NULL)) return b;
  }
  if (!ra) return ummp_malloc_slow_tail(n);
  return ummp_malloc_slow(n, ra);
}

UMMP_EXPORT void *malloc(size_t n) { return malloc_ra(n, NULL); }

UMMP_EXPORT void free(void *p) {
  ummp_tls_t *t = &ummp_tls;
  uintptr_t x = (uintptr_t)p - t->base16;
  x = (x >> 4) | (x << 60);                          /* granule number; misaligned -> huge */
  if (ummp_likely(x < t->lim_rot)) {
    /* header integrity: the arena is 2 KiB aligned, so the CHECK bits of a
     * real in-use header equal the low 7 bits of x ^ size (umm_header.h)
     * and cancel here; a free chunk's header (bit 6 of CHECK flipped), a
     * header that is not p's (interior or stale pointer) or whose size was
     * overwritten leaves bits set, g comes out huge and the slow path names
     * the error. DEFERRED stays in the mask: a block freed by a signal
     * handler (the core's deferred free) is not in use any more. */
    uint64_t v = ummp_hdr_test(x, p);
    size_t g = (size_t)(uint32_t)(v & (HDR_SIZE_MASK | HDR_DEFERRED | HDR_CHECK_MASK));
    uint64_t ck = t->secret;
    /* g 0 and 1 (sentinels) have their gates off and go to the slow path too */
    if (ummp_likely(g <= UMMP_MAX_GRAN && ((uint64_t *)p)[1] != ck && ummp_gate_take_room(&t->gate[g]))) {
      ((uint64_t *)p)[1] = ck;
      ((void **)p)[0] = (void *)((uintptr_t)t->bin[g] ^ ck);
      t->bin[g] = p;
      ummp_gate_give(&t->gate[g], 0);
      return;
    }
    if (g > UMMP_MAX_GRAN) {                         /* a medium class's block, or the slow path */
      ummp_free_med(p, g);
      return;
    }
  }
  ummp_free_slow(p);
}

/* ---- helpers ------------------------------------------------------------------ */
static size_t usable(const void *p) {
  if (ummp_unlikely(ummp_g.cfg.guard)) return ummp_guard_usable(p);
  return ummp_block_usable(p);
}

/* Aligned allocation; align is a power of two > 16. */
void *ummp_aligned_raw(size_t align, size_t n, const void *ra) {
  if (n > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  if (ummp_ensure_init() != 0 && ummp_g.state != UMMP_S_FAILED) { errno = ENOMEM; return NULL; }
  ummp_tls_t *t = &ummp_tls;
  if (ummp_g.state == UMMP_S_READY && !ummp_reentrant(t) && align <= UMM_MAX_ALIGN &&
      n <= ummp_g.large_threshold && n + align <= ummp_g.large_threshold) {
    ummp_hold(t);
    unsigned a = ummp_enter(t);
    t->cur_tag = ummp_tag_for(t, ra);
    void *p = ummp_core_memalign(t, align, n);
    if (p) ummp_stats_add(umm_usable_size(p) + UMM_HEADER_SIZE);
    ummp_leave(t, a);
    ummp_unhold(t);
    if (p) return p;
  }
  if (ummp_reentrant(t)) { errno = ENOMEM; return NULL; }   /* no nowait memalign, and no mmap here */
  unsigned a = ummp_enter(t);
  void *p = ummp_large_alloc(n, align, ummp_tag_for(t, ra));
  ummp_leave(t, a);
  return p;
}

static void *aligned(size_t align, size_t n, const void *ra) {
  if (ummp_unlikely(ummp_g.cfg.guard)) return ummp_guard_alloc(n, align, ra);
  return ummp_aligned_raw(align, n, ra);
}

static void *memalign_impl(size_t align, size_t n, const void *ra) {
  if (align <= UMM_ALIGNMENT) return malloc_ra(n, ra);
  if (align > SIZE_MAX / 2 + 1) { errno = EINVAL; return NULL; }
  if (align & (align - 1)) align = (size_t)1 << (64 - __builtin_clzll((unsigned long long)align));
  return aligned(align, n, ra);
}

/* ---- the malloc family ------------------------------------------------------------ */
/* calloc past its fast path, tail-called (ra is calloc's caller). */
static UMMP_NOINLINE void *calloc_slow(size_t n, size_t m) {
  const void *ra = UMMP_RA();
  size_t total;
  if (__builtin_mul_overflow(n, m, &total) || total > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  if (total > ummp_g.large_threshold && ummp_g.state == UMMP_S_READY && !ummp_g.cfg.guard &&
      !ummp_reentrant(&ummp_tls)) {
    ummp_tls_t *t = &ummp_tls;
    unsigned a = ummp_enter(t);
    void *p = ummp_large_alloc(total, 16, ummp_tag_for(t, ra));   /* fresh pages are zero */
    ummp_leave(t, a);
    return p;
  }
  void *p = malloc_ra(total, ra);
  if (p) memset(p, 0, total);
  return p;
}

/* The fast path is malloc's with memset as a tail call (it returns p): no
 * stack frame. A loop of calloc(1, 64) + free: 78 -> 59 instructions a
 * round, memset's 11 included (callgrind). */
UMMP_EXPORT void *calloc(size_t n, size_t m) {
  size_t total;
  if (ummp_likely(!__builtin_mul_overflow(n, m, &total) && total <= UMMP_SMALL_MAX)) {
    void *p = ummp_malloc_fast(total);
    if (ummp_likely(p != NULL)) return memset(p, 0, total);
  }
  return calloc_slow(n, m);
}

#define UMMP_REMAP_KEEP ((size_t)1 << 20)          /* see realloc_ra's large-block shrink */

static void *realloc_ra(void *p, size_t n, const void *ra) {
  if (ummp_unlikely(ummp_g.cfg.guard) && p) return ummp_guard_realloc(p, n, ra);
  if (!p) return malloc_ra(n, ra);
  if (n == 0) { free(p); return NULL; }
  ummp_tls_t *t = &ummp_tls;
  if (ummp_in_arena(p)) {
    /* free()'s header test (header only: the successor, a likely cache
     * miss, is not read): a good in-use header of a block that is not
     * cached passes; anything else gets the full test, which names the
     * error. lua calls realloc for nearly every allocation change. */
    uint64_t v = ummp_hdr_test(((uintptr_t)p - ummp_g.base16) >> 4, p);
    if (ummp_unlikely((v & (HDR_DEFERRED | HDR_CHECK_MASK)) != 0 || hdr_size(v) < 2 || ummp_is_cached(p)))
      ummp_check_arena_ptr("realloc()", p);
    if (n > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
    size_t old = usable(p);
    if (n <= old && (old <= UMMP_SMALL_MAX || n >= old / 2)) return p;
    /* Growth by less than an eighth gets an eighth: a block grown a few
     * bytes at a time (a string builder) then moves once per eighth of its
     * size, as with the peers' size classes, instead of at every granule
     * its successor does not have free (bench realloc: strings of up to
     * 33 KB grown by 1-48 bytes; memcpy was 68 % of its instructions). */
    size_t want = n;
    if (n > old && n - old < old / 8 && old + old / 8 <= ummp_g.large_threshold) want = old + old / 8;
    if (old > UMMP_SMALL_MAX && want <= ummp_g.large_threshold && !ummp_reentrant(t)) {
      /* in place in the core: shrink by splitting, grow into a free successor */
      ummp_hold(t);
      unsigned a = ummp_enter(t);
      size_t ob = old + UMM_HEADER_SIZE;
      umm_t *u = ummp_regions[ummp_region_index(p)].u;
      void *q = umm_realloc(u, p, want);
      if (!q && want > n) q = umm_realloc(u, p, n);   /* the request itself may still fit, in place or not */
      if (q) {
        ummp_stats_sub(ob);
        ummp_stats_add(umm_usable_size(q) + UMM_HEADER_SIZE);
        if (ummp_g.cfg.tag_mode == UMMP_TAG_SITE || t->tag_depth) ummp_block_retag(q, ummp_tag_for(t, ra));
      }
      ummp_leave(t, a);
      ummp_unhold(t);
      if (q) return q;
    }
    void *q = malloc_ra(want, ra);
    if (!q && want > n) q = malloc_ra(n, ra);        /* the headroom is a wish: the request itself may still fit */
    if (!q) return n <= old ? p : NULL;              /* a shrink never fails: keep the block */
    memcpy(q, p, old < n ? old : n);
    free(p);
    return q;
  }
  if (!ummp_large_owns(p)) ummp_bad_pointer("realloc()", p);
  if (n > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  size_t old = ummp_large_usable(p);
  /* A large block shrunk to UMMP_REMAP_KEEP or more stays a mapping of its
   * own, cut down by mremap as glibc does: moving it into the core copied
   * all that was kept (up to 16 MiB) and faulted the copy in (a review's
   * threads shrinking 40 MiB blocks to 13 MiB: 5.6 s against glibc's 1.4 s,
   * most of it page faults in that memcpy). Smaller ones go to the core,
   * where a block of that size belongs. */
  int to_core = n <= ummp_g.large_threshold / 2 && (n < UMMP_REMAP_KEEP || n > old);
  if (to_core || ummp_g.state != UMMP_S_READY || ummp_reentrant(t)) {
    if (n <= old && ummp_g.state != UMMP_S_READY) return p;
    void *q = malloc_ra(n, ra);
    if (!q) {
      if (n > old) return NULL;
      /* glibc keeps a block it cannot move when shrinking */
      return p;
    }
    memcpy(q, p, old < n ? old : n);
    free(p);
    return q;
  }
  unsigned a = ummp_enter(t);
  void *q = ummp_large_realloc(p, n);
  ummp_leave(t, a);
  /* the realloc's site, as the core path's ummp_block_retag gives it */
  if (q && (ummp_g.cfg.tag_mode == UMMP_TAG_SITE || t->tag_depth)) ummp_large_set_tag(q, ummp_tag_for(t, ra));
  return q;
}

UMMP_EXPORT void *realloc(void *p, size_t n) { return realloc_ra(p, n, UMMP_RA()); }

UMMP_EXPORT void *reallocarray(void *p, size_t n, size_t m) {
  size_t total;
  if (__builtin_mul_overflow(n, m, &total)) { errno = ENOMEM; return NULL; }
  if (ummp_g.cfg.tag_mode == UMMP_TAG_SITE) return realloc_ra(p, total, UMMP_RA());
  /* through the exported realloc's address: a tool that replaces the
   * malloc family of this library (valgrind --soname-synonyms=somalloc=
   * libumm_preload.so, which does not replace reallocarray) then sees it */
  void *(*volatile re)(void *, size_t) = realloc;
  return re(p, total);
}

UMMP_EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (align < sizeof(void *) || (align & (align - 1)) || align % sizeof(void *)) return EINVAL;
  int err = errno;
  void *p = align <= UMM_ALIGNMENT ? malloc_ra(n, UMMP_RA()) : aligned(align, n, UMMP_RA());
  if (!p) { errno = err; return ENOMEM; }
  *out = p;
  return 0;
}

UMMP_EXPORT void *aligned_alloc(size_t align, size_t n) { return memalign_impl(align, n, UMMP_RA()); }
UMMP_EXPORT void *memalign(size_t align, size_t n) { return memalign_impl(align, n, UMMP_RA()); }
UMMP_EXPORT void *valloc(size_t n) { return memalign_impl(ummp_os_pagesize(), n, UMMP_RA()); }

UMMP_EXPORT void *pvalloc(size_t n) {
  size_t page = ummp_os_pagesize(), r;
  if (__builtin_add_overflow(n, page - 1, &r)) { errno = ENOMEM; return NULL; }
  return memalign_impl(page, r & ~(page - 1), UMMP_RA());
}

UMMP_EXPORT size_t malloc_usable_size(void *p) {
  if (!p) return 0;
  if (ummp_in_arena(p) || ummp_large_owns(p)) return usable(p);
  return 0;
}

UMMP_EXPORT void cfree(void *p) { free(p); }
UMMP_EXPORT void free_sized(void *p, size_t n) { (void)n; free(p); }
UMMP_EXPORT void free_aligned_sized(void *p, size_t align, size_t n) { (void)align; (void)n; free(p); }

/* C++ operator new (size_t) and new[] and their nothrow forms: served here
 * so that the site (UMM_TAG=site) is the caller of new, not libstdc++'s
 * operator new. Only when malloc fails does the next definition (libstdc++,
 * found with dlsym RTLD_NEXT) run, with its new_handler loop and bad_alloc.
 * operator delete and delete[] (plain, sized and nothrow: the ones that free
 * what those four return) are exported too and call free: a shared library
 * that brings its own new/delete pair would otherwise get umm's blocks in its
 * delete (a review found one aborting, and a program linked with
 * libtcmalloc_minimal crashing). The aligned forms stay libstdc++'s on both
 * sides (it calls aligned_alloc and free). A program that defines its own
 * operator new still wins (the executable comes first). */
#if __SIZEOF_SIZE_T__ == 8
static UMMP_NOINLINE void *cxx_next(const char *sym, size_t n, const void *nothrow) {
  void *f = dlsym(RTLD_NEXT, sym);
  if (!f) {
    if (nothrow) return NULL;
    ummp_os_die("operator new: out of memory and no libstdc++ to throw bad_alloc,", NULL);
  }
  if (nothrow) return ((void *(*)(size_t, const void *))f)(n, nothrow);
  return ((void *(*)(size_t))f)(n);
}
UMMP_EXPORT void *_Znwm(size_t n) {
  void *p = malloc_ra(n, UMMP_RA());
  return ummp_likely(p != NULL) ? p : cxx_next("_Znwm", n, NULL);
}
UMMP_EXPORT void *_Znam(size_t n) {
  void *p = malloc_ra(n, UMMP_RA());
  return ummp_likely(p != NULL) ? p : cxx_next("_Znam", n, NULL);
}
UMMP_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt) {
  void *p = malloc_ra(n, UMMP_RA());
  return ummp_likely(p != NULL) ? p : cxx_next("_ZnwmRKSt9nothrow_t", n, nt);
}
UMMP_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const void *nt) {
  void *p = malloc_ra(n, UMMP_RA());
  return ummp_likely(p != NULL) ? p : cxx_next("_ZnamRKSt9nothrow_t", n, nt);
}
UMMP_EXPORT void _ZdlPv(void *p) { free(p); }
UMMP_EXPORT void _ZdaPv(void *p) { free(p); }
UMMP_EXPORT void _ZdlPvm(void *p, size_t n) { (void)n; free(p); }
UMMP_EXPORT void _ZdaPvm(void *p, size_t n) { (void)n; free(p); }
UMMP_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; free(p); }
UMMP_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; free(p); }
#endif

/* glibc's internal names, used by a few programs and libraries. */
#if defined(__GNUC__) && !defined(__clang__)
#define UMMP_ALIAS(f) __attribute__((alias(#f), copy(f)))
#else
#define UMMP_ALIAS(f) __attribute__((alias(#f)))
#endif
UMMP_EXPORT void *__libc_malloc(size_t n) UMMP_ALIAS(malloc);
UMMP_EXPORT void *__libc_calloc(size_t n, size_t m) UMMP_ALIAS(calloc);
UMMP_EXPORT void *__libc_realloc(void *p, size_t n) UMMP_ALIAS(realloc);
UMMP_EXPORT void __libc_free(void *p) UMMP_ALIAS(free);
UMMP_EXPORT void *__libc_memalign(size_t a, size_t n) UMMP_ALIAS(memalign);
UMMP_EXPORT void *__libc_valloc(size_t n) UMMP_ALIAS(valloc);
UMMP_EXPORT void *__libc_pvalloc(size_t n) UMMP_ALIAS(pvalloc);
UMMP_EXPORT int __posix_memalign(void **out, size_t a, size_t n) UMMP_ALIAS(posix_memalign);

/* ---- information and tuning ------------------------------------------------------ */
static void totals(umm_stats_t *tot) {
  memset(tot, 0, sizeof *tot);
  if (ummp_ensure_init() != 0) return;
  ummp_tls_t *t = &ummp_tls;
  ummp_hold(t);
  unsigned a = ummp_enter(t);
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < nc; i++) {
    umm_stats_t s;
    umm_get_stats(ummp_regions[i].u, &s);
    tot->chunks += s.chunks;
    tot->free_chunks += s.free_chunks;
    tot->bytes_in_use += s.bytes_in_use;
    tot->bytes_free += s.bytes_free;
    tot->bytes_total += s.bytes_total;
    if (s.largest_free > tot->largest_free) tot->largest_free = s.largest_free;
  }
  ummp_leave(t, a);
  ummp_unhold(t);
}

UMMP_EXPORT struct mallinfo2 mallinfo2(void) {
  umm_stats_t s;
  totals(&s);
  struct mallinfo2 mi;
  memset(&mi, 0, sizeof mi);
  mi.arena = s.bytes_total;
  mi.ordblks = s.free_chunks;
  mi.hblks = ummp_g.large_live;
  mi.hblkhd = ummp_g.large_bytes;
  mi.uordblks = s.bytes_in_use;
  mi.fordblks = s.bytes_free;
  mi.keepcost = s.largest_free;
  return mi;
}

UMMP_EXPORT struct mallinfo mallinfo(void) {
  struct mallinfo2 m2 = mallinfo2();
  struct mallinfo mi;
  mi.arena = (int)m2.arena;
  mi.ordblks = (int)m2.ordblks;
  mi.smblks = (int)m2.smblks;
  mi.hblks = (int)m2.hblks;
  mi.hblkhd = (int)m2.hblkhd;
  mi.usmblks = (int)m2.usmblks;
  mi.fsmblks = (int)m2.fsmblks;
  mi.uordblks = (int)m2.uordblks;
  mi.fordblks = (int)m2.fordblks;
  mi.keepcost = (int)m2.keepcost;
  return mi;
}

UMMP_EXPORT int malloc_trim(size_t pad) {
  (void)pad;
  if (ummp_ensure_init() != 0) return 0;
  ummp_tls_t *t = &ummp_tls;
  if (ummp_reentrant(t)) return 0;
  int err = errno;
  ummp_hold(t);
  if (t->state == UMMP_T_LIVE) ummp_flush_all(t, 0);
  ummp_depot_drain(t);
  unsigned a = ummp_enter(t);
  size_t n = ummp_purge_all();
  ummp_leave(t, a);
  ummp_unhold(t);
  errno = err;
  return n != 0;
}

UMMP_EXPORT void malloc_stats(void) {
  if (ummp_ensure_init() != 0) return;
  ummp_tls_t *t = &ummp_tls;
  ummp_hold(t);
  unsigned a = ummp_enter(t);
  ummp_stats_print(2);
  ummp_leave(t, a);
  ummp_unhold(t);
}

UMMP_EXPORT int mallopt(int param, int value) {
  (void)param; (void)value;
  return 1;
}

UMMP_EXPORT int malloc_info(int options, FILE *fp) {
  if (options != 0) { errno = EINVAL; return -1; }
  umm_stats_t s;
  totals(&s);
  fprintf(fp, "<malloc version=\"umm-1\">\n<heap nr=\"0\">\n"
              "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
              "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
              "<system type=\"current\" size=\"%zu\"/>\n</heap>\n"
              "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
              "<system type=\"current\" size=\"%zu\"/>\n</malloc>\n",
          s.free_chunks, s.bytes_free, s.bytes_total, ummp_g.large_live, ummp_g.large_bytes,
          s.bytes_total + ummp_g.large_bytes);
  return 0;
}
