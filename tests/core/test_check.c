/* test_check.c - white-box tests of what the core promises about its own state:
 *   - umm_check counts each kind of broken invariant: a quiet region is saved,
 *     one violation is planted by hand (with the core's own accessors), the
 *     checker must report it, and the region is restored and checks clean;
 *   - a waiting or nowait malloc finds a fitting free chunk however deep it
 *     lies in its bin (it said ENOMEM with one 35-granule chunk behind 16 of
 *     32 granules in the same bin: nomem_confirm, heap.c).
 * Built with UMM_DEBUG=2, so every call also checks the region itself; the
 * planted states are only ever seen by umm_check. */
#include "../check.h"
#include "umm_internal.h"

#define SPACE ((size_t)1 << 20)
static char *g_space, *g_snap;
static umm_t *g_u;
static umm_block_t *g_blk[16];                     /* 1, 3, 9 and 12 are free */

static void setup(void) {
  g_space = aligned_alloc(4096, SPACE);
  g_snap = malloc(SPACE);
  CHECK(g_space && g_snap);
  g_u = umm_init(g_space, SPACE);
  CHECK(g_u != NULL);
  void *p[16];
  for (int i = 0; i < 16; i++) {
    p[i] = umm_malloc(g_u, (size_t)(40 + 16 * (i % 3)), (uint32_t)i);
    g_blk[i] = chunk_of(p[i]);
  }
  umm_free(g_u, p[1]); umm_free(g_u, p[3]); umm_free(g_u, p[9]); umm_free(g_u, p[12]);
  CHECK_EQ(umm_check(g_u), 0);
}

static uint64_t hdr(umm_block_t *c) { return hdr_peek(c); }
static void put(umm_block_t *c, uint64_t h) { __atomic_store_n(&c->hdr, h, __ATOMIC_RELAXED); }
/* bin list surgery as the core does it, with the bin's lock bit set meanwhile */
static void bin_unlink(umm_block_t *c) {
  unsigned b = ummi_bin_of(hdr_size(hdr(c)));
  g_u->bins[b] |= 1; ummi_bin_unlink_locked(g_u, b, c); g_u->bins[b] &= ~(uintptr_t)1;
}
static void bin_link(unsigned b, umm_block_t *c) {
  g_u->bins[b] |= 1; ummi_bin_link_locked(g_u, b, c); g_u->bins[b] &= ~(uintptr_t)1;
}

/* ---- the planted violations -------------------------------------------------- */
static void c_size(void) { put(g_blk[2], hdr(g_blk[2]) + 128); }      /* CHECK's 7 bits unchanged */
static void c_prev_free_set(void) { put(g_blk[5], hdr(g_blk[5]) | HDR_PREV_FREE); }
static void c_prev_free_clear(void) { put(g_blk[2], hdr(g_blk[2]) & ~HDR_PREV_FREE); }
static void c_footer(void) { *chunk_footer(g_blk[1], hdr_size(hdr(g_blk[1]))) = g_blk[0]; }
static void c_chunk_lock(void) { put(g_blk[3], hdr(g_blk[3]) | HDR_LOCK); }
static void c_bin_lock(void) { g_u->bins[0] |= 1; }
static void c_map(void) { g_u->nonempty.byte[100] ^= 1; }
static void c_free_tags(void) { put(g_blk[1], hdr(g_blk[1]) | (uint64_t)5 << HDR_TAG_SHIFT); }
static void c_unindexed(void) { bin_unlink(g_blk[1]); }
static void c_wrong_bin(void) {                    /* linked by hand: the core asserts the bin */
  umm_block_t *c = g_blk[1];
  unsigned b = ummi_bin_of(hdr_size(hdr(c))) + 1;
  bin_unlink(c);
  umm_block_t *head = (umm_block_t *)(g_u->bins[b] & ~(uintptr_t)1);
  ummi_meta_set(&c->next, head);
  if (head) ummi_meta_set(&head->prev, c);
  g_u->bins[b] = (uintptr_t)c;
  g_u->nonempty.byte[b] = 1;
}
static void c_self_link(void) { ummi_meta_set(&g_blk[1]->next, g_blk[1]); }
/* in-use g_blk[0] becomes free, indexed, with footer and flags right: only
 * "no two adjacent free chunks" (I4) is broken */
static void c_adjacent(void) {
  umm_block_t *a = g_blk[0];
  size_t g = hdr_size(hdr(a));
  put(a, hdr_make(a, g, hdr(a) & HDR_PREV_FREE, 0));
  ummi_set_footer(a, g);
  put(g_blk[1], hdr_make(g_blk[1], hdr_size(hdr(g_blk[1])), HDR_PREV_FREE, 0));
  bin_link(ummi_bin_of(g), a);
}
/* the bin holds a valid-looking free header planted in a live payload instead
 * of the real chunk: the counts agree */
static void c_fake_bin_entry(void) {
  umm_block_t *f = g_blk[1], *fake = (umm_block_t *)((char *)g_blk[4] + 32);
  size_t g = hdr_size(hdr(f));
  put(fake, hdr_make(fake, g, 0, 0));
  bin_unlink(f);
  bin_link(ummi_bin_of(g), fake);
}
/* a 1-granule in-use chunk where no separator stands */
static void c_fake_separator(void) {
  umm_block_t *c = g_blk[2], *d = chunk_at(c, 1);
  uint64_t h = hdr(c);
  put(c, hdr_make(c, 1, HDR_IN_USE | (h & HDR_PREV_FREE), 0));
  put(d, hdr_make(d, hdr_size(h) - 1, HDR_IN_USE, 0));
}
/* one DEFERRED chunk on the stack and in a slot, another on neither */
static void c_deferred_twice(void) {
  put(g_blk[4], hdr(g_blk[4]) | HDR_DEFERRED);
  put(g_blk[6], hdr(g_blk[6]) | HDR_DEFERRED);
  ummi_meta_set(&g_blk[4]->next, NULL);
  g_u->deferred = g_blk[4];
  g_u->deferred_slot[0] = g_blk[4];
  g_u->deferred_count = 2;
}
/* the deferred stack holds a header planted in a payload, the real one is on neither */
static void c_deferred_fake(void) {
  umm_block_t *fake = (umm_block_t *)((char *)g_blk[6] + 64);
  put(g_blk[4], hdr(g_blk[4]) | HDR_DEFERRED);
  put(fake, hdr_make(fake, 5, HDR_IN_USE | HDR_DEFERRED, 0));
  ummi_meta_set(&fake->next, NULL);
  g_u->deferred = fake;
  g_u->deferred_count = 1;
}
static void c_end_deferred(void) { put(g_u->end, hdr(g_u->end) | HDR_DEFERRED); }
static void c_end_tags(void) { put(g_u->end, hdr(g_u->end) | (uint64_t)7 << HDR_TAG_SHIFT); }
static void c_start(void) { put(g_u->start, hdr(g_u->start) | HDR_PREV_FREE); }

static void test_checker(void) {
  static const struct { const char *name; void (*plant)(void); } cases[] = {
    {"size changed above CHECK's bits", c_size},
    {"PREV_FREE set after an in-use chunk", c_prev_free_set},
    {"PREV_FREE cleared after a free chunk", c_prev_free_clear},
    {"footer", c_footer},
    {"chunk lock left held", c_chunk_lock},
    {"bin lock left held", c_bin_lock},
    {"non-empty map byte", c_map},
    {"tags on a free chunk", c_free_tags},
    {"free chunk in no bin", c_unindexed},
    {"free chunk in the wrong bin", c_wrong_bin},
    {"bin entry linked to itself", c_self_link},
    {"adjacent free chunks", c_adjacent},
    {"bin entry that is not a chunk", c_fake_bin_entry},
    {"1-granule chunk off a separator's place", c_fake_separator},
    {"deferred chunk listed twice, another on no list", c_deferred_twice},
    {"deferred list entry that is not a chunk", c_deferred_fake},
    {"end sentinel DEFERRED", c_end_deferred},
    {"end sentinel tags", c_end_tags},
    {"start sentinel PREV_FREE", c_start},
  };
  setup();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(g_snap, g_space, SPACE);
    cases[i].plant();
    int bad = umm_check(g_u);
    memcpy(g_space, g_snap, SPACE);
    CHECK_MSG(bad > 0, "umm_check missed: %s", cases[i].name);
    CHECK_MSG(umm_check(g_u) == 0, "not clean after restoring: %s", cases[i].name);
  }
  free(g_space);
  free(g_snap);
}

/* ---- a fitting chunk deep in its bin --------------------------------------------- */
/* One free chunk of 35 granules behind 16 free chunks of 32 (the same ranged
 * bin), nothing else free: a request for 35 granules must get it. */
static umm_t *deep_region(void *space, size_t bytes) {
  umm_t *u = umm_init(space, bytes);
  CHECK(u != NULL);
  void *x = umm_malloc(u, 35 * 16 - 8, 0), *a[16];
  CHECK(umm_malloc(u, 8, 0) != NULL);               /* keeps the free chunks apart */
  for (int i = 0; i < 16; i++) {
    a[i] = umm_malloc(u, 32 * 16 - 8, 0);
    CHECK(umm_malloc(u, 8, 0) != NULL);
  }
  for (size_t s = 4096; s >= 8; s /= 2)
    while (umm_malloc(u, s, 0)) {}                  /* fill the rest */
  umm_free(u, x);                                   /* linked first: deepest in the bin */
  for (int i = 0; i < 16; i++) umm_free(u, a[i]);
  CHECK(ummi_bin_of(35) == ummi_bin_of(32));
  umm_stats_t st;
  umm_get_stats(u, &st);
  CHECK_EQ(st.free_chunks, 17);
  CHECK_EQ(st.largest_free, 35 * 16 - 8);
  return u;
}

static void test_deep_fit(void) {
  size_t bytes = (size_t)64 << 10;
  void *space = aligned_alloc(4096, bytes);
  CHECK(space != NULL);
  for (int nowait = 0; nowait <= 1; nowait++) {
    umm_t *u = deep_region(space, bytes);
    errno = 0;
    void *p = nowait ? umm_malloc_nowait(u, 35 * 16 - 8, 7) : umm_malloc(u, 35 * 16 - 8, 7);
    CHECK_MSG(p != NULL, "%s: ENOMEM with a fitting free chunk (errno %d)", nowait ? "umm_malloc_nowait" : "umm_malloc", errno);
    if (p) {
      CHECK(umm_usable_size(p) >= 35 * 16 - 8);
      CHECK_EQ(umm_tags(p), 7);
      memset(p, 0x5a, 35 * 16 - 8);
    }
    CHECK_EQ(umm_check(u), 0);
    errno = 0;                                      /* now nothing fits: ENOMEM again */
    CHECK(umm_malloc(u, 35 * 16 - 8, 0) == NULL);
    CHECK_EQ(errno, ENOMEM);
    CHECK_EQ(umm_check(u), 0);
  }
  free(space);
}

/* umm_memalign served by the region walk (over-allocating cannot: the region
 * is full but for one freed block holding an aligned spot) keeps errno: the
 * failed over-allocation left ENOMEM there. */
static void test_memalign_errno(void) {
  size_t bytes = (size_t)256 << 10;
  void *space = aligned_alloc(4096, bytes), *a[512];
  CHECK(space != NULL);
  umm_t *u = umm_init(space, bytes);
  size_t n = 0;
  while (n < 512 && (a[n] = umm_malloc(u, 1000, 0)) != NULL) n++;
  for (size_t s = 512; s >= 8; s /= 2)
    while (umm_malloc(u, s, 0)) {}
  int freed = 0;
  for (size_t i = 0; i < n && !freed; i++) {       /* a block with 4096-aligned room for 512 bytes */
    uintptr_t p = (uintptr_t)a[i], q = (p + 4095) & ~(uintptr_t)4095;
    if (q >= p + 32 && q + 512 <= p + 1000) { umm_free(u, a[i]); freed = 1; }
  }
  CHECK(freed);
  errno = 0;
  void *p = umm_memalign(u, 4096, 512, 0);
  CHECK(p != NULL && ((uintptr_t)p & 4095) == 0);
  CHECK_EQ(errno, 0);
  CHECK_EQ(umm_check(u), 0);
  free(space);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  check_install_fatal();
  test_checker();
  test_deep_fit();
  test_memalign_errno();
  return check_report();
}
