#!/bin/sh
# Resource faults: the app keeps running with its own status and output, the shim warns once
# and says how many events it dropped. (A missing or unwritable output directory: cli.sh.)
# Not covered here: RLIMIT_NOFILE (the shim's trace fd counts against the app's limit, so an
# app that uses its last descriptor behaves differently under any tracer that writes a file).
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

# out of memory: an address-space limit (RLIMIT_AS) the app fits in, with little room left for
# the shim. KB is the limit; the check passes vacuously if even the native run does not fit.
oom_at() {
    kb=$1
    ran=0
    native=$( (ulimit -v "$kb" && "$W" 2 20000 4) 2>/dev/null) || return 0
    ran=1
    traced=$( (ulimit -v "$kb" && PERFSHIM_OUTPUT="$TMP/oom$kb.trace" LD_PRELOAD=$PERFSHIM_LIB \
        "$W" 2 20000 4) 2>oom.err) || { echo "status $?"; cat oom.err; return 1; }
    [ "$native" = "$traced" ] || { echo "output differs: $native / $traced"; return 1; }
    # each distinct problem is said once, and the shim never aborts
    [ -z "$(sed -n 's/^perfshim: \[[0-9:]*\] //p' oom.err | sed 's/[0-9][0-9]* events/N events/' |
        sort | uniq -d)" ] || { echo "a warning repeated:"; cat oom.err; return 1; }
    [ "$(grep -c 'perfshim' oom.err)" -le 4 ] || { cat oom.err; return 1; }
    if [ -f "$TMP/oom$kb.trace" ]; then
        "$PERFSHIM_BIN" report "$TMP/oom$kb.trace" >/dev/null 2>oom.rep || { cat oom.rep; return 1; }
    fi
    return 0
}
# The shim's stack table takes at most an eighth of the limit, so the app keeps its room
# (before it took 160 MiB whatever the limit, and the app's own pthread_create failed).
oom() {
    oom_at 100000 && oom_at 150000 && oom_at 200000
}
check "out of memory (RLIMIT_AS): app unchanged, the shim warns and degrades" oom

finish
