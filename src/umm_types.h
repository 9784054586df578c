/* umm_types.h - every internal type of the core, one comment per field.
 *
 * Chunk header: one 64-bit word in front of every block, read and written only
 * with __atomic builtins. Bits are named masks with one-line accessors in
 * umm_internal.h, never C bitfields (their layout is implementation-defined and
 * a bitfield store would race with the lock CAS on the same word).
 *
 *   bit  0..20  size of the whole chunk (header included) in 16-byte granules
 *   bit  21     IN_USE     allocated (or deferred); clear = free and indexed
 *   bit  22     PREV_FREE  the chunk just before this one is free; its last
 *                          8 bytes (the footer) then point at its header
 *   bit  23     LOCK       the chunk's micro lock
 *   bit  24     DEFERRED   being freed: on the deferred stack (umm_free_nowait)
 *                          or a tail that realloc/memalign is giving back
 *   bit  25..31 CHECK      (address bits 4..10) ^ (size bits 0..6): catches
 *                          pointers that umm never returned (interior, foreign)
 *                          and overwritten sizes cheaply (umm_header.h)
 *   bit  32..63 TAGS       the block's tags (0 while free)
 *
 * Layout of a region (umm_init):
 *   [struct umm][start sentinel][chunks ...]([separator][chunks ...])*[end sentinel]
 * The start sentinel and the separators are 1-granule in-use chunks (no
 * other chunk is that small); a separator follows every MAX_G granules so
 * no chunk or merge ever needs more than the 21-bit size field.
 * Headers sit at addresses = 8 (mod 16) so payloads are 16-aligned. The end
 * sentinel is a header of size 0, forever in use; its own 8 bytes belong to
 * the space too. A free chunk keeps in its payload the bin links (next, prev)
 * and, in its last 8 bytes, the footer: a pointer to its own header.
 */
#ifndef UMM_TYPES_H
#define UMM_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include "umm.h"

#define UMMI_CACHE_LINE 64
#define UMMI_DEFER_SLOTS 30u               /* see umm_free_nowait (free.c) */

/* A chunk as seen through its header. next/prev are payload bytes: they mean
 * something only while the chunk is free (bin links) or deferred (stack). */
typedef struct umm_block {
  uint64_t          hdr;                   /* header word (see above); atomic access only */
  struct umm_block *next;                  /* free: next chunk in its bin (bin lock); deferred: next on the stack */
  struct umm_block *prev;                  /* free: previous chunk in its bin, undefined at the head (bin lock) */
} umm_block_t;

/* Size classes of the free index (TLSF-like, in granules g >= 2):
 *   g < 32           : bin g (exact sizes up to 496-byte chunks)
 *   g >= 32          : fl = floor(log2 g) (5..20), 8 linear subdivisions
 *                      bin = 32 + (fl - 5) * 8 + ((g >> (fl - 3)) & 7)            */
#define UMMI_EXACT_BINS 32u
#define UMMI_SL_LOG2    3u
#define UMMI_NBINS      (UMMI_EXACT_BINS + (21u - 5u) * 8u)   /* 160 */
#define UMMI_MAP_WORDS  (UMMI_NBINS / 8u)                       /* 20: the byte map read a word at a time */

/* The region's control block; lives at the start of the managed space. */
struct umm {
  uint64_t     magic;                      /* UMMI_MAGIC while initialised */
  char        *first;                      /* first real chunk (after the start sentinel) */
  umm_block_t *start;                      /* start sentinel header */
  umm_block_t *end;                        /* end sentinel header (size 0, in use) */
  size_t       bytes;                      /* bytes from start sentinel to end sentinel + 8 */
  void       (*backoff)(umm_t *u, void *arg); /* contention callback (never NULL) */
  void        *backoff_arg;                /* its argument */
  uint64_t     initial_free;               /* granules free right after umm_init */
  unsigned     walkers;                    /* walks in progress (atomic; walk.c): 0 lets umm_free_batch fuse a run
                                              without locking its inner chunks (free.c) */
  union {
    uint8_t    byte[UMMI_NBINS];           /* byte b == 1 <=> bins[b] non-empty (plain atomic store under bin b's lock) */
    uint64_t   word[UMMI_MAP_WORDS];       /* the same bytes, read 8 at a time by searches (atomic load, a hint) */
  }            nonempty;
  uintptr_t    bins[UMMI_NBINS];           /* bin list head | 1 when the bin's lock is held (atomic) */
  /* Written by many threads from different paths: own cache lines. */
  umm_block_t *deferred __attribute__((aligned(UMMI_CACHE_LINE))); /* lock-free stack of deferred frees (CAS push, exchange drain) */
  size_t       deferred_count;             /* nowait frees not yet drained, stack and slots (atomic add/sub) */
  umm_block_t *deferred_slot[UMMI_DEFER_SLOTS]; /* nowait frees of chunks whose lock was busy (CAS into a NULL slot, exchange out) */
  uint64_t     contention __attribute__((aligned(UMMI_CACHE_LINE))); /* failed try-locks (relaxed atomic add) */
};

#endif /* UMM_TYPES_H */
