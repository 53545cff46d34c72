#!/bin/sh
# The recommendation engine, the report's first screen and the gate's heap errors (issue 16)
# on known-truth workloads (tests/workloads/advice_work.c, heap_errors.cc): a churn site of N
# pairs ranks first as a stack-buffer or pool candidate with the exact count; leaks rank by
# their bytes; a contended lock gets shard_lock (and alloc_outside_lock naming the lock); the
# peak owner is named; --top, --section; `check` counts heap errors by default (exit 1),
# --no-heap-errors turns that off, lists the errors with their stacks, and lists definite
# leaks before the indirect ones they hold.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads
cd "$TMP" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

rec() { # rec NAME ARGS...: a trace of advice_work ARGS
    n=$1
    shift
    "$P" record -o "$TMP/$n.trace" -- "$W/advice_work" "$@" >/dev/null 2>&1 &&
        "$P" report -q --format=json "$TMP/$n.trace" >"$n.json" 2>/dev/null
}
rec stack stack 20000 && rec pool pool 20000 && rec leak leak && rec lock lock 3000 &&
    rec peak peak || exit 99

# py FILE EXPR: python3 asserts on the report's JSON (d); recs = d["recommendations"]
py() {
    python3 - "$1" "$2" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
recs = d["recommendations"]
def fn(r): return r["stack"][0]["function"] if r["stack"] else None
def shard_ns(k, dur):  # advice.h: the shard_lock model, from the lock's JSON
    H, W, n = k["hold_ns"]["total"], k["wait_ns"]["total"], max(2, len(k["thread_waits"]))
    rho = min(1.0, W / ((n - 1) * H)) if H else 0.0
    return min(int(H * (1.0 - 1.0 / n) * rho + W / (n - 1)), max(0, dur - H // n))
ok = eval("(" + sys.argv[2] + ")")
if not ok:
    for r in recs:
        print("  ", r["rank"], r["kind"], r["saving"], r["count"], fn(r), r["title"])
sys.exit(0 if ok else 1)
PYEOF
}

stack_first() {
    py stack.json 'recs[0]["kind"] == "stack_buffer" and recs[0]["count"] == 20000 and
        fn(recs[0]) == "churn_tiny" and "20000" in recs[0]["title"] and
        recs[0]["saving"]["unit"] == "ns" and 0 < recs[0]["saving"]["value"] <= d["summary"]["duration_ns"]
        and recs[0]["rank"] == 1 and all(recs[0][k] for k in ("evidence", "tradeoff", "verify", "confidence"))
        and recs[0]["saving"]["method"]'
}
check "20000 tiny scoped pairs: stack_buffer first, count exact, bounded by the run" stack_first

pool_first() {
    py pool.json 'recs[0]["kind"] == "pool" and recs[0]["count"] == 20000 and
        fn(recs[0]) == "churn_pool" and "20000 allocations" in recs[0]["evidence"]'
}
check "20000 pairs of 2 KiB in a window: pool first, count exact" pool_first

leak_by_bytes() {
    py leak.json '[ (r["kind"], fn(r), r["saving"]["value"]) for r in recs if r["kind"] == "fix_leak"]
        == [("fix_leak", "leak_big", 1048576), ("fix_leak", "leak_small", 1024)] and
        recs[0]["kind"] == "fix_leak" and recs[0]["saving"]["unit"] == "bytes" and
        d["verdict"]["leaked_bytes"] == 1049600 and d["verdict"]["problems"] == 1 and
        not any(r["kind"] == "reduce_peak" for r in recs)'
}
check "leaks rank by their bytes (1 MiB before 1 KiB), the verdict counts them; a peak that is a leak is not also reduce_peak" leak_by_bytes

lock_hot() {
    py lock.json 'recs[0]["kind"] == "shard_lock" and fn(recs[0]) == "hold_with_alloc" and
        recs[0]["saving"]["unit"] == "ns" and
        abs(recs[0]["saving"]["value"] - shard_ns(d["locks"][0], d["summary"]["duration_ns"])) <= 1 and
        recs[0]["saving"]["value"] >= d["locks"][0]["amdahl_max_saving_ns"] and
        any(r["kind"] == "alloc_outside_lock" and ("lock %s" % d["locks"][0]["address"]) in r["title"]
            and r["count"] == 12000 for r in recs)'
}
check "a contended lock: shard_lock first (its serialized chain: holds and waits over n threads); 12000 allocations under it named" lock_hot

peak_owner() {
    py peak.json 'recs[0]["kind"] == "reduce_peak" and fn(recs[0]) == "peak_owner" and
        recs[0]["saving"]["value"] == 4194304 and d["summary"]["peak_heap_bytes"] >= 4194304'
}
check "the peak's owner is named with its 4 MiB" peak_owner

screen() {
    "$P" report -q --section screen lock.trace >s.txt 2>&1 &&
        [ "$(wc -l <s.txt)" -le 40 ] && grep -q '^VERDICT: no leaks' s.txt &&
        grep -q '^USE: HEAP' s.txt && grep -q '^USE: LOCKS (1 locks' s.txt &&
        grep -q '^  utilization        busiest lock 0x' s.txt &&
        grep -q '^TOP RECOMMENDATIONS' s.txt && grep -q '^  #1  shard_lock ' s.txt &&
        ! grep -q '^SUMMARY' s.txt &&
        "$P" report -q lock.trace >full.txt 2>&1 && [ "$(sed -n 4p full.txt)" = "VERDICT: no leaks, no heap errors, no lock-order cycles" ] &&
        "$P" report -q --section screen leak.trace >s2.txt 2>&1 &&
        grep -q '^VERDICT: 1 problem: leaks$' s2.txt &&
        grep -q '^  leaks              1.0 MiB in 12 blocks definitely lost' s2.txt
}
check "the first screen: verdict, USE heap and locks, top recommendations, <= 40 lines, first" screen

top_n() {
    "$P" report -q --section screen --top 1 lock.trace >t1.txt 2>&1 &&
        grep -q '^  #1  ' t1.txt && ! grep -q '^  #2  ' t1.txt &&
        grep -q '^TOP RECOMMENDATIONS (1 of ' t1.txt &&
        "$P" report -q --section screen lock.trace >t5.txt 2>&1 && grep -q '^  #2  ' t5.txt
}
check "--top 1 shows one recommendation" top_n

sections() {
    "$P" report -q --section locks lock.trace >l.txt 2>&1 && grep -q '^LOCK CONTENTION' l.txt &&
        ! grep -q '^SUMMARY' l.txt && ! grep -q '^VERDICT' l.txt &&
        "$P" report -q --section advice pool.txt >/dev/null 2>&1
    "$P" report -q --section advice pool.trace >a.txt 2>&1 && grep -q '^RECOMMENDATIONS' a.txt &&
        grep -q '^      estimate   20000 pairs' a.txt && ! grep -q '^TIMELINE' a.txt &&
        "$P" report --help | grep -q '^  not-freed ' || return 1
    "$P" report -q --section leaks "$top_srcdir/tests/golden/synth.trace" >n.txt 2>/dev/null &&
        grep -q '^LEAKS: no leak scan in the trace' n.txt || return 1
    "$P" report --section nosuch pool.trace >o.txt 2>e.txt
    [ $? -eq 2 ] && [ "$(wc -l <e.txt)" = 1 ] && grep -q "unknown section 'nosuch'" e.txt || return 1
    "$P" report --section locks --format=json pool.trace >o.txt 2>e.txt
    [ $? -eq 2 ] && [ "$(wc -l <e.txt)" = 1 ]
}
check "--section NAME shows that section; unknown name or a data format: one line, exit 2" sections

# the gate: three mismatched frees (heap_errors.cc)
"$P" record -o "$TMP/he.trace" -- "$W/heap_errors" >/dev/null 2>&1 || exit 99
"$P" record -o "$TMP/hel.trace" -- "$W/heap_errors" leak >/dev/null 2>&1 || exit 99
gate_errors() {
    "$P" check -q he.trace >out 2>err
    [ $? -eq 1 ] &&
        grep -q 'FAIL  max-heap-errors: 3 heap errors (3 mismatched, 0 double, 0 invalid frees), limit 0: exceeded by 3 errors' out &&
        grep -q '^  #3  mismatched_free x1: allocated by operator new, released by free$' out &&
        "$P" check -q --format=json he.trace >j.json 2>err
    [ $? -eq 1 ] && python3 -c '
import json, sys
j = json.load(open("j.json"))
s, e = j["summary"], j["heap_errors"]
sys.exit(0 if s["mismatched_frees"] == 3 and s["heap_errors_counted"] and len(e) == 3 and
         all(x["kind"] == "mismatched_free" and x["count"] == 1 and
             x["alloc_stack"][0]["function"] == "mismatches()" for x in e) else 1)' &&
        "$P" check -q --no-heap-errors he.trace >out 2>err && ! grep -q 'heap-errors' out &&
        "$P" check -q --max-heap-errors 3 he.trace >out 2>err
}
check "check counts heap errors by default (exit 1); --no-heap-errors, --max-heap-errors 3 pass" gate_errors

gate_order() {
    "$P" check -q --no-heap-errors hel.trace >out 2>err
    [ $? -eq 1 ] || return 1
    grep '^  #' out >o.txt
    [ "$(sed -n 1p o.txt)" = "  #1  definite: 1 blocks, 100 bytes" ] &&
        [ "$(sed -n 2p o.txt)" = "  #2  indirect: 1 blocks, 1000 bytes, held by #1" ] &&
        [ "$(sed -n 3p o.txt)" = "  #3  definite: 1 blocks, 500 bytes" ]
}
check "check lists a definite leak, then the indirect one it holds, then the next definite" gate_order

finish
