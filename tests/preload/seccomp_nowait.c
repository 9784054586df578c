/* seccomp_nowait.c - the allocator's signal-handler path makes no memory or
 * futex system calls. After a warm-up (every size used later is malloc'ed
 * and freed in the main thread, so the regions are committed and the thread
 * cache set up), a seccomp BPF filter traps mmap, munmap, madvise, mremap
 * and futex (SECCOMP_RET_TRAP: the SIGSYS handler writes the syscall number
 * and a backtrace, then _exit(99)). The process is single-threaded from
 * then on (glibc uses futex only with threads). The main thread then loops
 * malloc/free of small sizes while an ITIMER_REAL fires SIGALRM every
 * 100 us; the handler mallocs, callocs, reallocs and frees small and medium
 * blocks (a preload re-entered from a handler that interrupted it serves
 * them through the core's _nowait calls) and counts successes and NULLs. It
 * also keeps one block across invocations, freed by a later one.
 *
 * Two known ways to make a forbidden call (see seccomp-nowait.sh): the
 * delayed purge (madvise) runs in whatever slow path comes after the delay,
 * a handler's call that did not interrupt the allocator included; and the
 * re-entrant malloc falls back to a mapping of its own (mmap) when the
 * _nowait core call gives up.
 *
 * argv[1] = "nofilter": same run without the filter (for comparison).
 * Output: "handler_calls N handler_in_alloc N allocs_ok N allocs_null N
 * main_ops N ms N". Exit 0 if no forbidden syscall was made. */
#include "ptest.h"
#include <execinfo.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#define RUN_MS 2000

static volatile sig_atomic_t in_alloc;            /* main thread inside a malloc-family call */
static volatile long handler_calls, handler_in_alloc, allocs_ok, allocs_null, bad;
static void *kept;
static uint64_t hseed = 4242;

static const size_t hsizes[] = {16, 24, 40, 64, 100, 200, 500, 1000, 1032, 1500, 3000, 6000, 12000, 30000, 60000};
#define NHS (sizeof hsizes / sizeof hsizes[0])

static void count(void *p) {
  if (p) allocs_ok++;
  else allocs_null++;
}

static void on_alarm(int sig) {
  (void)sig;
  int err = errno;
  handler_calls++;
  if (in_alloc) handler_in_alloc++;
  size_t n = hsizes[pt_rand(&hseed) % NHS];
  char *p = malloc(n);
  count(p);
  if (p) { memset(p, 0x77, n); if (p[n - 1] != 0x77) bad++; }
  char *c = calloc(1, hsizes[pt_rand(&hseed) % NHS]);
  count(c);
  if (c && c[0]) bad++;
  size_t m = hsizes[pt_rand(&hseed) % NHS];
  char *r = realloc(p, m);                         /* grows or shrinks, may move */
  count(r);
  if (r) {
    if (p && r[0] != 0x77) bad++;                 /* p NULL: realloc was a malloc */
    p = r;
  }
  free(c);
  void *old = kept;                                /* the previous invocation's block */
  kept = p;
  free(old);
  errno = err;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc) {
  (void)sig; (void)uc;
  char buf[160];
  int nr = si->si_syscall;
  const char *name = nr == SYS_mmap ? "mmap" : nr == SYS_munmap ? "munmap" : nr == SYS_madvise ? "madvise"
                   : nr == SYS_mremap ? "mremap" : nr == SYS_futex ? "futex" : "?";
  int len = snprintf(buf, sizeof buf, "FAIL: forbidden syscall %d (%s) at %p; in_alloc %d handler_calls %ld; backtrace:\n",
                     nr, name, si->si_call_addr, (int)in_alloc, handler_calls);
  if (len > 0) { ssize_t w = write(1, buf, (size_t)len); (void)w; }
  void *bt[64];
  int k = backtrace(bt, 64);                       /* libgcc loaded in the warm-up */
  backtrace_symbols_fd(bt, k, 1);
  _exit(99);
}

static int install_filter(void) {
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 5, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 4, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 3, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mremap, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int main(int argc, char **argv) {
#if !defined(__x86_64__)
  puts("skip: x86_64 only");
  return 0;
#endif
  int filter = !(argc > 1 && strcmp(argv[1], "nofilter") == 0);
  CHECK(pt_preloaded());
  /* warm-up: every size, several times, so the blocks exist in the region
   * and the caches; libgcc for backtrace() */
  void *bt[4];
  backtrace(bt, 4);
  for (int round = 0; round < 4; round++) {
    void *v[NHS * 64];
    for (size_t i = 0; i < NHS * 64; i++) v[i] = malloc(hsizes[i % NHS]);
    for (size_t i = 0; i < NHS * 64; i++) free(v[i]);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSYS, &sa, NULL);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);

  if (filter && install_filter() != 0) { printf("FAIL: seccomp filter: %s\n", strerror(errno)); return 1; }

  struct itimerval it = {{0, 100}, {0, 100}};
  setitimer(ITIMER_REAL, &it, NULL);
  uint64_t t0 = now_ms(), s = 7;
  long ops = 0;
  void *v[64] = {0};
  while (now_ms() - t0 < RUN_MS) {
    unsigned k = (unsigned)(pt_rand(&s) % 64);
    size_t n = 16 + (size_t)(pt_rand(&s) % 1000);
    in_alloc = 1;
    free(v[k]);
    v[k] = malloc(n);
    in_alloc = 0;
    if (v[k]) ((char *)v[k])[n - 1] = 1;
    ops++;
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  for (int k = 0; k < 64; k++) free(v[k]);
  free(kept);
  char buf[256];
  int len = snprintf(buf, sizeof buf, "handler_calls %ld handler_in_alloc %ld allocs_ok %ld allocs_null %ld bad %ld main_ops %ld ms %llu filter %d\n",
                     handler_calls, handler_in_alloc, allocs_ok, allocs_null, bad, ops,
                     (unsigned long long)(now_ms() - t0), filter);
  if (len > 0) { ssize_t w = write(1, buf, (size_t)len); (void)w; }
  CHECK(handler_calls > 0);
  CHECK(allocs_ok > 0);
  CHECK(bad == 0);
  return pt_report();                              /* stdout's buffer: malloc'ed, no mmap (warm region) */
}
