#!/bin/sh
# Sampled mode (PERFSHIM_SAMPLE_BYTES, issue 18) on a workload of known per-site totals
# (tests/workloads/sampled_sites.c), recorded in full and in sampled mode (N = 32 KiB, so a
# 64 MB site has ~2000 samples: 10% is over 4 standard deviations) with a fixed seed
# (PERFSHIM_SAMPLE_SEED: the same samples every run): each site's estimated bytes (and the
# small-block site's allocations, and the allocations made while a lock is held, per site and
# per lock) within 10% of the full trace's; the full trace has the
# workload's exact totals; the header says the mode (JSON trace.sampled, sample_bytes; the
# format version is 4 either way, the sampled flag only when sampled); the text report's first screen and summary say
# "sampled, mean N bytes: counts and bytes are estimates", its not-freed section says
# estimates; only sampled blocks' releases are recorded (no unmatched frees, fewer releases
# than samples, the kept blocks' samples not released); the same seed gives the same trace;
# `perfshim check` on a sampled trace says its budgets are checked on estimates; the JSON
# validates against the schema.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads/sampled_sites
SCHEMA=$top_srcdir/tests/data/perfshim.schema.json
cd "$TMP" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

N=32768
"$P" record -o full.trace -- "$W" >/dev/null 2>&1 || exit 99
PERFSHIM_SAMPLE_BYTES=$N PERFSHIM_SAMPLE_SEED=2 "$P" record -o s1.trace -- "$W" >/dev/null 2>&1 ||
    exit 99
PERFSHIM_SAMPLE_BYTES=$N PERFSHIM_SAMPLE_SEED=2 "$P" record -o s2.trace -- "$W" >/dev/null 2>&1 ||
    exit 99
"$P" report --format=json full.trace >full.json || exit 99
"$P" report --format=json s1.trace >s1.json || exit 99
"$P" report --format=json s2.trace >s2.json || exit 99
"$P" report s1.trace >s1.txt || exit 99

estimates() {
    python3 - full.json s1.json "$N" <<'PY'
import json, sys
full, samp, n = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
def by_site(d):
    out = {}
    for s in d["sites"]:
        fn = next((f["function"] for f in s["stack"] if f["function"] and
                   f["function"].startswith("site_")), None)
        if fn:
            out.setdefault(fn, {"bytes": 0, "allocations": 0, "not_freed_bytes": 0})
            for k in out[fn]:
                out[fn][k] += s[k]
    return out
f, s = by_site(full), by_site(samp)
truth = {"site_small": 64000000, "site_medium": 100000000, "site_large": 100000000,
         "site_huge": 104857600, "site_grow": 120000000, "site_kept": 13107200,
         "site_locked": 60000000,
         "site_seed": 6000000}
for site, b in truth.items():
    assert f[site]["bytes"] == b, ("full trace", site, f[site], b)
for site in truth:
    if site == "site_seed": # 6 MB: ~180 samples of 32 KiB, too few for 10%
        continue
    err = s[site]["bytes"] / f[site]["bytes"] - 1
    print("%-12s full %11d  estimate %11d  %+.1f%%" % (site, f[site]["bytes"], s[site]["bytes"],
                                                     100 * err))
    assert abs(err) <= 0.10, (site, f[site], s[site])
err = s["site_small"]["allocations"] / f["site_small"]["allocations"] - 1
assert abs(err) <= 0.10, ("allocations", f["site_small"], s["site_small"])
# allocations while a lock is held: exact in full mode, weighted estimates when sampled
def under(d):
    return sum(s["under_lock"] or 0 for s in d["pressure"]["sites"]), \
        sum(k["allocations_while_held"] for k in d["locks"])
fu, fl = under(full)
assert fu == fl == 200000, ("full trace under lock", fu, fl)
su, sl = under(samp)
print("under lock: full %d  estimate %d (sites) %d (lock)" % (fu, su, sl))
assert abs(su / fu - 1) <= 0.10 and abs(sl / fl - 1) <= 0.10, ("under lock", su, sl)
kept = s["site_kept"]["not_freed_bytes"] / 13107200 - 1
assert abs(kept) <= 0.10, ("not freed", s["site_kept"])
t = samp["trace"]
assert t["sampled"] is True and t["sample_bytes"] == n, t
assert full["trace"]["sampled"] is False and full["trace"]["sample_bytes"] is None, full["trace"]
# frees of sampled blocks only: every recorded release matches a recorded allocation
sm = samp["summary"]
assert sm["unmatched_frees"] == 0 and sm["invalid_frees"] == 0, sm
assert 0 < t["sample_frees"] < t["samples"], t
assert t["samples"] < full["summary"]["allocations"] / 50, (t, full["summary"])
PY
}
check "per-site estimates within 10% of the full trace" estimates

same_seed() {
    python3 - s1.json s2.json <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["trace"]["samples"] == b["trace"]["samples"], (a["trace"], b["trace"])
assert a["summary"]["bytes_allocated"] == b["summary"]["bytes_allocated"]
PY
}
check "the same seed gives the same samples" same_seed

mode_lines() {
    sed -n '/^VERDICT/q;p' s1.txt | grep -q "sampled, mean $N bytes: counts and bytes are estimates" &&
        sed -n '/^SUMMARY/,/^$/p' s1.txt | grep -q "sampled, mean $N bytes: counts and bytes are estimates" &&
        grep -q "NOT FREED AT EXIT (estimates" s1.txt &&
        ! "$P" report full.trace | grep -q "estimates"
}
check "the report says the mode (first screen, summary, not freed)" mode_lines

version() { # the header: version 4 (columnar chunks; LEAK_BLOCKS) either way, the flag only when sampled
    python3 - full.trace s1.trace <<'PY'
import struct, sys
for path, want in ((sys.argv[1], (4, 0)), (sys.argv[2], (4, 0x10))):
    h = open(path, "rb").read(56)
    ver, flags = struct.unpack_from("<I", h, 4)[0], struct.unpack_from("<I", h, 12)[0]
    assert (ver, flags & 0x10) == want, (path, ver, flags)
PY
}
check "format version 4 and the sampled flag only when sampled" version

check_est() {
    "$P" check s1.trace >c.out 2>&1
    [ $? -eq 1 ] && grep -q "estimates" c.out || { cat c.out; return 1; }
}
check "perfshim check on a sampled trace says estimates" check_est

schema() {
    "$P" check -q --format=json s1.trace >c.json
    [ $? -eq 1 ] || return 1
    python3 - "$SCHEMA" s1.json c.json <<'PY'
import json, sys
try:
    import jsonschema
except ImportError:
    sys.exit(0)
for f in sys.argv[2:]:
    jsonschema.validate(json.load(open(f)), json.load(open(sys.argv[1])))
c = json.load(open(sys.argv[3]))
assert c["summary"]["estimated"] is True and c["summary"]["sampled_not_freed_bytes"] > 0, c
PY
}
check "the sampled report and check validate against the schema" schema
finish
