/* fork_stress.c - fork in the style of glibc's fork-deadlock test: 8 threads
 * malloc and free random sizes (16 B .. 64 KiB, rarely a block above 32 MiB,
 * which gets its own mapping) and swap blocks through a shared array, so
 * blocks are freed by threads other than their allocator; meanwhile 4
 * threads fork as fast as they can for RUN_MS. Every child verifies and
 * frees every block in the shared array (allocated before the fork by
 * threads that do not exist in the child), allocates, reallocates and frees
 * with plain malloc-family calls only, and _exit(42)s. The forking thread
 * waitpid()s each child and requires exit status 42.
 *
 * Hangs: each child arms alarm(CHILD_S) first (SIGALRM default action), so a
 * child stuck on a lock left taken across fork dies of SIGALRM and its
 * forker reports it; the parent arms a watchdog (alarm(WATCHDOG_S), a handler
 * that prints FAIL and _exits 3) so a hung parent fails too.
 *
 * Output: "forks N children_ok N ..." and the usual "N passed, N failed". */
#include "ptest.h"
#include <pthread.h>
#include <time.h>

#define ALLOCATORS 8
#define FORKERS    4
#define SHARED     512
#define RUN_MS     3000
#define CHILD_S    10
#define WATCHDOG_S 30
#define HUGE_SIZE  ((size_t)33 << 20)             /* above the 32 MiB large threshold */

/* A block: [size_t n][size_t seed][pattern of n bytes] */
static void *shared[SHARED];
static volatile int stop;
static long forks, children_ok, children_bad, fork_errors, huge_allocs, alloc_ops;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *block_new(size_t n, uint64_t seed) {
  size_t *p = malloc(n + 2 * sizeof(size_t));
  if (!p) return NULL;
  p[0] = n;
  p[1] = seed;
  if (n > (1u << 20)) {                            /* huge: mark the ends only */
    memset(p + 2, 0x5a, 4096);
    memset((char *)(p + 2) + n - 4096, 0xa5, 4096);
  } else {
    pt_fill(p + 2, n, seed);
  }
  return p;
}

static int block_ok(const void *b) {
  const size_t *p = b;
  size_t n = p[0];
  if (n > (1u << 20)) {
    const unsigned char *c = (const unsigned char *)(p + 2);
    return c[0] == 0x5a && c[4095] == 0x5a && c[n - 4096] == 0xa5 && c[n - 1] == 0xa5;
  }
  return pt_verify(p + 2, n, p[1]);
}

static size_t random_size(uint64_t *s) {
  uint64_t r = pt_rand(s);
  if (r % 4096 == 0) return HUGE_SIZE + (size_t)(r >> 40) % 4096;
  switch ((r >> 12) % 4) {                         /* log-ish spread over 16 B .. 64 KiB */
  case 0: return 16 + (size_t)(r >> 20) % 112;
  case 1: return 16 + (size_t)(r >> 20) % 1024;
  case 2: return 16 + (size_t)(r >> 20) % 8192;
  default: return 16 + (size_t)(r >> 20) % 65520;
  }
}

static void *allocator(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg * 7919;
  void *mine[64] = {0};
  long ops = 0;
  while (!stop) {
    unsigned k = (unsigned)(pt_rand(&s) % 64);
    if (mine[k]) {
      CHECK(block_ok(mine[k]));
      free(mine[k]);
    }
    size_t n = random_size(&s);
    if (n >= HUGE_SIZE) __atomic_fetch_add(&huge_allocs, 1, __ATOMIC_RELAXED);
    mine[k] = block_new(n, s);
    CHECK(mine[k] != NULL);
    if (mine[k] && k % 4 == 0) {                   /* hand it to another thread (or a child) */
      unsigned j = (unsigned)(pt_rand(&s) % SHARED);
      mine[k] = __atomic_exchange_n(&shared[j], mine[k], __ATOMIC_ACQ_REL);
    }
    ops++;
  }
  for (unsigned k = 0; k < 64; k++) {
    if (mine[k]) { CHECK(block_ok(mine[k])); free(mine[k]); }
  }
  __atomic_fetch_add(&alloc_ops, ops, __ATOMIC_RELAXED);
  return NULL;
}

/* In the child: only this thread exists. Plain malloc-family calls. */
static int child_work(uint64_t seed) {
  int bad = 0;
  for (unsigned j = 0; j < SHARED; j++) {
    void *b = __atomic_exchange_n(&shared[j], NULL, __ATOMIC_ACQ_REL);
    if (b) {
      if (!block_ok(b)) bad = 1;
      free(b);
    }
  }
  uint64_t s = seed;
  void *v[32] = {0};
  for (int i = 0; i < 400; i++) {
    unsigned k = (unsigned)(pt_rand(&s) % 32);
    if (v[k] && !block_ok(v[k])) bad = 1;
    free(v[k]);
    size_t n = random_size(&s);
    if (n >= HUGE_SIZE) n = 100000;                /* keep the children quick */
    v[k] = block_new(n, s);
    if (!v[k]) bad = 1;
  }
  char *r = calloc(100, 3);
  if (!r || r[299]) bad = 1;
  r = realloc(r, 70000);
  if (!r) bad = 1;
  free(r);
  for (unsigned k = 0; k < 32; k++) {
    if (v[k] && !block_ok(v[k])) bad = 1;
    free(v[k]);
  }
  return bad ? 1 : 42;
}

static uint64_t deadline;
static void *forker(void *arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg;
  while (now_ms() < deadline) {
    pid_t pid = fork();
    if (pid == 0) {
      signal(SIGALRM, SIG_DFL);
      alarm(CHILD_S);
      _exit(child_work(seed++));
    }
    if (pid < 0) { __atomic_fetch_add(&fork_errors, 1, __ATOMIC_RELAXED); usleep(1000); continue; }
    __atomic_fetch_add(&forks, 1, __ATOMIC_RELAXED);
    seed += 1000003;
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    if (w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 42) {
      __atomic_fetch_add(&children_ok, 1, __ATOMIC_RELAXED);
    } else {
      __atomic_fetch_add(&children_bad, 1, __ATOMIC_RELAXED);
      char msg[128];
      int n = snprintf(msg, sizeof msg, "child %d: %s %d\n", (int)pid,
                       WIFSIGNALED(st) ? "killed by signal" : "exit status",
                       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
      if (n > 0) { ssize_t wr = write(2, msg, (size_t)n); (void)wr; }
    }
  }
  return NULL;
}

static void watchdog(int sig) {
  (void)sig;
  static const char m[] = "FAIL: watchdog: fork-stress still running after 30 s (hang)\n";
  ssize_t w = write(1, m, sizeof m - 1);
  (void)w;
  _exit(3);
}

int main(void) {
  CHECK(pt_preloaded());
  signal(SIGALRM, watchdog);
  alarm(WATCHDOG_S);
  uint64_t t0 = now_ms();
  deadline = t0 + RUN_MS;
  pthread_t a[ALLOCATORS], f[FORKERS];
  for (int i = 0; i < ALLOCATORS; i++) CHECK(pthread_create(&a[i], NULL, allocator, (void *)(uintptr_t)(i + 1)) == 0);
  for (int i = 0; i < FORKERS; i++) CHECK(pthread_create(&f[i], NULL, forker, (void *)(uintptr_t)(1000 + i)) == 0);
  for (int i = 0; i < FORKERS; i++) pthread_join(f[i], NULL);
  stop = 1;
  for (int i = 0; i < ALLOCATORS; i++) pthread_join(a[i], NULL);
  for (unsigned j = 0; j < SHARED; j++) {
    if (shared[j]) { CHECK(block_ok(shared[j])); free(shared[j]); }
  }
  printf("forks %ld children_ok %ld children_bad %ld fork_errors %ld alloc_ops %ld huge_allocs %ld ms %llu\n",
         forks, children_ok, children_bad, fork_errors, alloc_ops, huge_allocs,
         (unsigned long long)(now_ms() - t0));
  CHECK(forks > 0);
  CHECK(children_ok == forks);
  CHECK(children_bad == 0);
  return pt_report();
}
