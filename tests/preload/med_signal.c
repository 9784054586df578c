/* med_signal.c - signals that land in a medium-class malloc or free hit.
 * A helper thread sends SIGUSR1 to the main thread as fast as it can while
 * main mallocs and frees 4000-byte blocks (one medium class: the hit paths
 * malloc_med_hit / ummp_free_med, preload/cache.c); the handler mallocs a
 * block of the same class, fills it and keeps it (main frees the kept ones
 * with the signal blocked). A handler that ran between a hit's first look
 * at the class and its hold could take the class's last block: the
 * interrupted malloc then popped NULL and crashed (SIGSEGV within a second,
 * found by review). The handler's blocks are filled and checked before
 * main frees them; main's own get their first and last bytes checked.
 * argv[1]: seconds (default 3). */
#include "ptest.h"
#include <pthread.h>
#include <time.h>

#define SZ 4000
#define KEEP 4096

static void *volatile kept[KEEP];
static volatile int nkept;
static volatile long nsig, hnull;
static pthread_t main_thread;
static volatile int stop;

static void handler(int sig) {
  (void)sig;
  int err = errno;
  nsig++;
  if (nkept < KEEP) {
    void *p = malloc(SZ);
    if (p) { pt_fill(p, SZ, 7); kept[nkept++] = p; } else hnull++;
  }
  errno = err;
}

static void *killer(void *arg) {
  (void)arg;
  while (!stop) pthread_kill(main_thread, SIGUSR1);
  return NULL;
}

int main(int argc, char **argv) {
  CHECK(pt_preloaded());
  double secs = argc > 1 ? atof(argv[1]) : 3.0;
  main_thread = pthread_self();
  pt_on_signal(SIGUSR1, handler);
  for (int i = 0; i < 8; i++) { void *volatile w = malloc(SZ); free(w); }   /* the class in use: hits from here */
  pthread_t k;
  CHECK(pthread_create(&k, NULL, killer, NULL) == 0);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  time_t t0 = time(NULL);
  long iters = 0, bad = 0;
  while (difftime(time(NULL), t0) < secs) {
    for (int i = 0; i < 1000; i++) {               /* tight: the signals must land inside the calls */
      volatile char *p = malloc(SZ);
      if (!p) { bad++; continue; }
      p[0] = (char)i;
      p[SZ - 1] = (char)~i;
      if (p[0] != (char)i || p[SZ - 1] != (char)~i) bad++;
      free((void *)p);
    }
    iters += 1000;
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    for (int i = 0; i < nkept; i++) {
      if (!pt_verify(kept[i], SZ, 7)) bad++;
      free(kept[i]);
    }
    nkept = 0;
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
  }
  stop = 1;
  pthread_join(k, NULL);
  for (int i = 0; i < nkept; i++) free(kept[i]);
  printf("iterations %ld signals %ld handler NULL %ld bad %ld\n", iters, nsig, hnull, bad);
  CHECK(nsig > 1000);
  CHECK(bad == 0);
  return pt_report();
}
