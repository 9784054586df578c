/* free.c - umm_free, umm_free_nowait (the deferred stack), umm_drain,
 * umm_free_batch. */
#include "umm_internal.h"

static const char *const FREE_MSG[2] = {"free(): invalid pointer", "free(): double free"};

void umm_free(umm_t *u, void *p) {
  if (!p) return;
  ummi_maybe_drain(u);
  ummi_free_chunk(u, ummi_validate(u, p, FREE_MSG), 0, FREE_MSG);
  UMM_CHECK_QUIET(u);
}

void umm_free_batch(umm_t *u, void **ptrs, size_t n) {
  ummi_maybe_drain(u);
  for (size_t i = 0; i < n; i++)
    if (ptrs[i]) ummi_free_chunk(u, ummi_validate(u, ptrs[i], FREE_MSG), 0, FREE_MSG);
  UMM_CHECK_QUIET(u);
}

/* Lock-free: mark the chunk DEFERRED with a CAS that keeps the rest of the
 * word (so it works while a neighbour, a walker or the very thread this
 * signal handler interrupted holds the chunk's lock; see heap.c) and push it
 * on the deferred stack. */
void umm_free_nowait(umm_t *u, void *p) {
  if (!p) return;
  umm_block_t *c = ummi_validate(u, p, FREE_MSG);
  uint64_t h = __atomic_load_n(&c->hdr, __ATOMIC_RELAXED);
  do {
    if (ummi_unlikely(hdr_is_free(h) || hdr_is_deferred(h))) ummi_fatal(FREE_MSG[1], p);
  } while (!__atomic_compare_exchange_n(&c->hdr, &h, h | HDR_DEFERRED, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  /* Count before the push and uncount after each merge: the count never
   * drops below the number of chunks still waiting. */
  __atomic_fetch_add(&u->deferred_count, 1, __ATOMIC_RELAXED);
  umm_block_t *head = __atomic_load_n(&u->deferred, __ATOMIC_RELAXED);
  do {
    c->next = head;
  } while (!__atomic_compare_exchange_n(&u->deferred, &head, c, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

void ummi_drain(umm_t *u) {
  umm_block_t *c = __atomic_exchange_n(&u->deferred, NULL, __ATOMIC_ACQUIRE);
  while (c) {
    umm_block_t *next = c->next;                    /* read before c stops being ours */
    ummi_free_chunk(u, c, 1, FREE_MSG);
    __atomic_fetch_sub(&u->deferred_count, 1, __ATOMIC_RELAXED);
    c = next;
  }
}

void umm_drain(umm_t *u) {
  ummi_drain(u);
  UMM_CHECK_QUIET(u);
}
