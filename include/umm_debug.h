/* umm_debug.h - the debug heap of libumm_preload.so: tags, heap walk, check
 * and dumps (see README.md "Debug heap").
 *
 * Every function is declared weak: a program that includes this header runs
 * with or without the preload; test the symbol before calling it:
 *     if (umm_tag_push) umm_tag_push(7);
 * (without LD_PRELOAD=libumm_preload.so the symbols are NULL).
 *
 * Tags (32 bits per block): 0 untagged; 1 .. 0x7fffffff program tags;
 * tags with the top bit set are automatic (UMM_TAG=thread / site) and are
 * named by umm_dump. */
#ifndef UMM_DEBUG_H
#define UMM_DEBUG_H

#include <stdint.h>
#include "umm.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef UMM_DEBUG_WEAK
#define UMM_DEBUG_WEAK __attribute__((weak))
#endif

/* umm_chunk_t.flags bits added by umm_heap_walk (beside UMM_CHUNK_DEFERRED). */
#define UMM_CHUNK_CACHED 0x100u            /* in a thread cache: free from the program's view (in_use is 0) */
#define UMM_CHUNK_LARGE  0x200u            /* a large block (its own mapping), listed after the regions */

#define UMM_TAG_AUTO     0x80000000u       /* automatic tags have this bit; program tags never */

/* This thread's following allocations get `tag` (the top bit is ignored)
 * until the matching umm_tag_pop; program tags take precedence over UMM_TAG.
 * Nest up to 16 deep (deeper pushes share the 16th). Not for signal
 * handlers. While a tag is pushed, malloc takes the tagging path (slower). */
extern void     umm_tag_push(uint32_t tag) UMM_DEBUG_WEAK;
extern void     umm_tag_pop(void) UMM_DEBUG_WEAK;
/* The tag of a live block (0 for NULL, an interior pointer, a block the core
 * has back, or a pointer umm does not know). A block freed into a thread cache
 * is still a chunk in use for the core and keeps its last tag. */
extern uint32_t umm_tag_of(const void *p) UMM_DEBUG_WEAK;

/* Visit every chunk of every region (umm_walk, address order) and then every
 * large block. Blocks in thread caches are reported with in_use 0 and
 * UMM_CHUNK_CACHED; large blocks with UMM_CHUNK_LARGE. The visitor runs
 * with a chunk lock held: it must not free the visited block; allocations it
 * makes are served by the allocator's re-entrant path (no deadlock). Returns
 * 0, the visitor's non-zero value, or UMM_WALK_CORRUPT (umm.h) when a header
 * damaged by an overflow stopped a region's walk. */
extern int      umm_heap_walk(umm_visit_fn visit, void *arg) UMM_DEBUG_WEAK;
/* The core checker (umm_check) over every region: total invariant
 * violations, 0 = healthy. Needs a quiet heap (no other thread allocating or
 * freeing meanwhile), else it may report false violations. */
extern int      umm_heap_check(void) UMM_DEBUG_WEAK;
/* Write a dump of the heap to fd: format "text", "json" (live blocks grouped
 * by tag with counts, bytes, smallest, largest, example addresses; totals;
 * free, cached, deferred bytes; per-region fragmentation). Never calls
 * malloc. "svg": a heap map (see README). 0, or -1 for an unknown format.
 * Not async-signal-safe (it may call dladdr): for dumps on a signal use
 * UMM_DUMP_SIGNAL, which writes the dump at the next allocator call. */
extern int      umm_dump(int fd, const char *format) UMM_DEBUG_WEAK;

#ifdef __cplusplus
}
#endif
#endif /* UMM_DEBUG_H */
