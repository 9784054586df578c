#!/usr/bin/env bash
# The preload's dynamic symbols: the malloc family (glibc's names, its
# __libc_* aliases, C++ operator new and delete), the debug API of
# include/umm_debug.h, umm_fault_*, and the core's pointer queries; nothing
# else (the core's umm_t functions would interpose on another library's
# umm_init / umm_malloc). Each expected symbol must be there, as code.
set -u
. tests/preload/lib.bash
command -v nm >/dev/null || { echo "FAIL: nm not installed (apt package: binutils)"; exit 1; }
want="malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc pvalloc
malloc_usable_size cfree free_sized free_aligned_sized mallinfo mallinfo2 malloc_trim malloc_stats
mallopt malloc_info __libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign
__libc_valloc __libc_pvalloc __posix_memalign
_Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZdlPv _ZdaPv _ZdlPvm _ZdaPvm
_ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t
umm_tag_push umm_tag_pop umm_tag_of umm_heap_walk umm_heap_check umm_dump
umm_fault_set umm_fault_count umm_usable_size umm_tags"
nm -D --defined-only "$SO" | awk '{print $3 " " $2}' | sort >"$TMPD/got"
fail=0
for s in $want; do
  grep -qx "$s T" "$TMPD/got" || { echo "FAIL: $s is not exported as code"; fail=1; }
done
while read -r s _; do
  case " $(echo $want) " in *" $s "*) ;; *) echo "FAIL: $s is exported"; fail=1 ;; esac
done <"$TMPD/got"
[ $fail = 0 ] && echo "ok: $(wc -l <"$TMPD/got") symbols, all expected"
exit $fail
