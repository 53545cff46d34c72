#!/bin/sh
# layers -- the layers of the analyzer and of the shim (CONTRIBUTING.md "Layers"):
# scripts/check-layers passes on the tree and the built objects, and fails on an upward
# include and an upward call, in analyzer/ and in preload/.
. "${top_srcdir:-.}/tests/integration/lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "no python3: skipped"; exit 77; }
CL="$top_srcdir/scripts/check-layers"
cd "$TMP" || exit 99

tree_ok() {
    python3 "$CL" "$top_builddir" >out 2>&1 || { cat out; return 1; }
}
check "the tree and its objects: every include and call edge downward, no cycle" tree_ok

# A copy of the analyzer with one upward include: core/reader.c including cmd/report.h.
upward_include() {
    mkdir -p copy/scripts copy/preload
    cp -r "$top_srcdir/analyzer" copy/ && cp "$CL" "$top_srcdir/scripts/layers.allow" \
        "$top_srcdir/scripts/preload-layers.allow" copy/scripts/ &&
        cp "$top_srcdir"/preload/*.[ch] "$top_srcdir"/preload/exports.map copy/preload/ || return 1
    chmod -R u+w copy
    python3 copy/scripts/check-layers >out 2>&1 || { cat out; return 1; }
    printf '#include "cmd/report.h"\n' >>copy/analyzer/core/reader.c
    python3 copy/scripts/check-layers >out 2>&1 && { echo "passed with an upward include"; return 1; }
    grep -q 'core/reader.c: includes cmd/report.h: core may not include cmd' out || { cat out; return 1; }
}
check "an upward include fails with one line naming the file and the edge" upward_include

# An object of core/ calling a function of cmd/: the link edge fails.
upward_call() {
    mkdir -p objs/analyzer/core objs/analyzer/cmd
    printf 'int cmd_fn(void) { return 1; }\n' >c.c
    printf 'int cmd_fn(void);\nint core_fn(void) { return cmd_fn(); }\n' >k.c
    cc -c c.c -o objs/analyzer/cmd/c.o && cc -c k.c -o objs/analyzer/core/k.o || return 1
    python3 "$CL" objs >out 2>&1 && { echo "passed with an upward call"; return 1; }
    grep -q 'core/k.o: calls cmd_fn of analyzer/cmd/c.o' out || { cat out; return 1; }
}
check "an upward call between objects fails" upward_call

# The shim: prim.c (base) including shim.h, and prim.o calling a function of shim.o.
preload_upward_include() {
    [ -d copy/preload ] || return 1
    printf '#include "shim.h"\n' >>copy/preload/prim.c
    python3 copy/scripts/check-layers >out 2>&1 && { echo "passed with an upward include"; return 1; }
    grep -q 'preload/prim.c: includes shim.h: base may not include shim (upward)' out ||
        { cat out; return 1; }
}
check "preload: an upward include fails with one line naming the file and the edge" \
    preload_upward_include

preload_upward_call() {
    mkdir -p pobjs/preload/.libs
    printf 'int shim_fn(void) { return 1; }\n' >s.c
    printf 'int shim_fn(void);\nint prim_fn(void) { return shim_fn(); }\n' >p.c
    cc -c s.c -o pobjs/preload/.libs/libperfshim_core_la-shim.o &&
        cc -c p.c -o pobjs/preload/.libs/libperfshim_core_la-prim.o || return 1
    python3 "$CL" pobjs >out 2>&1 && { echo "passed with an upward call"; return 1; }
    grep -q 'preload/prim.o: calls shim_fn of preload/shim.o: base may not call shim' out ||
        { cat out; return 1; }
}
check "preload: an upward call between objects fails" preload_upward_call

finish
