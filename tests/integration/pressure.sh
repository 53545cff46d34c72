#!/bin/sh
# Allocation pressure on a workload with exactly known truth (tests/workloads/pressure_cases.c:
# the numbers below are its constants): `report --format=json`'s "pressure" section gives each
# case's exact count at the site the case's function allocates from -- churn (short-lived,
# temporary, within K, same-size cycles), a window of 4 (within K=8 and K=2, one temporary),
# a doubling realloc chain (steps, chains, bytes copied, final size), producer/consumer
# (cross-thread frees), allocations under a contended mutex (count, bytes, the lock's address
# and acquisition site; it is the innermost of two held), the peak's owner; the rate windows add up to the totals. A trace
# recorded without the live set has no cross-thread flag: the replay's allocating thread gives
# the same counts, per site, as the flag. The analysis on its own thread and on the pass's
# (PERFSHIM_PRESSURE_THREAD=1 and 0) gives the same.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads
cd "$TMP" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
"$P" record -o pc.trace -- "$W/pressure_cases" >pc.out 2>pc.err || { cat pc.err; exit 99; }
LOCK=$(sed -n 's/^lock //p' pc.out)

exact() {
    "$P" report -q --format=json --short-lived=1s pc.trace >k8.json &&
        "$P" report -q --format=json --short-lived=1s --within=2 pc.trace >k2.json || return 1
    python3 - "$LOCK" <<'PY'
import json, sys
lock = int(sys.argv[1], 16)
k8 = json.load(open("k8.json"))["pressure"]
k2 = json.load(open("k2.json"))["pressure"]
def fn0(s, name):  # the site's innermost frame is the case's function
    return s["stack"] and s["stack"][0]["function"] == name
def site(p, name, key):
    v = [s[key] for s in p["sites"] if fn0(s, name)]
    assert v, ("no site", name)
    return sum(v)
errs = []
def want(what, got, exp):
    if got != exp:
        errs.append("%s: %r, want %r" % (what, got, exp))
N, D, K, M, L = 1000, 200, 10, 500, 300
assert k8["available"] and k8["short_lived_ns"] == 10**9 and k8["k"] == 8 and k2["k"] == 2
for key, exp in (("allocations", N), ("short_lived", N), ("short_lived_bytes", 48 * N),
                 ("temporary", N), ("within_k", N), ("same_size_cycles", N - 1)):
    want("churn " + key, site(k8, "churn_site", key), exp)
want("churn within 2", site(k2, "churn_site", "within_k"), N)
want("window of 4: temporary", site(k8, "delayed_alloc", "temporary"), 1)
want("window of 4: within 8", site(k8, "delayed_alloc", "within_k"), D)
want("window of 4: within 2", site(k2, "delayed_alloc", "within_k"), 3)
want("window of 4: same-size cycles", site(k8, "delayed_alloc", "same_size_cycles"), D - 4)
want("chain steps", site(k8, "grow_step", "realloc_steps"), K)
want("chain count", site(k8, "grow_step", "realloc_chains"), 1)
want("chain bytes copied", site(k8, "grow_step", "realloc_bytes_copied"), 16 * (2**K - 1))
want("chain final size", site(k8, "grow_step", "realloc_final_max"), 16 << K)
want("cross-thread available", k8["cross_thread_available"], True)
want("cross-thread frees", site(k8, "producer_site", "cross_thread_frees"), M)
want("producer releases", site(k8, "producer_site", "releases"), M)
want("churn cross-thread", site(k8, "churn_site", "cross_thread_frees"), 0)
want("under-lock available", k8["under_lock_available"], True)
want("under lock", site(k8, "locked_site", "under_lock"), 3 * L)
want("under lock bytes", site(k8, "locked_site", "under_lock_bytes"), 3 * L * 32)
want("churn under lock", site(k8, "churn_site", "under_lock"), 0)
ls = [s for s in k8["sites"] if fn0(s, "locked_site")]
want("the lock", [s["under_lock_lock"] for s in ls], ["0x%x" % lock] * len(ls))
want("the lock's site", sorted(f["function"] for s in ls for f in s["under_lock_stack"]
                               if f["function"] in ("locked_worker", "nested_worker")),
     ["locked_worker", "nested_worker"])
want("total under lock >=", k8["under_lock"] >= 3 * L, True)
po = k8["peak_owners"]
want("peak owner", po[0]["stack"][0]["function"], "peak_site")
want("peak owner bytes", po[0]["peak_bytes"], 8 << 20)
want("peak >= owner", k8["peak_bytes"] >= 8 << 20, True)
w = k8["windows"]
want("windows", len(w), 40)
want("windows' allocations", sum(x["allocations"] for x in w), k8["allocations"])
want("windows' bytes", sum(x["bytes"] for x in w), k8["bytes"])
want("windows' releases", sum(x["releases"] for x in w), k8["releases"])
want("windows' young bytes", sum(x["bytes_died_young"] for x in w), k8["short_lived_bytes"])
pw = k8["peak_windows"]
want("peak window", w[pw[0]]["allocations"], max(x["allocations"] for x in w))
want("peak windows sorted", [w[i]["allocations"] for i in pw],
     sorted((w[i]["allocations"] for i in pw), reverse=True))
want("totals = sites", sum(s["allocations"] for s in k8["sites"]), k8["allocations"])
for e in errs:
    print(e)
sys.exit(1 if errs else 0)
PY
}
check "pressure_cases: every case's exact count at its site (JSON)" exact
# The analysis on a thread of its own (three CPUs or more) and on the pass's thread (two):
# forced each way, the same counts and the same report, on pressure_cases and on a churn of
# 80,000 events (hundreds of the hand-off's blocks, its ring wrapped).
thread_or_not() {
    PERFSHIM_PRESSURE_THREAD=1 exact || return 1
    PERFSHIM_PRESSURE_THREAD=0 exact || return 1
    "$P" record -o ch.trace -- "$W/churn_bench" 2 20000 12 >/dev/null 2>&1 || return 1
    PERFSHIM_PRESSURE_THREAD=1 "$P" report -q --format=json ch.trace >t1.json &&
        PERFSHIM_PRESSURE_THREAD=0 "$P" report -q --format=json ch.trace >t0.json &&
        PERFSHIM_PRESSURE_THREAD=1 "$P" report -q pc.trace >p1.txt &&
        PERFSHIM_PRESSURE_THREAD=0 "$P" report -q pc.trace >p0.txt || return 1
    cmp t1.json t0.json && cmp p1.txt p0.txt && grep -q '"pressure"' t1.json
}
check "the pressure thread and the pass's thread: the same counts and reports" thread_or_not

text() {
    "$P" report -q pc.trace >pc.txt || return 1
    grep -q "^ALLOCATION PRESSURE" pc.txt && grep -q "cross-thread    [0-9]* frees" pc.txt &&
        grep -q "under a lock    [0-9]* allocations" pc.txt || { grep -A14 PRESSURE pc.txt; return 1; }
}
check "text: the ALLOCATION PRESSURE section" text

old_trace() {
    PERFSHIM_LEAK_CHECK=0 "$P" record -o nols.trace -- "$W/pressure_cases" >/dev/null 2>&1 &&
        "$P" report -q --format=json --short-lived=1s nols.trace >nols.json &&
        "$P" report -q nols.trace >nols.txt || return 1
    grep -q "cross-thread    [0-9]* frees" nols.txt || return 1
    python3 -c '
import json
p = json.load(open("nols.json"))["pressure"]
k8 = json.load(open("k8.json"))["pressure"]
assert p["cross_thread_available"] is True and p["cross_thread_frees"] == k8["cross_thread_frees"], (p["cross_thread_frees"], k8["cross_thread_frees"])
def by_fn(q):
    return sorted((s["stack"][0]["function"] if s["stack"] else None, s["cross_thread_frees"]) for s in q["sites"] if s["cross_thread_frees"])
assert by_fn(p) == by_fn(k8), (by_fn(p), by_fn(k8))
assert p["under_lock_available"] is True
'
}
check "without the cross-thread flag: the replay gives the flag's counts" old_trace

dump_records() {
    "$P" dump pc.trace >pc.dump 2>/dev/null || return 1
    # (a shim that keeps no thread per live block flags none: the replay counts them, above)
    n=$(grep -c "^free .* cross_thread" pc.dump)
    [ "$n" -ge 500 ] || [ "$n" -eq 0 ] || { echo "flagged frees: $n, want >= 500 (or 0)"; return 1; }
    grep "^lock_alloc kind=mutex .* lock=$LOCK .* count=[0-9]* bytes=" pc.dump >la.txt &&
        [ "$(sed -n 's/.* count=\([0-9]*\) .*/\1/p' la.txt | sort -n | tr '\n' ' ')" = "300 600 " ] ||
        { cat la.txt; return 1; }
}
check "dump: FREE records flagged cross_thread (if any), LOCK_ALLOC records of big_lock (300 and 600)" dump_records

bad_opts() {
    "$P" report --short-lived=1x pc.trace >/dev/null 2>e1; [ $? -eq 2 ] || return 1
    "$P" report --within=-1 pc.trace >/dev/null 2>e2; [ $? -eq 2 ] || return 1
    grep -q "short-lived" e1 && grep -q "within" e2
}
check "--short-lived and --within refuse bad values (exit 2, one line)" bad_opts
finish
