/* test_api.c - every public call of the core and its edge cases, single
 * threaded (built with UMM_DEBUG=2: the core runs its checker after each
 * call). After every step the region is checked against umm_walk, umm_get_stats
 * and umm_check (check_region in check.h). Fatal errors (invalid and double
 * frees) are provoked in fork()ed children and must end in our fatal handler
 * and SIGABRT. */
#include "../check.h"
#include "umm_header.h"                 /* white-box cases: header corruption */

#include <stdbool.h>

/* ---- a region under test ------------------------------------------------------ */
typedef struct region {
  void       *raw;                         /* what malloc gave */
  char       *space;                       /* what umm_init got */
  size_t      bytes;
  umm_t      *u;
  check_layout_t lay;                      /* what never changes after umm_init */
  umm_stats_t init;                        /* stats right after umm_init */
} region_t;

static const char *g_phase = "";
static size_t api_context(char *b, size_t cap) { return check_str(b, 0, cap, g_phase); }

static void r_open(region_t *r, size_t bytes, size_t offset) {
  memset(r, 0, sizeof *r);
  r->raw = malloc(bytes + offset);
  if (!r->raw) { perror("malloc"); exit(2); }
  r->space = (char *)r->raw + offset;
  r->bytes = bytes;
  errno = 0;
  r->u = umm_init(r->space, bytes);
  CHECK(r->u != NULL);
  if (!r->u) { fprintf(stderr, "umm_init(%zu) failed: %s\n", bytes, strerror(errno)); exit(2); }
  CHECK((char *)r->u >= r->space && (char *)r->u < r->space + 64);   /* lives at the start */
  check_region(r->u, r->space, r->bytes, &r->lay, &r->init);
  CHECK(r->init.chunks >= 1);
  CHECK_EQ(r->init.free_chunks, r->init.chunks);
  CHECK_EQ(r->init.bytes_in_use, 0);
  CHECK_EQ(r->init.deferred, 0);
  CHECK(r->init.bytes_total <= bytes);
  CHECK(r->init.bytes_total + 8192 >= bytes);        /* not much lost to the control block */
  if (bytes <= CHECK_MAX_CHUNK_BYTES) { CHECK_EQ(r->init.chunks, 1); CHECK_EQ(r->init.largest_free, r->init.bytes_free); }
}
static void r_close(region_t *r) { free(r->raw); r->raw = NULL; }
#define STEP(r) check_region((r)->u, (r)->space, (r)->bytes, &(r)->lay, NULL)
static umm_stats_t stats(umm_t *u) { umm_stats_t s; umm_get_stats(u, &s); return s; }

/* ---- content patterns ------------------------------------------------------------- */
static void fill(void *p, size_t n, uint64_t seed) {
  unsigned char *b = p;
  uint64_t x = check_mix64(seed);
  for (size_t i = 0; i < n; i++) {
    if ((i & 7) == 0) x = check_mix64(seed + i);
    b[i] = (unsigned char)(x >> ((i & 7) * 8));
  }
}
static bool verify(const void *p, size_t n, uint64_t seed) {
  const unsigned char *b = p;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if ((i & 7) == 0) x = check_mix64(seed + i);
    if (b[i] != (unsigned char)(x >> ((i & 7) * 8))) return false;
  }
  return true;
}
static bool aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* A block as the tests remember it. */
typedef struct blk { char *p; size_t size, usable; uint32_t tags; uint64_t seed; } blk_t;

static int cmp_blk(const void *a, const void *b) {
  const blk_t *x = a, *y = b;
  return x->p < y->p ? -1 : x->p > y->p;
}
/* Blocks (header included) must not overlap; each must lie inside the region. */
static void check_disjoint(region_t *r, blk_t *v, size_t n) {
  blk_t *s = malloc(n * sizeof *s + 1);
  memcpy(s, v, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_blk);
  for (size_t i = 0; i < n; i++) {
    CHECK(s[i].p - UMM_HEADER_SIZE >= r->space && s[i].p + s[i].usable <= r->space + r->bytes);
    if (i + 1 < n) CHECK_MSG(s[i].p + s[i].usable + UMM_HEADER_SIZE <= s[i + 1].p,
                             "blocks %p (+%zu) and %p overlap", (void *)s[i].p, s[i].usable, (void *)s[i + 1].p);
  }
  free(s);
}
/* A fresh block: checks alignment, usable size, tags, ownership; fills all of it. */
static void took(region_t *r, blk_t *b, void *p, size_t size, uint32_t tags, uint64_t seed) {
  CHECK(p != NULL);
  b->p = p; b->size = size; b->tags = tags; b->seed = seed; b->usable = 0;
  if (!p) return;
  CHECK(aligned(p, UMM_ALIGNMENT));
  b->usable = umm_usable_size(p);
  CHECK(b->usable >= size);
  CHECK_EQ(umm_tags(p), tags);
  CHECK(umm_owns(r->u, p));
  CHECK((char *)p - UMM_HEADER_SIZE >= r->space && (char *)p + b->usable <= r->space + r->bytes);
  fill(p, b->usable, seed);
}
static void verify_blk(const blk_t *b) {
  CHECK_MSG(verify(b->p, b->usable, b->seed), "block %p (%zu bytes) content changed", (void *)b->p, b->usable);
  CHECK_EQ(umm_usable_size(b->p), b->usable);
  CHECK_EQ(umm_tags(b->p), b->tags);
}
static void shuffle(blk_t *v, size_t n, uint64_t *rng) {
  for (size_t i = n; i > 1; i--) { size_t j = check_below(rng, i); blk_t t = v[i - 1]; v[i - 1] = v[j]; v[j] = t; }
}
/* Sizes: mostly small, some medium, a few large. */
static size_t rand_size(uint64_t *rng, size_t large) {
  size_t k = check_below(rng, 100);
  if (k < 70) return check_below(rng, 129);
  if (k < 95) return check_below(rng, 4097);
  return check_below(rng, large + 1);
}

/* ---- umm_init ----------------------------------------------------------------------- */
static void test_init(void) {
  g_phase = "init";
  static const size_t small[] = { 0, 1, 8, 16, 100, 1024, UMM_MIN_SPACE - 16, UMM_MIN_SPACE - 1 };
  char *buf = malloc(UMM_MIN_SPACE * 4);
  errno = 0; CHECK(umm_init(NULL, 1 << 20) == NULL); CHECK_EQ(errno, EINVAL);
  errno = 0; CHECK(umm_init(NULL, 0) == NULL); CHECK_EQ(errno, EINVAL);
  for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
    errno = 0;
    CHECK(umm_init(buf, small[i]) == NULL);
    CHECK_EQ(errno, EINVAL);
  }
  free(buf);

  /* The smallest accepted space works. */
  region_t r;
  r_open(&r, UMM_MIN_SPACE, 0);
  void *p = umm_malloc(r.u, 0, 5);
  CHECK(p != NULL);
  STEP(&r);
  umm_free(r.u, p);
  check_back_to_initial(r.u, &r.init);
  /* Re-initialising a used space gives a fresh region. */
  p = umm_malloc(r.u, 100, 1);
  CHECK(p != NULL);
  umm_t *u2 = umm_init(r.space, r.bytes);
  CHECK(u2 == r.u);
  umm_stats_t s = stats(u2);
  CHECK(check_stats_equal(&s, &r.init));
  r_close(&r);

  /* Unaligned spaces still give 16-aligned blocks inside the space. */
  static const size_t offs[] = { 1, 3, 4, 8, 12, 15 };
  for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
    uint64_t rng = offs[o];
    blk_t v[40];
    r_open(&r, 64 * 1024 + offs[o] * 7, offs[o]);
    for (size_t i = 0; i < 40; i++) {
      size_t sz = rand_size(&rng, 1000);
      took(&r, &v[i], umm_malloc(r.u, sz, (uint32_t)i), sz, (uint32_t)i, rng);
    }
    STEP(&r);
    check_disjoint(&r, v, 40);
    for (size_t i = 0; i < 40; i++) { verify_blk(&v[i]); umm_free(r.u, v[i].p); }
    check_back_to_initial(r.u, &r.init);
    r_close(&r);
  }
}

/* ---- sizes: every small size and powers of two around; all usable bytes writable - */
static void test_sizes(void) {
  g_phase = "sizes";
  region_t r;
  r_open(&r, 2 << 20, 0);
  size_t n = 0, cap = 600;
  blk_t *v = calloc(cap, sizeof *v);
  uint64_t rng = 42;
  for (size_t s = 0; s <= 256; s++) {
    uint32_t t = (uint32_t)(s * 2654435761u);
    took(&r, &v[n], umm_malloc(r.u, s, t), s, t, s);
    n++;
    if (s % 32 == 0) STEP(&r);
  }
  for (unsigned k = 4; k <= 16; k++) {
    for (int d = -1; d <= 1; d++) {
      size_t s = ((size_t)1 << k) + (size_t)(ptrdiff_t)d;
      took(&r, &v[n], umm_malloc(r.u, s, k), s, k, 1000 + s);
      n++;
    }
  }
  STEP(&r);
  /* size 0 gives distinct minimum blocks */
  for (int i = 0; i < 50; i++) { took(&r, &v[n], umm_malloc(r.u, 0, 0), 0, 0, 7000u + (unsigned)i); n++; }
  check_disjoint(&r, v, n);
  for (size_t i = 0; i < n; i++) verify_blk(&v[i]);
  STEP(&r);
  shuffle(v, n, &rng);
  for (size_t i = 0; i < n; i++) {
    verify_blk(&v[i]);
    umm_free(r.u, v[i].p);
    if (i % 16 == 0) STEP(&r);
  }
  check_back_to_initial(r.u, &r.init);
  free(v);
  r_close(&r);
}

/* ---- impossible sizes: NULL + ENOMEM, nothing changes ------------------------------ */
static void test_enomem(void) {
  g_phase = "enomem";
  region_t r;
  r_open(&r, 1 << 20, 0);
  blk_t q, keep;
  took(&r, &keep, umm_malloc(r.u, 300, 0x11), 300, 0x11, 5);
  took(&r, &q, umm_malloc(r.u, 1000, 0xabcd1234u), 1000, 0xabcd1234u, 6);
  size_t sizes[200], n = 0;
  sizes[n++] = 1 << 20; sizes[n++] = 2 << 20; sizes[n++] = UMM_MAX_CHUNK;
  for (size_t d = 1; d <= 40; d++) sizes[n++] = UMM_MAX_CHUNK + d;
  sizes[n++] = (size_t)1 << 25; sizes[n++] = (size_t)1 << 31; sizes[n++] = (size_t)1 << 32;
  sizes[n++] = PTRDIFF_MAX; sizes[n++] = (size_t)PTRDIFF_MAX + 1; sizes[n++] = SIZE_MAX / 2 + 8;
  for (size_t k = 0; k <= 64; k++) sizes[n++] = SIZE_MAX - k;
  sizes[n++] = SIZE_MAX - UMM_MAX_ALIGN; sizes[n++] = SIZE_MAX - UMM_MAX_ALIGN + 1;
  sizes[n++] = SIZE_MAX - 2 * UMM_MAX_ALIGN;
  umm_stats_t before = stats(r.u), after;
  for (size_t i = 0; i < n; i++) {
    size_t s = sizes[i];
    void *out[4] = { 0, 0, 0, 0 };
    errno = 0; CHECK_MSG(umm_malloc(r.u, s, 1) == NULL, "umm_malloc(%zu)", s); CHECK_EQ(errno, ENOMEM);
    errno = 0; CHECK_MSG(umm_malloc_nowait(r.u, s, 1) == NULL, "umm_malloc_nowait(%zu)", s); CHECK_EQ(errno, ENOMEM);
    errno = 0; CHECK_MSG(umm_memalign(r.u, 64, s, 1) == NULL, "umm_memalign(64, %zu)", s); CHECK_EQ(errno, ENOMEM);
    errno = 0; CHECK_MSG(umm_memalign(r.u, 8, s, 1) == NULL, "umm_memalign(8, %zu)", s); CHECK_EQ(errno, ENOMEM);
    errno = 0; CHECK_MSG(umm_memalign(r.u, 4096, s, 1) == NULL, "umm_memalign(4096, %zu)", s); CHECK_EQ(errno, ENOMEM);
    errno = 0; CHECK_MSG(umm_memalign(r.u, UMM_MAX_ALIGN, s, 1) == NULL, "umm_memalign(max, %zu)", s); CHECK_EQ(errno, ENOMEM);
    errno = 0; CHECK_MSG(umm_malloc_batch(r.u, s, 1, out, 4) == 0, "umm_malloc_batch(%zu)", s); CHECK_EQ(errno, ENOMEM);
    CHECK(out[0] == NULL);
    errno = 0; CHECK_MSG(umm_realloc(r.u, q.p, s) == NULL, "umm_realloc(%zu)", s); CHECK_EQ(errno, ENOMEM);
    verify_blk(&q);
    CHECK(umm_owns(r.u, q.p));
    after = stats(r.u);
    CHECK_MSG(check_stats_equal(&before, &after), "state changed by a failed call of size %zu", s);
    CHECK_EQ(umm_check(r.u), 0);
  }
  /* the region still works */
  blk_t b;
  took(&r, &b, umm_malloc(r.u, 500 * 1024, 3), 500 * 1024, 3, 9);
  STEP(&r);
  umm_free(r.u, b.p);
  verify_blk(&q); verify_blk(&keep);
  umm_free(r.u, q.p); umm_free(r.u, keep.p);
  check_back_to_initial(r.u, &r.init);
  r_close(&r);
}

/* ---- a full region -------------------------------------------------------------------- */
static void test_full(void) {
  g_phase = "full";
  region_t r;
  r_open(&r, 256 * 1024, 0);
  size_t cap = 100000, n = 0;
  blk_t *v = calloc(cap, sizeof *v);
  uint64_t rng = 77;
  for (;;) {
    size_t s = check_below(&rng, 501);
    errno = 0;
    void *p = umm_malloc(r.u, s, (uint32_t)n);
    if (!p) {
      CHECK_EQ(errno, ENOMEM);
      umm_stats_t st = stats(r.u);
      CHECK_MSG(st.largest_free < s, "malloc(%zu) failed with largest_free %zu", s, st.largest_free);
      errno = 0;
      CHECK(umm_malloc_nowait(r.u, s, 0) == NULL);
      CHECK_EQ(errno, ENOMEM);
      break;
    }
    took(&r, &v[n], p, s, (uint32_t)n, n);
    n++;
  }
  STEP(&r);
  /* fill the rest with minimum blocks */
  for (;;) {
    errno = 0;
    void *p = umm_malloc(r.u, 0, 1);
    if (!p) { CHECK_EQ(errno, ENOMEM); break; }
    took(&r, &v[n], p, 0, 1, n);
    n++;
  }
  umm_stats_t st = stats(r.u);
  CHECK_EQ(st.bytes_free, 0);
  CHECK_EQ(st.free_chunks, 0);
  errno = 0; CHECK(umm_malloc_nowait(r.u, 0, 0) == NULL); CHECK_EQ(errno, ENOMEM);
  errno = 0; CHECK(umm_memalign(r.u, 64, 0, 0) == NULL); CHECK_EQ(errno, ENOMEM);
  void *out[4];
  errno = 0; CHECK_EQ(umm_malloc_batch(r.u, 0, 0, out, 4), 0); CHECK_EQ(errno, ENOMEM);
  CHECK(st.bytes_in_use + st.chunks * UMM_HEADER_SIZE + r.lay.slack == st.bytes_total);
  STEP(&r);
  check_disjoint(&r, v, n);
  shuffle(v, n, &rng);
  for (size_t i = 0; i < n; i++) {
    verify_blk(&v[i]);
    umm_free(r.u, v[i].p);
    if (i % 64 == 0) STEP(&r);
  }
  check_back_to_initial(r.u, &r.init);
  free(v);
  r_close(&r);
}

/* ---- tags -------------------------------------------------------------------------------- */
typedef struct tagwalk { const void *p; uint32_t tags; int seen; } tagwalk_t;
static int tag_visit(const umm_chunk_t *c, void *arg) {
  tagwalk_t *t = arg;
  if (c->ptr == t->p) { t->seen++; CHECK(c->in_use); CHECK_EQ(c->tags, t->tags); }
  return 0;
}
static void expect_tags(region_t *r, const void *p, uint32_t tags) {
  CHECK_EQ(umm_tags(p), tags);
  tagwalk_t t = { p, tags, 0 };
  CHECK_EQ(umm_walk(r->u, tag_visit, &t), 0);
  CHECK_EQ(t.seen, 1);
}
static void test_tags(void) {
  g_phase = "tags";
  static const uint32_t tv[] = { 0, 1, 2, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0xdeadbeefu, 0x00ff00ffu, 0xa5a5a5a5u };
  region_t r;
  r_open(&r, 1 << 20, 0);
  for (size_t i = 0; i < sizeof tv / sizeof tv[0]; i++) {
    uint32_t t = tv[i], t2 = ~tv[i] ^ 0x5a5a0000u;
    blk_t a, b, c, d, e[3];
    void *out[3];
    took(&r, &a, umm_malloc(r.u, 64, t), 64, t, 1); expect_tags(&r, a.p, t);
    took(&r, &b, umm_malloc_nowait(r.u, 200, t), 200, t, 2); expect_tags(&r, b.p, t);
    took(&r, &c, umm_memalign(r.u, 256, 10, t), 10, t, 3); expect_tags(&r, c.p, t);
    CHECK(aligned(c.p, 256));
    CHECK_EQ(umm_malloc_batch(r.u, 40, t, out, 3), 3);
    for (int k = 0; k < 3; k++) { took(&r, &e[k], out[k], 40, t, 10u + (unsigned)k); expect_tags(&r, out[k], t); }
    /* set_tags changes only the tags */
    umm_set_tags(r.u, a.p, t2); a.tags = t2;
    expect_tags(&r, a.p, t2); verify_blk(&a);
    umm_set_tags(r.u, a.p, t); a.tags = t;
    expect_tags(&r, a.p, t);
    STEP(&r);
    /* realloc keeps the tags: shrink, grow in place, grow by moving */
    char *p = umm_realloc(r.u, b.p, 20);
    CHECK(p == b.p); expect_tags(&r, p, t);
    took(&r, &d, umm_malloc(r.u, 10, 0), 10, 0, 4);       /* pins b's successor */
    p = umm_realloc(r.u, p, 5000);
    CHECK(p != NULL); if (p) { b.p = p; expect_tags(&r, p, t); }
    p = umm_realloc(r.u, b.p, 5100);
    CHECK(p != NULL); if (p) { b.p = p; expect_tags(&r, p, t); }
    p = umm_realloc(r.u, a.p, 100000);
    CHECK(p != NULL); if (p) { a.p = p; expect_tags(&r, p, t); }
    STEP(&r);
    umm_free(r.u, a.p); umm_free(r.u, b.p); umm_free(r.u, c.p); umm_free(r.u, d.p);
    void *ev[3] = { e[0].p, e[1].p, e[2].p };
    umm_free_batch(r.u, ev, 3);
    check_back_to_initial(r.u, &r.init);
  }
  /* realloc(NULL, n) gives tags 0 */
  void *p = umm_realloc(r.u, NULL, 77);
  CHECK(p != NULL);
  if (p) { CHECK_EQ(umm_tags(p), 0); CHECK(umm_usable_size(p) >= 77); expect_tags(&r, p, 0); umm_free(r.u, p); }
  check_back_to_initial(r.u, &r.init);
  r_close(&r);
}

/* ---- memalign ------------------------------------------------------------------------------- */
static void test_memalign(void) {
  g_phase = "memalign";
  region_t r;
  r_open(&r, 8 << 20, 0);
  static const size_t sizes[] = { 0, 1, 24, 100, 4096, 100000 };
  size_t n = 0;
  blk_t v[200];
  uint64_t rng = 3;
  took(&r, &v[n], umm_malloc(r.u, 40, 0), 40, 0, 0); n++;    /* offsets the free chunk */
  for (size_t a = 1; a <= ((size_t)1 << 20); a <<= 1) {
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      uint32_t t = (uint32_t)(a * 31 + i);
      errno = 0;
      void *p = umm_memalign(r.u, a, sizes[i], t);
      CHECK_MSG(p != NULL, "memalign(%zu, %zu): errno %d", a, sizes[i], errno);
      if (!p) continue;
      CHECK_MSG(aligned(p, a < UMM_ALIGNMENT ? UMM_ALIGNMENT : a), "memalign(%zu) gave %p", a, p);
      took(&r, &v[n], p, sizes[i], t, n);
      STEP(&r);
      if (check_below(&rng, 2)) { verify_blk(&v[n]); umm_free(r.u, p); STEP(&r); }
      else n++;
    }
  }
  check_disjoint(&r, v, n);
  /* bad alignments: NULL + EINVAL, nothing changes */
  static const size_t bad[] = { 3, 5, 6, 7, 12, 24, 48, 96, 100, 1000, 4095, 4097, ((size_t)1 << 20) + 16,
                                ((size_t)1 << 20) - 1, UMM_MAX_ALIGN * 2, UMM_MAX_ALIGN + 16, UMM_MAX_ALIGN * 3,
                                (size_t)1 << 40, (size_t)1 << 63, SIZE_MAX, SIZE_MAX - 15 };
  umm_stats_t before = stats(r.u), after;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    for (size_t s = 0; s < 2; s++) {
      size_t sz = s ? 100 : SIZE_MAX - 8;
      errno = 0;
      void *p = umm_memalign(r.u, bad[i], sz, 1);
      CHECK_MSG(p == NULL && errno == EINVAL, "memalign(%zu, %zu) gave %p errno %d", bad[i], sz, p, errno);
      after = stats(r.u);
      CHECK(check_stats_equal(&before, &after));
    }
  }
  /* alignment 0: not a power of two; either refused with EINVAL or treated
   * like the smaller alignments (a 16-aligned block). */
  errno = 0;
  void *p0 = umm_memalign(r.u, 0, 64, 9);
  CHECK_MSG(p0 ? aligned(p0, UMM_ALIGNMENT) && umm_usable_size(p0) >= 64 : errno == EINVAL,
            "memalign(0, 64) gave %p errno %d", p0, errno);
  printf("memalign(0, 64): %s\n", p0 ? "a block" : "EINVAL");
  if (p0) umm_free(r.u, p0);
  /* too large for the region */
  errno = 0; CHECK(umm_memalign(r.u, 64, 9 << 20, 1) == NULL); CHECK_EQ(errno, ENOMEM);
  after = stats(r.u);
  CHECK(check_stats_equal(&before, &after));
  STEP(&r);
  shuffle(v, n, &rng);
  for (size_t i = 0; i < n; i++) { verify_blk(&v[i]); umm_free(r.u, v[i].p); }
  check_back_to_initial(r.u, &r.init);
  r_close(&r);
}

/* ---- realloc ------------------------------------------------------------------------------- */
static void test_realloc(void) {
  g_phase = "realloc";
  region_t r;
  r_open(&r, 1 << 20, 0);
  blk_t a, b, c, d, g;
  char *p;

  /* realloc(NULL, n) = malloc(n, 0) */
  took(&r, &g, umm_realloc(r.u, NULL, 100), 100, 0, 1);

  /* shrink keeps the address and the prefix */
  took(&r, &a, umm_malloc(r.u, 1000, 0x55), 1000, 0x55, 2);
  took(&r, &d, umm_malloc(r.u, 16, 0), 16, 0, 3);          /* pins a's successor */
  p = umm_realloc(r.u, a.p, 500);
  CHECK(p == a.p);
  CHECK(umm_usable_size(a.p) >= 500 && umm_usable_size(a.p) <= a.usable);
  CHECK(verify(a.p, 500, a.seed));
  CHECK_EQ(umm_tags(a.p), 0x55);
  STEP(&r);
  took(&r, &a, a.p, 500, 0x55, 4);
  /* same size, and any size up to the usable size, stays put */
  p = umm_realloc(r.u, a.p, a.usable);
  CHECK(p == a.p); verify_blk(&a);
  p = umm_realloc(r.u, a.p, 500);
  CHECK(p == a.p); verify_blk(&a);
  /* shrink to 0 bytes... via realloc(p, 0): frees and returns NULL */
  umm_stats_t s0 = stats(r.u);
  size_t ua = umm_usable_size(a.p);
  p = umm_realloc(r.u, a.p, 0);
  CHECK(p == NULL);
  umm_stats_t s1 = stats(r.u);
  CHECK_EQ(s1.bytes_in_use, s0.bytes_in_use - ua);
  STEP(&r);
  /* realloc(p, 0) of a block whose neighbours are free */
  blk_t lone;
  took(&r, &lone, umm_malloc(r.u, 64, 0), 64, 0, 20);
  CHECK(umm_realloc(r.u, lone.p, 0) == NULL);
  STEP(&r);

  /* grow in place into a free successor */
  took(&r, &a, umm_malloc(r.u, 100, 0x77), 100, 0x77, 5);
  took(&r, &b, umm_malloc(r.u, 300, 0), 300, 0, 6);
  took(&r, &c, umm_malloc(r.u, 100, 0), 100, 0, 7);
  umm_free(r.u, b.p);
  STEP(&r);
  p = umm_realloc(r.u, a.p, 350);
  CHECK_MSG(p == a.p, "grow into a free successor moved %p to %p", (void *)a.p, (void *)p);
  if (p) {
    CHECK(verify(p, a.usable, a.seed));
    CHECK_EQ(umm_tags(p), 0x77);
    CHECK(umm_usable_size(p) >= 350);
    took(&r, &a, p, 350, 0x77, 8);
  }
  STEP(&r);
  /* grow by moving: successor c is in use */
  size_t old_usable = a.usable;
  char *old = a.p;
  p = umm_realloc(r.u, a.p, 20000);
  CHECK(p != NULL);
  if (p) {
    CHECK(p != old);
    CHECK(verify(p, old_usable < 20000 ? old_usable : 20000, a.seed));
    CHECK_EQ(umm_tags(p), 0x77);
    CHECK(!umm_owns(r.u, old));
    took(&r, &a, p, 20000, 0x77, 9);
  }
  STEP(&r);
  /* grow the block in front of the big free tail, in place */
  took(&r, &b, umm_malloc(r.u, 64, 0x99), 64, 0x99, 10);
  umm_stats_t sb = stats(r.u);
  p = umm_realloc(r.u, b.p, 200000);
  CHECK(p != NULL);
  if (p) { CHECK(verify(p, b.usable, b.seed)); CHECK_EQ(umm_tags(p), 0x99); took(&r, &b, p, 200000, 0x99, 11); }
  STEP(&r);
  /* impossible growth: NULL + ENOMEM, block intact */
  umm_stats_t before = stats(r.u), after;
  errno = 0;
  CHECK(umm_realloc(r.u, b.p, 2 << 20) == NULL);
  CHECK_EQ(errno, ENOMEM);
  verify_blk(&b);
  after = stats(r.u);
  CHECK(check_stats_equal(&before, &after));
  errno = 0;
  CHECK(umm_realloc(r.u, b.p, sb.largest_free + b.usable + 4096) == NULL);
  CHECK_EQ(errno, ENOMEM);
  verify_blk(&b);
  /* shrink back a lot: the tail is returned */
  p = umm_realloc(r.u, b.p, 10);
  CHECK(p == b.p);
  CHECK(verify(b.p, 10, b.seed));
  after = stats(r.u);
  CHECK(after.bytes_in_use < before.bytes_in_use);
  took(&r, &b, b.p, 10, 0x99, 12);
  STEP(&r);
  /* a chain of reallocs up and down keeps the first bytes */
  took(&r, &d, d.p, 16, 0, 13);
  uint64_t rng = 5;
  size_t keep = d.usable;
  for (int i = 0; i < 200; i++) {
    size_t ns = check_below(&rng, 30000);
    p = umm_realloc(r.u, d.p, ns);
    if (ns == 0) { CHECK(p == NULL); took(&r, &d, umm_malloc(r.u, 16, 0), 16, 0, 100u + (unsigned)i); keep = d.usable; continue; }
    CHECK(p != NULL);
    if (!p) break;
    size_t k = keep < ns ? keep : ns;
    CHECK(verify(p, k, d.seed));
    if (ns <= keep) CHECK(p == d.p);
    d.p = p; d.usable = umm_usable_size(p);
    fill(p, d.usable, d.seed);          /* same seed: the pattern is position-based */
    keep = d.usable;
    if (i % 10 == 0) STEP(&r);
  }
  verify_blk(&d);
  umm_free(r.u, a.p); umm_free(r.u, b.p); umm_free(r.u, c.p); umm_free(r.u, d.p); umm_free(r.u, g.p);
  check_back_to_initial(r.u, &r.init);
  r_close(&r);
}

/* ---- nowait calls, deferred frees, drain, errno ---------------------------------------- */
typedef struct defwalk { const void *p; int seen, deferred; } defwalk_t;
static int def_visit(const umm_chunk_t *c, void *arg) {
  defwalk_t *d = arg;
  if (c->ptr == d->p) { d->seen++; d->deferred = c->in_use && (c->flags & UMM_CHUNK_DEFERRED); }
  return 0;
}
static int is_deferred(umm_t *u, const void *p) {
  defwalk_t d = { p, 0, 0 };
  umm_walk(u, def_visit, &d);
  return d.seen == 1 && d.deferred;
}
static void test_nowait(void) {
  g_phase = "nowait";
  region_t r;
  r_open(&r, 1 << 20, 0);
  blk_t v[64];
  uint64_t rng = 11;
  for (int i = 0; i < 64; i++) {
    size_t s = rand_size(&rng, 8000);
    errno = 0;
    void *p = umm_malloc_nowait(r.u, s, (uint32_t)i * 3u);
    CHECK_MSG(p != NULL, "malloc_nowait(%zu) on a quiet region: errno %d", s, errno);
    took(&r, &v[i], p, s, (uint32_t)i * 3u, (uint64_t)i);
  }
  STEP(&r);
  check_disjoint(&r, v, 64);

  /* free_nowait: pending (in use + DEFERRED) until a drain */
  umm_stats_t s0 = stats(r.u), s1;
  umm_free_nowait(r.u, v[5].p);
  s1 = stats(r.u);
  CHECK_EQ(s1.deferred, 1);
  CHECK_EQ(s1.bytes_in_use, s0.bytes_in_use);
  CHECK_EQ(s1.chunks, s0.chunks);
  CHECK(is_deferred(r.u, v[5].p));
  STEP(&r);
  umm_drain(r.u);
  s1 = stats(r.u);
  CHECK_EQ(s1.deferred, 0);
  CHECK_EQ(s1.bytes_in_use, s0.bytes_in_use - v[5].usable);
  CHECK(!umm_owns(r.u, v[5].p));
  STEP(&r);
  umm_drain(r.u);                      /* draining nothing is fine */
  STEP(&r);

  /* several pending, neighbours among them: one drain merges them */
  umm_free_nowait(r.u, v[10].p); umm_free_nowait(r.u, v[11].p); umm_free_nowait(r.u, v[12].p);
  umm_free_nowait(r.u, v[20].p);
  CHECK_EQ(stats(r.u).deferred, 4);
  STEP(&r);
  umm_drain(r.u);
  CHECK_EQ(stats(r.u).deferred, 0);
  STEP(&r);
  check_coalesced(r.u);                /* no free neighbours left unmerged */

  /* umm_malloc drains deferred frees first */
  umm_free_nowait(r.u, v[30].p); umm_free_nowait(r.u, v[31].p);
  CHECK_EQ(stats(r.u).deferred, 2);
  blk_t m;
  took(&r, &m, umm_malloc(r.u, 24, 1), 24, 1, 99);
  CHECK_EQ(stats(r.u).deferred, 0);
  STEP(&r);
  /* the other waiting calls: "the next waiting call (or umm_drain) merges it" */
  umm_free_nowait(r.u, v[32].p);
  umm_free(r.u, m.p);
  CHECK_MSG(stats(r.u).deferred == 0, "umm_free left a deferred free pending");
  umm_drain(r.u);
  umm_free_nowait(r.u, v[33].p);
  took(&r, &m, umm_memalign(r.u, 64, 24, 1), 24, 1, 98);
  CHECK_MSG(stats(r.u).deferred == 0, "umm_memalign left a deferred free pending");
  umm_drain(r.u);
  umm_free_nowait(r.u, v[34].p);
  char *p = umm_realloc(r.u, m.p, 5000);
  CHECK(p != NULL);
  if (p) m.p = p;
  CHECK_MSG(stats(r.u).deferred == 0, "umm_realloc left a deferred free pending");
  umm_drain(r.u);
  STEP(&r);
  umm_free(r.u, m.p);

  /* umm_free keeps errno; NULL is a no-op */
  umm_stats_t sa = stats(r.u);
  errno = EDOM;
  umm_free(r.u, NULL);
  CHECK_EQ(errno, EDOM);
  umm_stats_t sb = stats(r.u);
  CHECK(check_stats_equal(&sa, &sb));
  errno = ERANGE;
  umm_free(r.u, v[40].p);
  CHECK_EQ(errno, ERANGE);
  errno = EDOM;
  umm_free_batch(r.u, (void *[]){ NULL, NULL }, 2);
  CHECK_EQ(errno, EDOM);
  STEP(&r);

  /* free the rest mixing both flavours */
  static const int gone[] = { 5, 10, 11, 12, 20, 30, 31, 32, 33, 34, 40 };
  for (int i = 0; i < 64; i++) {
    bool skip = false;
    for (size_t k = 0; k < sizeof gone / sizeof gone[0]; k++) if (gone[k] == i) skip = true;
    if (skip) continue;
    verify_blk(&v[i]);
    if (i & 1) umm_free_nowait(r.u, v[i].p); else umm_free(r.u, v[i].p);
  }
  STEP(&r);
  umm_drain(r.u);
  check_back_to_initial(r.u, &r.init);

  /* nowait on a full region: ENOMEM, not EAGAIN */
  size_t n = 0;
  blk_t *w = calloc(20000, sizeof *w);
  for (;;) {
    errno = 0;
    void *q = umm_malloc_nowait(r.u, 200, 2);
    if (!q) { CHECK_EQ(errno, ENOMEM); break; }
    took(&r, &w[n], q, 200, 2, n);
    n++;
  }
  CHECK(n > 1000);
  errno = 0; CHECK(umm_malloc_nowait(r.u, 200, 2) == NULL); CHECK_EQ(errno, ENOMEM);
  STEP(&r);
  for (size_t i = 0; i < n; i++) { verify_blk(&w[i]); umm_free_nowait(r.u, w[i].p); }
  CHECK_EQ(stats(r.u).deferred, n);
  STEP(&r);
  /* a nowait malloc with everything pending: it may not drain, but must not fail with EAGAIN */
  errno = 0;
  void *q = umm_malloc_nowait(r.u, 200, 2);
  CHECK(q != NULL || errno == ENOMEM);
  if (q) umm_free(r.u, q);
  umm_drain(r.u);
  check_back_to_initial(r.u, &r.init);
  free(w);
  r_close(&r);
}

/* ---- freeing in every order coalesces back to the initial chunk ------------------------ */
static void test_free_orders(void) {
  enum { N = 1500 };
  static const char *names[] = { "forward", "backward", "random", "random mixed nowait", "odd then even", "nowait all" };
  region_t r;
  r_open(&r, 4 << 20, 0);
  blk_t *v = calloc(N, sizeof *v);
  for (int order = 0; order < 6; order++) {
    g_phase = names[order];
    uint64_t rng = 1000u + (unsigned)order;
    for (size_t i = 0; i < N; i++) {
      size_t s = rand_size(&rng, 8000);
      void *p;
      uint32_t t = (uint32_t)check_rand(&rng);
      if (check_below(&rng, 10) == 0) p = umm_memalign(r.u, (size_t)16 << check_below(&rng, 6), s, t);
      else if (check_below(&rng, 5) == 0) p = umm_malloc_nowait(r.u, s, t);
      else p = umm_malloc(r.u, s, t);
      took(&r, &v[i], p, s, t, i * 7 + (size_t)order);
    }
    STEP(&r);
    check_disjoint(&r, v, N);
    if (order == 1) for (size_t i = 0; i < N / 2; i++) { blk_t t = v[i]; v[i] = v[N - 1 - i]; v[N - 1 - i] = t; }
    if (order == 2 || order == 3) shuffle(v, N, &rng);
    if (order == 4) {
      blk_t *w = malloc(N * sizeof *w);
      size_t k = 0;
      for (size_t i = 1; i < N; i += 2) w[k++] = v[i];
      for (size_t i = 0; i < N; i += 2) w[k++] = v[i];
      memcpy(v, w, N * sizeof *w);
      free(w);
    }
    for (size_t i = 0; i < N; i++) {
      verify_blk(&v[i]);
      if (order == 5 || (order == 3 && check_below(&rng, 2))) umm_free_nowait(r.u, v[i].p);
      else umm_free(r.u, v[i].p);
      if (order == 3 && check_below(&rng, 50) == 0) umm_drain(r.u);
      if (i % 100 == 0) STEP(&r);
    }
    if (order == 5) CHECK_EQ(stats(r.u).deferred, N);
    umm_drain(r.u);
    umm_stats_t fin = stats(r.u);
    CHECK_MSG(check_stats_equal(&fin, &r.init), "order %s: not back to the initial chunk", names[order]);
    check_back_to_initial(r.u, &r.init);
  }
  free(v);
  r_close(&r);
}

/* ---- walks ---------------------------------------------------------------------------------- */
static void test_walk(void) {
  g_phase = "walk";
  region_t r;
  r_open(&r, 1 << 20, 0);
  blk_t v[12];
  for (int i = 0; i < 12; i++) took(&r, &v[i], umm_malloc(r.u, 100u * (unsigned)i, (uint32_t)i + 1), 100u * (unsigned)i, (uint32_t)i + 1, (uint64_t)i);
  umm_free(r.u, v[3].p); umm_free(r.u, v[4].p); umm_free(r.u, v[8].p);
  umm_free_nowait(r.u, v[10].p);
  STEP(&r);
  umm_stats_t st = stats(r.u);
  check_chunks_t cc = {0};
  CHECK_EQ(check_collect(r.u, &cc), 0);
  CHECK_EQ(cc.n, st.chunks);
  /* the live blocks appear, in order, with their tags */
  size_t k = 0;
  for (size_t i = 0; i < cc.n; i++) {
    if (i) CHECK((char *)cc.c[i].ptr > (char *)cc.c[i - 1].ptr);
    while (k < 12 && (k == 3 || k == 4 || k == 8)) k++;
    if (k < 12 && cc.c[i].ptr == v[k].p) {
      CHECK(cc.c[i].in_use);
      if (k == 10) CHECK(cc.c[i].flags & UMM_CHUNK_DEFERRED);
      else { CHECK_EQ(cc.c[i].flags, 0); CHECK_EQ(cc.c[i].tags, v[k].tags); CHECK_EQ(cc.c[i].size, v[k].usable); }
      k++;
    }
  }
  CHECK_EQ(k, 12);
  size_t all = cc.n;
  /* stopping: the visitor's value comes back and nothing more is visited */
  static const int stops[] = { 7, -5, 1, 12345 };
  for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
    for (size_t after = 1; after <= all; after += 3) {
      cc.stop_after = after; cc.stop_value = stops[s]; cc.n = 0;
      CHECK_EQ((long)umm_walk(r.u, check_collect_visit, &cc), (long)stops[s]);
      CHECK_EQ(cc.n, after);
      if (stops[s] > 0) {
        cc.n = 0;
        CHECK_EQ((long)umm_walk_nowait(r.u, check_collect_visit, &cc), (long)stops[s]);
        CHECK_EQ(cc.n, after);
      }
      /* no lock left behind: a nowait walk gets through everything */
      check_chunks_t c2 = {0};
      CHECK_EQ(umm_walk_nowait(r.u, check_collect_visit, &c2), 0);
      CHECK_EQ(c2.n, all);
      check_chunks_free(&c2);
    }
  }
  cc.stop_after = 0;
  /* walk_nowait on a quiet region visits the same chunks as walk */
  check_chunks_t c3 = {0};
  CHECK_EQ(umm_walk_nowait(r.u, check_collect_visit, &c3), 0);
  CHECK_EQ(check_collect(r.u, &cc), 0);
  CHECK_EQ(c3.n, cc.n);
  for (size_t i = 0; i < c3.n && i < cc.n; i++) {
    CHECK(c3.c[i].ptr == cc.c[i].ptr);
    CHECK_EQ(c3.c[i].size, cc.c[i].size);
    CHECK_EQ(c3.c[i].tags, cc.c[i].tags);
    CHECK_EQ(c3.c[i].in_use, cc.c[i].in_use);
    CHECK_EQ(c3.c[i].flags, cc.c[i].flags);
  }
  check_chunks_free(&c3);
  check_chunks_free(&cc);
  STEP(&r);
  for (int i = 0; i < 12; i++) if (i != 3 && i != 4 && i != 8 && i != 10) umm_free(r.u, v[i].p);
  umm_drain(r.u);
  check_back_to_initial(r.u, &r.init);
  r_close(&r);
}

/* ---- batch ------------------------------------------------------------------------------------ */
static void test_batch(void) {
  g_phase = "batch";
  region_t r;
  r_open(&r, 1 << 20, 0);
  void *out[512];
  blk_t v[512];
  static const size_t sizes[] = { 0, 1, 16, 100, 1000, 5000 };
  static const size_t counts[] = { 1, 2, 16, 100 };
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
      size_t s = sizes[si], n = counts[ci];
      uint32_t t = (uint32_t)(0xb0000000u + si * 16 + ci);
      memset(out, 0, sizeof out);
      size_t got = umm_malloc_batch(r.u, s, t, out, n);
      CHECK_MSG(got == n, "batch of %zu x %zu on a fresh region gave %zu", n, s, got);
      for (size_t i = 0; i < got; i++) took(&r, &v[i], out[i], s, t, i + 100 * si);
      CHECK(got == n || out[got] == NULL);
      check_disjoint(&r, v, got);
      STEP(&r);
      for (size_t i = 0; i < got; i++) verify_blk(&v[i]);
      /* free them with NULLs in between */
      void *fv[1100];
      size_t m = 0;
      for (size_t i = 0; i < got; i++) { if (i % 3 == 0) fv[m++] = NULL; fv[m++] = out[i]; }
      fv[m++] = NULL;
      umm_free_batch(r.u, fv, m);
      check_back_to_initial(r.u, &r.init);
    }
  }
  /* n = 0: nothing happens */
  umm_stats_t s0 = stats(r.u), s1;
  CHECK_EQ(umm_malloc_batch(r.u, 64, 1, out, 0), 0);
  s1 = stats(r.u);
  CHECK(check_stats_equal(&s0, &s1));
  umm_free_batch(r.u, out, 0);
  /* more than one chunk can hold: fewer, all valid */
  region_t q;
  r_open(&q, 64 * 1024, 0);
  size_t got = umm_malloc_batch(q.u, 1000, 5, out, 200);
  CHECK(got >= 1 && got < 64);
  for (size_t i = 0; i < got; i++) took(&q, &v[i], out[i], 1000, 5, i);
  check_disjoint(&q, v, got);
  STEP(&q);
  /* only small holes left: a batch is carved from one of them */
  size_t more = umm_malloc_batch(q.u, 1000, 5, out + got, 200);
  for (size_t i = 0; i < more; i++) took(&q, &v[got + i], out[got + i], 1000, 5, got + i);
  check_disjoint(&q, v, got + more);
  umm_free_batch(q.u, out, got + more);
  check_back_to_initial(q.u, &q.init);
  /* holes: every other block freed */
  size_t n = 0;
  for (;;) { void *p = umm_malloc(q.u, 200, 1); if (!p) break; out[n++] = p; if (n == 512) break; }
  for (size_t i = 0; i < n; i += 2) { umm_free(q.u, out[i]); out[i] = NULL; }
  STEP(&q);
  void *hb[8] = { 0 };
  errno = 0;
  size_t hg = umm_malloc_batch(q.u, 100, 6, hb, 8);
  CHECK_MSG(hg >= 1, "batch of 100-byte blocks with 200-byte holes free gave %zu (errno %d)", hg, errno);
  for (size_t i = 0; i < hg; i++) { blk_t b; took(&q, &b, hb[i], 100, 6, i); }
  STEP(&q);
  umm_free_batch(q.u, hb, 8);
  umm_free_batch(q.u, out, n);
  check_back_to_initial(q.u, &q.init);
  r_close(&q);
  r_close(&r);
}

/* ---- umm_owns ----------------------------------------------------------------------------------- */
static char outside_buf[4096] __attribute__((aligned(64)));
static void test_owns(void) {
  g_phase = "owns";
  region_t r, o;
  r_open(&r, 1 << 20, 0);
  r_open(&o, 64 * 1024, 0);
  blk_t a, b, c, x;
  took(&r, &a, umm_malloc(r.u, 256, 1), 256, 1, 1);
  took(&r, &b, umm_malloc(r.u, 256, 2), 256, 2, 2);
  took(&r, &c, umm_malloc(r.u, 256, 3), 256, 3, 3);
  took(&o, &x, umm_malloc(o.u, 256, 4), 256, 4, 4);
  CHECK(umm_owns(r.u, a.p) && umm_owns(r.u, b.p) && umm_owns(r.u, c.p));
  CHECK(umm_owns(o.u, x.p));
  CHECK(!umm_owns(r.u, x.p));
  CHECK(!umm_owns(o.u, a.p));
  CHECK(!umm_owns(r.u, NULL));
  int local = 0;
  CHECK(!umm_owns(r.u, &local));
  CHECK(!umm_owns(r.u, outside_buf + 16));
  CHECK(!umm_owns(r.u, r.u));
  CHECK(!umm_owns(r.u, r.space));
  CHECK(!umm_owns(r.u, r.space + 16));
  CHECK(!umm_owns(r.u, r.space + r.bytes));
  CHECK(!umm_owns(r.u, r.space + r.bytes + 4096));
  CHECK(!umm_owns(r.u, r.space - 4096));
  CHECK(!umm_owns(r.u, (void *)(uintptr_t)16));
  CHECK(!umm_owns(r.u, (void *)(uintptr_t)(UINTPTR_MAX - 15)));
  /* interior and unaligned pointers, whatever the payload holds */
  static const int fills[] = { 0x00, 0xff, 0xa5, 0x01 };
  for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
    memset(b.p, fills[f], b.usable);
    for (size_t off = 1; off < 256; off += (off < 32 ? 1 : 16))
      CHECK_MSG(!umm_owns(r.u, b.p + off), "owns(p+%zu) with payload 0x%02x", off, fills[f]);
    CHECK(umm_owns(r.u, b.p));
    CHECK(umm_owns(r.u, c.p));
  }
  memset(a.p, 0, a.usable);
  CHECK(!umm_owns(r.u, b.p - 16));
  CHECK(!umm_owns(r.u, b.p - 8));
  /* a freed block (live neighbours) is no longer owned */
  umm_free(r.u, b.p);
  CHECK(!umm_owns(r.u, b.p));
  STEP(&r);
  umm_free(r.u, a.p); umm_free(r.u, c.p);
  check_back_to_initial(r.u, &r.init);
  umm_free(o.u, x.p);
  check_back_to_initial(o.u, &o.init);
  r_close(&r); r_close(&o);
}

/* ---- fatal errors (in children) --------------------------------------------------------------- */
typedef enum {
  F_INTERIOR0, F_INTERIOR_FF, F_INTERIOR_FF_CHECK, F_UNALIGNED, F_OUTSIDE, F_OTHER_REGION, F_DOUBLE, F_DOUBLE_MERGED,
  F_FREE_AFTER_NOWAIT, F_FREE_AFTER_DRAINED, F_NOWAIT_TWICE, F_BATCH_DOUBLE, F_BEFORE_FIRST, F_HOLE,
  F_HDR_BYTE, F_HDR_NUL, F_HDR_SIZE, F_COUNT
} fatal_case_t;
static const char *fatal_names[F_COUNT] = {
  "free(interior, zero payload)", "free(interior, 0xff payload)", "free(interior, 0xff payload, CHECK passes)", "free(unaligned)", "free(outside)",
  "free(block of another region)", "double free", "double free after merge", "free after free_nowait",
  "free after free_nowait + drain", "free_nowait twice + drain", "free_batch with a duplicate",
  "free(16 bytes before the first block)", "free(hole between two walked chunks)",
  "free(header size byte overwritten)", "free(header size byte zeroed)", "free(header with a consistent wrong size)" };
/* what the fatal message must say (substring) */
static const char *fatal_says[F_COUNT] = {
  "invalid pointer", "invalid pointer", "invalid pointer", "invalid pointer", "invalid pointer", "invalid pointer", "double free",
  "double free", "double free", "double free", "double free", "double free", "invalid pointer", "invalid pointer",
  "corrupted header", "corrupted header", "corrupted header" };

static void expect_ptr(const void *p) { fprintf(stderr, "expect ptr=%p\n", p); fflush(stderr); }
static void fatal_child(void *arg) {
  fatal_case_t fc = (fatal_case_t)(intptr_t)arg;
  static char space[1 << 16] __attribute__((aligned(64)));
  static char space2[1 << 14] __attribute__((aligned(64)));
  check_install_fatal();
  umm_t *u = umm_init(space, sizeof space);
  umm_t *u2 = umm_init(space2, sizeof space2);
  char *a = umm_malloc(u, 256, 1), *b = umm_malloc(u, 256, 2), *c = umm_malloc(u, 256, 3);
  char *x = umm_malloc(u2, 64, 4);
  if (!a || !b || !c || !x) { fprintf(stderr, "setup failed\n"); _exit(3); }
  memset(b, 0, 256);
  switch (fc) {
  case F_INTERIOR0:     expect_ptr(b + 16); umm_free(u, b + 16); break;
  case F_INTERIOR_FF:   memset(b, 0xff, 256); expect_ptr(b + 32); umm_free(u, b + 32); break;
  case F_INTERIOR_FF_CHECK: {   /* all-ones "header" at an address whose CHECK it matches (1 in 128): it says */
    char *d = umm_malloc(u, 4096, 5);       /* in use + deferred, yet no chunk follows it: not a double free */
    if (!d) { fprintf(stderr, "setup failed\n"); _exit(3); }
    memset(d, 0xff, 4096);
    char *q = d + 16;
    while ((((uintptr_t)q - UMM_HEADER_SIZE) >> 4 & 0x7f) != 0) q += UMM_GRANULE;
    expect_ptr(q); umm_free(u, q); break;
  }
  case F_UNALIGNED:     expect_ptr(b + 1); umm_free(u, b + 1); break;
  case F_OUTSIDE:       expect_ptr(outside_buf + 64); umm_free(u, outside_buf + 64); break;
  case F_OTHER_REGION:  expect_ptr(x); umm_free(u, x); break;
  case F_DOUBLE:        umm_free(u, b); expect_ptr(b); umm_free(u, b); break;
  case F_DOUBLE_MERGED: umm_free(u, a); umm_free(u, b); expect_ptr(b); umm_free(u, b); break;
  case F_FREE_AFTER_NOWAIT: umm_free_nowait(u, b); expect_ptr(b); umm_free(u, b); break;
  case F_FREE_AFTER_DRAINED: umm_free_nowait(u, b); umm_drain(u); expect_ptr(b); umm_free(u, b); break;
  case F_NOWAIT_TWICE:  expect_ptr(b); umm_free_nowait(u, b); umm_free_nowait(u, b); umm_drain(u); break;
  case F_BATCH_DOUBLE:  { void *v[3] = { a, b, a }; expect_ptr(a); umm_free_batch(u, v, 3); break; }
  case F_BEFORE_FIRST:  { check_chunks_t cc = { 0 }; check_collect(u, &cc);
                          char *q = (char *)cc.c[0].ptr - 16; expect_ptr(q); umm_free(u, q); break; }
  case F_HOLE: {        /* a region larger than one chunk: the walk skips a one-granule piece */
    size_t big = 40u << 20;
    char *sp = malloc(big);
    umm_t *ub = umm_init(sp, big);
    check_chunks_t cc = { 0 };
    check_collect(ub, &cc);
    for (size_t i = 0; i + 1 < cc.n; i++) {
      char *end = (char *)cc.c[i].ptr + cc.c[i].size + UMM_HEADER_SIZE;
      if ((char *)cc.c[i + 1].ptr == end + UMM_GRANULE) { expect_ptr(end); umm_free(ub, end); }
    }
    fprintf(stderr, "no hole found\n");
    break;
  }
  case F_HDR_BYTE:      /* a 1-byte overflow out of a into b's header */
    if (chunk_of(b) != chunk_at(chunk_of(a), hdr_size(hdr_peek(chunk_of(a))))) { fprintf(stderr, "not adjacent\n"); _exit(3); }
    a[umm_usable_size(a)] = 'A'; expect_ptr(b); umm_free(u, b); break;
  case F_HDR_NUL:
    if (chunk_of(b) != chunk_at(chunk_of(a), hdr_size(hdr_peek(chunk_of(a))))) { fprintf(stderr, "not adjacent\n"); _exit(3); }
    a[umm_usable_size(a)] = 0; expect_ptr(b); umm_free(u, b); break;
  case F_HDR_SIZE: {    /* a header rewritten whole, CHECK consistent, size 2 granules too big */
    umm_block_t *cb = chunk_of(b);
    uint64_t h = hdr_peek(cb);
    cb->hdr = hdr_make(cb, hdr_size(h) + 2, h & HDR_FLAG_MASK, hdr_tags(h));
    expect_ptr(b); umm_free(u, b); break;
  }
  default: break;
  }
  fprintf(stderr, "survived\n");
}
static void default_fatal_child(void *arg) {
  (void)arg;
  static char space[1 << 16] __attribute__((aligned(64)));
  umm_t *u = umm_init(space, sizeof space);
  char *a = umm_malloc(u, 256, 1), *b = umm_malloc(u, 256, 2);
  (void)a;
  umm_free(u, b);
  umm_free(u, b);
  fprintf(stderr, "survived\n");
}
static void test_default_fatal(void) {
  g_phase = "default fatal handler";
  check_child_t res;
  check_run_child(default_fatal_child, NULL, 10, &res);
  CHECK_MSG(res.signaled && res.sig != SIGALRM, "double free with the default handler: exited %d code %d signal %d; stderr: %s",
            res.exited, res.exit_code, res.sig, res.err);
  CHECK(strstr(res.err, "survived") == NULL);
}
static void test_fatal(void) {
  for (int fc = 0; fc < F_COUNT; fc++) {
    g_phase = fatal_names[fc];
    check_child_t res;
    check_run_child(fatal_child, (void *)(intptr_t)fc, 10, &res);
    char msg[256];
    uintptr_t ptr = 0, want = 0;
    int have = check_child_fatal_line(&res, msg, sizeof msg, &ptr);
    const char *e = strstr(res.err, "expect ptr=");
    if (e) want = (uintptr_t)strtoull(e + 11, NULL, 16);
    CHECK_MSG(res.signaled && res.sig == SIGABRT, "%s: exited %d code %d signal %d; stderr: %s", fatal_names[fc],
              res.exited, res.exit_code, res.sig, res.err);
    CHECK_MSG(have && msg[0], "%s: no fatal handler line; stderr: %s", fatal_names[fc], res.err);
    CHECK_MSG(strstr(msg, fatal_says[fc]) != NULL, "%s: message \"%s\" does not say \"%s\"", fatal_names[fc], msg,
              fatal_says[fc]);
    if (fc != F_NOWAIT_TWICE)
      CHECK_MSG(ptr == want, "%s: handler got ptr %#lx, expected %#lx (msg \"%s\")", fatal_names[fc],
                (unsigned long)ptr, (unsigned long)want, msg);
    printf("%-32s -> %s\n", fatal_names[fc], have ? msg : "(no handler line)");
  }
}

/* ---- a region larger than one chunk can be ---------------------------------------------------- */
static void test_large(void) {
  g_phase = "large region";
  region_t r;
  const size_t bytes = 100u << 20;
  r_open(&r, bytes, 0);
  CHECK(r.init.chunks >= 4);
  CHECK_EQ(r.init.largest_free, UMM_MAX_CHUNK);
  /* whatever sits between two walked chunks is not a block */
  {
    check_chunks_t cc = { 0 };
    check_collect(r.u, &cc);
    for (size_t i = 0; i + 1 < cc.n; i++) {
      char *end = (char *)cc.c[i].ptr + cc.c[i].size + UMM_HEADER_SIZE;
      if ((char *)cc.c[i + 1].ptr != end) { CHECK(!umm_owns(r.u, end)); CHECK(!umm_owns(r.u, end - 16)); }
    }
    if (cc.n) CHECK(!umm_owns(r.u, (char *)cc.c[0].ptr - 16));
    check_chunks_free(&cc);
  }
  /* three maximum blocks, the fourth does not fit */
  blk_t m[3];
  for (int i = 0; i < 3; i++) {
    errno = 0;
    char *p = umm_malloc(r.u, UMM_MAX_CHUNK, (uint32_t)i);
    CHECK_MSG(p != NULL, "malloc(UMM_MAX_CHUNK) #%d: errno %d", i, errno);
    m[i].p = p;
    if (!p) continue;
    m[i].usable = umm_usable_size(p);
    CHECK_EQ(m[i].usable, UMM_MAX_CHUNK);
    CHECK(aligned(p, UMM_ALIGNMENT));
    CHECK(p - UMM_HEADER_SIZE >= r.space && p + UMM_MAX_CHUNK <= r.space + bytes);
    memset(p, i + 1, 4096);
    memset(p + UMM_MAX_CHUNK - 4096, i + 1, 4096);
  }
  STEP(&r);
  errno = 0; CHECK(umm_malloc(r.u, UMM_MAX_CHUNK, 0) == NULL); CHECK_EQ(errno, ENOMEM);
  errno = 0; CHECK(umm_malloc(r.u, UMM_MAX_CHUNK + 1, 0) == NULL); CHECK_EQ(errno, ENOMEM);
  void *rest = umm_malloc(r.u, 2 << 20, 9);
  CHECK(rest != NULL);
  for (int i = 0; i < 3; i++) if (m[i].p) {
    CHECK(m[i].p[0] == (char)(i + 1) && m[i].p[UMM_MAX_CHUNK - 1] == (char)(i + 1));
  }
  int ord[3] = { 1, 0, 2 };
  for (int i = 0; i < 3; i++) { if (m[ord[i]].p) umm_free(r.u, m[ord[i]].p); STEP(&r); }
  umm_free(r.u, rest);
  umm_stats_t fin = stats(r.u);
  CHECK_MSG(check_stats_equal(&fin, &r.init), "max blocks freed: not the initial layout");
  check_back_to_initial(r.u, &r.init);

  /* the largest alignment */
  char *a1 = umm_memalign(r.u, UMM_MAX_ALIGN, 1 << 20, 7);
  char *a2 = umm_memalign(r.u, UMM_MAX_ALIGN, 8 << 20, 8);
  CHECK(a1 && aligned(a1, UMM_MAX_ALIGN) && umm_usable_size(a1) >= (1 << 20));
  CHECK(a2 && aligned(a2, UMM_MAX_ALIGN) && umm_usable_size(a2) >= (8 << 20));
  if (a1) memset(a1, 1, 1 << 20);
  if (a2) memset(a2, 2, 8 << 20);
  STEP(&r);
  umm_free(r.u, a1); umm_free(r.u, a2);
  check_back_to_initial(r.u, &r.init);

  /* memalign must succeed whenever an aligned spot fits in a free chunk,
   * also when size + alignment exceed what one chunk can hold. An aligned
   * space makes the spots predictable. */
  {
    region_t ra;
    if (posix_memalign(&ra.raw, UMM_MAX_ALIGN, bytes) != 0) { perror("posix_memalign"); exit(2); }
    ra.space = ra.raw; ra.bytes = bytes;
    ra.u = umm_init(ra.space, bytes);
    CHECK(ra.u != NULL);
    memset(&ra.lay, 0, sizeof ra.lay);
    check_region(ra.u, ra.space, ra.bytes, &ra.lay, &ra.init);
    static const size_t cases[][2] = {
      { UMM_MAX_ALIGN, 16u << 20 }, { UMM_MAX_ALIGN, 12u << 20 }, { (size_t)1 << 20, 31u << 20 },
      { (size_t)1 << 20, 30u << 20 }, { 64, UMM_MAX_CHUNK - 256 }, { 4096, UMM_MAX_CHUNK - 16384 },
      { (size_t)1 << 22, 28u << 20 } };
    for (size_t i = 0; ra.u && i < sizeof cases / sizeof cases[0]; i++) {
      size_t al = cases[i][0], sz = cases[i][1];
      int fit = check_aligned_fit(ra.u, al, sz);
      errno = 0;
      char *q = umm_memalign(ra.u, al, sz, 5);
      int e = errno;
      printf("memalign(%zu, %zu) in an aligned 100 MiB space: %s (a spot %s)\n", al, sz, q ? "ok" : "NULL",
             fit ? "exists" : "does not exist");
      if (fit) CHECK_MSG(q != NULL, "memalign(%zu, %zu): NULL errno %d although a free chunk has an aligned spot for it", al, sz, e);
      if (q) {
        CHECK(aligned(q, al));
        CHECK(umm_usable_size(q) >= sz);
        CHECK_EQ(umm_tags(q), 5);
        q[0] = 1; q[sz - 1] = 2;
        STEP(&ra);
        umm_free(ra.u, q);
      }
      check_back_to_initial(ra.u, &ra.init);
    }
    free(ra.raw);
  }

  /* realloc across the sizes */
  blk_t b;
  took(&r, &b, umm_malloc(r.u, 1024, 3), 1024, 3, 3);
  void *spacer = umm_malloc(r.u, 16, 0);
  char *p = umm_realloc(r.u, b.p, UMM_MAX_CHUNK);
  CHECK(p != NULL);
  if (p) {
    CHECK(verify(p, b.usable, b.seed));
    CHECK_EQ(umm_usable_size(p), UMM_MAX_CHUNK);
    CHECK_EQ(umm_tags(p), 3);
    b.p = p;
    errno = 0; CHECK(umm_realloc(r.u, p, UMM_MAX_CHUNK + 1) == NULL); CHECK_EQ(errno, ENOMEM);
    p = umm_realloc(r.u, b.p, 100);
    CHECK(p == b.p);
    CHECK(verify(b.p, 100, b.seed));
  }
  STEP(&r);
  umm_free(r.u, b.p); umm_free(r.u, spacer);
  check_back_to_initial(r.u, &r.init);

  /* many blocks across the chunk boundaries, freed in random order */
  enum { N = 6000 };
  blk_t *v = calloc(N, sizeof *v);
  uint64_t rng = 2024;
  size_t n = 0;
  for (size_t i = 0; i < N; i++) {
    size_t s = check_below(&rng, 4) ? check_below(&rng, 4096) : check_below(&rng, 64 * 1024);
    uint32_t t = (uint32_t)i;
    errno = 0;
    char *q = umm_malloc(r.u, s, t);
    if (!q) {
      CHECK_EQ(errno, ENOMEM);
      umm_stats_t st = stats(r.u);
      CHECK_MSG(st.largest_free < s, "malloc(%zu) failed with largest_free %zu", s, st.largest_free);
      continue;
    }
    v[n].p = q; v[n].size = s; v[n].usable = umm_usable_size(q); v[n].tags = t; v[n].seed = i;
    CHECK(v[n].usable >= s);
    fill(q, v[n].usable < 64 ? v[n].usable : 64, i);
    n++;
    if (i % 500 == 0) STEP(&r);
  }
  STEP(&r);
  check_disjoint(&r, v, n);
  shuffle(v, n, &rng);
  for (size_t i = 0; i < n; i++) {
    CHECK(verify(v[i].p, v[i].usable < 64 ? v[i].usable : 64, v[i].seed));
    CHECK_EQ(umm_tags(v[i].p), v[i].tags);
    if (check_below(&rng, 3) == 0) umm_free_nowait(r.u, v[i].p); else umm_free(r.u, v[i].p);
    if (i % 200 == 0) umm_drain(r.u);
    if (i % 500 == 0) STEP(&r);
  }
  umm_drain(r.u);
  STEP(&r);
  check_back_to_initial(r.u, &r.init);
  umm_stats_t f2 = stats(r.u);
  printf("large region: initial %zu chunks (largest %zu), after the random phase %zu chunks (largest %zu)\n",
         r.init.chunks, r.init.largest_free, f2.chunks, f2.largest_free);
  free(v);
  r_close(&r);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  check_context = api_context;
  test_default_fatal();                /* before any handler is installed */
  check_install_fatal();
  test_init();
  test_sizes();
  test_enomem();
  test_full();
  test_tags();
  test_memalign();
  test_realloc();
  test_nowait();
  test_free_orders();
  test_walk();
  test_batch();
  test_owns();
  test_fatal();
  test_large();
  return check_report();
}
