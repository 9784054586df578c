/* umm_fault.h - fault injection in libumm_preload.so, for tests.
 *
 * Every memory call the preload makes to the OS (mmap, mprotect, madvise,
 * mremap, munmap) goes through one layer (preload/os.c) that can be told to
 * fail some of them, the way the kernel fails them when memory runs out:
 * MAP_FAILED / -1 with errno ENOMEM. The allocator must then return NULL +
 * ENOMEM (posix_memalign: ENOMEM), keep every live block intact, and work
 * again once the fault clears.
 *
 * Spec grammar (also accepted at start-up from UMM_FAULT=spec):
 *   spec  := "" | "off" | rule (';' rule)*
 *   rule  := ops [':' param (',' param)*]
 *   ops   := op ('+' op)*        op: mmap mprotect madvise mremap munmap all
 *   param := after=N | every=K | count=C
 * Each op counts its calls from the moment the spec is set; call c (from 0)
 * fails when c >= after, (c - after) % every == 0, and fewer than `count` of
 * that op's calls have failed. Defaults: after=0, every=1, count unlimited.
 * Examples: "all" (every call fails), "mmap+mprotect:after=10,every=3",
 * "mremap:count=1", "off".
 *
 * Declared weak: test the symbol before calling (NULL without the preload):
 *     if (umm_fault_set) umm_fault_set("all");
 */
#ifndef UMM_FAULT_H
#define UMM_FAULT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Replace the fault rules by `spec` and reset the call and failure counters.
 * 0, or -1 with errno EINVAL on a syntax error (the rules are unchanged). */
extern int           umm_fault_set(const char *spec) __attribute__((weak));
/* OS calls failed on purpose since the last umm_fault_set (or start-up). */
extern unsigned long umm_fault_count(void) __attribute__((weak));

#ifdef __cplusplus
}
#endif
#endif /* UMM_FAULT_H */
