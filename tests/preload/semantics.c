/* semantics.c - every exported symbol and glibc 2.36 edge case, run under
 * the preload (semantics.sh). Bad input (invalid pointers, double frees)
 * runs in children whose signal and stderr line are checked. */
#include "ptest.h"
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

/* not declared by glibc 2.36's headers; weak: glibc lacks some, the preload has all */
void cfree(void *p) __attribute__((weak));
void free_sized(void *p, size_t n) __attribute__((weak));
void free_aligned_sized(void *p, size_t a, size_t n) __attribute__((weak));
void *__libc_malloc(size_t n) __attribute__((weak));
void *__libc_calloc(size_t n, size_t m) __attribute__((weak));
void *__libc_realloc(void *p, size_t n) __attribute__((weak));
void __libc_free(void *p) __attribute__((weak));
void *__libc_memalign(size_t a, size_t n) __attribute__((weak));
void *__libc_valloc(size_t n) __attribute__((weak));
void *__libc_pvalloc(size_t n) __attribute__((weak));
int __posix_memalign(void **p, size_t a, size_t n) __attribute__((weak));

static size_t page;
static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static void basics(void) {
  void *a = malloc(0), *b = malloc(0);
  CHECK(a && b && a != b);
  CHECK(malloc_usable_size(a) >= 1);
  free(a);
  free(b);
  free(NULL);
  CHECK(malloc_usable_size(NULL) == 0);
  for (size_t n = 1; n < 70000; n = n < 64 ? n + 1 : n * 5 / 4) {
    unsigned char *p = malloc(n);
    CHECK(p != NULL);
    CHECK(aligned_to(p, 16));
    CHECK(malloc_usable_size(p) >= n);
    memset(p, 0x5a, n);
    free(p);
  }
  /* free keeps errno */
  void *p = malloc(100);
  errno = 4321;
  free(p);
  CHECK(errno == 4321);
  p = malloc(1 << 20);
  errno = 4321;
  free(p);
  CHECK(errno == 4321);
  p = malloc((size_t)80 << 20);                    /* large block */
  CHECK(p && aligned_to(p, 16) && malloc_usable_size(p) >= ((size_t)80 << 20));
  memset(p, 1, (size_t)80 << 20);
  errno = 4321;
  free(p);
  CHECK(errno == 4321);
}

static void impossible(void) {
  size_t bad[] = {SIZE_MAX, SIZE_MAX - 15, (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX, (size_t)1 << 62};
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    CHECK(malloc(bad[i]) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(1, bad[i]) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(aligned_alloc(64, bad[i]) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(memalign(4096, bad[i]) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(valloc(bad[i]) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(pvalloc(bad[i]) == NULL && errno == ENOMEM);
    void *q = (void *)0x1234;
    CHECK(posix_memalign(&q, 64, bad[i]) == ENOMEM && q == (void *)0x1234);
    char *p = malloc(40);
    strcpy(p, "still here");
    errno = 0;
    CHECK(realloc(p, bad[i]) == NULL && errno == ENOMEM && strcmp(p, "still here") == 0);
    errno = 0;
    CHECK(reallocarray(p, 2, bad[i] / 2 + 1) == NULL && errno == ENOMEM && strcmp(p, "still here") == 0);
    free(p);
  }
  errno = 0;
  CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(calloc((size_t)1 << 33, (size_t)1 << 33) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(reallocarray(NULL, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
}

static void zeroing(void) {
  for (size_t n = 8; n < ((size_t)4 << 20); n *= 3) {
    for (int round = 0; round < 3; round++) {
      unsigned char *p = malloc(n);
      memset(p, 0xee, n);
      free(p);
      unsigned char *q = calloc(1, n);
      int zero = 1;
      for (size_t i = 0; i < n; i++) zero &= q[i] == 0;
      CHECK(zero);
      free(q);
    }
  }
  unsigned char *q = calloc(1000, (size_t)40 << 10);   /* 40 MB: large */
  int zero = 1;
  for (size_t i = 0; i < (size_t)1000 * (40 << 10); i += 4096) zero &= q[i] == 0;
  CHECK(zero);
  free(q);
}

static void reallocs(void) {
  CHECK((errno = 0, realloc(NULL, 0)) != NULL || errno == 0);
  char *p;
  /* content preservation with an address-independent pattern */
  unsigned char *r = malloc(16);
  size_t cur = 16;
  for (size_t n = 16; n < ((size_t)70 << 20); n = n * 3 + 5) {
    for (size_t i = 0; i < cur; i++) r[i] = (unsigned char)(i * 7 + 3);
    unsigned char *s = realloc(r, n);
    CHECK(s != NULL);
    int ok = 1;
    for (size_t i = 0; i < cur; i++) ok &= s[i] == (unsigned char)(i * 7 + 3);
    CHECK(ok);
    r = s;
    cur = n;
  }
  for (size_t i = 0; i < cur; i++) r[i] = (unsigned char)(i * 7 + 3);
  for (size_t n = cur; n > 10; n /= 7) {
    unsigned char *s = realloc(r, n);
    CHECK(s != NULL);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= s[i] == (unsigned char)(i * 7 + 3);
    CHECK(ok);
    r = s;
  }
  free(r);
  /* a large block shrunk to 1 MiB or more keeps its address (mremap, as
   * glibc), its first bytes and its last kept ones; below that it moves */
  unsigned char *big = malloc((size_t)40 << 20);
  CHECK(big != NULL);
  if (big) {
    size_t keep = (size_t)13 << 20;
    big[0] = 0x11; big[keep - 1] = 0x22; big[((size_t)40 << 20) - 1] = 0x33;
    unsigned char *cut = realloc(big, keep);
    CHECK(cut == big && malloc_usable_size(cut) >= keep && cut[0] == 0x11 && cut[keep - 1] == 0x22);
    if (cut) big = cut;
    unsigned char *small = realloc(big, 1000);
    CHECK(small != NULL && small[0] == 0x11 && malloc_usable_size(small) >= 1000);
    free(small ? small : big);
  }
  /* realloc(p, 0) frees and returns NULL (glibc) */
  p = malloc(100);
  CHECK(realloc(p, 0) == NULL);
  p = malloc((size_t)64 << 20);
  CHECK(realloc(p, 0) == NULL);
  /* reallocarray */
  int *v = reallocarray(NULL, 10, sizeof(int));
  CHECK(v != NULL);
  for (int i = 0; i < 10; i++) v[i] = i;
  v = reallocarray(v, 1000, sizeof(int));
  CHECK(v && v[9] == 9);
  CHECK(reallocarray(v, 0, 4) == NULL);             /* = realloc(v, 0): frees */
}

static void aligned(void) {
  void *p = (void *)0x77;
  size_t badal[] = {0, 1, 2, 4, 3, 12, 24, 48, 100, ((size_t)1 << 63) + 8};
  for (unsigned i = 0; i < sizeof badal / sizeof badal[0]; i++) {
    p = (void *)0x77;
    CHECK(posix_memalign(&p, badal[i], 16) == EINVAL && p == (void *)0x77);
  }
  for (size_t al = sizeof(void *); al <= ((size_t)32 << 20); al *= 2) {
    for (size_t n = 0; n < 200000; n = n * 4 + 1) {
      CHECK(posix_memalign(&p, al, n) == 0 && aligned_to(p, al));
      memset(p, 3, n);
      free(p);
      p = aligned_alloc(al, n);
      CHECK(p && aligned_to(p, al));
      free(p);
      p = memalign(al, n);
      CHECK(p && aligned_to(p, al));
      free(p);
    }
  }
  /* glibc 2.36 accepts any alignment for aligned_alloc/memalign, rounding up */
  p = aligned_alloc(24, 100);
  CHECK(p && aligned_to(p, 32));
  free(p);
  p = memalign(3000, 10);
  CHECK(p && aligned_to(p, 4096));
  free(p);
  p = aligned_alloc(1, 10);
  CHECK(p && aligned_to(p, 16));
  free(p);
  errno = 0;
  CHECK(aligned_alloc(SIZE_MAX / 2 + 2, 10) == NULL && errno == EINVAL);
  p = valloc(100);
  CHECK(p && aligned_to(p, page));
  free(p);
  p = pvalloc(100);
  CHECK(p && aligned_to(p, page) && malloc_usable_size(p) >= page);
  free(p);
  p = pvalloc(0);
  CHECK(p != NULL);
  free(p);
  /* over-aligned large block, and realloc of aligned blocks */
  p = aligned_alloc((size_t)1 << 22, (size_t)50 << 20);
  CHECK(p && aligned_to(p, (size_t)1 << 22));
  memset(p, 9, 4096);
  p = realloc(p, (size_t)60 << 20);
  CHECK(p && ((unsigned char *)p)[4095] == 9);
  free(p);
}

static void aliases(void) {
  void *p = __libc_malloc(10);
  CHECK(p && umm_usable_size != NULL);
  p = __libc_realloc(p, 100);
  CHECK(p != NULL);
  __libc_free(p);
  unsigned char *c = __libc_calloc(10, 10);
  CHECK(c && c[99] == 0);
  cfree(c);
  p = __libc_memalign(256, 10);
  CHECK(p && aligned_to(p, 256));
  free_sized(p, 10);
  p = __libc_valloc(10);
  CHECK(p && aligned_to(p, page));
  free_aligned_sized(p, page, 10);
  p = __libc_pvalloc(10);
  CHECK(p && aligned_to(p, page));
  free(p);
  CHECK(__posix_memalign(&p, 64, 10) == 0 && aligned_to(p, 64));
  free(p);
}

static void info(void) {
  void *keep[100];
  for (int i = 0; i < 100; i++) keep[i] = malloc(3000);
  struct mallinfo2 m = mallinfo2();
  CHECK(m.arena > 0 && m.uordblks >= 300000);
  struct mallinfo m1 = mallinfo();
  CHECK(m1.arena > 0);
  for (int i = 0; i < 100; i++) free(keep[i]);
  int t = malloc_trim(0);
  CHECK(t == 0 || t == 1);
  CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
  CHECK(mallopt(M_ARENA_MAX, 1) == 1);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(malloc_info(0, f) == 0);
  fclose(f);
  CHECK(buf && strstr(buf, "<malloc") != NULL);
  free(buf);
  errno = 0;
  CHECK(malloc_info(1, stdout) == -1 && errno == EINVAL);
  fflush(stdout);
  malloc_stats();                                  /* prints on stderr */
}

/* A block allocated by a thread that has exited is freeable anywhere, and a
 * thread can allocate and free after its own exit flush (a pthread key
 * destructor that runs after umm's). */
static pthread_key_t late_key;
static void late(void *arg) {
  free(arg);
  void *p = malloc(50);
  free(p);
  p = malloc(5000);
  free(p);
}
static void *worker(void *arg) {
  (void)arg;
  void **v = malloc(100 * sizeof(void *));
  for (int i = 0; i < 100; i++) v[i] = malloc((size_t)(i * 37 % 2000));
  pthread_setspecific(late_key, malloc(77));
  return v;
}
static void threads(void) {
  pthread_key_create(&late_key, late);
  for (int round = 0; round < 20; round++) {
    pthread_t t;
    void *r;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, &r);
    void **v = r;
    for (int i = 0; i < 100; i++) free(v[i]);
    free(v);
  }
  CHECK(1);
}

/* ---- bad input --------------------------------------------------------------- */
static int static_var[16];
static void bad_stack(void *a) { (void)a; int x[8]; void *volatile p = &x[2]; free(p); }
static void bad_static(void *a) { (void)a; void *volatile p = &static_var[4]; free(p); }
static void bad_mmap(void *a) {
  (void)a;
  char *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  free(m + 16);
}
static void bad_interior(void *a) { (void)a; char *p = malloc(100); memset(p, 0, 100); free(p + 32); }
static void bad_misaligned(void *a) { (void)a; char *p = malloc(100); free(p + 8); }
static void bad_interior_mid(void *a) { (void)a; char *p = malloc(5000); memset(p, 0xff, 5000); free(p + 1024); }
static void bad_double_small(void *a) { (void)a; void *p = malloc(40); free(p); free(p); }
static void bad_double_mid(void *a) { (void)a; void *p = malloc(5000); free(p); free(p); }
static void bad_double_large(void *a) { (void)a; void *p = malloc((size_t)64 << 20); free(p); free(p); }
static void bad_double_flushed(void *a) {
  (void)a;
  void *v[3000];
  for (int i = 0; i < 3000; i++) v[i] = malloc(48);
  for (int i = 0; i < 3000; i++) free(v[i]);        /* most go back to the core */
  free(v[5]);
}
static void bad_realloc(void *a) { (void)a; int x[4]; void *volatile p = x; p = realloc(p, 100); }
static void bad_realloc_double(void *a) { (void)a; void *p = malloc(3000); free(p); p = realloc(p, 10); }
static void *free_it(void *p) { free(p); return NULL; }
static void bad_thread_double(void *a) {
  (void)a;
  void *p = malloc(64);
  pthread_t t;
  free(p);
  pthread_create(&t, NULL, free_it, p);            /* the other thread frees it again */
  pthread_join(t, NULL);
}
static void good_child(void *a) { (void)a; void *p = malloc(10); free(p); }

static void bad_input(void) {
  static const struct { void (*fn)(void *); const char *want; } cases[] = {
    {bad_stack, "umm: free(): invalid pointer 0x"},
    {bad_static, "umm: free(): invalid pointer 0x"},
    {bad_mmap, "umm: free(): invalid pointer 0x"},
    {bad_interior, "umm: free(): invalid pointer 0x"},
    {bad_misaligned, "umm: free(): invalid pointer 0x"},
    {bad_interior_mid, "umm: free(): invalid pointer 0x"},
    {bad_double_small, "umm: free(): double free 0x"},
    {bad_double_mid, "umm: free(): double free 0x"},
    {bad_double_large, "umm: free(): double free 0x"},
    {bad_double_flushed, "umm: free(): double free 0x"},
    {bad_realloc, "umm: realloc(): invalid pointer 0x"},
    {bad_realloc_double, "umm: realloc(): double free 0x"},
    {bad_thread_double, "umm: free(): double free 0x"},
  };
  char line[512];
  for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int sig = pt_child(cases[i].fn, NULL, line, sizeof line);
    int ok = sig == SIGABRT && strncmp(line, cases[i].want, strlen(cases[i].want)) == 0;
    if (!ok) fprintf(stderr, "case %u: signal %d, stderr \"%s\", wanted SIGABRT and \"%s...\"\n", i, sig, line,
                     cases[i].want);
    CHECK(ok);
  }
  CHECK(pt_child(good_child, NULL, line, sizeof line) == 0);
}

int main(void) {
  page = (size_t)sysconf(_SC_PAGESIZE);
  if (!pt_preloaded()) {
    fprintf(stderr, "semantics: the umm preload is not loaded (run through semantics.sh)\n");
    return 1;
  }
  basics();
  impossible();
  zeroing();
  reallocs();
  aligned();
  aliases();
  info();
  threads();
  bad_input();
  return pt_report();
}
