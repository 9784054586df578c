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
 * glibc's dladdr1 takes the loader lock and does not allocate; it is never
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
  uint64_t     secret;                     /* the cache cookie */
} walk_ctx_t;

static int is_cached(const umm_chunk_t *c, uint64_t secret) {
  return c->in_use && !(c->flags & UMM_CHUNK_DEFERRED) && c->size >= 16 && ((const uint64_t *)c->ptr)[1] == secret;
}

static int walk_visit(const umm_chunk_t *c, void *arg) {
  walk_ctx_t *w = arg;
  if (is_cached(c, w->secret)) {
    umm_chunk_t d = *c;
    d.in_use = 0;
    d.flags |= 0x100u;                               /* UMM_CHUNK_CACHED (umm_debug.h) */
    return w->visit(&d, w->arg);
  }
  return w->visit(c, w->arg);
}

static int walk_large(void *ptr, size_t size, void *arg) {
  walk_ctx_t *w = arg;
  umm_chunk_t d = {ptr, size, ummp_large_tag(ptr), 1, 0x200u};   /* UMM_CHUNK_LARGE */
  return w->visit(&d, w->arg);
}

UMMP_EXPORT int umm_heap_walk(umm_visit_fn visit, void *arg) {
  if (!visit || ummp_ensure_init() != 0) return 0;
  ummp_tls_t *t = &ummp_tls;
  int nested = ummp_reentrant(t);
  uint32_t hd = ummp_hold(t);
  unsigned a = ummp_enter(t);
  walk_ctx_t w = {visit, arg, ummp_g.secret};
  int r = 0;
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < nc && !r; i++) {
    r = nested ? umm_walk_nowait(ummp_regions[i].u, walk_visit, &w) : umm_walk(ummp_regions[i].u, walk_visit, &w);
    if (r == -1 && nested) r = 0;                    /* busy region skipped */
  }
  if (!r) r = ummp_large_foreach(walk_large, &w);
  ummp_leave(t, a);
  ummp_unhold(t, hd);
  return r;
}

UMMP_EXPORT int umm_heap_check(void) {
  if (ummp_ensure_init() != 0) return 0;
  ummp_tls_t *t = &ummp_tls;
  uint32_t hd = ummp_hold(t);
  unsigned a = ummp_enter(t);
  int bad = 0;
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < nc; i++) bad += umm_check(ummp_regions[i].u);
  ummp_leave(t, a);
  ummp_unhold(t, hd);
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
  int      partial;                        /* 1: a nowait walk gave up */
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
  int           nested;                    /* called from inside the allocator: no dladdr */
  uint64_t      secret;                    /* cache cookie */
  region_sum_t *cur;                       /* region being walked */
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

static int dump_visit(const umm_chunk_t *c, void *arg) {
  dump_t *d = arg;
  region_sum_t *r = d->cur;
  r->total += c->size;
  if (!c->in_use) {
    r->free_bytes += c->size;
    r->free_chunks++;
    if (c->size > r->largest_free) r->largest_free = c->size;
  } else if (c->flags & UMM_CHUNK_DEFERRED) {
    d->deferred_blocks++;
    d->deferred_bytes += c->size;
  } else if (is_cached(c, d->secret)) {
    r->cached += c->size;
    d->cached_blocks++;
    d->cached_bytes += c->size;
  } else {
    r->in_use += c->size;
    add_live(d, c->ptr, c->size, c->tags);
  }
  return 0;
}

static int dump_large(void *ptr, size_t size, void *arg) {
  dump_t *d = arg;
  d->large_blocks++;
  d->large_bytes += size;
  add_live(d, ptr, size, ummp_large_tag(ptr));
  return 0;
}

static int dump_open(dump_t *d, int fd, int nested) {
  memset(d, 0, sizeof *d);
  size_t page = ummp_g.page ? ummp_g.page : 4096;
  size_t len = NGROUP * sizeof(group_t) + NGROUP * sizeof(uint32_t) + UMMP_MAX_REGIONS * sizeof(region_sum_t) + OUTCAP;
  len = (len + page - 1) & ~(page - 1);
  char *m = ummp_os_map(len);
  if (!m) return -1;
  d->map_len = len;
  d->grp = (group_t *)(void *)m;
  d->order = (uint32_t *)(void *)(m + NGROUP * sizeof(group_t));
  d->reg = (region_sum_t *)(void *)(m + NGROUP * sizeof(group_t) + NGROUP * sizeof(uint32_t));
  d->out = m + NGROUP * sizeof(group_t) + NGROUP * sizeof(uint32_t) + UMMP_MAX_REGIONS * sizeof(region_sum_t);
  d->fd = fd;
  d->nested = nested;
  d->secret = ummp_g.secret;
  return 0;
}

static void dump_close(dump_t *d) { ummp_os_unmap(d->grp, d->map_len); }

static void collect(dump_t *d) {
  uint32_t nc = __atomic_load_n(&ummp_g.ncommitted, __ATOMIC_ACQUIRE);
  if (nc > UMMP_MAX_REGIONS) nc = UMMP_MAX_REGIONS;
  for (uint32_t i = 0; i < nc; i++) {
    d->cur = &d->reg[i];
    int r = d->nested ? umm_walk_nowait(ummp_regions[i].u, dump_visit, d) : umm_walk(ummp_regions[i].u, dump_visit, d);
    if (r == -1) { d->reg[i].partial = 1; d->partial = 1; }
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
static void put_json(dump_t *d, const char *s) {
  char b[8];
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { b[0] = '\\'; b[1] = (char)c; b[2] = 0; put(d, b); }
    else if (c < 0x20) { put(d, "\\u00"); b[0] = "0123456789abcdef"[c >> 4]; b[1] = "0123456789abcdef"[c & 15]; b[2] = 0; put(d, b); }
    else { b[0] = (char)c; b[1] = 0; put(d, b); }
  }
}
/* Pad with spaces to width w (text columns). */
static void put_pad_u(dump_t *d, uint64_t v, unsigned w) {
  char b[24];
  size_t k = ummp_fmt_u64(b, sizeof b, 0, v);
  for (size_t i = k; i < w; i++) put(d, " ");
  b[k] = 0;
  put(d, b);
}
static void put_pad_bytes(dump_t *d, uint64_t v, unsigned w) {
  char b[32];
  size_t k = ummp_fmt_bytes(b, sizeof b, 0, v);
  for (size_t i = k; i < w; i++) put(d, " ");
  b[k] = 0;
  put(d, b);
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
  n->ra = __atomic_load_n(&ummp_g.site_tab[tag & ~UMMP_TAG_KIND], __ATOMIC_ACQUIRE);
  if (d->nested || !n->ra) return;
  Dl_info info;
  struct link_map *lm = NULL;
  if (!dladdr1((void *)n->ra, &info, (void **)&lm, RTLD_DL_LINKMAP)) return;
  n->module = info.dli_fname && info.dli_fname[0] ? info.dli_fname : "main";
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

static const char *mode_name(void) {
  int m = ummp_g.cfg.tag_mode;
  return m == UMMP_TAG_SITE ? "site" : m == UMMP_TAG_THREAD ? "thread" : "none";
}

static void write_text(dump_t *d, const char *reason) {
  put(d, "umm: heap dump ("); put(d, reason); put(d, "), pid "); put_u(d, (uint64_t)ummp_os_getpid());
  put(d, ", UMM_TAG="); put(d, mode_name());
  if (d->partial) put(d, ", PARTIAL (busy regions skipped)");
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
    put(d, " chunks, largest free "); put_bytes(d, r->largest_free); put(d, ", fragmentation ");
    uint64_t fr = r->free_bytes ? 1000 - r->largest_free * 1000 / r->free_bytes : 0;
    put_u(d, fr / 10); put(d, "."); put_u(d, fr % 10); put(d, "%");
    if (r->partial) put(d, " (busy: skipped)");
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
    put_milli(d, r->free_bytes ? 1000 - r->largest_free * 1000 / r->free_bytes : 0);
    put(d, ", \"partial\": "); put(d, r->partial ? "true" : "false");
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

/* The whole dump; the thread must not be inside a section. nested: called
 * from inside the allocator (nowait walks, no dladdr). */
static int dump_to(int fd, int json, const char *reason, int nested) {
  ummp_tls_t *t = &ummp_tls;
  dump_t d;
  if (dump_open(&d, fd, nested) != 0) return -1;
  int err = errno;
  uint32_t hd = ummp_hold(t);
  unsigned a = ummp_enter(t);
  collect(&d);
  ummp_leave(t, a);
  sort_groups(&d);
  if (json) write_json(&d, reason);
  else write_text(&d, reason);
  flush(&d);
  ummp_unhold(t, hd);
  dump_close(&d);
  errno = err;
  return 0;
}

UMMP_EXPORT int umm_dump(int fd, const char *format) {
  int json;
  if (!format || !strcmp(format, "text")) json = 0;
  else if (!strcmp(format, "json")) json = 1;
  else { errno = EINVAL; return -1; }
  if (ummp_ensure_init() != 0) { errno = ENOMEM; return -1; }
  return dump_to(fd, json, "call", ummp_reentrant(&ummp_tls));
}

/* ---- UMM_DUMP / UMM_DUMP_SIGNAL / UMM_CHECK ---------------------------------------- */
static int dump_target(const char *suffix_num, int *close_it) {
  *close_it = 0;
  if (!ummp_g.cfg.dump_path[0]) return ummp_g.cfg.stats_fd;
  char path[300];
  size_t n = ummp_fmt_str(path, sizeof path, 0, ummp_g.cfg.dump_path);
  if (suffix_num) { n = ummp_fmt_str(path, sizeof path, n, "."); n = ummp_fmt_str(path, sizeof path, n, suffix_num); }
  path[n] = 0;
  int fd = ummp_os_open_write(path);
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
