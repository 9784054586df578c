/* os.c - the OS glue (see os.h). Raw system calls through syscall(2), which
 * neither allocates nor takes locks. */
#define _GNU_SOURCE
#include "os.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- fault injection ---------------------------------------------------------
 * spec  := "" | "off" | rule (';' rule)*
 * rule  := ops [':' param (',' param)*]
 * ops   := op ('+' op)*      op: mmap mprotect madvise mremap munmap all
 * param := after=N | every=K | count=C
 * Each op counts its calls from the moment the spec is set (0, 1, 2, ...).
 * Call c fails when c >= after, (c - after) % every == 0 and fewer than
 * `count` calls of that op have failed. Defaults: after=0, every=1, count
 * unlimited, so "mmap" fails every mmap and "mmap:after=3,count=1" only the
 * fourth. A failed call does nothing and returns what the kernel returns when
 * it runs out of memory (MAP_FAILED / -1, errno ENOMEM). Rules are installed
 * with the layer disarmed, so a concurrent call sees either the old or the new
 * rules of an op, possibly with the new call counter; tests set rules from
 * one thread. */
typedef struct fault_rule {
  uint64_t after, every, count;
  uint64_t calls, fails;                            /* atomics */
} fault_rule_t;

static int fault_armed;                             /* any rule set */
static fault_rule_t fault_rules[UMMP_OS_NCALLS];
static uint64_t fault_total;                        /* failures injected since the last set */

static const char *const fault_names[UMMP_OS_NCALLS] = {"mmap", "mprotect", "madvise", "mremap", "munmap"};

static UMMP_COLD int fault_hit(int op) {
  fault_rule_t *r = &fault_rules[op];
  uint64_t every = __atomic_load_n(&r->every, __ATOMIC_RELAXED);
  if (!every) return 0;                             /* no rule for this op */
  uint64_t c = __atomic_fetch_add(&r->calls, 1, __ATOMIC_RELAXED);
  uint64_t after = __atomic_load_n(&r->after, __ATOMIC_RELAXED);
  if (c < after || (c - after) % every != 0) return 0;
  uint64_t f = __atomic_load_n(&r->fails, __ATOMIC_RELAXED), lim = __atomic_load_n(&r->count, __ATOMIC_RELAXED);
  do {
    if (f >= lim) return 0;
  } while (!__atomic_compare_exchange_n(&r->fails, &f, f + 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  __atomic_fetch_add(&fault_total, 1, __ATOMIC_RELAXED);
  return 1;
}

/* 1 (errno ENOMEM) when a rule makes this call of `op` fail. */
static inline int fault(int op) {
  if (ummp_likely(!__atomic_load_n(&fault_armed, __ATOMIC_RELAXED))) return 0;
  if (!fault_hit(op)) return 0;
  errno = ENOMEM;
  return 1;
}

/* The length of the word at s ending at any of the characters in `stop` or at NUL. */
static size_t word_len(const char *s, const char *stop) {
  size_t n = 0;
  for (; s[n]; n++)
    for (const char *t = stop; *t; t++)
      if (s[n] == *t) return n;
  return n;
}
static int word_is(const char *s, size_t n, const char *w) {
  size_t i = 0;
  for (; i < n && w[i] && s[i] == w[i]; i++) {}
  return i == n && !w[i];
}
/* A decimal number (K/M/G suffixes allowed) of exactly n characters. */
static int parse_num(const char *s, size_t n, uint64_t *out) {
  char buf[32];
  if (!n || n >= sizeof buf) return -1;
  for (size_t i = 0; i < n; i++) buf[i] = s[i];
  buf[n] = 0;
  size_t v = ummp_parse_size(buf);
  if (v == (size_t)-1) return -1;
  *out = v;
  return 0;
}

int ummp_fault_set(const char *spec) {
  fault_rule_t nr[UMMP_OS_NCALLS];
  memset(nr, 0, sizeof nr);
  int any = 0;
  const char *s = spec ? spec : "";
  if (word_is(s, strlen(s), "off")) s = "";
  while (*s) {
    if (*s == ';' || *s == ' ') { s++; continue; }
    unsigned mask = 0;
    for (;;) {                                      /* ops */
      size_t n = word_len(s, "+:;");
      int k = -1;
      for (int i = 0; i < UMMP_OS_NCALLS; i++)
        if (word_is(s, n, fault_names[i])) k = i;
      if (k >= 0) mask |= 1u << k;
      else if (word_is(s, n, "all")) mask |= (1u << UMMP_OS_NCALLS) - 1;
      else return -1;
      s += n;
      if (*s != '+') break;
      s++;
    }
    uint64_t after = 0, every = 1, count = UINT64_MAX;
    if (*s == ':') {
      do {                                          /* params */
        s++;
        size_t n = word_len(s, "=,;");
        if (s[n] != '=') return -1;
        uint64_t *dst = word_is(s, n, "after") ? &after : word_is(s, n, "every") ? &every
                      : word_is(s, n, "count") ? &count : NULL;
        if (!dst) return -1;
        s += n + 1;
        n = word_len(s, ",;");
        if (parse_num(s, n, dst) != 0) return -1;
        s += n;
      } while (*s == ',');
      if (!every) return -1;
    }
    if (*s && *s != ';') return -1;
    for (int i = 0; i < UMMP_OS_NCALLS; i++)
      if (mask & (1u << i)) { nr[i].after = after; nr[i].every = every; nr[i].count = count; any = 1; }
  }
  __atomic_store_n(&fault_armed, 0, __ATOMIC_SEQ_CST);
  for (int i = 0; i < UMMP_OS_NCALLS; i++) {
    __atomic_store_n(&fault_rules[i].every, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fault_rules[i].after, nr[i].after, __ATOMIC_RELAXED);
    __atomic_store_n(&fault_rules[i].count, nr[i].count, __ATOMIC_RELAXED);
    __atomic_store_n(&fault_rules[i].calls, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fault_rules[i].fails, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fault_rules[i].every, nr[i].every, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&fault_total, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&fault_armed, any, __ATOMIC_SEQ_CST);
  return 0;
}

/* The exported test interface (include/umm_fault.h). */
UMMP_EXPORT int umm_fault_set(const char *spec) {
  int err = errno;
  int r = ummp_fault_set(spec);
  errno = r ? EINVAL : err;
  return r;
}
UMMP_EXPORT unsigned long umm_fault_count(void) {
  return (unsigned long)__atomic_load_n(&fault_total, __ATOMIC_RELAXED);
}

/* ---- memory ------------------------------------------------------------------ */
void *ummp_os_reserve(size_t len) {
  if (fault(UMMP_OS_MMAP)) return NULL;
  void *p = (void *)syscall(SYS_mmap, NULL, len, PROT_NONE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int ummp_os_commit(void *p, size_t len) {
  if (fault(UMMP_OS_MPROTECT)) return -1;
  return (int)syscall(SYS_mprotect, p, len, PROT_READ | PROT_WRITE);
}

void *ummp_os_map(size_t len) {
  if (fault(UMMP_OS_MMAP)) return NULL;
  void *p = (void *)syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int ummp_os_unmap(void *p, size_t len) {
  if (fault(UMMP_OS_MUNMAP)) return -1;
  return (int)syscall(SYS_munmap, p, len);
}

void *ummp_os_remap(void *p, size_t old_len, size_t new_len) {
  if (fault(UMMP_OS_MREMAP)) return NULL;
  void *q = (void *)syscall(SYS_mremap, p, old_len, new_len, MREMAP_MAYMOVE);
  return q == MAP_FAILED ? NULL : q;
}

size_t ummp_os_getcwd(char *buf, size_t cap) {
  long r = syscall(SYS_getcwd, buf, cap);            /* the kernel's: length with the NUL */
  if (r <= 0) { buf[0] = 0; return 0; }
  return (size_t)r - 1;
}

size_t ummp_os_self_exe(char *buf, size_t cap) {
  long r = syscall(SYS_readlink, "/proc/self/exe", buf, cap - 1);
  if (r <= 0) { buf[0] = 0; return 0; }
  buf[r] = 0;
  return (size_t)r;
}

size_t ummp_os_resident(void *p, size_t len) {
  unsigned char vec[4096];
  size_t page = ummp_os_pagesize(), res = 0;
  for (size_t off = 0; off < len;) {
    size_t n = len - off < sizeof vec * page ? len - off : sizeof vec * page;
    if (syscall(SYS_mincore, (char *)p + off, n, vec) != 0) return len;   /* unknown: all of it */
    for (size_t i = 0; i < (n + page - 1) / page; i++) res += (vec[i] & 1) * page;
    off += n;
  }
  return res;
}

int ummp_os_purge(void *p, size_t len) {
  if (fault(UMMP_OS_MADVISE)) return -1;
  return (int)syscall(SYS_madvise, p, len, MADV_DONTNEED);
}

#ifdef __USE_GNU
typedef __rlimit_resource_t ummp_rlim_res_t;
#else
typedef int ummp_rlim_res_t;
#endif
static size_t rlimit_bytes(ummp_rlim_res_t res) {
  struct rlimit rl;
  if (getrlimit(res, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX;   /* libc's: a system call */
  return (size_t)rl.rlim_cur;
}
size_t ummp_os_data_limit(void) { return rlimit_bytes(RLIMIT_DATA); }
size_t ummp_os_as_limit(void) { return rlimit_bytes(RLIMIT_AS); }

void ummp_os_write(int fd, const char *buf, size_t len) {
  while (len) {
    long r = syscall(SYS_write, fd, buf, len);
    if (r < 0) { if (errno == EINTR) continue; return; }
    buf += r;
    len -= (size_t)r;
  }
}

int ummp_os_open_read(const char *path) { return (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC); }
int ummp_os_open_write(const char *path) {
  return (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}
int ummp_os_signal(int sig, void (*handler)(int)) {
  struct sigaction sa;                               /* libc's sigaction: a system call, no allocation */
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  return sigaction(sig, &sa, NULL);
}
long ummp_os_read(int fd, void *buf, size_t len) {
  long r;
  do r = syscall(SYS_read, fd, buf, len); while (r < 0 && errno == EINTR);
  return r;
}
void ummp_os_close(int fd) { syscall(SYS_close, fd); }
int ummp_os_dup_high(int fd, int min) {
  int err = errno;
  long r = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, min);
  errno = err;
  return r < 0 ? fd : (int)r;
}
void ummp_os_yield(void) { syscall(SYS_sched_yield); }

uint64_t ummp_os_now_ms(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) return 1;
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1u;
}
int ummp_os_getpid(void) { return (int)syscall(SYS_getpid); }

size_t ummp_os_rss(void) {
  char buf[128];
  int fd = ummp_os_open_read("/proc/self/statm");
  if (fd < 0) return 0;
  long n = ummp_os_read(fd, buf, sizeof buf - 1);
  ummp_os_close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char *s = buf;
  while (*s && *s != ' ') s++;                /* skip total size */
  size_t pages = 0;
  while (*s == ' ') s++;
  while (*s >= '0' && *s <= '9') pages = pages * 10 + (size_t)(*s++ - '0');
  return pages * ummp_os_pagesize();
}

unsigned ummp_os_ncpus(void) {
  unsigned long mask[16];
  long r = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
  if (r <= 0) return 1;
  unsigned n = 0;
  for (long i = 0; i < r / (long)sizeof mask[0]; i++) n += (unsigned)__builtin_popcountl(mask[i]);
  return n ? n : 1;
}

size_t ummp_os_pagesize(void) {
  unsigned long p = getauxval(AT_PAGESZ);
  return p ? (size_t)p : 4096;
}

static uint64_t mix64(uint64_t z) {                 /* splitmix64's finaliser */
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/* The per-process secret: fresh bytes from getrandom(2). Never a raw copy of
 * AT_RANDOM's bytes: glibc takes its stack guard and its pointer guard (the
 * PTR_MANGLE key of setjmp buffers and atexit handlers) from them, and the
 * secret is written into every block parked in a thread cache, so a
 * use-after-free read would give the key away (a review showed that
 * secret ^ pointer guard was the same in every run). Without getrandom
 * (seccomp, old kernel): AT_RANDOM's 16 bytes hashed together with
 * addresses, which do not reveal either key. */
uint64_t ummp_os_random(void) {
  uint64_t r = 0;
  if (syscall(SYS_getrandom, &r, sizeof r, 1 /* GRND_NONBLOCK */) != (long)sizeof r) {
    uint64_t lo = 0, hi = 0;
    const unsigned char *a = (const unsigned char *)getauxval(AT_RANDOM);
    if (a) { __builtin_memcpy(&lo, a, sizeof lo); __builtin_memcpy(&hi, a + 8, sizeof hi); }
    r = mix64(mix64(lo ^ (uint64_t)(uintptr_t)&r) + hi) ^ mix64((uint64_t)(uintptr_t)&ummp_os_random);
  }
  return r | 1u;                                   /* never 0: a fresh block's word 1 */
}

void ummp_os_die(const char *what, const void *ptr) {
  char buf[256];
  size_t n = 0;
  n = ummp_fmt_str(buf, sizeof buf, n, "umm: ");
  n = ummp_fmt_str(buf, sizeof buf, n, what);
  n = ummp_fmt_str(buf, sizeof buf, n, " ");
  n = ummp_fmt_hex(buf, sizeof buf, n, (uintptr_t)ptr);
  n = ummp_fmt_str(buf, sizeof buf, n, "\n");
  ummp_os_write(2, buf, n);
  abort();
}
