/* cache.c - the slow paths behind malloc/free: thread cache refill (one
 * umm_malloc_batch) and flush (umm_free_batch per region), mid-size blocks
 * straight from the core, large blocks, signal re-entry, pointer checks.
 *
 * A cached block is a core chunk, in use from the core's point of view:
 * word 0 links the bin's list (encoded: safe-linking, internal.h), word 1
 * holds the cookie, ummp_g.secret (a per-process random value; a live
 * block never has it: malloc clears it), which marks it
 * "cached" for walks and makes a second free of it detectable without a
 * search. The slow paths pop with ummp_list_pop, which checks every link
 * (aligned, inside the arena) and aborts on a corrupted one.
 *
 * Cache policy.
 *  - Small bins (chunks of 2..UMMP_MAX_GRAN granules, up to 1032 usable
 *    bytes) are served by the fast paths. A refill claims a batch (about
 *    8 KiB, 8..64 blocks), but a thread's first refills of a bin only 4, 8,
 *    16, 32 blocks (slow start: a bin a thread uses a little holds little;
 *    glibc-thread's peak RSS 4.5 -> 3.1 MiB, rptest 20.8 -> 18.4 MiB).
 *    A bin's limit starts at
 *    ummp_g.limit[g] (half a batch, about 4 KiB: a thread that touches many
 *    sizes once holds little; was 2 x batch, 16 KiB, and alloc-test's peak
 *    RSS went 1.62 -> 1.40x glibc's, xmalloc's 1.49 -> 1.16x, times within
 *    noise, medians of 7) and is per thread (tls.lim):
 *    when a free finds the bin full, the limit doubles (up to UMMP_BIN_CAP
 *    bytes per bin) instead of flushing, as long as the thread's growth over
 *    the starting limits stays within UMMP_THREAD_CAP bytes (its part above
 *    UMMP_THREAD_BASE being a share of a pool for all threads, "the pool"
 *    below); when it would not, the thread's
 *    largest grown bin is halved (its excess flushed) to make room, and when
 *    nothing can be trimmed the bin flushes a batch as before. So a thread
 *    that frees bursts of one size (glibc-simple, Python with
 *    PYTHONMALLOC=malloc) stops paying a core release per batch, while what
 *    a thread can hold stays bounded (about 256 KiB + 8 MiB; all threads
 *    together about 256 KiB + 4 MiB each, + 32 MiB: "the pool" below);
 *    everything
 *    is flushed at thread exit and by malloc_trim. Measured (2-core VM,
 *    medians of 5): glibc-simple 1.07 -> 0.25 s, larson and churn peak RSS
 *    unchanged. A bin grows only when it was refilled since its last
 *    overflow (cyc bit 7): a bin that overflows again and again without
 *    emptying is a sink (frees of a size the thread rarely allocates: the
 *    blocks realloc leaves behind), and growing it only parks memory. In
 *    bench/workloads/realloc.c bin 65 had grown to its cap, 500 blocks
 *    (520 KiB) per thread that were never reused, and the holes they pinned
 *    made the heap spread: peak RSS 2.16 -> 1.33x glibc, rptest 1.78 ->
 *    1.48x, lua 1.22 -> 1.12x, times unchanged (bench/run, medians of 5).
 *  - Between threads: a small bin or medium class that overflows, and
 *    every one of an exiting thread, first parks magazines in the depot,
 *    and an empty one takes a magazine before it asks the core (the depot
 *    section below).
 *  - Medium classes (UMMP_MAX_GRAN+1 .. UMMP_MED_TOP_GRAN granules, i.e.
 *    1033 B .. 32 KiB less a cache line; each class chunk an odd number of
 *    cache lines: UMMP_MED_COLOR) are served by the slow paths only (the
 *    fast paths are unchanged): 8 classes per power of two, a request rounded up to its
 *    class's chunk, so a freed block of exactly a class's chunk size goes
 *    back to the class (blocks of other sizes, e.g. after an in-place
 *    realloc, go to the core). Each class holds UMMP_MED_CAP bytes (at
 *    least 2 blocks) per thread; a refill claims UMMP_MED_BATCH block(s):
 *    one block takes the core's best fit, so holes left by freed medium
 *    blocks are reused (batches of 4 carve from fresh memory and took
 *    rptest's peak RSS from 16 to 37 MB). A full class parks half its
 *    limit in the depot as one magazine, or flushes it to the core when
 *    the depot is full; an empty class takes a magazine before it asks the
 *    core (rptest, every other block freed by another thread: 0.330 ->
 *    0.283 s, 6.24 -> 7.17 M ops/cpu-s, peak RSS 20.9 -> 22.6 MB within
 *    the runs' range, medians of 7). Hits skip the general slow path
 *    (malloc_med_hit, ummp_free_med). Same cookie convention as the small
 *    bins (walks and dumps report the blocks as cached), same hold /
 *    fork-section rules, flushed at thread exit, hits counted in
 *    tls.mhits (UMM_STATS).
 *
 * Every slow path "holds" the thread (ummp_hold: busy), so a signal handler
 * that interrupts it never touches the cache and never waits for a core lock
 * (it uses the _nowait calls); every use of shared state is inside a
 * fork-gate section (fork.c). A slow path uses a small bin only while it
 * holds the bin's gate (ummp_gate_hold, internal.h), and keeps the bin's
 * signed room in a local that ummp_gate_open stores back. A handler that
 * interrupted a fast path is re-entrant too (ummp_reentrant sees the held
 * gate). Functions named *_held need the gate of their bin held by the
 * caller. */
#include "internal.h"
#include <errno.h>
#include <string.h>

static inline uint64_t hdr_of(const void *p) { return hdr_peek(chunk_of(p)); }
static inline unsigned gran_of_block(const void *p) { return (unsigned)hdr_size(hdr_of(p)); }

void ummp_bad_pointer(const char *op, const void *p) {
  char msg[96];
  size_t n = ummp_fmt_str(msg, sizeof msg, 0, op);
  const char *what = ": invalid pointer";
  if (ummp_in_arena(p)) {                           /* the core's diagnosis, plus the thread caches' */
    int st = ummp_is_cached(p) ? UMM_PTR_FREED : umm_ptr_state(ummp_regions[ummp_region_index(p)].u, p);
    if (st == UMM_PTR_FREED) what = ": double free";
    else if (st == UMM_PTR_CORRUPT) what = ": corrupted header (size does not match the next chunk)";
  } else if (ummp_large_recently_freed(p)) {
    what = ": double free";
  }
  n = ummp_fmt_str(msg, sizeof msg, n, what);
  msg[n] = 0;
  ummp_os_die(msg + 0, p);
}

void ummp_check_arena_ptr(const char *op, const void *p) {
  if (ummp_unlikely(ummp_is_cached(p) || !umm_owns(ummp_regions[ummp_region_index(p)].u, p))) ummp_bad_pointer(op, p);
}

void ummp_list_corrupt(const void *bad) {
  ummp_os_die("malloc(): corrupted thread cache (a freed block was written to): bad link", bad);
}

/* Pop the head of list *head (slow paths): NULL when the list is empty; a
 * head that is not an arena block is a corrupted link. Decodes with the
 * process key (every set-up thread's t->secret is a copy of it), so it also
 * serves lists that are no thread's: depot magazines. */
static inline void **list_pop(void **head) {
  void **b = *head;
  if (b == UMMP_END || b == NULL) return NULL;
  if (ummp_unlikely(!ummp_in_arena(b))) ummp_list_corrupt(b);
  *head = ummp_link_next(b, ummp_g.secret);
  b[1] = NULL;                                      /* no longer cached */
  return b;
}

/* Add x to the shared counter *c unless that would take it above cap: 1
 * when added. The count never goes above cap, even for a moment, so a
 * reservation that fits is never refused because another one overshot.
 * Used by the pool (bin_grow_held) and the depot's byte cap (depot_put). */
static int cap_reserve(size_t *c, size_t x, size_t cap) {
  size_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
  do {
    if (x > cap || v > cap - x) return 0;
  } while (!__atomic_compare_exchange_n(c, &v, v + x, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  return 1;
}

/* ---- flush ------------------------------------------------------------------ */
/* Give blk[0..n) (chunks of `chunk` bytes, cookies cleared) back to the core,
 * one umm_free_batch per region. */
static void release(ummp_tls_t *t, void **blk, unsigned n, size_t chunk) {
  if (!n) return;
  unsigned a = ummp_enter(t);
  unsigned done = 0;
  while (done < n) {
    /* move the blocks of blk[done]'s region to the front, free them together */
    uint32_t ri = ummp_region_index(blk[done]);
    unsigned k = done + 1;
    for (unsigned i = done + 1; i < n; i++) {
      if (ummp_region_index(blk[i]) == ri) { void *x = blk[k]; blk[k] = blk[i]; blk[i] = x; k++; }
    }
    umm_free_batch(ummp_regions[ri].u, blk + done, k - done);
    ummp_stats_sub(chunk * (k - done));
    ummp_note_freed(t, &ummp_regions[ri], chunk * (k - done));
    done = k;
  }
  ummp_leave(t, a);
}

/* Give `count` blocks of bin g (gate held) back to the core, grouped by
 * region; how many went (the room they make). */
static unsigned bin_flush_held(ummp_tls_t *t, unsigned g, unsigned count) {
  void *blk[UMMP_BATCH_MAX * 2];
  if (count > UMMP_BATCH_MAX * 2) count = UMMP_BATCH_MAX * 2;
  unsigned n = 0;
  void **b;
  while (n < count && (b = list_pop(&t->bin[g])) != NULL) blk[n++] = b;
  release(t, blk, n, (size_t)g * UMM_GRANULE);
  return n;
}

/* ---- the depot: magazines between threads ----------------------------------
 * Why. A block that one thread frees and another allocates (a thread that
 * exits and the next one that starts, a consumer and a producer) otherwise
 * makes a full round trip through the core: the flush releases it (locks,
 * coalescing), the refill claims it back (locks, splitting), and in a heap
 * fragmented by longer-lived blocks a refill gets only a few blocks per
 * claim. A depot (the magazine layer of Bonwick's slab allocator, tcmalloc's
 * transfer cache) keeps up to UMMP_DEPOT_MAGS lists of a bin's blocks, each
 * at most ummp_g.limit[g] long, that move between threads whole; and as
 * many of each medium class's, each half the class's limit (its slot is
 * UMMP_NBINS + m; the rules below apply alike, a medium class being held
 * with the thread, ummp_hold, where a small bin is held with its gate).
 *
 * Policy. A bin that overflows parks one magazine (its newest blocks) when
 * the depot has room, and flushes to the core otherwise; a thread's exit
 * flush parks what fits. An empty bin takes the newest magazine before it
 * asks the core (it fits: the bin's room is its limit, never below
 * ummp_g.limit[g]). Blocks in the depot stay cached for the core, walks and
 * dumps (cookie set); the bytes count as held (UMM_STATS "current"). Bounds:
 * UMMP_DEPOT_CAP (16 MiB) over all slots together (ummp_g.depot_bytes:
 * added and subtracted under the slot's lock, inside a fork-gate section,
 * so a fork copies it consistent with the slots; on a cache line of its
 * own); per small bin UMMP_DEPOT_MAGS (256, about 1 MiB) magazines parked
 * by exiting threads and by threads that free into the bin more than they
 * allocate from it (their blocks are for others), but only
 * UMMP_DEPOT_OWN_MAGS (8) for a thread that will allocate them again itself
 * (parking then only keeps its blocks uncoalesced for longer); per medium
 * class 8. A put that would pass a bound is refused and the blocks go to
 * the core.
 * It was 8 magazines per slot for every put (about 4.5 MiB in all). On the
 * lent 16-core Xeon, bench churn (64 threads a round, each leaving 3600
 * freed blocks cached at exit and 400 live ones for the main thread to
 * free) then found the depot full at nearly every exit, so the blocks went
 * through the core (coalesced, then split again for the next round's
 * threads), and the main thread's serial frees of the leftovers flushed to
 * the core as well: 234 ns a free against glibc's 95, half of churn's time.
 * bench/run --threads 16, medians of 5, 8 -> 256 magazines for every put
 * (no byte cap): churn 2.17 -> 1.07 s (glibc 1.53, mimalloc 0.94); larson
 * 0.149 -> 0.129 s, peak RSS 113 -> 65 MB; xmalloc 0.280 -> 0.260 s (noise);
 * 32 magazines gained little (churn 2.10 s). On this 2-core VM the same
 * build raised peak RSS (bench realloc 6.4 -> 11.6 MB, fragment 272 -> 304
 * MB: a thread's own growth parked instead of coalescing), hence the
 * bounds above: realloc 6.2, fragment 275 MB; churn's main thread still
 * parks (its serial frees 0.44 -> 0.13 s here, bench churn -t 16). A slot
 * holds its first UMMP_DEPOT_INLINE magazines itself and a small bin's
 * others in its row of depot_ext: with 256 inline, the slots spread over
 * 270 KiB and every program touched a page or two per size class it used
 * (bench glibc-thread's peak RSS 3.14 -> 3.36 MB).
 * Magazines no thread took during a whole purge interval
 * go back to the core (ummp_depot_decay, a low-water mark as in tcmalloc),
 * and malloc_trim empties the depot (ummp_depot_drain). Tags: the block a
 * refill returns gets the caller's tag (as from a core claim); the others
 * keep theirs until they are served, like any cached block (tag.c: with
 * UMM_TAG=thread, the thread that took the memory from the core). Re-tagging
 * the whole magazine for the taking thread cost churn 10 % of its time
 * (a serial walk with one header CAS per block).
 *
 * Lock protocol. One try-lock per bin (ummp_depot_t.lock, an exchange)
 * guards that bin's n, mag[] and cnt[] (and, for a small bin, its row of
 * depot_ext); n is also read unlocked as a hint. ummp_g.depot_bytes counts
 * the bytes of every parked magazine and, for a moment, of one about to be
 * parked: a put reserves its magazine's bytes (cap_reserve: never above
 * UMMP_DEPOT_CAP) before it takes the lock and gives them back if it does
 * not park; a take subtracts after it dropped the lock. So no atomic on that
 * shared line runs while a depot lock is held, and because both run inside
 * the fork-gate section, a fork copies a count that matches the slots.
 * The lock is taken only inside a fork-gate section (so fork never copies it
 * held), never while another depot lock is held, and never waited for: a
 * failed try-lock takes the core path instead, so nothing can deadlock on
 * it. Nothing that can fail runs while it is held, and nothing that walks:
 * a put cuts its magazine off the bin before it takes the lock (the walk
 * touches every block of it, and aborts the process on a corrupted link),
 * puts it back on the bin when the depot has no room, and gives it to the
 * core when the lock is busy. Signal
 * handlers never reach it: a handler that interrupted a slow path is
 * re-entrant and uses the core's nowait calls (ummp_reentrant). A
 * fork that goes ahead without waiting for every section (fork.c: fork from
 * a signal handler inside a section) may copy a depot lock held by another
 * thread: in the child that bin's depot then stays unused (every try-lock
 * fails) and its magazines are lost to it, a bounded leak like the other
 * threads' caches there (and depot_bytes keeps counting them: the child's
 * depot is smaller by that much). The blocks of a magazine are touched only
 * by the thread that holds them: the putter before it publishes the head
 * under the lock, the taker after it removed the head under the lock. */
static ummp_depot_t depot[UMMP_NBINS + UMMP_NMED];   /* [g]: small bin g; [UMMP_NBINS + m]: medium class m */
static ummp_depot_ext_t depot_ext[UMMP_NBINS];       /* [g]: small bin g's magazines past UMMP_DEPOT_INLINE */

/* Magazine j of depot slot i (lock held): its list head and its count. */
static inline void **depot_mag(unsigned i, unsigned j) {
  return j < UMMP_DEPOT_INLINE ? &depot[i].mag[j] : &depot_ext[i].mag[j - UMMP_DEPOT_INLINE];
}
static inline uint16_t *depot_cnt(unsigned i, unsigned j) {
  return j < UMMP_DEPOT_INLINE ? &depot[i].cnt[j] : &depot_ext[i].cnt[j - UMMP_DEPOT_INLINE];
}

/* Bytes of each chunk in depot slot i. */
static size_t depot_chunk(unsigned i) {
  return (size_t)(i < UMMP_NBINS ? i : ummp_med_chunk(i - UMMP_NBINS)) * UMM_GRANULE;
}

static int depot_trylock(ummp_depot_t *d) {
  return __atomic_load_n(&d->lock, __ATOMIC_RELAXED) == 0 && __atomic_exchange_n(&d->lock, 1, __ATOMIC_ACQUIRE) == 0;
}
static void depot_unlock(ummp_depot_t *d) { __atomic_store_n(&d->lock, 0, __ATOMIC_RELEASE); }

/* Give the magazine b of depot slot i (no longer in the depot) to the
 * core. Any thread may run it (a put that found the lock busy, decay, malloc_trim): list_pop decodes with
 * the process key. */
static void mag_release(ummp_tls_t *t, unsigned i, void *b) {
  void *blk[UMMP_BATCH_MAX * 2];
  unsigned k;
  do {
    void **x;
    for (k = 0; k < UMMP_BATCH_MAX * 2 && (x = list_pop(&b)) != NULL; ) blk[k++] = x;
    release(t, blk, k, depot_chunk(i));
  } while (k == UMMP_BATCH_MAX * 2);
}

/* Cut the first k (or fewer) blocks of the non-empty list *head (a small
 * bin with its gate held, or a medium class under the thread's hold) off
 * into a list ending in UMMP_END; its head, count in *n, last block in
 * *last (list_uncut puts it back). Checks every link it follows. */
static void *list_cut(ummp_tls_t *t, void **head, unsigned k, unsigned *n, void ***last) {
  void **first = *head, **b = first;
  unsigned c = 1;
  for (;;) {
    void **nx = ummp_link_next(b, t->secret);
    if (nx == UMMP_END || c == k) { *head = nx; break; }
    if (ummp_unlikely(!ummp_in_arena(nx))) ummp_list_corrupt(nx);
    b = nx;
    c++;
  }
  b[0] = (void *)((uintptr_t)UMMP_END ^ t->secret);
  *n = c;
  *last = b;
  return first;
}
/* Undo list_cut: the list first..last goes back in front of *head. */
static void list_uncut(ummp_tls_t *t, void **head, void *first, void **last) {
  last[0] = (void *)((uintptr_t)*head ^ t->secret);
  *head = first;
}

/* Park a magazine of the first k blocks of *head (non-empty; depot slot i)
 * in the depot: how many blocks left the list (the room they make), 0 when
 * the depot is full. The magazine is cut off the list before the depot
 * lock is taken, so the lock is held for a few stores, not for a walk over
 * k blocks: with 64 threads a round on 16 cores (bench churn -t 16),
 * threads exit together and park at once. When the lock is busy the cut
 * magazine goes to the core (it has been walked already; putting it back
 * would end an exiting thread's parking and flush its whole bin); when the
 * depot is full it goes back on the list for the caller to flush. */
static unsigned depot_put(ummp_tls_t *t, unsigned i, void **head, unsigned k, unsigned mags) {
  ummp_depot_t *d = &depot[i];
  if (__atomic_load_n(&d->n, __ATOMIC_RELAXED) >= mags ||
      __atomic_load_n(&ummp_g.depot_bytes, __ATOMIC_RELAXED) + (size_t)k * depot_chunk(i) > UMMP_DEPOT_CAP)
    return 0;                                        /* (k: at most that many go) */
  if (ummp_unlikely(!ummp_in_arena(*head))) ummp_list_corrupt(*head);
  unsigned a = ummp_enter(t), n = 0;
  void **last;
  void *mag = list_cut(t, head, k, &n, &last);
  size_t mb = (size_t)n * depot_chunk(i);
  int parked = 0, busy = 0;
  if (cap_reserve(&ummp_g.depot_bytes, mb, UMMP_DEPOT_CAP)) {
    if (depot_trylock(d)) {
      if (d->n < mags) {
        *depot_mag(i, d->n) = mag;
        *depot_cnt(i, d->n) = (uint16_t)n;
        __atomic_store_n(&d->n, d->n + 1, __ATOMIC_RELAXED);
        parked = 1;
      }
      depot_unlock(d);
    } else {
      busy = 1;
    }
    if (!parked) __atomic_fetch_sub(&ummp_g.depot_bytes, mb, __ATOMIC_RELAXED);
  }
  if (!parked && !busy) { list_uncut(t, head, mag, last); n = 0; }
  ummp_leave(t, a);
  if (parked) t->depot_puts++;                      /* per thread: a shared counter is a contended line */
  else if (busy) mag_release(t, i, mag);
  return n;
}

/* Park one magazine of small bin g (gate held, non-empty), in a slot of up
 * to UMMP_DEPOT_MAGS magazines when the thread exits (close) or frees into
 * bin g more than twice what its fast path served from it (its blocks are
 * for other threads: bench churn's main thread, xmalloc's consumer; twice,
 * because pops leaves out the block each refill returns, up to a quarter
 * of a balanced thread's mallocs), else of up to UMMP_DEPOT_OWN_MAGS: a
 * thread that parks what it allocates again itself only holds its blocks
 * longer, uncoalesced (bench realloc's peak RSS 6.4 -> 11.6 MB with 256
 * for every park, fragment's 272 -> 304 MB). Lifetime counts: a thread
 * that turns from producer to consumer takes a while to be seen as one. */
static unsigned depot_put_held(ummp_tls_t *t, unsigned g, int close) {
  unsigned mags = close || t->sent[g] > 2 * t->pops[g] ? UMMP_DEPOT_MAGS : UMMP_DEPOT_OWN_MAGS;
  return depot_put(t, g, &t->bin[g], ummp_g.limit[g], mags);
}

/* Take the newest magazine of depot slot i: its first block, already out of
 * the list and no longer cached, tagged for the caller (as a core claim
 * would tag it); the rest in *rest (UMMP_END-terminated, cookies set), how
 * many in *n. NULL when there is none (or the depot is busy). */
static void *depot_take(ummp_tls_t *t, unsigned i, void **rest, unsigned *n) {
  ummp_depot_t *d = &depot[i];
  if (__atomic_load_n(&d->n, __ATOMIC_RELAXED) == 0) return NULL;
  void **b = NULL;
  unsigned a = ummp_enter(t);
  *n = 0;
  if (depot_trylock(d)) {
    if (d->n > 0) {
      uint32_t j = d->n - 1;
      b = *depot_mag(i, j);
      *n = *depot_cnt(i, j);
      __atomic_store_n(&d->n, j, __ATOMIC_RELAXED);
      if (j < d->low) d->low = j;
    }
    depot_unlock(d);
  }
  if (*n) __atomic_fetch_sub(&ummp_g.depot_bytes, (size_t)*n * depot_chunk(i), __ATOMIC_RELAXED);
  ummp_leave(t, a);
  if (!b) return NULL;
  t->depot_gets++;
  ummp_block_retag(b, t->cur_tag);
  *rest = ummp_link_next(b, t->secret);            /* checked by the pops that follow */
  b[1] = NULL;                                      /* no longer cached */
  *n -= 1;
  return b;
}

/* Refill the empty bin c (gate held, room *r) with the depot's newest
 * magazine; returns its first block for the caller, NULL when there is none
 * (or the depot is busy). */
static void *depot_get_held(ummp_tls_t *t, unsigned c, int32_t *r) {
  if (ummp_list_live(t->bin[c])) return NULL;
  void *rest;
  unsigned n;
  void *b = depot_take(t, c, &rest, &n);
  if (!b) return NULL;
  t->bin[c] = rest;
  *r -= (int32_t)n;                                 /* fits: room = limit >= ummp_g.limit[c] >= n + 1 */
  return b;
}

/* Take the oldest magazines of depot slot i out of the depot into out[]:
 * all of them, or (idle) the `low` oldest, which sat unused since the last
 * decay step; how many. After it, low = n (a new interval starts). */
static unsigned depot_take_oldest(ummp_tls_t *t, unsigned i, int idle, void **out) {
  ummp_depot_t *d = &depot[i];
  unsigned k = 0, a = ummp_enter(t);
  size_t blocks = 0;
  if (depot_trylock(d)) {
    k = idle ? d->low : d->n;                        /* low <= n: set to n here, lowered by takes */
    for (unsigned j = 0; j < k; j++) { out[j] = *depot_mag(i, j); blocks += *depot_cnt(i, j); }
    for (unsigned j = k; j < d->n; j++) { *depot_mag(i, j - k) = *depot_mag(i, j); *depot_cnt(i, j - k) = *depot_cnt(i, j); }
    __atomic_store_n(&d->n, d->n - k, __ATOMIC_RELAXED);
    d->low = d->n;
    depot_unlock(d);
  }
  if (blocks) __atomic_fetch_sub(&ummp_g.depot_bytes, blocks * depot_chunk(i), __ATOMIC_RELAXED);
  ummp_leave(t, a);
  return k;
}

/* Give the depot's magazines back to the core: all of them, or (idle) those
 * that sat unused since the last decay step; a bin another thread is using
 * at that instant keeps its magazines. How many went. */
static uint64_t depot_return(ummp_tls_t *t, int idle) {
  void *out[UMMP_DEPOT_MAGS];
  uint64_t total = 0;
  for (unsigned i = UMMP_MIN_GRAN; i < UMMP_NBINS + UMMP_NMED; i++) {
    if (__atomic_load_n(&depot[i].n, __ATOMIC_RELAXED) == 0) continue;
    unsigned k = depot_take_oldest(t, i, idle, out);
    for (unsigned j = 0; j < k; j++) mag_release(t, i, out[j]);
    total += k;
  }
  return total;
}

void ummp_depot_drain(ummp_tls_t *t) { (void)depot_return(t, 0); }

/* Decay: magazines that sat in the depot through a whole interval (its low
 * mark: no thread needed them) go back to the core, oldest first, so a
 * depot that programs stopped using empties after two intervals and its
 * memory can be coalesced and purged. One thread runs a step at most every
 * UMM_PURGE_DELAY ms (none with "never"), from the purge clock (ummp_tick). */
void ummp_depot_decay(ummp_tls_t *t, uint64_t now) {
  uint64_t last = __atomic_load_n(&ummp_g.depot_decay_ms, __ATOMIC_RELAXED);
  if ((int64_t)(now - last) < ummp_g.purge_delay_ms ||       /* signed: a clock read before the last step's */
      !__atomic_compare_exchange_n(&ummp_g.depot_decay_ms, &last, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    return;
  __atomic_fetch_add(&ummp_g.depot_decayed, depot_return(t, 1), __ATOMIC_RELAXED);
}

/* Park a magazine of medium class m (the thread held, class non-empty):
 * half the class's limit, the share a full class used to flush; how many
 * blocks went. */
static unsigned med_depot_put(ummp_tls_t *t, unsigned m) {
  unsigned n = depot_put(t, UMMP_NBINS + m, &t->mbin[m], (ummp_g.mlimit[m] + 1u) / 2u, UMMP_DEPOT_MED_MAGS);
  t->mcount[m] -= n;
  return n;
}

/* The empty medium class m (the thread held) takes the depot's newest
 * magazine: its first block for the caller, the rest cached; NULL when
 * there is none. */
static void *med_depot_get(ummp_tls_t *t, unsigned m) {
  void *rest;
  unsigned n;
  void *b = depot_take(t, UMMP_NBINS + m, &rest, &n);
  if (!b) return NULL;
  t->mbin[m] = rest;                                /* the class was empty: n < mlimit */
  t->mcount[m] = n;
  return b;
}

/* Give `count` blocks of medium class m back to the core. */
static void flush_med(ummp_tls_t *t, unsigned m, unsigned count) {
  void *blk[UMMP_BATCH_MAX * 2];
  if (count > UMMP_BATCH_MAX * 2) count = UMMP_BATCH_MAX * 2;
  unsigned n = 0;
  void **b;
  while (n < count && (b = list_pop(&t->mbin[m])) != NULL) blk[n++] = b;
  t->mcount[m] -= n;
  release(t, blk, n, (size_t)ummp_med_chunk(m) * UMM_GRANULE);
}

/* The pool. A thread's growth over its starting limits (t->lim_bytes) up to
 * UMMP_THREAD_BASE is its own; the part above, up to UMMP_THREAD_CAP, is its
 * share of a pool of UMMP_CACHE_CAP bytes for all threads (pool_share;
 * ummp_g.lim_total adds the shares up). So no thread ever gets less than
 * the old per-thread cap however many threads hold shares (idle ones keep
 * theirs until they exit, or call malloc_trim), and what all threads can
 * hold above it is bounded. A thread whose exit we cannot see (no thread
 * key: ummp_g.key_ok 0) would never give its share back, so the pool is
 * closed to it. Charging adds to the count before lim_bytes grows, refunds
 * follow the drop of lim_bytes and saturate at 0: a fork from a signal
 * handler between the two steps (fork.c sets the child's count to the
 * forking thread's share) can then only leave the child's count low by one
 * step, never wrap it or leak capacity. */
static inline size_t pool_share(size_t lim_bytes) {
  return lim_bytes > UMMP_THREAD_BASE ? lim_bytes - UMMP_THREAD_BASE : 0;
}
static void pool_refund(size_t x) {
  size_t v = __atomic_load_n(&ummp_g.lim_total, __ATOMIC_RELAXED);
  while (x && !__atomic_compare_exchange_n(&ummp_g.lim_total, &v, v > x ? v - x : 0, 1,
                                           __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}
size_t ummp_pool_share(const ummp_tls_t *t) { return pool_share(t->lim_bytes); }
void ummp_growth_drop(ummp_tls_t *t, size_t x) {
  size_t before = pool_share(t->lim_bytes);
  t->lim_bytes -= x;
  pool_refund(before - pool_share(t->lim_bytes));
}

static void bin_shrink_held(ummp_tls_t *t, unsigned g, unsigned nl, int32_t *r);

void ummp_flush_all(ummp_tls_t *t, int close) {
  for (unsigned g = UMMP_MIN_GRAN; g <= UMMP_MAX_GRAN; g++) {
    int32_t r;
    if (!ummp_gate_hold(&t->gate[g], &r)) continue; /* off, or held by the path a handler interrupted */
    if (close) while (ummp_list_live(t->bin[g]) && depot_put_held(t, g, 1)) {}   /* exit: park what fits */
    else bin_shrink_held(t, g, ummp_g.limit[g], &r); /* malloc_trim: back to the starting limit, pool share too */
    while (ummp_list_live(t->bin[g])) bin_flush_held(t, g, UMMP_BATCH_MAX * 2);
    if (close) {
      ummp_gate_close(&t->gate[g]);
      continue;
    }
    ummp_gate_open(&t->gate[g], t->lim[g]);         /* empty: the room is the limit (any debt is paid) */
  }
  for (unsigned m = 0; m < UMMP_NMED; m++) {
    if (close) while (ummp_list_live(t->mbin[m]) && med_depot_put(t, m)) {}   /* exit: park what fits */
    while (ummp_list_live(t->mbin[m])) flush_med(t, m, UMMP_BATCH_MAX * 2);
  }
}

/* ---- adaptive bin limits ------------------------------------------------------ */
/* Lower the limit of bin g (gate held, room *r) to `nl` blocks, flushing
 * what is above it. */
static void bin_shrink_held(ummp_tls_t *t, unsigned g, unsigned nl, int32_t *r) {
  unsigned cur = t->lim[g];
  if (nl >= cur) return;
  for (;;) {
    int32_t held = (int32_t)cur - *r;
    if (held <= (int32_t)nl || !ummp_list_live(t->bin[g])) break;
    *r += (int32_t)bin_flush_held(t, g, (unsigned)held - nl);
  }
  unsigned cut = cur - nl;
  *r -= (int32_t)cut;                                /* may leave a debt: paid by the next free's slow path */
  if (!ummp_list_live(t->bin[g])) *r = (int32_t)nl;
  t->lim[g] = (uint16_t)nl;
  ummp_growth_drop(t, (size_t)cut * g * UMM_GRANULE);
}

/* Bin g (gate held, room *r) overflowed (room 0 on a free): double its
 * limit when the caps allow. When the thread cap, or the pool (the thread's
 * own share back plus what other threads leave), is in the way, the
 * thread's largest other grown bin is halved to make room, but only when
 * that could make enough (not while other threads hold the pool: then no
 * shrinking would), at most 4 times, after which it gives up (the halved
 * bins stay halved). The pool is charged with cap_reserve (growing is rare:
 * a bin doubles at most once per cycle). 1 when room was made. */
static int bin_grow_held(ummp_tls_t *t, unsigned g, int32_t *r) {
  if ((t->cyc[g] & 0x7f) < 2 || (t->cyc[g] & 0x80)) return 0;   /* not (yet) a bin this thread cycles, or no refill since its last overflow */
  size_t chunk = (size_t)g * UMM_GRANULE;
  unsigned cur = t->lim[g];
  unsigned cap = (unsigned)(UMMP_BIN_CAP / chunk);
  if (cap > 0xffffu) cap = 0xffffu;
  if (!cur || cur >= cap) return 0;
  unsigned add = cur < cap - cur ? cur : cap - cur;
  size_t need = add * chunk;
  size_t mine = (size_t)(cur - ummp_g.limit[g]) * chunk;        /* bin g's own growth: no shrinking frees it */
  for (unsigned tries = 0;; tries++) {
    size_t total = __atomic_load_n(&ummp_g.lim_total, __ATOMIC_RELAXED);
    size_t own = pool_share(t->lim_bytes), others = total > own ? total - own : 0;
    size_t room = UMMP_THREAD_BASE + (ummp_g.key_ok && others < UMMP_CACHE_CAP ? UMMP_CACHE_CAP - others : 0);
    if (room > UMMP_THREAD_CAP) room = UMMP_THREAD_CAP;
    if (t->lim_bytes + need <= room) break;
    if (mine + need > room || tries >= 4) return 0;
    unsigned big = 0;
    size_t bb = 0;
    for (unsigned h = UMMP_MIN_GRAN; h <= UMMP_MAX_GRAN; h++) {
      size_t x = (size_t)t->lim[h] * h * UMM_GRANULE;
      if (h != g && t->lim[h] > ummp_g.limit[h] && x > bb) { bb = x; big = h; }
    }
    if (!big) return 0;
    unsigned nl = t->lim[big] / 2;
    if (nl < ummp_g.limit[big]) nl = ummp_g.limit[big];
    int32_t rb;
    if (!ummp_gate_hold(&t->gate[big], &rb)) return 0;   /* held by the path a handler interrupted */
    bin_shrink_held(t, big, nl, &rb);
    ummp_gate_open(&t->gate[big], rb);
  }
  size_t d = pool_share(t->lim_bytes + need) - pool_share(t->lim_bytes);
  if (d && !cap_reserve(&ummp_g.lim_total, d, UMMP_CACHE_CAP)) return 0;   /* another thread's charge got there first */
  t->lim[g] = (uint16_t)(cur + add);
  *r += (int32_t)add;
  t->lim_bytes += need;
  return 1;
}

static inline void bin_push_held(ummp_tls_t *t, unsigned g, void *p, int32_t *r) {
  ummp_list_push(&t->bin[g], p, t->secret);
  (*r)--;
}

/* ---- malloc --------------------------------------------------------------- */
static void *malloc_reentrant(ummp_tls_t *t, size_t n) {
  if (__atomic_load_n(&ummp_g.state, __ATOMIC_ACQUIRE) != UMMP_S_READY) { errno = ENOMEM; return NULL; }
  unsigned a = ummp_enter(t);
  /* the never-waiting path: core nowait calls only (and a fresh region when
   * commit_lock is free: mprotect, arena.c), no mmap (so no large
   * block from a signal handler that interrupted an allocator call) */
  void *p = n > ummp_g.large_threshold ? NULL : ummp_core_malloc_nowait(t, n);
  ummp_leave(t, a);
  if (!p) errno = ENOMEM;
  return p;
}

/* One core batch claim of up to `want` chunks of g granules, counted in the
 * stats; returns how many landed in out[] (address order). */
static size_t batch_claim(ummp_tls_t *t, unsigned g, void **out, unsigned want) {
  unsigned a = ummp_enter(t);
  size_t got = ummp_core_batch(t, (size_t)g * UMM_GRANULE - UMM_HEADER_SIZE, out, want);
  size_t bytes = 0;
  for (size_t i = 0; i < got; i++) bytes += (size_t)gran_of_block(out[i]) * UMM_GRANULE;
  ummp_stats_add(bytes);
  ummp_leave(t, a);
  return got;
}

/* A block of g granules a refill cannot cache goes straight back to the core. */
static void give_back(ummp_tls_t *t, void *p, unsigned g) {
  unsigned a = ummp_enter(t);
  umm_free(ummp_regions[ummp_region_index(p)].u, p);
  ummp_stats_sub((size_t)g * UMM_GRANULE);
  ummp_leave(t, a);
}

/* Refill bin c (gate held, room *r) with one batch claim; returns a block
 * for the caller. */
static void *bin_refill_held(ummp_tls_t *t, unsigned c, int32_t *r) {
  void *out[UMMP_BATCH_MAX];
  if ((t->cyc[c] & 0x80) && (t->cyc[c] & 0x7f) < 0x7f) t->cyc[c] = (unsigned char)((t->cyc[c] & 0x7f) + 1);
  else t->cyc[c] &= 0x7f;
  void *p = depot_get_held(t, c, r);
  if (p) return p;
  unsigned want = ummp_g.batch[c];
  if (t->nref[c] < UMMP_SLOW_START) {                /* slow start: a bin used a little holds a little */
    unsigned ss = 4u << t->nref[c]++;
    if (want > ss) want = ss;
  }
  if ((int32_t)want > *r + 1) want = *r < 0 ? 1u : (unsigned)*r + 1u;
  size_t got = batch_claim(t, c, out, want);
  if (!got) return NULL;
  /* out[] is in address order: push backwards so the lowest comes out first */
  for (size_t i = got - 1; i >= 1; i--) {
    unsigned g = gran_of_block(out[i]);
    if (g == c && *r > 0) {
      bin_push_held(t, c, out[i], r);
    } else if (g != c && g <= UMMP_MAX_GRAN && ummp_gate_take_room(&t->gate[g])) {
      ummp_list_push(&t->bin[g], out[i], t->secret);   /* an odd size with room in its bin */
      ummp_gate_give(&t->gate[g], 0);
    } else {                                         /* odd size or full bin: back to the core */
      give_back(t, out[i], g);
    }
  }
  return out[0];
}

static inline void mpush(ummp_tls_t *t, unsigned m, void *p) {
  ummp_list_push(&t->mbin[m], p, t->secret);
  t->mcount[m]++;
}

/* Refill medium class m with one batch claim; returns a block for the caller. */
static void *refill_med(ummp_tls_t *t, unsigned m) {
  void *out[UMMP_BATCH_MAX];
  unsigned cg = ummp_med_chunk(m);
  unsigned want = ummp_g.mbatch[m];
  unsigned room = ummp_g.mlimit[m] - t->mcount[m];
  if (want > room + 1u) want = room + 1u;
  if (want > UMMP_BATCH_MAX) want = UMMP_BATCH_MAX;
  if (!want) want = 1;
  size_t got = batch_claim(t, cg, out, want);
  if (!got) return NULL;
  for (size_t i = got - 1; i >= 1; i--) {
    unsigned g = gran_of_block(out[i]);
    if (g == cg && t->mcount[m] < ummp_g.mlimit[m]) {
      mpush(t, m, out[i]);
    } else {                                         /* odd size or full class: back to the core */
      give_back(t, out[i], g);
    }
  }
  return out[0];
}

static void *malloc_busy(ummp_tls_t *t, size_t n) {
  if (ummp_unlikely(ummp_ensure_init() != 0)) {
    if (__atomic_load_n(&ummp_g.state, __ATOMIC_ACQUIRE) == UMMP_S_FAILED) {
      /* no arena: every block becomes a mapping */
      unsigned a = ummp_enter(t);
      void *p = ummp_large_alloc(n, 16, t->cur_tag);
      ummp_leave(t, a);
      return p;
    }
    errno = ENOMEM;
    return NULL;
  }
  if (n > UMMP_SMALL_MAX && n <= ummp_g.med_max && t->state == UMMP_T_LIVE) {
    unsigned m = ummp_med_class(ummp_gran_of_size(n));
    void **b = list_pop(&t->mbin[m]);
    if (b) {                                         /* a medium hit */
      t->mcount[m]--;
      t->mhits++;
      ummp_block_retag(b, t->cur_tag);
      return b;
    }
    t->misses++;
    void *p = ummp_list_live(t->mbin[m]) ? NULL : med_depot_get(t, m);
    if (!p) p = refill_med(t, m);
    if (p) return p;
    goto last;
  }
  t->misses++;
  int32_t r;
  unsigned c = ummp_gran_of_size(n);
  if (n <= UMMP_SMALL_MAX && ummp_gate_hold(&t->gate[c], &r)) {   /* a live thread's bin (its gate is off otherwise) */
    void **b = list_pop(&t->bin[c]);            /* reports a corrupted head */
    void *p = b;
    if (b) r++;                                      /* filled since the fast path looked */
    else {
      r = t->lim[c];                                 /* empty: the room is the limit (any debt is paid) */
      p = bin_refill_held(t, c, &r);
    }
    ummp_gate_open(&t->gate[c], r);
    if (b) ummp_block_retag(b, t->cur_tag);
    if (p) return p;
  } else if (n > ummp_g.large_threshold) {
    if (n > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
    unsigned a = ummp_enter(t);
    void *p = ummp_large_alloc(n, 16, t->cur_tag);
    ummp_leave(t, a);
    return p;
  } else {
    unsigned a = ummp_enter(t);
    void *p = ummp_core_malloc(t, n);
    if (p) ummp_stats_add(umm_usable_size(p) + UMM_HEADER_SIZE);
    ummp_leave(t, a);
    if (p) return p;
  }
  /* the arena is exhausted: fall back to a mapping of its own */
last:;
  unsigned a = ummp_enter(t);
  void *p = ummp_large_alloc(n, 16, t->cur_tag);
  ummp_leave(t, a);
  return p;
}

/* First call of a thread (or of the process): initialise, set up. */
static void thread_start(ummp_tls_t *t) {
  t->busy++;
  ummp_barrier();
  if (ummp_ensure_init() == 0) ummp_thread_setup(t);
  ummp_barrier();
  t->busy--;
}

/* The tag lane (tag.c): the malloc fast path with the real bin (t->cls is
 * zeroed), then the tag. NULL when the bin is empty or the cache is held. */
static inline __attribute__((always_inline)) void *tag_lane(ummp_tls_t *t, size_t n, const void *ra) {
  uint32_t tag = ummp_tag_for(t, ra);
  void *b = ummp_bin_pop(t, ummp_gran_of_size(n));
  if (ummp_likely(b != NULL)) ummp_block_retag(b, tag);
  return b;
}
/* Not while a slow path of this thread is in progress (busy: the caller is a
 * signal handler that interrupted it): that path may hold a core chunk lock
 * on a cached block (a walk or a dump visiting it, a free locking its
 * neighbour), and the re-tag would wait for it for ever. Such a call takes
 * the re-entrant path (ummp_malloc_raw). A handler that interrupted a fast
 * path holds no core lock: the lane stays open to it (that bin's gate is held). */
static inline int tag_lane_on(const ummp_tls_t *t, size_t n) {
  return n <= UMMP_SMALL_MAX && t->cls[n] == 0 && t->state == UMMP_T_LIVE && t->busy == 0;
}

static UMMP_NOINLINE void *ummp_malloc_slow_general(size_t n, const void *ra);

void *ummp_malloc_slow(size_t n, const void *ra) {
  ummp_tls_t *t = &ummp_tls;
  if (tag_lane_on(t, n)) {
    void *p = tag_lane(t, n, ra);
    if (p) return p;
  }
  return ummp_malloc_slow_general(n, ra);
}

/* ---- medium hits ------------------------------------------------------------
 * A medium request that its class's list can serve, and a free of a block
 * of exactly a class's chunk while the class has room, used to take the
 * general slow paths: the full re-entrancy test (every gate word), the
 * core's whole pointer classification (header and successor, umm_owns),
 * a call to the purge clock. That was about 510 instructions per malloc +
 * free pair of 4000 B (callgrind; glibc 453, jemalloc 113, tcmalloc 80),
 * and 60 % of rptest's calls are medium. These two paths do what a hit
 * needs and leave everything else (a miss, a full class, any doubt) to the
 * general paths, unchanged.
 *  - Signals: open only while no slow path of this thread is in progress
 *    (busy == 0: one in progress may hold a core lock, and its caller may
 *    be in the middle of a list operation); they hold the thread (busy)
 *    around the list operation, so a handler that interrupts them is
 *    re-entrant (ummp_reentrant) and never touches the lists. A handler
 *    can run between their first look and the hold, so under the hold they
 *    look again (the class may have been emptied or filled meanwhile) and
 *    leave anything else to the general path. A handler that interrupted a
 *    fast path may use them: the fast paths touch only the small bins,
 *    whose gates the medium lists do not share; for such a handler (a gate
 *    is held) they make no system call and take no lock (med_hit_tick).
 *  - Validation: free()'s header test gives the size, the cookie tells a
 *    block already cached (the general path reports the double free), and
 *    the chunk after the block must lie in its region and agree
 *    (med_block_live: hdr_successor_live, the core's own successor test).
 *    CHECK covers the low 7 bits of the size only: a medium size with a
 *    higher bit overwritten passes free()'s test and may even be another
 *    class's chunk (1020 ^ 128 = 892 granules), which cached would be
 *    served over its neighbour; the successor test catches it. Anything
 *    that fails goes to the general path, which names the error.
 *  - Tags and hit counts as in the general paths; the purge clock and dump
 *    requests are counted by free hits only (med_hit_tick): a thread that
 *    only allocates soon refills, and refills count.
 *  - Class lookups (ummp_med_class, ummp_med_chunk) are tables.
 *    Instructions per malloc(4000) + free pair (callgrind): 288 with the
 *    arithmetic, umm_ptr_state and two ticks; 179 with the tables, the
 *    inline successor test, one tick and malloc's tail path trying the
 *    class first; 177 with the depot shortcuts of a full or empty class
 *    (med_full_free, med_empty_take); 182 with med_block_live's region
 *    bounds and lock test (found missing by review). bench rptest -t 1
 *    -s 0.1: 173.4 -> 148.5 -> 143.0 M. */
/* The purge clock and dump requests, from a hit: as in the general paths,
 * except while a small bin's gate is held: the caller is then a signal
 * handler that interrupted a fast path, and does no system call and takes
 * no lock (the count goes on; a later call does the work). The gate test
 * runs only when there is work. */
static UMMP_NOINLINE void med_hit_tick_slow(ummp_tls_t *t) {
  if (ummp_gates_held(t)) return;
  ummp_tick_slow(t);                                 /* keeps errno */
  ummp_debug_poll(t);                                /* keeps errno */
}
static inline void med_hit_tick(ummp_tls_t *t) {
  if (ummp_unlikely(ummp_tick_due(t) || __atomic_load_n(&ummp_g.dump_req, __ATOMIC_RELAXED))) med_hit_tick_slow(t);
}

/* Medium class m is empty (the thread held): the depot's newest magazine,
 * as the general path would take first (malloc_busy), without its set-up
 * checks (bench rptest -t 1 -s 0.1: 52k such misses, ~120 instructions
 * each before the depot). Not for a handler that interrupted a fast path
 * (a gate held): the depot takes a lock, and such a handler takes none
 * here. NULL (depot empty or busy): the general path. Out of line, as is
 * med_full_free: inlined, the gate test cost the hits 15 instructions. */
static UMMP_NOINLINE void *med_empty_take(ummp_tls_t *t, unsigned m, const void *ra) {
  if (ummp_gates_held(t)) return NULL;
  ummp_hold(t);
  void *b = NULL;
  if (!ummp_list_live(t->mbin[m])) {                 /* (a handler may have refilled it since) */
    t->cur_tag = ummp_tag_for(t, ra);
    b = med_depot_get(t, m);
    if (b) {
      t->misses++;
      med_hit_tick(t);
    }
  }
  ummp_unhold(t);
  return b;
}
/* Medium class m is full: park half of it in the depot (try-locks only;
 * not for a handler that interrupted a fast path, as above), then cache p;
 * the general path when the depot is full or busy. */
static UMMP_NOINLINE void med_full_free(ummp_tls_t *t, unsigned m, void *p) {
  if (!ummp_gates_held(t)) {
    ummp_hold(t);
    int room = t->mcount[m] < ummp_g.mlimit[m] || med_depot_put(t, m) != 0;
    if (room) {
      mpush(t, m, p);
      med_hit_tick(t);
    }
    ummp_unhold(t);
    if (room) return;
  }
  ummp_free_slow(p);
}

static inline void *malloc_med_hit(ummp_tls_t *t, size_t n, const void *ra) {
  unsigned m = ummp_med_class(ummp_gran_of_size(n));
  if (!ummp_list_live(t->mbin[m]) && __atomic_load_n(&depot[UMMP_NBINS + m].n, __ATOMIC_RELAXED) == 0)
    return NULL;                                     /* empty, nothing parked: the general path refills */
  ummp_hold(t);
  /* Looked at again under the hold: a handler that ran between the test
   * above and the hold (busy was 0) may have taken the class's last block
   * (the pop then returned NULL, mcount wrapped and the re-tag faulted). */
  void **b = list_pop(&t->mbin[m]);                  /* checks the link */
  if (ummp_likely(b != NULL)) {
    t->mcount[m]--;
    t->mhits++;
    ummp_block_retag(b, ummp_tag_for(t, ra));       /* no tick: the free hit counts (below) */
    ummp_unhold(t);
    return b;
  }
  ummp_unhold(t);
  return med_empty_take(t, m, ra);                   /* a tail call: the hit needs no frame */
}

/* p, whose header free() found good and in use with g granules, is a live
 * block (see "Validation" above; tests/preload/corrupt.sh,
 * header_medium_size): its chunk lies among the region's chunks, it is not
 * locked (an operation on it is under way: the general path decides), and
 * its successor agrees. The tests of the core's ummi_ptr_live, whose call
 * through umm_ptr_state cost 51 instructions per free. */
static inline int med_block_live(const void *p, size_t g) {
  const umm_t *u = ummp_regions[ummp_region_index(p)].u;
  const umm_block_t *c = chunk_of(p);
  ptrdiff_t room = (const char *)u->end - (const char *)c;      /* negative past the end sentinel */
  if ((const char *)c < u->first || room < (ptrdiff_t)(g * UMM_GRANULE) || hdr_is_locked(hdr_peek(c))) return 0;
  const umm_block_t *s = (const umm_block_t *)((const char *)c + g * UMM_GRANULE);
  return hdr_successor_live(s, hdr_peek(s));
}

void ummp_free_med(void *p, size_t g) {
  ummp_tls_t *t = &ummp_tls;
  unsigned m;
  if (ummp_likely(g <= UMMP_MED_TOP_GRAN && t->state == UMMP_T_LIVE && t->busy == 0 && ummp_g.med_max &&
                  ((uint64_t *)p)[1] != t->secret && ummp_med_chunk(m = ummp_med_class((unsigned)g)) == g &&
                  med_block_live(p, g))) {
    ummp_hold(t);
    if (ummp_likely(t->mcount[m] < ummp_g.mlimit[m])) {   /* under the hold: a handler may have filled it */
      mpush(t, m, p);
      med_hit_tick(t);
      ummp_unhold(t);
      return;
    }
    ummp_unhold(t);
    /* Full: it parks half its blocks in the depot, as the general path does
     * first; only when the depot is full or busy does the general path
     * flush to the core. bench rptest -t 1 -s 0.1: one medium free in 5
     * found its class full (a class of 8 KiB chunks holds 2) and took the
     * general path, ~430 instructions, ~230 of them its validation,
     * re-entrancy test and errno keeping; now 8k of those 51k do. */
    med_full_free(t, m, p);
    return;
  }
  ummp_free_slow(p);
}

/* A medium request served by its class's list, or NULL. */
static inline void *malloc_med_try(ummp_tls_t *t, size_t n, const void *ra) {
  if (n > UMMP_SMALL_MAX && n <= ummp_g.med_max && t->state == UMMP_T_LIVE && t->busy == 0) return malloc_med_hit(t, n, ra);
  return NULL;
}

/* malloc's general path once the medium class (if any) could not serve. */
static UMMP_NOINLINE void *malloc_slow_miss(size_t n, const void *ra) {
  ummp_tls_t *t = &ummp_tls;
  if (ummp_unlikely(t->state == UMMP_T_NEW) && !ummp_reentrant(t)) thread_start(t);   /* reads UMM_* */
  if (ummp_unlikely(ummp_g.cfg.guard)) return ummp_guard_alloc(n, 0, ra);
  return ummp_malloc_raw(n, ra);
}

static UMMP_NOINLINE void *ummp_malloc_slow_general(size_t n, const void *ra) {
  void *b = malloc_med_try(&ummp_tls, n, ra);
  return b ? b : malloc_slow_miss(n, ra);
}

void *ummp_malloc_raw(size_t n, const void *ra) {
  ummp_tls_t *t = &ummp_tls;
  if (ummp_reentrant(t)) {
    uint32_t saved = t->cur_tag;                     /* the interrupted slow path's */
    t->cur_tag = ummp_tag_for(t, ra);
    void *p = malloc_reentrant(t, n);
    t->cur_tag = saved;
    return p;
  }
  if (ummp_unlikely(t->state == UMMP_T_NEW)) thread_start(t);
  ummp_hold(t);
  t->cur_tag = ummp_tag_for(t, ra);
  void *p = malloc_busy(t, n);
  ummp_tick(t);
  ummp_debug_poll(t);
  ummp_unhold(t);
  return p;
}

/* ---- free ------------------------------------------------------------------- */
/* Push p (g granules) into its bin, making room when the bin is full (or in
 * debt: internal.h): 1, or 0 when the bin cannot be held (off: cache off or
 * thread not live; held by the fast path a signal handler interrupted). */
static int bin_free(ummp_tls_t *t, unsigned g, void *p) {
  int32_t r;
  if (!ummp_gate_hold(&t->gate[g], &r)) return 0;
  if (r <= 0) {
    if (!(r == 0 && bin_grow_held(t, g, &r))) {
      int32_t r0 = r;
      if (ummp_list_live(t->bin[g])) r += (int32_t)depot_put_held(t, g, 0);
      while (r <= 0 && ummp_list_live(t->bin[g])) r += (int32_t)bin_flush_held(t, g, ummp_g.batch[g]);
      t->sent[g] += (uint64_t)(r - r0);
      if (r <= 0) r = t->lim[g];                     /* empty: the room is the limit */
    }
    t->cyc[g] |= 0x80;                               /* a refill after this completes a cycle */
  }
  bin_push_held(t, g, p, &r);
  ummp_gate_open(&t->gate[g], r);
  return 1;
}

void ummp_free_arena(ummp_tls_t *t, void *p) {
  ummp_region_t *r = &ummp_regions[ummp_region_index(p)];
  size_t bytes = (size_t)gran_of_block(p) * UMM_GRANULE;
  unsigned a = ummp_enter(t);
  umm_free(r->u, p);
  ummp_stats_sub(bytes);
  ummp_note_freed(t, r, bytes);
  ummp_leave(t, a);
}

void ummp_free_slow(void *p) {
  if (!p) return;
  if (ummp_unlikely(ummp_g.cfg.guard)) ummp_guard_free(p);
  else ummp_free_raw(p);
}

void ummp_free_raw(void *p) {
  int err = errno;
  ummp_tls_t *t = &ummp_tls;
  if (!ummp_in_arena(p)) {
    if (!ummp_large_owns(p)) ummp_bad_pointer("free()", p);
    unsigned a = ummp_enter(t);
    int r = ummp_reentrant(t) ? ummp_large_free_deferred(p) : ummp_large_free(p);
    ummp_leave(t, a);
    if (r != 0) ummp_bad_pointer("free()", p);      /* lost a race with another free of p */
    errno = err;
    return;
  }
  ummp_check_arena_ptr("free()", p);
  if (ummp_reentrant(t)) {                           /* signal handler inside malloc/free */
    unsigned a = ummp_enter(t);
    umm_free_nowait(ummp_regions[ummp_region_index(p)].u, p);
    ummp_leave(t, a);
    errno = err;
    return;
  }
  int fresh = t->state == UMMP_T_NEW;
  if (ummp_unlikely(fresh)) thread_start(t);
  t->lim_rot = __atomic_load_n(&ummp_g.lim_rot, __ATOMIC_RELAXED);   /* regions committed since */
  ummp_hold(t);
  unsigned g = gran_of_block(p);
  if (ummp_unlikely(fresh)) {
    /* A thread whose first call is a free: the block is another thread's
     * (a job handed over). Cached, it would be this thread's next block of
     * its size, beside the other thread's blocks: passive false sharing
     * (bench cache-scratch: 0.28 -> 0.23 s, glibc 0.28-0.31). The core
     * takes it back instead, and this thread's first refill cuts its own. */
    ummp_free_arena(t, p);
  } else if (!(g <= UMMP_MAX_GRAN && bin_free(t, g, p))) {
    if (g > UMMP_MAX_GRAN && g <= UMMP_MED_TOP_GRAN && t->state == UMMP_T_LIVE && ummp_g.med_max &&
        ummp_med_chunk(ummp_med_class(g)) == g) {
      unsigned m = ummp_med_class(g);                /* exactly a class's chunk: cache it */
      if (t->mcount[m] >= ummp_g.mlimit[m] && !med_depot_put(t, m))
        flush_med(t, m, (ummp_g.mlimit[m] + 1u) / 2u);   /* half the class */
      mpush(t, m, p);
    } else {
      ummp_free_arena(t, p);
    }
  }
  ummp_tick(t);
  ummp_debug_poll(t);
  ummp_unhold(t);
  errno = err;
}

/* The tag lane with any tag (program tags, a site not in the thread's cache). */
static UMMP_NOINLINE void *lane_any(size_t n, const void *ra) {
  return ummp_malloc_slow(n, ra);
}
static UMMP_NOINLINE void *retag_ret(void *b, uint32_t tag) {
  ummp_block_retag_cas(b, tag);
  return b;
}

/* malloc's slow path, tail-called (ra is malloc's caller). Its hot case, UMM_TAG=site
 * with the site in the thread's site cache and the bin not empty, makes only
 * tail calls, so it needs no stack frame. */
UMMP_NOINLINE void *ummp_malloc_slow_tail(size_t n) {
  const void *ra = __builtin_return_address(0);
  ummp_tls_t *t = &ummp_tls;
  if (n > UMMP_SMALL_MAX) {                          /* a medium hit without the general path's frame */
    void *b = malloc_med_try(t, n, ra);
    return b ? b : malloc_slow_miss(n, ra);          /* (not the general path: it would try the class again) */
  }
  if (!tag_lane_on(t, n)) return ummp_malloc_slow_general(n, ra);
  if (t->tag_depth != 0 || ummp_g.cfg.tag_mode != UMMP_TAG_SITE) return lane_any(n, ra);
  uintptr_t r = (uintptr_t)ra;
  uint32_t s = t->site_cache[(r * 0x9e3779b97f4a7c15ull) >> 56];
  if (ummp_unlikely(s == 0) || __atomic_load_n(&ummp_g.site_tab[s - 1], __ATOMIC_RELAXED) != r) return lane_any(n, ra);
  uint32_t tag = UMMP_TAGK_SITE | (s - 1);
  void *b = ummp_bin_pop(t, ummp_gran_of_size(n));
  if (ummp_unlikely(b == NULL)) return ummp_malloc_slow_general(n, ra);   /* empty, held or corrupted: it tells */
  if (ummp_unlikely(hdr_tags(__atomic_load_n((uint64_t *)b - 1, __ATOMIC_RELAXED)) != tag)) return retag_ret(b, tag);
  return b;
}
