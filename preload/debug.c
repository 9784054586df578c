/* debug.c - the whole-heap API (umm_heap_walk, umm_heap_check) and heap
 * dumps (umm_dump, UMM_DUMP, UMM_DUMP_SIGNAL, UMM_CHECK).
 *
 * A dump never calls malloc: its workspace (tag groups, sort order, region
 * table, output buffer) is one private mapping (ummp_os_map), output goes
 * out with write(2) through ummp_os_write. It runs in two phases:
 *   1. collect: the calling thread is held (a signal handler or a malloc
 *      from code it calls takes the re-entrant path) and inside a fork-gate
 *      section; every region is walked with umm_walk (hand-over-hand chunk
 *      locks: other threads keep allocating, each chunk is seen in a
 *      consistent state, the whole is a moving snapshot), then the large
 *      blocks. A chunk in use whose word 1 holds the cache cookie is counted
 *      as cached, not live.
 *   2. report, outside the section: sort the groups by bytes, name site tags
 *      with dladdr1 (module!function+0xoff, and module+0xoffset relative to
 *      the module's load bias, for `addr2line -e module`), write.
 * glibc's dladdr1 takes the loader lock and does not allocate (glibc 2.36: no
 * malloc call in 5,000 calls, checked with an interposed counting malloc); it is never
 * called from a signal handler (when umm_dump is called re-entrantly, from
 * inside the allocator, it walks with umm_walk_nowait, marks the dump
 * partial when a region was busy, and prints site addresses unnamed).
 *
 * UMM_DUMP_SIGNAL: the handler only sets ummp_g.dump_req (one atomic store:
 * async-signal-safe wherever it lands, in malloc or free included). The dump
 * is written by the next slow-path call (refill, flush, mid-size block,
 * thread start...) of any thread, after its work, outside any section.
 * Limits: a process that no longer allocates does not dump until it does
 * (or exits, with UMM_DUMP set); a request that arrives while a dump is
 * being written is merged into it. Signal dumps go to UMM_DUMP's target: stderr, or
 * PATH.1, PATH.2, ... (PATH itself is the exit dump).
 */
#define _GNU_SOURCE
#include "internal.h"
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <string.h>

/* ---- the whole-heap walk ------------------------------------------------------ */
typedef struct walk_ctx {
  umm_visit_fn visit;                      /* the caller's visitor */
  void        *arg;                        /* its argument */
} walk_ctx_t;

/* A block the core sees in use but the program freed: in a thread cache
 * (its cookie), or under UMM_DEBUG=1 in a quarantine (guard.c). Walks, dumps
 * and the leak report count it as cached, never as live (a quarantined
 * block was reported as leaked). */
static int is_cached(const umm_chunk_t *c) {
  if (!c->in_use || (c->flags & UMM_CHUNK_DEFERRED) || c->size < 16) return 0;
  return ummp_is_cached(c->ptr) || ummp_guard_quarantined(c->ptr, c->size);
}

static int walk_visit(const umm_chunk_t *c, void *arg) {
  walk_ctx_t *w = arg;
  if (is_cached(c)) {
    umm_chunk_t d = *c;
    d.in_use = 0;
    d.flags |= UMM_CHUNK_CACHED;
    return w->visit(&d, w->arg);
  }
  return w->visit(c, w->arg);
}

static int walk_large(void *ptr, size_t size, void *arg) {
  walk_ctx_t *w = arg;
  umm_chunk_t d = {ptr, size, ummp_large_tag(ptr), 1, UMM_CHUNK_LARGE};
  if (ummp_guard_quarantined(ptr, size)) { d.in_use = 0; d.flags |= UMM_CHUNK_CACHED; }
  return w->visit(&d, w->arg);
}

UMMP_EXPORT int umm_heap_walk(umm_visit_fn visit, void *arg) {
  if (!visit || ummp_ensure_init() != 0) return 0;
  ummp_tls_t *t = &ummp_tls;
  int nested = ummp_reentrant(t);
  ummp_hold(t);
  unsigned a = ummp_enter(t);
  walk_ctx_t w = {visit, arg};
  int r = 0;
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < nc && !r; i++) {
    r = nested ? umm_walk_nowait(ummp_regions[i].u, walk_visit, &w) : umm_walk(ummp_regions[i].u, walk_visit, &w);
    if (r == -1 && nested) r = 0;                    /* busy region skipped */
  }
  if (!r) r = ummp_large_foreach(walk_large, &w);
  ummp_leave(t, a);
  ummp_unhold(t);
  return r;
}

UMMP_EXPORT int umm_heap_check(void) {
  if (ummp_ensure_init() != 0) return 0;
  ummp_tls_t *t = &ummp_tls;
  ummp_hold(t);
  unsigned a = ummp_enter(t);
  int bad = 0;
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < nc; i++) bad += umm_check(ummp_regions[i].u);
  if (ummp_g.cfg.guard) bad += ummp_guard_check_all();
  ummp_leave(t, a);
  ummp_unhold(t);
  return bad;
}

/* ---- dump workspace ------------------------------------------------------------ */
#define NGROUP_LOG2 18u
#define NGROUP      ((size_t)1 << NGROUP_LOG2)
#define NADDR       4u
#define OUTCAP      ((size_t)64 << 10)
#define TEXT_TOP    40u                            /* tag groups listed by the text format */
#define TEXT_REGIONS 16u                           /* regions listed by the text format */

typedef struct group {
  uint32_t tag;                            /* the tag */
  uint32_t used;                           /* 1: slot in use */
  uint64_t count;                          /* live blocks */
  uint64_t bytes;                          /* their usable bytes */
  uint64_t smallest;                       /* smallest block */
  uint64_t largest;                        /* largest block */
  void    *addr[NADDR];                    /* the first blocks seen */
} group_t;

typedef struct region_sum {
  uint64_t total;                          /* usable bytes of all chunks */
  uint64_t in_use;                         /* live bytes */
  uint64_t cached;                         /* bytes in thread caches */
  uint64_t free_bytes;                     /* bytes of free chunks */
  uint64_t largest_free;                   /* largest free chunk */
  uint64_t free_chunks;                    /* free chunks */
  uint64_t extent;                         /* end of the last chunk not free (offset in the region) */
  uint64_t first;                          /* start of the first chunk not free (offset; valid when extent) */
  uint64_t run;                            /* free bytes of the current row of free chunks (apart only by separators) */
  uintptr_t run_end;                       /* end of the current row's last payload; 0 after a chunk not free */
  uint64_t crumbs;                         /* free bytes in rows smaller than CRUMB */
  int      partial;                        /* 1: a nowait walk gave up */
  int      corrupt;                        /* 1: the walk stopped at a damaged header (UMM_WALK_CORRUPT) */
} region_sum_t;

typedef struct dump {
  group_t      *grp;                       /* NGROUP slots, open addressing by tag */
  uint32_t     *order;                     /* used slots, sorted by bytes */
  region_sum_t *reg;                       /* one per committed region */
  char         *out;                       /* output buffer */
  size_t        map_len;                   /* bytes of the workspace mapping */
  size_t        n;                         /* bytes in out */
  int           fd;                        /* where out goes */
  uint32_t      ngroups;                   /* used slots */
  uint32_t      nreg;                      /* regions walked */
  int           partial;                   /* some region was skipped (nowait walk) */
  int           corrupt;                   /* some region's walk met a damaged header */
  int           nested;                    /* called from inside the allocator: no dladdr */
  region_sum_t *cur;                       /* region being walked */
  uintptr_t     cur_base;                  /* its start */
  uint64_t      live_blocks, live_bytes;   /* totals (regions and large blocks) */
  uint64_t      cached_blocks, cached_bytes;
  uint64_t      deferred_blocks, deferred_bytes;
  uint64_t      free_bytes, free_chunks, largest_free;
  uint64_t      large_blocks, large_bytes;
  uint64_t      lost_groups;               /* blocks whose tag found no group slot */
} dump_t;

static group_t *group_of(dump_t *d, uint32_t tag) {
  size_t i = (size_t)(((uint64_t)tag * 0x9e3779b97f4a7c15ull) >> (64 - NGROUP_LOG2));
  for (unsigned k = 0; k < 1024; k++, i = (i + 1) & (NGROUP - 1)) {
    group_t *g = &d->grp[i];
    if (g->used && g->tag == tag) return g;
    if (!g->used) {
      g->used = 1;
      g->tag = tag;
      g->smallest = UINT64_MAX;
      d->order[d->ngroups++] = (uint32_t)i;
      return g;
    }
  }
  return NULL;
}

static void add_live(dump_t *d, void *ptr, size_t size, uint32_t tag) {
  d->live_blocks++;
  d->live_bytes += size;
  group_t *g = group_of(d, tag);
  if (!g) { d->lost_groups++; return; }
  if (g->count < NADDR) g->addr[g->count] = ptr;
  g->count++;
  g->bytes += size;
  if (size < g->smallest) g->smallest = size;
  if (size > g->largest) g->largest = size;
}

/* A row of free chunks ends (a chunk not free, the region's end): count it
 * as crumbs if it is small. */
#define CRUMB ((uint64_t)64 << 10)
static void run_end(region_sum_t *r) {
  if (r->run && r->run < CRUMB) r->crumbs += r->run;
  r->run = 0;
  r->run_end = 0;
}

/* The size a report shows for a live block: what the program asked for
 * under UMM_DEBUG=1 (the guard's trailer has it; the chunk also holds the
 * canary and the trailer), else the usable size. */
static size_t shown_size(const void *p, size_t usable) {
  if (ummp_unlikely(ummp_g.cfg.guard)) {
    size_t n = ummp_guard_usable(p);
    if (n && n <= usable) return n;
  }
  return usable;
}

static int dump_visit(const umm_chunk_t *c, void *arg) {
  dump_t *d = arg;
  region_sum_t *r = d->cur;
  r->total += c->size;
  if (c->in_use) {
    uint64_t off = (uint64_t)((uintptr_t)c->ptr - d->cur_base);
    run_end(r);
    if (!r->extent) r->first = off;                  /* address order: the first one seen */
    if (off + c->size > r->extent) r->extent = off + c->size;
  }
  if (!c->in_use) {
    r->free_bytes += c->size;
    r->free_chunks++;
    if (c->size > r->largest_free) r->largest_free = c->size;
    /* a separator (one granule, every 32 MiB) between two free chunks does not
     * fragment: the header after this payload, then the separator's granule */
    uintptr_t p = (uintptr_t)c->ptr;
    if (r->run_end && p == r->run_end + UMM_HEADER_SIZE + UMM_GRANULE) {
      r->run += c->size;
    } else {
      run_end(r);
      r->run = c->size;
    }
    r->run_end = p + c->size;
  } else if (c->flags & UMM_CHUNK_DEFERRED) {
    d->deferred_blocks++;
    d->deferred_bytes += c->size;
  } else if (is_cached(c)) {
    r->cached += c->size;
    d->cached_blocks++;
    d->cached_bytes += c->size;
  } else {
    r->in_use += c->size;
    add_live(d, c->ptr, shown_size(c->ptr, c->size), c->tags);
  }
  return 0;
}

static int dump_large(void *ptr, size_t size, void *arg) {
  dump_t *d = arg;
  if (ummp_guard_quarantined(ptr, size)) {   /* freed, in a quarantine */
    d->cached_blocks++;
    d->cached_bytes += size;
    return 0;
  }
  d->large_blocks++;
  d->large_bytes += size;
  add_live(d, ptr, shown_size(ptr, size), ummp_large_tag(ptr));
  return 0;
}

static int dump_open(dump_t *d, int fd, int nested) {
  memset(d, 0, sizeof *d);
  size_t page = ummp_g.page ? ummp_g.page : 4096;
  size_t len = NGROUP * sizeof(group_t) + NGROUP * sizeof(uint32_t) + UMMP_MAX_REGIONS * sizeof(region_sum_t) + OUTCAP;
  len = (len + page - 1) & ~(page - 1);
  char *m = ummp_os_map(len);
  if (!m) {                                        /* say so rather than skip silently */
    static const char msg[] = "umm: heap dump skipped: no memory for its workspace\n";
    ummp_os_write(fd, msg, sizeof msg - 1);
    return -1;
  }
  d->map_len = len;
  d->grp = (group_t *)(void *)m;
  d->order = (uint32_t *)(void *)(m + NGROUP * sizeof(group_t));
  d->reg = (region_sum_t *)(void *)(m + NGROUP * sizeof(group_t) + NGROUP * sizeof(uint32_t));
  d->out = m + NGROUP * sizeof(group_t) + NGROUP * sizeof(uint32_t) + UMMP_MAX_REGIONS * sizeof(region_sum_t);
  d->fd = fd;
  d->nested = nested;
  return 0;
}

static void dump_close(dump_t *d) { ummp_os_unmap(d->grp, d->map_len); }

static void collect(dump_t *d) {
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  if (nc > UMMP_MAX_REGIONS) nc = UMMP_MAX_REGIONS;
  for (uint32_t i = 0; i < nc; i++) {
    d->cur = &d->reg[i];
    d->cur_base = (uintptr_t)ummp_regions[i].u;
    int r = d->nested ? umm_walk_nowait(ummp_regions[i].u, dump_visit, d) : umm_walk(ummp_regions[i].u, dump_visit, d);
    if (r == UMM_WALK_BUSY) { d->reg[i].partial = 1; d->partial = 1; }
    if (r == UMM_WALK_CORRUPT) { d->reg[i].corrupt = 1; d->corrupt = 1; }
    run_end(&d->reg[i]);
    d->free_bytes += d->reg[i].free_bytes;
    d->free_chunks += d->reg[i].free_chunks;
    if (d->reg[i].largest_free > d->largest_free) d->largest_free = d->reg[i].largest_free;
  }
  d->nreg = nc;
  ummp_large_foreach(dump_large, d);
}

/* Heap sort of order[] by bytes, largest first (no qsort: it may allocate). */
static int before(const dump_t *d, uint32_t a, uint32_t b) {
  const group_t *x = &d->grp[a], *y = &d->grp[b];
  if (x->bytes != y->bytes) return x->bytes < y->bytes;     /* min-heap root = smallest: sorts descending */
  return x->tag > y->tag;
}
static void sift(dump_t *d, size_t i, size_t n) {
  uint32_t *o = d->order;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) return;
    if (c + 1 < n && before(d, o[c + 1], o[c])) c++;
    if (!before(d, o[c], o[i])) return;
    uint32_t x = o[i]; o[i] = o[c]; o[c] = x;
    i = c;
  }
}
static void sort_groups(dump_t *d) {
  size_t n = d->ngroups;
  for (size_t i = n / 2; i-- > 0;) sift(d, i, n);
  for (size_t k = n; k > 1; k--) {
    uint32_t x = d->order[0]; d->order[0] = d->order[k - 1]; d->order[k - 1] = x;
    sift(d, 0, k - 1);
  }
}

/* ---- output ------------------------------------------------------------------ */
static void flush(dump_t *d) {
  ummp_os_write(d->fd, d->out, d->n);
  d->n = 0;
}
static void put(dump_t *d, const char *s) {
  while (*s) {
    if (d->n == OUTCAP) flush(d);
    d->out[d->n++] = *s++;
  }
}
static void put_u(dump_t *d, uint64_t v) {
  char b[24];
  b[ummp_fmt_u64(b, sizeof b, 0, v)] = 0;
  put(d, b);
}
static void put_hex(dump_t *d, uint64_t v) {
  char b[24];
  b[ummp_fmt_hex(b, sizeof b, 0, v)] = 0;
  put(d, b);
}
static void put_bytes(dump_t *d, uint64_t v) {
  char b[32];
  b[ummp_fmt_bytes(b, sizeof b, 0, v)] = 0;
  put(d, b);
}
/* v / 1000 with three decimals. */
static void put_milli(dump_t *d, uint64_t v) {
  put_u(d, v / 1000);
  put(d, ".");
  char b[4] = {(char)('0' + v / 100 % 10), (char)('0' + v / 10 % 10), (char)('0' + v % 10), 0};
  put(d, b);
}
/* A JSON string body (no quotes): escapes ", \ and control characters. */
/* Length of the well-formed UTF-8 sequence at s (2-4), 0 if there is none. */
static size_t utf8_len(const unsigned char *s) {
  size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  return n;
}
/* A JSON string's content: quotes, backslashes and control bytes escaped; a
 * byte that is not part of well-formed UTF-8 (a path in another encoding)
 * written as \u00XX, so the document stays valid JSON. */
static void put_json(dump_t *d, const char *s) {
  static const char hex[] = "0123456789abcdef";
  char b[8];
  while (*s) {
    unsigned char c = (unsigned char)*s;
    size_t n = c >= 0x80 ? utf8_len((const unsigned char *)s) : 1;
    if (c == '"' || c == '\\') { b[0] = '\\'; b[1] = (char)c; b[2] = 0; put(d, b); }
    else if (c < 0x20 || n == 0) { put(d, "\\u00"); b[0] = hex[c >> 4]; b[1] = hex[c & 15]; b[2] = 0; put(d, b); n = 1; }
    else { for (size_t i = 0; i < n; i++) b[i] = s[i]; b[n] = 0; put(d, b); }
    s += n;
  }
}
/* Pad with spaces to width w (text columns). */
static void put_padded(dump_t *d, char *b, size_t k, unsigned w) {
  for (size_t i = k; i < w; i++) put(d, " ");
  b[k] = 0;
  put(d, b);
}
static void put_pad_u(dump_t *d, uint64_t v, unsigned w) {
  char b[24];
  put_padded(d, b, ummp_fmt_u64(b, sizeof b, 0, v), w);
}
static void put_pad_bytes(dump_t *d, uint64_t v, unsigned w) {
  char b[32];
  put_padded(d, b, ummp_fmt_bytes(b, sizeof b, 0, v), w);
}

/* The name of a tag. */
typedef struct tag_name {
  const char *kind;                        /* "untagged", "program", "thread", "site", "overflow" */
  uintptr_t   ra;                          /* site: the return address */
  const char *module;                      /* site: the module's path (dladdr), or NULL */
  const char *base;                        /* its last path component */
  const char *func;                        /* nearest symbol, or NULL */
  uint64_t    func_off;                    /* ra - symbol */
  uint64_t    mod_off;                     /* ra - the module's load bias (addr2line's address; subtract 1 for the call) */
} tag_name_t;

/* The return address behind a site tag; 0 when tag is not a site that the
 * table holds (another kind, the overflow tag, or a tag damaged into a slot
 * past the table). */
static uintptr_t site_ra(uint32_t tag) {
  if ((tag & UMMP_TAG_KIND) != UMMP_TAGK_SITE || tag == UMMP_TAG_OVERFLOW || !ummp_g.site_tab ||
      (tag & ~UMMP_TAG_KIND) >= ((uint32_t)1 << UMMP_SITE_LOG2))
    return 0;
  return __atomic_load_n(&ummp_g.site_tab[tag & ~UMMP_TAG_KIND], __ATOMIC_ACQUIRE);
}

static void name_tag(const dump_t *d, uint32_t tag, tag_name_t *n) {
  memset(n, 0, sizeof *n);
  if (tag == 0) { n->kind = "untagged"; return; }
  if (!(tag & UMMP_TAG_AUTO)) { n->kind = "program"; return; }
  if ((tag & UMMP_TAG_KIND) == UMMP_TAGK_THREAD) { n->kind = "thread"; return; }
  if (tag == UMMP_TAG_OVERFLOW || !ummp_g.site_tab || (tag & ~UMMP_TAG_KIND) >= ((uint32_t)1 << UMMP_SITE_LOG2)) {
    n->kind = "overflow";
    return;
  }
  n->kind = "site";
  n->ra = site_ra(tag);
  if (d->nested || !n->ra) return;
  Dl_info info;
  struct link_map *lm = NULL;
  if (!dladdr1((void *)n->ra, &info, (void **)&lm, RTLD_DL_LINKMAP)) return;
  n->module = info.dli_fname && info.dli_fname[0] ? info.dli_fname : "main";
  if (lm && (!lm->l_name || !lm->l_name[0])) {      /* the executable: dladdr names it as argv[0] said */
    static char exe[4096];
    static int exe_read;
    if (!__atomic_load_n(&exe_read, __ATOMIC_ACQUIRE)) {
      ummp_os_self_exe(exe, sizeof exe);
      __atomic_store_n(&exe_read, 1, __ATOMIC_RELEASE);
    }
    if (exe[0]) n->module = exe;                     /* a path addr2line -e can open from anywhere */
  }
  n->base = n->module;
  for (const char *s = n->module; *s; s++) if (*s == '/') n->base = s + 1;
  n->mod_off = (uint64_t)(n->ra - (lm ? (uintptr_t)lm->l_addr : (uintptr_t)info.dli_fbase));
  if (info.dli_sname) {
    n->func = info.dli_sname;
    n->func_off = (uint64_t)(n->ra - (uintptr_t)info.dli_saddr);
  }
}

/* The tag's display name into b (NUL-terminated). */
static const char *fmt_name(char *b, size_t cap, uint32_t tag, const tag_name_t *n) {
  size_t k = 0;
  if (n->kind[0] == 'p') { k = ummp_fmt_str(b, cap, k, "program tag "); k = ummp_fmt_u64(b, cap, k, tag); }
  else if (n->kind[0] == 't') { k = ummp_fmt_str(b, cap, k, "thread "); k = ummp_fmt_u64(b, cap, k, tag & ~UMMP_TAG_KIND); }
  else if (n->kind[0] == 'u') k = ummp_fmt_str(b, cap, k, "untagged");
  else if (n->kind[0] == 'o') k = ummp_fmt_str(b, cap, k, "(other sites: site table full)");
  else if (!n->module) { k = ummp_fmt_str(b, cap, k, "site "); k = ummp_fmt_hex(b, cap, k, n->ra); }
  else {
    k = ummp_fmt_str(b, cap, k, n->base);
    k = ummp_fmt_str(b, cap, k, "!");
    if (n->func) { k = ummp_fmt_str(b, cap, k, n->func); k = ummp_fmt_str(b, cap, k, "+"); k = ummp_fmt_hex(b, cap, k, n->func_off); }
    else k = ummp_fmt_hex(b, cap, k, n->mod_off);
  }
  b[k] = 0;
  return b;
}

/* For one-line messages (guard.c): the name, and for a site in a module also
 * "[module+0xoffset]" as in the dumps, what addr2line needs. */
const char *ummp_tag_describe(char *b, size_t cap, uint32_t tag) {
  dump_t d;
  tag_name_t n;
  memset(&d, 0, sizeof d);
  name_tag(&d, tag, &n);
  fmt_name(b, cap, tag, &n);
  if (n.module && n.func) {
    size_t k = 0;
    while (b[k]) k++;
    k = ummp_fmt_str(b, cap, k, " [");
    k = ummp_fmt_str(b, cap, k, n.base);
    k = ummp_fmt_str(b, cap, k, "+");
    k = ummp_fmt_hex(b, cap, k, n.mod_off);
    k = ummp_fmt_str(b, cap, k, "]");
    b[k < cap ? k : cap - 1] = 0;
  }
  return b;
}

static const char *mode_name(void) {
  int m = ummp_g.cfg.tag_mode;
  return m == UMMP_TAG_SITE ? "site" : m == UMMP_TAG_THREAD ? "thread" : "none";
}

/* Fragmentation of a region's free space, in thousandths: the share that
 * lies in holes smaller than CRUMB (64 KiB), between chunks in use, which
 * only small requests can use. Free chunks apart only by separators count as
 * one hole (a fresh 256 MiB region is 8 chunks of 32 MiB). It was 1 - largest
 * free / free, which said 87.5 % for a fresh region (the separators) and
 * still 12.5 % with one block in use between two large free areas. */
static uint64_t frag_milli(const region_sum_t *r) {
  return r->free_bytes ? r->crumbs * 1000 / r->free_bytes : 0;
}

static void write_text(dump_t *d, const char *reason) {
  put(d, "umm: heap dump ("); put(d, reason); put(d, "), pid "); put_u(d, (uint64_t)ummp_os_getpid());
  put(d, ", UMM_TAG="); put(d, mode_name());
  if (d->partial) put(d, ", PARTIAL (busy regions skipped)");
  if (d->corrupt) put(d, ", INCOMPLETE (a damaged header stopped a region's walk: an overflow? UMM_CHECK=1 counts the damage)");
  put(d, "\numm:   live   "); put_pad_u(d, d->live_blocks, 10); put(d, " blocks "); put_pad_bytes(d, d->live_bytes, 11);
  put(d, "   (of which large: "); put_u(d, d->large_blocks); put(d, " blocks, "); put_bytes(d, d->large_bytes);
  put(d, ")\numm:   cached "); put_pad_u(d, d->cached_blocks, 10); put(d, " blocks "); put_pad_bytes(d, d->cached_bytes, 11);
  put(d, "   (in thread caches: free for the program, held by umm)\numm:   free   "); put_pad_u(d, d->free_chunks, 10);
  put(d, " chunks "); put_pad_bytes(d, d->free_bytes, 11); put(d, "   (largest "); put_bytes(d, d->largest_free);
  put(d, "; deferred frees "); put_u(d, d->deferred_blocks); put(d, ", "); put_bytes(d, d->deferred_bytes); put(d, ")\n");
  unsigned shown = 0;
  for (uint32_t i = 0; i < d->nreg; i++) {
    region_sum_t *r = &d->reg[i];
    if (!r->total) continue;
    if (shown++ == TEXT_REGIONS) { put(d, "umm:   (more regions: see the json format)\n"); break; }
    put(d, "umm:   region "); put_u(d, i); put(d, ": in use "); put_bytes(d, r->in_use); put(d, ", cached ");
    put_bytes(d, r->cached); put(d, ", free "); put_bytes(d, r->free_bytes); put(d, " in "); put_u(d, r->free_chunks);
    put(d, " chunks, largest free "); put_bytes(d, r->largest_free); put(d, ", in holes < 64 KiB ");
    uint64_t fr = frag_milli(r);
    put_u(d, fr / 10); put(d, "."); put_u(d, fr % 10); put(d, "%");
    if (r->partial) put(d, " (busy: skipped)");
    if (r->corrupt) put(d, " (damaged header: the figures cover the region up to it)");
    put(d, "\n");
  }
  put(d, "umm:   live blocks by tag, largest first ("); put_u(d, d->ngroups); put(d, " tags");
  if (d->ngroups > TEXT_TOP) { put(d, ", top "); put_u(d, TEXT_TOP); }
  put(d, "):\numm:          bytes     blocks   smallest    largest  tag  [addr2line offset]  examples\n");
  for (uint32_t k = 0; k < d->ngroups && k < TEXT_TOP; k++) {
    group_t *g = &d->grp[d->order[k]];
    tag_name_t nm;
    name_tag(d, g->tag, &nm);
    put(d, "umm:   "); put_pad_bytes(d, g->bytes, 12); put_pad_u(d, g->count, 11); put_pad_u(d, g->smallest, 11);
    put_pad_u(d, g->largest, 11); put(d, "  ");
    char nb[512];
    put(d, fmt_name(nb, sizeof nb, g->tag, &nm));
    if (nm.module) { put(d, "  ["); put(d, nm.base); put(d, "+"); put_hex(d, nm.mod_off); put(d, "]"); }
    put(d, " ");
    for (uint64_t j = 0; j < g->count && j < NADDR; j++) { put(d, " "); put_hex(d, (uintptr_t)g->addr[j]); }
    put(d, "\n");
  }
  if (d->lost_groups) { put(d, "umm:   ("); put_u(d, d->lost_groups); put(d, " blocks of too many distinct tags not grouped)\n"); }
  put(d, "umm: end of heap dump\n");
}

static void json_kv(dump_t *d, const char *k, uint64_t v, int comma) {
  put(d, "\""); put(d, k); put(d, "\": "); put_u(d, v);
  if (comma) put(d, ", ");
}

static void write_json(dump_t *d, const char *reason) {
  put(d, "{\"umm_dump\": 1, \"reason\": \""); put(d, reason); put(d, "\", ");
  json_kv(d, "pid", (uint64_t)ummp_os_getpid(), 1);
  put(d, "\"tag_mode\": \""); put(d, mode_name()); put(d, "\", \"partial\": "); put(d, d->partial ? "true" : "false");
  put(d, ", \"corrupt\": "); put(d, d->corrupt ? "true" : "false");
  put(d, ",\n \"totals\": {");
  json_kv(d, "live_blocks", d->live_blocks, 1); json_kv(d, "live_bytes", d->live_bytes, 1);
  json_kv(d, "cached_blocks", d->cached_blocks, 1); json_kv(d, "cached_bytes", d->cached_bytes, 1);
  json_kv(d, "free_chunks", d->free_chunks, 1); json_kv(d, "free_bytes", d->free_bytes, 1);
  json_kv(d, "largest_free", d->largest_free, 1);
  json_kv(d, "deferred_blocks", d->deferred_blocks, 1); json_kv(d, "deferred_bytes", d->deferred_bytes, 1);
  json_kv(d, "large_blocks", d->large_blocks, 1); json_kv(d, "large_bytes", d->large_bytes, 1);
  json_kv(d, "ungrouped_blocks", d->lost_groups, 1);
  json_kv(d, "tags", d->ngroups, 0);
  put(d, "},\n \"regions\": [");
  int first = 1;
  for (uint32_t i = 0; i < d->nreg; i++) {
    region_sum_t *r = &d->reg[i];
    if (!r->total && !r->partial) continue;
    put(d, first ? "\n  {" : ",\n  {");
    first = 0;
    json_kv(d, "index", i, 1); json_kv(d, "bytes", r->total, 1); json_kv(d, "in_use", r->in_use, 1);
    json_kv(d, "cached", r->cached, 1); json_kv(d, "free", r->free_bytes, 1); json_kv(d, "free_chunks", r->free_chunks, 1);
    json_kv(d, "largest_free", r->largest_free, 1);
    put(d, "\"fragmentation\": ");
    put_milli(d, frag_milli(r));
    put(d, ", \"partial\": "); put(d, r->partial ? "true" : "false");
    put(d, ", \"corrupt\": "); put(d, r->corrupt ? "true" : "false");
    put(d, "}");
  }
  put(d, "],\n \"tags\": [");
  for (uint32_t k = 0; k < d->ngroups; k++) {
    group_t *g = &d->grp[d->order[k]];
    tag_name_t nm;
    name_tag(d, g->tag, &nm);
    put(d, k ? ",\n  {" : "\n  {");
    json_kv(d, "tag", g->tag, 1);
    put(d, "\"kind\": \""); put(d, nm.kind); put(d, "\", \"name\": \"");
    char nb[512];
    put_json(d, fmt_name(nb, sizeof nb, g->tag, &nm));
    put(d, "\", ");
    if (nm.ra) { put(d, "\"address\": \""); put_hex(d, nm.ra); put(d, "\", "); }
    if (nm.module) {
      put(d, "\"module\": \""); put_json(d, nm.module); put(d, "\", \"module_offset\": \""); put_hex(d, nm.mod_off);
      put(d, "\", ");
      if (nm.func) { put(d, "\"function\": \""); put_json(d, nm.func); put(d, "\", "); }
    }
    json_kv(d, "blocks", g->count, 1); json_kv(d, "bytes", g->bytes, 1);
    json_kv(d, "smallest", g->smallest, 1); json_kv(d, "largest", g->largest, 1);
    put(d, "\"addresses\": [");
    for (uint64_t j = 0; j < g->count && j < NADDR; j++) {
      put(d, j ? ", \"" : "\"");
      put_hex(d, (uintptr_t)g->addr[j]);
      put(d, "\"");
    }
    put(d, "]}");
  }
  put(d, "]}\n");
}

/* Hold the thread (its re-entrant calls take the nowait paths), collect the
 * heap inside a fork-gate section, sort the groups. The caller writes the
 * output, then ummp_unhold()s. */
static void collect_held(ummp_tls_t *t, dump_t *d) {
  ummp_hold(t);
  unsigned a = ummp_enter(t);
  collect(d);
  ummp_leave(t, a);
  sort_groups(d);
}

/* The whole dump; the thread must not be inside a section. nested: called
 * from inside the allocator (nowait walks, no dladdr). */
static int dump_to(int fd, int json, const char *reason, int nested) {
  ummp_tls_t *t = &ummp_tls;
  dump_t d;
  if (dump_open(&d, fd, nested) != 0) return -1;
  int err = errno;
  collect_held(t, &d);
  if (json) write_json(&d, reason);
  else write_text(&d, reason);
  flush(&d);
  ummp_unhold(t);
  dump_close(&d);
  errno = err;
  return 0;
}


/* ---- heap map (umm_dump(fd, "svg")) ---------------------------------------------
 * Each region a band of SVG_COLS columns drawn to scale (a column covers
 * region_size / SVG_COLS bytes), coloured by what holds most of its bytes:
 * one of the top SVG_NTOP tags by live bytes, other live blocks, thread
 * caches, free. Runs of equal columns become one rect. A legend names the
 * colours (top tags with their bytes), large blocks are listed beside. Two
 * passes: the dump's collection (groups, to pick the top tags), then one
 * walk per region into a column table, written out after each walk. */
#define SVG_COLS    1000u
#define SVG_NTOP    8u
#define SVG_NCAT    (SVG_NTOP + 3u)
#define SVG_OTHER   SVG_NTOP
#define SVG_CACHED  (SVG_NTOP + 1u)
#define SVG_FREE    (SVG_NTOP + 2u)
#define SVG_BANDS   64u
#define SVG_LEFT    150u
#define SVG_TOP     56u
#define SVG_BAND_H  22u
#define SVG_GAP     10u
#define SVG_LARGE   12u

static const char *const svg_color[SVG_NCAT] = {
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
  "#7f7f7f", "#9edae5", "#f4f4f4",
};

typedef struct svg_ctx {
  uint64_t (*col)[SVG_NCAT];               /* bytes per column and category */
  uintptr_t base;                          /* region start */
  uint64_t  origin;                        /* region offset at the band's left end */
  size_t    rsize;                         /* bytes the band shows */
  uint32_t  top[SVG_NTOP];                 /* the top tags */
  unsigned  ntop;                          /* how many */
} svg_ctx_t;

static int svg_visit(const umm_chunk_t *c, void *arg) {
  svg_ctx_t *s = arg;
  unsigned cat = SVG_OTHER;
  if (!c->in_use) cat = SVG_FREE;
  else if (c->flags & UMM_CHUNK_DEFERRED) cat = SVG_OTHER;
  else if (is_cached(c)) cat = SVG_CACHED;
  else for (unsigned i = 0; i < s->ntop; i++) if (s->top[i] == c->tags) { cat = i; break; }
  uint64_t start = (uint64_t)((uintptr_t)c->ptr - UMM_HEADER_SIZE - s->base), end = start + c->size + UMM_HEADER_SIZE;
  if (end <= s->origin) return 0;
  start = start > s->origin ? start - s->origin : 0;
  end -= s->origin;
  if (end > s->rsize) end = s->rsize;
  if (start >= end) return 0;
  uint64_t x0 = start * SVG_COLS / s->rsize, x1 = (end - 1) * SVG_COLS / s->rsize;
  for (uint64_t x = x0; x <= x1 && x < SVG_COLS; x++) {
    uint64_t lo = x * s->rsize / SVG_COLS, hi = (x + 1) * s->rsize / SVG_COLS;
    if (lo < start) lo = start;
    if (hi > end) hi = end;
    if (hi > lo) s->col[x][cat] += hi - lo;
  }
  return 0;
}

/* Text for XML: escapes & < > ". */
static void put_xml(dump_t *d, const char *t) {
  char b[2] = {0, 0};
  for (; *t; t++) {
    if (*t == '&') put(d, "&amp;");
    else if (*t == '<') put(d, "&lt;");
    else if (*t == '>') put(d, "&gt;");
    else if (*t == '"') put(d, "&quot;");
    else if ((unsigned char)*t >= 0x20 && (unsigned char)*t < 0x7f) { b[0] = *t; put(d, b); }
  }
}

static void svg_band(dump_t *d, svg_ctx_t *s, uint32_t ri, unsigned row) {
  uint64_t y = SVG_TOP + (uint64_t)row * (SVG_BAND_H + SVG_GAP);
  region_sum_t *r = &d->reg[ri];
  put(d, "<g class=\"band\" id=\"region-"); put_u(d, ri); put(d, "\">\n<text x=\"4\" y=\""); put_u(d, y + 10);
  put(d, "\">region "); put_u(d, ri); put(d, "</text>\n<text x=\"4\" y=\""); put_u(d, y + 22);
  put(d, "\" font-size=\"10\">+"); put_hex(d, s->origin); put(d, ", "); put_bytes(d, s->rsize); put(d, "</text>\n<rect x=\""); put_u(d, SVG_LEFT); put(d, "\" y=\""); put_u(d, y);
  put(d, "\" width=\""); put_u(d, SVG_COLS); put(d, "\" height=\""); put_u(d, SVG_BAND_H);
  put(d, "\" fill=\"#ffffff\" stroke=\"#999999\"/>\n");
  unsigned x = 0;
  while (x < SVG_COLS) {
    unsigned best = SVG_NCAT;
    uint64_t most = 0;
    for (unsigned k = 0; k < SVG_NCAT; k++) if (s->col[x][k] > most) { most = s->col[x][k]; best = k; }
    unsigned x1 = x + 1;
    while (x1 < SVG_COLS) {
      unsigned b2 = SVG_NCAT;
      uint64_t m2 = 0;
      for (unsigned k = 0; k < SVG_NCAT; k++) if (s->col[x1][k] > m2) { m2 = s->col[x1][k]; b2 = k; }
      if (b2 != best) break;
      x1++;
    }
    if (best < SVG_NCAT) {
      put(d, "<rect x=\""); put_u(d, SVG_LEFT + x); put(d, "\" y=\""); put_u(d, y + 1); put(d, "\" width=\"");
      put_u(d, x1 - x); put(d, "\" height=\""); put_u(d, SVG_BAND_H - 2); put(d, "\" fill=\""); put(d, svg_color[best]);
      put(d, "\"/>\n");
    }
    x = x1;
  }
  put(d, "<title>region "); put_u(d, ri); put(d, ": in use "); put_bytes(d, r->in_use); put(d, ", cached ");
  put_bytes(d, r->cached); put(d, ", free "); put_bytes(d, r->free_bytes); put(d, ", largest free ");
  put_bytes(d, r->largest_free); put(d, "</title>\n</g>\n");
}

typedef struct svg_large {
  dump_t  *d;                              /* output */
  uint64_t x, y;                           /* where the next line goes */
  unsigned shown;                          /* lines written */
} svg_large_t;

static int large_list(void *ptr, size_t size, void *arg) {
  svg_large_t *L = arg;
  dump_t *d = L->d;
  if (L->shown++ == SVG_LARGE) return 1;
  uint32_t tag = ummp_large_tag(ptr);
  tag_name_t nm;
  name_tag(d, tag, &nm);
  char nbuf[512];
  put(d, "<text x=\""); put_u(d, L->x); put(d, "\" y=\""); put_u(d, L->y); put(d, "\">");
  put_hex(d, (uintptr_t)ptr); put(d, " "); put_bytes(d, size); put(d, "  ");
  put_xml(d, fmt_name(nbuf, sizeof nbuf, tag, &nm)); put(d, "</text>\n");
  L->y += 16;
  return 0;
}

static int dump_svg(int fd, int nested) {
  ummp_tls_t *t = &ummp_tls;
  dump_t d;
  if (dump_open(&d, fd, nested) != 0) return -1;
  size_t page = ummp_g.page ? ummp_g.page : 4096;
  size_t clen = (SVG_COLS * sizeof(uint64_t[SVG_NCAT]) + page - 1) & ~(page - 1);
  svg_ctx_t s;
  memset(&s, 0, sizeof s);
  s.col = ummp_os_map(clen);
  if (!s.col) { dump_close(&d); return -1; }
  s.rsize = ummp_g.region_size;
  int err = errno;
  collect_held(t, &d);
  for (uint32_t k = 0; k < d.ngroups && s.ntop < SVG_NTOP; k++) s.top[s.ntop++] = d.grp[d.order[k]].tag;
  unsigned nb = 0;
  for (uint32_t i = 0; i < d.nreg && nb < SVG_BANDS; i++) if (d.reg[i].total) nb++;
  uint64_t legend_h = 16u * (SVG_NCAT + 4u + (d.large_blocks < SVG_LARGE ? d.large_blocks : SVG_LARGE));
  uint64_t h = SVG_TOP + (uint64_t)nb * (SVG_BAND_H + SVG_GAP);
  if (SVG_TOP + legend_h > h) h = SVG_TOP + legend_h;
  h += 20;
  uint64_t w = SVG_LEFT + SVG_COLS + 20 + 520;
  put(&d, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"");
  put_u(&d, w); put(&d, "\" height=\""); put_u(&d, h); put(&d, "\" font-family=\"monospace\" font-size=\"12\">\n");
  put(&d, "<title>umm heap map, pid "); put_u(&d, (uint64_t)ummp_os_getpid()); put(&d, "</title>\n");
  put(&d, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n<text x=\"4\" y=\"18\" font-size=\"14\">umm heap map, pid ");
  put_u(&d, (uint64_t)ummp_os_getpid()); put(&d, ", UMM_TAG="); put(&d, mode_name()); put(&d, ": live ");
  put_bytes(&d, d.live_bytes); put(&d, " in "); put_u(&d, d.live_blocks); put(&d, " blocks, cached ");
  put_bytes(&d, d.cached_bytes); put(&d, ", free "); put_bytes(&d, d.free_bytes); put(&d, "</text>\n<text x=\"4\" y=\"38\">");
  put(&d, "each band is the used part of one region of "); put_bytes(&d, ummp_g.region_size);
  put(&d, " (offset, width: from its first to its last block in use), drawn to scale: a pixel shows what holds most of its bytes</text>\n");
  /* bands: one walk per region */
  unsigned row = 0;
  for (uint32_t i = 0; i < d.nreg && row < SVG_BANDS; i++) {
    if (!d.reg[i].total) continue;
    memset(s.col, 0, SVG_COLS * sizeof(uint64_t[SVG_NCAT]));
    s.base = (uintptr_t)ummp_regions[i].u;
    /* scale: the used part of the region, from a MiB boundary, a power of two >= 1 MiB wide */
    s.origin = d.reg[i].extent ? d.reg[i].first & ~(uint64_t)((1u << 20) - 1) : 0;
    s.rsize = (size_t)1 << 20;
    while (s.origin + s.rsize < d.reg[i].extent && s.rsize < ummp_g.region_size) s.rsize <<= 1;
    if (s.origin + s.rsize > ummp_g.region_size) s.origin = ummp_g.region_size - s.rsize;
    unsigned a = ummp_enter(t);
    if (nested) umm_walk_nowait(ummp_regions[i].u, svg_visit, &s);
    else umm_walk(ummp_regions[i].u, svg_visit, &s);
    ummp_leave(t, a);
    svg_band(&d, &s, i, row++);
  }
  /* legend */
  uint64_t lx = SVG_LEFT + SVG_COLS + 20, ly = SVG_TOP;
  put(&d, "<g class=\"legend\">\n");
  for (unsigned k = 0; k < SVG_NCAT; k++) {
    if (k < SVG_NTOP && k >= s.ntop) continue;
    put(&d, "<rect x=\""); put_u(&d, lx); put(&d, "\" y=\""); put_u(&d, ly); put(&d, "\" width=\"12\" height=\"12\" fill=\"");
    put(&d, svg_color[k]); put(&d, "\" stroke=\"#999999\"/>\n<text x=\""); put_u(&d, lx + 18); put(&d, "\" y=\"");
    put_u(&d, ly + 11); put(&d, "\">");
    if (k < SVG_NTOP) {
      group_t *g = group_of(&d, s.top[k]);
      tag_name_t nm;
      name_tag(&d, s.top[k], &nm);
      char nbuf[512];
      if (g) { put_bytes(&d, g->bytes); put(&d, " ("); put_u(&d, g->count); put(&d, ") "); }
      put_xml(&d, fmt_name(nbuf, sizeof nbuf, s.top[k], &nm));
    } else if (k == SVG_OTHER) {
      put(&d, "other live blocks");
    } else if (k == SVG_CACHED) {
      put(&d, "thread caches "); put_bytes(&d, d.cached_bytes);
    } else {
      put(&d, "free "); put_bytes(&d, d.free_bytes);
    }
    put(&d, "</text>\n");
    ly += 16;
  }
  put(&d, "</g>\n<g class=\"large\">\n<text x=\""); put_u(&d, lx); put(&d, "\" y=\""); put_u(&d, ly + 16);
  put(&d, "\">large blocks (own mappings): "); put_u(&d, d.large_blocks); put(&d, ", "); put_bytes(&d, d.large_bytes);
  put(&d, "</text>\n");
  ly += 32;
  svg_large_t L = {&d, lx, ly, 0};
  unsigned a = ummp_enter(t);
  ummp_large_foreach(large_list, &L);
  ummp_leave(t, a);
  put(&d, "</g>\n</svg>\n");
  flush(&d);
  ummp_unhold(t);
  ummp_os_unmap(s.col, clen);
  dump_close(&d);
  errno = err;
  return 0;
}

UMMP_EXPORT int umm_dump(int fd, const char *format) {
  int json;
  if (!format || !strcmp(format, "text")) json = 0;
  else if (!strcmp(format, "json")) json = 1;
  else if (!strcmp(format, "svg")) json = 2;
  else { errno = EINVAL; return -1; }
  if (ummp_ensure_init() != 0) { errno = ENOMEM; return -1; }
  if (json == 2) return dump_svg(fd, ummp_reentrant(&ummp_tls));
  return dump_to(fd, json, "call", ummp_reentrant(&ummp_tls));
}

/* ---- UMM_DUMP / UMM_DUMP_SIGNAL / UMM_CHECK ---------------------------------------- */
/* Open the report file named by pattern ("%p": the process id, so that the
 * processes of a tree, a forked child included, each write their own; "%%":
 * a %), with ".suffix" when suffix is not NULL. On failure one line on
 * stderr ("umm: cannot write the heap dump to PATH") and -1. */
static int open_report(const char *pattern, const char *suffix, const char *what) {
  char path[400];
  size_t n = 0;
  for (const char *q = pattern; *q && n < sizeof path - 40; q++) {
    if (q[0] == '%' && q[1] == 'p') { n = ummp_fmt_u64(path, sizeof path, n, (uint64_t)ummp_os_getpid()); q++; }
    else if (q[0] == '%' && q[1] == '%') { path[n++] = '%'; q++; }
    else path[n++] = *q;
  }
  if (suffix) { n = ummp_fmt_str(path, sizeof path, n, "."); n = ummp_fmt_str(path, sizeof path, n, suffix); }
  path[n] = 0;
  int fd = ummp_os_open_write(path);
  if (fd < 0) {
    char b[512];
    size_t k = ummp_fmt_str(b, sizeof b, 0, "umm: cannot write the ");
    k = ummp_fmt_str(b, sizeof b, k, what);
    k = ummp_fmt_str(b, sizeof b, k, " to ");
    k = ummp_fmt_str(b, sizeof b, k, path);
    k = ummp_fmt_str(b, sizeof b, k, "\n");
    ummp_os_write(ummp_g.cfg.stats_fd, b, k);
  }
  return fd;
}

static int dump_target(const char *suffix_num, int *close_it) {
  *close_it = 0;
  if (!ummp_g.cfg.dump_path[0]) return ummp_g.cfg.stats_fd;
  int fd = open_report(ummp_g.cfg.dump_path, suffix_num, "heap dump");
  if (fd < 0) return -1;
  *close_it = 1;
  return fd;
}

static void on_signal(int sig) {
  (void)sig;
  __atomic_store_n(&ummp_g.dump_req, 1, __ATOMIC_RELAXED);
}

void ummp_debug_ctor(void) {
  if (ummp_g.cfg.dump_signal > 0) ummp_os_signal(ummp_g.cfg.dump_signal, on_signal);
}

void ummp_debug_serve(ummp_tls_t *t) {
  (void)t;
  static int serving;
  if (__atomic_exchange_n(&serving, 1, __ATOMIC_ACQUIRE)) return;   /* another thread is at it */
  int err = errno;                                   /* its callers include free, which keeps errno */
  if (__atomic_exchange_n(&ummp_g.dump_req, 0, __ATOMIC_ACQ_REL)) {
    char num[24];
    num[ummp_fmt_u64(num, sizeof num, 0, __atomic_add_fetch(&ummp_g.dump_seq, 1, __ATOMIC_RELAXED))] = 0;
    int close_it;
    int fd = dump_target(num, &close_it);
    if (fd >= 0) {
      dump_to(fd, ummp_g.cfg.dump_json, "signal", 0);   /* a slow path, outside any section */
      if (close_it) ummp_os_close(fd);
    }
  }
  errno = err;
  __atomic_store_n(&serving, 0, __ATOMIC_RELEASE);
}

void ummp_debug_exit(void) {
  int err = errno;
  if (ummp_g.cfg.check) {
    int bad = umm_heap_check();
    char b[128];
    size_t n = ummp_fmt_str(b, sizeof b, 0, "umm: heap check at exit: ");
    n = ummp_fmt_u64(b, sizeof b, n, (uint64_t)(bad < 0 ? 0 : bad));
    n = ummp_fmt_str(b, sizeof b, n, bad ? " violations\n" : " violations (healthy)\n");
    ummp_os_write(ummp_g.cfg.stats_fd, b, n);
  }
  if (ummp_g.cfg.leaks) {
    int fd = ummp_g.cfg.leaks_path[0] ? open_report(ummp_g.cfg.leaks_path, NULL, "leak report") : ummp_g.cfg.stats_fd;
    if (fd >= 0) {
      ummp_leak_report(fd, ummp_g.cfg.dump_json);
      if (ummp_g.cfg.leaks_path[0]) ummp_os_close(fd);
    }
  }
  if (ummp_g.cfg.dump) {
    int close_it;
    int fd = dump_target(NULL, &close_it);
    if (fd >= 0) {
      dump_to(fd, ummp_g.cfg.dump_json, "exit", ummp_reentrant(&ummp_tls));
      if (close_it) ummp_os_close(fd);
    }
  }
  errno = err;
}

/* ---- leak report (UMM_LEAKS) ---------------------------------------------------
 * A conservative mark phase at exit, like a garbage collector's:
 *   blocks: every live block (regions walked in address order, so the array
 *     is sorted; large blocks in a second, sorted array), in a private
 *     mapping with a mark byte each;
 *   roots: the writable PT_LOAD segments of every loaded module but the
 *     preload itself (dl_iterate_phdr), the calling thread's instances of
 *     their PT_TLS blocks, and the calling (exiting) thread's stack from the
 *     current frame (registers spilled into it by __builtin_unwind_init) to
 *     the end of its mapping (/proc/self/maps);
 *   marking: every aligned word that points into a block (interior pointers
 *     count) marks it and queues it; queued blocks are scanned word by word.
 * Unmarked blocks are leaked: grouped by tag (UMM_TAG=site: by call site).
 * Limits: other threads' stacks and registers are not roots (blocks only they
 * hold are reported), nor is heap memory outside umm (a block referenced only
 * from an mmap the program made); a stale word that happens to look like a
 * pointer keeps a block (conservative). Other threads should be idle: a
 * large block they free during the scan could be unmapped under it. Cost:
 * one pass over roots and live blocks, O(words * log blocks). */
typedef struct lblk {
  uintptr_t ptr;                           /* first payload byte */
  size_t    size;                          /* usable bytes */
  uint32_t  tag;                           /* its tag */
  uint32_t  mark;                          /* 1 reached */
} lblk_t;

typedef struct leak {
  lblk_t   *b;                             /* arena blocks, by address */
  size_t    nb, capb;                      /* used, capacity */
  lblk_t   *lg;                            /* large blocks, by address */
  size_t    nlg, caplg;
  uint32_t *stack;                         /* mark stack: indices (large: capb + i) */
  size_t    nstack;
  uintptr_t lo, hi;                        /* address range of all blocks */
  void     *map;                           /* the mapping */
  size_t    map_len;
  uint64_t  words;                         /* words scanned */
  uintptr_t self_lo, self_hi;              /* the preload's own image: not a root */
  uintptr_t ld_lo, ld_hi;                  /* the dynamic linker's code (its blocks are not reported) */
} leak_t;

/* 1 when tag is a site inside the dynamic linker: what it allocates is kept
 * where the scan does not look (a joined thread's DTV lives on in glibc's
 * cache of thread stacks), so, as LeakSanitizer does, it is not reported.
 * Known with UMM_TAG=site only. */
static int by_linker(const leak_t *l, uint32_t tag) {
  uintptr_t ra = site_ra(tag);                       /* 0 for a tag an underflow overwrote */
  return ra && ra >= l->ld_lo && ra < l->ld_hi;
}

static int leak_visit(const umm_chunk_t *c, void *arg) {
  leak_t *l = arg;
  if (!c->in_use || (c->flags & UMM_CHUNK_DEFERRED) || is_cached(c) || l->nb == l->capb) return 0;
  lblk_t *e = &l->b[l->nb++];
  e->ptr = (uintptr_t)c->ptr;
  e->size = c->size;
  e->tag = c->tags;
  e->mark = 0;
  return 0;
}
static int leak_large(void *ptr, size_t size, void *arg) {
  leak_t *l = arg;
  if (l->nlg == l->caplg || ummp_guard_quarantined(ptr, size)) return 0;
  size_t i = l->nlg++;
  while (i && l->lg[i - 1].ptr > (uintptr_t)ptr) { l->lg[i] = l->lg[i - 1]; i--; }   /* insertion sort: few */
  l->lg[i] = (lblk_t){(uintptr_t)ptr, size, ummp_large_tag(ptr), 0};
  return 0;
}

static lblk_t *find(lblk_t *a, size_t n, uintptr_t v) {
  size_t lo = 0, hi = n;
  while (lo < hi) {                                  /* last block starting at or below v */
    size_t mid = lo + (hi - lo) / 2;
    if (a[mid].ptr <= v) lo = mid + 1; else hi = mid;
  }
  if (!lo) return NULL;
  lblk_t *e = &a[lo - 1];
  return v < e->ptr + e->size ? e : NULL;
}

static void scan(leak_t *l, uintptr_t from, uintptr_t to) {
  from = (from + 7) & ~(uintptr_t)7;
  for (uintptr_t w = from; w + 8 <= to; w += 8) {
    uintptr_t v = *(const volatile uintptr_t *)w;
    l->words++;
    if (v < l->lo || v >= l->hi) continue;
    lblk_t *e = find(l->b, l->nb, v);
    uint32_t idx;
    if (e) idx = (uint32_t)(e - l->b);
    else if ((e = find(l->lg, l->nlg, v)) != NULL) idx = (uint32_t)(l->capb + (size_t)(e - l->lg));
    else continue;
    if (e->mark) continue;
    e->mark = 1;
    l->stack[l->nstack++] = idx;
  }
}

static void drain(leak_t *l) {
  while (l->nstack) {
    uint32_t idx = l->stack[--l->nstack];
    lblk_t *e = idx < l->capb ? &l->b[idx] : &l->lg[idx - l->capb];
    scan(l, e->ptr, e->ptr + e->size);
  }
}

/* 1 when the module at path is the dynamic linker (ld-linux-*.so.*, ld.so). */
static int is_dynamic_linker(const char *path) {
  const char *b = path;
  for (const char *q = path; *q; q++) if (*q == '/') b = q + 1;
  return (b[0] == 'l' && b[1] == 'd' && b[2] == '-' && b[3] == 'l' && b[4] == 'i' && b[5] == 'n') ||
         (b[0] == 'l' && b[1] == 'd' && b[2] == '.' && b[3] == 's' && b[4] == 'o');
}

static int phdr_roots(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  leak_t *l = arg;
  int ld = info->dlpi_name && is_dynamic_linker(info->dlpi_name);
  for (unsigned i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t a = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
    if (ld && ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) { l->ld_lo = a; l->ld_hi = a + ph->p_memsz; }
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) {
      if (a < l->self_hi && a + ph->p_memsz > l->self_lo) continue;   /* the preload's own data */
      scan(l, a, a + ph->p_memsz);
      drain(l);
    } else if (ph->p_type == PT_TLS && info->dlpi_tls_data) {
      scan(l, (uintptr_t)info->dlpi_tls_data, (uintptr_t)info->dlpi_tls_data + ph->p_memsz);
      drain(l);
    }
  }
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
/* End of the mapping holding addr (/proc/self/maps), 0 if not found. */
static uintptr_t mapping_end(uintptr_t addr) {
  int fd = ummp_os_open_read("/proc/self/maps");
  if (fd < 0) return 0;
  char buf[4096];
  uintptr_t v[2] = {0, 0}, found = 0;
  int field = 0, at_line_start = 1, skip = 0;
  long r;
  while (!found && (r = ummp_os_read(fd, buf, sizeof buf)) > 0) {
    for (long i = 0; i < r && !found; i++) {
      char c = buf[i];
      if (c == '\n') { field = 0; v[0] = v[1] = 0; at_line_start = 1; skip = 0; continue; }
      if (skip) continue;
      if (at_line_start) { at_line_start = 0; field = 0; }
      int h = hexval(c);
      if (h >= 0 && field < 2) { v[field] = v[field] * 16 + (uintptr_t)h; continue; }
      if (c == '-' && field == 0) { field = 1; continue; }
      if (field == 1) {                              /* end of the range */
        if (addr >= v[0] && addr < v[1]) found = v[1];
        skip = 1;
      }
    }
  }
  ummp_os_close(fd);
  return found;
}

static UMMP_NOINLINE void stack_roots(leak_t *l) {
  __builtin_unwind_init();                           /* callee-saved registers into this frame */
  volatile uintptr_t here = (uintptr_t)&here;
  uintptr_t end = mapping_end(here);
  if (end) scan(l, here, end);
  drain(l);
}

/* The scanner's state lives in the preload's own data segment (not a root),
 * not on the stack that is scanned. One report at a time (exit). */
static leak_t leak_state;

void ummp_leak_report(int fd, int json) {
  ummp_tls_t *t = &ummp_tls;
  static int busy;
  if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE)) return;
  leak_t *lp = &leak_state;
#define l (*lp)
  memset(&l, 0, sizeof l);
  size_t committed = (size_t)__atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE) << ummp_g.region_shift;
  l.capb = committed / 32 + 16;
  l.caplg = __atomic_load_n(&ummp_g.large_live, __ATOMIC_RELAXED) + 64;
  size_t page = ummp_g.page;
  l.map_len = ((l.capb + l.caplg) * (sizeof(lblk_t) + sizeof(uint32_t)) + page - 1) & ~(page - 1);
  l.map = ummp_os_reserve(l.map_len);
  if (!l.map || ummp_os_commit(l.map, l.map_len) != 0) {
    static const char msg[] = "umm: leak report skipped: no memory for its workspace\n";
    if (l.map) ummp_os_unmap(l.map, l.map_len);
    ummp_os_write(fd, msg, sizeof msg - 1);
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
    return;
  }
  l.b = l.map;
  l.lg = l.b + l.capb;
  l.stack = (uint32_t *)(void *)(l.lg + l.caplg);
  l.self_lo = (uintptr_t)&ummp_g;                    /* the segment holding ummp_g is not a root */
  l.self_hi = (uintptr_t)&ummp_g + sizeof ummp_g;
  uint64_t t0 = ummp_os_now_ms();
  int err = errno;
  ummp_hold(t);
  unsigned a = ummp_enter(t);
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  int corrupt = 0;                                  /* a region's walk met a damaged header */
  for (uint32_t i = 0; i < nc; i++)
    if (umm_walk(ummp_regions[i].u, leak_visit, &l) == UMM_WALK_CORRUPT) corrupt = 1;
  ummp_large_foreach(leak_large, &l);
  l.lo = UINTPTR_MAX;
  if (l.nb) { l.lo = l.b[0].ptr; l.hi = l.b[l.nb - 1].ptr + l.b[l.nb - 1].size; }
  if (l.nlg) {
    if (l.lg[0].ptr < l.lo) l.lo = l.lg[0].ptr;
    uintptr_t e = l.lg[l.nlg - 1].ptr + l.lg[l.nlg - 1].size;
    if (e > l.hi) l.hi = e;
  }
  ummp_leave(t, a);
  /* roots (loader lock inside dl_iterate_phdr: outside the section) */
  dl_iterate_phdr(phdr_roots, &l);
  stack_roots(&l);
  /* report: the leaked blocks grouped by tag, through the dump machinery */
  dump_t d;
  if (dump_open(&d, fd, 0) == 0) {
    uint64_t reach_blocks = 0, reach_bytes = 0, ld_blocks = 0, ld_bytes = 0;
    for (size_t i = 0; i < l.nb + l.nlg; i++) {
      lblk_t *e = i < l.nb ? &l.b[i] : &l.lg[i - l.nb];
      size_t n = shown_size((void *)e->ptr, e->size);
      if (e->mark) { reach_blocks++; reach_bytes += n; }
      else if (by_linker(&l, e->tag)) { ld_blocks++; ld_bytes += n; }
      else add_live(&d, (void *)e->ptr, n, e->tag);
    }
    sort_groups(&d);
    uint64_t ms = ummp_os_now_ms() - t0;
    if (json) {
      put(&d, "{\"umm_leaks\": 1, ");
      json_kv(&d, "pid", (uint64_t)ummp_os_getpid(), 1);
      put(&d, "\"tag_mode\": \""); put(&d, mode_name()); put(&d, "\", ");
      json_kv(&d, "leaked_blocks", d.live_blocks, 1); json_kv(&d, "leaked_bytes", d.live_bytes, 1);
      json_kv(&d, "reachable_blocks", reach_blocks, 1); json_kv(&d, "reachable_bytes", reach_bytes, 1);
      json_kv(&d, "linker_blocks", ld_blocks, 1); json_kv(&d, "linker_bytes", ld_bytes, 1);
      json_kv(&d, "words_scanned", l.words, 1); json_kv(&d, "ms", ms, 1);
      put(&d, "\"corrupt\": "); put(&d, corrupt ? "true, " : "false, ");
      put(&d, "\"leaks\": [");
      for (uint32_t k = 0; k < d.ngroups; k++) {
        group_t *g = &d.grp[d.order[k]];
        tag_name_t nm;
        name_tag(&d, g->tag, &nm);
        char nb[512];
        put(&d, k ? ",\n  {" : "\n  {");
        json_kv(&d, "tag", g->tag, 1);
        put(&d, "\"kind\": \""); put(&d, nm.kind); put(&d, "\", \"name\": \""); put_json(&d, fmt_name(nb, sizeof nb, g->tag, &nm));
        put(&d, "\", ");
        if (nm.func) { put(&d, "\"function\": \""); put_json(&d, nm.func); put(&d, "\", "); }
        if (nm.module) {                             /* what addr2line needs, as in the text report */
          put(&d, "\"module\": \""); put_json(&d, nm.module); put(&d, "\", \"module_offset\": \"");
          put_hex(&d, nm.mod_off); put(&d, "\", ");
        }
        json_kv(&d, "blocks", g->count, 1); json_kv(&d, "bytes", g->bytes, 1);
        json_kv(&d, "smallest", g->smallest, 1); json_kv(&d, "largest", g->largest, 1);
        put(&d, "\"addresses\": [");
        for (uint64_t j = 0; j < g->count && j < NADDR; j++) {
          put(&d, j ? ", \"" : "\""); put_hex(&d, (uintptr_t)g->addr[j]); put(&d, "\"");
        }
        put(&d, "]}");
      }
      put(&d, "]}\n");
    } else {
      put(&d, "umm: leak report (exit), pid "); put_u(&d, (uint64_t)ummp_os_getpid());
      put(&d, ", UMM_TAG="); put(&d, mode_name());
      put(&d, "\numm:   leaked (unreachable) "); put_u(&d, d.live_blocks); put(&d, " blocks, "); put_bytes(&d, d.live_bytes);
      put(&d, " in "); put_u(&d, d.ngroups); put(&d, " tags; still reachable "); put_u(&d, reach_blocks);
      put(&d, " blocks, "); put_bytes(&d, reach_bytes);
      if (ld_blocks) {
        put(&d, "; not reported: "); put_u(&d, ld_blocks); put(&d, ld_blocks == 1 ? " block, " : " blocks, ");
        put_bytes(&d, ld_bytes); put(&d, " allocated by the dynamic linker (thread DTVs in glibc's stack cache)");
      }
      put(&d, "\numm:   (scanned "); put_u(&d, l.words);
      put(&d, " words in "); put_u(&d, ms); put(&d, " ms)\n");
      if (corrupt)
        put(&d, "umm:   INCOMPLETE: a damaged header stopped a region's walk (an overflow?); the blocks after it "
                "are not in this report and were not scanned, so a block listed as leaked may be reachable through "
                "them (UMM_CHECK=1 counts the damage)\n");
      if (d.ngroups)
        put(&d, "umm:          bytes     blocks   smallest    largest  allocated at  [addr2line offset]  examples\n");
      for (uint32_t k = 0; k < d.ngroups; k++) {
        group_t *g = &d.grp[d.order[k]];
        tag_name_t nm;
        name_tag(&d, g->tag, &nm);
        char nb[512];
        put(&d, "umm:   "); put_pad_bytes(&d, g->bytes, 12); put_pad_u(&d, g->count, 11); put_pad_u(&d, g->smallest, 11);
        put_pad_u(&d, g->largest, 11); put(&d, "  "); put(&d, fmt_name(nb, sizeof nb, g->tag, &nm));
        if (nm.module) { put(&d, "  ["); put(&d, nm.base); put(&d, "+"); put_hex(&d, nm.mod_off); put(&d, "]"); }
        put(&d, " ");
        for (uint64_t j = 0; j < g->count && j < NADDR; j++) { put(&d, " "); put_hex(&d, (uintptr_t)g->addr[j]); }
        put(&d, "\n");
      }
      put(&d, "umm: end of leak report\n");
    }
    flush(&d);
    dump_close(&d);
  }
  ummp_unhold(t);
  ummp_os_unmap(l.map, l.map_len);
#undef l
  __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
  errno = err;
}
