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

/* Lock-free: push the chunk on the deferred stack (CAS). When its lock is
 * free it is first marked DEFERRED (walkers then report it as such, and a
 * second free of it is caught); when busy (a neighbour, a walker, or the very
 * thread this signal handler interrupted holds it) the mark is skipped: the
 * stack alone carries the free, never a wait. */
void umm_free_nowait(umm_t *u, void *p) {
  if (!p) return;
  umm_block_t *c = ummi_validate(u, p, FREE_MSG);
  uint64_t h;
  if (chunk_trylock(c, &h)) {
    if (ummi_unlikely(hdr_is_free(h) || hdr_is_deferred(h))) { chunk_unlock_store(c, h); ummi_fatal(FREE_MSG[1], p); }
    chunk_unlock_store(c, h | HDR_DEFERRED);
  } else {
    ummi_contended(u);
    h = hdr_peek(c);
    if (ummi_unlikely(hdr_is_free(h) || hdr_is_deferred(h))) ummi_fatal(FREE_MSG[1], p);
  }
  umm_block_t *head = __atomic_load_n(&u->deferred, __ATOMIC_RELAXED);
  do {
    c->next = head;
  } while (!__atomic_compare_exchange_n(&u->deferred, &head, c, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
  __atomic_fetch_add(&u->deferred_count, 1, __ATOMIC_RELAXED);
}

void ummi_drain(umm_t *u) {
  umm_block_t *c = __atomic_exchange_n(&u->deferred, NULL, __ATOMIC_ACQUIRE);
  size_t n = 0;
  while (c) {
    umm_block_t *next = c->next;                    /* read before c stops being ours */
    ummi_free_chunk(u, c, 1, FREE_MSG);
    c = next;
    n++;
  }
  if (n) __atomic_fetch_sub(&u->deferred_count, n, __ATOMIC_RELAXED);
}

void umm_drain(umm_t *u) {
  ummi_drain(u);
  UMM_CHECK_QUIET(u);
}
