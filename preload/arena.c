/* arena.c - the reservation, its regions, rotation between them, and purging.
 *
 * Region size: 1/16 of the arena, between 4 MiB and 256 MiB, at most
 * UMMP_MAX_REGIONS regions: 256 MiB for the default 64 GiB (256 regions), so
 * that core chunks of up to UMM_MAX_CHUNK (32 MiB) leave room for many
 * others; small arenas (ulimit -v) still get 16 regions.
 *
 * One PROT_NONE + MAP_NORESERVE reservation (UMM_ARENA_SIZE, default 64 GiB,
 * halved until it fits under ulimit -v) is cut into 2^region_shift-byte
 * regions, each an independent core instance (umm_init) at its start. The
 * region of a pointer is (p - base) >> region_shift. Regions are committed
 * (mprotect read/write, umm_init) in index order, on demand; that is the
 * only lock of this file (commit_lock, a spin lock held for one mprotect and
 * one umm_init, a handful of times per process). ncommitted only grows.
 *
 * Rotation. A thread's home region is given by a round-robin counter over
 * `spread` regions (one per CPU). Each core call served at home adds its
 * contention callbacks to the thread's score, which decays by 1/8 per call;
 * a score above UMMP_CONT_MOVE moves the thread's home to the next region
 * (and starts the score again). So one badly contended call (33 callbacks:
 * spinning gave way to sched_yield) or steady contention (5 per call for a
 * dozen calls) moves the thread, and stray contention does not: every move
 * starts a working set in another region while the old one's freed memory
 * stays resident. (It was: more than 4 callbacks in one call; xmalloc's
 * producer then moved about 30 times a second between two regions and its
 * peak RSS was 3.4 MB against glibc's 2.3; now mostly 2.6 MB.)
 * a region that is full (ENOMEM) is skipped: the other committed regions are
 * tried, then new ones are committed, and the one that served becomes home.
 *
 * Purging (see below). Frees into a region add to its `dirty` count; some
 * time later a thread walks the region (umm_walk) and madvise(MADV_DONTNEED)s
 * the whole pages inside every large free chunk, keeping the page with the
 * chunk's links (first 24 bytes) and the one with its footer (last 8 bytes).
 */
#include "internal.h"
#include <errno.h>

#define UMMP_CONT_MOVE     32u           /* contention score (decaying sum of callbacks) above which a thread moves */

ummp_region_t ummp_regions[UMMP_MAX_REGIONS];

static size_t pow2_floor(size_t x) { return x ? (size_t)1 << (63 - __builtin_clzll((unsigned long long)x)) : 0; }

int ummp_arena_init(void) {
  size_t want = ummp_g.cfg.arena_size;
  /* Under RLIMIT_DATA (ulimit -d) the reservation itself is free (PROT_NONE)
   * but every committed region counts: no larger than the limit, so that the
   * regions (1/16 of it) fit in it; else a region (256 MiB by default) may
   * never be committed and every block would become a mapping of its own. */
  size_t dl = ummp_os_data_limit();
  if (dl != SIZE_MAX && want > pow2_floor(dl)) want = pow2_floor(dl);
  if (want < ((size_t)4 << 20)) want = (size_t)4 << 20;
  size_t len = want;
  void *p = NULL;
  int fell_back = 0;
  while (len >= ((size_t)4 << 20)) {
    if ((p = ummp_os_reserve(len)) != NULL) break;
    len /= 2;
    fell_back = 1;
  }
  if (!p) return -1;
  /* Under an address-space limit: leave half of what was left to the
   * program (thread stacks, libraries, large blocks) by giving back the
   * upper half (kept when the OS refuses). */
  if (fell_back && len >= ((size_t)8 << 20) && ummp_os_unmap((char *)p + len / 2, len / 2) == 0) len /= 2;
  size_t rs = pow2_floor(len / 16);
  if (rs > ((size_t)256 << 20)) rs = (size_t)256 << 20;
  if (rs < ((size_t)4 << 20)) rs = (size_t)4 << 20;
  while (len / rs > UMMP_MAX_REGIONS) rs *= 2;
  if (rs > len) rs = pow2_floor(len);
  ummp_g.base = (char *)p;
  ummp_g.base16 = (uintptr_t)p + 16;
  ummp_g.arena_size = len;
  ummp_g.region_size = rs;
  ummp_g.region_shift = __builtin_ctzll((unsigned long long)rs);
  ummp_g.nregions = (uint32_t)(len / rs);
  unsigned n = ummp_os_ncpus();
  ummp_g.spread = n < ummp_g.nregions ? n : ummp_g.nregions;
  if (ummp_g.spread > 64) ummp_g.spread = 64;
  return 0;
}

/* lim_rot for nc committed regions: the granule number (from base16) just
 * past the last payload they can hold (the free fast path's bound). */
static size_t lim_rot_of(uint32_t nc) { return ((size_t)nc * ummp_g.region_size - 16) >> 4; }

/* Commit regions up to i; commit_lock held. */
static ummp_region_t *commit_upto_locked(uint32_t i) {
  int err = errno;
  ummp_region_t *res = &ummp_regions[i];
  for (uint32_t k = ummp_g.ncommitted; k <= i; k++) {
    char *space = ummp_g.base + (size_t)k * ummp_g.region_size;
    umm_t *u = NULL;
    if (ummp_os_commit(space, ummp_g.region_size) == 0) u = umm_init(space, ummp_g.region_size);
    if (!u) { res = NULL; break; }
    umm_on_contention(u, ummp_backoff, &ummp_regions[k]);
    ummp_regions[k].u = u;
    __atomic_store_n(&ummp_g.ncommitted, k + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&ummp_g.lim_rot, lim_rot_of(k + 1), __ATOMIC_RELEASE);
  }
  errno = err;
  return res;
}

/* Region i, committing up to it; wait = 0: NULL when commit_lock is taken
 * (by another thread, or by the section this call's signal handler
 * interrupted) instead of waiting for it. */
static ummp_region_t *region_get(uint32_t i, int wait) {
  if (ummp_likely(i < __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE))) return &ummp_regions[i];
  if (i >= ummp_g.nregions) return NULL;
  uintptr_t z = 0, me = (uintptr_t)&ummp_tls;       /* the owner, for ummp_commit_lock_fork_child */
  while (!__atomic_compare_exchange_n(&ummp_g.commit_lock, &z, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    if (!wait) return NULL;
    z = 0;
    ummp_os_yield();
  }
  ummp_region_t *res = commit_upto_locked(i);
  __atomic_store_n(&ummp_g.commit_lock, 0, __ATOMIC_RELEASE);
  return res;
}

ummp_region_t *ummp_region_get(uint32_t i) { return region_get(i, 1); }

/* In a child forked while another thread held commit_lock (a fork from a
 * signal handler does not wait for every section, fork.c), the owner does
 * not exist: the lock would stay taken for ever, and the child's next
 * region commit would wait for ever (and every _nowait one fail). Its
 * commit either published the region (ncommitted) or not; lim_rot is
 * recomputed in case it stopped between the two stores. Redoing an
 * unpublished commit is harmless (mprotect again, umm_init of space
 * nobody uses). A lock this thread holds is left: the section its
 * handler interrupted still ends it. */
void ummp_commit_lock_fork_child(void) {
  uintptr_t o = __atomic_load_n(&ummp_g.commit_lock, __ATOMIC_RELAXED);
  if (o == 0 || o == (uintptr_t)&ummp_tls) return;
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_RELAXED);
  if (nc) __atomic_store_n(&ummp_g.lim_rot, lim_rot_of(nc), __ATOMIC_RELEASE);
  __atomic_store_n(&ummp_g.commit_lock, 0, __ATOMIC_RELEASE);
}

void ummp_backoff(umm_t *u, void *arg) {
  (void)u; (void)arg;
  uint32_t k = ummp_tls.ncont++;
  if (k < 6) {
    for (uint32_t i = 0; i < (1u << k); i++) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      __asm__ __volatile__("yield");
#endif
    }
  } else {
    ummp_os_yield();
  }
}

static void move_home(ummp_tls_t *t) {
  uint32_t n = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_RELAXED);
  if (n < ummp_g.spread) n = ummp_g.spread;
  t->home = (t->home + 1) % n;
  __atomic_fetch_add(&ummp_g.home_moves, 1, __ATOMIC_RELAXED);
}

/* The k-th region to try after home h: other committed regions first (by
 * rotation), then new ones. */
static uint32_t candidate(uint32_t h, uint32_t k, uint32_t ncommitted) {
  if (k < ncommitted) return (h + k) % ncommitted;
  return k;
}

enum { OP_MALLOC, OP_BATCH, OP_MEMALIGN };

static void *core_op(ummp_tls_t *t, int op, size_t size, size_t align, void **out, size_t n, size_t *got) {
  uint32_t h = t->home;
  uint32_t nc0 = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE), nc = nc0;
  if (h >= nc) nc = h + 1;                           /* the home itself gets committed below */
  for (uint32_t k = 0; k < ummp_g.nregions; k++) {
    uint32_t i = k == 0 ? h : candidate(h, k, nc);
    if (k && i == h) continue;
    ummp_region_t *r = ummp_region_get(i);
    if (!r) {
      /* The commit failed (RLIMIT_DATA, no memory): no region past it can
       * be committed either; an uncommitted home still leaves the committed
       * regions to try. */
      if (k == 0 && h >= nc0) continue;
      break;
    }
    t->ncont = 0;
    void *p = NULL;
    if (op == OP_MALLOC) {
      p = umm_malloc(r->u, size, t->cur_tag);
    } else if (op == OP_BATCH) {
      *got = umm_malloc_batch(r->u, size, t->cur_tag, out, n);
      p = *got ? out[0] : NULL;
    } else {
      p = umm_memalign(r->u, align, size, t->cur_tag);
      if (!p && errno == EINVAL) return NULL;
    }
    if (!p && i >= nc0) break;                      /* a fresh region could not serve it: none can */
    if (p) {
      if (i != h) { t->home = i; __atomic_fetch_add(&ummp_g.home_moves, 1, __ATOMIC_RELAXED); }
      else if (t->ncont | t->cscore) {
        t->cscore = t->cscore - (t->cscore >> 3) + t->ncont;
        if (t->cscore > UMMP_CONT_MOVE) { move_home(t); t->cscore = 0; }
      }
      return p;
    }
  }
  errno = ENOMEM;
  return NULL;
}

void *ummp_core_malloc(ummp_tls_t *t, size_t size) { return core_op(t, OP_MALLOC, size, 0, NULL, 0, NULL); }

size_t ummp_core_batch(ummp_tls_t *t, size_t size, void **out, size_t n) {
  size_t got = 0;
  core_op(t, OP_BATCH, size, 0, out, n, &got);
  return got;
}

void *ummp_core_memalign(ummp_tls_t *t, size_t align, size_t size) {
  return core_op(t, OP_MEMALIGN, size, align, NULL, 0, NULL);
}

void *ummp_core_malloc_nowait(ummp_tls_t *t, size_t size) {
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  for (uint32_t k = 0; k < nc; k++) {
    void *p = umm_malloc_nowait(ummp_regions[(t->home + k) % nc].u, size, t->cur_tag);
    if (p) return p;
  }
  /* Every committed region was full or had the chunks and bins this request
   * needs locked, by other threads or by the section a signal handler
   * interrupted (in a child forked from such a handler, for ever): a fresh
   * region has no lock held, and committing one only try-locks. Something
   * that can be had without waiting is not refused. (fork_signal's children
   * got NULL for malloc(16384) in about 1 run of 6.) */
  ummp_region_t *r = region_get(nc, 0);
  if (r) {
    void *p = umm_malloc_nowait(r->u, size, t->cur_tag);
    if (p) return p;
  }
  errno = ENOMEM;
  return NULL;
}

/* ---- purging ---------------------------------------------------------------
 * Delay-based: a region is purged once it has held at least UMMP_PURGE_MIN
 * dirty bytes for UMM_PURGE_DELAY ms (default 1000), and only if what
 * was freed is worth the walk (at least 16 bytes per chunk the last walk
 * visited). Memory freed and soon reused never pays a syscall or a page fault;
 * a steady churn purges each region at most every delay. The clock is read
 * every UMMP_TICK slow-path calls of a thread (vDSO, no system call). */
#define UMMP_PURGE_MIN   ((size_t)256 << 10)
#define UMMP_PURGE_CHUNK ((size_t)64 << 10)   /* smallest range worth an madvise */

typedef struct purge_acc {
  size_t page;                             /* page size */
  size_t chunks;                           /* chunks visited */
  size_t purged;                           /* resident bytes madvised (what RSS lost) */
} purge_acc_t;

static int purge_visit(const umm_chunk_t *ch, void *arg) {
  purge_acc_t *a = arg;
  a->chunks++;
  if (ch->in_use || ch->size < UMMP_PURGE_CHUNK + 2 * a->page) return 0;
  uintptr_t lo = ((uintptr_t)ch->ptr + 32 + a->page - 1) & ~(uintptr_t)(a->page - 1);
  uintptr_t hi = ((uintptr_t)ch->ptr + ch->size - 16) & ~(uintptr_t)(a->page - 1);
  if (hi <= lo) return 0;
  size_t res = ummp_os_resident((void *)lo, hi - lo);   /* a range purged before and not touched since: 0 */
  if (res && ummp_os_purge((void *)lo, hi - lo) == 0) a->purged += res;
  return 0;
}

static size_t purge_region(ummp_region_t *r) {
  int z = 0;
  if (!__atomic_compare_exchange_n(&r->purging, &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return 0;
  int err = errno;
  __atomic_store_n(&r->dirty, 0, __ATOMIC_RELAXED);
  purge_acc_t a = {ummp_g.page, 0, 0};
  umm_walk(r->u, purge_visit, &a);
  __atomic_store_n(&r->walk_cost, a.chunks * 16, __ATOMIC_RELAXED);
  /* only pages that were resident count: "returned to the OS" counted the
   * whole range (capped by what was freed since), 719 GiB in a review's 600
   * malloc_trim calls with an RSS of 24 MiB */
  __atomic_fetch_add(&ummp_g.purged_bytes, a.purged, __ATOMIC_RELAXED);
  __atomic_fetch_add(&ummp_g.purges, 1, __ATOMIC_RELAXED);
  __atomic_store_n(&r->purging, 0, __ATOMIC_RELEASE);
  errno = err;
  return a.purged;
}

void ummp_note_freed(ummp_tls_t *t, ummp_region_t *r, size_t bytes) {
  if (ummp_unlikely(ummp_g.purge_delay_ms < 0)) return;   /* UMM_PURGE_DELAY=-1: never */
  if (__atomic_fetch_add(&r->dirty, bytes, __ATOMIC_RELAXED) == 0)
    __atomic_store_n(&r->dirty_since, t->now_ms, __ATOMIC_RELAXED);
}

static void tick_clock(ummp_tls_t *t) {
  uint64_t now = ummp_os_now_ms();
  t->now_ms = now;
  ummp_depot_decay(t, now);
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < nc; i++) {
    ummp_region_t *r = &ummp_regions[i];
    size_t d = __atomic_load_n(&r->dirty, __ATOMIC_RELAXED);
    if (d < UMMP_PURGE_MIN || d < __atomic_load_n(&r->walk_cost, __ATOMIC_RELAXED)) continue;
    uint64_t since = __atomic_load_n(&r->dirty_since, __ATOMIC_RELAXED);
    if (since == 0) {                                /* dirtied before any clock reading */
      __atomic_store_n(&r->dirty_since, now, __ATOMIC_RELAXED);
      continue;
    }
    if ((int64_t)(now - since) < ummp_g.purge_delay_ms) continue;   /* signed: since may be newer than now */
    unsigned a = ummp_enter(t);
    purge_region(r);
    ummp_leave(t, a);
    break;                                           /* one region per tick */
  }
}

void ummp_tick_slow(ummp_tls_t *t) {
  int err = errno;                                   /* free keeps errno */
  if (__atomic_load_n(&ummp_g.large_deferred, __ATOMIC_RELAXED) != NULL) ummp_large_drain();
  if ((t->slow_ops % UMMP_TICK) == 0 && ummp_g.purge_delay_ms >= 0) tick_clock(t);
  errno = err;
}

size_t ummp_purge_all(void) {
  size_t total = 0;
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < nc; i++) total += purge_region(&ummp_regions[i]);
  return total;
}
