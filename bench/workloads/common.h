/* common.h - shared scaffolding for the benchmark workloads (the .c files beside it).
 *
 * Every workload uses only the plain malloc family, so any allocator can be
 * preloaded under it. Command line:  PROG [-t THREADS] [-s SCALE]
 *   THREADS  worker threads (default: online CPUs)
 *   SCALE    multiplies the amount of work (default 1.0; the smoke test uses 0.01)
 * Each prints exactly one line starting with "RESULT " of key=value pairs:
 *   RESULT workload=NAME threads=T scale=S secs=ELAPSED ops=N rate=R unit=U peak_rss_kb=K malloc_from=LIB [extra...]
 * rate is the workload's own throughput in unit (e.g. ops/s); secs is the timed
 * section only (process start-up excluded); malloc_from names the shared object
 * whose malloc the program is really calling (so a runner can check a preload
 * took effect). Exit status 0 on success, 1 on a
 * self-check failure. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int threads;
  double scale;
} bench_args_t;

static inline void bench_usage(const char *prog) {
  fprintf(stderr, "usage: %s [-t THREADS] [-s SCALE]\n", prog);
  exit(2);
}

static inline bench_args_t bench_parse(int argc, char **argv) {
  bench_args_t a;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  a.threads = cpus > 0 ? (int)cpus : 1;
  a.scale = 1.0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-t") && i + 1 < argc) a.threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-s") && i + 1 < argc) a.scale = atof(argv[++i]);
    else bench_usage(argv[0]);
  }
  if (a.threads < 1 || a.threads > 1024 || !(a.scale > 0)) bench_usage(argv[0]);
  return a;
}

/* n * scale, at least lo */
static inline long bench_scaled(double n, double scale, long lo) {
  double v = n * scale;
  return v < (double)lo ? lo : (long)v;
}

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double bench_cpu_secs(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static inline long bench_peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* current resident set in KiB (from /proc/self/statm), -1 if unreadable */
static inline long bench_cur_rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, res = -1;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = -1;
    fclose(f);
  }
  return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* splitmix64: a small, good, per-thread generator */
static inline uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/* uniform in [0, n) */
static inline size_t rng_below(uint64_t *s, size_t n) {
  return (size_t)((rng_next(s) >> 11) % n);
}
/* uniform in [0, 1) */
static inline double rng_unit(uint64_t *s) {
  return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static inline void bench_fail(const char *what) {
  fprintf(stderr, "FAIL: %s\n", what);
  exit(1);
}

static inline void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) bench_fail("malloc returned NULL");
  return p;
}

/* Run fn(arg_i) on n threads and join them. args is an array of n elements of
 * size elem bytes. */
static inline void bench_run_threads(int n, void *(*fn)(void *), void *args, size_t elem) {
  pthread_t *tid = xmalloc(sizeof(pthread_t) * (size_t)n);
  for (int i = 0; i < n; i++)
    if (pthread_create(&tid[i], NULL, fn, (char *)args + (size_t)i * elem) != 0)
      bench_fail("pthread_create");
  for (int i = 0; i < n; i++) pthread_join(tid[i], NULL);
  free(tid);
}

/* basename of the object that defines the malloc this process calls */
static inline const char *bench_malloc_from(void) {
  Dl_info info;
  void *m = dlsym(RTLD_DEFAULT, "malloc");
  if (!m || !dladdr(m, &info) || !info.dli_fname) return "unknown";
  const char *s = strrchr(info.dli_fname, '/');
  return s ? s + 1 : info.dli_fname;
}

/* The result line. extra_fmt may be NULL or a printf format for more key=value pairs. */
__attribute__((format(printf, 7, 8)))
static inline void bench_report(const char *name, const bench_args_t *a, double secs, double ops,
                                const char *unit, double rate, const char *extra_fmt, ...) {
  printf("RESULT workload=%s threads=%d scale=%g secs=%.4f ops=%.0f rate=%.6g unit=%s peak_rss_kb=%ld malloc_from=%s",
         name, a->threads, a->scale, secs, ops, rate, unit, bench_peak_rss_kb(), bench_malloc_from());
  if (extra_fmt) {
    va_list ap;
    va_start(ap, extra_fmt);
    putchar(' ');
    vprintf(extra_fmt, ap);
    va_end(ap);
  }
  putchar('\n');
  fflush(stdout);
}

/* Keep the compiler from proving a block unused. */
static inline void bench_escape(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

#endif
