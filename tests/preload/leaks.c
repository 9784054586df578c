/* leaks.c - known leaks for UMM_LEAKS (built with -rdynamic by leaks.sh so
 * that the sites have names): leak_small drops 5 blocks of 48 bytes,
 * leak_mid 2 blocks of 3000, leak_large 1 block of 64 MiB, leak_cycle a
 * cycle of 3 nodes; reachable: a block held by a global, a list of 4 nodes
 * hanging from a global (held by other heap blocks), a block held only by a
 * thread-local variable of the main thread; free_some frees all it takes
 * (UMM_DEBUG=1: they sit in the quarantine at exit). The leaks are made in a thread that
 * exits (its dead stack is no root) and the main stack is scrubbed. Prints
 * the expected usable bytes per site for the script to compare. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node { struct node *next; char pad[40]; };

void *g_keep;                                         /* reachable: a global */
struct node *g_list;                                  /* reachable: heap chain */
__thread void *t_keep;                                /* reachable: TLS of the exiting thread */
static size_t bytes_small, bytes_mid, bytes_large, bytes_cycle;

__attribute__((noinline, visibility("default"))) void leak_small(void) {
  for (int i = 0; i < 5; i++) {
    void *p = malloc(48);
    bytes_small += malloc_usable_size(p);
    memset(p, 0x11, 48);
  }
}
__attribute__((noinline, visibility("default"))) void leak_mid(void) {
  for (int i = 0; i < 2; i++) {
    void *p = malloc(3000);
    bytes_mid += malloc_usable_size(p);
    memset(p, 0x22, 3000);
  }
}
__attribute__((noinline, visibility("default"))) void leak_large(void) {
  void *p = malloc(64u << 20);
  bytes_large += malloc_usable_size(p);
  memset(p, 0x33, 4096);
}
__attribute__((noinline, visibility("default"))) void leak_cycle(void) {
  struct node *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c);
  a->next = b; b->next = c; c->next = a;
  bytes_cycle += malloc_usable_size(a) + malloc_usable_size(b) + malloc_usable_size(c);
}
__attribute__((noinline, visibility("default"))) void keep_some(void) {
  g_keep = malloc(100);
  for (int i = 0; i < 4; i++) {
    struct node *n = malloc(sizeof *n);
    n->next = g_list;
    g_list = n;
  }
  t_keep = malloc(200);
}

/* Freed at once (by the main thread, so under UMM_DEBUG=1 they are still in
 * its quarantine at exit): never leaked, never reachable. */
__attribute__((noinline, visibility("default"))) void free_some(void) {
  static const size_t sz[] = {48, 3000, 2u << 20};
  for (int i = 0; i < 30; i++) {
    char *p = malloc(sz[i % 3]);
    memset(p, 0x44, sz[i % 3]);
    free(p);
  }
}

static void *leaker(void *arg) {
  (void)arg;
  leak_small();
  leak_mid();
  leak_large();
  leak_cycle();
  return NULL;
}

__attribute__((noinline)) static void scrub(void) {
  volatile char junk[65536];
  memset((char *)junk, 0, sizeof junk);
}

int main(void) {
  keep_some();
  free_some();
  pthread_t th;
  pthread_create(&th, NULL, leaker, NULL);
  pthread_join(th, NULL);
  scrub();
  printf("leak_small 5 %zu\nleak_mid 2 %zu\nleak_large 1 %zu\nleak_cycle 3 %zu\n", bytes_small, bytes_mid,
         bytes_large, bytes_cycle);
  return 0;
}
