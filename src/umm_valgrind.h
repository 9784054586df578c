/* umm_valgrind.h - memcheck client requests for the core (-DUMM_VALGRIND=1).
 * Without UMM_VALGRIND every macro expands to nothing and no header is
 * included: normal builds are unchanged.
 *
 * What memcheck is told (tests/valgrind/ checks it):
 *  - a block handed out is a MALLOCLIKE block of its usable size (not
 *    zeroed, no redzone); a block freed through the API is FREELIKE'd once,
 *    at the API call (umm_free, umm_free_nowait, umm_free_batch, realloc's
 *    move); realloc in place is RESIZEINPLACE (a shrink's tail is no longer
 *    the program's);
 *  - every chunk header word (8 bytes before a payload; dead headers too)
 *    stays addressable and defined: the core reads headers of neighbours and
 *    of stale pointers (double-free detection) at any time. So an overflow of
 *    up to 8 bytes past a block's usable size is not seen by memcheck (the
 *    core's CHECK hash catches it at the next free);
 *  - the payload of a free chunk is NOACCESS, its metadata words too (bin
 *    links, footer, deferred-stack link): the core opens the few words it
 *    touches for the duration of the access (UMMI_VG_OPEN / UMMI_VG_CLOSE),
 *    so the program's use-after-free or overflow into free space is reported.
 * Client requests are a few instructions each even when not under valgrind,
 * but only UMM_VALGRIND builds have them. */
#ifndef UMM_VALGRIND_H
#define UMM_VALGRIND_H

#ifndef UMM_VALGRIND
#define UMM_VALGRIND 0
#endif

#if UMM_VALGRIND
#include <valgrind/memcheck.h>
#define UMMI_VG_ALLOC(p, n)          VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, 0)
#define UMMI_VG_FREE(p)              VALGRIND_FREELIKE_BLOCK((p), 0)
#define UMMI_VG_RESIZE(p, old, new)  VALGRIND_RESIZEINPLACE_BLOCK((p), (old), (new), 0)
#define UMMI_VG_DEFINED(p, n)        ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#define UMMI_VG_NOACCESS(p, n)       ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define UMMI_VG_UNDEFINED(p, n)      ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#else
#define UMMI_VG_ALLOC(p, n)          do { } while (0)
#define UMMI_VG_FREE(p)              do { } while (0)
#define UMMI_VG_RESIZE(p, old, new)  do { } while (0)
#define UMMI_VG_DEFINED(p, n)        do { } while (0)
#define UMMI_VG_NOACCESS(p, n)       do { } while (0)
#define UMMI_VG_UNDEFINED(p, n)      do { } while (0)
#endif

/* A metadata word inside a free (or freed) chunk: open it (addressable,
 * defined: the core only ever stores defined values there) for one access,
 * close it (NOACCESS) after. */
#define UMMI_VG_OPEN(p)              UMMI_VG_DEFINED((p), sizeof *(p))
#define UMMI_VG_CLOSE(p)             UMMI_VG_NOACCESS((p), sizeof *(p))
/* A header word written where there was payload (split, carve, remainder). */
#define UMMI_VG_HDR(c)               UMMI_VG_DEFINED(&(c)->hdr, sizeof (c)->hdr)

#endif /* UMM_VALGRIND_H */
