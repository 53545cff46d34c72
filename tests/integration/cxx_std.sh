#!/bin/sh
# C++ stacks (tests/workloads/cxx_std.cc): the library frames (std::, __gnu_cxx::, code
# inlined from <vector>, <map>, <string>; libc's below main) are folded in text output into
# one "… N library frames" line, so --stack-depth counts the app's frames; --show-std-frames
# shows them; C++ names are short in text (template arguments and parameters collapsed) and
# full with --full-names and in JSON; the missing-debug-info warning for libstdc++ says how to
# get it, once however many traces name it.
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
    [ "$(grep -A1 '^      lifetime' s.txt | grep -c '^        … [0-9]* library frames*$')" -eq 3 ] &&
        [ "$(grep -c '^        fill_map(…) (cxx_std.cc:' s.txt)" -eq 2 ] &&
        [ "$(grep -c '^        fill_vector(…)' s.txt)" -eq 1 ] &&
        [ "$(grep -c '^        main (cxx_std.cc:' s.txt)" -eq 3 ] &&
        ! grep -q '^        std::' s.txt && ! grep -q '^        __gnu_cxx::' s.txt &&
        ! grep -q '__libc_start' s.txt && ! grep -q 'more frames' s.txt &&
        grep -q '^  #1  100 allocations' s.txt && grep -q '^  #3  8 allocations' s.txt
}
check "library frames folded: --stack-depth 3 shows fill_map/fill_vector and main" folded

# --stack-depth counts the program's frames: 1 shows the app function only, however many
# library frames came before it
user_depth() {
    "$P" report -q --stack-depth 1 --top 3 cs.trace >r1.txt || return 1
    sites r1.txt >s1.txt
    [ "$(grep -A2 '^      lifetime' s1.txt | grep -c '^        fill_\(map\|vector\)(…)')" -eq 3 ] &&
        [ "$(grep -c '^        main' s1.txt)" -eq 0 ] &&
        [ "$(grep -c '^        \.\.\. [0-9]* more frames$' s1.txt)" -eq 3 ]
}
check "--stack-depth N counts user frames (library frames folded, not counted)" user_depth

shown() {
    "$P" report -q --stack-depth 3 --top 3 --show-std-frames cs.trace >r2.txt || return 1
    sites r2.txt >s2.txt
    # each site's first frame is the library's again
    ! grep -q 'library frames* *$' s2.txt &&
        [ "$(grep -A1 '^      lifetime' s2.txt | grep -c '^        std::')" -eq 3 ]
}
check "--show-std-frames shows the library's frames" shown

names() {
    "$P" report -q --stack-depth 12 --top 1 --show-std-frames cs.trace >n.txt || return 1
    "$P" report -q --stack-depth 12 --top 1 --show-std-frames --full-names cs.trace >f.txt ||
        return 1
    "$P" report -q --format=json cs.trace >n.json || return 1
    # the map's node: short in text, full with --full-names and in JSON
    grep -q '^        std::_Rb_tree<…>::_M_create_node<…>(…) (stl_tree.h:' n.txt &&
        ! grep -q 'std::_Rb_tree<int' n.txt &&
        grep -q '^        std::_Rb_tree<int, std::pair<int const, std::__cxx11::basic_string<' f.txt &&
        grep -q '"function":"std::_Rb_tree<int, std::pair<int const, std::__cxx11::basic_string<' n.json &&
        ! grep -q '…' n.json
}
check "C++ names: short in text, full with --full-names and in JSON" names

warn_once() {
    "$P" check cs.trace cs.trace >/dev/null 2>err
    n=$(grep -c 'libstdc++.*no debug info' err)
    # with the library's debug info installed there is no warning at all
    [ "$n" -eq 0 ] && return 0
    [ "$n" -eq 1 ] && grep 'libstdc++.*no debug info' err | grep -q -e 'apt-get install libstdc++6-[0-9]*-dbg' -e 'debuginfod'
}
check "the libstdc++ debug-info warning names the package or debuginfod, once" warn_once

finish
