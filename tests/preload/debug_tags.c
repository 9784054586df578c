/* debug_tags.c - the debug heap's program API under the preload: umm_tag_push /
 * umm_tag_pop / umm_tag_of round trips for every allocation entry point and
 * size class, automatic tags per UMM_TAG mode, umm_heap_walk flags (cached,
 * large), umm_heap_check, umm_dump in all three formats (text, json, svg: files named by argv). */
#include "ptest.h"
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include "umm_debug.h"

#define NP 9
static void *blocks[NP];

static void alloc_all(void) {
  blocks[0] = malloc(24);
  blocks[1] = malloc(200);
  blocks[2] = malloc(1000);
  blocks[3] = malloc(5000);                          /* mid-size: straight from the core */
  blocks[4] = malloc(64u << 20);                     /* large: its own mapping */
  blocks[5] = calloc(10, 10);
  blocks[6] = realloc(NULL, 300);
  CHECK(posix_memalign(&blocks[7], 64, 100) == 0);
  blocks[8] = aligned_alloc(4096, 4096);
}
static void free_all(void) {
  for (int i = 0; i < NP; i++) free(blocks[i]);
}

static __attribute__((noinline)) void *site_a(size_t n) { void *p = malloc(n); __asm__ volatile("" ::: "memory"); return p; }
static __attribute__((noinline)) void *site_b(size_t n) { void *p = malloc(n); __asm__ volatile("" ::: "memory"); return p; }

static uint32_t other_tag;
static void *other(void *arg) {
  (void)arg;
  void *p = malloc(777);
  other_tag = umm_tag_of(p);
  free(p);
  return NULL;
}

typedef struct { void *small, *large, *cached; int saw_small, saw_large, saw_cached, chunks; } walk_t;
static int visit(const umm_chunk_t *c, void *arg) {
  walk_t *w = arg;
  w->chunks++;
  if (c->ptr == w->small && c->in_use && !(c->flags & (UMM_CHUNK_CACHED | UMM_CHUNK_LARGE)) && c->tags == 11) w->saw_small = 1;
  if (c->ptr == w->large && c->in_use && (c->flags & UMM_CHUNK_LARGE) && c->tags == 12) w->saw_large = 1;
  if (c->ptr == w->cached && !c->in_use && (c->flags & UMM_CHUNK_CACHED)) w->saw_cached = 1;
  return 0;
}

static int file_has(const char *path, const char *needle) {
  static char buf[1 << 20];
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) return 0;
  buf[n] = 0;
  return strstr(buf, needle) != NULL;
}

int main(int argc, char **argv) {
  if (!umm_tag_push || !umm_tag_of || !umm_heap_walk || !umm_dump) {
    printf("FAIL: the debug API is missing (run under the preload)\n");
    return 1;
  }
  const char *mode = getenv("UMM_TAG");
  if (!mode) mode = "thread";

  /* program tags: every entry point, every size class */
  umm_tag_push(42);
  alloc_all();
  for (int i = 0; i < NP; i++) CHECK(umm_tag_of(blocks[i]) == 42);
  umm_tag_push(7);
  void *q = malloc(24), *r = realloc(blocks[6], 5000);
  blocks[6] = r;
  CHECK(umm_tag_of(q) == 7);
  CHECK(umm_tag_of(r) == 7 || umm_tag_of(r) == 42);   /* moved: 7; grown in place: keeps 42 unless retagged */
  umm_tag_pop();
  void *s = malloc(24);
  CHECK(umm_tag_of(s) == 42);
  umm_tag_pop();
  umm_tag_pop();                                     /* extra pop: harmless */
  umm_tag_push(0x80000005u);                         /* the top bit is reserved: masked */
  void *m = malloc(48);
  CHECK(umm_tag_of(m) == 5);
  umm_tag_pop();
  free(q); free(s); free(m);
  free_all();
  /* deep nesting: beyond 16 the 16th is repeated; pops unwind */
  for (uint32_t k = 1; k <= 20; k++) umm_tag_push(100 + k);
  void *deep = malloc(32);
  CHECK(umm_tag_of(deep) == 116);
  for (int k = 0; k < 19; k++) umm_tag_pop();
  void *one = malloc(32);
  CHECK(umm_tag_of(one) == 101);
  umm_tag_pop();
  free(deep); free(one);
  CHECK(umm_tag_of(NULL) == 0);
  int on_stack;
  CHECK(umm_tag_of(&on_stack) == 0);

  /* automatic tags (sizes no earlier block had: with UMM_TAG=thread a block
   * re-served from the thread cache keeps the tag it had, program tags too) */
  void *a1 = site_a(600), *a2 = site_a(600), *b1 = site_b(600), *big = malloc(40000);
  uint32_t ta = umm_tag_of(a1), tb = umm_tag_of(b1);
  pthread_t th;
  pthread_create(&th, NULL, other, NULL);
  pthread_join(th, NULL);
  if (!strcmp(mode, "site")) {
    CHECK((ta & 0xc0000000u) == 0x80000000u);
    CHECK(umm_tag_of(a2) == ta);
    CHECK(tb != ta && (tb & 0xc0000000u) == 0x80000000u);
    CHECK((umm_tag_of(big) & 0xc0000000u) == 0x80000000u && umm_tag_of(big) != ta);
  } else if (!strcmp(mode, "thread")) {
    CHECK((ta & 0xc0000000u) == 0xc0000000u);
    CHECK(tb == ta && umm_tag_of(big) == ta);
    CHECK((other_tag & 0xc0000000u) == 0xc0000000u && other_tag != ta);
  } else {
    CHECK(umm_tag_of(big) == 0);
  }

  /* heap walk: a tagged small block, a tagged large block, a cached block */
  walk_t w = {0};
  umm_tag_push(11); w.small = malloc(64); umm_tag_pop();
  umm_tag_push(12); w.large = malloc(40u << 20); umm_tag_pop();
  w.cached = malloc(56);
  free(w.cached);                                    /* into this thread's cache */
  CHECK(umm_heap_walk(visit, &w) == 0);
  CHECK(w.chunks > 3);
  CHECK(w.saw_small && w.saw_large);
  if (!getenv("UMM_CACHE")) CHECK(w.saw_cached);
  CHECK(umm_heap_check() == 0);

  /* dumps */
  umm_tag_push(4242);
  void *keep[10];
  for (int i = 0; i < 10; i++) keep[i] = malloc(100);
  umm_tag_pop();
  CHECK(umm_dump(1, "nonsense") == -1);
  if (argc > 2) {
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && umm_dump(fd, "text") == 0);
    close(fd);
    fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && umm_dump(fd, "json") == 0);
    close(fd);
    CHECK(file_has(argv[1], "program tag 4242"));
    CHECK(file_has(argv[2], "\"tag\": 4242, \"kind\": \"program\""));
  }
  if (argc > 3) {
    int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && umm_dump(fd, "svg") == 0);
    close(fd);
    CHECK(file_has(argv[3], "program tag 4242"));
  }
  for (int i = 0; i < 10; i++) free(keep[i]);
  free(w.small); free(w.large);
  free(a1); free(a2); free(b1); free(big);
  return pt_report();
}
