/* vg_prog.c - run under valgrind with LD_PRELOAD=libumm_preload.so and
 * --soname-synonyms=somalloc=libumm_preload.so (tests/valgrind/preload.sh):
 * memcheck must intercept the preload's malloc and report the leaked block
 * ("definitely lost") and the read after free ("Invalid read"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

int main(void) {
  char *leak = malloc(123);                /* dropped below: definitely lost */
  if (!leak) return 2;
  memset(leak, 1, 123);
  leak = NULL;
  char *p = malloc(64);
  if (!p) return 2;
  memset(p, 2, 64);
  free(p);
  volatile char c = ((volatile char *)p)[10];   /* read after free: Invalid read */
  sink = (void *)&c;
  printf("vg_prog done\n");
  return 0;
}
