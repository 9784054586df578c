/* core_scale.c - does the cost of umm_malloc + umm_free stay flat as the
 * number of live chunks in a region grows?
 *
 * For each live-set size (default 1k, 10k, 100k, 1M chunks) it builds a live
 * set of blocks of random sizes 16..256 B in one region (default 512 MiB from
 * mmap), runs one untimed warm-up pass, then RUNS timed passes of OPS steady-
 * state operations: free a random live block, allocate a new random size in
 * its slot. glibc malloc/free run exactly the same pattern (same seed, same
 * generated op arrays) in the same process, interleaved run by run.
 *
 * Reported per size: ns per malloc+free pair (median of RUNS) for umm and
 * glibc, their ratio, and instructions per pair for both. Instructions come
 * from perf_event_open (user-space instructions around the timed loop) when
 * the kernel offers a hardware counter, else from callgrind: the program runs
 * itself under `valgrind --tool=callgrind --toggle-collect=run_ops` in a child
 * mode that builds the same live set and warms up outside run_ops, so only
 * the steady-state operations are counted. Both counts include the loop's own
 * bookkeeping (a handful of instructions per pair, equal for both allocators).
 *
 * Prints a markdown table and the two target ratios: umm instructions/pair at
 * the largest size over the smallest (target <= 1.5) and umm/glibc time at
 * every size (target <= 2.0). Exit status 0 unless --assert is given and a
 * target is missed (1), or something failed (2). Progress goes to stderr.
 */
#define _GNU_SOURCE
#include "umm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND_H 1
#endif
#endif

#define MIN_SIZE 16u
#define MAX_SIZE 256u
#define MAX_SIZES 16
#define MAX_RUNS 101

enum alloc { A_UMM, A_GLIBC };
static const char *alloc_name[] = { "umm", "glibc" };

/* ---- options ------------------------------------------------------------------ */
static size_t   o_sizes[MAX_SIZES] = { 1000, 10000, 100000, 1000000 };
static int      o_nsizes = 4;
static size_t   o_ops = 1000000;          /* timed ops per run */
static int      o_runs = 5;
static size_t   o_icount_ops = 200000;    /* ops counted under callgrind */
static uint64_t o_seed = 42;
static size_t   o_region_mib = 512;
static int      o_assert = 0;
static enum { IC_AUTO, IC_PERF, IC_CALLGRIND, IC_NONE } o_icount = IC_AUTO;

/* ---- random pattern --------------------------------------------------------------- */
static uint64_t rnd(uint64_t *s)                     /* splitmix64 */
{
  uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}
static uint32_t rnd_size(uint64_t *s) { return MIN_SIZE + (uint32_t)(rnd(s) % (MAX_SIZE - MIN_SIZE + 1)); }

/* One pass of steady-state operations: free slot idx[i], allocate size[i] in it. */
struct ops {
  size_t    n;
  uint32_t *idx;
  uint32_t *size;
};

static void gen_ops(struct ops *o, uint64_t seed, size_t live)
{
  uint64_t s = seed;
  for (size_t i = 0; i < o->n; i++) {
    o->idx[i] = (uint32_t)(rnd(&s) % live);
    o->size[i] = rnd_size(&s);
  }
}

static void die(const char *what)
{
  fprintf(stderr, "core_scale: %s\n", what);
  exit(2);
}

static void *xmalloc(size_t n)
{
  void *p = malloc(n);
  if (!p) die("out of memory for the benchmark's own arrays");
  return p;
}

#if defined(__clang__)
#define NOINLINE __attribute__((noinline, used))
#else
#define NOINLINE __attribute__((noinline, noclone, used))
#endif

/* ---- the measured loop ---------------------------------------------------------------- */
static umm_t *g_umm;

static inline __attribute__((always_inline))
void loop(enum alloc a, void **slot, const struct ops *o)
{
  const uint32_t *idx = o->idx, *size = o->size;
  size_t n = o->n;
  if (a == A_UMM) {
    umm_t *u = g_umm;
    for (size_t i = 0; i < n; i++) {
      void **sl = &slot[idx[i]];
      umm_free(u, *sl);
      void *p = umm_malloc(u, size[i], 0);
      if (__builtin_expect(p == NULL, 0)) die("umm_malloc failed (region too small?)");
      *(uint64_t *)p = i;
      *sl = p;
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      void **sl = &slot[idx[i]];
      free(*sl);
      void *p = malloc(size[i]);
      if (__builtin_expect(p == NULL, 0)) die("malloc failed");
      *(uint64_t *)p = i;
      *sl = p;
    }
  }
}

/* The timed (and, under callgrind, the only collected) loop. */
NOINLINE
void run_ops(enum alloc a, void **slot, const struct ops *o)
{
  loop(a, slot, o);
  __asm__ __volatile__("" ::: "memory");
}

/* Same work, never timed nor counted. */
NOINLINE
void warm_ops(enum alloc a, void **slot, const struct ops *o)
{
  loop(a, slot, o);
  __asm__ __volatile__("" ::: "memory");
}

/* ---- region and live sets ------------------------------------------------------------- */
static void  *g_space;
static size_t g_space_bytes;
static umm_stats_t g_stats0;

static void region_init(void)
{
  if (!g_space) {
    g_space_bytes = o_region_mib << 20;
    g_space = mmap(NULL, g_space_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g_space == MAP_FAILED) die("mmap of the region failed");
  }
  g_umm = umm_init(g_space, g_space_bytes);
  if (!g_umm) die("umm_init failed");
  umm_get_stats(g_umm, &g_stats0);
}

static void build(enum alloc a, void **slot, size_t live, uint64_t seed)
{
  uint64_t s = seed;
  for (size_t i = 0; i < live; i++) {
    uint32_t sz = rnd_size(&s);
    void *p = a == A_UMM ? umm_malloc(g_umm, sz, 0) : malloc(sz);
    if (!p) die(a == A_UMM ? "umm_malloc failed while building the live set (use --region)"
                           : "malloc failed while building the live set");
    *(uint64_t *)p = i;
    slot[i] = p;
  }
}

/* Frees the umm live set and checks the region is whole again. */
static int teardown_umm(void **slot, size_t live)
{
  for (size_t i = 0; i < live; i++) umm_free(g_umm, slot[i]);
  umm_drain(g_umm);
  umm_stats_t s;
  umm_get_stats(g_umm, &s);
  int bad = umm_check(g_umm);
  if (bad || s.chunks != g_stats0.chunks || s.bytes_free != g_stats0.bytes_free ||
      s.bytes_in_use != 0) {
    fprintf(stderr, "core_scale: region not whole after freeing %zu blocks: umm_check=%d "
            "chunks=%zu (start %zu) bytes_free=%zu (start %zu) bytes_in_use=%zu\n", live, bad,
            s.chunks, g_stats0.chunks, s.bytes_free, g_stats0.bytes_free, s.bytes_in_use);
    return 1;
  }
  return 0;
}

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- instruction counting: perf_event_open --------------------------------------------- */
static int perf_open(void)
{
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof pe);
  pe.type = PERF_TYPE_HARDWARE;
  pe.size = sizeof pe;
  pe.config = PERF_COUNT_HW_INSTRUCTIONS;
  pe.disabled = 1;
  pe.exclude_kernel = 1;
  pe.exclude_hv = 1;
  return (int)syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
}

static int g_perf_fd = -1;

static void perf_start(void)
{
  if (g_perf_fd < 0) return;
  ioctl(g_perf_fd, PERF_EVENT_IOC_RESET, 0);
  ioctl(g_perf_fd, PERF_EVENT_IOC_ENABLE, 0);
}

static uint64_t perf_stop(void)
{
  uint64_t v = 0;
  if (g_perf_fd < 0) return 0;
  ioctl(g_perf_fd, PERF_EVENT_IOC_DISABLE, 0);
  if (read(g_perf_fd, &v, sizeof v) != (ssize_t)sizeof v) return 0;
  return v;
}

/* ---- instruction counting: callgrind child ---------------------------------------------- */
/* Child mode: build the live set and warm up (not collected), then one
 * run_ops pass of o_icount_ops operations (collected via --toggle-collect). */
static int child_main(enum alloc a, size_t live)
{
  void **slot = xmalloc(live * sizeof *slot);
  struct ops o;
  size_t nmax = o_ops > o_icount_ops ? o_ops : o_icount_ops;
  o.idx = xmalloc(nmax * sizeof *o.idx);
  o.size = xmalloc(nmax * sizeof *o.size);
  if (a == A_UMM) region_init();
  build(a, slot, live, o_seed);
  o.n = o_ops;
  gen_ops(&o, o_seed + 1000, live);
  warm_ops(a, slot, &o);
  o.n = o_icount_ops;
  gen_ops(&o, o_seed + 1, live);
#ifdef HAVE_CALLGRIND_H
  CALLGRIND_START_INSTRUMENTATION;
#endif
  run_ops(a, slot, &o);
#ifdef HAVE_CALLGRIND_H
  CALLGRIND_STOP_INSTRUMENTATION;
#endif
  return 0;
}

static int have_valgrind(void)
{
  return system("valgrind --version >/dev/null 2>&1") == 0;
}

/* Runs this program under callgrind in child mode; returns instructions per
 * pair, or a negative value on failure. */
static double callgrind_count(enum alloc a, size_t live)
{
  char self[4096], out[256], live_s[32], ops_s[32], icops_s[32], seed_s[32], reg_s[32];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return -1;
  self[n] = 0;
  snprintf(out, sizeof out, "--callgrind-out-file=/tmp/core_scale.%d.callgrind", (int)getpid());
  snprintf(live_s, sizeof live_s, "%zu", live);
  snprintf(ops_s, sizeof ops_s, "%zu", o_ops);
  snprintf(icops_s, sizeof icops_s, "%zu", o_icount_ops);
  snprintf(seed_s, sizeof seed_s, "%" PRIu64, o_seed);
  snprintf(reg_s, sizeof reg_s, "%zu", o_region_mib);
  char *argv[] = {
    "valgrind", "--tool=callgrind", "--toggle-collect=run_ops",
#ifdef HAVE_CALLGRIND_H
    "--instr-atstart=no",
#endif
    out, self, "--child", (char *)alloc_name[a], live_s, "--ops", ops_s,
    "--icount-ops", icops_s, "--seed", seed_s, "--region", reg_s, NULL
  };
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
    execvp(argv[0], argv);
    _exit(127);
  }
  int st;
  if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "core_scale: callgrind child failed (status %d)\n", st);
    return -1;
  }
  const char *path = out + strlen("--callgrind-out-file=");
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[512];
  double total = -1, summary = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long long v;
    if (sscanf(line, "totals: %llu", &v) == 1) total = (double)v;
    else if (sscanf(line, "summary: %llu", &v) == 1) summary = (double)v;
  }
  fclose(f);
  unlink(path);
  if (total < 0) total = summary;
  if (total <= 0) return -1;
  return total / (double)o_icount_ops;
}

/* ---- driver --------------------------------------------------------------------------- */
static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct result {
  size_t live;
  double ns[2];        /* median ns per pair */
  double ins[2];       /* instructions per pair, < 0 unknown */
};

static const char *human(size_t n, char *buf, size_t len)
{
  if (n >= 1000000 && n % 1000000 == 0) snprintf(buf, len, "%zuM", n / 1000000);
  else if (n >= 1000 && n % 1000 == 0) snprintf(buf, len, "%zuk", n / 1000);
  else snprintf(buf, len, "%zu", n);
  return buf;
}

static void usage(void)
{
  fprintf(stderr,
    "usage: core_scale [options]\n"
    "  --sizes LIST       live-chunk counts, comma separated (default 1000,10000,100000,1000000)\n"
    "  --ops N            timed operations per run and warm-up (default 1000000)\n"
    "  --runs R           timed runs per size; the median is reported (default 5)\n"
    "  --icount MODE      auto | perf | callgrind | none (default auto: perf, else callgrind)\n"
    "  --icount-ops N     operations counted under callgrind (default 200000)\n"
    "  --seed S           pattern seed (default 42)\n"
    "  --region MiB       umm region size (default 512)\n"
    "  --quick            --sizes 1000,10000 --ops 100000 --runs 3 --icount none\n"
    "  --assert           exit 1 when a target is missed\n"
    "  --child umm|glibc N  (internal) one counted pass at N live chunks, run under callgrind\n");
  exit(2);
}

static size_t parse_size(const char *s)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) usage();
  if (*end == 'k' || *end == 'K') { v *= 1000; end++; }
  else if (*end == 'm' || *end == 'M') { v *= 1000000; end++; }
  if (*end || v == 0) usage();
  return (size_t)v;
}

int main(int argc, char **argv)
{
  const char *child = NULL;
  size_t child_live = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED() do { if (!v) usage(); i++; } while (0)
    if (!strcmp(a, "--sizes")) {
      NEED();
      char *copy = strdup(v), *save = NULL;
      o_nsizes = 0;
      for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o_nsizes == MAX_SIZES) usage();
        o_sizes[o_nsizes++] = parse_size(t);
      }
      free(copy);
      if (!o_nsizes) usage();
    } else if (!strcmp(a, "--ops")) { NEED(); o_ops = parse_size(v);
    } else if (!strcmp(a, "--runs")) { NEED(); o_runs = (int)parse_size(v); if (o_runs > MAX_RUNS) usage();
    } else if (!strcmp(a, "--icount-ops")) { NEED(); o_icount_ops = parse_size(v);
    } else if (!strcmp(a, "--seed")) { NEED(); o_seed = (uint64_t)parse_size(v);
    } else if (!strcmp(a, "--region")) { NEED(); o_region_mib = parse_size(v);
    } else if (!strcmp(a, "--icount")) {
      NEED();
      if (!strcmp(v, "auto")) o_icount = IC_AUTO;
      else if (!strcmp(v, "perf")) o_icount = IC_PERF;
      else if (!strcmp(v, "callgrind")) o_icount = IC_CALLGRIND;
      else if (!strcmp(v, "none")) o_icount = IC_NONE;
      else usage();
    } else if (!strcmp(a, "--quick")) {
      o_sizes[0] = 1000; o_sizes[1] = 10000; o_nsizes = 2;
      o_ops = 100000; o_runs = 3; o_icount = IC_NONE;
    } else if (!strcmp(a, "--assert")) { o_assert = 1;
    } else if (!strcmp(a, "--child")) {
      if (i + 2 >= argc) usage();
      child = argv[++i];
      child_live = parse_size(argv[++i]);
    } else usage();
#undef NEED
  }
  if (child) {
    if (!strcmp(child, "umm")) return child_main(A_UMM, child_live);
    if (!strcmp(child, "glibc")) return child_main(A_GLIBC, child_live);
    usage();
  }

  /* How instructions get counted. */
  const char *ic_how = "none";
  if (o_icount == IC_AUTO || o_icount == IC_PERF) {
    g_perf_fd = perf_open();
    if (g_perf_fd >= 0) {                     /* a counter that opens may still count nothing (VMs) */
      perf_start();
      for (unsigned k = 0; k < 1000; k++) __asm__ __volatile__("" ::: "memory");
      if (perf_stop() < 1000) { close(g_perf_fd); g_perf_fd = -1; }
    }
    if (g_perf_fd >= 0) ic_how = "perf";
    else if (o_icount == IC_PERF) die("--icount perf: no usable hardware instruction counter");
  }
  if (g_perf_fd < 0 && (o_icount == IC_AUTO || o_icount == IC_CALLGRIND)) {
    if (have_valgrind()) ic_how = "callgrind";
    else if (o_icount == IC_CALLGRIND) die("--icount callgrind: valgrind not found");
  }
  fprintf(stderr, "core_scale: sizes %d, %zu ops x %d runs, seed %" PRIu64 ", region %zu MiB, "
          "instructions: %s\n", o_nsizes, o_ops, o_runs, o_seed, o_region_mib, ic_how);

  struct result res[MAX_SIZES];
  int failed = 0;
  for (int si = 0; si < o_nsizes; si++) {
    size_t live = o_sizes[si];
    char hb[32];
    struct result *r = &res[si];
    r->live = live;
    r->ins[0] = r->ins[1] = -1;
    if (live > UINT32_MAX) die("live set too large");

    fprintf(stderr, "core_scale: %s live: building\n", human(live, hb, sizeof hb));
    void **slot[2];
    slot[A_UMM] = xmalloc(live * sizeof(void *));
    slot[A_GLIBC] = xmalloc(live * sizeof(void *));
    struct ops o;
    o.n = o_ops;
    o.idx = xmalloc(o_ops * sizeof *o.idx);
    o.size = xmalloc(o_ops * sizeof *o.size);

    region_init();
    build(A_UMM, slot[A_UMM], live, o_seed);
    build(A_GLIBC, slot[A_GLIBC], live, o_seed);
    gen_ops(&o, o_seed + 1000, live);
    warm_ops(A_UMM, slot[A_UMM], &o);
    warm_ops(A_GLIBC, slot[A_GLIBC], &o);

    double ns[2][MAX_RUNS], ins[2][MAX_RUNS];
    for (int run = 0; run < o_runs; run++) {
      gen_ops(&o, o_seed + 1 + (uint64_t)run, live);
      for (int a = 0; a < 2; a++) {
        perf_start();
        double t0 = now_ns();
        run_ops((enum alloc)a, slot[a], &o);
        double t1 = now_ns();
        uint64_t n_ins = perf_stop();
        ns[a][run] = (t1 - t0) / (double)o_ops;
        ins[a][run] = (double)n_ins / (double)o_ops;
      }
      fprintf(stderr, "core_scale: %s live: run %d/%d: umm %.1f ns, glibc %.1f ns per pair\n",
              hb, run + 1, o_runs, ns[0][run], ns[1][run]);
    }
    for (int a = 0; a < 2; a++) {
      r->ns[a] = median(ns[a], o_runs);
      if (g_perf_fd >= 0) r->ins[a] = median(ins[a], o_runs);
    }

    for (size_t i = 0; i < live; i++) free(slot[A_GLIBC][i]);
    if (teardown_umm(slot[A_UMM], live)) failed = 1;
    free(slot[0]); free(slot[1]); free(o.idx); free(o.size);

    if (!strcmp(ic_how, "callgrind")) {
      for (int a = 0; a < 2; a++) {
        fprintf(stderr, "core_scale: %s live: counting %s instructions under callgrind "
                "(%zu ops)\n", hb, alloc_name[a], o_icount_ops);
        r->ins[a] = callgrind_count((enum alloc)a, live);
        if (r->ins[a] < 0) failed = 1;
      }
    }
  }

  /* Report. */
  printf("\n## core_scale: umm vs glibc, malloc+free pairs, sizes %u..%u B\n\n", MIN_SIZE, MAX_SIZE);
  printf("%zu ops per run, median of %d runs, seed %" PRIu64 "; instructions: %s%s\n\n",
         o_ops, o_runs, o_seed, ic_how,
         !strcmp(ic_how, "callgrind") ? " (--toggle-collect=run_ops, steady-state ops only)" : "");
  printf("| live chunks | umm ns/pair | glibc ns/pair | umm/glibc time | umm instr/pair | glibc instr/pair |\n");
  printf("|---:|---:|---:|---:|---:|---:|\n");
  double worst_time = 0;
  size_t worst_live = 0;
  for (int si = 0; si < o_nsizes; si++) {
    struct result *r = &res[si];
    char hb[32], i0[32], i1[32];
    double ratio = r->ns[0] / r->ns[1];
    if (ratio > worst_time) { worst_time = ratio; worst_live = r->live; }
    if (r->ins[0] >= 0) snprintf(i0, sizeof i0, "%.1f", r->ins[0]); else snprintf(i0, sizeof i0, "n/a");
    if (r->ins[1] >= 0) snprintf(i1, sizeof i1, "%.1f", r->ins[1]); else snprintf(i1, sizeof i1, "n/a");
    printf("| %s | %.1f | %.1f | %.2f | %s | %s |\n", human(r->live, hb, sizeof hb),
           r->ns[0], r->ns[1], ratio, i0, i1);
  }
  printf("\n");

  int missed = 0;
  char hb0[32], hb1[32];
  const struct result *lo = &res[0], *hi = &res[0];
  for (int si = 0; si < o_nsizes; si++) {
    if (res[si].live < lo->live) lo = &res[si];
    if (res[si].live > hi->live) hi = &res[si];
  }
  if (lo->ins[0] > 0 && hi->ins[0] > 0 && hi != lo) {
    double flat = hi->ins[0] / lo->ins[0];
    int ok = flat <= 1.5;
    missed |= !ok;
    printf("umm instructions/pair %s/%s: %.2f (target <= 1.5): %s\n", human(hi->live, hb1, sizeof hb1),
           human(lo->live, hb0, sizeof hb0), flat, ok ? "met" : "MISSED");
  } else {
    printf("umm instructions/pair %s/%s: n/a (no instruction counts or one size)\n",
           human(hi->live, hb1, sizeof hb1), human(lo->live, hb0, sizeof hb0));
  }
  int ok = worst_time <= 2.0;
  missed |= !ok;
  printf("umm/glibc time, worst size: %.2f at %s live (target <= 2.0 at every size): %s\n",
         worst_time, human(worst_live, hb0, sizeof hb0), ok ? "met" : "MISSED");

  if (failed) { fprintf(stderr, "core_scale: errors occurred (see above)\n"); return 2; }
  return (o_assert && missed) ? 1 : 0;
}
