/* test_random.c - seeded random operations against a shadow table.
 *
 *   test_random [seed [ops [region_MiB [max_live]]]]
 *
 * Every live block is in the shadow table with its request, usable size, tags
 * and a content pattern derived from the seed and the block's id; blocks freed
 * with umm_free_nowait wait in a "pending" table until a drain. Operations:
 * malloc, malloc_nowait, free, free_nowait, drain, realloc, memalign,
 * set_tags, malloc_batch, free_batch, owns, walk (every chunk the walk sees
 * must match the shadow table). umm_check after every operation; the stats
 * are compared with the shadow table every few operations and after every
 * operation that may have drained. A failure line carries the seed and the
 * operation number: rerun with that seed (and ops = that number + 1) to
 * reproduce. At the end everything is freed and the region must be back to
 * its initial state. Built with UMM_DEBUG=2. */
#include "../check.h"

#include <stdbool.h>
#include <inttypes.h>

#ifndef RANDOM_DEFAULT_OPS
#define RANDOM_DEFAULT_OPS 200000
#endif
#define DEFAULT_SEED      0x5eed2024u
#define DEFAULT_REGION_MB 64u
#define DEFAULT_MAX_LIVE  400u

typedef struct ent {
  char    *p;
  size_t   req, usable, align;
  uint32_t tags;
  uint64_t id;                             /* the pattern is derived from seed and id */
} ent_t;

static uint64_t g_seed, g_rng, g_next_id;
static size_t g_op;
static const char *g_opname = "setup";
static umm_t *U;
static char *g_space;
static size_t g_bytes;
static check_layout_t g_lay;
static umm_stats_t g_init;

static ent_t *live, *pend;
static size_t nlive, npend, max_live;
static size_t live_bytes, pend_bytes;
static unsigned long long count[32], fails_enomem, bad_align;

static size_t rnd_context(char *b, size_t cap) {
  size_t pos = check_str(b, 0, cap, "seed=");
  pos = check_num(b, pos, cap, g_seed, 10);
  pos = check_str(b, pos, cap, " op#");
  pos = check_num(b, pos, cap, g_op, 10);
  pos = check_str(b, pos, cap, " ");
  return check_str(b, pos, cap, g_opname);
}

/* ---- patterns ------------------------------------------------------------------- */
static void fill(char *p, size_t n, uint64_t id) {
  uint64_t k = check_mix64(g_seed ^ (id * 0x9e3779b97f4a7c15ull));
  size_t i = 0;
  for (; i + 8 <= n; i += 8) { uint64_t w = check_mix64(k + i); memcpy(p + i, &w, 8); }
  if (i < n) { uint64_t w = check_mix64(k + i); memcpy(p + i, &w, n - i); }
}
static bool verify(const char *p, size_t n, uint64_t id) {
  uint64_t k = check_mix64(g_seed ^ (id * 0x9e3779b97f4a7c15ull));
  size_t i = 0;
  for (; i + 8 <= n; i += 8) { uint64_t w = check_mix64(k + i); if (memcmp(p + i, &w, 8)) return false; }
  if (i < n) { uint64_t w = check_mix64(k + i); if (memcmp(p + i, &w, n - i)) return false; }
  return true;
}
static void verify_ent(const ent_t *e) {
  CHECK_MSG(verify(e->p, e->usable, e->id), "block %p id %" PRIu64 " (%zu usable) content changed",
            (void *)e->p, e->id, e->usable);
  CHECK_EQ(umm_usable_size(e->p), e->usable);
  CHECK_EQ(umm_tags(e->p), e->tags);
}

/* ---- sizes ------------------------------------------------------------------------ */
static size_t rnd_size(void) {
  size_t k = check_below(&g_rng, 1000);
  if (k < 600) return check_below(&g_rng, 129);              /* 60 %: 0..128 */
  if (k < 900) return check_below(&g_rng, 1025);             /* 30 %: ..1 KiB */
  if (k < 985) return check_below(&g_rng, 4097);             /* 8.5 %: ..4 KiB */
  if (k < 997) return check_below(&g_rng, 65537);            /* 1.2 %: ..64 KiB */
  return check_below(&g_rng, (1u << 20) + 1);                /* 0.3 %: ..1 MiB */
}
static uint32_t rnd_tags(void) {
  switch (check_below(&g_rng, 4)) {
  case 0: return 0;
  case 1: return 0xffffffffu;
  default: return (uint32_t)check_rand(&g_rng);
  }
}

/* ---- shadow table ------------------------------------------------------------------- */
static void add_live(char *p, size_t req, size_t align, uint32_t tags) {
  CHECK(p != NULL);
  if (!p) return;
  CHECK(((uintptr_t)p & ((align < UMM_ALIGNMENT ? UMM_ALIGNMENT : align) - 1)) == 0);
  CHECK(p - UMM_HEADER_SIZE >= g_space && p < g_space + g_bytes);
  ent_t *e = &live[nlive++];
  e->p = p; e->req = req; e->align = align; e->tags = tags; e->id = g_next_id++;
  e->usable = umm_usable_size(p);
  CHECK(e->usable >= req);
  CHECK(p + e->usable <= g_space + g_bytes);
  CHECK_EQ(umm_tags(p), tags);
  fill(p, e->usable, e->id);
  live_bytes += e->usable;
}
static ent_t take_live(size_t i) {
  ent_t e = live[i];
  live[i] = live[--nlive];
  live_bytes -= e.usable;
  return e;
}
static void add_pend(const ent_t *e) { pend[npend++] = *e; pend_bytes += e->usable; }

/* After an operation: the deferred count is either what we have pending or 0
 * (a drain takes the whole list). must_drain: the call is documented to drain. */
static void settle(bool must_drain, bool full) {
  if (!full && npend == 0 && !must_drain) return;
  umm_stats_t st;
  umm_get_stats(U, &st);
  if (must_drain) CHECK_EQ(st.deferred, 0);
  if (st.deferred == 0) { npend = 0; pend_bytes = 0; }
  else CHECK_EQ(st.deferred, npend);
  CHECK_EQ(st.bytes_in_use, live_bytes + pend_bytes);
  CHECK_EQ(st.chunks - st.free_chunks, nlive + npend);
  CHECK_EQ(st.bytes_total, g_init.bytes_total);
}
/* A failed allocation on a quiet region is legitimate only when nothing fits. */
static void expect_enomem(size_t need, const char *what, size_t req) {
  fails_enomem++;
  CHECK_MSG(errno == ENOMEM, "%s(%zu) failed with errno %d on a quiet region", what, req, errno);
  umm_stats_t st;
  umm_get_stats(U, &st);
  CHECK_MSG(st.largest_free < need, "%s(%zu) failed but the largest free chunk has %zu bytes", what, req,
            st.largest_free);
}

/* ---- walk against the shadow ----------------------------------------------------------- */
typedef struct wstate {
  ent_t  *sl, *sp;                         /* live and pending, sorted by address */
  size_t  nl, np, found_l, found_p, chunks;
  char   *last_end;
} wstate_t;
static int cmp_ent(const void *a, const void *b) {
  const ent_t *x = a, *y = b;
  return x->p < y->p ? -1 : x->p > y->p;
}
static ent_t *find(ent_t *v, size_t n, const void *p) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v[mid].p == p) return &v[mid];
    if ((const char *)v[mid].p < (const char *)p) lo = mid + 1; else hi = mid;
  }
  return NULL;
}
static int walk_visit(const umm_chunk_t *c, void *arg) {
  wstate_t *w = arg;
  w->chunks++;
  CHECK((char *)c->ptr - UMM_HEADER_SIZE >= w->last_end);
  w->last_end = (char *)c->ptr + c->size;
  if (!c->in_use) return 0;
  ent_t *e = find(w->sl, w->nl, c->ptr);
  if (e) {
    w->found_l++;
    CHECK_EQ(c->flags, 0);
    CHECK_EQ(c->tags, e->tags);
    CHECK_EQ(c->size, e->usable);
    CHECK_MSG(verify(e->p, e->usable, e->id), "walk: block %p id %" PRIu64 " content changed", (void *)e->p, e->id);
    return 0;
  }
  e = find(w->sp, w->np, c->ptr);
  if (e) {
    w->found_p++;
    CHECK(c->flags & UMM_CHUNK_DEFERRED);
    CHECK_EQ(c->size, e->usable);
    return 0;
  }
  CHECK_MSG(0, "walk: in-use chunk %p (%zu bytes, tags %#x, flags %u) is no block of ours", c->ptr, c->size,
            c->tags, c->flags);
  return 0;
}
static void walk_check(void) {
  wstate_t w = { 0 };
  w.sl = malloc((nlive + 1) * sizeof *w.sl);
  w.sp = malloc((npend + 1) * sizeof *w.sp);
  memcpy(w.sl, live, nlive * sizeof *live);
  memcpy(w.sp, pend, npend * sizeof *pend);
  w.nl = nlive; w.np = npend;
  qsort(w.sl, w.nl, sizeof *w.sl, cmp_ent);
  qsort(w.sp, w.np, sizeof *w.sp, cmp_ent);
  w.last_end = g_space;
  CHECK_EQ(umm_walk(U, walk_visit, &w), 0);
  CHECK_EQ(w.found_l, nlive);
  CHECK_EQ(w.found_p, npend);
  free(w.sl); free(w.sp);
}

/* ---- operations ------------------------------------------------------------------------ */
enum { OP_MALLOC, OP_NOWAIT, OP_FREE, OP_FREE_NOWAIT, OP_DRAIN, OP_REALLOC, OP_MEMALIGN, OP_SET_TAGS,
       OP_BATCH, OP_FREE_BATCH, OP_OWNS, OP_WALK, OP_N };
static const char *opnames[OP_N] = { "malloc", "malloc_nowait", "free", "free_nowait", "drain", "realloc",
                                     "memalign", "set_tags", "malloc_batch", "free_batch", "owns", "walk" };
static const unsigned weights[OP_N] = { 26, 8, 22, 8, 1, 14, 5, 5, 2, 2, 6, 1 };

static void op_malloc(bool nowait) {
  if (nlive + 1 > max_live * 2) return;
  size_t s = rnd_size();
  uint32_t t = rnd_tags();
  errno = 0;
  char *p = nowait ? umm_malloc_nowait(U, s, t) : umm_malloc(U, s, t);
  if (!p) { expect_enomem(s, nowait ? "malloc_nowait" : "malloc", s); return; }
  add_live(p, s, 0, t);
}
static void op_free(bool nowait) {
  if (!nlive) return;
  ent_t e = take_live(check_below(&g_rng, nlive));
  verify_ent(&e);
  if (nowait) { umm_free_nowait(U, e.p); add_pend(&e); }
  else umm_free(U, e.p);
}
static void op_realloc(void) {
  if (!nlive || check_below(&g_rng, 20) == 0) {              /* realloc(NULL, n) */
    if (nlive + 1 > max_live * 2) return;
    size_t s = rnd_size();
    errno = 0;
    char *p = umm_realloc(U, NULL, s);
    if (!p) { expect_enomem(s, "realloc(NULL)", s); return; }
    add_live(p, s, 0, 0);
    return;
  }
  size_t i = check_below(&g_rng, nlive);
  ent_t *e = &live[i];
  verify_ent(e);
  if (check_below(&g_rng, 25) == 0) {                        /* realloc(p, 0) frees */
    ent_t old = take_live(i);
    CHECK(umm_realloc(U, old.p, 0) == NULL);
    return;
  }
  size_t s;
  switch (check_below(&g_rng, 4)) {
  case 0: s = 1 + check_below(&g_rng, e->usable); break;       /* shrink (0 would free) */
  case 1: s = e->usable + check_below(&g_rng, 200); break;      /* grow a bit */
  default: s = rnd_size(); break;
  }
  if (check_below(&g_rng, 500) == 0) s = SIZE_MAX - check_below(&g_rng, 64);  /* impossible */
  if (s == 0) {                                                  /* realloc(p, 0) frees */
    ent_t old = take_live(i);
    CHECK(umm_realloc(U, old.p, 0) == NULL);
    return;
  }
  errno = 0;
  char *p = umm_realloc(U, e->p, s);
  if (!p) {
    expect_enomem(s, "realloc", s);
    verify_ent(e);
    return;
  }
  if (s <= e->usable) CHECK_MSG(p == e->p, "realloc shrink (%zu -> %zu) moved the block", e->usable, s);
  size_t keep = e->usable < s ? e->usable : s;
  CHECK_MSG(verify(p, keep, e->id), "realloc %zu -> %zu lost content", e->usable, s);
  CHECK_EQ(umm_tags(p), e->tags);
  ent_t old = take_live(i);
  add_live(p, s, 0, old.tags);
}
static void op_memalign(void) {
  if (nlive + 1 > max_live * 2) return;
  size_t a = (size_t)1 << check_below(&g_rng, 17);             /* 1 .. 64 KiB */
  if (check_below(&g_rng, 200) == 0) a = (size_t)1 << (17 + check_below(&g_rng, 4)); /* .. 1 MiB */
  size_t s = check_below(&g_rng, 3) ? check_below(&g_rng, 257) : rnd_size();
  uint32_t t = rnd_tags();
  if (check_below(&g_rng, 40) == 0) {                           /* a bad alignment */
    size_t bad = a < 4 ? 3 : a + a / 2;
    errno = 0;
    CHECK(umm_memalign(U, bad, s, t) == NULL);
    CHECK_EQ(errno, EINVAL);
    bad_align++;
    return;
  }
  errno = 0;
  char *p = umm_memalign(U, a, s, t);
  if (!p) {
    fails_enomem++;
    CHECK_EQ(errno, ENOMEM);
    CHECK_MSG(!check_aligned_fit(U, a, s), "memalign(%zu, %zu) failed though a free chunk has room for it", a, s);
    return;
  }
  add_live(p, s, a, t);
}
static void op_set_tags(void) {
  if (!nlive) return;
  ent_t *e = &live[check_below(&g_rng, nlive)];
  uint32_t t = rnd_tags();
  umm_set_tags(U, e->p, t);
  e->tags = t;
  verify_ent(e);
}
static void op_batch(void) {
  if (nlive + 16 > max_live * 2) return;
  size_t s = check_below(&g_rng, 3) ? check_below(&g_rng, 129) : check_below(&g_rng, 4097);
  size_t n = 1 + check_below(&g_rng, 16);
  uint32_t t = rnd_tags();
  void *out[16] = { 0 };
  errno = 0;
  size_t got = umm_malloc_batch(U, s, t, out, n);
  CHECK(got <= n);
  if (!got) { expect_enomem(s, "malloc_batch", s); return; }
  for (size_t i = 0; i < got; i++) add_live(out[i], s, 0, t);
}
static void op_free_batch(void) {
  void *v[24];
  size_t m = 0, n = check_below(&g_rng, 9);
  for (size_t i = 0; i < n && nlive; i++) {
    if (check_below(&g_rng, 4) == 0) v[m++] = NULL;
    ent_t e = take_live(check_below(&g_rng, nlive));
    verify_ent(&e);
    v[m++] = e.p;
  }
  umm_free_batch(U, v, m);
}
static void op_owns(void) {
  if (!nlive) return;
  ent_t *e = &live[check_below(&g_rng, nlive)];
  CHECK(umm_owns(U, e->p));
  CHECK(!umm_owns(U, e->p + 1));
  CHECK_EQ(umm_usable_size(e->p), e->usable);
  CHECK_EQ(umm_tags(e->p), e->tags);
  if (npend) CHECK(!umm_owns(U, pend[check_below(&g_rng, npend)].p + 8));
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  g_seed = argc > 1 ? strtoull(argv[1], NULL, 0) : DEFAULT_SEED;
  size_t ops = argc > 2 ? (size_t)strtoull(argv[2], NULL, 0) : RANDOM_DEFAULT_OPS;
  size_t mb = argc > 3 ? (size_t)strtoull(argv[3], NULL, 0) : DEFAULT_REGION_MB;
  max_live = argc > 4 ? (size_t)strtoull(argv[4], NULL, 0) : DEFAULT_MAX_LIVE;
  if (mb < 1 || max_live < 1) { fprintf(stderr, "usage: %s [seed [ops [region_MiB [max_live]]]]\n", argv[0]); return 2; }
  printf("test_random: seed %" PRIu64 " ops %zu region %zu MiB max_live %zu\n", g_seed, ops, mb, max_live);
  printf("reproduce: %s %" PRIu64 " %zu %zu %zu\n", argv[0], g_seed, ops, mb, max_live);
  check_context = rnd_context;
  check_install_fatal();
  g_rng = g_seed;
  g_bytes = mb << 20;
  g_space = malloc(g_bytes);
  live = calloc(max_live * 2 + 32, sizeof *live);
  pend = calloc(max_live * 2 + 32, sizeof *pend);
  if (!g_space || !live || !pend) { perror("malloc"); return 2; }
  U = umm_init(g_space, g_bytes);
  CHECK(U != NULL);
  if (!U) return check_report();
  check_region(U, g_space, g_bytes, &g_lay, &g_init);

  unsigned total = 0;
  for (int i = 0; i < OP_N; i++) total += weights[i];
  for (g_op = 0; g_op < ops; g_op++) {
    unsigned r = (unsigned)check_below(&g_rng, total), op = 0;
    while (r >= weights[op]) r -= weights[op++];
    /* keep the live set around max_live */
    if (nlive > max_live && (op == OP_MALLOC || op == OP_NOWAIT || op == OP_BATCH || op == OP_MEMALIGN) &&
        check_below(&g_rng, 2)) op = OP_FREE;
    g_opname = opnames[op];
    count[op]++;
    bool drains = false;
    switch (op) {
    case OP_MALLOC:      op_malloc(false); drains = true; break;
    case OP_NOWAIT:      op_malloc(true); break;
    case OP_FREE:        op_free(false); break;
    case OP_FREE_NOWAIT: op_free(true); break;
    case OP_DRAIN:       umm_drain(U); drains = true; break;
    case OP_REALLOC:     op_realloc(); break;
    case OP_MEMALIGN:    op_memalign(); break;
    case OP_SET_TAGS:    op_set_tags(); break;
    case OP_BATCH:       op_batch(); break;
    case OP_FREE_BATCH:  op_free_batch(); break;
    case OP_OWNS:        op_owns(); break;
    case OP_WALK:        walk_check(); break;
    default: break;
    }
    CHECK_EQ(umm_check(U), 0);
    settle(drains, g_op % 64 == 0);
    if (g_op % 4096 == 0) check_region(U, g_space, g_bytes, &g_lay, NULL);
    if (check_failures() > 50) { fprintf(stderr, "too many failures, stopping at op %zu\n", g_op); break; }
  }
  g_opname = "final walk";
  walk_check();
  check_region(U, g_space, g_bytes, &g_lay, NULL);

  /* free everything, mixing both flavours, in random order */
  g_opname = "final free";
  while (nlive) {
    ent_t e = take_live(check_below(&g_rng, nlive));
    verify_ent(&e);
    if (check_below(&g_rng, 3) == 0) umm_free_nowait(U, e.p); else umm_free(U, e.p);
  }
  umm_drain(U);
  npend = 0; pend_bytes = 0;
  check_region(U, g_space, g_bytes, &g_lay, NULL);
  check_back_to_initial(U, &g_init);
  umm_stats_t fin;
  umm_get_stats(U, &fin);
  if (g_init.chunks == 1) CHECK(check_stats_equal(&fin, &g_init));
  printf("ops:");
  for (int i = 0; i < OP_N; i++) printf(" %s %llu", opnames[i], count[i]);
  printf("\nfailed allocations (ENOMEM, checked legitimate): %llu, bad alignments: %llu, final chunks %zu (initial %zu)\n",
         fails_enomem, bad_align, fin.chunks, g_init.chunks);
  free(live); free(pend); free(g_space);
  return check_report();
}
