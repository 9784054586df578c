/* rss.c - giving memory back: allocate 1 GiB in small blocks, free it all,
 * and the resident set must fall below 64 MiB within a bounded number of
 * further calls once the purge delay (UMM_PURGE_DELAY, 1 s) has passed. */
#include "ptest.h"
#include <time.h>

int main(void) {
  CHECK(pt_preloaded());
  size_t rss_start = ummp_rss_kb();
  void *head = NULL;
  size_t total = 0, n = 0;
  while (total < ((size_t)1 << 30)) {                /* blocks linked through their first word */
    size_t sz = 200 + (n * 37) % 800;
    void **p = malloc(sz);
    memset(p, 0x33, sz);
    *p = head;
    head = p;
    total += sz;
    n++;
  }
  size_t rss_full = ummp_rss_kb();
  while (head) {
    void *next = *(void **)head;
    free(head);
    head = next;
  }
  size_t rss_freed = ummp_rss_kb();
  usleep(1100 * 1000);                               /* the purge delay */
  size_t calls = 0, rss = ummp_rss_kb();
  while (rss >= 64 * 1024 && calls < 20000) {
    for (int i = 0; i < 100; i++, calls += 2) free(malloc(2000 + (size_t)i * 64));   /* core (slow-path) calls */
    rss = ummp_rss_kb();
  }
  printf("%zu blocks, %zu MiB: rss start %zu KiB, full %zu KiB, after free %zu KiB, after %zu further calls %zu KiB\n",
         n, total >> 20, rss_start, rss_full, rss_freed, calls, rss);
  CHECK(rss_full > 1000 * 1024);
  CHECK(rss < 64 * 1024);
  return pt_report();
}
