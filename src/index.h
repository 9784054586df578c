#ifndef UMM_INDEX_H
#define UMM_INDEX_H
/* index.h - the free index: segregated bins with a bitmap of non-empty bins.
 *
 * Each bin is one word: the head of a doubly linked list of free chunks, with
 * bit 0 as the bin's micro lock. The links live in the free chunks' payloads
 * (umm_block_t.next/prev) and are read or written only under the bin's lock.
 * A bin lock is a leaf (see heap.c): held only while linking or unlinking and
 * while try-locking a chunk found in the bin, never while waiting.
 * The bitmap bit of bin b changes only under bin b's lock, with an atomic
 * or/and (several bins share a word); searches read it without a lock, as a
 * hint that the bin's lock then confirms. */

#define BIN_LOCK ((uintptr_t)1)
/* ummi_contended is declared by umm_internal.h before this header. */

static inline unsigned ummi_bin_of(size_t g) {
  if (g < UMMI_EXACT_BINS) return (unsigned)g;
  unsigned fl = 63u - (unsigned)__builtin_clzll((unsigned long long)g);
  unsigned sl = (unsigned)(g >> (fl - UMMI_SL_LOG2)) & ((1u << UMMI_SL_LOG2) - 1u);
  return UMMI_EXACT_BINS + (fl - 5u) * (1u << UMMI_SL_LOG2) + sl;
}

static inline size_t ummi_bin_floor(unsigned b) {
  if (b < UMMI_EXACT_BINS) return b;
  unsigned fl = 5u + (b - UMMI_EXACT_BINS) / (1u << UMMI_SL_LOG2);
  unsigned sl = (b - UMMI_EXACT_BINS) % (1u << UMMI_SL_LOG2);
  return ((size_t)((1u << UMMI_SL_LOG2) + sl)) << (fl - UMMI_SL_LOG2);
}

static inline int ummi_bin_trylock(umm_t *u, unsigned b) {
  uintptr_t v = __atomic_load_n(&u->bins[b], __ATOMIC_RELAXED);
  if ((v & BIN_LOCK) ||
      !__atomic_compare_exchange_n(&u->bins[b], &v, v | BIN_LOCK, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    ummi_contended(u);
    return 0;
  }
  return 1;
}

static inline void ummi_bin_unlock(umm_t *u, unsigned b) {
  uintptr_t v = __atomic_load_n(&u->bins[b], __ATOMIC_RELAXED);   /* only the holder writes it */
  UMM_ASSERT(v & BIN_LOCK);
  __atomic_store_n(&u->bins[b], v & ~BIN_LOCK, __ATOMIC_RELEASE);
}

static inline umm_block_t *ummi_bin_head_locked(umm_t *u, unsigned b) {
  uintptr_t v = __atomic_load_n(&u->bins[b], __ATOMIC_RELAXED);
  UMM_ASSERT(v & BIN_LOCK);
  return (umm_block_t *)(v & ~BIN_LOCK);
}

static inline void bin_set_head_locked(umm_t *u, unsigned b, umm_block_t *c) {
  __atomic_store_n(&u->bins[b], (uintptr_t)c | BIN_LOCK, __ATOMIC_RELAXED);
}

static inline void ummi_bin_link_locked(umm_t *u, unsigned b, umm_block_t *c) {
  umm_block_t *head = ummi_bin_head_locked(u, b);
  UMM_ASSERT(hdr_is_free(hdr_peek(c)) && ummi_bin_of(hdr_size(hdr_peek(c))) == b);
  ummi_meta_set(&c->next, head);
  ummi_meta_set(&c->prev, NULL);
  if (head) ummi_meta_set(&head->prev, c);
  else __atomic_fetch_or(&u->bitmap[b / 64u], (uint64_t)1 << (b % 64u), __ATOMIC_RELAXED);
  bin_set_head_locked(u, b, c);
}

static inline void ummi_bin_unlink_locked(umm_t *u, unsigned b, umm_block_t *c) {
  UMM_ASSERT(ummi_bin_of(hdr_size(hdr_peek(c))) == b);
  umm_block_t *cn = ummi_meta_get(&c->next), *cp = ummi_meta_get(&c->prev);
  if (cp) ummi_meta_set(&cp->next, cn);
  else { UMM_ASSERT(ummi_bin_head_locked(u, b) == c); bin_set_head_locked(u, b, cn); }
  if (cn) ummi_meta_set(&cn->prev, cp);
  if (ummi_bin_head_locked(u, b) == NULL)
    __atomic_fetch_and(&u->bitmap[b / 64u], ~((uint64_t)1 << (b % 64u)), __ATOMIC_RELAXED);
#if UMM_DEBUG
  ummi_meta_set(&c->next, (umm_block_t *)(uintptr_t)0xdeadull);  /* stale links fault loudly */
  ummi_meta_set(&c->prev, (umm_block_t *)(uintptr_t)0xdeadull);
#endif
}

static inline int ummi_bin_next_nonempty(umm_t *u, unsigned from) {
  for (unsigned w = from / 64u; w < UMMI_BITMAP_WORDS; w++) {
    uint64_t bits = __atomic_load_n(&u->bitmap[w], __ATOMIC_RELAXED);
    if (w == from / 64u) bits &= ~(uint64_t)0 << (from % 64u);
    if (bits) return (int)(w * 64u + (unsigned)__builtin_ctzll(bits));
  }
  return -1;
}

#endif /* UMM_INDEX_H */
