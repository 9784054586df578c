/* umm_header.h - the chunk header word: named masks and one-line accessors.
 * The layout is described in umm_types.h. Shared by the core and by layers
 * built on it that decode headers themselves (the preload's fast paths), so
 * there is one definition of the layout and of the CHECK hash. No locks here:
 * the lock protocol lives in heap.c. */
#ifndef UMM_HEADER_H
#define UMM_HEADER_H

#include <stddef.h>
#include <stdint.h>
#include "umm_types.h"

/* ---- header bits --------------------------------------------------------- */
#define HDR_SIZE_MASK   ((uint64_t)0x1fffff)
#define HDR_IN_USE      ((uint64_t)1 << 21)
#define HDR_PREV_FREE   ((uint64_t)1 << 22)
#define HDR_LOCK        ((uint64_t)1 << 23)
#define HDR_DEFERRED    ((uint64_t)1 << 24)
#define HDR_CHECK_SHIFT 25
#define HDR_CHECK_MASK  ((uint64_t)0x7f << HDR_CHECK_SHIFT)
#define HDR_TAG_SHIFT   32
#define HDR_FLAG_MASK   (HDR_IN_USE | HDR_PREV_FREE | HDR_LOCK | HDR_DEFERRED)

#define G               ((size_t)UMM_GRANULE)
#define MIN_G           2u                 /* smallest chunk: header + 2 links + footer = 32 bytes */
#define MAX_G           ((size_t)HDR_SIZE_MASK)

static inline size_t   hdr_size(uint64_t h)      { return (size_t)(h & HDR_SIZE_MASK); }
static inline int      hdr_is_used(uint64_t h)   { return (h & HDR_IN_USE) != 0; }
static inline int      hdr_is_free(uint64_t h)   { return (h & HDR_IN_USE) == 0; }
static inline int      hdr_prev_free(uint64_t h) { return (h & HDR_PREV_FREE) != 0; }
static inline int      hdr_is_locked(uint64_t h) { return (h & HDR_LOCK) != 0; }
static inline int      hdr_is_deferred(uint64_t h) { return (h & HDR_DEFERRED) != 0; }
static inline uint32_t hdr_tags(uint64_t h)      { return (uint32_t)(h >> HDR_TAG_SHIFT); }

/* The CHECK field: (granule number of the header's address ^ size) mod 128,
 * i.e. bits 4..10 of the address xor the size's low 7 bits, with bit 6
 * flipped in a free chunk's header (HDR_CHECK_FREE). A pointer umm never
 * returned (interior, foreign, stale) or a header whose size was overwritten
 * (a 1-byte overflow from the block before) disagrees with it in 127 of 128
 * cases; a size change above the low 7 bits is caught by the successor test
 * (ummi_validate). No multiply: a header is written with a shift, an xor and
 * a mask, and a fast path built over 2 KiB-aligned memory (the preload's
 * arena) that has the granule number x checks it with ((x ^ h) << 25) ^ h,
 * whose CHECK bits are 0 for a good in-use header: a free chunk's flipped
 * bit makes the same test fail, so such a path need not look at IN_USE. */
#define HDR_CHECK_FREE  ((uint64_t)0x40 << HDR_CHECK_SHIFT)
static inline uint64_t hdr_check(const umm_block_t *c, size_t g, uint64_t flags) {
  return (((((uint64_t)(uintptr_t)c >> 4) ^ (uint64_t)g) << HDR_CHECK_SHIFT) & HDR_CHECK_MASK) ^
         ((flags & HDR_IN_USE) ? 0 : HDR_CHECK_FREE);
}
/* A complete header for chunk c of g granules. */
static inline uint64_t hdr_make(const umm_block_t *c, size_t g, uint64_t flags, uint32_t tags) {
  return (uint64_t)g | flags | hdr_check(c, g, flags) | ((uint64_t)tags << HDR_TAG_SHIFT);
}
/* The header left where a chunk was absorbed by a merge: size 0 with
 * DEFERRED and an all-ones CHECK, a combination no live header has (no
 * chunk has size 0 but the end sentinel, which is in use). A constant, so
 * writing it costs no hash. */
#define HDR_DEAD (HDR_DEFERRED | HDR_CHECK_MASK)
static inline int hdr_check_ok(const umm_block_t *c, uint64_t h) {
  return (h & HDR_CHECK_MASK) == hdr_check(c, hdr_size(h), h);
}
/* The successor half of "c is a live block" (c's own header already good,
 * in use): hs, the header of the chunk after c, is a good header, not a
 * dead one, and says "previous in use". A size overwritten above CHECK's 7
 * bits leads to some other word, which passes with CHECK's odds (1 in 128).
 * The caller keeps s below the region's end. Used by the core's
 * ummi_ptr_live and the preload's medium free. */
static inline int hdr_successor_live(const umm_block_t *s, uint64_t hs) {
  return hs != HDR_DEAD && hdr_check_ok(s, hs) && !hdr_prev_free(hs);
}

/* ---- chunk addressing ---------------------------------------------------- */
static inline umm_block_t *chunk_of(const void *p)        { return (umm_block_t *)((char *)(uintptr_t)p - UMM_HEADER_SIZE); }
static inline void        *chunk_payload(umm_block_t *c)  { return (char *)c + UMM_HEADER_SIZE; }
static inline umm_block_t *chunk_at(umm_block_t *c, size_t g) { return (umm_block_t *)((char *)c + g * G); }
static inline umm_block_t **chunk_footer(umm_block_t *c, size_t g) { return (umm_block_t **)((char *)c + g * G - sizeof(void *)); }
/* The footer of the free chunk just before c (valid only while c's lock is
 * held and c's PREV_FREE bit is set). */
static inline umm_block_t *chunk_prev_free(umm_block_t *c) { return *(umm_block_t **)((char *)c - sizeof(void *)); }
static inline size_t       chunk_usable(size_t g)          { return g * G - UMM_HEADER_SIZE; }

static inline uint64_t hdr_load(const umm_block_t *c) { return __atomic_load_n(&c->hdr, __ATOMIC_ACQUIRE); }
static inline uint64_t hdr_peek(const umm_block_t *c) { return __atomic_load_n(&c->hdr, __ATOMIC_RELAXED); }

#endif /* UMM_HEADER_H */
