/* info.c - per-block queries: usable size, tags, ownership. */
#include "umm_internal.h"

size_t umm_usable_size(const void *p) {
  return p ? chunk_usable(hdr_size(hdr_peek(chunk_of(p)))) : 0;
}

uint32_t umm_tags(const void *p) { return hdr_tags(hdr_peek(chunk_of(p))); }

static const char *const TAGS_MSG[2] = {"umm_set_tags(): invalid pointer", "umm_set_tags(): freed block"};

void umm_set_tags(umm_t *u, void *p, uint32_t tags) {
  umm_block_t *c = ummi_validate(u, p, TAGS_MSG);
  uint64_t h = ummi_lock_wait(u, c);
  if (ummi_unlikely(hdr_is_free(h))) { chunk_unlock(c); ummi_fatal(TAGS_MSG[1], p); }
  chunk_unlock_update(c, ~(uint64_t)0 << HDR_TAG_SHIFT, (uint64_t)tags << HDR_TAG_SHIFT);
}

int umm_owns(umm_t *u, const void *p) {
  uintptr_t a = (uintptr_t)p;
  if ((a & (G - 1)) != 0 || a - UMM_HEADER_SIZE < (uintptr_t)u->first || a - UMM_HEADER_SIZE >= (uintptr_t)u->end)
    return 0;
  umm_block_t *c = chunk_of(p);
  uint64_t h = hdr_peek(c);
  size_t g = hdr_size(h);
  if (!hdr_check_ok(c, h) || !hdr_is_used(h) || g < MIN_G || (size_t)((char *)u->end - (char *)c) < g * G)
    return 0;
  uint64_t hs = hdr_peek(chunk_at(c, g));
  return hdr_check_ok(chunk_at(c, g), hs) && !hdr_prev_free(hs);
}
