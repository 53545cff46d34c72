#!/bin/sh
# The formats other tools read (issue 17): --format=speedscope, pprof, chrome-trace and massif
# of a workload whose truth is known (tests/integration/leaks_basic: allocations, bytes, peak,
# definite and indirect leaks, what is in use at exit; tests/workloads/cond_work: the main
# thread waits ~100 ms for a held mutex) give the JSON report's totals, read back by the
# tools themselves where they are installed: `go tool pprof -raw` (golang-go) and ms_print
# (valgrind); speedscope and chrome-trace are checked against their formats' required fields
# (tests/integration/visual_formats.py). Each check is also run with one expected value off
# by one, and must then fail.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
LB=$top_builddir/tests/integration/leaks_basic
CW=$top_builddir/tests/workloads/cond_work
V="$top_srcdir/tests/integration/visual_formats.py"
cd "$TMP" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
"$P" record -o lb.trace -- "$LB" run 2>/dev/null || exit 99
"$P" record -o cw.trace -- "$CW" 2>/dev/null || exit 99
for t in lb cw; do
    "$P" report -q --format=json -o $t.json $t.trace || exit 99
done

# checks KIND OUTPUT JSON TAMPER...: passes on the truth, fails with each tampered value
checks() { python3 "$V" "$@"; }

truth() { # the workload's own numbers, so the JSON compared with is right too
    python3 - <<'PY'
import json
s = json.load(open("lb.json"))["summary"]
assert s["leaked_definite_bytes"] == 984 and s["leaked_indirect_bytes"] == 96, s
assert s["not_freed_bytes"] == 1630, s
PY
}
check "leaks_basic's report: definite 984 B, indirect 96 B, 1630 B not freed (the truth)" truth

speedscope() {
    "$P" report -q --format=speedscope -o lb.speedscope lb.trace &&
        checks speedscope lb.speedscope lb.json allocations bytes peak leaked inuse
}
check "speedscope: required fields, frame indices in range, weights sum to the report's totals" speedscope

longnames() { # C++ frames whose names pass 1 KiB (libstdc++'s templates): whole, the same each run
    LD_PRELOAD="$PERFSHIM_LIB" PERFSHIM_OUTPUT=cxx.trace "$top_builddir/tests/workloads/cxx_service" 2000 \
        >/dev/null &&
        "$P" report -q --format=json -o cxx.json cxx.trace &&
        "$P" report -q --format=speedscope -o cxx1.ss cxx.trace &&
        "$P" report -q --format=speedscope -o cxx2.ss cxx.trace && cmp -s cxx1.ss cxx2.ss &&
        checks speedscope cxx1.ss cxx.json || return 1
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
sys.exit(0 if max(len(f["name"]) for f in d["shared"]["frames"]) > 1024 else 1)' cxx1.ss ||
        echo "no frame name past 1 KiB here: the long-name case not reached"
}
check "speedscope: frames with names past 1 KiB whole, the output the same each run" longnames

pprof() {
    command -v go >/dev/null || { echo "no go (golang-go): skipped"; return 0; }
    "$P" report -q --format=pprof -o lb.pb.gz lb.trace || return 1
    [ "$(head -c2 lb.pb.gz | od -An -tx1 | tr -d ' ')" = 1f8b ] || return 1 # gzip
    HOME=$TMP GOCACHE=$TMP/gocache GOFLAGS= go tool pprof -raw lb.pb.gz >lb.raw 2>lb.raw.err ||
        { cat lb.raw.err; return 1; }
    checks pprof-raw lb.raw lb.json allocations bytes peak leaked inuse || return 1
    grep -q '^Time: 20' lb.raw || return 1 # the wall clock of the trace's start
    # function and file:line of a site from the symbolizer, the program's mapping and build-id
    grep -q ' leak_malloc .*leaks_basic\.c:48 ' lb.raw &&
        grep -A1 '^Mappings' lb.raw | grep -q "tests/integration/leaks_basic [0-9a-f]\{40\} \[FN\]"
}
check "pprof: go tool pprof -raw reads it, with the report's totals, functions, file:line, mappings" pprof

pprof_inline() { # an inlined function is a Line of its caller's Location, before the caller
    command -v go >/dev/null || return 0
    CI=$top_builddir/tests/workloads/cxx_inline
    "$P" record -o ci.trace -- "$CI" >/dev/null 2>&1 || return 1
    "$P" report -q --format=pprof -o ci.pb.gz ci.trace || return 1
    HOME=$TMP GOCACHE=$TMP/gocache GOFLAGS= go tool pprof -raw ci.pb.gz >ci.raw || return 1
    grep -A1 ' M=1 make_node .*cxx_inline\.cc:20 ' ci.raw | tail -1 |
        grep -q '^  *shapes::Pool::fill .*cxx_inline\.cc:33 '
}
check "pprof: inlined frames as the Lines of one Location (make_node inlined into Pool::fill)" pprof_inline

pprof_tty() { # binary output: not to a terminal (and the gzip bytes go through -o unchanged)
    command -v script >/dev/null || return 0
    script -qec "$P report -q --format=pprof lb.trace" /dev/null >tty.out 2>&1
    grep -q "binary format: not written to a terminal" tty.out
}
check "pprof: refused on a terminal, one line" pprof_tty

chrome() {
    "$P" report -q --format=chrome-trace -o cw.ct cw.trace &&
        checks chrome-trace cw.ct cw.json lock_wait peak inuse || return 1
    # the main thread's wait for the held mutex: one slice of ~100 ms, named by lock and site
    python3 - <<'PY'
import json
d = json.load(open("cw.ct"))
x = [e for e in d["traceEvents"] if e["ph"] == "X"]
assert len(x) == 1 and 50e3 <= x[0]["dur"] < 200e3, x
assert x[0]["name"].startswith("mutex 0x") and x[0]["name"].endswith(" at take_busy_lock"), x
assert "cond_work.c:" in x[0]["args"]["site"], x
assert any(e["ph"] == "C" and e["name"] == "rss" for e in d["traceEvents"])
# the heap in 500 steps of the run (analyses/series.h), not the timeline's 20 slices
assert sum(e["ph"] == "C" and e["name"] == "heap" for e in d["traceEvents"]) > 500
PY
    # `perfshim locks` writes the same lock waits and thread names, without the heap
    "$P" locks -q --format=chrome-trace -o cw-locks.ct cw.trace || return 1
    python3 - <<'PY'
import json
r = json.load(open("cw.ct"))["traceEvents"]
l = json.load(open("cw-locks.ct"))["traceEvents"]
assert [e for e in r if e["ph"] in "XM"] == l, (r, l)
PY
}
check "chrome-trace: lock waits as slices per thread (the report's wait per thread), heap/RSS counters, thread names" chrome

massif() {
    "$P" report -q --format=massif -o lb.massif lb.trace &&
        checks massif lb.massif lb.json peak inuse || return 1
    command -v ms_print >/dev/null || { echo "no ms_print (valgrind): skipped"; return 0; }
    ms_print lb.massif >lb.ms 2>lb.ms.err || { cat lb.ms.err; return 1; }
    checks ms_print lb.ms lb.json peak && grep -q 'leak_malloc (.*leaks_basic.c:48)' lb.ms
}
check "massif: ms_print reads it; its peak is the report's peak, the peak's tree sums to it" massif

empty() { # a program that allocates nothing: every format valid, all totals 0
    "$P" record -o t.trace -- /bin/true 2>/dev/null && "$P" report -q --format=json -o t.json t.trace &&
        "$P" report -q --format=speedscope -o t.ss t.trace && checks speedscope t.ss t.json &&
        "$P" report -q --format=massif -o t.massif t.trace && checks massif t.massif t.json &&
        "$P" report -q --format=chrome-trace -o t.ct t.trace && checks chrome-trace t.ct t.json &&
        "$P" report -q --format=pprof -o t.pb.gz t.trace || return 1
    if command -v ms_print >/dev/null; then
        ms_print t.massif >t.ms && checks ms_print t.ms t.json || return 1
    fi
    if command -v go >/dev/null; then
        HOME=$TMP GOCACHE=$TMP/gocache GOFLAGS= go tool pprof -raw t.pb.gz >t.raw &&
            checks pprof-raw t.raw t.json || return 1
    fi
}
check "a program that allocates nothing: each format valid, with zero totals" empty

finish
