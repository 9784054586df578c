/* debug_signal.c - heap dumps requested by signal while 8 threads allocate:
 * SIGUSR2 (UMM_DUMP_SIGNAL) is sent to the worker threads themselves, so it
 * lands inside malloc and free; nothing may deadlock (alarm watchdog) or
 * corrupt blocks (content checks), and every dump must be valid (checked by
 * the script). argv[1]: signals to send (default 20). */
#include "ptest.h"
#include <pthread.h>
#include <time.h>

#define NT 8
#define SLOTS 2000
static volatile int stop;
static pthread_t th[NT];

static void *worker(void *arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg * 7919u + 1;
  static __thread void *slot[SLOTS];
  static __thread size_t len[SLOTS];
  long ops = 0;
  while (!stop) {
    unsigned k = (unsigned)(pt_rand(&seed) % SLOTS);
    if (slot[k]) {
      if (!pt_verify(slot[k], len[k], (unsigned)k)) CHECK(!"block content");
      free(slot[k]);
    }
    uint64_t r = pt_rand(&seed);
    len[k] = r % 16 == 0 ? 2000 + r % 30000 : 8 + r % 500;
    slot[k] = malloc(len[k]);
    if (!slot[k]) { CHECK(!"malloc"); continue; }
    pt_fill(slot[k], len[k], (unsigned)k);
    ops++;
  }
  for (unsigned k = 0; k < SLOTS; k++) free(slot[k]);
  return (void *)ops;
}

int main(int argc, char **argv) {
  int nsig = argc > 1 ? atoi(argv[1]) : 20;
  alarm(90);                                         /* watchdog: a deadlock kills the test */
  for (long i = 0; i < NT; i++) pthread_create(&th[i], NULL, worker, (void *)i);
  struct timespec ts = {0, 30 * 1000 * 1000};
  for (int s = 0; s < nsig; s++) {
    nanosleep(&ts, NULL);
    pthread_kill(th[s % NT], SIGUSR2);
  }
  nanosleep(&ts, NULL);
  nanosleep(&ts, NULL);
  stop = 1;
  long total = 0;
  for (int i = 0; i < NT; i++) { void *r; pthread_join(th[i], &r); total += (long)r; }
  CHECK(total > 0);
  printf("%ld operations, %d signals\n", total, nsig);
  return pt_report();
}
