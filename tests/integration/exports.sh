#!/bin/sh
# libperfshim.so exports exactly the interposed functions listed in preload/exports.map: the
# "base:" names unversioned, the GLIBC_2.3.2 and GLIBC_2.15 nodes' names as their default version.
. "$top_srcdir/tests/integration/lib.sh"
map="$top_srcdir/preload/exports.map"
want=$( (sed -n 's/^ \* base: //p' "$map" | tr ' ' '\n'
    sed -n '/^GLIBC_2.3.2 {/,/^}/p' "$map" | grep -v 'GLIBC\|global:\|}' | tr -d ' ' |
        tr ';' '\n' | grep -v '^$' | sed 's/$/@@GLIBC_2.3.2/'
    sed -n '/^GLIBC_2.15 {/,/^}/p' "$map" | grep -v 'GLIBC\|global:\|}' | tr -d ' ' |
        tr ';' '\n' | grep -v '^$' | sed 's/$/@@GLIBC_2.15/') | grep -v '^$' | sort)
got=$(nm -D --defined-only "$PERFSHIM_LIB" | awk '$2 ~ /^[TWiV]$/ {print $3}' | sort)
same_exports() {
    [ -n "$want" ] && [ "$want" = "$got" ] || {
        echo "exported: $got"
        echo "expected: $want"
        return 1
    }
}
check "exports are exactly the interposed symbols" same_exports
# a program built against the GLIBC_2.2.5 condvar ABI must not reach the new-ABI hooks
no_compat_hooks() {
    ! nm -D --defined-only "$PERFSHIM_LIB" | grep -q 'pthread_cond_[a-z]*@GLIBC_2.2.5'
}
check "old-ABI condvar symbols are left to glibc" no_compat_hooks
# no unwinder ABI from the shim (issue 12): neither exported nor brought into the global scope
# as a NEEDED library (libunwind's _Unwind_* would interpose libgcc_s's for the app's C++
# exceptions); unwind.c loads libunwind with dlopen(RTLD_LOCAL)
no_unwinder_exports() {
    ! nm -D --defined-only "$PERFSHIM_LIB" | awk '{print $NF}' | grep -E '^(_Unwind_|unw_|_U)'
}
check "no _Unwind_*, unw_* or _U* symbol exported" no_unwinder_exports
no_libunwind_needed() {
    ! readelf -d "$PERFSHIM_LIB" | grep 'NEEDED.*libunwind'
}
check "libunwind is not a NEEDED library" no_libunwind_needed
finish
