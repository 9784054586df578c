/* fastpath.c - the loop callgrind counts for the fast-path figure.
 *
 * pairs_N(n) does n x { p = malloc(N); free(p); } in a noinline function, so
 * `valgrind --tool=callgrind --toggle-collect=pairs_*` counts exactly the
 * instructions of those loops (malloc, free, PLT stubs, and the loop itself);
 * loop_only(n) is the same loop with the calls replaced by a store, so its
 * count per iteration is the loop overhead to subtract. A warm-up pass (not
 * collected) fills every allocator's caches first, and a few blocks of each
 * size stay live throughout, as in any real program: otherwise the measured
 * free empties its page every time, which sends mimalloc's free down its
 * page-retire path (88 instead of ~20 instructions). Prints a RESULT line. */
#include "common.h"

static void *volatile sink;

#define PAIRS(N)                                              \
  __attribute__((noinline)) static void pairs_##N(long n) {   \
    for (long i = 0; i < n; i++) {                            \
      void *p = malloc(N);                                    \
      sink = p;                                               \
      free(p);                                                \
    }                                                         \
  }
PAIRS(16)
PAIRS(64)
PAIRS(256)
PAIRS(1024)

__attribute__((noinline)) static void loop_only(long n) {
  for (long i = 0; i < n; i++) sink = (void *)i;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  if (n < 1) n = 1;
  double t0 = bench_now();
  static const size_t sizes[4] = {16, 64, 256, 1024};
  void *live[4][8];
  for (int z = 0; z < 4; z++)
    for (int k = 0; k < 8; k++) live[z][k] = malloc(sizes[z]);
  for (int w = 0; w < 2; w++) {     /* warm-up: not in a toggled function */
    for (long i = 0; i < 1000; i++) {
      void *a = malloc(16), *b = malloc(64), *c = malloc(256), *d = malloc(1024);
      sink = a; sink = b; sink = c; sink = d;
      free(a); free(b); free(c); free(d);
    }
  }
  pairs_16(n);
  pairs_64(n);
  pairs_256(n);
  pairs_1024(n);
  loop_only(n);
  for (int z = 0; z < 4; z++)
    for (int k = 0; k < 8; k++) free(live[z][k]);
  double secs = bench_now() - t0;
  printf("RESULT workload=fastpath threads=1 scale=1 secs=%.4f ops=%ld rate=%.6g unit=pairs/s peak_rss_kb=%ld malloc_from=%s\n",
         secs, 4 * n, 4.0 * (double)n / secs, bench_peak_rss_kb(), bench_malloc_from());
  return 0;
}
