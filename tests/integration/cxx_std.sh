#!/bin/sh
# C++ stacks (tests/workloads/cxx_std.cc): the standard library's frames (std::, __gnu_cxx::,
# code inlined from <vector>, <map>, <string>) are folded in text output, so --stack-depth 3
# shows the app's frames; --show-std-frames shows them; the missing-debug-info warning for
# libstdc++ says how to get it, once however many traces name it.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads/cxx_std
cd "$TMP" || exit 99
"$P" record -o cs.trace -- "$W" 100 >/dev/null 2>&1 || exit 99

sites() { sed -n '/^TOP SITES BY ALLOCATIONS/,/^TOP SITES BY BYTES/p' "$1"; }

folded() {
    "$P" report -q --stack-depth 3 --top 3 cs.trace >r.txt || return 1
    sites r.txt >s.txt
    # each site: the folded marker, then the app function that called into the library
    [ "$(grep -c '^        \[[0-9]* C++ standard library frames* folded\]$' s.txt)" -eq 3 ] &&
        [ "$(grep -c '^        fill_map(' s.txt)" -eq 2 ] &&
        [ "$(grep -c '^        fill_vector(' s.txt)" -eq 1 ] &&
        [ "$(grep -c '^        main (cxx_std.cc:' s.txt)" -eq 3 ] &&
        ! grep -q '^        std::' s.txt && ! grep -q '^        __gnu_cxx::' s.txt &&
        grep -q '^  #1  100 allocations' s.txt && grep -q '^  #3  8 allocations' s.txt
}
check "std:: frames folded: --stack-depth 3 shows fill_map/fill_vector and main" folded

shown() {
    "$P" report -q --stack-depth 3 --top 3 --show-std-frames cs.trace >r2.txt || return 1
    sites r2.txt >s2.txt
    # each site's first frame is the library's again
    ! grep -q 'standard library frames* folded' s2.txt &&
        [ "$(grep -A1 '^      lifetime' s2.txt | grep -c '^        std::')" -eq 3 ]
}
check "--show-std-frames shows the library's frames" shown

warn_once() {
    "$P" check cs.trace cs.trace >/dev/null 2>err
    n=$(grep -c 'libstdc++.*no debug info' err)
    # with the library's debug info installed there is no warning at all
    [ "$n" -eq 0 ] && return 0
    [ "$n" -eq 1 ] && grep 'libstdc++.*no debug info' err | grep -q -e 'apt-get install libstdc++6-[0-9]*-dbg' -e 'debuginfod'
}
check "the libstdc++ debug-info warning names the package or debuginfod, once" warn_once

finish
