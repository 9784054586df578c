/* test_signal.c - the nowait calls from a signal handler that interrupted a
 * thread inside the same region.
 *
 *   test_signal [-n signals] [-s seed] [-m region MiB]
 *
 * Phase 1 (deterministic): a umm_walk visitor raises SIGUSR1 while the walk
 * holds a chunk's lock; the handler calls umm_malloc_nowait, umm_walk_nowait
 * and umm_free_nowait (even on the very chunk the walk holds). Nothing may
 * wait: the only free chunk being locked gives NULL + EAGAIN, a free chunk
 * that is not locked must be used, a nowait walk gives up with -1.
 *
 * Phase 2 (storm): a POSIX timer (10 us period, SIGEV_THREAD_ID) sends SIGUSR1
 * to the main thread until 100k signals were handled, while the main thread
 * runs waiting calls (malloc, free, realloc, memalign, set_tags,
 * drain) with patterned blocks. The handler allocates with umm_malloc_nowait,
 * frees with umm_free_nowait, walks with umm_walk_nowait verifying every
 * published block it sees, and checks its own blocks. An alarm-based watchdog
 * catches a deadlock. At the end everything is verified and freed: umm_check
 * == 0 and the region is back to its initial state.
 *
 * Built with UMM_DEBUG=1: UMM_DEBUG=2's checker after each call assumes a
 * quiet region, which a nested call never has. */
#include "../check.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <stdbool.h>
#include <inttypes.h>
#include <time.h>

#define MTAG       0x3c000000u             /* main thread's blocks */
#define HTAG       0x5a000000u             /* handler's blocks */
#define TAG_FILLED 0x00010000u
#define W0_MAGIC   0xbeefull
#define NRING      64
#define NMAIN      512

static umm_t *U;
static char *g_space;
static size_t g_bytes;
static volatile sig_atomic_t g_phase_id;
static const char *const phase_names[] = { "setup", "phase 1 (nested in a walk)", "phase 2 (storm)", "final" };

static void watchdog(int sig) {
  (void)sig;
  char b[128];
  size_t pos = check_str(b, 0, sizeof b, "watchdog: hang in ");
  pos = check_str(b, pos, sizeof b, phase_names[g_phase_id]);
  pos = check_str(b, pos, sizeof b, "\n");
  check_write(b, pos);
  _exit(3);
}

/* ---- self-describing blocks (as in test_stress) ------------------------------------ */
static uint64_t w0_make(size_t size, uint64_t cookie) { return (W0_MAGIC << 48) | ((uint64_t)size << 24) | (cookie & 0xffffff); }
static size_t w0_size(uint64_t w) { return (size_t)((w >> 24) & 0xffffff); }
static void fill_block(char *p, size_t size, uint64_t cookie) {
  uint64_t w0 = w0_make(size, cookie);
  memcpy(p, &w0, 8);
  size_t i = 8;
  for (; i + 8 <= size; i += 8) { uint64_t w = check_mix64(w0 + i); memcpy(p + i, &w, 8); }
  if (i < size) { uint64_t w = check_mix64(w0 + i); memcpy(p + i, &w, size - i); }
}
/* The first `upto` bytes of a block are as fill_block wrote them. */
static bool prefix_ok(const char *p, size_t upto) {
  uint64_t w0;
  memcpy(&w0, p, 8);
  size_t size = w0_size(w0), i = 8, n = upto < size ? upto : size;
  if ((w0 >> 48) != W0_MAGIC || size < 8) return false;
  for (; i + 8 <= n; i += 8) { uint64_t w = check_mix64(w0 + i); if (memcmp(p + i, &w, 8)) return false; }
  if (i < n) { uint64_t w = check_mix64(w0 + i); if (memcmp(p + i, &w, n - i)) return false; }
  return true;
}
static bool block_ok(const char *p, size_t usable) {
  uint64_t w0;
  memcpy(&w0, p, 8);
  return w0_size(w0) <= usable && prefix_ok(p, SIZE_MAX);
}

/* ---- the handler --------------------------------------------------------------------- */
enum { H_NONE, H_MALLOC_EXPECT_EAGAIN, H_MALLOC_EXPECT_OK, H_WALK_EXPECT_BUSY, H_FREE_NOWAIT, H_STORM };
static volatile sig_atomic_t h_mode;
static void *h_target;                     /* block for H_FREE_NOWAIT */
static void *h_result;
static int h_errno, h_walk_rc;
static unsigned long long h_count;         /* signals handled (storm) */

typedef struct hblk { char *p; size_t size; uint64_t cookie; } hblk_t;
static hblk_t h_ring[NRING];
static uint64_t h_rng = 99;
static unsigned long long h_alloc_ok, h_eagain, h_enomem, h_frees, h_walks, h_walk_busy, h_verified, h_info;

static int h_visit(const umm_chunk_t *c, void *arg) {
  (void)arg;
  if (!c->in_use || (c->flags & UMM_CHUNK_DEFERRED)) return 0;
  uint32_t kind = c->tags & 0xff000000u;
  CHECK(kind == MTAG || kind == HTAG);
  if (c->tags & TAG_FILLED) {              /* the header word and the first 64 bytes */
    uint64_t w0;
    memcpy(&w0, c->ptr, 8);
    CHECK(w0_size(w0) <= c->size && prefix_ok(c->ptr, 64));
    h_verified++;
  }
  return 0;
}
static int count_visit(const umm_chunk_t *c, void *arg) { (void)c; (*(int *)arg)++; return 0; }

static void h_free_one(size_t k) {
  hblk_t *b = &h_ring[k];
  CHECK(block_ok(b->p, umm_usable_size(b->p)));
  CHECK_EQ(umm_tags(b->p), HTAG | TAG_FILLED);
  CHECK(umm_owns(U, b->p));
  umm_free_nowait(U, b->p);
  b->p = NULL;
  h_frees++;
}
static void storm_action(void) {
  size_t k = check_below(&h_rng, NRING);
  unsigned r = (unsigned)check_below(&h_rng, 100);
  if (r < 60) {
    size_t s = 8 + check_below(&h_rng, 300);
    errno = 0;
    char *p = umm_malloc_nowait(U, s, HTAG | TAG_FILLED);
    if (!p) {
      if (errno == EAGAIN) h_eagain++;
      else { h_enomem++; CHECK_EQ(errno, ENOMEM); }
      return;
    }
    h_alloc_ok++;
    CHECK(((uintptr_t)p & (UMM_ALIGNMENT - 1)) == 0);
    CHECK(umm_usable_size(p) >= s);
    CHECK_EQ(umm_tags(p), HTAG | TAG_FILLED);
    /* nobody else touches handler blocks: FILLED from the start is fine as
     * long as a nested walk cannot see it half written: we are the only one
     * who could run that walk, and we are here. */
    uint64_t cookie = check_rand(&h_rng);
    fill_block(p, s, cookie);
    if (h_ring[k].p) h_free_one(k);
    h_ring[k] = (hblk_t){ p, s, cookie };
  } else if (r < 85) {
    if (h_ring[k].p) h_free_one(k);
  } else if (r < 88) {
    int rc = umm_walk_nowait(U, h_visit, NULL);
    CHECK(rc == 0 || rc == -1);
    h_walks++;
    if (rc == -1) h_walk_busy++;
  } else {
    if (h_ring[k].p) {
      CHECK(umm_usable_size(h_ring[k].p) >= h_ring[k].size);
      CHECK_EQ(umm_tags(h_ring[k].p), HTAG | TAG_FILLED);
      CHECK(umm_owns(U, h_ring[k].p));
      CHECK(block_ok(h_ring[k].p, umm_usable_size(h_ring[k].p)));
      h_info++;
    }
  }
}
static void handler(int sig) {
  (void)sig;
  int saved = errno;
  switch (h_mode) {
  case H_MALLOC_EXPECT_EAGAIN:
  case H_MALLOC_EXPECT_OK:
    errno = 0;
    h_result = umm_malloc_nowait(U, 64, HTAG);
    h_errno = errno;
    break;
  case H_WALK_EXPECT_BUSY: {
    int n = 0;
    h_walk_rc = umm_walk_nowait(U, count_visit, &n);
    break;
  }
  case H_FREE_NOWAIT:
    umm_free_nowait(U, h_target);
    break;
  case H_STORM:
    storm_action();
    break;
  default: break;
  }
  __atomic_add_fetch(&h_count, 1, __ATOMIC_RELEASE);
  errno = saved;
}

/* ---- phase 1 ---------------------------------------------------------------------------- */
/* Raises SIGUSR1 (handler mode `mode`) while the walk visits the chunk at `at`. */
typedef struct trig { int mode; void *at; int fired; } trig_t;
static int trig_visit(const umm_chunk_t *c, void *arg) {
  trig_t *t = arg;
  if (c->ptr == t->at && !t->fired) {
    h_mode = t->mode;
    raise(SIGUSR1);
    h_mode = H_NONE;
    t->fired = 1;
  }
  return 0;
}
typedef struct lastfree { void *last, *first; } lastfree_t;
static int lastfree_visit(const umm_chunk_t *c, void *arg) {
  lastfree_t *l = arg;
  if (!c->in_use) { l->last = c->ptr; if (!l->first) l->first = c->ptr; }
  return 0;
}
static void fire_at(void *at, int mode) {
  trig_t t = { mode, at, 0 };
  CHECK_EQ(umm_walk(U, trig_visit, &t), 0);
  CHECK(t.fired);
}
static void phase1(void) {
  g_phase_id = 1;
  alarm(20);
  U = umm_init(g_space, 1 << 20);
  CHECK(U != NULL);
  umm_stats_t init;
  umm_get_stats(U, &init);
  char *a = umm_malloc(U, 100, MTAG), *b = umm_malloc(U, 100, MTAG);
  CHECK(a && b);
  lastfree_t lf = { 0 };
  umm_walk(U, lastfree_visit, &lf);
  CHECK(lf.last != NULL);

  /* the only free chunk is locked by the walk: NULL + EAGAIN, at once */
  fire_at(lf.last, H_MALLOC_EXPECT_EAGAIN);
  CHECK_MSG(h_result == NULL && h_errno == EAGAIN, "nowait malloc with the only free chunk locked: %p errno %d",
            h_result, h_errno);
  if (h_result) umm_free(U, h_result);
  /* a nowait walk meets the lock the walk holds: -1 */
  fire_at(a, H_WALK_EXPECT_BUSY);
  CHECK_EQ((long)h_walk_rc, -1L);
  fire_at(lf.last, H_WALK_EXPECT_BUSY);
  CHECK_EQ((long)h_walk_rc, -1L);
  CHECK_EQ(umm_check(U), 0);

  /* two free chunks: while one is locked, the other must be used */
  char *x = umm_malloc(U, 2000, MTAG), *y = umm_malloc(U, 100, MTAG);
  CHECK(x && y);
  umm_free(U, x);                              /* a hole before y, the big tail after */
  lf = (lastfree_t){ 0 };
  umm_walk(U, lastfree_visit, &lf);
  CHECK(lf.first != NULL && lf.last != NULL && lf.first != lf.last);
  fire_at(lf.last, H_MALLOC_EXPECT_OK);
  CHECK_MSG(h_result != NULL, "nowait malloc with the tail locked but a 2000-byte hole free: NULL errno %d", h_errno);
  if (h_result) { CHECK((char *)h_result >= (char *)lf.first && (char *)h_result < (char *)y); umm_free(U, h_result); }
  CHECK_EQ(umm_check(U), 0);
  lf = (lastfree_t){ 0 };
  umm_walk(U, lastfree_visit, &lf);
  fire_at(lf.first, H_MALLOC_EXPECT_OK);
  CHECK_MSG(h_result != NULL, "nowait malloc with the hole locked but the tail free: NULL errno %d", h_errno);
  if (h_result) { CHECK((char *)h_result > (char *)y); umm_free(U, h_result); }
  CHECK_EQ(umm_check(U), 0);

  /* free_nowait of another block, and of the very chunk the walk holds */
  h_target = a;
  fire_at(b, H_FREE_NOWAIT);
  h_target = b;
  fire_at(b, H_FREE_NOWAIT);
  umm_stats_t st;
  umm_get_stats(U, &st);
  CHECK_EQ(st.deferred, 2);
  CHECK_EQ(umm_check(U), 0);
  umm_drain(U);
  umm_free(U, y);
  check_back_to_initial(U, &init);
  alarm(0);
}

/* ---- phase 2 ------------------------------------------------------------------------------ */
static unsigned long long g_target;

typedef struct mblk { char *p; size_t size; uint64_t cookie; } mblk_t;
static mblk_t m_live[NMAIN];
static void m_publish(mblk_t *b) {
  fill_block(b->p, b->size, b->cookie);
  umm_set_tags(U, b->p, MTAG | TAG_FILLED);
}
static void m_unpublish(mblk_t *b) {
  CHECK_EQ(umm_tags(b->p), MTAG | TAG_FILLED);
  CHECK_MSG(block_ok(b->p, umm_usable_size(b->p)), "main block %p (size %zu) corrupt", (void *)b->p, b->size);
  umm_set_tags(U, b->p, MTAG);
}

static void phase2(uint64_t seed) {
  g_phase_id = 2;
  U = umm_init(g_space, g_bytes);
  CHECK(U != NULL);
  umm_stats_t init;
  umm_get_stats(U, &init);
  unsigned long long start = h_count;
  h_mode = H_STORM;
  alarm(90);
  /* A timer aimed at this thread (pthread_kill to a busy thread is slow in VMs). */
  timer_t timer;
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGUSR1;
  sev._sigev_un._tid = (int)syscall(SYS_gettid);
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) { perror("timer_create"); exit(2); }
  struct itimerspec its = { { 0, 10000 }, { 0, 10000 } };
  timer_settime(timer, 0, &its, NULL);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  uint64_t rng = seed;
  unsigned long long ops = 0, m_enomem = 0;
  while (__atomic_load_n(&h_count, __ATOMIC_ACQUIRE) - start < g_target) {
    ops++;
    size_t k = check_below(&rng, NMAIN);
    mblk_t *b = &m_live[k];
    unsigned r = (unsigned)check_below(&rng, 100);
    if (!b->p) {
      size_t s = 8 + (check_below(&rng, 10) ? check_below(&rng, 250) : check_below(&rng, 4000));
      errno = 0;
      char *p = r < 10 ? umm_memalign(U, (size_t)32 << check_below(&rng, 6), s, MTAG) : umm_malloc(U, s, MTAG);
      if (!p) { m_enomem++; CHECK_MSG(0, "main: allocation of %zu failed, errno %d", s, errno); continue; }
      CHECK(umm_usable_size(p) >= s);
      *b = (mblk_t){ p, s, check_rand(&rng) };
      m_publish(b);
    } else if (r < 30) {
      m_unpublish(b);
      size_t s = 8 + check_below(&rng, 3000);
      errno = 0;
      char *p = umm_realloc(U, b->p, s);
      if (!p) { m_enomem++; CHECK_MSG(0, "main: realloc to %zu failed, errno %d", s, errno); umm_set_tags(U, b->p, MTAG | TAG_FILLED); continue; }
      CHECK_EQ(umm_tags(p), MTAG);
      size_t keep = s < b->size ? s : b->size;
      uint64_t w0;
      memcpy(&w0, p, 8);
      CHECK(w0 == w0_make(b->size, b->cookie));
      CHECK_MSG(prefix_ok(p, keep), "main: realloc %zu -> %zu lost content", b->size, s);
      b->p = p; b->size = s; b->cookie = check_rand(&rng);
      m_publish(b);
    } else if (r < 35) {
      umm_set_tags(U, b->p, MTAG);
      umm_set_tags(U, b->p, MTAG | TAG_FILLED);
    } else if (r < 37) {
      umm_drain(U);
    } else {
      m_unpublish(b);
      if (r < 45) umm_free_nowait(U, b->p); else umm_free(U, b->p);
      b->p = NULL;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  struct itimerspec off = { { 0, 0 }, { 0, 0 } };
  timer_settime(timer, 0, &off, NULL);
  timer_delete(timer);
  /* no more signals: block them before cleaning up */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  h_mode = H_NONE;
  g_phase_id = 3;
  for (int k = 0; k < NMAIN; k++) if (m_live[k].p) { m_unpublish(&m_live[k]); umm_free(U, m_live[k].p); m_live[k].p = NULL; }
  for (int k = 0; k < NRING; k++) if (h_ring[k].p) { CHECK(block_ok(h_ring[k].p, umm_usable_size(h_ring[k].p))); umm_free(U, h_ring[k].p); h_ring[k].p = NULL; }
  umm_drain(U);
  CHECK_EQ(umm_check(U), 0);
  check_back_to_initial(U, &init);
  alarm(0);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("storm: %llu signals handled in %.2f s, main ops %llu (ENOMEM %llu)\n", h_count - start, secs, ops, m_enomem);
  printf("handler: nowait mallocs ok %llu, EAGAIN %llu, ENOMEM %llu; nowait frees %llu; nowait walks %llu (%llu gave up), %llu blocks verified; info checks %llu\n",
         h_alloc_ok, h_eagain, h_enomem, h_frees, h_walks, h_walk_busy, h_verified, h_info);
  CHECK(h_count - start >= g_target);
  CHECK(h_alloc_ok > 0);
  CHECK_MSG(h_enomem == 0, "handler: %llu nowait mallocs failed with ENOMEM in a mostly empty region (expected EAGAIN when contended)", h_enomem);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int opt;
  size_t mb = 16;
  uint64_t seed = 4242;
  g_target = 100000;
  while ((opt = getopt(argc, argv, "n:s:m:")) != -1) {
    switch (opt) {
    case 'n': g_target = strtoull(optarg, NULL, 0); break;
    case 's': seed = strtoull(optarg, NULL, 0); break;
    case 'm': mb = (size_t)strtoull(optarg, NULL, 0); break;
    default: fprintf(stderr, "usage: %s [-n signals] [-s seed] [-m MiB]\n", argv[0]); return 2;
    }
  }
  if (mb < 2) mb = 2;
  printf("test_signal: %llu signals, seed %" PRIu64 ", region %zu MiB\n", g_target, seed, mb);
  check_install_fatal();
  g_bytes = mb << 20;
  g_space = malloc(g_bytes);
  if (!g_space) { perror("malloc"); return 2; }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  signal(SIGALRM, watchdog);
  phase1();
  phase2(seed);
  free(g_space);
  return check_report();
}
