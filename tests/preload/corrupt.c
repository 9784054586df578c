/* corrupt.c - one heap corruption (or bad call) per run, in the style of
 * hardened_malloc's tests: `corrupt CASE` prints on stdout the exact line
 * umm must write on stderr ("expect: ..."), flushes, then does the bad thing.
 * corrupt.sh runs every case under the preload and compares the signal and
 * the stderr line. Pointers in the expected lines are computed here, from
 * the blocks the case got (and, for the cache link, from the cookie word an
 * attacker with a read primitive could see too). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>
#include "../../include/umm_debug.h"

static void expect(const char *fmt, const void *p) {
  printf("expect: ");
  printf(fmt, p);
  printf("\n");
  fflush(stdout);
}

/* Two adjacent 24-byte blocks a, b (b's header is the 8 bytes after a's 24). */
static void adjacent(char **a, char **b) {
  static char *v[256];
  for (int i = 0; i < 256; i++) v[i] = malloc(24);
  for (int i = 0; i < 256; i++)
    for (int j = 0; j < 256; j++)
      if (v[j] == v[i] + 32) { *a = v[i]; *b = v[j]; return; }
  printf("no adjacent blocks\n");
  exit(3);
}

static void double_small(void) { char *p = malloc(40); expect("umm: free(): double free %p", p); free(p); free(p); }
static void double_medium(void) { char *p = malloc(5000); expect("umm: free(): double free %p", p); free(p); free(p); }
static void double_large(void) { char *p = malloc(64 << 20); expect("umm: free(): double free %p", p); free(p); free(p); }
static void invalid_stack(void) { char x[64]; char *volatile p = x + 16; expect("umm: free(): invalid pointer %p", p); free(p); }
static void invalid_interior(void) { char *p = malloc(200); memset(p, 0, 200); expect("umm: free(): invalid pointer %p", p + 48); free(p + 48); }
static void realloc_double(void) { char *p = malloc(3000); free(p); expect("umm: realloc(): double free %p", p); p = realloc(p, 10); }

/* An off-by-one write (a string's NUL) from a into b's header: free(b). */
static void header_nul(void) {
  char *a, *b;
  adjacent(&a, &b);
  expect("umm: free(): corrupted header (size does not match the next chunk) %p", b);
  a[malloc_usable_size(a)] = 0;
  free(b);
}
/* The same with a printable byte that leaves a plausible small size. */
static void header_byte(void) {
  char *a, *b;
  adjacent(&a, &b);
  expect("umm: free(): corrupted header (size does not match the next chunk) %p", b);
  a[malloc_usable_size(a)] = 'A';
  free(b);
}
/* A medium block whose size bit 7 was overwritten (above the 7 bits CHECK
 * covers): 1020 -> 892 granules, the chunk of another medium class. free's
 * header test passes; caching it would serve 892 granules over the block
 * after it. The medium free path reads the successor's header and reports. */
static void header_medium_size(void) {
  static void *volatile sink;
  for (int i = 0; i < 4; i++) { sink = malloc(5000); free(sink); }   /* a live thread cache, medium classes in use */
  char *a = malloc(1020 * 16 - 8);
  sink = malloc(100);
  expect("umm: free(): corrupted header (size does not match the next chunk) %p", a);
  volatile uint64_t *h = (uint64_t *)(void *)a - 1;
  *h ^= 128u;
  free(a);
}
/* realloc of a block whose header was overwritten. */
static void header_realloc(void) {
  char *a, *b;
  adjacent(&a, &b);
  expect("umm: realloc(): corrupted header (size does not match the next chunk) %p", b);
  a[malloc_usable_size(a)] = 0;
  b = realloc(b, 4000);
}
/* Write after free into a cached block's link: the second malloc after it
 * decodes the link and finds it corrupt (safe-linking). */
static void cache_link(void) {
  uint64_t bad = 0x4141414141414140ull | 1u;     /* misaligned after decoding */
  printf("expect: umm: malloc(): corrupted thread cache (a freed block was written to): bad link %p\n", (void *)bad);
  fflush(stdout);
  uint64_t *p = malloc(40);
  free(p);
  p[0] = bad ^ p[1];                              /* p[1]: the cookie the link is xored with */
  void *q = malloc(40);
  void *r = malloc(40);
  printf("not caught: %p %p\n", q, r);
}
/* The same in a medium class (the slow path checks the link is an arena
 * block, so any garbage is caught). */
static void cache_link_medium(void) {
  uint64_t bad = 0x00007f0000001000ull;           /* aligned, outside the arena */
  printf("expect: umm: malloc(): corrupted thread cache (a freed block was written to): bad link %p\n", (void *)bad);
  fflush(stdout);                                 /* stdout's buffer is a medium block too: allocate it first */
  uint64_t *p = malloc(5000);
  free(p);
  p[0] = bad ^ p[1];
  void *q = malloc(5000);
  void *r = malloc(5000);
  printf("not caught: %p %p\n", q, r);
}

/* ---- UMM_DEBUG=1 --------------------------------------------------------------- */
static char *tagged(size_t n) {
  umm_tag_push(7);
  char *p = malloc(n);
  umm_tag_pop();
  return p;
}
static void dbg_overflow(void) {
  char *p = tagged(24);
  expect("umm: heap overflow after %p (3 bytes, allocated at program tag 7)", p);
  p[24] = 'x';
  p[26] = 'z';                                 /* even: canaries are odd (guard.c), so the byte always differs */
  free(p);
}
static void dbg_overflow_one(void) {
  char *p = tagged(100);
  expect("umm: heap overflow after %p (1 byte, allocated at program tag 7)", p);
  strcpy(p, "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789");
  free(p);
}
static void dbg_overflow_realloc(void) {
  char *p = tagged(4000);
  expect("umm: heap overflow after %p (5 bytes, allocated at program tag 7)", p);
  memset(p, 2, 4005);                          /* even: never a canary (odd) */
  p = realloc(p, 8000);
}
static void dbg_uaf(void) {
  char *p = tagged(40);
  free(p);
  expect("umm: write after free %p (at offset 9, allocated at program tag 7)", p);
  p[9] = 1;
  for (int i = 0; i < 5000; i++) free(malloc(64));  /* push p out of the quarantine */
  printf("not caught\n");
}
static void dbg_double(void) { char *p = tagged(40); free(p); expect("umm: free(): double free %p", p); free(p); }
static void dbg_check(void) {
  char *p = tagged(30);
  expect("umm: heap overflow after %p (2 bytes, allocated at program tag 7)", p);
  p[31] = 0;
  int bad = umm_heap_check();
  exit(bad == 1 ? 5 : 6);
}
/* Fills: new memory 0xAA (no stale data), freed memory 0xDD, exact usable size. */
static void dbg_fill(void) {
  unsigned char *p = malloc(64);
  int ok = malloc_usable_size(p) == 64;
  for (int i = 0; i < 64; i++) ok &= p[i] == 0xAA;
  memset(p, 7, 64);
  free(p);
  for (int i = 0; i < 64; i++) ok &= p[i] == 0xDD;  /* still quarantined: readable */
  unsigned char *z = calloc(10, 10);
  for (int i = 0; i < 100; i++) ok &= z[i] == 0;
  free(z);
  exit(ok ? 0 : 4);
}

/* A dump of a heap whose header an overflow damaged: the walk stops at the
 * damaged header (it waited for ever, or read past the region) and the dump
 * says INCOMPLETE; an interior pointer has no tag. Exit 0 when both hold. */
static void dump_damaged(void) {
  unsigned char *p = malloc(24), *q = malloc(24);
  if (!p || !q) exit(2);
  uint32_t interior = umm_tag_of(q + 16);
  volatile unsigned char *hq = p + 24;             /* q's header (volatile: the two flips must happen) */
  *hq ^= 0x10;                                      /* q's size, one bit above the header's low 4 */
  char path[] = "/tmp/umm-corrupt-dump-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) exit(2);
  unlink(path);
  umm_dump(fd, "text");
  *hq ^= 0x10;                                      /* mended: exit's own checks stay quiet */
  char buf[4096];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  buf[n > 0 ? n : 0] = 0;
  if (!strstr(buf, "INCOMPLETE") || interior != 0) { printf("interior tag %u, dump:\n%s", interior, buf); exit(3); }
  exit(0);
}

static const struct { const char *name; void (*fn)(void); } cases[] = {
  {"double_small", double_small}, {"double_medium", double_medium}, {"double_large", double_large},
  {"invalid_stack", invalid_stack}, {"invalid_interior", invalid_interior}, {"realloc_double", realloc_double},
  {"header_nul", header_nul}, {"header_byte", header_byte}, {"header_realloc", header_realloc},
  {"header_medium_size", header_medium_size},
  {"cache_link", cache_link}, {"cache_link_medium", cache_link_medium},
  {"dbg_overflow", dbg_overflow}, {"dbg_overflow_one", dbg_overflow_one},
  {"dbg_overflow_realloc", dbg_overflow_realloc}, {"dbg_uaf", dbg_uaf}, {"dbg_double", dbg_double},
  {"dbg_check", dbg_check}, {"dbg_fill", dbg_fill},
  {"dump_damaged", dump_damaged},
};

int main(int argc, char **argv) {
  if (argc < 2) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) printf("%s\n", cases[i].name);
    return 0;
  }
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (!strcmp(argv[1], cases[i].name)) { cases[i].fn(); return 0; }
  fprintf(stderr, "unknown case %s\n", argv[1]);
  return 2;
}
