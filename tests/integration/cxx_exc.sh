#!/bin/sh
# C++ exceptions under the shim run exactly as natively (issue 12): tests/integration/cxx_exc
# (a C program, no libgcc_s of its own) dlopens a C++ module that throws and catches in four
# threads, fails a nothrow new and a plain new and rethrows an exception_ptr, then names the
# module _Unwind_RaiseException resolves to. Natively and under the shim: the same output
# (libgcc_s.so.1 both times, never the shim's libunwind) and status, no hang (alarm, timeout),
# and the trace readable. And the library itself: libunwind is not NEEDED (exports.sh checks
# that no _Unwind_*/unw_* is exported).
. "$top_srcdir/tests/integration/lib.sh"
W=$top_builddir/tests/integration/cxx_exc
M=$top_builddir/tests/integration/.libs/libcxxexc.so
[ -x "$W" ] && [ -f "$M" ] || exit 99
cd "$TMP" || exit 99

no_own_libgcc() {
    # the shape that shows the bug: the app does not bring libgcc_s itself
    ! readelf -d "$W" | grep -q 'NEEDED.*libgcc_s'
}
check "the test program does not depend on libgcc_s itself" no_own_libgcc

timeout 60 "$W" "$M" >native.out 2>native.err
nrc=$?
timeout 60 env LD_PRELOAD="$PERFSHIM_LIB" PERFSHIM_OUTPUT="$TMP/exc.trace" "$W" "$M" \
    >shim.out 2>shim.err
src=$?

native_sane() {
    [ "$nrc" -eq 3 ] && grep -qx 'new: bad_alloc' native.out &&
        grep -qx 'nothrow new: nullptr' native.out && grep -qx 'rethrown: kept' native.out &&
        grep -qx '_Unwind_RaiseException: libgcc_s.so.1' native.out || {
        echo "native: status $nrc"; cat native.out native.err; return 1; }
}
check "natively: exceptions, bad_alloc, nullptr, rethrow; libgcc_s unwinds" native_sane

same() {
    [ "$src" -eq "$nrc" ] && cmp -s native.out shim.out || {
        echo "status: native $nrc, shim $src"; diff native.out shim.out; cat shim.err; return 1; }
}
check "under the shim: same output and status (no hang, libgcc_s unwinds)" same

trace_ok() {
    "$PERFSHIM_BIN" report -q exc.trace >report.txt 2>report.err &&
        ! grep -qi 'partial\|dropped [1-9]' report.err || { cat report.err; return 1; }
}
check "the trace is complete" trace_ok

not_needed() {
    ! readelf -d "$PERFSHIM_LIB" | grep -q 'NEEDED.*libunwind'
}
check "libperfshim.so does not depend on libunwind (it dlopens it RTLD_LOCAL)" not_needed
finish
