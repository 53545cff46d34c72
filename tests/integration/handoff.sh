#!/bin/sh
# Floor timestamps across threads (issue 18, preload/stamp.h): tests/workloads/handoff's 6
# threads hand 1.2 M blocks to each other (allocated in one thread, freed or realloc'ed in
# another, addresses reused across threads), recorded with the default PERFSHIM_CLOCK_EVERY:
# the report has no heap error (no unmatched free, double allocation, double, invalid or
# mismatched free) and exactly the workload's own allocation and free totals at its sites.
# The same run with the live set's guard off (PERFSHIM_CLOCK_GUARD=0: the floors alone) must
# show heap errors, or the first check proves nothing. And a slow thread (12 malloc/free pairs
# 3 ms apart, or 3/4 of the coarse clock's step if longer; fewer than PERFSHIM_CLOCK_EVERY
# events) reads the clock when time moved on, with a writer thread (its 1 ms staleness word)
# and alone (the coarse clock): at most 4 equal stamps in a row (1 and 2 on a quiet machine;
# the margin is for a writer thread woken late, or the writer's 10 ms pace right after an idle
# stretch); without the staleness check all 24 would be its first read.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads/handoff
cd "$TMP" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

"$P" record -o on.trace -- "$W" 6 200000 >on.counts 2>/dev/null || exit 99
PERFSHIM_CLOCK_GUARD=0 "$P" record -o off.trace -- "$W" 6 200000 >off.counts 2>/dev/null ||
    exit 99
"$P" report --format=json on.trace >on.json || exit 99
"$P" report --format=json off.trace >off.json || exit 99

# prints "errors sites_allocs sites_frees want": the summary's heap errors, the workload's
# sites' allocations and frees, and mallocs + reallocs from the workload's own counts
tally() {
    python3 - "$1.json" "$1.counts" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m, r, f = (int(x) for x in open(sys.argv[2]).read().split())
s = d["summary"]
errors = sum(s[k] for k in ("unmatched_frees", "double_allocations", "mismatched_frees",
                            "double_frees", "invalid_frees"))
a = fr = 0
for site in d["sites"]:
    fns = [x.get("function") for x in site["stack"]]
    if "worker" in fns or "receive" in fns:
        a += site["allocations"]
        fr += site["frees"]
print(errors, a, fr, m + r)
PY
}
on=$(tally on) || exit 99
off=$(tally off) || exit 99
echo "guard on: errors, allocations, frees, workload's: $on"
echo "guard off: $off"
set -- $on
check "no heap errors with the guard" test "$1" -eq 0
check "allocations exact" test "$2" -eq "$4"
check "frees exact" test "$3" -eq "$4"
set -- $off
check "heap errors without the guard (the check can fail)" test "$1" -gt 0

# the slow thread's heap stamps in the dump: how many, and the longest run of equal ones
runs() {
    "$P" dump "$1" | python3 -c '
import re, sys
cur, slow, ts = None, set(), []
for line in sys.stdin:
    m = re.match(r"chunk .* tid=(\d+)", line)
    if m:
        cur = m.group(1)
        continue
    m = re.match(r"thread_start tid=(\d+) .*name=\"slow\"", line)
    if m:
        slow.add(m.group(1))
    m = re.match(r"(alloc|free) .*ts=(\d+)", line)
    if m and cur in slow:
        ts.append(int(m.group(2)))
run = best = 0
for i, t in enumerate(ts):
    run = run + 1 if i and t == ts[i - 1] else 1
    best = max(best, run)
print(len(ts), best)'
}
PERFSHIM_CLOCK_EVERY=1000 "$P" record -o slow2.trace -- "$W" slow 2 >/dev/null 2>&1 || exit 99
PERFSHIM_CLOCK_EVERY=1000 "$P" record -o slow1.trace -- "$W" slow 1 >/dev/null 2>&1 || exit 99
r2=$(runs slow2.trace) || exit 99
r1=$(runs slow1.trace) || exit 99
echo "slow thread: events, longest run of equal stamps: with a writer thread $r2; alone $r1"
slow_ok() { # events longest_run most
    [ "$1" -eq 24 ] && [ "$2" -le "$3" ]
}
check "a slow thread's stamps follow time (writer thread's word)" slow_ok $r2 4
check "a slow thread's stamps follow time (coarse clock)" slow_ok $r1 4
finish
