/* malloc.c - umm_malloc, umm_malloc_nowait, umm_malloc_batch. */
#include "umm_internal.h"

void *umm_malloc(umm_t *u, size_t size, uint32_t tags) {
  size_t g = size_to_g(size);                       /* 0 when too large */
  if (ummi_likely(g - MIN_G < UMMI_EXACT_BINS - MIN_G && __atomic_load_n(&u->deferred_count, __ATOMIC_RELAXED) == 0))
    return ummi_malloc_small(u, g, tags);           /* a tail call */
  if (ummi_unlikely(!g)) { errno = ENOMEM; return NULL; }
  return ummi_malloc_slow(u, g, tags);
}

void *ummi_malloc_slow(umm_t *u, size_t g, uint32_t tags) {
  ummi_maybe_drain(u);
  void *p;
  int r;
  while ((r = ummi_claim1(u, g, tags, 0, &p)) == UMMI_CONTENDED) ummi_backoff(u);
  UMM_CHECK_QUIET(u);
  if (r != UMMI_OK) { errno = ENOMEM; return NULL; }
  UMMI_VG_ALLOC(p, umm_usable_size(p));
  return p;
}

void *umm_malloc_nowait(umm_t *u, size_t size, uint32_t tags) {
  size_t g = size_to_g(size);
  if (ummi_unlikely(!g)) { errno = ENOMEM; return NULL; }
  void *p;
  int r = ummi_claim1(u, g, tags, 1, &p);
  if (r == UMMI_OK) { UMMI_VG_ALLOC(p, umm_usable_size(p)); return p; }
  errno = r == UMMI_CONTENDED ? EAGAIN : ENOMEM;
  return NULL;
}

size_t umm_malloc_batch(umm_t *u, size_t size, uint32_t tags, void **out, size_t n) {
  size_t g = size_to_g(size);
  if (ummi_unlikely(!g)) { errno = ENOMEM; return 0; }
  if (n == 0) return 0;
  ummi_maybe_drain(u);
  size_t got = 0;
  int r;
  while ((r = ummi_claim(u, g, n, tags, 0, out, &got)) == UMMI_CONTENDED) ummi_backoff(u);
  UMM_CHECK_QUIET(u);
  if (r != UMMI_OK) { errno = ENOMEM; return 0; }
#if UMM_VALGRIND
  for (size_t i = 0; i < got; i++) UMMI_VG_ALLOC(out[i], umm_usable_size(out[i]));
#endif
  return got;
}
