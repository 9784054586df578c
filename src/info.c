/* info.c - per-block queries: usable size, tags, ownership. */
#include "umm_internal.h"

size_t umm_usable_size(const void *p) {
  return p ? chunk_usable(hdr_size(hdr_peek(chunk_of(p)))) : 0;
}

uint32_t umm_tags(const void *p) { return hdr_tags(hdr_peek(chunk_of(p))); }

static const char *const TAGS_MSG[3] = {"umm_set_tags(): invalid pointer", "umm_set_tags(): freed block",
                                         "umm_set_tags(): corrupted header"};

/* A CAS that expects LOCK clear is a lock, a write and an unlock in one
 * atomic step, so it keeps the protocol of heap.c (nobody holds the lock
 * while the word changes). */
static void retag(umm_t *u, umm_block_t *c, uint32_t tags) {
  uint64_t h = hdr_peek(c);
  for (;;) {
    if (hdr_is_locked(h)) {
      if (u) { ummi_contended(u); ummi_backoff(u); }
#if defined(__x86_64__) || defined(__i386__)
      else __builtin_ia32_pause();
#endif
      h = hdr_peek(c);
      continue;
    }
    if (ummi_unlikely(hdr_is_free(h))) ummi_fatal(TAGS_MSG[1], chunk_payload(c));
    uint64_t n = (h & ~(~(uint64_t)0 << HDR_TAG_SHIFT)) | ((uint64_t)tags << HDR_TAG_SHIFT);
    if (__atomic_compare_exchange_n(&c->hdr, &h, n, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) return;
  }
}

void umm_set_tags(umm_t *u, void *p, uint32_t tags) { retag(u, ummi_validate(u, p, TAGS_MSG), tags); }

void umm_retag(void *p, uint32_t tags) {
  umm_block_t *c = chunk_of(p);
  if (hdr_tags(hdr_peek(c)) != tags) retag(NULL, c, tags);
}

int umm_ptr_state(umm_t *u, const void *p) {
  umm_block_t *c;
  return ummi_ptr_state(u, p, &c);
}

int umm_owns(umm_t *u, const void *p) { return umm_ptr_state(u, p) == UMM_PTR_LIVE; }
