/* fork_signal.c - fork() from a signal handler that lands during malloc.
 * Two threads spin malloc/free/realloc (sizes 16 B .. 20 KiB, so both the
 * thread caches and the core's slow paths run). The main thread sends
 * SIGUSR1 to the first spinner every ~500 us (pthread_kill); the handler
 * calls fork(). The child (still inside the handler, the interrupted malloc
 * possibly half done) mallocs, callocs, reallocs and frees, then _exit(7).
 * The second spinner is never signalled: it keeps taking and releasing core
 * locks around the fork (the fork gate's bounded wait for a forker that is
 * itself inside a section).
 *
 * Every child arms alarm(CHILD_S) (default action) first, so a child that
 * hangs on a lock dies of SIGALRM. The main thread reaps as it goes and, at
 * the end, waits for the rest with a deadline; a child still alive after it
 * is SIGKILLed and counted as hung. Requires: every child exited 7.
 *
 * argv[1] = "both": both spinners are signalled, so two handlers may fork
 * at once. Known to deadlock the parent (not run by default; see
 * fork-signal.sh): a handler that interrupted its thread outside a section
 * takes the fork flag and waits without bound for the other thread's slot,
 * while that thread's handler interrupted it inside a section (slot active)
 * and waits in ummp_atfork_prepare for the flag.
 *
 * Output: "signals N forks N exit7 N bad N hung N ... exit8 N" */
#include "ptest.h"
#include <pthread.h>
#include <time.h>

#define RUN_MS     2500
#define CHILD_S    10
#define REAP_MS    12000
#define MAXKIDS    20000

static volatile int stop;
static pid_t kids[MAXKIDS];
static long nkids, fork_errors, handled, spins;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Exit status 7; 8 when some call returned NULL with ENOMEM and nothing
 * else failed; else what failed first: 10 + i for v[i]'s malloc (NULL
 * without ENOMEM), 40 calloc NULL (same), 41 calloc memory not zero, 42
 * realloc NULL (same).
 *
 * Why 8 is allowed, rarely. The child runs inside a handler that may have
 * interrupted its own thread in the middle of a core operation, and a fork
 * from a handler inside a section does not wait for the other thread's
 * sections either (fork.c): the child can inherit locks that nothing will
 * ever release in it. Its calls are re-entrant and served by the core's
 * _nowait path, which returns NULL + ENOMEM when nothing can be had without
 * waiting (issue 3). Seen once in about 150 runs of "both" (instrumented:
 * the region-commit lock held by the child's own interrupted commit,
 * region 0's free space locked): malloc(1000..16384) got NULL. The test
 * allows it in at most 1 fork of 500 (and 1 in any run). */
static void child(void) {
  signal(SIGALRM, SIG_DFL);
  alarm(CHILD_S);
  int bad = 0, enomem = 0;
  void *v[16];
  for (int i = 0; i < 16; i++) {
    v[i] = malloc((size_t)(16 << (i % 11)));
    if (!v[i]) { if (errno == ENOMEM) enomem = 1; else if (!bad) bad = 10 + i; }
    else memset(v[i], i, (size_t)(16 << (i % 11)));
  }
  char *c = calloc(10, 100);
  if (!c) { if (errno == ENOMEM) enomem = 1; else if (!bad) bad = 40; }
  else if (c[999] && !bad) bad = 41;
  char *d = realloc(c, 5000);
  if (!d) { if (errno == ENOMEM) enomem = 1; else if (!bad) bad = 42; }
  else c = d;
  free(c);
  for (int i = 0; i < 16; i++) free(v[i]);
  _exit(bad ? bad : enomem ? 8 : 7);
}

static void on_usr1(int sig) {
  (void)sig;
  int err = errno;
  __atomic_fetch_add(&handled, 1, __ATOMIC_RELAXED);
  pid_t pid = fork();
  if (pid == 0) child();
  if (pid < 0) {
    __atomic_fetch_add(&fork_errors, 1, __ATOMIC_RELAXED);
  } else {
    long i = __atomic_fetch_add(&nkids, 1, __ATOMIC_ACQ_REL);
    if (i < MAXKIDS) __atomic_store_n(&kids[i], pid, __ATOMIC_RELEASE);
  }
  errno = err;
}

static void *spinner(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg;
  void *v[64] = {0};
  long n = 0;
  while (!stop) {
    unsigned k = (unsigned)(pt_rand(&s) % 64);
    size_t sz = 16 + (size_t)(pt_rand(&s) % (pt_rand(&s) % 8 == 0 ? 20000 : 500));
    if (k % 8 == 0 && v[k]) v[k] = realloc(v[k], sz);
    else { free(v[k]); v[k] = malloc(sz); }
    if (v[k]) ((char *)v[k])[0] = 1;
    n++;
  }
  for (int i = 0; i < 64; i++) free(v[i]);
  __atomic_fetch_add(&spins, n, __ATOMIC_RELAXED);
  return NULL;
}

static long exit7, exit8, bad, hung, reaped;

static void account(pid_t pid, int st) {
  (void)pid;
  reaped++;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 7) { exit7++; return; }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 8) {
    exit8++;
    fprintf(stderr, "child %d: a call got NULL + ENOMEM (allowed rarely, see child())\n", (int)pid);
    return;
  }
  bad++;
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) hung++;
  fprintf(stderr, "child %d: %s %d\n", (int)pid, WIFSIGNALED(st) ? "killed by signal" : "exit status",
          WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void reap_some(void) {
  int st;
  pid_t p;
  while ((p = waitpid(-1, &st, WNOHANG | __WALL)) > 0) account(p, st);
}

int main(int argc, char **argv) {
  CHECK(pt_preloaded());
  int both = argc > 1 && strcmp(argv[1], "both") == 0;
  alarm(both ? 20 : 60);                                      /* last-resort watchdog: default action kills */
  pt_on_signal(SIGUSR1, on_usr1);
  /* the main thread never takes SIGUSR1: only the spinner is interrupted */
  pthread_t sp[2];
  CHECK(pthread_create(&sp[0], NULL, spinner, (void *)(uintptr_t)11) == 0);
  sigset_t m;
  sigemptyset(&m);
  sigaddset(&m, SIGUSR1);
  if (!both) pthread_sigmask(SIG_BLOCK, &m, NULL); /* inherited: the second spinner never takes it */
  CHECK(pthread_create(&sp[1], NULL, spinner, (void *)(uintptr_t)22) == 0);
  uint64_t t0 = now_ms();
  long sent = 0;
  struct timespec pause = {0, 500000};
  while (now_ms() - t0 < RUN_MS && nkids < MAXKIDS - 100) {
    pthread_kill(sp[0], SIGUSR1);
    if (both) pthread_kill(sp[1], SIGUSR1);
    sent++;
    nanosleep(&pause, NULL);
    reap_some();
  }
  stop = 1;
  pthread_join(sp[0], NULL);
  pthread_join(sp[1], NULL);
  long total = nkids;
  uint64_t t1 = now_ms();
  while (reaped < total && now_ms() - t1 < REAP_MS) {
    reap_some();
    usleep(2000);
  }
  if (reaped < total) {                            /* stragglers: hung children */
    for (long i = 0; i < total && i < MAXKIDS; i++) {
      if (kids[i] > 0 && kill(kids[i], 0) == 0) {
        int st;
        if (waitpid(kids[i], &st, WNOHANG) == 0) {
          fprintf(stderr, "child %d still running after %d ms: killed\n", (int)kids[i], REAP_MS);
          kill(kids[i], SIGKILL);
          waitpid(kids[i], &st, 0);
          reaped++;
          bad++;
          hung++;
        } else {
          account(kids[i], st);
        }
      }
    }
  }
  printf("signals %ld handled %ld forks %ld exit7 %ld bad %ld hung %ld fork_errors %ld spins %ld ms %llu exit8 %ld\n",
         sent, handled, total, exit7, bad, hung, fork_errors, spins, (unsigned long long)(now_ms() - t0), exit8);
  CHECK(total > 0);
  CHECK(exit7 + exit8 == total);
  CHECK(exit8 <= 1 + total / 500);
  CHECK(bad == 0 && hung == 0);
  return pt_report();
}
