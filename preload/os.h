/* os.h - every OS call of the malloc replacement goes through these few
 * functions (os.c), so that a test can inject faults in one place. None of
 * them allocates; all are async-signal-safe. Failures return -1 / NULL with
 * errno set (callers that must keep errno save it). */
#ifndef UMMP_OS_H
#define UMMP_OS_H

#include <stddef.h>
#include <stdint.h>

/* ---- fault injection (tests; include/umm_fault.h) ----------------------------
 * The five memory calls below (mmap for reserve and map, mprotect for commit,
 * munmap, mremap, madvise for purge) can be made to fail with ENOMEM, as the
 * kernel fails them, by umm_fault_set(spec) or UMM_FAULT=spec at start-up.
 * Off by default: one predicted branch on a global per call (these calls are
 * on slow paths only). */
enum { UMMP_OS_MMAP, UMMP_OS_MPROTECT, UMMP_OS_MADVISE, UMMP_OS_MREMAP, UMMP_OS_MUNMAP, UMMP_OS_NCALLS };
/* Parse and install a fault spec (grammar in os.c); 0, or -1 with nothing
 * changed on a syntax error. "" or "off" clears every rule. */
int    ummp_fault_set(const char *spec);

/* Reserve `len` bytes of address space, PROT_NONE + MAP_NORESERVE. NULL on failure. */
void  *ummp_os_reserve(size_t len);
/* Make [p, p+len) of a reservation readable and writable. 0 / -1. */
int    ummp_os_commit(void *p, size_t len);
/* A fresh read/write anonymous mapping (zero-filled). NULL on failure. */
void  *ummp_os_map(size_t len);
int    ummp_os_unmap(void *p, size_t len);
/* mremap with MREMAP_MAYMOVE. NULL on failure (the old mapping is intact). */
void  *ummp_os_remap(void *p, size_t old_len, size_t new_len);
/* madvise(MADV_DONTNEED): the pages read back as zero and leave the RSS. */
/* The running program's path (readlink /proc/self/exe) in buf, NUL-terminated;
 * its length, 0 (buf "") when unknown. */
size_t ummp_os_self_exe(char *buf, size_t cap);
/* The working directory in buf, NUL-terminated; its length, 0 when unknown. */
size_t ummp_os_getcwd(char *buf, size_t cap);
/* Bytes of [p, p + len) (page-aligned) resident now (mincore); len if unknown. */
size_t ummp_os_resident(void *p, size_t len);
int    ummp_os_purge(void *p, size_t len);
/* write(2) the whole buffer (retries short writes and EINTR). */
void   ummp_os_write(int fd, const char *buf, size_t len);
int    ummp_os_open_read(const char *path);
/* Create or truncate `path` for writing (0644, close-on-exec). -1 on failure. */
int    ummp_os_open_write(const char *path);
/* Install `handler` for signal `sig` (SA_RESTART, nothing blocked). 0 / -1. */
int    ummp_os_signal(int sig, void (*handler)(int));
long   ummp_os_read(int fd, void *buf, size_t len);
void   ummp_os_close(int fd);
/* A close-on-exec duplicate of fd numbered >= min, or fd itself on failure. */
int    ummp_os_dup_high(int fd, int min);
void   ummp_os_yield(void);
/* Monotonic milliseconds (coarse clock through the vDSO: no system call), >= 1. */
uint64_t ummp_os_now_ms(void);
int    ummp_os_getpid(void);
/* Resident set size in bytes, from /proc/self/statm (0 if unknown). */
size_t ummp_os_rss(void);
/* RLIMIT_DATA's / RLIMIT_AS's soft limit in bytes; SIZE_MAX when unlimited or unknown. */
size_t ummp_os_data_limit(void);
size_t ummp_os_as_limit(void);
/* CPUs this process may run on (sched_getaffinity), at least 1. */
unsigned ummp_os_ncpus(void);
size_t ummp_os_pagesize(void);
/* 8 random bytes from the kernel's AT_RANDOM block mixed with addresses. */
uint64_t ummp_os_random(void);
/* Print "umm: <what> 0x<ptr>\n" on stderr and abort(). Never allocates. */
__attribute__((noreturn, cold)) void ummp_os_die(const char *what, const void *ptr);

#endif /* UMMP_OS_H */
