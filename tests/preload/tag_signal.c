/* tag_signal.c - a signal handler mallocs while its thread holds a core
 * chunk lock on the head of one of its thread-cache bins: here umm_heap_walk
 * visiting that block (a UMM_DUMP_SIGNAL dump, or a free whose neighbour is
 * the bin head, hold such a lock the same way). With UMM_TAG=site, or a
 * program tag pushed, the handler's malloc used to pop that bin's head in the
 * "tag lane" and then wait for the chunk lock to re-tag it: held by the
 * interrupted thread, so it waited for ever. The handler must get a block
 * (the re-entrant path) and the walk must finish. Watchdog: alarm(10).
 * argv[1] = "push": use a program tag instead of the tag mode. */
#include "ptest.h"
#include "umm_debug.h"

#define SZ 100
static void *head;
static void *volatile got;
static volatile int fired;

static __attribute__((noinline)) void *handler_site(size_t n) { return malloc(n); }
static void handler(int s) {
  (void)s;
  got = handler_site(SZ);                          /* a call site of its own: a new tag */
}
static int visit(const umm_chunk_t *c, void *arg) {
  (void)arg;
  if (c->ptr == head && !fired) { fired = 1; raise(SIGUSR1); }
  return 0;
}

int main(int argc, char **argv) {
  int push = argc > 1 && strcmp(argv[1], "push") == 0;
  if (!umm_heap_walk) { puts("no preload"); return 1; }
  signal(SIGUSR1, handler);
  alarm(10);
  void *warm = malloc(SZ);                         /* refills the bin */
  head = malloc(SZ);
  free(head);                                      /* now the head of its bin (cached, in use for the core) */
  if (push) umm_tag_push(7);                       /* the handler's block then needs a new tag */
  CHECK(umm_heap_walk(visit, NULL) == 0);
  CHECK(fired == 1);
  CHECK(got != NULL);
  if (push) umm_tag_pop();
  free(got);
  free(warm);
  return pt_report();
}
