/* memalign.c - umm_memalign: over-allocate, then give back the front and
 * the tail as free chunks (through the ordinary release, so they coalesce). */
#include "umm_internal.h"

static const char *const MEMALIGN_MSG[2] = {"memalign(): invalid pointer", "memalign(): double free"};

void *umm_memalign(umm_t *u, size_t alignment, size_t size, uint32_t tags) {
  if (alignment == 0 || (alignment & (alignment - 1)) || alignment > UMM_MAX_ALIGN) {
    errno = EINVAL;
    return NULL;
  }
  if (alignment <= UMM_ALIGNMENT) return umm_malloc(u, size, tags);
  size_t g = size_to_g(size), extra = alignment / G + MIN_G;
  if (!g || g > MAX_G - extra) { errno = ENOMEM; return NULL; }
  void *p = umm_malloc(u, chunk_usable(g + extra), tags);
  if (!p) return NULL;
  umm_block_t *c = chunk_of(p);
  uint64_t h = ummi_lock_wait(u, c);
  if ((uintptr_t)p & (alignment - 1)) {
    /* Front gap of at least MIN_G granules, so it can be a chunk. */
    uintptr_t q = ((uintptr_t)p + MIN_G * G + alignment - 1) & ~(uintptr_t)(alignment - 1);
    size_t front = (q - (uintptr_t)p) / G;
    umm_block_t *a = ummi_split_used_locked(c, &h, front);
    size_t ga = hdr_size(hdr_peek(a));
    __atomic_store_n(&a->hdr, hdr_make(a, ga, HDR_IN_USE, tags), __ATOMIC_RELAXED);
    chunk_unlock_store(c, h | HDR_DEFERRED);        /* the front is being freed */
    ummi_free_chunk(u, c, 1, MEMALIGN_MSG);         /* locks a as its successor */
    c = a;
    h = ummi_lock_wait(u, c);
  }
  if (hdr_size(h) - g >= MIN_G) {
    umm_block_t *t = ummi_split_used_locked(c, &h, g);
    chunk_unlock(c);
    ummi_free_chunk(u, t, 1, MEMALIGN_MSG);
  } else {
    chunk_unlock(c);
  }
  UMM_CHECK_QUIET(u);
  return chunk_payload(c);
}
