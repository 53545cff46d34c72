#!/bin/sh
# Thread states with known truth (tests/workloads/cond_work.c): a worker waiting on a condvar
# for work shows it as condvar wait with the call site, apart from the main thread's wait for
# a held mutex; temporary allocations are counted as heaptrack counts them, realloc included.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
CW=$top_builddir/tests/workloads/cond_work
cd "$TMP" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

"$P" record -o cw.trace -- "$CW" 2>/dev/null || exit 99
"$P" locks -q --format=json cw.trace >cw.json || exit 99
"$P" locks -q --stack-depth 1 cw.trace >cw.txt || exit 99

states() {
    python3 - <<'PY'
import json
d = json.load(open("cw.json"))
th = sorted(d["threads"], key=lambda t: -t["cond_wait_ns"])
worker = th[0]
main = max(d["threads"], key=lambda t: t["lock_wait_ns"])
# the worker waits ~5 x 40 ms for work, on the condvar, not on a lock
assert worker["cond_wait_ns"] >= 180e6, worker
assert worker["cond_wait_ns"] >= 0.8 * worker["wall_ns"], worker
assert worker["lock_wait_ns"] < 20e6 and worker is not main, worker
assert worker["cond_wait_recorded"] and worker["running_ns"] <= worker["wall_ns"] - worker["cond_wait_ns"]
# the main thread waits ~100 ms for the mutex the holder keeps (less if it woke late)
assert 50e6 <= main["lock_wait_ns"] < 200e6, main
assert main["cond_wait_ns"] < main["lock_wait_ns"], main
def waits_in(s, fn):
    return s["acquisitions"] > 0 and s["stack"] and s["stack"][0]["function"] == fn
c = [k for k in d["condvars"] if any(waits_in(s, "wait_for_work") for s in k["sites"])]
assert len(c) == 1, len(c)
site = [s for s in c[0]["sites"] if waits_in(s, "wait_for_work")][0]
assert site["acquisitions"] == 5 and c[0]["signals"] == 5, (site, c[0]["signals"])
PY
}
check "worker waiting on a condvar for work vs main waiting for a lock (JSON, exact counts)" states

text_view() {
    grep -q '^THREADS (wall time: running, waiting for a lock, waiting on a condvar)' cw.txt &&
        sed -n '/^CONDITION VARIABLES/,/^THREADS/p' cw.txt >cv.txt &&
        grep -A1 '^    waited at: 5 waits' cv.txt | grep -q 'wait_for_work (cond_work.c:' &&
        grep -A1 '^    signalled from: 5 calls' cv.txt | grep -q 'post_work (cond_work.c:' &&
        awk '/^THREADS/ {on=1; next} on && $NF ~ /%$/ && $(NF-3) ~ /%$/ {
                 c = $NF; sub("%", "", c); if (c + 0 >= 80) hi++ } END { exit !(hi == 1) }' cw.txt
}
check "text: THREADS shows the condvar share, CONDITION VARIABLES the wait and signal sites" text_view

# malloc -> realloc -> free, 1000 times: heaptrack counts 2000 temporary allocations (the
# block realloc frees was allocated just before; the realloc'd block is freed just after).
temporary() {
    "$P" record -o t.trace -- "$CW" realloc 1000 2>/dev/null || return 1
    "$P" report -q --format=json t.trace >t.json || return 1
    python3 - <<'PY'
import json
d = json.load(open("t.json"))
s = d["summary"]
assert s["temporary_allocations"] == 2000, s["temporary_allocations"]
sites = [x for x in d["sites"] if x["stack"] and x["stack"][0]["function"] == "realloc_loop"]
assert sorted(x["temporary"] for x in sites) == [1000, 1000], [(x["allocations"], x["temporary"]) for x in sites]
PY
}
check "malloc -> realloc -> free x1000: 2000 temporary allocations, as heaptrack counts" temporary

finish
