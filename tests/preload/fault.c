/* fault.c - out-of-memory behaviour of the preload (fault*.sh):
 *
 *   fault inject    OS calls made to fail (umm_fault_set): every entry point
 *                   gives NULL + ENOMEM for small, medium (core) and large
 *                   sizes, blocks allocated before keep their content and can
 *                   be freed, a failed realloc leaves the block intact, and
 *                   all works again once the fault clears; then random
 *                   workloads under fault schedules (after=, every=)
 *   fault startup   basic use when UMM_FAULT made start-up calls fail
 *   fault limits    4 threads allocate until NULL, free all, allocate every
 *                   other block again: all of it must succeed (run under ulimit -v
 *                   or ulimit -d by the script)
 *   fault sweep     impossible sizes and bad alignments on every entry
 *                   point: NULL + ENOMEM (EINVAL for alignments), nothing
 *                   changed (runs with or without the preload)
 *
 * Bookkeeping lives in mmap'd memory, never malloc, so that it does not
 * depend on the allocator under test. */
#include "ptest.h"
#include "umm_fault.h"
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>

extern int umm_heap_check(void) __attribute__((weak));

static size_t page;

static void *xmap(size_t n) {
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(2); }
  return p;
}

/* A cheap mark on a block: its first 8 bytes and (when they do not overlap)
 * its last 8 from a seed; head_ok checks the first k <= 8 only. */
static void mark(void *p, size_t n, uint64_t seed) {
  unsigned char *c = p;
  for (size_t i = 0; i < 8 && i < n; i++) c[i] = (unsigned char)(seed >> (i * 8));
  for (size_t i = 0; i < 8 && n - 1 - i >= 8 && i < n; i++) c[n - 1 - i] = (unsigned char)~(seed >> (i * 8));
}
static int head_ok(const void *p, size_t k, uint64_t seed) {
  const unsigned char *c = p;
  for (size_t i = 0; i < 8 && i < k; i++) if (c[i] != (unsigned char)(seed >> (i * 8))) return 0;
  return 1;
}
static int marked(const void *p, size_t n, uint64_t seed) {
  const unsigned char *c = p;
  if (!head_ok(p, n, seed)) return 0;
  for (size_t i = 0; i < 8 && n - 1 - i >= 8 && i < n; i++) if (c[n - 1 - i] != (unsigned char)~(seed >> (i * 8))) return 0;
  return 1;
}

/* ---- the entry points, one signature ------------------------------------------ */
typedef void *(*entry_fn)(size_t n);
static void *e_malloc(size_t n) { return malloc(n); }
static void *e_calloc(size_t n) { return calloc(1, n); }
static void *e_calloc2(size_t n) { return calloc(n, 1); }
static void *e_realloc(size_t n) { return realloc(NULL, n); }
static void *e_reallocarray(size_t n) { return reallocarray(NULL, 1, n); }
static void *e_posix_memalign(size_t n) {
  void *p = (void *)0x1234;
  int r = posix_memalign(&p, 64, n);
  if (r) {
    CHECK(r == ENOMEM && p == (void *)0x1234);
    errno = r;
    return NULL;
  }
  return p;
}
static void *e_aligned_alloc(size_t n) { return aligned_alloc(64, n); }
static void *e_memalign(size_t n) { return memalign(4096, n); }
static void *e_memalign_big(size_t n) { return memalign((size_t)1 << 21, n); }
static void *e_valloc(size_t n) { return valloc(n); }
static void *e_pvalloc(size_t n) { return pvalloc(n); }

static const struct { const char *name; entry_fn fn; } entries[] = {
  {"malloc", e_malloc}, {"calloc", e_calloc}, {"calloc2", e_calloc2}, {"realloc", e_realloc},
  {"reallocarray", e_reallocarray}, {"posix_memalign", e_posix_memalign}, {"aligned_alloc", e_aligned_alloc},
  {"memalign", e_memalign}, {"memalign2M", e_memalign_big}, {"valloc", e_valloc}, {"pvalloc", e_pvalloc},
};
#define NENTRIES (sizeof entries / sizeof entries[0])

static void fail_msg(const char *what, const char *entry, size_t n) {
  char buf[200];
  int k = snprintf(buf, sizeof buf, "  (%s: %s(%zu))\n", what, entry, n);
  if (k > 0) { ssize_t w = write(2, buf, (size_t)k); (void)w; }
}

/* ---- inject ------------------------------------------------------------------- */
#define SMALL  ((size_t)100)
#define MEDIUM ((size_t)48 << 10)           /* above the small bins, below any large threshold */
#define LARGE  ((size_t)40 << 20)           /* above 32 MiB: always a mapping of its own */

typedef struct blk { void *p; size_t n; uint64_t seed; } blk_t;
static blk_t *held;                         /* blocks allocated while the arena was filled */
static size_t nheld, capheld;

static void hold(void *p, size_t n) {
  if (nheld == capheld) { fprintf(stderr, "fault: too many blocks held\n"); exit(2); }
  uint64_t seed = 0x5eed0000ull + nheld * 0x9e3779b97f4a7c15ull;
  mark(p, n, seed);
  held[nheld++] = (blk_t){p, n, seed};
}

/* With new memory refused, use up what the committed regions still hold:
 * every size the checks below ask for, largest first, until NULL. */
static void fill(void) {
  static const size_t sizes[] = {MEDIUM, 4096, 1024, 200, SMALL, 48, 16};
  for (unsigned s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    for (;;) {
      errno = 0;
      void *p = malloc(sizes[s]);
      if (!p) { CHECK(errno == ENOMEM); break; }
      hold(p, sizes[s]);
    }
  }
}

static int verify_held(void) {
  size_t bad = 0;
  for (size_t i = 0; i < nheld; i++) bad += !marked(held[i].p, held[i].n, held[i].seed);
  return bad == 0;
}

static void inject_basic(void) {
  /* blocks allocated before the fault */
  blk_t before[6];
  size_t bsz[6] = {SMALL, SMALL, MEDIUM, MEDIUM, LARGE, LARGE};
  for (int i = 0; i < 6; i++) {
    before[i].n = bsz[i];
    before[i].p = malloc(bsz[i]);
    before[i].seed = 0xbef0e000ull + (uint64_t)i;
    CHECK(before[i].p != NULL);
    mark(before[i].p, bsz[i], before[i].seed);
  }

  CHECK(umm_fault_set("all") == 0);
  fill();
  CHECK(nheld > 0);
  printf("  arena filled with %zu blocks while every OS call failed\n", nheld);

  /* every entry point, every size class: NULL + ENOMEM */
  static const size_t sizes[] = {SMALL, MEDIUM, LARGE};
  for (unsigned e = 0; e < NENTRIES; e++) {
    for (unsigned s = 0; s < 3; s++) {
      errno = 0;
      void *p = entries[e].fn(sizes[s]);
      int ok = p == NULL && errno == ENOMEM;
      CHECK(ok);
      if (!ok) { fail_msg("fault: expected NULL + ENOMEM", entries[e].name, sizes[s]); if (p) hold(p, sizes[s]); }
    }
  }
  /* realloc that needs new memory fails and leaves the block as it was; a
   * shrink needs none and succeeds */
  struct { int i; size_t to; } rs[] = {{0, 4000}, {0, MEDIUM}, {2, 16 * MEDIUM}, {2, LARGE}, {4, 2 * LARGE},
                                       {4, LARGE - (LARGE >> 3)}, {4, LARGE / 2}};
  for (unsigned k = 0; k < sizeof rs / sizeof rs[0]; k++) {
    blk_t *b = &before[rs[k].i];
    size_t u = malloc_usable_size(b->p);
    errno = 0;
    void *q = realloc(b->p, rs[k].to);
    if (rs[k].to > u) {
      int ok = q == NULL && errno == ENOMEM;
      CHECK(ok);
      if (!ok) fail_msg("fault: realloc did not fail", "realloc", rs[k].to);
      if (q) { b->p = q; b->n = rs[k].to; mark(q, b->n, b->seed); continue; }
      CHECK(marked(b->p, b->n, b->seed));
      CHECK(malloc_usable_size(b->p) == u);
      errno = 0;
      q = reallocarray(b->p, 2, rs[k].to);
      ok = q == NULL && errno == ENOMEM;
      CHECK(ok);
      if (q) { b->p = q; b->n = 2 * rs[k].to; mark(q, b->n, b->seed); continue; }
      CHECK(marked(b->p, b->n, b->seed));
    } else {
      CHECK(q != NULL);
      if (!q) { fail_msg("fault: a shrinking realloc failed", "realloc", rs[k].to); continue; }
      CHECK(head_ok(q, 8, b->seed));
      b->p = q;
      b->n = rs[k].to;
      mark(q, b->n, b->seed);
    }
  }
  /* Shrinking needs no new memory: under OOM a large block that cannot be
   * moved to the core is kept where it is (as glibc does), never NULL. */
  {
    void *big = before[4].p;
    void *q = realloc(big, 100);
    CHECK(q != NULL);
    if (q == big) {
      CHECK(marked(big, before[4].n, before[4].seed));
    } else if (q) {
      CHECK(head_ok(q, 8, before[4].seed));
      before[4].p = q;
      before[4].n = 100;
      mark(q, 100, before[4].seed);
    }
    errno = 0;
    q = realloc(before[2].p, 100);
    CHECK(q != NULL);
    if (q) { CHECK(head_ok(q, 8, before[2].seed)); before[2].p = q; before[2].n = 100; mark(q, 100, before[2].seed); }
  }
  CHECK(umm_fault_count() > 0);

  /* frees while the OS refuses everything: no crash; the blocks are gone */
  free(before[1].p);
  free(before[3].p);
  free(before[5].p);                         /* munmap refused: its pages stay, the block is freed */
  before[1].p = before[3].p = before[5].p = NULL;
  for (size_t i = nheld / 2; i < nheld; i++) free(held[i].p);
  nheld /= 2;
  CHECK(verify_held());
  CHECK(marked(before[0].p, before[0].n, before[0].seed));
  CHECK(marked(before[2].p, before[2].n, before[2].seed));
  CHECK(marked(before[4].p, before[4].n, before[4].seed));

  /* the fault clears: everything works again */
  CHECK(umm_fault_set("off") == 0);
  for (unsigned e = 0; e < NENTRIES; e++) {
    for (unsigned s = 0; s < 3; s++) {
      errno = 0;
      unsigned char *p = entries[e].fn(sizes[s]);
      CHECK(p != NULL);
      if (!p) { fail_msg("fault cleared: NULL", entries[e].name, sizes[s]); continue; }
      CHECK(malloc_usable_size(p) >= sizes[s]);
      mark(p, sizes[s], 77);
      CHECK(marked(p, sizes[s], 77));
      free(p);
    }
  }
  void *q = realloc(before[4].p, 2 * LARGE);
  CHECK(q != NULL);
  if (q) {
    CHECK(head_ok(q, 8, before[4].seed));    /* the first bytes moved along */
    before[4].p = q;
    before[4].n = 2 * LARGE;
    mark(q, before[4].n, before[4].seed);
  }
  q = realloc(before[0].p, MEDIUM);
  CHECK(q != NULL);
  if (q) { CHECK(head_ok(q, 8, before[0].seed)); before[0].p = q; before[0].n = MEDIUM; }
  CHECK(verify_held());
  for (size_t i = 0; i < nheld; i++) free(held[i].p);
  nheld = 0;
  for (int i = 0; i < 6; i++) free(before[i].p);
  if (umm_heap_check) CHECK(umm_heap_check() == 0);
}

/* The registry / arena paths with over-aligned large blocks when munmap
 * (head and tail trimming) or mremap fails, and a shrinking realloc. */
static void inject_paths(void) {
  CHECK(umm_fault_set("munmap") == 0);
  for (int i = 0; i < 8; i++) {
    size_t a = (size_t)1 << (16 + i);
    void *p = NULL;
    CHECK(posix_memalign(&p, a, LARGE + (size_t)i * 12345) == 0);
    if (!p) continue;
    CHECK(((uintptr_t)p & (a - 1)) == 0);
    CHECK(malloc_usable_size(p) >= LARGE + (size_t)i * 12345);
    mark(p, LARGE + (size_t)i * 12345, 9);
    CHECK(marked(p, LARGE + (size_t)i * 12345, 9));
    free(p);                                 /* munmap refused: the pages stay mapped */
  }
  CHECK(umm_fault_count() > 0);
  CHECK(umm_fault_set("off") == 0);
  char *p = malloc(LARGE);
  CHECK(p != NULL);
  CHECK(umm_fault_set("mremap+mmap") == 0);
  if (p) {
    mark(p, LARGE, 3);
    errno = 0;
    CHECK(realloc(p, 2 * LARGE) == NULL && errno == ENOMEM);
    CHECK(marked(p, LARGE, 3));
    /* mremap alone refused: a new mapping, the content copied (glibc too) */
    CHECK(umm_fault_set("mremap") == 0);
    char *q = realloc(p, 2 * LARGE);
    CHECK(q != NULL);
    if (q) { CHECK(marked(q, LARGE, 3)); p = q; mark(p, 2 * LARGE, 3); }
    q = realloc(p, LARGE);
    CHECK(q == p);                           /* shrinking never fails */
    if (q) { p = q; mark(p, LARGE, 3); }
    /* shrinking a mapping needs no new memory: glibc keeps the block when
     * mremap fails, and so must we */
    q = realloc(p, LARGE - (LARGE >> 2));
    CHECK(q == p);
    if (q) p = q;
    CHECK(head_ok(p, 8, 3));
    free(p);
  }
  CHECK(umm_fault_set("off") == 0);
  /* a large block with a page made read-only by the program is no longer one
   * mapping: mremap fails (EFAULT); realloc still grows it (glibc does) */
  p = malloc(LARGE);
  CHECK(p != NULL);
  if (p) {
    mark(p, LARGE, 4);
    char *pg = (char *)(((uintptr_t)p + LARGE / 2) & ~(uintptr_t)(page - 1));
    CHECK(mprotect(pg, page, PROT_READ) == 0);
    errno = 0;
    char *q = realloc(p, 3 * LARGE);
    CHECK(q != NULL);
    if (q) { CHECK(marked(q, LARGE, 4)); p = q; }
    free(p);
  }
  CHECK(umm_fault_set("bogus") == -1 && errno == EINVAL);
  CHECK(umm_fault_set("mmap:after=x") == -1);
  CHECK(umm_fault_set("mmap:every=0") == -1);
  CHECK(umm_fault_set("mmap+munmap:after=1,every=2,count=3;madvise") == 0);
  CHECK(umm_fault_set("") == 0);
}

/* Random workloads under fault schedules: every NULL is ENOMEM, every live
 * block keeps its content, all of it can be freed. */
typedef struct work {
  blk_t *s;
  uint64_t seed;
  int slots, ops;
  long allocs, nulls;
} work_t;

static void *random_work(void *arg) {
  work_t *w = arg;
  uint64_t rng = w->seed;
  for (int op = 0; op < w->ops; op++) {
    uint64_t r = pt_rand(&rng);
    blk_t *b = &w->s[r % (uint64_t)w->slots];
    unsigned kind = (unsigned)(r >> 20) % 100;
    size_t n;
    if (kind < 60) n = 1 + (r >> 32) % 512;
    else if (kind < 90) n = 1024 + (r >> 32) % (256 << 10);
    else if (kind < 98) n = ((size_t)1 << 20) + (r >> 32) % ((size_t)8 << 20);
    else n = LARGE + (r >> 32) % (8 << 20);
    unsigned how = (unsigned)(r >> 40) % 8;
    if (b->p && how < 5) {
      CHECK(marked(b->p, b->n, b->seed));
      if (how < 3) {
        free(b->p);
        b->p = NULL;
      } else {
        errno = 0;
        void *q = realloc(b->p, n);
        if (!q) {
          w->nulls++;
          CHECK(errno == ENOMEM);
          CHECK(marked(b->p, b->n, b->seed));
        } else {
          CHECK(head_ok(q, n < b->n ? n : b->n, b->seed));
          b->p = q;
          b->n = n;
          mark(q, n, b->seed);
        }
      }
      continue;
    }
    if (b->p) { free(b->p); b->p = NULL; }
    errno = 0;
    void *p;
    size_t al = 16;
    switch (how) {
      case 0: p = calloc(1, n); break;
      case 1: al = (size_t)16 << (r % 14); p = memalign(al, n); break;
      case 2:
        al = (size_t)64 << (r % 16);
        p = NULL;
        if (posix_memalign(&p, al, n) != 0) { p = NULL; errno = ENOMEM; }
        break;
      default: p = malloc(n); break;
    }
    w->allocs++;
    if (!p) { w->nulls++; CHECK(errno == ENOMEM); continue; }
    CHECK(malloc_usable_size(p) >= n);
    CHECK(((uintptr_t)p & (al - 1)) == 0);
    if (how == 0) CHECK(((unsigned char *)p)[n - 1] == 0 && ((unsigned char *)p)[0] == 0);
    b->p = p;
    b->n = n;
    b->seed = r;
    mark(p, n, r);
  }
  return NULL;
}

/* Random workloads in `nthreads` threads while `spec` holds; then the fault
 * clears and everything is checked and freed. */
static void inject_random(const char *spec, uint64_t seed, int ops, int nthreads) {
  enum { SLOTS = 1024, MAXT = 4 };
  work_t w[MAXT];
  pthread_t th[MAXT];
  CHECK(umm_fault_set(spec) == 0);
  for (int i = 0; i < nthreads; i++) {
    w[i] = (work_t){xmap(sizeof(blk_t) * SLOTS), seed * 1000 + (uint64_t)i, SLOTS / nthreads, ops / nthreads, 0, 0};
    if (nthreads == 1) random_work(&w[i]);
    else CHECK(pthread_create(&th[i], NULL, random_work, &w[i]) == 0);
  }
  if (nthreads > 1)
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  unsigned long injected = umm_fault_count();
  CHECK(umm_fault_set("off") == 0);
  long allocs = 0, nulls = 0;
  for (int t = 0; t < nthreads; t++) {
    for (int i = 0; i < w[t].slots; i++) {
      blk_t *b = &w[t].s[i];
      if (!b->p) continue;
      CHECK(marked(b->p, b->n, b->seed));
      free(b->p);
    }
    allocs += w[t].allocs;
    nulls += w[t].nulls;
    munmap(w[t].s, sizeof(blk_t) * SLOTS);
  }
  if (umm_heap_check) CHECK(umm_heap_check() == 0);
  void *p = malloc(LARGE);
  CHECK(p != NULL);
  free(p);
  printf("  %-34s %d thr %6ld allocations, %5ld NULL, %5lu OS calls failed\n", spec, nthreads, allocs, nulls,
         injected);
}

/* A thread whose home region (given round-robin, one per CPU) is not
 * committed yet, while commits and mappings fail: the regions already
 * committed still serve it. */
static void *home_thread(void *arg) {
  long *got = arg;
  for (int i = 0; i < 64; i++) {
    size_t n = i & 1 ? MEDIUM : SMALL;
    void *p = malloc(n);
    if (!p) continue;
    mark(p, n, 5);
    if (marked(p, n, 5)) ++*got;
    free(p);
  }
  return NULL;
}

static void inject_home(void) {
  void *warm = malloc(SMALL);                /* region 0 committed, with room */
  CHECK(warm != NULL);
  CHECK(umm_fault_set("mmap+mprotect") == 0);
  for (int k = 0; k < 4; k++) {               /* homes 1, 2, ... (mod the CPU count) */
    long got = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, home_thread, &got) == 0);
    pthread_join(th, NULL);
    CHECK(got == 64);
    if (got != 64) fprintf(stderr, "  thread %d: %ld of 64 allocations served with committed regions free\n", k, got);
  }
  CHECK(umm_fault_set("off") == 0);
  free(warm);
}

/* The debug heap's own mappings refused: umm_dump fails cleanly. */
extern int umm_dump(int fd, const char *format) __attribute__((weak));
static void inject_debug(void) {
  if (!umm_dump) return;
  int fd = open("/dev/null", O_WRONLY);
  CHECK(umm_fault_set("mmap") == 0);
  errno = 0;
  CHECK(umm_dump(fd, "text") == -1);
  CHECK(umm_dump(fd, "svg") == -1);
  CHECK(umm_fault_set("mmap:after=1") == 0);
  CHECK(umm_dump(fd, "svg") == -1);
  CHECK(umm_fault_set("munmap") == 0);
  CHECK(umm_dump(fd, "json") == 0);
  CHECK(umm_fault_set("off") == 0);
  CHECK(umm_dump(fd, "json") == 0);
  close(fd);
}

/* One case of inject_realloc_headroom: p (old bytes, marked with seed) is
 * grown to n after the arena was filled with new memory refused and
 * `hole` freed; it must succeed (at p itself when in_place). */
static void realloc_into_hole(char *p, size_t old, char *hole, size_t n, int in_place, uint64_t seed) {
  size_t n0 = nheld;
  mark(p, old, seed);
  CHECK(umm_fault_set("all") == 0);
  fill();
  free(hole);
  errno = 0;
  char *q = realloc(p, n);
  if (!q) fprintf(stderr, "fault: realloc(%zu -> %zu bytes) into a hole of its own: NULL, errno %d\n", old, n, errno);
  CHECK(q != NULL && (!in_place || q == p));
  if (q) { CHECK(marked(q, old, seed)); p = q; }
  free(p);
  CHECK(umm_fault_set("off") == 0);
  CHECK(verify_held());
  for (size_t i = n0; i < nheld; i++) free(held[i].p);
  nheld = n0;
}

/* A realloc that grows a block by less than an eighth asks for an eighth
 * more (malloc.c); when only the request itself can be had, it gets that.
 * 800 -> 850 bytes asks for 900 first: with new memory refused and the
 * committed space used up, the one block that holds 850 bytes (freed into
 * its thread-cache bin) must serve it. In place: a block above the small
 * classes (grown in the core) with just the request's room after it,
 * 2000 -> 2040 bytes (asks for 2259 first); without thread caches only (a
 * cached neighbour stays in use for the core). */
static void inject_realloc_headroom(void) {
  char *p = malloc(800), *hole = malloc(850);
  CHECK(p != NULL && hole != NULL);
  if (p && hole) realloc_into_hole(p, 800, hole, 850, 0, 11);
  const char *cache = getenv("UMM_CACHE");
  if (!cache || strcmp(cache, "0") != 0) return;
  p = malloc(2000);
  char *next = malloc(48);
  CHECK(p != NULL && next != NULL);
  if (!p || !next) return;
  CHECK(next == p + malloc_usable_size(p) + 8);   /* cut one after the other (nothing freed yet) */
  realloc_into_hole(p, 2000, next, 2040, 1, 12);
}

static int run_inject(void) {
  if (!pt_preloaded() || !umm_fault_set) { fprintf(stderr, "fault inject: needs the preload\n"); return 2; }
  capheld = (size_t)1 << 22;
  held = xmap(capheld * sizeof(blk_t));
  printf("fault inject\n");
  fflush(stdout);                            /* stdout's buffer exists before the faults */
  inject_basic();
  inject_realloc_headroom();
  inject_paths();
  inject_home();
  inject_debug();
  inject_random("all:every=3", 1, 20000, 1);
  inject_random("mmap:after=5,every=2", 2, 20000, 1);
  inject_random("mprotect+mremap", 3, 20000, 1);
  inject_random("munmap+madvise:every=2", 4, 20000, 1);
  inject_random("all:after=50,every=7,count=40", 5, 20000, 1);
  inject_random("all:every=3", 6, 40000, 4);
  inject_random("mmap+mprotect:every=2", 7, 40000, 4);
  inject_random("mremap+munmap+madvise:every=2", 8, 40000, 4);
  munmap(held, capheld * sizeof(blk_t));
  return pt_report();
}

/* ---- startup: a process whose start-up calls failed still works ------------------- */
static int run_startup(void) {
  printf("fault startup\n");
  for (size_t n = 1; n < ((size_t)64 << 20); n = n * 3 + 1) {
    unsigned char *p = malloc(n);
    CHECK(p != NULL);
    if (!p) continue;
    mark(p, n, n);
    p = realloc(p, n + n / 2 + 1);
    CHECK(p != NULL && head_ok(p, n, n));
    free(p);
    void *q = NULL;
    CHECK(posix_memalign(&q, 4096, n) == 0 && q != NULL);
    free(q);
    q = calloc(n, 1);
    CHECK(q != NULL);
    free(q);
  }
  if (umm_heap_check) CHECK(umm_heap_check() == 0);
  return pt_report();
}

/* ---- limits: threads allocate until NULL ------------------------------------------- */
#define NTHREADS 4
#define TSLOTS   ((size_t)1 << 16)
static pthread_barrier_t bar;
typedef struct tstate {
  int id;
  blk_t *b;
  size_t n1, bytes1, n2, fail2, bad, enomem_bad;
} tstate_t;

static size_t limit_size(uint64_t *rng) {
  uint64_t r = pt_rand(rng);
  unsigned k = (unsigned)(r % 100);
  if (k < 60) return 16 + (r >> 32) % 1024;
  if (k < 95) return 2048 + (r >> 32) % (128 << 10);
  return ((size_t)1 << 20) + (r >> 32) % ((size_t)6 << 20);
}

/* The same mix from one size class down: 2 large, 1 medium, 0 small. */
static size_t class_size(uint64_t *rng, int cls) {
  uint64_t r = pt_rand(rng);
  if (cls == 0) return 16 + (r >> 32) % 1024;
  if (cls == 1) return 2048 + (r >> 32) % (128 << 10);
  return ((size_t)1 << 20) + (r >> 32) % ((size_t)6 << 20);
}

static void *limit_thread(void *arg) {
  tstate_t *t = arg;
  uint64_t rng = 0x1000u + (uint64_t)t->id;
  pthread_barrier_wait(&bar);
  /* phase 1: the mix until NULL, then medium sizes until NULL, then small
   * ones until NULL */
  int cls = 3;
  for (t->n1 = 0; t->n1 < TSLOTS; t->n1++) {
    size_t n = cls == 3 ? limit_size(&rng) : class_size(&rng, cls);
    errno = 0;
    void *p = malloc(n);
    if (!p) {
      t->enomem_bad += errno != ENOMEM;
      if (cls == 3) cls = 1;
      else if (cls-- == 0) break;
      t->n1--;
      continue;
    }
    mark(p, n, n ^ t->n1);
    t->b[t->n1] = (blk_t){p, n, n ^ t->n1};
    t->bytes1 += n;
  }
  pthread_barrier_wait(&bar);
  for (size_t i = 0; i < t->n1; i++) {
    t->bad += !marked(t->b[i].p, t->b[i].n, t->b[i].seed);
    free(t->b[i].p);
  }
  pthread_barrier_wait(&bar);
  /* phase 2: every other block of phase 1 again (the same sizes: about half
   * of what each pool, arena and mappings, gave): all must succeed */
  t->n2 = 0;
  for (size_t i = 0; i < t->n1; i += 2) {
    size_t n = t->b[i].n;
    void *p = malloc(n);
    t->b[i].p = p;
    t->n2++;
    if (!p) { t->fail2++; continue; }
    t->b[i].seed = n * 31;
    mark(p, n, n * 31);
  }
  pthread_barrier_wait(&bar);
  for (size_t i = 0; i < t->n1; i += 2) {
    if (!t->b[i].p) continue;
    t->bad += !marked(t->b[i].p, t->b[i].n, t->b[i].seed);
    free(t->b[i].p);
  }
  return NULL;
}

static int run_limits(void) {
  struct rlimit as, data;
  getrlimit(RLIMIT_AS, &as);
  getrlimit(RLIMIT_DATA, &data);
  char a[32] = "unlimited", d[32] = "unlimited";
  if (as.rlim_cur != RLIM_INFINITY) snprintf(a, sizeof a, "%lu MiB", (unsigned long)(as.rlim_cur >> 20));
  if (data.rlim_cur != RLIM_INFINITY) snprintf(d, sizeof d, "%lu MiB", (unsigned long)(data.rlim_cur >> 20));
  printf("fault limits (RLIMIT_AS %s, RLIMIT_DATA %s)\n", a, d);
  fflush(stdout);
  tstate_t ts[NTHREADS];
  pthread_t th[NTHREADS];
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setstacksize(&at, (size_t)256 << 10);
  pthread_barrier_init(&bar, NULL, NTHREADS);
  for (int i = 0; i < NTHREADS; i++) {
    memset(&ts[i], 0, sizeof ts[i]);
    ts[i].id = i;
    ts[i].b = xmap(TSLOTS * sizeof(blk_t));
    CHECK(pthread_create(&th[i], &at, limit_thread, &ts[i]) == 0);
  }
  size_t n1 = 0, bytes1 = 0, n2 = 0;
  for (int i = 0; i < NTHREADS; i++) {
    pthread_join(th[i], NULL);
    CHECK(ts[i].n1 < TSLOTS);                /* stopped by a NULL, not by the table */
    CHECK(ts[i].enomem_bad == 0);
    CHECK(ts[i].fail2 == 0);
    CHECK(ts[i].bad == 0);
    n1 += ts[i].n1;
    bytes1 += ts[i].bytes1;
    n2 += ts[i].n2;
    if (ts[i].fail2) fprintf(stderr, "  thread %d: %zu of %zu allocations failed after freeing everything\n", i,
                             ts[i].fail2, ts[i].n2);
  }
  printf("  until NULL: %zu blocks, %zu MiB; after freeing all: %zu blocks again\n", n1, bytes1 >> 20, n2);
  /* and a single thread can still get a large block */
  void *p = malloc((size_t)8 << 20);
  CHECK(p != NULL);
  free(p);
  if (umm_heap_check) CHECK(umm_heap_check() == 0);
  return pt_report();
}

/* ---- sweep: impossible sizes ----------------------------------------------------------- */
typedef struct canary { void *p; size_t n, usable; uint64_t seed; } canary_t;
static canary_t can[3];
static struct mallinfo2 mi0;

static void state_save(void) {
  size_t sz[3] = {SMALL, MEDIUM, LARGE};
  for (int i = 0; i < 3; i++) {
    if (!can[i].p) {
      can[i].p = malloc(sz[i]);
      can[i].n = sz[i];
      can[i].seed = 0xca0a4700ull + (uint64_t)i;
      mark(can[i].p, sz[i], can[i].seed);
    }
    can[i].usable = malloc_usable_size(can[i].p);
  }
  mi0 = mallinfo2();
}
/* nothing changed since state_save (canaries and the allocator's counters) */
static int state_same(void) {
  for (int i = 0; i < 3; i++)
    if (!marked(can[i].p, can[i].n, can[i].seed) || malloc_usable_size(can[i].p) != can[i].usable) return 0;
  struct mallinfo2 mi = mallinfo2();
  return mi.arena == mi0.arena && mi.hblks == mi0.hblks && mi.hblkhd == mi0.hblkhd && mi.uordblks == mi0.uordblks;
}

static long sweep_bad;
static void expect_null(const char *entry, size_t n, void *p, int err, int want) {
  if (p == NULL && err == want) return;
  if (sweep_bad++ < 10) fail_msg(p ? "sweep: not NULL" : "sweep: wrong errno", entry, n);
  if (p) free(p);
}

/* Every entry point with size n (and the realloc forms on each canary). */
static void sweep_one(size_t n) {
  void *p;
  errno = 0; p = malloc(n); expect_null("malloc", n, p, errno, ENOMEM);
  errno = 0; p = calloc(1, n); expect_null("calloc", n, p, errno, ENOMEM);
  errno = 0; p = calloc(n, 1); expect_null("calloc", n, p, errno, ENOMEM);
  errno = 0; p = realloc(NULL, n); expect_null("realloc", n, p, errno, ENOMEM);
  errno = 0; p = reallocarray(NULL, n, 1); expect_null("reallocarray", n, p, errno, ENOMEM);
  errno = 0; p = reallocarray(NULL, 1, n); expect_null("reallocarray", n, p, errno, ENOMEM);
  for (int i = 0; i < 3; i++) {
    errno = 0; p = realloc(can[i].p, n); expect_null("realloc(canary)", n, p, errno, ENOMEM);
    errno = 0; p = reallocarray(can[i].p, 1, n); expect_null("reallocarray(canary)", n, p, errno, ENOMEM);
  }
  static const size_t al[] = {8, 16, 32, 64, 4096, (size_t)1 << 21};
  for (unsigned k = 0; k < sizeof al / sizeof al[0]; k++) {
    p = (void *)0x1234;
    int r = posix_memalign(&p, al[k], n);
    if (r != ENOMEM || p != (void *)0x1234) { if (sweep_bad++ < 10) fail_msg("sweep: not ENOMEM", "posix_memalign", n); }
    errno = 0; p = aligned_alloc(al[k], n); expect_null("aligned_alloc", n, p, errno, ENOMEM);
    errno = 0; p = memalign(al[k], n); expect_null("memalign", n, p, errno, ENOMEM);
  }
  errno = 0; p = valloc(n); expect_null("valloc", n, p, errno, ENOMEM);
  errno = 0; p = pvalloc(n); expect_null("pvalloc", n, p, errno, ENOMEM);
}

static int run_sweep(void) {
  page = (size_t)sysconf(_SC_PAGESIZE);
  printf("fault sweep (%s)\n", pt_preloaded() ? "umm" : "glibc");
  fflush(stdout);
  state_save();
  long calls = 0;
  for (size_t i = 0; i < ((size_t)1 << 14); i++, calls++) sweep_one(SIZE_MAX - i);
  CHECK(state_same());
  for (size_t i = 0; i < 64; i++, calls++) sweep_one((size_t)PTRDIFF_MAX + 1 + i * 4093);
  for (size_t i = 0; i < 64; i++, calls++) sweep_one((size_t)PTRDIFF_MAX - i * 4093);
  CHECK(state_same());
  for (size_t k = 1; k <= 16; k++, calls++) sweep_one(k << 50);
  CHECK(state_same());
  CHECK(sweep_bad == 0);

  /* calloc and reallocarray: products that overflow, or exceed PTRDIFF_MAX */
  long bad = 0;
  for (unsigned a = 1; a < 64; a++) {
    for (unsigned b = 64 - a; b < 64 && a + b >= 64; b++) {   /* 2^a * 2^b >= 2^64 */
      size_t x = (size_t)1 << a, y = ((size_t)1 << b) + (b & 1);
      void *p;
      errno = 0; p = calloc(x, y); bad += !(p == NULL && errno == ENOMEM); if (p) free(p);
      errno = 0; p = calloc(y, x); bad += !(p == NULL && errno == ENOMEM); if (p) free(p);
      errno = 0; p = reallocarray(NULL, x, y); bad += !(p == NULL && errno == ENOMEM); if (p) free(p);
      for (int i = 0; i < 3; i++) {
        errno = 0; p = reallocarray(can[i].p, x, y); bad += !(p == NULL && errno == ENOMEM);
      }
      calls++;
    }
  }
  static const size_t pairs[][2] = {
    {SIZE_MAX, 2}, {SIZE_MAX / 2 + 1, 2}, {SIZE_MAX / 3 + 1, 3}, {(size_t)1 << 32, (size_t)1 << 32},
    {((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1}, {(size_t)PTRDIFF_MAX, 2}, {(size_t)PTRDIFF_MAX / 4 + 1, 4},
    {(size_t)1 << 31, (size_t)1 << 32}, {(size_t)1 << 25, (size_t)1 << 25}, {(size_t)3 << 40, (size_t)1 << 12},
  };
  for (unsigned k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
    void *p;
    errno = 0; p = calloc(pairs[k][0], pairs[k][1]); bad += !(p == NULL && errno == ENOMEM); if (p) free(p);
    errno = 0; p = calloc(pairs[k][1], pairs[k][0]); bad += !(p == NULL && errno == ENOMEM); if (p) free(p);
    errno = 0; p = reallocarray(NULL, pairs[k][0], pairs[k][1]); bad += !(p == NULL && errno == ENOMEM); if (p) free(p);
    for (int i = 0; i < 3; i++) {
      errno = 0; p = reallocarray(can[i].p, pairs[k][0], pairs[k][1]); bad += !(p == NULL && errno == ENOMEM);
    }
  }
  CHECK(bad == 0);
  CHECK(state_same());

  /* bad alignments: EINVAL where glibc 2.36 gives EINVAL */
  bad = 0;
  static const size_t badpm[] = {0, 1, 2, 4, 12, 24, 48, 96, 4097, ((size_t)1 << 63) + 8, SIZE_MAX, SIZE_MAX - 7};
  for (unsigned k = 0; k < sizeof badpm / sizeof badpm[0]; k++) {
    static const size_t ns[] = {0, 1, 100, (size_t)1 << 20, SIZE_MAX};
    for (unsigned j = 0; j < 5; j++) {
      void *p = (void *)0x1234;
      int e0 = errno = 4321;
      int r = posix_memalign(&p, badpm[k], ns[j]);
      bad += !(r == EINVAL && p == (void *)0x1234 && errno == e0);
    }
  }
  for (size_t i = 0; i < 4096; i++) {              /* alignments above SIZE_MAX / 2 + 1 */
    size_t a = SIZE_MAX - i;
    if (a == SIZE_MAX / 2 + 1) continue;
    void *p;
    errno = 0; p = memalign(a, 100); bad += !(p == NULL && errno == EINVAL); if (p) free(p);
    errno = 0; p = aligned_alloc(a, 100); bad += !(p == NULL && errno == EINVAL); if (p) free(p);
    calls++;
  }
  /* the largest power of two is a valid alignment: ENOMEM */
  errno = 0;
  void *p = memalign(SIZE_MAX / 2 + 1, 100);
  bad += !(p == NULL && errno == ENOMEM);
  p = (void *)0x1234;
  bad += posix_memalign(&p, SIZE_MAX / 2 + 1, 100) != ENOMEM || p != (void *)0x1234;
  CHECK(bad == 0);
  CHECK(state_same());

  /* the canaries still work */
  for (int i = 0; i < 3; i++) {
    void *q = realloc(can[i].p, can[i].n * 2);
    CHECK(q != NULL && head_ok(q, 8, can[i].seed));
    free(q);
  }
  printf("  %ld sizes and pairs on every entry point\n", calls);
  return pt_report();
}

/* "exitfault": some live blocks, then every mmap fails from now on, so the
 * exit-time dump and leak report (UMM_DUMP, UMM_LEAKS) cannot get their
 * workspace: each must say it was skipped, not vanish. */
void *exit_keep[16];                               /* live at exit (a root for the leak scan) */
static int run_exitfault(void) {
  for (int i = 0; i < 16; i++) exit_keep[i] = malloc(100 + (size_t)i);
  return umm_fault_set("mmap") == 0 && umm_fault_set("mmap") == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  page = (size_t)sysconf(_SC_PAGESIZE);
  if (!strcmp(argv[argc > 1 ? 1 : 0], "exitfault")) return run_exitfault();
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "inject")) return run_inject();
  if (!strcmp(mode, "startup")) return run_startup();
  if (!strcmp(mode, "limits")) return run_limits();
  if (!strcmp(mode, "sweep")) return run_sweep();
  fprintf(stderr, "usage: fault inject|startup|limits|sweep\n");
  return 2;
}
