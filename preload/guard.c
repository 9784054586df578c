/* guard.c - UMM_DEBUG=1: canaries, new-memory fill, freed-memory fill with
 * a quarantine, checked on free, on reuse and by umm_heap_check.
 *
 * Off by default (the fast paths never look at it). UMM_DEBUG=1, read once at
 * start-up, turns the thread caches off (every call takes the slow path) and
 * site tags on (unless UMM_TAG says otherwise), and wraps every allocation:
 *
 *   [ payload: n bytes (the request) | canary bytes | trailer: 8 bytes ]
 *   <------------------- the chunk's usable size U --------------------->
 *
 *  - malloc asks the allocator below for n + 9 bytes (at least one canary
 *    byte), fills the payload with GUARD_NEW (0xAA, like MALLOC_PERTURB_:
 *    code that reads memory it never wrote sees a pattern, not zeros), the
 *    rest with the block's canary byte, and writes the trailer:
 *    ((n << 1) | freed) ^ cookie (cookie = address ^ the process secret, so a
 *    trailer copied from elsewhere or overwritten decodes to nonsense).
 *    malloc_usable_size answers n.
 *  - free checks the trailer and every canary byte: "umm: heap overflow
 *    after 0xP (N bytes, allocated at SITE)", N = how far past the request
 *    the last changed byte lies. A trailer marked freed is a double free.
 *    Then the payload is filled with GUARD_FREE (0xDD), the trailer marked
 *    freed, and the block joins the thread's quarantine (a FIFO of up to
 *    GUARD_QBLOCKS blocks / GUARD_QBYTES bytes in a private mapping). Only
 *    when a block leaves the quarantine (just before its memory can be
 *    reused) is it really freed, after checking that the fill is intact:
 *    "umm: write after free 0xP (at offset K, allocated at SITE)".
 *  - realloc always moves (a stale pointer to the old block then sees 0xDD
 *    and is caught by the quarantine check), unless memory is short and the
 *    request shrinks: then the block is cut down in place.
 *  - umm_heap_check also checks every live block's canary and every
 *    quarantined block's fill, printing the same lines (without aborting)
 *    and counting them.
 * A re-entrant call (signal handler inside malloc/free) gets the same
 * layout but skips the quarantine (the block is freed at once, nowait).
 * Messages go out with write(2); SITE is named with dladdr1 (debug.c),
 * which takes the loader lock but does not allocate. Cost: every call is a
 * slow-path call plus two passes over the block (fill, check). */
#define _GNU_SOURCE
#include "internal.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_NEW     0xAAu
#define GUARD_FREE    0xDDu
#define GUARD_EXTRA   9u                   /* bytes beyond the request: >= 1 canary byte + the trailer */
#define GUARD_QBLOCKS 1024u                /* quarantine: blocks per thread */
#define GUARD_QBYTES  ((size_t)8 << 20)    /* quarantine: payload bytes per thread */

typedef struct guard_q {
  void    *blk[GUARD_QBLOCKS];             /* FIFO ring of quarantined blocks */
  uint32_t head, len;                      /* oldest entry, number of entries */
  size_t   bytes;                          /* their payload bytes */
} guard_q_t;

static __thread guard_q_t *tls_q __attribute__((tls_model("initial-exec")));

static uint32_t raw_tag(const void *p) {
  if (ummp_in_arena(p)) return hdr_tags(hdr_peek(chunk_of(p)));
  return ummp_large_tag(p);
}
static uint64_t *trailer(void *p, size_t u) { return (uint64_t *)((char *)p + u - 8); }
static uint64_t cookie(const void *p) { return (uintptr_t)p ^ ummp_g.secret; }
static unsigned char canary(const void *p) { return (unsigned char)((cookie(p) >> 17) | 1u); }
/* p's trailer decoded, (request << 1) | freed, or TRAILER_BAD when it is no
 * valid record (overwritten, or a block too small to hold one). */
#define TRAILER_BAD UINT64_MAX
static uint64_t trailer_read(const void *p, size_t u) {
  if (u < GUARD_EXTRA) return TRAILER_BAD;
  uint64_t tr = *trailer((void *)(uintptr_t)p, u) ^ cookie(p);
  return (size_t)(tr >> 1) <= u - GUARD_EXTRA ? tr : TRAILER_BAD;
}

/* One report line "umm: <what> 0xP (<detail> N, allocated at SITE)" on fd 2. */
static void report(const char *what, const void *p, const char *detail, uint64_t num, const char *unit) {
  char site[192], buf[400];
  ummp_tag_describe(site, sizeof site, raw_tag(p));
  size_t k = ummp_fmt_str(buf, sizeof buf, 0, "umm: ");
  k = ummp_fmt_str(buf, sizeof buf, k, what);
  k = ummp_fmt_str(buf, sizeof buf, k, " ");
  k = ummp_fmt_hex(buf, sizeof buf, k, (uintptr_t)p);
  k = ummp_fmt_str(buf, sizeof buf, k, " (");
  k = ummp_fmt_str(buf, sizeof buf, k, detail);
  if (unit) {
    k = ummp_fmt_u64(buf, sizeof buf, k, num);
    k = ummp_fmt_str(buf, sizeof buf, k, unit);
  }
  k = ummp_fmt_str(buf, sizeof buf, k, ", allocated at ");
  k = ummp_fmt_str(buf, sizeof buf, k, site);
  k = ummp_fmt_str(buf, sizeof buf, k, ")\n");
  ummp_os_write(2, buf, k);
}

/* Check block p (usable u): 0 when intact; else prints the line and returns 1.
 * want_freed: 1 for a quarantined block (fill checked too), 0 for a live
 * one, -1 for either. *n gets the request size. */
static int check_block(void *p, size_t u, int want_freed, size_t *n) {
  uint64_t tr = trailer_read(p, u);
  size_t req = (size_t)(tr >> 1);
  if (tr == TRAILER_BAD) {
    report("heap overflow after", p, "size record overwritten", 0, NULL);
    return 1;
  }
  *n = req;
  int freed = (int)(tr & 1);
  if (want_freed >= 0 && freed != want_freed) return -1;   /* caller's business (double free) */
  const unsigned char *b = p;
  unsigned char c = canary(p);
  for (size_t i = u - 8; i-- > req;)
    if (b[i] != c) {
      report("heap overflow after", p, "", (uint64_t)(i - req + 1), i == req ? " byte" : " bytes");
      return 1;
    }
  if (freed)
    for (size_t i = 0; i < req; i++)
      if (b[i] != GUARD_FREE) {
        report("write after free", p, "at offset ", (uint64_t)i, "");
        return 1;
      }
  return 0;
}

/* 1 when p (usable u; a block the walks see in use) sits in a quarantine:
 * freed by the program, held by umm until it leaves the ring; 0 when the
 * debug heap is off. Reads the trailer only (a walk's visitor may call it:
 * nothing is locked or written). */
int ummp_guard_quarantined(const void *p, size_t u) {
  if (!ummp_g.cfg.guard) return 0;
  uint64_t tr = trailer_read(p, u);
  return tr != TRAILER_BAD && (tr & 1);
}

/* Validate p as free()/realloc() would (aborts on a bad pointer). */
static void validate(const char *op, const void *p) {
  if (ummp_in_arena(p)) ummp_check_arena_ptr(op, p);
  else if (!ummp_large_owns(p)) ummp_bad_pointer(op, p);
}


void *ummp_guard_alloc(size_t n, size_t align, const void *ra) {
  if (n > PTRDIFF_MAX - GUARD_EXTRA - 16) { errno = ENOMEM; return NULL; }
  void *p = align > UMM_ALIGNMENT ? ummp_aligned_raw(align, n + GUARD_EXTRA, ra)
                                  : ummp_malloc_raw(n + GUARD_EXTRA, ra);
  if (!p) return NULL;
  size_t u = ummp_block_usable(p);
  memset(p, GUARD_NEW, n);
  memset((char *)p + n, canary(p), u - 8 - n);
  *trailer(p, u) = ((uint64_t)n << 1) ^ cookie(p);
  return p;
}

size_t ummp_guard_usable(const void *p) {
  uint64_t tr = trailer_read(p, ummp_block_usable(p));
  return tr == TRAILER_BAD ? 0 : (size_t)(tr >> 1);
}

/* Check p (validated) and return its request size; aborts on damage or on
 * a block already freed (in quarantine). */
static size_t check_live(const char *op, void *p) {
  size_t n = 0;
  int r = check_block(p, ummp_block_usable(p), 0, &n);
  if (r > 0) abort();                       /* the line is out (check_block) */
  if (r < 0) {                                       /* trailer says freed: it sits in a quarantine */
    char msg[48];
    size_t k = ummp_fmt_str(msg, sizeof msg, 0, op);
    k = ummp_fmt_str(msg, sizeof msg, k, ": double free");
    msg[k] = 0;
    ummp_os_die(msg, p);
  }
  return n;
}

/* Leave the quarantine: check the fill, free for real. */
static void evict(void *p) {
  size_t n;
  if (check_block(p, ummp_block_usable(p), 1, &n) != 0) abort();                       /* the line is out (check_block) */
  ummp_free_raw(p);
}

/* The quarantine is the thread's own, but a signal handler on the same
 * thread may free too: the ring is touched only while the thread is held
 * (ummp_hold), so a handler that interrupts it is re-entrant and frees its
 * block at once (nowait). Blocks leaving the ring are checked and freed
 * after the hold, at most GUARD_EVICT per call (a ring left over its byte
 * budget shrinks on the next calls). Before, a handler's free could evict
 * the head the interrupted free was evicting: a block freed twice, then
 * "heap overflow" reports on blocks that were fine, or a crash. */
#define GUARD_EVICT 8u
void ummp_guard_free(void *p) {
  int err = errno;
  validate("free()", p);
  size_t n = check_live("free()", p);
  ummp_tls_t *t = &ummp_tls;
  if (ummp_reentrant(t)) {
    ummp_free_raw(p);
    errno = err;
    return;
  }
  ummp_hold(t);
  guard_q_t *q = tls_q;
  if (!q && t->state == UMMP_T_LIVE) {
    q = ummp_os_map(sizeof *q);
    tls_q = q;                                       /* NULL (map failed): no quarantine */
  }
  if (!q) {
    ummp_unhold(t);
    ummp_free_raw(p);
    errno = err;
    return;
  }
  size_t u = ummp_block_usable(p);
  memset(p, GUARD_FREE, n);
  *trailer(p, u) = (((uint64_t)n << 1) | 1u) ^ cookie(p);
  q->blk[(q->head + q->len) % GUARD_QBLOCKS] = p;
  q->len++;
  q->bytes += n;
  void *out[GUARD_EVICT];
  unsigned k = 0;
  while (k < GUARD_EVICT && q->len > 0 && (q->len == GUARD_QBLOCKS || q->bytes > GUARD_QBYTES)) {
    void *o = q->blk[q->head];
    q->head = (q->head + 1) % GUARD_QBLOCKS;
    q->len--;
    q->bytes -= ummp_guard_usable(o);
    out[k++] = o;
  }
  ummp_unhold(t);
  for (unsigned i = 0; i < k; i++) evict(out[i]);
  errno = err;
}

/* Thread exit: empty the quarantine (checked) and drop its mapping. */
void ummp_guard_thread_exit(void) {
  ummp_tls_t *t = &ummp_tls;
  ummp_hold(t);                                      /* a handler's free meanwhile skips the ring */
  guard_q_t *q = tls_q;
  tls_q = NULL;
  ummp_unhold(t);
  if (!q) return;
  while (q->len) {
    void *o = q->blk[q->head];
    q->head = (q->head + 1) % GUARD_QBLOCKS;
    q->len--;
    evict(o);
  }
  ummp_os_unmap(q, sizeof *q);
}

void *ummp_guard_realloc(void *p, size_t n, const void *ra) {
  if (!p) return ummp_guard_alloc(n, 0, ra);
  if (n == 0) { ummp_guard_free(p); return NULL; }
  validate("realloc()", p);
  size_t old = check_live("realloc()", p);
  if (n > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  void *q = ummp_guard_alloc(n, 0, ra);
  if (!q) {
    if (n > old) return NULL;
    size_t u = ummp_block_usable(p);                        /* a shrink never fails: cut down in place */
    memset((char *)p + n, canary(p), u - 8 - n);
    *trailer(p, u) = ((uint64_t)n << 1) ^ cookie(p);
    return p;
  }
  memcpy(q, p, old < n ? old : n);
  ummp_guard_free(p);
  return q;
}

/* ---- umm_heap_check -------------------------------------------------------- */
static int visit(const umm_chunk_t *c, void *arg) {
  if (c->in_use && !(c->flags & UMM_CHUNK_DEFERRED) && c->size >= GUARD_EXTRA) {
    size_t n;
    if (check_block(c->ptr, c->size, -1, &n) > 0) ++*(int *)arg;
  }
  return 0;
}
static int visit_large(void *ptr, size_t size, void *arg) {
  umm_chunk_t c = {ptr, size, 0, 1, 0};
  return visit(&c, arg);
}
int ummp_guard_check_all(void) {
  int bad = 0;
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < nc; i++) umm_walk(ummp_regions[i].u, visit, &bad);
  ummp_large_foreach(visit_large, &bad);
  return bad;
}
