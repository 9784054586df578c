/* vg_reallocarray.c - test aid for tests/valgrind/preload.sh: valgrind 3.19
 * replaces malloc, calloc, realloc, free, memalign, posix_memalign,
 * aligned_alloc, valloc, malloc_usable_size and operator new/delete in the
 * library named by --soname-synonyms=somalloc=..., but not reallocarray
 * (nor pvalloc, free_sized, free_aligned_sized, the __libc_* aliases), so
 * those stay umm's and their blocks reach memcheck's free ("Invalid free").
 * Preloaded in front of libumm_preload.so, this reallocarray goes through
 * the realloc that valgrind replaces. */
#include <errno.h>
#include <stdlib.h>

void *reallocarray(void *p, size_t n, size_t m) {
  size_t bytes;
  if (__builtin_mul_overflow(n, m, &bytes)) { errno = ENOMEM; return NULL; }
  return realloc(p, bytes);
}
