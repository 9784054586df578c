/* walk_large.c - umm_heap_walk and umm_dump while other threads allocate,
 * free and realloc large blocks (their own mappings): the walks read each
 * registered block's header, so no block may be unmapped or moved under
 * them (they crashed with SIGSEGV in about one run of four). Exit 0 when
 * every walk and dump completed. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../../include/umm_debug.h"

static volatile int stop;

static void *churn(void *arg) {
  unsigned s = (unsigned)(size_t)arg;
  while (!stop) {                                   /* 8 at a time: many registered blocks to walk over */
    char *p[8];
    for (int i = 0; i < 8; i++) {
      p[i] = malloc(((size_t)33 << 20) + (size_t)(rand_r(&s) % 16) * 4096);
      if (p[i]) p[i][0] = 1;
    }
    for (int i = 0; i < 8; i++) {
      if (p[i] && (rand_r(&s) & 3) == 0) { char *q = realloc(p[i], ((size_t)40 << 20) + (size_t)(rand_r(&s) % 16) * 4096); if (q) p[i] = q; }
      free(p[i]);
    }
  }
  return NULL;
}
static int count(const umm_chunk_t *c, void *arg) { (void)c; (*(size_t *)arg)++; return 0; }

int main(void) {
  if (!umm_heap_walk) { fprintf(stderr, "not under the preload\n"); return 2; }
  pthread_t th[3];
  for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, churn, (void *)(size_t)(i + 1));
  FILE *null = fopen("/dev/null", "w");
  if (!null) return 2;
  int fd = fileno(null);
  time_t end = time(NULL) + 5;
  unsigned walks = 0;
  while (time(NULL) < end) {
    size_t n = 0;
    umm_heap_walk(count, &n);
    umm_dump(fd, walks % 2 ? "json" : "text");
    walks++;
  }
  stop = 1;
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  printf("%u walks and dumps\n", walks);
  return 0;
}
