/* umm_sample.c - small pthread sample application for umm.
 *
 *   umm_sample -t THREADS -s SECONDS [-m REGION_MiB] [-r SEED] [-q]
 *
 * Mallocs one region and hands it to umm_init. THREADS mutator threads then
 * do random umm_malloc / umm_realloc / umm_free / umm_memalign on it, plus
 * some umm_malloc_nowait / umm_free_nowait, and pass blocks to each other
 * through a hand-off table so that blocks get freed by a thread other than
 * the one that allocated them. Every block carries the tag of the thread that
 * allocated it (thread ids count from 1, so tag 0 stays "untagged") and is
 * filled with a pattern that is verified before every free and realloc.
 *
 * Once a second the main thread prints one line: the chunk count, bytes in
 * use per thread (umm_walk, usable bytes summed by tag), deferred frees, the
 * contention per second (delta of umm_stats.contention) and operations/s.
 *
 * At the end every thread frees what it holds, the main thread frees the
 * hand-off table and calls umm_drain, then checks that the region is back to
 * the free chunk(s) it was right after umm_init (same umm_get_stats: one chunk,
 * or more for regions above UMM_MAX_CHUNK) and that umm_check() == 0.
 * Prints PASS or FAIL; exit 0 on PASS, 1 on FAIL, 2 on a usage error.
 */
#define _GNU_SOURCE
#include "umm.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS   64
#define SLOTS         256          /* blocks one thread holds at most */
#define HANDOFF_SLOTS 64           /* shared table for cross-thread frees */
#define HDR           16u          /* blocks >= HDR bytes carry a header */

/* ---- random numbers (xorshift64*) ----------------------------------------- */
static uint64_t rnd(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}
static size_t rnd_below(uint64_t *s, size_t n) { return (size_t)(rnd(s) % n); }

/* Request sizes: mostly small, some medium, a few large. */
static size_t rnd_size(uint64_t *s)
{
  size_t r = rnd_below(s, 1000);
  if (r < 600) return rnd_below(s, 129);                 /* 0..128 */
  if (r < 900) return 129 + rnd_below(s, 2048 - 128);    /* ..2 KiB */
  if (r < 990) return 2049 + rnd_below(s, 16384 - 2048); /* ..16 KiB */
  return 16385 + rnd_below(s, 262144 - 16384);           /* ..256 KiB */
}

/* ---- block content ----------------------------------------------------------
 * A block of req bytes filled for (seed, tag): when req >= HDR the first 16
 * bytes are a header {uint32 seed, uint32 tag, uint64 req} so any thread can
 * verify it without knowing who made it; every other byte i is pattern(i). */
static inline uint8_t pattern(uint32_t seed, size_t i)
{
  return (uint8_t)(seed + (uint32_t)i * 131u + (uint32_t)(i >> 8));
}

struct hdr { uint32_t seed; uint32_t tag; uint64_t req; };

static void fill(void *p, size_t req, uint32_t seed, uint32_t tag)
{
  uint8_t *b = p;
  size_t i = 0;
  if (req >= HDR) {
    struct hdr h = { seed, tag, req };
    memcpy(b, &h, sizeof h);
    i = HDR;
  }
  for (; i < req; i++) b[i] = pattern(seed, i);
}

/* Checks bytes [0, lim) of a block filled by fill(p, req, seed, tag). Returns
 * the index of the first bad byte, or SIZE_MAX when all good. */
static size_t verify(const void *p, size_t req, uint32_t seed, uint32_t tag, size_t lim)
{
  const uint8_t *b = p;
  size_t i = 0;
  if (lim > req) lim = req;
  if (req >= HDR) {
    struct hdr h = { seed, tag, req };
    const uint8_t *e = (const uint8_t *)&h;
    for (; i < HDR && i < lim; i++)
      if (b[i] != e[i]) return i;
  }
  for (; i < lim; i++)
    if (b[i] != pattern(seed, i)) return i;
  return SIZE_MAX;
}

/* ---- shared state ------------------------------------------------------------ */
static umm_t   *g_umm;
static int      g_threads;
static int      g_stop;                       /* __atomic */
static uint64_t g_errors;                     /* __atomic */
static void    *g_handoff[HANDOFF_SLOTS];     /* __atomic exchange only */

struct counters {                             /* written by its thread, read by main (__atomic) */
  uint64_t ops, enomem, eagain, nowait_ok, handed, foreign_frees;
};

struct thread {
  pthread_t       th;
  uint32_t        tag;                        /* thread id, 1..THREADS */
  uint64_t        rng;
  struct { void *p; size_t req; uint32_t seed; } slot[SLOTS];
  struct counters c;
};
static struct thread g_thr[MAX_THREADS];

#define BUMP(field) __atomic_store_n(&(field), (field) + 1, __ATOMIC_RELAXED)

static void error(const char *what, const void *p, size_t req, size_t at)
{
  uint64_t n = __atomic_add_fetch(&g_errors, 1, __ATOMIC_RELAXED);
  if (n <= 10)
    fprintf(stderr, "ERROR: %s: block %p (req %zu) at byte %zu\n", what, p, req, at);
}

static void fatal_handler(const char *msg, const void *ptr)
{
  fprintf(stderr, "umm fatal: %s (%p)\n", msg, ptr);
  abort();
}

static __thread unsigned t_backoff;
static void backoff(umm_t *u, void *arg)
{
  (void)u; (void)arg;
  if ((++t_backoff & 31u) == 0) {
    sched_yield();                            /* lock holder may be descheduled */
  } else {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
  }
}

/* Checks a block this thread holds (full verify + block information). */
static int check_own(struct thread *t, int k)
{
  void *p = t->slot[k].p;
  size_t req = t->slot[k].req, bad;
  if (!umm_owns(g_umm, p)) { error("umm_owns() == 0 for a live block", p, req, 0); return 0; }
  if (umm_tags(p) != t->tag) { error("tags changed", p, req, 0); return 0; }
  if (umm_usable_size(p) < req) { error("usable size < request", p, req, 0); return 0; }
  bad = verify(p, req, t->slot[k].seed, t->tag, req);
  if (bad != SIZE_MAX) { error("content corrupted", p, req, bad); return 0; }
  return 1;
}

/* Checks a block from the hand-off table: it carries its own header. */
static void check_foreign(void *p)
{
  struct hdr h;
  memcpy(&h, p, sizeof h);
  if (!umm_owns(g_umm, p)) { error("umm_owns() == 0 for a handed-off block", p, 0, 0); return; }
  if (h.tag < 1 || h.tag > (uint32_t)g_threads || umm_tags(p) != h.tag) {
    error("handed-off block has a bad tag", p, (size_t)h.req, 4); return;
  }
  if (h.req < HDR || h.req > umm_usable_size(p)) {
    error("handed-off block has a bad header", p, (size_t)h.req, 8); return;
  }
  size_t bad = verify(p, (size_t)h.req, h.seed, h.tag, (size_t)h.req);
  if (bad != SIZE_MAX) error("handed-off block corrupted", p, (size_t)h.req, bad);
}

static void note_failure(struct thread *t, int err)
{
  if (err == ENOMEM) BUMP(t->c.enomem);
  else if (err == EAGAIN) BUMP(t->c.eagain);
  else error("allocation failed with an unexpected errno", NULL, (size_t)err, 0);
}

static void put(struct thread *t, int k, void *p, size_t req)
{
  uint32_t seed = (uint32_t)rnd(&t->rng);
  if ((uintptr_t)p % UMM_ALIGNMENT) error("misaligned block", p, req, 0);
  if (umm_tags(p) != t->tag) error("new block has wrong tags", p, req, 0);
  if (umm_usable_size(p) < req) error("new block: usable size < request", p, req, 0);
  fill(p, req, seed, t->tag);
  t->slot[k].p = p; t->slot[k].req = req; t->slot[k].seed = seed;
}

static void release(struct thread *t, int k, int nowait)
{
  check_own(t, k);
  if (nowait) umm_free_nowait(g_umm, t->slot[k].p);
  else umm_free(g_umm, t->slot[k].p);
  t->slot[k].p = NULL;
}

static void one_op(struct thread *t)
{
  uint64_t *r = &t->rng;
  int k = (int)rnd_below(r, SLOTS);
  unsigned dice = (unsigned)rnd_below(r, 100);
  void *p;

  if (t->slot[k].p == NULL) {
    size_t req = rnd_size(r);
    if (dice < 80) {                          /* plain malloc */
      p = umm_malloc(g_umm, req, t->tag);
    } else if (dice < 92) {                   /* nowait malloc: may give EAGAIN */
      p = umm_malloc_nowait(g_umm, req, t->tag);
      if (p) BUMP(t->c.nowait_ok);
    } else {                                  /* aligned */
      size_t align = (size_t)16 << rnd_below(r, 9);   /* 16 .. 4096 */
      p = umm_memalign(g_umm, align, req, t->tag);
      if (p && ((uintptr_t)p & (align - 1))) error("umm_memalign misaligned", p, req, 0);
    }
    if (!p) { note_failure(t, errno); return; }
    put(t, k, p, req);
    return;
  }

  if (dice < 50) {                            /* free (some deferred) */
    release(t, k, dice < 8);
  } else if (dice < 80) {                     /* realloc: keeps prefix and tags */
    size_t old = t->slot[k].req;
    size_t req = (dice < 60) ? old / 2 + rnd_below(r, 16) : rnd_size(r);
    if (!check_own(t, k)) return;
    p = umm_realloc(g_umm, t->slot[k].p, req);
    if (!p) {
      if (req == 0) { t->slot[k].p = NULL; return; }   /* realloc(p, 0) frees */
      note_failure(t, errno);
      if (!check_own(t, k)) error("block damaged by a failed realloc", t->slot[k].p, old, 0);
      return;
    }
    size_t bad = verify(p, old, t->slot[k].seed, t->tag, req < old ? req : old);
    if (bad != SIZE_MAX) error("realloc lost content", p, req, bad);
    if (umm_tags(p) != t->tag) error("realloc changed tags", p, req, 0);
    put(t, k, p, req);
  } else if (dice < 90) {                     /* hand to another thread */
    if (t->slot[k].req < HDR || !check_own(t, k)) return;
    void *q = __atomic_exchange_n(&g_handoff[rnd_below(r, HANDOFF_SLOTS)], t->slot[k].p,
                                  __ATOMIC_ACQ_REL);
    t->slot[k].p = NULL;
    BUMP(t->c.handed);
    if (q) {
      check_foreign(q);
      if (umm_tags(q) != t->tag) BUMP(t->c.foreign_frees);
      if (dice & 1) umm_free_nowait(g_umm, q); else umm_free(g_umm, q);
    }
  } else {                                    /* just verify */
    check_own(t, k);
  }
}

static void *mutator(void *arg)
{
  struct thread *t = arg;
  while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
    for (int i = 0; i < 64; i++) one_op(t);
    __atomic_store_n(&t->c.ops, t->c.ops + 64, __ATOMIC_RELAXED);
  }
  for (int k = 0; k < SLOTS; k++)             /* give everything back */
    if (t->slot[k].p) release(t, k, (k & 7) == 0);
  return NULL;
}

/* ---- walking ------------------------------------------------------------------ */
struct walk_sum {
  size_t chunks, free_chunks, deferred, other_bytes;
  size_t bytes[MAX_THREADS + 1];             /* by tag; index 0 unused */
};

static int visit(const umm_chunk_t *c, void *arg)
{
  struct walk_sum *w = arg;
  w->chunks++;
  if (!c->in_use) { w->free_chunks++; return 0; }
  if (c->flags & UMM_CHUNK_DEFERRED) { w->deferred++; return 0; }
  if (c->tags >= 1 && c->tags <= (uint32_t)g_threads) w->bytes[c->tags] += c->size;
  else w->other_bytes += c->size;
  return 0;
}

static int stats_equal(const umm_stats_t *a, const umm_stats_t *b)
{
  return a->chunks == b->chunks && a->free_chunks == b->free_chunks &&
         a->bytes_in_use == b->bytes_in_use && a->bytes_free == b->bytes_free &&
         a->largest_free == b->largest_free && a->deferred == b->deferred &&
         a->bytes_total == b->bytes_total;
}

static void print_stats(const char *what, const umm_stats_t *s)
{
  printf("%s: chunks=%zu free_chunks=%zu bytes_in_use=%zu bytes_free=%zu largest_free=%zu "
         "deferred=%zu bytes_total=%zu contention=%" PRIu64 "\n", what, s->chunks, s->free_chunks,
         s->bytes_in_use, s->bytes_free, s->largest_free, s->deferred, s->bytes_total,
         s->contention);
}

static void usage(void)
{
  fprintf(stderr, "usage: umm_sample -t THREADS -s SECONDS [-m REGION_MiB] [-r SEED] [-q]\n"
                  "  -t  mutator threads, 1..%d (default 4)\n"
                  "  -s  seconds to run (default 2)\n"
                  "  -m  region size in MiB (default 64)\n"
                  "  -r  random seed (default: from the clock)\n"
                  "  -q  no per-thread columns in the per-second lines\n", MAX_THREADS);
  exit(2);
}

static long parse_long(const char *s, long lo, long hi)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < lo || v > hi) usage();
  return v;
}

int main(int argc, char **argv)
{
  long threads = 4, seconds = 2, mib = 64;
  uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
  int quiet = 0, opt;

  while ((opt = getopt(argc, argv, "t:s:m:r:qh")) != -1) {
    switch (opt) {
    case 't': threads = parse_long(optarg, 1, MAX_THREADS); break;
    case 's': seconds = parse_long(optarg, 0, 86400); break;
    case 'm': mib = parse_long(optarg, 1, 1L << 20); break;
    case 'r': seed = (uint64_t)parse_long(optarg, 0, __LONG_MAX__); break;
    case 'q': quiet = 1; break;
    default: usage();
    }
  }
  if (optind != argc) usage();
  g_threads = (int)threads;

  size_t bytes = (size_t)mib << 20;
  void *space = malloc(bytes);
  if (!space) { perror("malloc region"); return 1; }
  umm_on_fatal(fatal_handler);
  g_umm = umm_init(space, bytes);
  if (!g_umm) { perror("umm_init"); return 1; }
  umm_on_contention(g_umm, backoff, NULL);

  umm_stats_t s0, s, prev;
  umm_get_stats(g_umm, &s0);
  printf("umm_sample: %ld threads, %ld s, region %ld MiB, seed %" PRIu64 "\n",
         threads, seconds, mib, seed);
  print_stats("after umm_init", &s0);
  fflush(stdout);

  for (int i = 0; i < g_threads; i++) {
    struct thread *t = &g_thr[i];
    t->tag = (uint32_t)i + 1;
    t->rng = seed * UINT64_C(0x9E3779B97F4A7C15) + (uint64_t)t->tag * UINT64_C(0xBF58476D1CE4E5B9);
    if (pthread_create(&t->th, NULL, mutator, t)) { perror("pthread_create"); return 1; }
  }

  prev = s0;
  uint64_t prev_ops = 0;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (long sec = 1; sec <= seconds; sec++) {
    next.tv_sec += 1;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {}

    struct walk_sum w;
    memset(&w, 0, sizeof w);
    umm_walk(g_umm, visit, &w);
    umm_get_stats(g_umm, &s);
    uint64_t ops = 0;
    for (int i = 0; i < g_threads; i++) ops += __atomic_load_n(&g_thr[i].c.ops, __ATOMIC_RELAXED);

    printf("[%4lds] chunks=%zu free=%zu deferred=%zu contention/s=%" PRIu64 " ops/s=%" PRIu64
           " in-use KiB:", sec, w.chunks, w.free_chunks, w.deferred,
           s.contention - prev.contention, ops - prev_ops);
    size_t total = 0;
    for (int i = 1; i <= g_threads; i++) {
      total += w.bytes[i];
      if (!quiet) printf(" T%d=%zu", i, w.bytes[i] >> 10);
    }
    printf(" total=%zu", total >> 10);
    if (w.other_bytes) printf(" untagged=%zu", w.other_bytes >> 10);
    printf("\n");
    fflush(stdout);
    prev = s;
    prev_ops = ops;
  }

  __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
  for (int i = 0; i < g_threads; i++) pthread_join(g_thr[i].th, NULL);
  for (int i = 0; i < HANDOFF_SLOTS; i++) {
    void *q = g_handoff[i];
    g_handoff[i] = NULL;
    if (q) { check_foreign(q); umm_free(g_umm, q); }
  }
  umm_drain(g_umm);

  struct counters tot = { 0, 0, 0, 0, 0, 0 };
  for (int i = 0; i < g_threads; i++) {
    tot.ops += g_thr[i].c.ops; tot.enomem += g_thr[i].c.enomem; tot.eagain += g_thr[i].c.eagain;
    tot.nowait_ok += g_thr[i].c.nowait_ok; tot.handed += g_thr[i].c.handed;
    tot.foreign_frees += g_thr[i].c.foreign_frees;
  }
  printf("ops=%" PRIu64 " enomem=%" PRIu64 " eagain=%" PRIu64 " nowait_mallocs=%" PRIu64
         " handed_off=%" PRIu64 " freed_by_other_thread=%" PRIu64 "\n", tot.ops, tot.enomem,
         tot.eagain, tot.nowait_ok, tot.handed, tot.foreign_frees);

  umm_get_stats(g_umm, &s);
  print_stats("at the end    ", &s);
  int fail = 0;
  if (!stats_equal(&s, &s0)) { printf("FAIL: region did not coalesce back to its starting state\n"); fail = 1; }
  int bad = umm_check(g_umm);
  if (bad) { printf("FAIL: umm_check() = %d\n", bad); fail = 1; }
  uint64_t errs = __atomic_load_n(&g_errors, __ATOMIC_RELAXED);
  if (errs) { printf("FAIL: %" PRIu64 " verification errors\n", errs); fail = 1; }
  printf("%s\n", fail ? "FAIL" : "PASS");
  free(space);
  return fail;
}
