/* threads.c - 10,000 short-lived threads that each allocate: half of each
 * thread's blocks are freed by the thread, half after it has exited by the
 * main thread. Checks contents and that memory does not grow without bound
 * (exited threads' caches are flushed). */
#include "ptest.h"
#include <pthread.h>

#define NTHREADS 10000
#define PER 16
#define BATCH 8
static void *handed[BATCH][PER];

static void *worker(void *arg) {
  uintptr_t id = (uintptr_t)arg;
  uint64_t s = id + 1;
  void **out = handed[id % BATCH];
  for (int i = 0; i < PER; i++) {
    size_t n = (size_t)(pt_rand(&s) % (i == 0 ? 20000 : 600));
    void *p = malloc(n + 8);
    *(size_t *)p = n;
    pt_fill((char *)p + 8, n, id);
    void *q = malloc((size_t)(pt_rand(&s) % 300));
    free(q);
    out[i] = p;
  }
  for (int i = 0; i < PER; i += 2) { free(out[i]); out[i] = NULL; }
  return NULL;
}

int main(void) {
  CHECK(pt_preloaded());
  long bad = 0;
  size_t rss0 = 0;
  for (int base = 0; base < NTHREADS; base += BATCH) {
    pthread_t t[BATCH];
    for (int k = 0; k < BATCH; k++)
      if (pthread_create(&t[k], NULL, worker, (void *)(uintptr_t)(base + k)) != 0) { CHECK(0); return pt_report(); }
    for (int k = 0; k < BATCH; k++) pthread_join(t[k], NULL);
    for (int k = 0; k < BATCH; k++) {
      for (int i = 1; i < PER; i += 2) {
        char *p = handed[(base + k) % BATCH][i];
        if (!pt_verify(p + 8, *(size_t *)p, (uint64_t)(base + k))) bad++;
        free(p);
      }
    }
    if (base == 1000) rss0 = ummp_rss_kb();
  }
  size_t rss1 = ummp_rss_kb();
  printf("10000 threads: rss after 1000 threads %zu KiB, after 10000 %zu KiB\n", rss0, rss1);
  CHECK(bad == 0);
  CHECK(rss1 < rss0 + 32 * 1024);
  return pt_report();
}
