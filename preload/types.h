/* types.h - every type of the malloc replacement (libumm_preload.so), one
 * comment per field, and the constants that size them. */
#ifndef UMMP_TYPES_H
#define UMMP_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include "umm.h"

/* ---- chunk header: decoded with the core's own masks and accessors
 * (src/umm_header.h: hdr_size, hdr_is_used, hdr_check_ok, chunk_of, ...). */
#include "umm_header.h"

/* ---- thread cache ----------------------------------------------------------
 * Bins are indexed by chunk size in granules g (2..UMMP_MAX_GRAN): a block of
 * g granules has 16 g - 8 usable bytes. 65 granules = 1032 usable bytes. */
#define UMMP_MIN_GRAN   2u
#define UMMP_MAX_GRAN   65u
#define UMMP_NBINS      (UMMP_MAX_GRAN + 1u)
#define UMMP_SMALL_MAX  ((size_t)UMMP_MAX_GRAN * UMM_GRANULE - UMM_HEADER_SIZE)
#define UMMP_BATCH_MAX  64u                /* most blocks moved per refill or flush */
#define UMMP_SLOW_START 4u                 /* a thread's first refills of a bin take 4, 8, 16, 32 blocks at most */
_Static_assert(UMMP_MIN_GRAN == MIN_G, "thread-cache bins start at the core's smallest chunk");

/* Adaptive small-bin limits (policy at the top of cache.c): a bin's limit
 * starts at ummp_g.limit[g] (half a batch) and doubles on each overflow up to
 * UMMP_BIN_CAP bytes; the limits of one thread add up to UMMP_THREAD_CAP
 * bytes at most (the largest bin is halved to make room). */
#define UMMP_BIN_CAP    ((size_t)2048 << 10)     /* was 128 KiB (python3 0.576 -> 0.516 s), then 512 KiB. 128 KiB again would take
                                                    realloc's peak RSS 2.02 -> 1.43x glibc and lua's 1.28 -> 1.10x, but
                                                    python3's slow-path mallocs 105k -> 577k (UMM_STATS misses) and
                                                    its time ~1.0 -> 1.16x glibc (make bench, 2026-11-27): kept. 512 KiB
                                                    -> 2 MiB: python3's GC frees ~4 MB of 64-B chunks at once, and its
                                                    bin flushed 842k blocks (a seventh of its frees) to the core and
                                                    refilled them 125k times, 6.8 blocks a refill; see UMMP_CACHE_CAP */
#define UMMP_THREAD_CAP ((size_t)8 << 20)        /* growth above the starting limits (which add up to about 256 KiB); was 1 MiB: python3 0.576 -> 0.516 s (glibc 0.573), RSS not higher; then 4 MiB (see UMMP_CACHE_CAP) */
/* Growth every thread may have on its own (the per-thread cap before the
 * pool); above it, up to UMMP_THREAD_CAP, a thread's growth is its share of
 * a pool of UMMP_CACHE_CAP for all threads together (cache.c, "the pool"),
 * as tcmalloc's overall thread-cache budget (32 MiB by default). So no
 * thread holds less than before and all threads together at most 32 MiB
 * more. With 8 MiB per thread (was 4 MiB) and 2 MiB per bin (was 512
 * KiB), python3's and lua's GC cycles, which free more 48-64 B blocks at
 * once than a 512 KiB bin holds, send fewer blocks through the core.
 * cachegrind, alloc_heavy.py 0.3 / tables.lua 0.5: instructions -3.9 % /
 * -3.2 %, LL write misses -12 % / -16 %, LL read misses +2.5 % / -8.5 %;
 * bench/run, 11 runs, medians vs glibc: python 0.94 -> 0.93, lua 1.01 ->
 * 0.97, peak RSS 14.9 -> 14.4 MB and 7.0 -> 6.9 MB. */
#define UMMP_THREAD_BASE ((size_t)4 << 20)
#define UMMP_CACHE_CAP  ((size_t)32 << 20)

/* Medium classes (cache.c): chunks of UMMP_MAX_GRAN+1 .. UMMP_MED_TOP_GRAN
 * granules, 8 classes per power of two (nominal sizes 72, 80, 88, ... 128,
 * 144, ... 2048 granules, chunks 4 granules less: UMMP_MED_COLOR); a request is rounded up to its class's chunk
 * (at most 12.5 % more; 4 classes per octave wasted up to 25 %: sqlite's
 * ~4.3 KiB pages took 5 KiB chunks, 7 MiB more RSS than glibc at 400k rows).
 * Served and filled by the slow paths only. */
#define UMMP_MED_LOG2   11u                /* log2 of the largest class chunk in granules (2048 = 32 KiB) */
#define UMMP_MED_MAX_GRAN (1u << UMMP_MED_LOG2)
#define UMMP_MED_SUB_LOG2 3u               /* log2 of the classes per octave */
/* A class's chunk is its nominal size (a multiple of 128 .. 2048 bytes) less
 * one 64-byte cache line, so it spans an odd number of lines. Blocks of a
 * class carved one after another then start at every line offset of a
 * cache way in turn instead of one in 8 .. 32: with whole-nominal chunks,
 * sqlite's page buffers (4104 and 4368 B, in the 4608-B class: 72 lines)
 * put their headers and trailing page structures into 1/8 of the cache
 * sets. cachegrind (1 MiB 16-way LL, sqlite 100k rows): LL misses 2.41 M
 * against glibc's 1.88 M, sqlite3BtreeTableMoveto's 858 k against 581 k. */
#define UMMP_MED_COLOR  4u                 /* granules taken off each class's nominal chunk */
#define UMMP_MED_TOP_GRAN (UMMP_MED_MAX_GRAN - UMMP_MED_COLOR)   /* the largest class chunk, granules */
#define UMMP_NMED       ((UMMP_MED_LOG2 - 6u) << UMMP_MED_SUB_LOG2)   /* 40 classes: octaves (64,128] .. (1024,2048] granules */
_Static_assert(UMMP_NMED <= 256, "ummp_g.mcls holds a medium class in a byte");
#define UMMP_MED_CAP    ((size_t)16 << 10) /* bytes a medium class may hold per thread (at least 2 blocks) */
#define UMMP_MED_BATCH  1u                 /* most blocks per medium refill (1: the core's best fit, see cache.c) */

/* Thread states (ummp_tls_t.state). */
#define UMMP_T_NEW   0u                    /* never set up: every call takes the slow path once */
#define UMMP_T_LIVE  1u                    /* cache in use */
#define UMMP_T_DEAD  2u                    /* after the thread-exit flush: no cache, straight to the core */

/* ---- tags (tag.c) -------------------------------------------------------------
 * A block's 32 core tag bits say who made it. Program tags (umm_tag_push) are
 * 1..0x7fffffff; automatic tags have the top bit set; 0 is "untagged". */
#define UMMP_TAG_NONE    0                 /* UMM_TAG=none: blocks get tag 0 */
#define UMMP_TAG_THREAD  1                 /* UMM_TAG=thread (default): the allocating thread's serial */
#define UMMP_TAG_SITE    2                 /* UMM_TAG=site: the call site (return address) */
#define UMMP_TAG_AUTO    0x80000000u       /* automatic tags: top bit set */
#define UMMP_TAG_KIND    0xc0000000u       /* mask of the kind bits */
#define UMMP_TAGK_SITE   0x80000000u       /* site tag: low bits = site-table slot */
#define UMMP_TAGK_THREAD 0xc0000000u       /* thread tag: low bits = thread serial (1, 2, ...) */
#define UMMP_SITE_LOG2   17u               /* site table: 2^17 slots (1 MiB, lazily backed) */
#define UMMP_SITE_MAX    98304u            /* sites kept (75 % load); later sites share the overflow tag */
#define UMMP_TAG_OVERFLOW (UMMP_TAGK_SITE | (1u << UMMP_SITE_LOG2))  /* site beyond the table */
#define UMMP_SITE_PROBES 64u               /* longest probe sequence; longer: overflow tag */
#define UMMP_SITE_CACHE  256u              /* per-thread direct-mapped cache of recent sites */
#define UMMP_TAG_STACK   16u               /* program tags kept per thread (deeper pushes repeat the 16th) */

/* Per-thread state: a zero-initialised initial-exec TLS variable. The fast
 * paths touch only the fields before `busy` (all zero until the thread is
 * set up, which sends every call to the slow path). A bin is used only
 * through its gate (internal.h), which also counts its room. */
typedef struct ummp_tls {
  uint32_t  gate[UMMP_NBINS];              /* bin g's gate: open with room r (pushes a free may still make) = OPEN + r;
                                              held: small; off: UMMP_GATE_OFF (internal.h); 0 until the thread is set up. First: the
                                              fast paths address it with no displacement */
  void     *bin[UMMP_NBINS];               /* cached blocks of g granules: encoded links in word 0, cookie in word 1; UMMP_END-terminated (internal.h) */
  uint64_t  pops[UMMP_NBINS];              /* mallocs served from bin g by the fast path (the cache hits) */
  uintptr_t base16;                        /* copy of ummp_g.base16 (0 until set up) */
  size_t    lim_rot;                       /* copy of ummp_g.lim_rot, refreshed by slow paths (0 until set up) */
  uint64_t  secret;                        /* copy of ummp_g.secret */
  unsigned char cls[UMMP_SMALL_MAX + 1];   /* bin of a request of n bytes (a TLS copy of a constant table: saves the
                                              fast path the table's address computation) */
  unsigned char busy;                      /* nesting of slow paths in progress on this thread */
  unsigned char state;                     /* UMMP_T_NEW / UMMP_T_LIVE / UMMP_T_DEAD */
  unsigned char forking;                   /* 1 while this thread runs the fork prepare handler (bypasses the fork gate) */
  unsigned char initing;                   /* 1 while this thread runs ummp_init (re-entry gets ENOMEM) */
  uint32_t  home;                          /* index of the region this thread allocates from */
  uint32_t  ncont;                         /* contention callbacks during the current core call */
  uint32_t  cscore;                        /* recent contention at home: decaying sum of ncont over core calls (arena.c) */
  uint32_t  shared_depth;                  /* nesting of fork-gate sections counted in the shared counter (no slot) */
  struct ummp_slot *slot;                  /* fork-gate slot owned by this thread, NULL when none */
  uint64_t  misses;                        /* mallocs that took the slow path */
  uint64_t  slow_ops;                      /* slow-path calls (the purge clock is read every UMMP_TICK of them) */
  uint64_t  now_ms;                        /* last clock reading of this thread (ms) */
  uint32_t  cur_tag;                       /* tag of the allocation a slow path is serving (core calls and large blocks use it) */
  uint32_t  thread_tag;                    /* UMMP_TAGK_THREAD | this thread's serial (0 until set up) */
  uint32_t  tag_depth;                     /* program tags pushed and not yet popped (umm_tag_push / umm_tag_pop) */
  uint32_t  tag_stack[UMMP_TAG_STACK];     /* the pushed program tags, innermost at tag_depth - 1 */
  uint16_t  lim[UMMP_NBINS];              /* this thread's limit of bin g (blocks): adaptive, see cache.c */
  unsigned char nref[UMMP_NBINS];          /* refills of bin g so far, up to UMMP_SLOW_START (slow start, cache.c) */
  unsigned char cyc[UMMP_NBINS];           /* bin g's free/alloc cycles: bit 7 = overflowed (grew or flushed) since its last refill; low bits
                                              count refills that followed an overflow (saturating at 127); growth needs 2
                                              and bit 7 clear */
  size_t    lim_bytes;                     /* sum over the small bins of (lim[g] - ummp_g.limit[g]) x chunk size: the growth, <= UMMP_THREAD_CAP */
  void     *mbin[UMMP_NMED];               /* cached medium blocks of class m: same lists as bin[] */
  uint32_t  mcount[UMMP_NMED];             /* blocks in mbin[m] */
  uint64_t  mhits;                         /* mallocs served from the medium bins (cache hits) */
  uint64_t  depot_puts;                    /* magazines this thread parked in the depot (added to ummp_g's at exit;
                                              UMM_STATS shows exited threads' and the printing thread's, as for hits) */
  uint64_t  depot_gets;                    /* refills this thread took from the depot (likewise) */
  uint64_t  sent[UMMP_NBINS];              /* blocks bin g sent to the depot or the core when full (slow paths only: depot_put_held) */
  uint32_t  site_cache[UMMP_SITE_CACHE];   /* recent sites: site-table slot + 1 (0 empty), indexed by a hash of the
                                              return address; verified against the table on use */
} ummp_tls_t;

/* ---- depot (cache.c): magazines of cached blocks passed between threads ------
 * A magazine is a bin list (same encoded links and cookies as a thread's bin,
 * UMMP_END-terminated) of at most ummp_g.limit[g] blocks (a medium class's:
 * half ummp_g.mlimit[m]). A thread whose bin or class overflows, or that
 * exits, parks magazines here instead of freeing every block to the core; a
 * thread whose bin or class is empty takes one before asking the core.
 * Policy and lock protocol at the depot section of cache.c. */
#define UMMP_DEPOT_MAGS 256u               /* magazines kept per small bin, at most */
#define UMMP_DEPOT_OWN_MAGS 8u             /* ... when parked by a thread that allocates from that bin as much as it frees */
#define UMMP_DEPOT_MED_MAGS 8u             /* magazines kept per medium class, at most */
#define UMMP_DEPOT_INLINE 8u               /* magazines held in the slot itself; a small bin's others in its row of
                                              ummp_depot_ext_t (cache.c), whose pages only a slot that grows past
                                              this many touches (256 inline made every program's RSS 200+ KiB larger) */
#define UMMP_DEPOT_CAP  ((size_t)16 << 20) /* bytes all depot magazines together may hold (ummp_g.depot_bytes) */
typedef struct ummp_depot {
  int       lock;                          /* try-lock (atomic exchange): guards n, mag[], cnt[] and the slot's overflow row */
  uint32_t  n;                             /* magazines held: 0..n), oldest first (written under lock; read unlocked as a hint) */
  uint32_t  low;                           /* fewest magazines held since the last decay step: those sat unused (under lock) */
  void     *mag[UMMP_DEPOT_INLINE];        /* list heads of magazines 0..INLINE) (encoded links, cookies set; blocks in use for the core) */
  uint16_t  cnt[UMMP_DEPOT_INLINE];        /* blocks in each of them */
} __attribute__((aligned(64))) ummp_depot_t;
typedef struct ummp_depot_ext {
  void     *mag[UMMP_DEPOT_MAGS - UMMP_DEPOT_INLINE];   /* list heads of magazines INLINE..MAGS) of a small bin */
  uint16_t  cnt[UMMP_DEPOT_MAGS - UMMP_DEPOT_INLINE];   /* blocks in each */
} __attribute__((aligned(64))) ummp_depot_ext_t;
_Static_assert(UMMP_DEPOT_MED_MAGS <= UMMP_DEPOT_INLINE && UMMP_DEPOT_OWN_MAGS <= UMMP_DEPOT_MAGS,
               "a medium class's magazines fit in its slot");

/* ---- fork gate (fork.c) ---------------------------------------------------- */
#define UMMP_NSLOTS 512u
typedef struct ummp_slot {
  unsigned active;                         /* 0 idle, 1 entering, n >= 2: inside, n - 1 nested sections (owner writes, forker reads) */
  unsigned owned;                          /* 1 while a live thread owns the slot (CAS claim, released at thread exit) */
  unsigned forkwait;                       /* 1 while its owner, inside a section, waits in fork's prepare for another forker */
  char      pad[52];                       /* one cache line per slot */
} ummp_slot_t;

/* ---- arena (arena.c) ------------------------------------------------------- */
#define UMMP_MAX_REGIONS 1024u
typedef struct ummp_region {
  umm_t    *u;                             /* the core instance (at the region's start); NULL until committed */
  size_t    dirty;                         /* bytes freed into the region since its last purge (relaxed atomic) */
  uint64_t  dirty_since;                   /* ms clock when dirty last became non-zero (0: not yet known) */
  size_t    walk_cost;                     /* 16 bytes per chunk the last purge walk visited: less dirt is not worth a walk */
  int       purging;                       /* 1 while a thread purges the region (CAS) */
  char      pad[28];                       /* one cache line per region */
} ummp_region_t;

/* ---- large blocks (large.c) -------------------------------------------------
 * Each has its own mapping; the 16 bytes before the block hold this header. */
typedef struct ummp_large_hdr {
  size_t    map_len;                       /* length of the whole mapping */
  uint32_t  offset;                        /* block address - mapping start (16, or more when over-aligned; < page + 16) */
  uint32_t  tag;                           /* the block's tag (large blocks have no core header) */
} ummp_large_hdr_t;
#define UMMP_LARGE_SLOTS_LOG2 20u          /* registry: 2^20 slots of 8 bytes, reserved without backing */
#define UMMP_LARGE_TOMB ((uintptr_t)1)     /* registry slot whose block was freed (reusable) */

/* ---- configuration (env.c): UMM_* variables, read once at start-up --------- */
typedef struct ummp_config {
  size_t    arena_size;                    /* UMM_ARENA_SIZE: bytes to reserve (default 64 GiB) */
  size_t    large_threshold;               /* UMM_LARGE: requests above this get their own mapping (0 = automatic) */
  long      purge_delay_ms;                /* UMM_PURGE_DELAY: ms freed memory waits before it is returned (-1 never; default 1000) */
  int       stats;                         /* UMM_STATS: 1 prints a summary to stderr at exit */
  int       stats_fd;                      /* where: a duplicate of stderr taken at start-up (programs close fd 2 before exit) */
  int       cache;                         /* UMM_CACHE: 0 disables the thread caches (default 1) */
  int       tag_mode;                      /* UMM_TAG: UMMP_TAG_NONE / UMMP_TAG_THREAD (default) / UMMP_TAG_SITE */
  int       check;                         /* UMM_CHECK: 1 runs umm_heap_check at exit and reports on stderr */
  int       guard;                         /* UMM_DEBUG=1: canaries, fills, quarantine (guard.c); caches off */
  int       tag_set;                       /* UMM_TAG was given (UMM_DEBUG=1 defaults to site tags otherwise) */
  int       dump;                          /* UMM_DUMP set: dump the heap at exit (and on UMM_DUMP_SIGNAL) */
  int       dump_json;                     /* UMM_DUMP_FORMAT=json (default text) */
  int       dump_signal;                   /* UMM_DUMP_SIGNAL: signal number that requests a dump (0: none) */
  char      dump_path[256];                /* UMM_DUMP: "" for stderr, else a file path */
  int       leaks;                         /* UMM_LEAKS set (not 0): leak report at exit */
  char      leaks_path[256];               /* UMM_LEAKS: "" for stderr (1, stderr), else a file path */
} ummp_config_t;

/* ---- process-wide state ---------------------------------------------------- */
#define UMMP_S_UNINIT 0
#define UMMP_S_INITING 1
#define UMMP_S_READY 2
#define UMMP_S_FAILED 3                    /* no arena could be reserved: small requests fail with ENOMEM */

typedef struct ummp_global {
  /* read-mostly fields used by the fast paths come first */
  uintptr_t base16;                        /* arena base + 16: the lowest address a block can have */
  size_t    lim_rot;                       /* (committed bytes - 16) >> 4: free's range + alignment test bound */
  uint64_t  secret;                        /* per-process random value: a cached block's cookie (word 1); links are xored with it */
  int       state;                         /* UMMP_S_* (atomic) */
  int       region_shift;                  /* log2 of the region size */
  char     *base;                          /* start of the reservation */
  size_t    arena_size;                    /* bytes reserved */
  size_t    region_size;                   /* bytes per region (power of two) */
  uint32_t  nregions;                      /* regions in the reservation */
  uint32_t  ncommitted;                    /* regions 0..ncommitted-1 are committed (atomic, grows) */
  uint32_t  spread;                        /* threads' home regions rotate over this many */
  uint32_t  rr;                            /* round-robin counter for home regions (atomic) */
  uintptr_t commit_lock;                   /* spin lock held only while committing regions (rare): 0, or its owner (&ummp_tls) */
  size_t    large_threshold;               /* effective large-block threshold */
  long      purge_delay_ms;                /* effective purge delay (-1: never purge) */
  size_t    page;                          /* page size */
  uint16_t  limit[UMMP_NBINS];             /* cache capacity per bin */
  uint16_t  batch[UMMP_NBINS];             /* blocks per refill / flush per bin */
  uint16_t  mlimit[UMMP_NMED];             /* blocks a medium class holds per thread (0: class off) */
  uint16_t  mbatch[UMMP_NMED];             /* blocks per medium refill (a full class flushes half its limit) */
  uint16_t  mchunk[UMMP_NMED];             /* chunk of medium class m, granules (ummp_med_chunk) */
  uint8_t   mcls[UMMP_MED_TOP_GRAN + 1];   /* medium class holding g granules, for UMMP_MAX_GRAN < g (ummp_med_class) */
  size_t    med_max;                       /* largest request served from a medium class (0: medium caching off) */
  ummp_config_t cfg;                       /* parsed UMM_* environment */
  /* fork gate */
  int       fork_flag;                     /* 1 while a fork is being prepared (atomic; also the forkers' lock) */
  long      shared_active;                 /* sections of threads without a slot (atomic) */
  uint32_t  slot_hint;                     /* where the next slot search starts (atomic) */
  int       key_ok;                        /* the pthread key for thread-exit flushing exists */
  unsigned  key;                           /* that key */
  int       atfork_done;                   /* pthread_atfork registered */
  /* large-block registry */
  uintptr_t *large_tab;                    /* 2^UMMP_LARGE_SLOTS_LOG2 slots: block address, 0 empty, UMMP_LARGE_TOMB */
  /* statistics (atomic adds; bytes only tracked when cfg.stats) */
  size_t    cur_bytes;                     /* bytes held from the core and in large mappings */
  size_t    peak_bytes;                    /* maximum of cur_bytes */
  size_t    large_live;                    /* large blocks live */
  size_t    large_bytes;                   /* bytes of their mappings */
  void     *large_deferred;                /* large blocks freed by signal handlers, to unmap (lock-free stack, large.c) */
  uint64_t  large_total;                   /* large blocks ever mapped */
  uint64_t  purged_bytes;                  /* bytes returned with madvise */
  uint64_t  purges;                        /* purge walks done */
  uint64_t  hits;                          /* cache hits of exited threads */
  uint64_t  misses;                        /* cache misses of exited threads */
  uint64_t  home_moves;                    /* times a thread left a contended or full home region */
  uint64_t  depot_puts;                    /* magazines parked in the depot by exited threads */
  uint64_t  depot_gets;                    /* refills of exited threads served by a depot magazine instead of the core */
  uint64_t  depot_decay_ms;                /* clock of the last depot decay step (CAS: one thread runs each step) */
  uint64_t  depot_decayed;                 /* magazines given back to the core by decay steps */
  uint64_t  threads;                       /* threads set up */
  size_t    lim_total;                     /* the live threads' pool shares (growth above UMMP_THREAD_BASE) added up (atomic), <= UMMP_CACHE_CAP */
  /* debug heap (tag.c, debug.c) */
  uintptr_t *site_tab;                     /* 2^UMMP_SITE_LOG2 return addresses (0 empty), CAS-inserted, never removed */
  uint32_t  site_count;                    /* slots claimed in site_tab (atomic) */
  uint32_t  thread_serial;                 /* last thread serial handed out (atomic) */
  int       dump_req;                      /* 1: UMM_DUMP_SIGNAL arrived, the next slow path dumps (atomic) */
  uint32_t  dump_seq;                      /* signal dumps written so far (atomic) */
  /* written by every depot put and take: a line of its own, away from the read-mostly fields */
  size_t    depot_bytes __attribute__((aligned(64)));   /* bytes in depot magazines (atomic; changed under a depot lock), <= UMMP_DEPOT_CAP */
} ummp_global_t;

#endif /* UMMP_TYPES_H */
