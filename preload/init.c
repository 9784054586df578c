/* init.c - process and thread set-up and tear-down.
 *
 * Process: lazily on the first call (ld.so and other preloads may allocate
 * before any constructor), with a CAS on ummp_g.state; other threads wait
 * (sched_yield) while one initialises; a re-entrant call from the
 * initialising thread (a signal handler) gets ENOMEM. Init makes no libc
 * call that can allocate. pthread_atfork is registered afterwards, outside
 * any lock, from the constructor (it may allocate).
 *
 * Thread: set up on its first slow-path call (fork-gate slot, home region,
 * cache capacity, pthread key value for the exit flush). The key destructor
 * flushes the cache to the core and leaves the thread DEAD: calls after that
 * go straight to the core.
 */
#include "internal.h"
#include <errno.h>
#include <pthread.h>

ummp_global_t ummp_g;
__thread ummp_tls_t ummp_tls __attribute__((tls_model("initial-exec")));

void ummp_fatal(const char *msg, const void *ptr) { ummp_os_die(msg, ptr); }

static void limits_init(void) {
  for (unsigned g = UMMP_MIN_GRAN; g <= UMMP_MAX_GRAN; g++) {
    unsigned chunk = g * UMM_GRANULE;
    unsigned b = 8192u / chunk;                      /* about 8 KiB per refill */
    if (b < 8) b = 8;
    if (b > UMMP_BATCH_MAX) b = UMMP_BATCH_MAX;
    ummp_g.batch[g] = (uint16_t)b;
    /* about 4 KiB to start with, at least 4 blocks (cache.c: was 16 KiB) */
    ummp_g.limit[g] = (uint16_t)(b / 2 < 4 ? 4 : b / 2);
  }
  for (unsigned g = UMMP_MAX_GRAN + 1; g <= UMMP_MED_TOP_GRAN; g++) ummp_g.mcls[g] = (uint8_t)ummp_med_class_calc(g);
  for (unsigned m = 0; m < UMMP_NMED; m++) {
    ummp_g.mchunk[m] = (uint16_t)ummp_med_chunk_calc(m);
    size_t chunk = (size_t)ummp_g.mchunk[m] * UMM_GRANULE;
    size_t l = UMMP_MED_CAP / chunk;                 /* UMMP_MED_CAP bytes per class, at least 2 blocks */
    if (l < 2) l = 2;
    ummp_g.mlimit[m] = (uint16_t)l;
    ummp_g.mbatch[m] = (uint16_t)(l / 2 < UMMP_MED_BATCH ? l / 2 : UMMP_MED_BATCH);
  }
}

static UMMP_NOINLINE int init_slow(void) {
  ummp_tls_t *t = &ummp_tls;
  int s = UMMP_S_UNINIT;
  if (__atomic_compare_exchange_n(&ummp_g.state, &s, UMMP_S_INITING, 0, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
    int err = errno;
    t->initing = 1;
    ummp_env_read(&ummp_g.cfg);
    if (ummp_g.cfg.guard) {                          /* every call through guard.c: no caches */
      ummp_g.cfg.cache = 0;
      if (!ummp_g.cfg.tag_set) ummp_g.cfg.tag_mode = UMMP_TAG_SITE;
    }
    ummp_g.page = ummp_os_pagesize();
    /* any report asked for (or a line saying its file failed) goes through a
     * copy of stderr as it is now: a program that closes fd 2, or opens a
     * file there later, neither loses it nor gets it in that file */
    ummp_g.cfg.stats_fd = ummp_g.cfg.stats || ummp_g.cfg.check || ummp_g.cfg.dump || ummp_g.cfg.leaks ||
                              ummp_g.cfg.dump_signal
                              ? ummp_os_dup_high(2, 1000) : 2;
    ummp_g.purge_delay_ms = ummp_g.cfg.purge_delay_ms;
    ummp_g.secret = ummp_os_random();
    limits_init();
    umm_on_fatal(ummp_fatal);
    int st = UMMP_S_READY;
    if (ummp_large_init() != 0) st = UMMP_S_FAILED;
    ummp_tag_init();                                 /* failure: every site gets the overflow tag */
    if (st == UMMP_S_READY && ummp_arena_init() != 0) st = UMMP_S_FAILED;
    if (st == UMMP_S_READY) {
      size_t th = ummp_g.cfg.large_threshold;
      size_t autoth = ummp_g.region_size / 8;
      if (!th) th = autoth;
      if (th > UMM_MAX_CHUNK) th = UMM_MAX_CHUNK;
      if (th > autoth) th = autoth;
      if (th < UMMP_SMALL_MAX) th = UMMP_SMALL_MAX;
      ummp_g.large_threshold = th;
      /* medium classes serve requests up to the largest class, or the large threshold */
      size_t mm = (size_t)UMMP_MED_TOP_GRAN * UMM_GRANULE - UMM_HEADER_SIZE;
      ummp_g.med_max = !ummp_g.cfg.cache ? 0 : th < mm ? th : mm;
    }
    pthread_key_t key;
    if (pthread_key_create(&key, ummp_thread_exit) == 0) {
      ummp_g.key = (unsigned)key;
      ummp_g.key_ok = key < 32;                      /* pthread_setspecific allocates for keys >= 32 */
    }
    t->initing = 0;
    errno = err;
    __atomic_store_n(&ummp_g.state, st, __ATOMIC_RELEASE);
    return st == UMMP_S_READY ? 0 : -1;
  }
  if (t->initing) return -1;                         /* re-entry from a signal handler during init */
  while ((s = __atomic_load_n(&ummp_g.state, __ATOMIC_ACQUIRE)) == UMMP_S_INITING) ummp_os_yield();
  return s == UMMP_S_READY ? 0 : -1;
}

int ummp_ensure_init(void) {
  int s = __atomic_load_n(&ummp_g.state, __ATOMIC_ACQUIRE);
  if (ummp_likely(s == UMMP_S_READY)) return 0;
  if (s == UMMP_S_FAILED) return -1;
  return init_slow();
}

void ummp_thread_setup(ummp_tls_t *t) {
  if (t->state != UMMP_T_NEW) return;
  ummp_slot_claim(t);
  t->home = __atomic_fetch_add(&ummp_g.rr, 1, __ATOMIC_RELAXED) % (ummp_g.spread ? ummp_g.spread : 1);
  for (unsigned g = 0; g < UMMP_NBINS; g++) t->bin[g] = UMMP_END;
  for (unsigned m = 0; m < UMMP_NMED; m++) t->mbin[m] = UMMP_END;
  if (ummp_g.cfg.cache)
    for (unsigned g = UMMP_MIN_GRAN; g <= UMMP_MAX_GRAN; g++) t->lim[g] = ummp_g.limit[g];
  t->base16 = ummp_g.base16;
  t->lim_rot = __atomic_load_n(&ummp_g.lim_rot, __ATOMIC_RELAXED);
  t->secret = ummp_g.secret;
  ummp_tag_thread_setup(t);
  t->state = UMMP_T_LIVE;
  for (unsigned g = 0; g < UMMP_NBINS; g++)         /* the fast paths may use the bins from here */
    ummp_gate_init(&t->gate[g], ummp_g.cfg.cache && g >= UMMP_MIN_GRAN ? UMMP_GATE_OPEN + t->lim[g] : UMMP_GATE_OFF);
  __atomic_fetch_add(&ummp_g.threads, 1, __ATOMIC_RELAXED);
  if (ummp_g.key_ok) pthread_setspecific((pthread_key_t)ummp_g.key, t);
}

void ummp_thread_exit(void *arg) {
  (void)arg;
  ummp_tls_t *t = &ummp_tls;
  if (t->state != UMMP_T_LIVE) return;
  if (ummp_g.cfg.guard) ummp_guard_thread_exit();   /* before the hold: real frees */
  ummp_hold(t);
  ummp_flush_all(t, 1);                             /* and close the gates: the cache stays off */
  uint64_t hits = ummp_hits(t);
  for (unsigned g = 0; g < UMMP_NBINS; g++) { t->pops[g] = 0; t->sent[g] = 0; t->lim[g] = 0; t->cyc[g] = 0; }
  ummp_growth_drop(t, t->lim_bytes);                /* to 0: its whole pool share back */
  t->mhits = 0;
  t->state = UMMP_T_DEAD;
  __atomic_fetch_add(&ummp_g.hits, hits, __ATOMIC_RELAXED);
  __atomic_fetch_add(&ummp_g.misses, t->misses, __ATOMIC_RELAXED);
  __atomic_fetch_add(&ummp_g.depot_puts, t->depot_puts, __ATOMIC_RELAXED);
  __atomic_fetch_add(&ummp_g.depot_gets, t->depot_gets, __ATOMIC_RELAXED);
  t->misses = t->depot_puts = t->depot_gets = 0;
  ummp_slot_release(t);
  ummp_unhold(t);
}

__attribute__((constructor)) static void ummp_ctor(void) {
  ummp_ensure_init();
  if (!__atomic_exchange_n(&ummp_g.atfork_done, 1, __ATOMIC_ACQ_REL))
    pthread_atfork(ummp_atfork_prepare, ummp_atfork_parent, ummp_atfork_child);
  ummp_debug_ctor();
}

__attribute__((destructor)) static void ummp_dtor(void) {
  if (ummp_g.state != UMMP_S_READY) return;
  ummp_debug_exit();
  if (!ummp_g.cfg.stats) return;
  ummp_tls_t *t = &ummp_tls;
  int err = errno;
  ummp_hold(t);
  unsigned a = ummp_enter(t);
  ummp_stats_print(ummp_g.cfg.stats_fd);
  ummp_leave(t, a);
  ummp_unhold(t);
  errno = err;
}
