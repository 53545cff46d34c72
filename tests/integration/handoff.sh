#!/bin/sh
# Floor timestamps across threads (issue 18, preload/stamp.h): tests/workloads/handoff's 6
# threads hand 1.2 M blocks to each other (allocated in one thread, freed or realloc'ed in
# another, addresses reused across threads), recorded with the default PERFSHIM_CLOCK_EVERY:
# the report has no heap error (no unmatched free, double allocation, double, invalid or
# mismatched free) and exactly the workload's own allocation and free totals at its sites.
# The same run with the live set's guard off (PERFSHIM_CLOCK_GUARD=0: the floors alone) must
# show heap errors, or the first check proves nothing.
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
finish
