/* spread.c - blocks of one medium size class, allocated one after another,
 * start at many different cache-line offsets within a 4 KiB span (the span
 * that one way of a typical L1 data cache covers: 64 sets of 64 bytes), not
 * at the same few: each class chunk is an odd number of cache lines
 * (UMMP_MED_COLOR, types.h). With chunks of whole multiples of 512 bytes,
 * sqlite's 4104-byte page buffers put their headers in 1 set of 8 and took
 * about a third more cache misses than under glibc (cachegrind).
 * For each size: 64 blocks, the number of distinct (address / 64) mod 64
 * must be at least 32 (an odd number of lines per chunk gives 64; 4608-byte
 * chunks gave 8). Run in a fresh process, so the blocks are carved in a row. */
#include "ptest.h"
#include <malloc.h>

#define NB 64

static unsigned distinct_lines(void *const *p) {
  unsigned char seen[64] = {0};
  unsigned n = 0;
  for (int i = 0; i < NB; i++) {
    unsigned l = (unsigned)((uintptr_t)p[i] >> 6) & 63u;
    if (!seen[l]) { seen[l] = 1; n++; }
  }
  return n;
}

int main(void) {
  static const size_t sizes[] = { 1500, 4104, 4368, 7024, 12000 };
  static void *p[sizeof sizes / sizeof sizes[0]][NB];
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    for (int i = 0; i < NB; i++) {
      p[k][i] = malloc(sizes[k]);
      CHECK(p[k][i] != NULL);
      if (!p[k][i]) return pt_report();
      memset(p[k][i], (int)i, sizes[k]);
    }
    unsigned n = distinct_lines(p[k]);
    printf("%zu bytes (usable %zu): %u distinct line offsets among %d blocks\n", sizes[k],
           malloc_usable_size(p[k][0]), n, NB);
    CHECK(n >= 32);
  }
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    for (int i = 0; i < NB; i++) free(p[k][i]);
  return pt_report();
}
