/* forks.c - fork while other threads allocate: 4 threads churn through
 * malloc/free/realloc and swap blocks through a shared array; the main
 * thread forks repeatedly. Each child frees every block in the shared array
 * (allocated before the fork by other, now gone, threads), allocates and
 * frees a lot, forks a grandchild that does the same, and exits 0. A
 * watchdog kills the test if any process hangs (a lock held across fork). */
#include "ptest.h"
#include <pthread.h>

#define SHARED 256
static void *shared[SHARED];
static volatile int stop;

static void *churn(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg;
  void *mine[64] = {0};
  while (!stop) {
    unsigned k = (unsigned)(pt_rand(&s) % 64);
    free(mine[k]);
    size_t n = (size_t)(pt_rand(&s) % (pt_rand(&s) % 50 == 0 ? 300000 : 2000));
    mine[k] = malloc(n + 1);
    memset(mine[k], 0x11, n + 1);
    if (k % 4 == 0) {
      unsigned j = (unsigned)(pt_rand(&s) % SHARED);
      void *old = __atomic_exchange_n(&shared[j], mine[k], __ATOMIC_ACQ_REL);
      mine[k] = old;
    }
  }
  for (unsigned k = 0; k < 64; k++) free(mine[k]);
  return NULL;
}

static int child_work(int depth) {
  for (unsigned j = 0; j < SHARED; j++) free(__atomic_exchange_n(&shared[j], NULL, __ATOMIC_ACQ_REL));
  uint64_t s = 77;
  void *v[128] = {0};
  for (int i = 0; i < 20000; i++) {
    unsigned k = (unsigned)(pt_rand(&s) % 128);
    free(v[k]);
    v[k] = malloc((size_t)(pt_rand(&s) % 5000));
  }
  for (unsigned k = 0; k < 128; k++) free(v[k]);
  pthread_t t;                                     /* threads work in the child too */
  if (pthread_create(&t, NULL, churn, (void *)(uintptr_t)999) == 0) {
    usleep(2000);
    stop = 1;
    pthread_join(t, NULL);
  }
  if (depth == 0) {
    pid_t g = fork();
    if (g == 0) _exit(child_work(1));
    int st;
    if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 3;
  }
  return 0;
}

int main(void) {
  CHECK(pt_preloaded());
  alarm(100);                                      /* watchdog: a deadlocked child keeps us waiting */
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1));
  int ok = 0, forks = 60;
  for (int f = 0; f < forks; f++) {
    usleep(5000);
    pid_t pid = fork();
    if (pid == 0) {
      alarm(30);
      exit(child_work(0));                         /* exit(): atexit handlers and umm's summary run */
    }
    int st;
    if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
    else fprintf(stderr, "child %d: status 0x%x\n", f, st);
  }
  stop = 1;
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  for (unsigned j = 0; j < SHARED; j++) free(shared[j]);
  printf("%d of %d children ok\n", ok, forks);
  CHECK(ok == forks);
  return pt_report();
}
