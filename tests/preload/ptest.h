/* ptest.h - the preload tests' tiny harness: CHECK counters (atomic, so
 * threads and signal handlers may use them), a PRNG, a content pattern, and
 * a runner for a child expected to die (signal + first stderr line). */
#ifndef PTEST_H
#define PTEST_H
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static long pt_pass, pt_fail;

static void pt_failed(const char *file, int line, const char *expr) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "FAIL %s:%d: %s\n", file, line, expr);
  if (n > 0) { ssize_t w = write(2, buf, (size_t)n); (void)w; }
  __atomic_fetch_add(&pt_fail, 1, __ATOMIC_RELAXED);
}
#define CHECK(c) ((c) ? (void)__atomic_fetch_add(&pt_pass, 1, __ATOMIC_RELAXED) : pt_failed(__FILE__, __LINE__, #c))

static int pt_report(void) {
  printf("%ld passed, %ld failed\n", pt_pass, pt_fail);
  fflush(stdout);
  return pt_fail ? 1 : 0;
}

static inline uint64_t pt_rand(uint64_t *s) {             /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Fill / verify a block with bytes derived from its address, size and a
 * seed: every byte of the first and last 4 KiB, one byte in 61 between. */
static inline size_t pt_next(size_t i, size_t n) { return (i < 4096 || i + 4096 >= n) ? i + 1 : i + 61; }
static inline void pt_fill(void *p, size_t n, uint64_t seed) {
  unsigned char *c = p;
  uint64_t x = ((uint64_t)(uintptr_t)p ^ seed ^ n) * 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < n; i = pt_next(i, n)) c[i] = (unsigned char)(x >> ((i & 7) * 8)) ^ (unsigned char)i;
}
static inline int pt_verify(const void *p, size_t n, uint64_t seed) {
  const unsigned char *c = p;
  uint64_t x = ((uint64_t)(uintptr_t)p ^ seed ^ n) * 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < n; i = pt_next(i, n))
    if (c[i] != ((unsigned char)(x >> ((i & 7) * 8)) ^ (unsigned char)i)) return 0;
  return 1;
}

/* Run fn in a child with stderr captured; returns the signal that killed
 * it (0 if it exited) and its first stderr line in line[]. */
__attribute__((unused)) static int pt_child(void (*fn)(void *), void *arg, char *line, size_t cap) {
  int fd[2];
  if (pipe(fd) != 0) return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], 2);
    signal(SIGABRT, SIG_DFL);
    fn(arg);
    _exit(0);
  }
  close(fd[1]);
  size_t n = 0;
  ssize_t r;
  while (n + 1 < cap && (r = read(fd[0], line + n, cap - 1 - n)) > 0) n += (size_t)r;
  line[n] = 0;
  char *nl = strchr(line, '\n');
  if (nl) *nl = 0;
  close(fd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

/* Resident set size in KiB (/proc/self/statm). */
__attribute__((unused)) static size_t ummp_rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, res = 0;
  if (f) { if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0; fclose(f); }
  return (size_t)res * ((size_t)sysconf(_SC_PAGESIZE) / 1024);
}

/* 1 when the umm preload serves this process's malloc. */
extern size_t umm_usable_size(const void *p) __attribute__((weak));
/* Install fn for sig with SA_RESTART and an empty mask. */
__attribute__((unused)) static void pt_on_signal(int sig, void (*fn)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(sig, &sa, NULL);
}
static inline int pt_preloaded(void) { return umm_usable_size != NULL; }

/* x in UNIT (B, KiB, MiB or GiB, as UMM_STATS prints sizes), in bytes. */
static inline double pt_unit_bytes(double x, const char *unit) {
  double k = !strcmp(unit, "KiB") ? 1.0 : !strcmp(unit, "MiB") ? 2.0 : !strcmp(unit, "GiB") ? 3.0 : 0.0;
  while (k-- > 0) x *= 1024.0;
  return x;
}

/* A "KEY X UNIT of Y UNIT" field of malloc_stats() (stderr briefly goes to a
 * file): X in bytes (-1 if the field is missing), Y in *of when non-NULL.
 * The field's text is echoed on stderr after `label`. */
extern void malloc_stats(void);
__attribute__((unused)) static double pt_stats_bytes(const char *key, double *of, const char *label) {
  FILE *f = tmpfile();
  if (!f) { perror("tmpfile"); exit(2); }
  fflush(stderr);
  int saved = dup(2);
  dup2(fileno(f), 2);
  malloc_stats();
  dup2(saved, 2);
  close(saved);
  rewind(f);
  char line[512], fmt[80];
  double v = -1;
  snprintf(fmt, sizeof fmt, "%s %%lf %%7s of %%lf %%7s", key);
  while (fgets(line, sizeof line, f)) {
    const char *p = strstr(line, key);
    char unit[8], unit2[8];
    double x, y;
    int n = p ? sscanf(p, fmt, &x, unit, &y, unit2) : 0;
    if (n >= 2) {
      v = pt_unit_bytes(x, unit);
      if (of && n == 4) *of = pt_unit_bytes(y, unit2);
      fprintf(stderr, "%s%s", label, p);
    }
  }
  fclose(f);
  return v;
}

#endif
