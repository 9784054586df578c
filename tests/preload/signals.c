/* signals.c - a signal storm: a helper thread sends SIGUSR1 to the main
 * thread (and SIGUSR2, whose handler may interrupt SIGUSR1's) as fast as it can while main mallocs, reallocs and frees with
 * content checks; the handler mallocs, writes, checks and frees too, and
 * keeps one block across invocations (freed by a later one). Neither side
 * may deadlock or see corrupted memory. */
#include "ptest.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

static volatile sig_atomic_t stop;
static long handled, handler_null, handler_bad;
static void *kept;                                 /* block: [size_t n][pattern] */
static uint64_t hseed = 99;

static void handler(int sig) {
  (void)sig;
  int err = errno;
  size_t n = (size_t)(pt_rand(&hseed) % 3000);
  size_t *p = malloc(n + sizeof(size_t));
  if (!p) { __atomic_fetch_add(&handler_null, 1, __ATOMIC_RELAXED); errno = err; return; }
  p[0] = n;
  pt_fill(p + 1, n, 5);
  /* the SIGUSR2 handler can interrupt the SIGUSR1 one: ownership of the
   * kept block moves by exchange */
  size_t *old = __atomic_exchange_n(&kept, p, __ATOMIC_ACQ_REL);
  if (old) {
    if (!pt_verify(old + 1, old[0], 5)) __atomic_fetch_add(&handler_bad, 1, __ATOMIC_RELAXED);
    free(old);
  }
  void *q = calloc(1, 40);
  if (q) { if (((char *)q)[39]) __atomic_fetch_add(&handler_bad, 1, __ATOMIC_RELAXED); free(q); }
  __atomic_fetch_add(&handled, 1, __ATOMIC_RELAXED);
  errno = err;
}

static pid_t main_tid;
static void *storm(void *arg) {
  (void)arg;
  /* Paced: on an idle machine an unpaced sender on its own core floods the
   * main thread with signals so it never gets back to its loop (the test then
   * only measures the kernel's signal delivery). 20 us between pairs still
   * gives tens of thousands of handler runs per second, landing anywhere in
   * malloc/free. */
  struct timespec pause = {0, 20000};
  while (!stop) {
    syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
    syscall(SYS_tgkill, getpid(), main_tid, SIGUSR2);
    nanosleep(&pause, NULL);
  }
  return NULL;
}

int main(void) {
  CHECK(pt_preloaded());
  main_tid = (pid_t)syscall(SYS_gettid);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;                          /* each blocks itself; USR2 nests in USR1 */
  sigaction(SIGUSR1, &sa, NULL);
  sigaddset(&sa.sa_mask, SIGUSR1);                   /* ... but not the other way round */
  sigaction(SIGUSR2, &sa, NULL);
  pthread_t t;
  pthread_create(&t, NULL, storm, NULL);
  enum { N = 256 };
  void *v[N] = {0};
  size_t vn[N] = {0};
  uint64_t s = 1;
  long bad = 0;
  time_t t0 = time(NULL);
  for (long i = 0; i < 1000000 || (__atomic_load_n(&handled, __ATOMIC_RELAXED) < 20000 && time(NULL) - t0 < 20); i++) {
    unsigned k = (unsigned)(pt_rand(&s) % N);
    if (v[k]) {
      if (!pt_verify(v[k], vn[k], 7)) bad++;
      if (i % 5 == 0) {
        size_t n = 1 + (size_t)(pt_rand(&s) % 5000);   /* realloc(p, 0) would free p */
        void *q = realloc(v[k], n);
        if (q) { v[k] = q; vn[k] = n; pt_fill(q, n, 7); }
        continue;
      }
      free(v[k]);
    }
    size_t n = (size_t)(pt_rand(&s) % (i % 97 == 0 ? 200000 : 1100));
    v[k] = malloc(n);
    vn[k] = n;
    if (v[k]) pt_fill(v[k], n, 7);
  }
  stop = 1;
  pthread_join(t, NULL);
  for (unsigned k = 0; k < N; k++) free(v[k]);
  printf("signals handled: %ld (handler got NULL %ld times)\n", handled, handler_null);
  CHECK(bad == 0);
  CHECK(handler_bad == 0);
  CHECK(handled > 1000);
  return pt_report();
}
