/* tag.c - who made each block: UMM_TAG=none|thread|site and program tags.
 *
 * Every core block has 32 tag bits in its header (bits 32-63). The preload
 * fills them:
 *   0                      untagged (UMM_TAG=none, or made before set-up)
 *   1 .. 0x7fffffff        program tags (umm_tag_push; the top bit is masked off)
 *   0x80000000 | slot      UMM_TAG=site: slot of the call site in the site table
 *   UMMP_TAG_OVERFLOW      a site that did not fit the table (one shared tag)
 *   0xc0000000 | serial    UMM_TAG=thread: the allocating thread's serial (1 = first)
 * Large blocks keep their tag in their own header (ummp_large_hdr_t.tag).
 *
 * Where tags are written. Blocks come from the core with the tag of the slow
 * path that asked (t->cur_tag, passed to umm_malloc / umm_malloc_batch / ...).
 * A block re-served from a thread cache keeps the tag it had:
 *   - UMM_TAG=none/thread: the malloc fast path is unchanged (no tag work).
 *     With thread, a block freed by another thread and re-served from that
 *     thread's cache, or parked in the depot by an exiting thread and
 *     re-served from the next one's cache, keeps its first thread's tag (the
 *     tag says which thread took the memory from the core: approximate
 *     after cross-thread frees and thread churn). A refill's own block (the
 *     one the slow path returns) is tagged for its caller.
 *   - UMM_TAG=site, and any thread while a program tag is pushed: the
 *     thread's size-class table (t->cls) is zeroed, so every small malloc
 *     finds bin 0 (always empty) and goes to ummp_malloc_slow, whose "tag
 *     lane" pops the real bin exactly like the fast path (same ownership
 *     protocol) and then re-tags the block when its tag differs. free keeps
 *     its fast path.
 * Re-tagging never stores a header word: the header is shared with the
 * neighbours' operations (which lock it by CAS and, for a foreign in-use
 * chunk, unlock by read-modify-write). ummp_block_retag CASes the header
 * with the new tag only while its lock bit is clear; if it is locked (a
 * walker or a neighbour's free holds it for a bounded time) it waits. Since a
 * CAS succeeds only on an unlocked header, no lock holder can later overwrite
 * the new tag with a stale copy. A block that keeps its site (the common
 * case: one site reusing its own sizes) costs a load and a compare.
 *
 * Site table: 2^17 slots of return addresses (1 MiB reserved, lazily
 * backed), open addressing with linear probing; insert claims an empty slot
 * with a CAS, entries are never removed, so lookups need no lock and are
 * async-signal-safe. At most UMMP_SITE_MAX (98,304) sites or
 * UMMP_SITE_PROBES probes; beyond that a site gets UMMP_TAG_OVERFLOW. Each
 * thread caches recent sites (256 direct-mapped slot numbers, checked
 * against the table, so a stale or torn entry only costs a lookup).
 *
 * Program tags: a per-thread stack of 16 (deeper pushes share the 16th);
 * umm_tag_push / umm_tag_pop are for ordinary code (not signal handlers or
 * walk visitors). */
#include "internal.h"
#include <string.h>

#define SITE_SLOTS ((size_t)1 << UMMP_SITE_LOG2)

int ummp_tag_init(void) {
  if (ummp_g.cfg.tag_mode != UMMP_TAG_SITE) return 0;
  void *t = ummp_os_reserve(SITE_SLOTS * sizeof(uintptr_t));
  if (!t) return -1;
  if (ummp_os_commit(t, SITE_SLOTS * sizeof(uintptr_t)) != 0) {
    ummp_os_unmap(t, SITE_SLOTS * sizeof(uintptr_t));       /* nothing left behind */
    return -1;
  }
  ummp_g.site_tab = t;
  return 0;
}

uint32_t ummp_site_lookup(ummp_tls_t *t, uintptr_t ra, unsigned h) {
  uintptr_t *tab = ummp_g.site_tab;
  if (!tab || !ra) return UMMP_TAG_OVERFLOW;
  size_t i = (size_t)(((uint64_t)ra * 0xff51afd7ed558ccdull) >> (64 - UMMP_SITE_LOG2));
  for (unsigned k = 0; k < UMMP_SITE_PROBES; k++, i = (i + 1) & (SITE_SLOTS - 1)) {
    uintptr_t v = __atomic_load_n(&tab[i], __ATOMIC_ACQUIRE);
    if (v == 0) {
      if (__atomic_load_n(&ummp_g.site_count, __ATOMIC_RELAXED) >= UMMP_SITE_MAX) return UMMP_TAG_OVERFLOW;
      if (__atomic_compare_exchange_n(&tab[i], &v, ra, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        __atomic_fetch_add(&ummp_g.site_count, 1, __ATOMIC_RELAXED);
        v = ra;
      }
    }
    if (v == ra) {
      t->site_cache[h] = (uint32_t)i + 1u;
      return UMMP_TAGK_SITE | (uint32_t)i;
    }
  }
  return UMMP_TAG_OVERFLOW;
}

void ummp_block_retag_cas(void *p, uint32_t tag) { umm_retag(p, tag); }

/* The size-class table the fast path uses (t->cls) when no tag lane is on. */
static void cls_fill(unsigned char *cls) {
  for (size_t n = 0; n <= UMMP_SMALL_MAX; n++) cls[n] = (unsigned char)ummp_gran_of_size(n);
}

static int tag_lane(const ummp_tls_t *t) {
  return ummp_g.cfg.tag_mode == UMMP_TAG_SITE || t->tag_depth != 0;
}

void ummp_tag_thread_setup(ummp_tls_t *t) {
  uint32_t serial = __atomic_add_fetch(&ummp_g.thread_serial, 1, __ATOMIC_RELAXED);
  t->thread_tag = UMMP_TAGK_THREAD | (serial & ~UMMP_TAG_KIND);
  if (tag_lane(t)) memset(t->cls, 0, sizeof t->cls);
  else cls_fill(t->cls);
}

UMMP_EXPORT void umm_tag_push(uint32_t tag) {
  ummp_tls_t *t = &ummp_tls;
  uint32_t d = t->tag_depth;
  if (d < UMMP_TAG_STACK) t->tag_stack[d] = tag & ~UMMP_TAG_AUTO;
  ummp_barrier();
  t->tag_depth = d + 1;
  if (d == 0 && t->state == UMMP_T_LIVE && ummp_g.cfg.tag_mode != UMMP_TAG_SITE) memset(t->cls, 0, sizeof t->cls);
}

UMMP_EXPORT void umm_tag_pop(void) {
  ummp_tls_t *t = &ummp_tls;
  uint32_t d = t->tag_depth;
  if (!d) return;
  if (d == 1 && t->state == UMMP_T_LIVE && ummp_g.cfg.tag_mode != UMMP_TAG_SITE) cls_fill(t->cls);
  ummp_barrier();
  t->tag_depth = d - 1;
}

UMMP_EXPORT uint32_t umm_tag_of(const void *p) {
  if (!p || __atomic_load_n(&ummp_g.state, __ATOMIC_ACQUIRE) != UMMP_S_READY) return 0;
  if (ummp_in_arena(p)) {                            /* a chunk's own header only: not an interior or freed pointer's word */
    if (umm_ptr_state(ummp_regions[ummp_region_index(p)].u, p) != UMM_PTR_LIVE) return 0;
    return hdr_tags(hdr_peek(chunk_of(p)));
  }
  if (ummp_large_owns(p)) return ummp_large_tag(p);
  return 0;
}
