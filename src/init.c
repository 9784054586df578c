/* init.c - umm_init, the contention and fatal-error hooks, statistics. */
#include "umm_internal.h"

static void (*fatal_handler)(const char *msg, const void *ptr);

void umm_on_fatal(void (*handler)(const char *msg, const void *ptr)) {
  __atomic_store_n(&fatal_handler, handler, __ATOMIC_RELEASE);
}

void ummi_fatal(const char *msg, const void *ptr) {
  void (*h)(const char *, const void *) = __atomic_load_n(&fatal_handler, __ATOMIC_ACQUIRE);
  if (h) h(msg, ptr);
  __builtin_trap();                                 /* a handler must not return */
}

static void backoff_pause(umm_t *u, void *arg) {
  (void)u; (void)arg;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

void umm_on_contention(umm_t *u, void (*backoff)(umm_t *u, void *arg), void *arg) {
  __atomic_store_n(&u->backoff_arg, arg, __ATOMIC_RELAXED);
  __atomic_store_n(&u->backoff, backoff ? backoff : backoff_pause, __ATOMIC_RELEASE);
}

void ummi_contended(umm_t *u) { __atomic_fetch_add(&u->contention, 1, __ATOMIC_RELAXED); }

void ummi_backoff(umm_t *u) {
  void (*b)(umm_t *, void *) = __atomic_load_n(&u->backoff, __ATOMIC_ACQUIRE);
  b(u, __atomic_load_n(&u->backoff_arg, __ATOMIC_RELAXED));
}

#if UMM_VALGRIND
/* Re-initialising a space that holds a region discards its blocks: tell
 * memcheck, or they would stay live for it (leaks, overlaps). A region is
 * recognised by its control block (magic, start, end defined and
 * consistent); its in-use chunks that are not DEFERRED (those were freed
 * by umm_free_nowait already) were announced and are freed here. Like
 * umm_init itself, only for a region nobody is using. */
static int vg_word_defined(const void *w) {
  uint64_t vbits = ~(uint64_t)0;
  return VALGRIND_GET_VBITS(w, &vbits, sizeof vbits) == 1 && vbits == 0;
}
static void vg_forget_blocks(umm_t *u, uintptr_t lo, uintptr_t hi) {
  if (!vg_word_defined(&u->magic) || !vg_word_defined(&u->start) || !vg_word_defined(&u->end)) return;
  if (u->magic != UMMI_MAGIC || (uintptr_t)u->start < lo || (uintptr_t)u->end >= hi || u->start >= u->end) return;
  for (umm_block_t *c = u->start; c < u->end;) {
    uint64_t h = hdr_peek(c);
    size_t g = hdr_size(h);
    if (g == 0) break;
    if (g >= MIN_G && hdr_is_used(h) && !hdr_is_deferred(h)) UMMI_VG_FREE(chunk_payload(c));
    c = chunk_at(c, g);
  }
}
#endif

umm_t *umm_init(void *space, size_t bytes) {
  uintptr_t lo = (uintptr_t)space, hi = lo + bytes;
  if (!space || bytes < UMM_MIN_SPACE || hi < lo) { errno = EINVAL; return NULL; }
  umm_t *u = (umm_t *)((lo + UMMI_CACHE_LINE - 1) & ~(uintptr_t)(UMMI_CACHE_LINE - 1));
  uintptr_t s = (((uintptr_t)(u + 1) + G - 1) & ~(uintptr_t)(G - 1)) + UMM_HEADER_SIZE;
  uintptr_t e = ((hi - 2 * UMM_HEADER_SIZE) & ~(uintptr_t)(G - 1)) + UMM_HEADER_SIZE; /* e + 8 <= hi */
  if (e <= s || (e - s) / G < 1 + MIN_G) { errno = EINVAL; return NULL; }
#if UMM_VALGRIND
  vg_forget_blocks(u, lo, hi);
#endif
  UMMI_VG_UNDEFINED(space, bytes);                  /* all ours now (also a re-used region) */
  memset(u, 0, sizeof *u);
  u->start = (umm_block_t *)s;
  u->first = (char *)s + G;
  u->end = (umm_block_t *)e;
  u->backoff = backoff_pause;
  __atomic_store_n(&u->start->hdr, hdr_make(u->start, 1, HDR_IN_USE, 0), __ATOMIC_RELAXED);

  /* Tile the space with free chunks of at most MAX_G granules, each
   * followed by a separator (a 1-granule in-use chunk) except the last:
   * chunks never span a separator, so every merge fits the size field (I4). */
  size_t left = (e - (uintptr_t)u->first) / G;
  umm_block_t *c = (umm_block_t *)(void *)u->first;
  u->initial_free = 0;
  for (;;) {
    size_t g = left < MAX_G ? left : MAX_G;
    __atomic_store_n(&c->hdr, hdr_make(c, g, 0, 0), __ATOMIC_RELAXED);
    ummi_set_footer(c, g);
    unsigned b = ummi_bin_of(g);
    ummi_bin_trylock(u, b);
    ummi_bin_link_locked(u, b, c);
    ummi_bin_unlock(u, b);
    UMMI_VG_NOACCESS(chunk_payload(c), chunk_usable(g));   /* free: links and footer closed too */
    u->initial_free += g;
    c = chunk_at(c, g);
    left -= g;
    if (left < 1 + MIN_G) break;                    /* too little for separator + chunk */
    __atomic_store_n(&c->hdr, hdr_make(c, 1, HDR_IN_USE | HDR_PREV_FREE, 0), __ATOMIC_RELAXED);
    c = chunk_at(c, 1);
    left -= 1;
  }
  u->end = c;                                       /* unused granules (< 3) stay past the end */
  u->bytes = (uintptr_t)c + UMM_HEADER_SIZE - s;
  __atomic_store_n(&u->end->hdr, hdr_make(u->end, 0, HDR_IN_USE | HDR_PREV_FREE, 0), __ATOMIC_RELAXED);
  u->magic = UMMI_MAGIC;
  UMM_CHECK_QUIET(u);
  return u;
}

typedef struct stats_acc {
  umm_stats_t *out;                        /* being filled */
} stats_acc_t;

static int stats_visit(const umm_chunk_t *ch, void *arg) {
  umm_stats_t *st = ((stats_acc_t *)arg)->out;
  st->chunks++;
  st->bytes_total += ch->size + UMM_HEADER_SIZE;
  if (ch->in_use) {
    st->bytes_in_use += ch->size;
  } else {
    st->free_chunks++;
    st->bytes_free += ch->size;
    if (ch->size > st->largest_free) st->largest_free = ch->size;
  }
  return 0;
}

void umm_get_stats(umm_t *u, umm_stats_t *out) {
  stats_acc_t acc = {out};
  memset(out, 0, sizeof *out);
  umm_walk(u, stats_visit, &acc);
  out->deferred = __atomic_load_n(&u->deferred_count, __ATOMIC_RELAXED);
  out->contention = __atomic_load_n(&u->contention, __ATOMIC_RELAXED);
}
