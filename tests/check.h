/* check.h - a tiny CHECK harness for umm's tests (mimalloc-style).
 *
 *   CHECK(cond)          record a pass, or a failure with file:line and the
 *                        expression; execution continues.
 *   CHECK_EQ(a, b)       same, printing both values (as unsigned 64-bit).
 *   CHECK_MSG(cond, ...) same, with a printf-style note (not signal-safe).
 *   check_report()       prints "N passed, N failed" and returns the exit
 *                        status (0 only when nothing failed). If a test exits
 *                        without calling it, an atexit hook prints the summary
 *                        and turns a failed run into exit status 1.
 *
 * CHECK and CHECK_EQ are thread-safe and async-signal-safe: counters are
 * atomic and failure lines are formatted by hand and written with write(2).
 * check_context (optional) is called on every printed failure to add the
 * test's own context (seed, operation number...); it must be signal-safe too
 * when CHECKs run in signal handlers.
 *
 * Also here: a splitmix64 PRNG, a fatal handler for umm_on_fatal that writes
 * its line with write(2) and aborts (never allocates), a fork()ed-child runner
 * that captures the child's stderr and how it died, sanitizer default
 * options, and region helpers (walk + stats consistency, coalescing checks)
 * shared by the core tests.
 */
#ifndef UMM_TEST_CHECK_H
#define UMM_TEST_CHECK_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "umm.h"

/* ---- counters and failure output ------------------------------------------ */
static unsigned long check_n_passed, check_n_failed;
static int check_reported;
#define CHECK_PRINT_LIMIT 200ul            /* failures printed; all are counted */
/* Optional: appends test context to a failure line (buf, cap) -> length. */
static size_t (*check_context)(char *buf, size_t cap);

static inline size_t check_str(char *b, size_t pos, size_t cap, const char *s) {
  while (s && *s && pos + 1 < cap) b[pos++] = *s++;
  b[pos < cap ? pos : cap - 1] = 0;
  return pos;
}
static inline size_t check_num(char *b, size_t pos, size_t cap, unsigned long long v, unsigned base) {
  char tmp[32];
  size_t n = 0;
  do { tmp[n++] = "0123456789abcdef"[v % base]; v /= base; } while (v && n < sizeof tmp);
  if (base == 16) pos = check_str(b, pos, cap, "0x");
  while (n && pos + 1 < cap) b[pos++] = tmp[--n];
  b[pos < cap ? pos : cap - 1] = 0;
  return pos;
}
static inline void check_write(const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w; n -= (size_t)w;
  }
}
static inline void check_pass(void) { __atomic_add_fetch(&check_n_passed, 1, __ATOMIC_RELAXED); }

static inline void check_fail_at(const char *file, int line, const char *expr, const char *extra) {
  int saved = errno;
  unsigned long n = __atomic_add_fetch(&check_n_failed, 1, __ATOMIC_RELAXED);
  if (n <= CHECK_PRINT_LIMIT) {
    char b[1024];
    size_t pos = check_str(b, 0, sizeof b, file);
    pos = check_str(b, pos, sizeof b, ":");
    pos = check_num(b, pos, sizeof b, (unsigned long long)line, 10);
    pos = check_str(b, pos, sizeof b, ": CHECK failed: ");
    pos = check_str(b, pos, sizeof b, expr);
    if (extra) { pos = check_str(b, pos, sizeof b, "  ["); pos = check_str(b, pos, sizeof b, extra); pos = check_str(b, pos, sizeof b, "]"); }
    if (check_context && pos + 128 < sizeof b) {
      pos = check_str(b, pos, sizeof b, "  {");
      pos += check_context(b + pos, sizeof b - pos - 3);
      pos = check_str(b, pos, sizeof b, "}");
    }
    pos = check_str(b, pos, sizeof b, "\n");
    check_write(b, pos);
  } else if (n == CHECK_PRINT_LIMIT + 1) {
    static const char m[] = "(further failures counted, not printed)\n";
    check_write(m, sizeof m - 1);
  }
  errno = saved;
}
static inline void check_fail_eq(const char *file, int line, const char *expr,
                                 unsigned long long a, unsigned long long b) {
  char x[160];
  size_t pos = check_str(x, 0, sizeof x, "left ");
  pos = check_num(x, pos, sizeof x, a, 10);
  pos = check_str(x, pos, sizeof x, " (");
  pos = check_num(x, pos, sizeof x, a, 16);
  pos = check_str(x, pos, sizeof x, "), right ");
  pos = check_num(x, pos, sizeof x, b, 10);
  pos = check_str(x, pos, sizeof x, " (");
  pos = check_num(x, pos, sizeof x, b, 16);
  check_str(x, pos, sizeof x, ")");
  check_fail_at(file, line, expr, x);
}
__attribute__((format(printf, 4, 5)))
static inline void check_fail_msg(const char *file, int line, const char *expr, const char *fmt, ...) {
  char x[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x, sizeof x, fmt, ap);
  va_end(ap);
  check_fail_at(file, line, expr, x);
}

#define CHECK(cond) do { if (__builtin_expect(!!(cond), 1)) check_pass(); \
    else check_fail_at(__FILE__, __LINE__, #cond, NULL); } while (0)
#define CHECK_EQ(a, b) do { unsigned long long check_a_ = (unsigned long long)(a); \
    unsigned long long check_b_ = (unsigned long long)(b); \
    if (__builtin_expect(check_a_ == check_b_, 1)) check_pass(); \
    else check_fail_eq(__FILE__, __LINE__, #a " == " #b, check_a_, check_b_); } while (0)
#define CHECK_MSG(cond, ...) do { if (__builtin_expect(!!(cond), 1)) check_pass(); \
    else check_fail_msg(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)

static inline unsigned long check_failures(void) { return __atomic_load_n(&check_n_failed, __ATOMIC_RELAXED); }

static inline int check_report(void) {
  unsigned long p = __atomic_load_n(&check_n_passed, __ATOMIC_RELAXED);
  unsigned long f = __atomic_load_n(&check_n_failed, __ATOMIC_RELAXED);
  check_reported = 1;
  fflush(stderr);
  printf("%lu passed, %lu failed\n", p, f);
  fflush(stdout);
  return f ? 1 : 0;
}
__attribute__((unused)) static void check_atexit(void) {
  if (check_reported) return;
  int rc = check_report();
  if (rc) _exit(rc);               /* turn a silent exit(0) into a failure */
}
__attribute__((constructor)) static void check_register_atexit(void) { atexit(check_atexit); }

/* ---- PRNG -------------------------------------------------------------------- */
static inline uint64_t check_mix64(uint64_t x) {       /* splitmix64 finaliser */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
static inline uint64_t check_rand(uint64_t *s) { *s += 0x9e3779b97f4a7c15ull; return check_mix64(*s); }
static inline size_t check_below(uint64_t *s, size_t n) { return n ? (size_t)(check_rand(s) % n) : 0; }

/* ---- fatal handler and child processes ------------------------------------- */
#define CHECK_FATAL_PREFIX "umm fatal: "
/* For umm_on_fatal: writes "umm fatal: <msg> ptr=0x...\n" with write(2) and
 * aborts. Never allocates. */
__attribute__((noreturn, unused)) static void check_fatal_handler(const char *msg, const void *ptr) {
  char b[512];
  size_t pos = check_str(b, 0, sizeof b, CHECK_FATAL_PREFIX);
  pos = check_str(b, pos, sizeof b, msg ? msg : "(null msg)");
  pos = check_str(b, pos, sizeof b, " ptr=");
  pos = check_num(b, pos, sizeof b, (unsigned long long)(uintptr_t)ptr, 16);
  pos = check_str(b, pos, sizeof b, "\n");
  check_write(b, pos);
  abort();
}
static inline void check_install_fatal(void) { umm_on_fatal(check_fatal_handler); }

typedef struct check_child {
  int  exited, exit_code;                  /* normal exit */
  int  signaled, sig;                      /* killed by a signal */
  char err[2048];                          /* its stderr (truncated) */
} check_child_t;

/* Runs fn(arg) in a fork()ed child with stderr captured; the child exits 0 if
 * fn returns and gets SIGALRM after timeout_s seconds. */
static inline void check_run_child(void (*fn)(void *), void *arg, unsigned timeout_s, check_child_t *r) {
  int fd[2];
  memset(r, 0, sizeof *r);
  if (pipe(fd) != 0) { perror("pipe"); r->exited = 1; r->exit_code = -1; return; }
  fflush(stdout); fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); close(fd[0]); close(fd[1]); r->exited = 1; r->exit_code = -1; return; }
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], 2);
    close(fd[1]);
    signal(SIGALRM, SIG_DFL);
    alarm(timeout_s);
    fn(arg);
    _exit(0);
  }
  close(fd[1]);
  size_t len = 0;
  for (;;) {
    char tmp[512];
    ssize_t n = read(fd[0], tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && len + 1 < sizeof r->err; i++) r->err[len++] = tmp[i];
  }
  r->err[len] = 0;
  close(fd[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(st)) { r->exited = 1; r->exit_code = WEXITSTATUS(st); }
  if (WIFSIGNALED(st)) { r->signaled = 1; r->sig = WTERMSIG(st); }
}
/* The message our fatal handler printed in the child's stderr ("" if none),
 * copied to msg, and the ptr it reported (0 if none). */
static inline int check_child_fatal_line(const check_child_t *r, char *msg, size_t cap, uintptr_t *ptr) {
  const char *s = strstr(r->err, CHECK_FATAL_PREFIX);
  msg[0] = 0; *ptr = 0;
  if (!s) return 0;
  s += strlen(CHECK_FATAL_PREFIX);
  const char *e = strchr(s, '\n');
  const char *pp = strstr(s, " ptr=0x");
  if (!e) e = s + strlen(s);
  size_t n = (size_t)((pp && pp < e ? pp : e) - s);
  if (n >= cap) n = cap - 1;
  memcpy(msg, s, n); msg[n] = 0;
  if (pp && pp < e) *ptr = (uintptr_t)strtoull(pp + 7, NULL, 16);
  return 1;
}

/* ---- sanitizer defaults (no wrapper script needed) -------------------------- */
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECK_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CHECK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHECK_TSAN 1
#endif
#endif
#ifdef CHECK_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "halt_on_error=1:abort_on_error=0:detect_leaks=1:exitcode=66"; }
#endif
#ifdef CHECK_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "halt_on_error=1:exitcode=66:second_deadlock_stack=1"; }
#endif
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

/* ---- region helpers ------------------------------------------------------------- */
/* Bytes of the largest chunk (header included). */
#define CHECK_MAX_CHUNK_BYTES ((((size_t)1 << UMM_SIZE_BITS) - 1u) * UMM_GRANULE)

typedef struct check_chunks {
  umm_chunk_t *c;
  size_t       n, cap;
  size_t       stop_after;                 /* visitor returns stop_value after this many (0: never) */
  int          stop_value;
} check_chunks_t;

__attribute__((unused)) static int check_collect_visit(const umm_chunk_t *c, void *arg) {
  check_chunks_t *cc = arg;
  if (cc->n == cc->cap) {
    size_t ncap = cc->cap ? cc->cap * 2 : 1024;
    umm_chunk_t *nc = realloc(cc->c, ncap * sizeof *nc);
    if (!nc) { perror("realloc"); abort(); }
    cc->c = nc; cc->cap = ncap;
  }
  cc->c[cc->n++] = *c;
  if (cc->stop_after && cc->n >= cc->stop_after) return cc->stop_value;
  return 0;
}
/* Collects every chunk with umm_walk (quiet region). Returns umm_walk's value. */
static inline int check_collect(umm_t *u, check_chunks_t *cc) {
  cc->n = 0;
  return umm_walk(u, check_collect_visit, cc);
}
static inline void check_chunks_free(check_chunks_t *cc) { free(cc->c); memset(cc, 0, sizeof *cc); }

static inline int check_stats_equal(const umm_stats_t *a, const umm_stats_t *b) {
  return a->chunks == b->chunks && a->free_chunks == b->free_chunks &&
         a->bytes_in_use == b->bytes_in_use && a->bytes_free == b->bytes_free &&
         a->largest_free == b->largest_free && a->deferred == b->deferred &&
         a->bytes_total == b->bytes_total;
}
static inline void check_stats_print(const char *what, const umm_stats_t *s) {
  fprintf(stderr, "%s: chunks %zu free_chunks %zu in_use %zu free %zu largest %zu deferred %zu total %zu contention %llu\n",
          what, s->chunks, s->free_chunks, s->bytes_in_use, s->bytes_free, s->largest_free,
          s->deferred, s->bytes_total, (unsigned long long)s->contention);
}
#define CHECK_STATS_EQ(a, b) do { const umm_stats_t *check_sa_ = (a), *check_sb_ = (b); \
    CHECK_EQ(check_sa_->chunks, check_sb_->chunks); CHECK_EQ(check_sa_->free_chunks, check_sb_->free_chunks); \
    CHECK_EQ(check_sa_->bytes_in_use, check_sb_->bytes_in_use); CHECK_EQ(check_sa_->bytes_free, check_sb_->bytes_free); \
    CHECK_EQ(check_sa_->largest_free, check_sb_->largest_free); CHECK_EQ(check_sa_->deferred, check_sb_->deferred); \
    CHECK_EQ(check_sa_->bytes_total, check_sb_->bytes_total); } while (0)

/* Layout facts of a region that never change after umm_init. */
typedef struct check_layout {
  int    known;                            /* 0 until the first check_region */
  size_t slack;                            /* bytes_total minus what the visited chunks tile */
  size_t gaps;                             /* one-granule holes between visited chunks */
} check_layout_t;

/* What a quiet region must look like, checked against umm_walk, umm_get_stats,
 * umm_usable_size/umm_tags and umm_check:
 *  - chunks visited in strictly increasing address order, tiling the space
 *    (next ptr == ptr + size + header), 16-aligned, inside [space, space+bytes);
 *    the walk does not show internal one-granule separators (regions larger
 *    than one chunk): a hole of exactly UMM_GRANULE between two visited
 *    chunks is accepted, but the number of such holes never changes;
 *  - in-use chunks: usable size and tags equal umm_usable_size / umm_tags;
 *    free chunks: tags 0, no flags; DEFERRED only on in-use chunks;
 *  - stats equal the sums over the walk; bytes_total minus what the chunks
 *    tile, and the number of holes, stay as recorded on first use in *lay.
 * Returns the number of failed checks; *out (if not NULL) gets the stats. */
static inline unsigned long check_region(umm_t *u, const void *space, size_t bytes, check_layout_t *lay,
                                         umm_stats_t *out) {
  unsigned long before = check_failures();
  check_chunks_t cc = {0};
  umm_stats_t st;
  CHECK_EQ(umm_check(u), 0);
  CHECK_EQ(check_collect(u, &cc), 0);
  umm_get_stats(u, &st);
  size_t nfree = 0, inuse = 0, freeb = 0, largest = 0, deferred = 0, tiled = 0, gaps = 0;
  const char *lo = space, *hi = (const char *)space + bytes;
  for (size_t i = 0; i < cc.n; i++) {
    const umm_chunk_t *c = &cc.c[i];
    const char *p = c->ptr;
    CHECK(((uintptr_t)p & (UMM_ALIGNMENT - 1)) == 0);
    CHECK(p - UMM_HEADER_SIZE >= lo && p + c->size <= hi);
    CHECK((c->size + UMM_HEADER_SIZE) % UMM_GRANULE == 0);
    if (i + 1 < cc.n) {
      uintptr_t next = (uintptr_t)cc.c[i + 1].ptr, end = (uintptr_t)(p + c->size + UMM_HEADER_SIZE);
      if (next == end + UMM_GRANULE) gaps++;
      else CHECK_EQ(next, end);
    }
    tiled += c->size + UMM_HEADER_SIZE;
    if (c->in_use) {
      inuse += c->size;
      if (c->flags & UMM_CHUNK_DEFERRED) deferred++;
      else {
        CHECK_EQ(umm_usable_size(c->ptr), c->size);
        CHECK_EQ(umm_tags(c->ptr), c->tags);
        CHECK(umm_owns(u, c->ptr));
      }
    } else {
      nfree++; freeb += c->size;
      if (c->size > largest) largest = c->size;
      CHECK_EQ(c->tags, 0);
      CHECK_EQ(c->flags, 0);
      CHECK(!umm_owns(u, c->ptr));
    }
  }
  CHECK_EQ(st.chunks, cc.n);
  CHECK_EQ(st.free_chunks, nfree);
  CHECK_EQ(st.bytes_in_use, inuse);
  CHECK_EQ(st.bytes_free, freeb);
  CHECK_EQ(st.largest_free, largest);
  CHECK_EQ(st.deferred, deferred);
  CHECK(st.bytes_total <= bytes && st.bytes_total >= tiled);
  if (lay) {
    if (!lay->known) { lay->known = 1; lay->slack = st.bytes_total - tiled; lay->gaps = gaps; }
    else { CHECK_EQ(st.bytes_total - tiled, lay->slack); CHECK_EQ(gaps, lay->gaps); }
  }
  if (out) *out = st;
  check_chunks_free(&cc);
  return check_failures() - before;
}

/* No two neighbouring free chunks that would fit in one chunk (a merge the
 * 21-bit size field allows but that did not happen). Returns failures. */
static inline unsigned long check_coalesced(umm_t *u) {
  unsigned long before = check_failures();
  check_chunks_t cc = {0};
  CHECK_EQ(check_collect(u, &cc), 0);
  for (size_t i = 0; i < cc.n; i++) {
    if (i + 1 < cc.n && !cc.c[i].in_use && !cc.c[i + 1].in_use)
      CHECK_MSG(cc.c[i].size + cc.c[i + 1].size + 2 * UMM_HEADER_SIZE > CHECK_MAX_CHUNK_BYTES,
                "free neighbours %p (%zu) and %p (%zu) not merged", cc.c[i].ptr, cc.c[i].size,
                cc.c[i + 1].ptr, cc.c[i + 1].size);
  }
  check_chunks_free(&cc);
  return check_failures() - before;
}

/* Whether some free chunk (quiet region) has room for `size` bytes at an
 * `align`-aligned address, with generous margins (64 bytes before, for a
 * front remainder, and 64 after): if so, umm_memalign must not fail. */
static inline int check_aligned_fit(umm_t *u, size_t align, size_t size) {
  check_chunks_t cc = { 0 };
  int fit = 0;
  if (align < UMM_ALIGNMENT) align = UMM_ALIGNMENT;
  check_collect(u, &cc);
  for (size_t i = 0; i < cc.n && !fit; i++) {
    if (cc.c[i].in_use) continue;
    uintptr_t lo = (uintptr_t)cc.c[i].ptr, hi = lo + cc.c[i].size;
    uintptr_t a = (lo + 64 + align - 1) & ~(uintptr_t)(align - 1);
    if (a > lo && a < hi && size <= hi - a && hi - a - size >= 64) fit = 1;
  }
  check_chunks_free(&cc);
  return fit;
}

/* Fully freed region vs its stats right after umm_init: identical when the
 * space fits one chunk; else the same bytes (free bytes + headers) and fully
 * coalesced. */
static inline unsigned long check_back_to_initial(umm_t *u, const umm_stats_t *init) {
  unsigned long before = check_failures();
  umm_stats_t st;
  CHECK_EQ(umm_check(u), 0);
  umm_get_stats(u, &st);
  CHECK_EQ(st.bytes_in_use, 0);
  CHECK_EQ(st.deferred, 0);
  CHECK_EQ(st.chunks, st.free_chunks);
  CHECK_EQ(st.bytes_total, init->bytes_total);
  CHECK_EQ(st.bytes_free + st.free_chunks * UMM_HEADER_SIZE, init->bytes_free + init->free_chunks * UMM_HEADER_SIZE);
  if (init->chunks == 1) {
    CHECK_EQ(st.chunks, 1);
    CHECK_EQ(st.free_chunks, 1);
    CHECK_EQ(st.bytes_free, init->bytes_free);
    CHECK_EQ(st.largest_free, st.bytes_free);
  }
  check_coalesced(u);
  if (check_failures() != before) { check_stats_print("initial", init); check_stats_print("final  ", &st); }
  return check_failures() - before;
}

#endif /* UMM_TEST_CHECK_H */
