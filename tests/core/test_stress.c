/* test_stress.c - many threads on one region.
 *
 *   test_stress [-t threads] [-n ops per thread] [-s seed] [-m region MiB]
 *               [-w 0|1 walker] [-b 0|1|2 backoff: 0 = default pause,
 *               1 = a yielding callback, 2 = one round of each (default)]
 *
 * Workers allocate / realloc / free blocks with fill patterns; every block's
 * first word is a header word encoding (size, owner thread, cookie) and the
 * rest is derived from it, so anyone can verify a block without knowing who
 * owns it. A quarter of the operations swap a block through a shared atomic
 * array, so blocks are freed by other threads than the one that allocated
 * them. Odd-numbered workers allocate and free only with umm_malloc_nowait /
 * umm_free_nowait (retrying a few times on EAGAIN).
 *
 * Publication protocol for the concurrent walker: a block is allocated with
 * tags TAG(owner); the owner fills it, then sets the FILLED tag bit with
 * umm_set_tags (which takes the chunk's lock). Before changing or freeing a
 * block its holder clears FILLED again with umm_set_tags. The walker (umm_walk
 * holds each chunk's lock during its visit) verifies the content of FILLED
 * in-use chunks only, so the chunk lock orders every write before or after the
 * walker's reads: no data race even for TSan. Every in-use, non-deferred chunk
 * a walk shows must carry our tag marker (something a thread allocated).
 *
 * At the end everything is verified, freed and drained: umm_check == 0 and
 * the region is back to its initial stats. Built with UMM_DEBUG=1.
 *
 * Before that, two short focused phases: ping-pong (no allocation may fail
 * with ENOMEM while the region is almost empty) and the deferred counter
 * (stats.deferred must stay sane while other threads push and drain). */
#include "../check.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <inttypes.h>
#include <time.h>

#ifndef STRESS_DEFAULT_OPS
#define STRESS_DEFAULT_OPS 200000
#endif
#define NSLOT   256
#define NXFER   512
#define MAXT    64

#define TAG_MARK   0xa5000000u
#define TAG_FILLED 0x00000100u
#define TAG(tid)   (TAG_MARK | (uint32_t)(tid))
#define W0_MAGIC   0xc0deull
#define MAX_SIZE   ((size_t)1 << 20)       /* sizes fit 20 bits of the header word */

static umm_t *U;
static void *g_xfer[NXFER];
static volatile int g_stop_walker;
static unsigned long long g_backoffs;
static int g_backoff_ctx;
static unsigned long long g_progress;

typedef struct worker {
  pthread_t th;
  int       id;
  bool      nowait;
  uint64_t  rng;
  size_t    ops;
  void     *slot[NSLOT];
  int       done;
  unsigned  pushed;                        /* umm_free_nowait calls since the last drain we waited for */
  unsigned long long n_alloc, n_free, n_realloc, n_swap, n_recv, n_eagain, n_skip, n_enomem, n_batch;
} worker_t;

/* ---- block format --------------------------------------------------------------- */
static uint64_t w0_make(size_t size, int tid, uint64_t cookie) {
  return (W0_MAGIC << 48) | ((uint64_t)(tid & 0xff) << 40) | ((uint64_t)size << 20) | (cookie & 0xfffff);
}
static size_t w0_size(uint64_t w)  { return (size_t)((w >> 20) & 0xfffff); }
static int    w0_tid(uint64_t w)   { return (int)((w >> 40) & 0xff); }
static bool   w0_ok(uint64_t w)    { return (w >> 48) == W0_MAGIC; }

static void fill_block(char *p, size_t size, int tid, uint64_t cookie) {
  uint64_t w0 = w0_make(size, tid, cookie);
  memcpy(p, &w0, 8);
  size_t i = 8;
  for (; i + 8 <= size; i += 8) { uint64_t w = check_mix64(w0 + i); memcpy(p + i, &w, 8); }
  if (i < size) { uint64_t w = check_mix64(w0 + i); memcpy(p + i, &w, size - i); }
}
/* Checks the first `upto` bytes (all when upto >= size) of a block of
 * `usable` bytes; returns its size from the header word, 0 if the block is
 * bad. (After a shrinking realloc the header word's size may exceed the new
 * usable size: then upto must be within it.) */
static size_t check_block(const char *p, size_t usable, size_t upto, const char *who) {
  uint64_t w0;
  memcpy(&w0, p, 8);
  size_t size = w0_size(w0);
  if (!w0_ok(w0) || size < 8 || (size > usable && upto > usable)) {
    CHECK_MSG(0, "%s: block %p has a bad header word %#" PRIx64 " (usable %zu)", who, (const void *)p, w0, usable);
    return 0;
  }
  size_t n = upto < size ? upto : size, i = 8;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = check_mix64(w0 + i);
    if (memcmp(p + i, &w, 8)) { CHECK_MSG(0, "%s: block %p (size %zu, owner %d) corrupt at byte %zu", who, (const void *)p, size, w0_tid(w0), i); return 0; }
  }
  if (i < n) {
    uint64_t w = check_mix64(w0 + i);
    if (memcmp(p + i, &w, n - i)) { CHECK_MSG(0, "%s: block %p (size %zu) corrupt in its tail", who, (const void *)p, size); return 0; }
  }
  return size;
}
/* A block its holder is about to change or free: verify, then unpublish. */
static size_t take_block(void *p, const char *who) {
  uint32_t t = umm_tags(p);
  CHECK_MSG((t & 0xff000000u) == TAG_MARK && (t & TAG_FILLED), "%s: block %p has tags %#x", who, p, t);
  size_t size = check_block(p, umm_usable_size(p), SIZE_MAX, who);
  uint64_t w0;
  memcpy(&w0, p, 8);
  CHECK_MSG(w0_tid(w0) == (int)(t & 0xff), "%s: block %p header says owner %d, tags %#x", who, p, w0_tid(w0), t);
  umm_set_tags(U, p, t & ~TAG_FILLED);
  return size;
}
static void publish(void *p, size_t size, int tid, uint64_t cookie) {
  fill_block(p, size, tid, cookie);
  umm_set_tags(U, p, TAG(tid) | TAG_FILLED);
}

static size_t rnd_size(uint64_t *rng) {
  size_t k = check_below(rng, 1000);
  if (k < 700) return 8 + check_below(rng, 249);
  if (k < 950) return 8 + check_below(rng, 4089);
  if (k < 998) return 8 + check_below(rng, 65529);
  return 8 + check_below(rng, 256 * 1024);
}

/* ---- workers ---------------------------------------------------------------------- */
static void *alloc_block(worker_t *w, size_t size) {
  for (int tries = 0;; tries++) {
    errno = 0;
    void *p;
    if (w->nowait) p = umm_malloc_nowait(U, size, TAG(w->id));
    else if (check_below(&w->rng, 10) == 0) p = umm_memalign(U, (size_t)32 << check_below(&w->rng, 8), size, TAG(w->id));
    else p = umm_malloc(U, size, TAG(w->id));
    if (p) return p;
    if (errno == EAGAIN && w->nowait) {
      w->n_eagain++;
      if (tries < 8) { if (tries > 2) sched_yield(); continue; }
      w->n_skip++;
      return NULL;
    }
    w->n_enomem++;
    CHECK_MSG(0, "worker %d: allocation of %zu failed with errno %d in a mostly empty region", w->id, size, errno);
    return NULL;
  }
}
/* Deferred frees stay in use until some waiting call drains them. So that
 * the region cannot fill up with them (which would make ENOMEM legitimate),
 * a thread that pushed DEFER_BATCH of them waits (outside the allocator) until
 * the main thread completed a drain that started after its pushes. */
#define DEFER_BATCH 128
static unsigned long long g_drain_epoch;
static void free_block(worker_t *w, void *p) {
  take_block(p, "free");
  if (w->nowait || check_below(&w->rng, 5) == 0) {
    umm_free_nowait(U, p);
    if (++w->pushed >= DEFER_BATCH) {
      unsigned long long target = __atomic_load_n(&g_drain_epoch, __ATOMIC_ACQUIRE) + 2;
      while (__atomic_load_n(&g_drain_epoch, __ATOMIC_ACQUIRE) < target) sched_yield();
      w->pushed = 0;
    }
  } else {
    umm_free(U, p);
  }
  w->n_free++;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  for (size_t op = 0; op < w->ops; op++) {
    if ((op & 1023) == 0) __atomic_add_fetch(&g_progress, 1, __ATOMIC_RELAXED);
    size_t i = check_below(&w->rng, NSLOT);
    void *p = w->slot[i];
    unsigned r = (unsigned)check_below(&w->rng, 100);
    if (p && r < 25) {                       /* hand the block over, take whatever was there */
      size_t k = check_below(&w->rng, NXFER);
      void *got = __atomic_exchange_n(&g_xfer[k], p, __ATOMIC_ACQ_REL);
      w->n_swap++;
      if (got) {
        uint32_t t = umm_tags(got);
        CHECK_MSG((t & 0xff000000u) == TAG_MARK && (t & TAG_FILLED), "received block %p has tags %#x", got, t);
        check_block(got, umm_usable_size(got), SIZE_MAX, "received");
        w->n_recv++;
      }
      w->slot[i] = got;
      continue;
    }
    if (!p) {
      if (!w->nowait && r < 8) {              /* a batch into the empty slots around i */
        void *out[4];
        size_t s = rnd_size(&w->rng) % 1024 + 8, got = umm_malloc_batch(U, s, TAG(w->id), out, 4);
        if (!got) { w->n_enomem++; CHECK_MSG(0, "batch of %zu failed (errno %d)", s, errno); continue; }
        w->n_batch++;
        if (r < 3) {                          /* straight back with umm_free_batch: adjacent blocks, one fused run,
                                               * while the walker walks (run_fuse's lock-free path and its fallback) */
          for (size_t b = 0; b < got; b++) publish(out[b], s, w->id, check_rand(&w->rng));
          for (size_t b = 0; b < got; b++) take_block(out[b], "free_batch");
          umm_free_batch(U, out, got);
          w->n_alloc += got;
          w->n_free += got;
          continue;
        }
        for (size_t b = 0; b < got; b++) {
          publish(out[b], s, w->id, check_rand(&w->rng));
          size_t j = (i + b) % NSLOT;
          if (!w->slot[j]) w->slot[j] = out[b];
          else free_block(w, out[b]);
        }
        w->n_alloc += got;
        continue;
      }
      size_t s = rnd_size(&w->rng);
      p = alloc_block(w, s);
      if (!p) continue;
      CHECK(((uintptr_t)p & (UMM_ALIGNMENT - 1)) == 0);
      CHECK(umm_usable_size(p) >= s);
      publish(p, s, w->id, check_rand(&w->rng));
      w->slot[i] = p;
      w->n_alloc++;
      continue;
    }
    if (!w->nowait && r < 45) {                /* realloc */
      size_t old = take_block(p, "realloc");
      uint32_t t = umm_tags(p);
      size_t ns = rnd_size(&w->rng);
      errno = 0;
      void *q = umm_realloc(U, p, ns);
      if (!q) {
        w->n_enomem++;
        CHECK_MSG(0, "realloc %zu -> %zu failed (errno %d)", old, ns, errno);
        umm_set_tags(U, p, t | TAG_FILLED);
        continue;
      }
      CHECK_EQ(umm_tags(q), t);
      CHECK(umm_usable_size(q) >= ns);
      size_t uq = umm_usable_size(q);
      if (old) check_block(q, uq, ns < uq ? ns : uq, "realloc prefix");
      publish(q, ns, (int)(t & 0xff), check_rand(&w->rng));
      w->slot[i] = q;
      w->n_realloc++;
      continue;
    }
    free_block(w, p);
    w->slot[i] = NULL;
    if (!w->nowait && check_below(&w->rng, 2000) == 0) umm_drain(U);
  }
  __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

/* ---- the concurrent walker ---------------------------------------------------------- */
typedef struct wstate {
  char *last_end;
  unsigned long long chunks, verified, deferred, phantom, walks, nowait_walks, nowait_busy, order_bad;
  size_t bytes_total;
} wstate_t;

static int walk_visit(const umm_chunk_t *c, void *arg) {
  wstate_t *s = arg;
  char *p = c->ptr;
  s->chunks++;
  if (s->last_end) {
    size_t gap = (size_t)(p - UMM_HEADER_SIZE - s->last_end);
    if (p - UMM_HEADER_SIZE < s->last_end || (gap != 0 && gap != UMM_GRANULE)) {
      s->order_bad++;
      CHECK_MSG(0, "walk: chunk %p after a chunk ending at %p", (void *)p, (void *)s->last_end);
    }
  }
  s->last_end = p + c->size;
  s->bytes_total += c->size + UMM_HEADER_SIZE;
  if (!c->in_use) return 0;
  if (c->flags & UMM_CHUNK_DEFERRED) { s->deferred++; return 0; }
  if ((c->tags & 0xff000000u) != TAG_MARK) {
    s->phantom++;
    CHECK_MSG(0, "walk: in-use chunk %p (%zu bytes, tags %#x, flags %u) that no thread allocated", (void *)p,
              c->size, c->tags, c->flags);
    return 0;
  }
  if (c->tags & TAG_FILLED) {
    size_t size = check_block(p, c->size, SIZE_MAX, "walk");
    uint64_t w0;
    memcpy(&w0, p, 8);
    if (size) CHECK_MSG(w0_tid(w0) == (int)(c->tags & 0xff), "walk: block %p header owner %d, tags %#x", (void *)p, w0_tid(w0), c->tags);
    s->verified++;
  }
  return 0;
}
static void *walker_main(void *arg) {
  wstate_t *s = arg;
  umm_stats_t init;
  umm_get_stats(U, &init);
  while (!__atomic_load_n(&g_stop_walker, __ATOMIC_ACQUIRE)) {
    s->last_end = NULL; s->bytes_total = 0;
    int r = umm_walk(U, walk_visit, s);
    CHECK_EQ(r, 0);
    CHECK_EQ(s->bytes_total, init.bytes_total);   /* the visited chunks always tile the region */
    s->walks++;
    s->last_end = NULL; s->bytes_total = 0;
    r = umm_walk_nowait(U, walk_visit, s);
    CHECK(r == 0 || r == -1);
    s->nowait_walks++;
    if (r == -1) s->nowait_busy++;
    if (s->walks % 8 == 0) {
      umm_stats_t st;
      umm_get_stats(U, &st);
      CHECK(st.chunks >= st.free_chunks);
      CHECK_EQ(st.bytes_total, init.bytes_total);
      CHECK_MSG(st.deferred <= st.bytes_total / UMM_GRANULE, "stats: %zu deferred frees (more than chunks can exist)", st.deferred);
    }
  }
  return NULL;
}

/* ---- phase 1: ping-pong on a nearly empty region ----------------------------------
 * Each thread allocates small blocks and frees them again with umm_free (at
 * most 8 live per thread): the region stays almost empty (one big free
 * chunk), so no allocation may fail with ENOMEM, whatever the other threads
 * are doing to that chunk at the same moment. Even-numbered threads allocate
 * with umm_malloc (and grow every other block with umm_realloc), odd ones
 * with umm_malloc_nowait (EAGAIN allowed). */
typedef struct pp { int id; size_t iters; unsigned long long enomem, eagain, ok; } pp_t;
static void *pingpong_main(void *arg) {
  pp_t *t = arg;
  uint64_t rng = (uint64_t)t->id * 77u + 1u;
  void *held[8] = { 0 };
  for (size_t i = 0; i < t->iters; i++) {
    if ((i & 1023) == 0) __atomic_add_fetch(&g_progress, 1, __ATOMIC_RELAXED);
    size_t k = i & 7, s = 16 + check_below(&rng, 200);
    if (held[k]) {
      umm_free(U, held[k]);
      held[k] = NULL;
    }
    errno = 0;
    void *p = (t->id & 1) ? umm_malloc_nowait(U, s, TAG(t->id)) : umm_malloc(U, s, TAG(t->id));
    if (p && !(t->id & 1) && (i & 1)) {      /* grow it, in place when its successor is free */
      void *q = umm_realloc(U, p, s + 100 + check_below(&rng, 400));
      if (q) p = q;
      else { umm_free(U, p); p = NULL; }
    }
    if (p) { t->ok++; held[k] = p; memset(p, t->id, s); continue; }
    if (errno == EAGAIN && (t->id & 1)) t->eagain++;
    else t->enomem++;
  }
  for (int k = 0; k < 8; k++) if (held[k]) umm_free(U, held[k]);
  return NULL;
}
static void pingpong(char *space, size_t bytes, int nthreads, size_t iters) {
  U = umm_init(space, bytes);
  CHECK(U != NULL);
  if (!U) return;
  umm_stats_t init;
  umm_get_stats(U, &init);
  pp_t t[MAXT];
  pthread_t th[MAXT];
  for (int i = 0; i < nthreads; i++) {
    t[i] = (pp_t){ i, iters, 0, 0, 0 };
    pthread_create(&th[i], NULL, pingpong_main, &t[i]);
  }
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  umm_drain(U);
  CHECK_EQ(umm_check(U), 0);
  check_back_to_initial(U, &init);
  for (int i = 0; i < nthreads; i++) {
    printf("ping-pong thread %d (%s): %llu ok, %llu EAGAIN, %llu ENOMEM\n", i, (i & 1) ? "nowait" : "waiting",
           t[i].ok, t[i].eagain, t[i].enomem);
    CHECK_MSG(t[i].enomem == 0, "ping-pong thread %d (%s calls): %llu spurious ENOMEM with the region almost empty",
              i, (i & 1) ? "nowait" : "waiting", t[i].enomem);
  }
}

/* ---- phase 2: the deferred counter under concurrent pushes and drains --------------
 * One thread allocates bursts of blocks and frees them with umm_free_nowait;
 * another drains and reads umm_get_stats. stats.deferred counts frees waiting
 * on the list: it can never exceed the number of chunks the region can hold
 * (a transient underflow of an unsigned counter shows as ~SIZE_MAX). */
static volatile int g_pusher_done, g_pusher_stop;
static void *pusher_main(void *arg) {
  (void)arg;
  void *p[64];
  while (!__atomic_load_n(&g_pusher_stop, __ATOMIC_ACQUIRE)) {
    for (int i = 0; i < 64; i++) p[i] = umm_malloc(U, 32, TAG(0));
    for (int i = 0; i < 64; i++) if (p[i]) umm_free_nowait(U, p[i]);
  }
  __atomic_store_n(&g_pusher_done, 1, __ATOMIC_RELEASE);
  return NULL;
}
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static void deferred_counter(char *space, size_t bytes, double seconds) {
  U = umm_init(space, bytes);
  CHECK(U != NULL);
  if (!U) return;
  umm_stats_t init;
  umm_get_stats(U, &init);
  g_pusher_done = 0;
  g_pusher_stop = 0;
  pthread_t t;
  pthread_create(&t, NULL, pusher_main, NULL);
  double end = now_s() + seconds;
  unsigned long long polls = 0, bad = 0;
  size_t worst = 0, bound = bytes / (2 * UMM_GRANULE);
  while (!__atomic_load_n(&g_pusher_done, __ATOMIC_ACQUIRE)) {
    umm_drain(U);
    umm_stats_t st;
    umm_get_stats(U, &st);
    polls++;
    if ((polls & 1023) == 0) __atomic_add_fetch(&g_progress, 1, __ATOMIC_RELAXED);
    if (st.deferred > bound) { bad++; if (st.deferred > worst) worst = st.deferred; }
    if ((polls & 255) == 0 && now_s() > end) __atomic_store_n(&g_pusher_stop, 1, __ATOMIC_RELEASE);
  }
  pthread_join(t, NULL);
  umm_drain(U);
  printf("deferred counter: %llu polls, %llu impossible values (largest %zu)\n", polls, bad, worst);
  CHECK_MSG(bad == 0, "umm_get_stats reported deferred = %zu (> %zu possible chunks) %llu times of %llu while "
            "another thread pushed with umm_free_nowait", worst, bound, bad, polls);
  CHECK_EQ(umm_check(U), 0);
  check_back_to_initial(U, &init);
}

static void backoff_yield(umm_t *u, void *arg) {
  CHECK(u == U);
  CHECK(arg == &g_backoff_ctx);
  __atomic_add_fetch(&g_backoffs, 1, __ATOMIC_RELAXED);
  sched_yield();
}

static void watchdog(int sig) {
  (void)sig;
  static unsigned long long last;
  unsigned long long now = __atomic_load_n(&g_progress, __ATOMIC_RELAXED);
  if (now == last) {
    static const char m[] = "watchdog: no progress for 30 s (deadlock or livelock?)\n";
    check_write(m, sizeof m - 1);
    _exit(3);
  }
  last = now;
  alarm(30);
}

/* One round of the stress on a fresh region. backoff: 1 = our yielding
 * callback, 0 = the default (installed, then restored with NULL: from then on
 * our callback must not be called). */
static void run_stress(char *space, size_t bytes, int nthreads, size_t ops, uint64_t seed, int walker, int backoff) {
  printf("round: %d threads x %zu ops, seed %" PRIu64 ", walker %d, backoff %s\n", nthreads, ops, seed, walker,
         backoff ? "yield callback" : "default (callback removed with NULL)");
  memset(g_xfer, 0, sizeof g_xfer);
  g_stop_walker = 0;
  U = umm_init(space, bytes);
  CHECK(U != NULL);
  if (!U) return;
  umm_on_contention(U, backoff_yield, &g_backoff_ctx);
  if (!backoff) umm_on_contention(U, NULL, NULL);
  unsigned long long backoffs0 = __atomic_load_n(&g_backoffs, __ATOMIC_RELAXED);
  check_layout_t lay = { 0 };
  umm_stats_t init;
  check_region(U, space, bytes, &lay, &init);

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  worker_t *w = calloc((size_t)nthreads, sizeof *w);
  wstate_t ws = { 0 };
  pthread_t wt;
  if (walker) pthread_create(&wt, NULL, walker_main, &ws);
  for (int i = 0; i < nthreads; i++) {
    w[i].id = i; w[i].nowait = (i & 1) != 0; w[i].ops = ops;
    w[i].rng = seed * 1000003u + (uint64_t)i;
    if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) { perror("pthread_create"); exit(2); }
  }
  /* The nowait workers only push deferred frees; someone must drain them
   * (the waiting workers do, but they may finish first). */
  for (;;) {
    int running = 0;
    for (int i = 0; i < nthreads; i++) if (!__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE)) running++;
    if (!running) break;
    umm_drain(U);
    __atomic_add_fetch(&g_drain_epoch, 1, __ATOMIC_RELEASE);
    struct timespec ts = { 0, 100000 };
    nanosleep(&ts, NULL);
  }
  for (int i = 0; i < nthreads; i++) pthread_join(w[i].th, NULL);
  __atomic_store_n(&g_stop_walker, 1, __ATOMIC_RELEASE);
  if (walker) pthread_join(wt, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);

  /* everything still held: verify and free */
  size_t left = 0;
  for (int i = 0; i < nthreads; i++)
    for (int j = 0; j < NSLOT; j++)
      if (w[i].slot[j]) { take_block(w[i].slot[j], "final"); umm_free(U, w[i].slot[j]); left++; }
  for (int k = 0; k < NXFER; k++)
    if (g_xfer[k]) { take_block(g_xfer[k], "final xfer"); umm_free(U, g_xfer[k]); left++; }
  umm_drain(U);
  umm_stats_t fin;
  umm_get_stats(U, &fin);
  check_region(U, space, bytes, &lay, NULL);
  check_back_to_initial(U, &init);
  if (init.chunks == 1) { CHECK_EQ(fin.chunks, 1); CHECK_EQ(fin.bytes_in_use, 0); }
  unsigned long long calls = __atomic_load_n(&g_backoffs, __ATOMIC_RELAXED) - backoffs0;
  if (backoff) CHECK_MSG(fin.contention >= calls, "contention %llu < %llu contention callbacks",
                         (unsigned long long)fin.contention, calls);
  else CHECK_MSG(calls == 0, "the contention callback was called %llu times after umm_on_contention(u, NULL, NULL)", calls);

  unsigned long long tot[9] = { 0 };
  for (int i = 0; i < nthreads; i++) {
    tot[0] += w[i].n_alloc; tot[1] += w[i].n_free; tot[2] += w[i].n_realloc; tot[3] += w[i].n_swap;
    tot[4] += w[i].n_recv; tot[5] += w[i].n_eagain; tot[6] += w[i].n_skip; tot[7] += w[i].n_enomem; tot[8] += w[i].n_batch;
  }
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("  %.2f s: allocs %llu (batches %llu) frees %llu reallocs %llu swaps %llu (received %llu) eagain %llu skipped %llu enomem %llu; %zu left at the end\n",
         secs, tot[0], tot[8], tot[1], tot[2], tot[3], tot[4], tot[5], tot[6], tot[7], left);
  printf("  walker: %llu walks (%llu nowait, %llu gave up), %llu chunks seen, %llu blocks verified, %llu deferred, %llu phantom\n",
         ws.walks, ws.nowait_walks, ws.nowait_busy, ws.chunks, ws.verified, ws.deferred, ws.phantom);
  printf("  contention %llu, callbacks %llu\n", (unsigned long long)fin.contention, calls);
  free(w);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int nthreads = 4, walker = 1, backoff = 2, opt;
  size_t ops = STRESS_DEFAULT_OPS, mb = 24;
  uint64_t seed = 12345;
  while ((opt = getopt(argc, argv, "t:n:s:m:w:b:")) != -1) {
    switch (opt) {
    case 't': nthreads = atoi(optarg); break;
    case 'n': ops = (size_t)strtoull(optarg, NULL, 0); break;
    case 's': seed = strtoull(optarg, NULL, 0); break;
    case 'm': mb = (size_t)strtoull(optarg, NULL, 0); break;
    case 'w': walker = atoi(optarg); break;
    case 'b': backoff = atoi(optarg); break;
    default:
      fprintf(stderr, "usage: %s [-t threads] [-n ops] [-s seed] [-m MiB] [-w 0|1] [-b 0|1|2]\n", argv[0]);
      return 2;
    }
  }
  if (nthreads < 1 || nthreads > MAXT || mb < 4) { fprintf(stderr, "bad arguments\n"); return 2; }
  printf("test_stress: %d threads x %zu ops, seed %" PRIu64 ", region %zu MiB\n", nthreads, ops, seed, mb);
  check_install_fatal();
  signal(SIGALRM, watchdog);
  alarm(30);

  size_t bytes = mb << 20;
  char *space = malloc(bytes);
  if (!space) { perror("malloc"); return 2; }
  pingpong(space, bytes, nthreads < 2 ? 2 : nthreads, ops / 2);
  deferred_counter(space, bytes, 1.0);
  if (backoff != 0) run_stress(space, bytes, nthreads, ops, seed, walker, 1);
  if (backoff != 1) run_stress(space, bytes, nthreads, ops, seed + 1, walker, 0);
  alarm(0);
  free(space);
  return check_report();
}
