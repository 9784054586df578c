/* vg_uaf.c - negative check: memcheck must see core blocks. Built with
 * -DUMM_VALGRIND=1 together with the core; run under memcheck it must
 * report an "Invalid read" (a use after umm_free) and, as a second case
 * ("overflow" argument), an "Invalid write" past a block into free space.
 * Run natively it just exits 0. */
#include "umm.h"

#include <stdio.h>
#include <string.h>

static char space[1 << 16] __attribute__((aligned(64)));

int main(int argc, char **argv) {
  umm_t *u = umm_init(space, sizeof space);
  if (!u) { perror("umm_init"); return 2; }
  if (argc > 1 && strcmp(argv[1], "overflow") == 0) {
    /* One block at the start of free space: past its usable end come the
     * next (free) chunk's header, its bin links and then free space, where
     * this write lands (beyond the links, so a native run stays intact). */
    volatile char *p = umm_malloc(u, 100, 1);
    if (!p) return 2;
    p[umm_usable_size((char *)p) + 40] = 1;
    umm_free(u, (char *)p);
    return 0;
  }
  volatile char *p = umm_malloc(u, 100, 1);
  if (!p) return 2;
  memset((char *)p, 7, 100);
  umm_free(u, (char *)p);
  char c = p[0];                           /* use after free: memcheck says "Invalid read" */
  printf("read %d after free\n", c);
  return 0;
}
