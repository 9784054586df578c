#ifndef UMM_INDEX_H
#define UMM_INDEX_H
/* index.h - the free index: segregated bins with a map of non-empty bins.
 *
 * Each bin is one word: the head of a doubly linked list of free chunks, with
 * bit 0 as the bin's micro lock. The links live in the free chunks' payloads
 * (umm_block_t.next/prev) and are read or written only under the bin's lock.
 * A bin lock is a leaf (see heap.c): held only while linking or unlinking and
 * while try-locking a chunk found in the bin, never while waiting.
 * The map has one byte per bin, so that a bin's byte is written with a plain
 * (atomic) store under that bin's lock and never needs a locked
 * read-modify-write, as a bitmap shared by 64 bins would; searches read it 8
 * bins at a time without a lock, as a hint that the bin's lock then
 * confirms. Linking and unlinking are branch-free (a bin that fills and
 * empties at random would otherwise mispredict on each): the link a missing
 * neighbour would get is written into the moving chunk's own prev word
 * instead, which means nothing at that moment (a head's prev is undefined,
 * an unlinked chunk's links are dead). */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "index.h: ummi_bin_next_nonempty reads the byte map as little-endian words"
#endif

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

/* Take bin b's lock; a failure is not counted (the caller counts it, so that
 * a fast path that makes no call stays a leaf function: no stack frame). */
static inline int ummi_bin_trylock_quiet(umm_t *u, unsigned b) {
  uintptr_t v = __atomic_load_n(&u->bins[b], __ATOMIC_RELAXED);
  return !(v & BIN_LOCK) &&
         __atomic_compare_exchange_n(&u->bins[b], &v, v | BIN_LOCK, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}
static inline int ummi_bin_trylock(umm_t *u, unsigned b) {
  if (!ummi_bin_trylock_quiet(u, b)) { ummi_contended(u); return 0; }
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

static inline void bin_mark_locked(umm_t *u, unsigned b, umm_block_t *head) {
  __atomic_store_n(&u->nonempty.byte[b], (uint8_t)(head != NULL), __ATOMIC_RELAXED);
}

/* A bin is a doubly linked list whose head's prev link is left undefined:
 * whether c is the head is told by the bin word, so making a chunk the head
 * (link) or popping the head writes no prev link into it (at a few million
 * live chunks each such store is a likely cache miss, paid in full at the
 * next locked instruction). */
static inline void bin_link_links_locked(umm_t *u, unsigned b, umm_block_t *c) {
  umm_block_t *head = ummi_bin_head_locked(u, b);
  UMM_ASSERT(hdr_is_free(hdr_peek(c)) && ummi_bin_of(hdr_size(hdr_peek(c))) == b);
  ummi_meta_set(&c->next, head);
  ummi_meta_set(head ? &head->prev : &c->prev, c);
  bin_mark_locked(u, b, c);
}
static inline void ummi_bin_link_locked(umm_t *u, unsigned b, umm_block_t *c) {
  bin_link_links_locked(u, b, c);
  bin_set_head_locked(u, b, c);
}
/* ummi_bin_link_locked then ummi_bin_unlock in one store: the new head,
 * unlocked, released after the links and the map byte (the separate head
 * store and unlock cost 3 instructions and a store-to-load forward). */
static inline void ummi_bin_link_unlock(umm_t *u, unsigned b, umm_block_t *c) {
  bin_link_links_locked(u, b, c);
  __atomic_store_n(&u->bins[b], (uintptr_t)c, __ATOMIC_RELEASE);
}

/* Unlink c, the head of bin b: its successor, which becomes the head. */
static inline umm_block_t *bin_pop_links_locked(umm_t *u, unsigned b, umm_block_t *c) {
  UMM_ASSERT(ummi_bin_of(hdr_size(hdr_peek(c))) == b && ummi_bin_head_locked(u, b) == c);
  umm_block_t *cn = ummi_meta_get(&c->next);
  bin_mark_locked(u, b, cn);
#if UMM_DEBUG
  ummi_meta_set(&c->next, (umm_block_t *)(uintptr_t)0xdeadull);  /* stale links fault loudly */
  ummi_meta_set(&c->prev, (umm_block_t *)(uintptr_t)0xdeadull);
#endif
  return cn;
}
static inline void ummi_bin_pop_locked(umm_t *u, unsigned b, umm_block_t *c) {
  bin_set_head_locked(u, b, bin_pop_links_locked(u, b, c));
}
/* ummi_bin_pop_locked then ummi_bin_unlock in one store (as above). */
static inline void ummi_bin_pop_unlock(umm_t *u, unsigned b, umm_block_t *c) {
  __atomic_store_n(&u->bins[b], (uintptr_t)bin_pop_links_locked(u, b, c), __ATOMIC_RELEASE);
}

static inline void ummi_bin_unlink_locked(umm_t *u, unsigned b, umm_block_t *c) {
  UMM_ASSERT(ummi_bin_of(hdr_size(hdr_peek(c))) == b);
  if (ummi_bin_head_locked(u, b) == c) { ummi_bin_pop_locked(u, b, c); return; }
  umm_block_t *cn = ummi_meta_get(&c->next), *cp = ummi_meta_get(&c->prev);
  ummi_meta_set(&cp->next, cn);
  ummi_meta_set(cn ? &cn->prev : &c->prev, cp);
#if UMM_DEBUG
  ummi_meta_set(&c->next, (umm_block_t *)(uintptr_t)0xdeadull);
  ummi_meta_set(&c->prev, (umm_block_t *)(uintptr_t)0xdeadull);
#endif
}

static inline int ummi_bin_nonempty(umm_t *u, unsigned b) {
  return __atomic_load_n(&u->nonempty.byte[b], __ATOMIC_RELAXED) != 0;
}

static inline int ummi_bin_next_nonempty(umm_t *u, unsigned from) {
  for (unsigned w = from / 8u; w < UMMI_MAP_WORDS; w++) {
    uint64_t bytes = __atomic_load_n(&u->nonempty.word[w], __ATOMIC_RELAXED);
    if (w == from / 8u) bytes &= ~(uint64_t)0 << (from % 8u * 8u);
    if (bytes) return (int)(w * 8u + (unsigned)__builtin_ctzll(bytes) / 8u);
  }
  return -1;
}

#endif /* UMM_INDEX_H */
