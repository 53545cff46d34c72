#!/bin/sh
# Resource faults: the app keeps running with its own status and output, the shim warns once
# and says how many events it dropped. (A missing or unwritable output directory: cli.sh.)
# Not covered here: RLIMIT_NOFILE (the shim's one fd counts against the app's limit).
. "$top_srcdir/tests/integration/lib.sh"
cd "$TMP"
W="$top_builddir/tests/workloads/churn_bench"

# disk full: RLIMIT_FSIZE of 16 KiB; the shim's writes must not raise SIGXFSZ in the app
disk_full() {
    native=$("$W" 2>/dev/null) || return 1
    traced=$( (ulimit -f 32 && PERFSHIM_OUTPUT="$TMP/full.trace" LD_PRELOAD=$PERFSHIM_LIB "$W" 2>full.err)) ||
        { echo "status $?"; cat full.err; return 1; }
    [ "$native" = "$traced" ] || { echo "output differs: $native / $traced"; return 1; }
    [ "$(grep -c 'cannot write the trace' full.err)" -eq 1 ] || { cat full.err; return 1; }
    n=$(sed -n 's/.* \([0-9][0-9]*\) events were not written.*/\1/p' full.err)
    [ -n "$n" ] && [ "$n" -gt 0 ] || { cat full.err; return 1; }
    # what was written is readable up to its last whole chunk
    "$PERFSHIM_BIN" report "$TMP/full.trace" >/dev/null 2>full.rep
}
check "disk full (RLIMIT_FSIZE): app unchanged, one warning, dropped events counted" disk_full

finish
