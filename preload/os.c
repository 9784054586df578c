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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void *ummp_os_reserve(size_t len) {
  void *p = (void *)syscall(SYS_mmap, NULL, len, PROT_NONE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int ummp_os_commit(void *p, size_t len) {
  return (int)syscall(SYS_mprotect, p, len, PROT_READ | PROT_WRITE);
}

void *ummp_os_map(size_t len) {
  void *p = (void *)syscall(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

int ummp_os_unmap(void *p, size_t len) { return (int)syscall(SYS_munmap, p, len); }

void *ummp_os_remap(void *p, size_t old_len, size_t new_len) {
  void *q = (void *)syscall(SYS_mremap, p, old_len, new_len, MREMAP_MAYMOVE);
  return q == MAP_FAILED ? NULL : q;
}

int ummp_os_purge(void *p, size_t len) { return (int)syscall(SYS_madvise, p, len, MADV_DONTNEED); }

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

uint64_t ummp_os_random(void) {
  uint64_t r = 0;
  const unsigned char *a = (const unsigned char *)getauxval(AT_RANDOM);
  if (a) __builtin_memcpy(&r, a + 8, sizeof r);  /* glibc uses the first 8 bytes for the stack guard */
  r ^= (uint64_t)(uintptr_t)&r * 0x9e3779b97f4a7c15ull;
  r ^= (uint64_t)(uintptr_t)&ummp_os_random << 17;
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
