/* umm.h - the micro memory manager: public API.
 *
 * A region of caller-given memory is split into chunks. Every chunk starts
 * with an 8-byte header (size in 16-byte granules, in-use / previous-free /
 * lock / deferred flags, 32 tag bits). All locking is per chunk (and per free
 * bin) with GCC __atomic try-locks: there is no region-wide mutex, no OS call
 * and no deadlock. See README.md and src/heap.c for the lock protocol.
 *
 * Thread safety: every function may be called from any thread at any time,
 * except umm_check (needs a quiet region: no concurrent calls on it) and the
 * visitor restrictions of umm_walk. The _nowait functions are also safe from
 * a signal handler that interrupted a thread inside the same region.
 */
#ifndef UMM_H
#define UMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* UMM_API marks the public functions; UMM_API_PTR those that need only a
 * block's pointer. The preload (libumm_preload.so) builds the core with
 * UMM_CORE_HIDDEN: a program under it has no umm_t of its own, and names such
 * as umm_init or umm_malloc would otherwise interpose on another library's
 * (the embedded allocator umm_malloc uses them), so it exports only
 * umm_usable_size and umm_tags from this header. */
#if defined(__GNUC__) && !defined(UMM_STATIC_BUILD) && !defined(UMM_CORE_HIDDEN)
#define UMM_API __attribute__((visibility("default")))
#else
#define UMM_API
#endif
#if defined(__GNUC__) && !defined(UMM_STATIC_BUILD)
#define UMM_API_PTR __attribute__((visibility("default")))
#else
#define UMM_API_PTR
#endif

#define UMM_ALIGNMENT  16u                 /* every returned pointer */
#define UMM_GRANULE    16u                 /* unit of the 21-bit size field */
#define UMM_SIZE_BITS  21u                 /* chunk size field, in granules */
#define UMM_TAG_BITS   32u                 /* tag bits kept per block (uint32_t) */
#define UMM_HEADER_SIZE 8u                 /* bytes of header in front of a block */
/* Largest block (usable bytes) one chunk can hold: (2^21 - 1) granules less
 * the header, 33554408 bytes (32 MiB - 24). */
#define UMM_MAX_CHUNK  ((((size_t)1 << UMM_SIZE_BITS) - 1u) * UMM_GRANULE - UMM_HEADER_SIZE)
/* Largest alignment umm_memalign accepts: 16 MiB. */
#define UMM_MAX_ALIGN  ((size_t)1 << 24)
/* Smallest space umm_init accepts. */
#define UMM_MIN_SPACE  ((size_t)4096)

typedef struct umm umm_t;                  /* opaque; lives inside the managed space */

/* ---- set-up -------------------------------------------------------------- */
/* Manage `bytes` of `space`. The umm_t lives at the start of the space.
 * NULL with errno = EINVAL when the space is NULL or smaller than UMM_MIN_SPACE. */
UMM_API umm_t   *umm_init(void *space, size_t bytes);

/* ---- allocation ------------------------------------------------------------ */
/* Waits (retries through the contention callback) when chunks are locked.
 * NULL + ENOMEM when no free chunk fits or size > UMM_MAX_CHUNK. size 0 gives a
 * unique minimum block. Drains deferred frees first. */
UMM_API void    *umm_malloc(umm_t *u, size_t size, uint32_t tags);
/* Never waits: only try-locks, a bounded number of steps. NULL + EAGAIN when
 * contention alone stopped it, NULL + ENOMEM when no free chunk fits. */
UMM_API void    *umm_malloc_nowait(umm_t *u, size_t size, uint32_t tags);
/* Coalesces with free neighbours on both sides. NULL is a no-op. Invalid or
 * double free calls the fatal handler (see umm_on_fatal). Keeps errno. */
UMM_API void     umm_free(umm_t *u, void *p);
/* Lock-free: pushes p onto the region's deferred list; the next waiting call
 * (or umm_drain) merges it. Safe in a signal handler. */
UMM_API void     umm_free_nowait(umm_t *u, void *p);
/* Merge all deferred frees now (waits). */
UMM_API void     umm_drain(umm_t *u);
/* stdlib semantics: shrink in place, grow in place into a free successor,
 * else allocate + copy + free. NULL + ENOMEM with the old block intact on
 * failure. realloc(NULL, n) = malloc(n, tags 0); realloc(p, 0) frees, NULL.
 * The block keeps its tags. */
UMM_API void    *umm_realloc(umm_t *u, void *p, size_t size);
/* Any power-of-two alignment up to UMM_MAX_ALIGN (smaller ones give 16).
 * NULL + EINVAL for a bad alignment, NULL + ENOMEM when nothing fits. */
UMM_API void    *umm_memalign(umm_t *u, size_t alignment, size_t size, uint32_t tags);

/* Batch allocation for caches: carves up to n blocks of `size` bytes (all with
 * `tags`) out of one free chunk in one lock round-trip; returns how many were
 * stored in out[] (0 + ENOMEM/EAGAIN when none). Waits like umm_malloc. */
UMM_API size_t   umm_malloc_batch(umm_t *u, size_t size, uint32_t tags, void **out, size_t n);
/* Frees n blocks of the region (NULLs skipped), like n calls of umm_free but
 * cheaper for blocks that lie next to each other (one coalescing free per
 * run of adjacent blocks). ptrs[] is not changed. */
UMM_API void     umm_free_batch(umm_t *u, void **ptrs, size_t n);

/* ---- block information (no lock; p must be a live block) ------------------ */
UMM_API_PTR size_t   umm_usable_size(const void *p); /* >= the request; 0 for NULL */
UMM_API_PTR uint32_t umm_tags(const void *p);
/* Replace a live block's tags (validated; waits while its lock is held). */
UMM_API void     umm_set_tags(umm_t *u, void *p, uint32_t tags);
/* The same without validation, for allocator layers re-tagging a block they
 * own (e.g. a cached block handed out again): one CAS that expects the lock
 * bit clear (lock, write and unlock in one step); spins while a walker or a
 * neighbour's operation holds the lock. Not for signal handlers. */
UMM_API void     umm_retag(void *p, uint32_t tags);
/* 1 when p looks like a live block of u: inside the region, aligned, header
 * in use (not freed by umm_free_nowait) and consistent with its successor.
 * Cheap; does not lock. umm_owns(u, p) == (umm_ptr_state(u, p) == UMM_PTR_LIVE). */
UMM_API int      umm_owns(umm_t *u, const void *p);
/* What p is to u, read from its header and its successor's (no lock, nothing
 * written; p may be any value), the diagnosis behind free's and realloc's
 * messages: a live block; freed (a free chunk, one freed by
 * umm_free_nowait, or a chunk start a merge absorbed: a double free);
 * corrupt (its header was overwritten: a size byte, or a size that does not
 * lead to a valid next header); invalid (anything else). */
enum { UMM_PTR_LIVE = 0, UMM_PTR_INVALID = 1, UMM_PTR_FREED = 2, UMM_PTR_CORRUPT = 3 };
UMM_API int      umm_ptr_state(umm_t *u, const void *p);

/* ---- walking --------------------------------------------------------------- */
#define UMM_CHUNK_DEFERRED 1u              /* umm_chunk_t.flags: freed by umm_free_nowait, not yet merged */
/* Reserved for layers above the core (the preload's umm_heap_walk, see
 * include/umm_debug.h); the core never sets them. */
#define UMM_CHUNK_CACHED 0x100u            /* in a thread cache: free from the program's view (in_use is 0) */
#define UMM_CHUNK_LARGE  0x200u            /* a large block (its own mapping), listed after the regions */
typedef struct umm_chunk {
  void    *ptr;                            /* first payload byte (16-aligned) */
  size_t   size;                           /* usable bytes */
  uint32_t tags;                           /* tags given at allocation (0 for free chunks) */
  int      in_use;                         /* 1 allocated (or deferred), 0 free */
  unsigned flags;                          /* UMM_CHUNK_* */
} umm_chunk_t;
/* Return non-zero to stop the walk. */
typedef int (*umm_visit_fn)(const umm_chunk_t *chunk, void *arg);
/* What a walk returns when it did not visit every chunk and no visitor
 * stopped it (visitors that stop a walk should return positive values, to be
 * told apart from these). */
#define UMM_WALK_BUSY    (-1)              /* umm_walk_nowait: a chunk was locked */
#define UMM_WALK_CORRUPT (-2)              /* a header that is not one (an overflow from the block before) */
/* Visits every chunk in address order, hand-over-hand, with its lock held so
 * its content and tags are stable during the visit. The visitor must not
 * allocate, free or walk in the same region (it would wait on a lock the walk
 * holds). Returns 0 when every chunk was visited, else the visitor's value,
 * or UMM_WALK_CORRUPT when the next header is not a header (its size leads
 * out of the region or its CHECK bits do not match): umm_check then counts
 * the damage. A corrupted header that still looks valid but has its lock bit
 * set makes the walk wait for good. */
UMM_API int      umm_walk(umm_t *u, umm_visit_fn visit, void *arg);
/* Same, but never waits: gives up (returns UMM_WALK_BUSY) at the first busy
 * lock. Returns the visitor's non-zero value if it stopped the walk. */
UMM_API int      umm_walk_nowait(umm_t *u, umm_visit_fn visit, void *arg);
/* Number of invariant violations (0 = healthy). Needs a quiet region: no
 * concurrent calls on u while it runs. */
UMM_API int      umm_check(umm_t *u);

/* ---- statistics and policy -------------------------------------------------- */
typedef struct umm_stats {
  size_t   chunks;                         /* chunks between the sentinels */
  size_t   free_chunks;                    /* of which free */
  size_t   bytes_in_use;                   /* usable bytes of in-use chunks (deferred included) */
  size_t   bytes_free;                     /* usable bytes of free chunks */
  size_t   largest_free;                   /* usable bytes of the largest free chunk */
  size_t   deferred;                       /* frees waiting on the deferred list */
  uint64_t contention;                     /* failed try-locks since umm_init */
  size_t   bytes_total;                    /* bytes managed (chunks incl. headers) */
} umm_stats_t;
/* Walks the region (waiting walk). */
UMM_API void     umm_get_stats(umm_t *u, umm_stats_t *out);
/* Called after every failed lock round of a waiting call. Every lock of the
 * call is released then, except in the two hand-over-hand walks (umm_walk, and
 * umm_memalign's search of the region for an aligned spot when over-allocating
 * cannot serve it), which hold the chunk they stand on while they wait for the
 * next one. So the callback may pause, yield or sleep, and must not allocate
 * or free in u. Default: a CPU pause instruction. NULL restores the default. */
UMM_API void     umm_on_contention(umm_t *u, void (*backoff)(umm_t *u, void *arg), void *arg);
/* Process-wide handler for fatal errors (invalid pointer, double free, broken
 * invariant): msg is a short constant text such as "free(): double free",
 * ptr the offending address. It must not return (abort). Default: trap. */
UMM_API void     umm_on_fatal(void (*handler)(const char *msg, const void *ptr));

#ifdef __cplusplus
}
#endif
#endif /* UMM_H */
