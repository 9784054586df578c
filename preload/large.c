/* large.c - blocks above the large threshold: one private mapping each, a
 * 16-byte header (ummp_large_hdr_t) just before the block, and a lock-free
 * registry so that free() recognises them by address before reading
 * anything, detects double and invalid frees, and walks can list them.
 *
 * Registry: an open-addressing hash set of block addresses in a reserved,
 * lazily backed table of 2^20 words (fewer under a small RLIMIT_DATA). Insert claims the first empty or
 * tombstone slot of the probe sequence with a CAS; remove CASes the address
 * to a tombstone, so of two racing frees of one block exactly one wins (the
 * other reports a double free). Lookups stop at an empty slot. A block's
 * address is unique among live mappings, so it is never in the set twice.
 *
 * The threshold (init.c): UMM_MAX_CHUNK (32 MiB - 24), capped at 1/8 of a
 * region (UMM_LARGE overrides it). Blocks of 1-32 MiB thus stay in the core:
 * an mmap + munmap per block would cost two system calls and a page fault
 * per 4 KiB on every reuse (glibc raises its own mmap threshold to 32 MiB
 * for the same reason), and freed core memory goes back to the OS anyway
 * through the delayed purge (arena.c). The 1/8 cap keeps a region able to
 * hold several such blocks, so rotation does not commit a region per block.
 * Also served here: requests that the arena cannot serve (exhausted, or no
 * arena under a tight ulimit -v). Never from a signal handler that
 * interrupted an allocator call (the re-entrant path makes no mmap, munmap
 * or mremap: it gets NULL + ENOMEM, and its frees of large blocks are
 * unmapped later, ummp_large_free_deferred).
 */
#include "internal.h"
#include <errno.h>
#include <string.h>

/* log2 of the registry's slots: UMMP_LARGE_SLOTS_LOG2, less under a small
 * RLIMIT_DATA or RLIMIT_AS (the table is read/write memory and counts against
 * both: 8 MiB would leave nothing under ulimit -d 8192 or ulimit -v 12288). Set before the table is
 * published (release store of ummp_g.large_tab), never changed after. */
static unsigned tab_log2;
#define NSLOT ((size_t)1 << tab_log2)

static uintptr_t *tab_get(void) { return __atomic_load_n(&ummp_g.large_tab, __ATOMIC_ACQUIRE); }

/* Reserve, commit and publish the registry. NULL when the OS refuses
 * (nothing left mapped) or another thread is creating it right now. */
static uintptr_t *tab_create(void) {
  static int creating;
  int z = 0;
  if (!__atomic_compare_exchange_n(&creating, &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return tab_get();
  uintptr_t *t = tab_get();
  if (!t) {
    unsigned lg = UMMP_LARGE_SLOTS_LOG2;
    size_t dl = ummp_os_data_limit(), al = ummp_os_as_limit();
    if (al < dl) dl = al;
    while (lg > 12 && ((size_t)8 << lg) > dl / 16) lg--;     /* at most 1/16 of the limit */
    size_t len = ((size_t)1 << lg) * sizeof(uintptr_t);
    t = ummp_os_reserve(len);
    if (t && ummp_os_commit(t, len) != 0) {
      ummp_os_unmap(t, len);
      t = NULL;
    }
    if (t) {
      tab_log2 = lg;
      __atomic_store_n(&ummp_g.large_tab, t, __ATOMIC_RELEASE);
    }
  }
  __atomic_store_n(&creating, 0, __ATOMIC_RELEASE);
  return t;
}

int ummp_large_init(void) { return tab_create() ? 0 : -1; }

static size_t hash(uintptr_t p) {
  return (size_t)(((uint64_t)p >> 4) * 0x9e3779b97f4a7c15ull >> (64 - tab_log2));
}

static int reg_insert(uintptr_t p) {
  uintptr_t *tab = tab_get();
  size_t i = hash(p);
  for (size_t k = 0; k < NSLOT; k++, i = (i + 1) & (NSLOT - 1)) {
    uintptr_t v = __atomic_load_n(&tab[i], __ATOMIC_RELAXED);
    while (v == 0 || v == UMMP_LARGE_TOMB) {
      if (__atomic_compare_exchange_n(&tab[i], &v, p, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) return 0;
    }
  }
  return -1;
}

static uintptr_t *reg_find(uintptr_t p) {
  uintptr_t *tab = tab_get();
  if (!tab || p < 16 || (p & 15)) return NULL;
  size_t i = hash(p);
  for (size_t k = 0; k < NSLOT; k++, i = (i + 1) & (NSLOT - 1)) {
    uintptr_t v = __atomic_load_n(&tab[i], __ATOMIC_ACQUIRE);
    if (v == p) return &tab[i];
    if (v == 0) return NULL;
  }
  return NULL;
}

static int reg_remove(uintptr_t p) {
  uintptr_t *s = reg_find(p);
  if (!s) return -1;
  uintptr_t v = p;
  return __atomic_compare_exchange_n(s, &v, UMMP_LARGE_TOMB, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED) ? 0 : -1;
}

/* The last large blocks freed, so that a second free of one is reported as a
 * double free rather than an invalid pointer (best effort: a ring). */
#define RECENT 64u
static uintptr_t recent[RECENT];
static unsigned recent_next;

int ummp_large_recently_freed(const void *p) {
  for (unsigned i = 0; i < RECENT; i++)
    if (__atomic_load_n(&recent[i], __ATOMIC_RELAXED) == (uintptr_t)p) return 1;
  return 0;
}

static ummp_large_hdr_t *hdr_of(const void *p) { return (ummp_large_hdr_t *)((uintptr_t)p - 16); }

void *ummp_large_alloc(size_t size, size_t align, uint32_t tag) {
  size_t page = ummp_g.page;
  if (align < 16) align = 16;
  size_t extra = align > page ? align : page;     /* room for the header, aligned */
  if (size > (SIZE_MAX >> 2) || extra > (SIZE_MAX >> 2) - size) { errno = ENOMEM; return NULL; }
  /* no registry yet: its creation failed at start-up (the process then runs
   * without an arena, every block a mapping); try again */
  if (ummp_unlikely(!tab_get()) && !tab_create()) {
    errno = ENOMEM;
    return NULL;
  }
  size_t len = (size + extra + page - 1) & ~(page - 1);
  char *m = ummp_os_map(len);
  if (!m) { errno = ENOMEM; return NULL; }
  uintptr_t p = ((uintptr_t)m + 16 + align - 1) & ~(uintptr_t)(align - 1);
  size_t off = p - (uintptr_t)m;
  /* give back the unused head and tail of an over-aligned mapping; when the
   * OS refuses (munmap can fail with ENOMEM), the block keeps them */
  size_t head = (off - 16) & ~(page - 1);
  if (head && ummp_os_unmap(m, head) == 0) { m += head; len -= head; off -= head; }
  if (off > UINT32_MAX) {                          /* the header cannot record it */
    ummp_os_unmap(m, len);
    errno = ENOMEM;
    return NULL;
  }
  size_t need = (off + size + page - 1) & ~(page - 1);
  if (need < len && ummp_os_unmap(m + need, len - need) == 0) len = need;
  ummp_large_hdr_t *h = hdr_of((void *)p);
  h->map_len = len;
  h->offset = (uint32_t)off;                       /* < page + 16 after the head was given back */
  h->tag = tag;
  if (reg_insert(p) != 0) { ummp_os_unmap(m, len); errno = ENOMEM; return NULL; }
  __atomic_fetch_add(&ummp_g.large_live, 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&ummp_g.large_bytes, len, __ATOMIC_RELAXED);
  __atomic_fetch_add(&ummp_g.large_total, 1, __ATOMIC_RELAXED);
  ummp_stats_add(len);
  return (void *)p;
}

uint32_t ummp_large_tag(const void *p) { return hdr_of(p)->tag; }
void ummp_large_set_tag(void *p, uint32_t tag) { hdr_of(p)->tag = tag; }

int ummp_large_owns(const void *p) { return reg_find((uintptr_t)p) != NULL; }

size_t ummp_large_usable(const void *p) {
  ummp_large_hdr_t *h = hdr_of(p);
  return h->map_len - h->offset;
}

/* Walks of the registry in progress (ummp_large_foreach). A walk reads a
 * slot and then the block's header, so a block taken out of the registry
 * must stay mapped until every walk that may have read its slot is over:
 * ummp_large_free then defers the unmap (the deferred stack, drained only
 * when no walk runs) and ummp_large_realloc waits before it remaps. Dekker's
 * order: the walk counts itself, then reads slots; a free or realloc
 * removes the slot, then reads the count (both SEQ_CST). Without it, dumps
 * and umm_heap_walk crashed while other threads freed large blocks. */
static unsigned walks;
static int walks_running(void) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return __atomic_load_n(&walks, __ATOMIC_SEQ_CST) != 0;
}

/* In a child of fork only the forking thread is left: walks that other
 * threads had in progress are not (their count would keep every free
 * deferred and every realloc waiting in the child). */
void ummp_large_fork_child(void) { __atomic_store_n(&walks, 0u, __ATOMIC_RELAXED); }

/* Unmap p, already out of the registry. */
static void large_unmap(void *p) {
  ummp_large_hdr_t *h = hdr_of(p);
  size_t len = h->map_len;
  /* munmap of a whole mapping does not fail in practice; if it does (fault
   * injection), the pages stay mapped: the block is freed all the same */
  ummp_os_unmap((char *)p - h->offset, len);
  __atomic_fetch_sub(&ummp_g.large_live, 1, __ATOMIC_RELAXED);
  __atomic_fetch_sub(&ummp_g.large_bytes, len, __ATOMIC_RELAXED);
  ummp_stats_sub(len);
}

static void defer_unmap(void *p) {
  void *head = __atomic_load_n(&ummp_g.large_deferred, __ATOMIC_RELAXED);
  do {
    *(void **)p = head;
  } while (!__atomic_compare_exchange_n(&ummp_g.large_deferred, &head, p, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

int ummp_large_free(void *p) {
  if (reg_remove((uintptr_t)p) != 0) return -1;
  __atomic_store_n(&recent[__atomic_fetch_add(&recent_next, 1, __ATOMIC_RELAXED) % RECENT], (uintptr_t)p,
                   __ATOMIC_RELAXED);
  if (walks_running()) defer_unmap(p);               /* a walk may be reading its header */
  else large_unmap(p);
  return 0;
}

/* From a signal handler (no munmap there: the never-waiting path makes no
 * mmap/munmap/madvise/futex call): out of the registry now (so a second
 * free is a double free at once), onto a lock-free stack linked through the
 * block's first word; the next slow path of any thread unmaps it
 * (ummp_large_drain, from ummp_tick). */
int ummp_large_free_deferred(void *p) {
  if (reg_remove((uintptr_t)p) != 0) return -1;
  __atomic_store_n(&recent[__atomic_fetch_add(&recent_next, 1, __ATOMIC_RELAXED) % RECENT], (uintptr_t)p,
                   __ATOMIC_RELAXED);
  defer_unmap(p);
  return 0;
}

void ummp_large_drain(void) {
  if (walks_running()) return;                       /* the next tick after the walks */
  void *p = __atomic_exchange_n(&ummp_g.large_deferred, NULL, __ATOMIC_ACQUIRE);
  while (p) {
    void *next = *(void **)p;
    large_unmap(p);
    p = next;
  }
}

void *ummp_large_realloc(void *p, size_t size) {
  ummp_large_hdr_t *h = hdr_of(p);
  size_t page = ummp_g.page, off = h->offset, old = h->map_len;
  if (size > (SIZE_MAX >> 2)) { errno = ENOMEM; return NULL; }
  size_t len = (off + size + page - 1) & ~(page - 1);
  if (len == old) return p;
  if (reg_remove((uintptr_t)p) != 0) return NULL;    /* caller validated: cannot happen */
  while (walks_running()) ummp_os_yield();           /* a walk may be reading its header */
  int err = errno;
  char *m = ummp_os_remap((char *)p - off, old, len);
  if (!m) {
    reg_insert((uintptr_t)p);
    if (len < old) { errno = err; return p; }        /* a shrink: the block is big enough as it is */
    /* mremap refused: no room to grow in place or to move, or the block is
     * no longer one mapping (the program changed the protection of part of
     * it: EFAULT). As glibc does: a new block, copy, free the old one. */
    void *q = ummp_large_alloc(size, 16, h->tag);
    if (!q) { errno = ENOMEM; return NULL; }
    memcpy(q, p, old - off);
    ummp_large_free(p);
    errno = err;
    return q;
  }
  void *q = m + off;
  hdr_of(q)->map_len = len;
  reg_insert((uintptr_t)q);
  if (len > old) {
    __atomic_fetch_add(&ummp_g.large_bytes, len - old, __ATOMIC_RELAXED);
    ummp_stats_add(len - old);
  } else {
    __atomic_fetch_sub(&ummp_g.large_bytes, old - len, __ATOMIC_RELAXED);
    ummp_stats_sub(old - len);
  }
  return q;
}

int ummp_large_foreach(int (*fn)(void *ptr, size_t size, void *arg), void *arg) {
  uintptr_t *tab = tab_get();
  if (!tab) return 0;
  __atomic_fetch_add(&walks, 1u, __ATOMIC_SEQ_CST);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  int r = 0;
  for (size_t i = 0; i < NSLOT && !r; i++) {
    uintptr_t v = __atomic_load_n(&tab[i], __ATOMIC_SEQ_CST);
    if (v > UMMP_LARGE_TOMB) r = fn((void *)v, ummp_large_usable((void *)v), arg);
  }
  __atomic_fetch_sub(&walks, 1u, __ATOMIC_RELEASE);
  return r;
}
