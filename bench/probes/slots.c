/* slots.c - a probe, not part of the suite: the cost of one free + malloc
 * when the freed block's header is not in the L1 cache.
 *
 *   build/bench/probe_slots SLOTS MAX_SIZE OPS
 *
 * Keeps SLOTS live blocks; each step reads the first byte of a random slot's
 * block, frees it and mallocs a block of 1..MAX_SIZE bytes (uniform) in its
 * place, writing its first and last byte. Prints nanoseconds per step (one
 * run; take the minimum of several). With SLOTS = 1 every header is in L1;
 * with 4096 blocks of up to 64 bytes the live set (about 200 KiB) misses L1
 * and fits L2. bench/README.md ("Where umm is behind") uses it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {                       /* xorshift64 */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s SLOTS MAX_SIZE OPS\n", argv[0]);
    return 2;
  }
  size_t slots = strtoul(argv[1], NULL, 0), max = strtoul(argv[2], NULL, 0);
  long ops = strtol(argv[3], NULL, 0);
  if (slots == 0 || max == 0 || ops <= 0) {
    fprintf(stderr, "%s: SLOTS, MAX_SIZE and OPS must be positive\n", argv[0]);
    return 2;
  }
  unsigned char **a = calloc(slots, sizeof *a);
  if (!a) return 1;
  unsigned long sum = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < ops; i++) {
    uint64_t r = next();
    size_t k = (size_t)(r >> 8) % slots, n = 1 + (size_t)(r >> 40) % max;
    if (a[k]) {
      sum += a[k][0];
      free(a[k]);
    }
    if (!(a[k] = malloc(n))) return 1;
    a[k][0] = (unsigned char)k;
    a[k][n - 1] = (unsigned char)n;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)ops;
  printf("%.2f ns per free + malloc (checksum %lu)\n", ns, sum & 0xff);
  for (size_t k = 0; k < slots; k++) free(a[k]);
  free(a);
  return 0;
}
