/* realloc.c - umm_realloc: shrink in place, grow in place, or move. */
#include "umm_internal.h"

static const char *const REALLOC_MSG[3] = {"realloc(): invalid pointer", "realloc(): double free",
                                            "realloc(): corrupted header (size does not match the next chunk)"};

void *umm_realloc(umm_t *u, void *p, size_t size) {
  if (!p) return umm_malloc(u, size, 0);
  if (size == 0) { umm_free(u, p); return NULL; }
  umm_block_t *c = ummi_validate(u, p, REALLOC_MSG);
  size_t want = size_to_g(size);
  if (ummi_unlikely(!want)) { errno = ENOMEM; return NULL; }
  ummi_maybe_drain(u);
  for (;;) {
    uint64_t h = ummi_lock_wait(u, c);
    if (ummi_unlikely(hdr_is_free(h) || hdr_is_deferred(h))) { chunk_unlock(c); ummi_fatal(REALLOC_MSG[1], p); }
    size_t g = hdr_size(h);
    if (want <= g) {                                 /* shrink (or same): same address */
      if (g - want >= MIN_G) {
        umm_block_t *t = ummi_split_used_locked(c, &h, want);
        UMMI_VG_RESIZE(p, chunk_usable(g), chunk_usable(want));   /* the tail is no longer the program's */
        UMMI_VG_HDR(t);
        chunk_unlock(c);
        ummi_free_chunk(u, t, 1, REALLOC_MSG);
      } else {
        chunk_unlock(c);
      }
      UMM_CHECK_QUIET(u);
      return p;
    }
    int r = ummi_grow_locked(u, c, &h, want);
    if (r == UMMI_OK) {
      UMMI_VG_RESIZE(p, chunk_usable(g), chunk_usable(hdr_size(h)));
      chunk_unlock(c);
      UMM_CHECK_QUIET(u);
      return p;
    }
    if (r == UMMI_CONTENDED) { ummi_backoff(u); continue; }
    chunk_unlock(c);                                 /* no room after it: move */
    void *q = umm_malloc(u, size, hdr_tags(h));
    if (!q) return NULL;                             /* errno = ENOMEM, p intact */
    memcpy(q, p, chunk_usable(g));
    umm_free(u, p);
    return q;
  }
}
