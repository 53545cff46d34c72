#!/bin/sh
# perfshim diff (issue 17) on tests/workloads/diff_work.c, whose sites are exactly known: the
# same binary run with FACTOR 1 and 2 (ASLR moves its addresses between the runs) differs in
# grow_site only, 2x in allocations, bytes and peak; VARIANT a and b remove only_a and add
# only_b. The --fail-on gate's exit codes (0 pass, 1 a rule failed, 2 usage or input), the
# profile of both runs' values, and bad input: one line naming the file, exit 2.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads/diff_work
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
cd "$TMP" || exit 99
"$P" record -o b.trace -- "$W" 1 a >/dev/null 2>&1 || exit 99
"$P" record -o n.trace -- "$W" 2 a >/dev/null 2>&1 || exit 99
"$P" record -o v.trace -- "$W" 1 b >/dev/null 2>&1 || exit 99
"$P" record -o m.trace -- "$W" 1 am >/dev/null 2>&1 || exit 99

# what the JSON says of the sites: SITE STATUS ALLOCS_BASE ALLOCS_NEW BYTES_BASE BYTES_NEW
# PEAK_BASE PEAK_NEW LEAKED_BASE LEAKED_NEW, one line per site that is not unchanged, plus
# the counts
summary() {
    python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for s in d["sites"]:
    if s["status"] == "unchanged":
        continue
    fn = s["key"].split(" (")[0]
    v = [s[k][w] for k in ("allocations", "bytes", "peak_bytes", "leaked_bytes") for w in ("base", "new")]
    print(fn, s["status"], *v)
c = d["counts"]
print("counts", *(c[k] for k in ("grown", "added", "mixed", "shrunk", "removed", "unchanged")))
PY
}

grown_exactly() {
    "$P" diff -q --format=json b.trace n.trace >bn.json || return 1
    summary bn.json >got.txt || return 1
    printf '%s\n' "grow_site grown 100 200 6400 12800 6400 12800 0 0" "counts 1 0 0 0 0 2" \
        >want.txt
    diff -u want.txt got.txt || return 1
    python3 - bn.json <<'PY' || return 1
import json, sys
d = json.load(open(sys.argv[1]))
g = d["sites"][0]
assert g["key"].startswith("grow_site (diff_work.c:"), g["key"]
assert g["allocations"]["ratio"] == 2 and g["bytes"]["ratio"] == 2, g
assert g["bytes"]["delta"] == 6400 and g["stack"][0]["function"] == "grow_site", g
t = d["totals"]
assert t["allocations"]["base"] + 100 == t["allocations"]["new"], t
assert t["bytes"]["delta"] == 6400 and t["leaked_bytes"]["delta"] == 0, t
fixed = [s for s in d["sites"] if s["key"].startswith("fixed_site")]
assert len(fixed) == 1 and fixed[0]["leaked_bytes"]["base"] == 32, fixed
assert d["gate"] == {"failed": False, "rules": []}, d["gate"]
PY
}
check "one site doubled: exactly that site grown 2x (allocations, bytes, peak)" grown_exactly

# the matching is not by address: the runs' addresses of grow_site differ (ASLR)
not_by_address() {
    [ "$(cat /proc/sys/kernel/randomize_va_space 2>/dev/null)" = 0 ] && return 0
    for t in b n; do
        "$P" report -q --format=json $t.trace | python3 -c '
import json, sys
d = json.load(sys.stdin)
print([s["stack"][0]["address"] for s in d["sites"] if s["stack"][0]["function"] == "grow_site"][0])'
    done >addr.txt || return 1
    [ "$(sed -n 1p addr.txt)" != "$(sed -n 2p addr.txt)" ]
}
check "the two runs' addresses differ (ASLR), the sites still match" not_by_address

# without symbols (a stripped copy): frames are keyed MODULE+0xOFFSET, which ASLR leaves alone
stripped() {
    command -v strip >/dev/null || return 0
    strip -o "$TMP/dw_stripped" "$W" || return 1
    "$P" record -o sb.trace -- "$TMP/dw_stripped" 1 a >/dev/null 2>&1 || return 1
    "$P" record -o sn.trace -- "$TMP/dw_stripped" 2 a >/dev/null 2>&1 || return 1
    "$P" diff -q --format=json sb.trace sn.trace >s.json || return 1
    python3 - s.json <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
c = d["counts"]
assert (c["grown"], c["added"], c["removed"], c["unchanged"]) == (1, 0, 0, 2), c
g = d["sites"][0]
assert re.match(r"dw_stripped\+0x[0-9a-f]+;dw_stripped\+0x[0-9a-f]+;", g["key"]), g["key"]
assert g["allocations"]["base"] == 100 and g["allocations"]["new"] == 200, g
PY
}
check "stripped binary: sites keyed and matched by module+offset" stripped

added_removed() {
    "$P" diff -q --format=json b.trace v.trace >bv.json || return 1
    summary bv.json >got.txt || return 1
    printf '%s\n' "only_b added 0 20 0 5120 0 5120 0 0" "only_a removed 10 0 1280 0 1280 0 0 0" \
        "counts 0 1 0 0 1 2" >want.txt
    diff -u want.txt got.txt
}
check "a site added and one removed" added_removed

shrunk_mixed() {
    "$P" diff -q --format=json n.trace b.trace >nb.json || return 1
    summary nb.json >got.txt || return 1
    printf '%s\n' "grow_site shrunk 200 100 12800 6400 12800 6400 0 0" "counts 0 0 0 1 0 2" \
        >want.txt
    diff -u want.txt got.txt || return 1
    "$P" diff -q --format=json b.trace m.trace >bm.json || return 1
    summary bm.json >got.txt || return 1
    printf '%s\n' "fixed_site mixed 50 60 1600 960 1600 960 32 16" "counts 0 0 1 0 0 2" \
        >want.txt
    diff -u want.txt got.txt
}
check "a site shrunk (the runs swapped); a mixed change (more allocations, fewer bytes)" shrunk_mixed

text_says() {
    "$P" diff -q b.trace n.trace >bn.txt || return 1
    grep -q '^SITES  1 grown, 0 added, 0 mixed, 0 shrunk, 0 removed, 2 unchanged$' bn.txt &&
        grep -q '^GROWN (1 of 1 sites)$' bn.txt &&
        grep -q '^  #1   allocations         100 ->        200  +100 (2.00x)$' bn.txt &&
        grep -q '^       bytes           6.2 KiB ->   12.5 KiB  +6.2 KiB (2.00x)$' bn.txt &&
        grep -q '^       peak            6.2 KiB ->   12.5 KiB  +6.2 KiB (2.00x)$' bn.txt &&
        ! grep -q '^       leaked' bn.txt &&
        grep -q '^        grow_site (diff_work.c:[0-9]*)$' bn.txt &&
        ! grep -q 'fixed_site' bn.txt || { cat bn.txt; return 1; }
    "$P" diff -q b.trace b.trace >bb.txt || return 1
    grep -q '^no site changed$' bb.txt || { cat bb.txt; return 1; }
}
check "text: the grown site with its stack, nothing else; a trace against itself: no change" text_says

# exit status of `diff --fail-on=... b.trace NEW`: "RULES NEW WANT"
gate() {
    while read -r rules new want; do
        args=
        for r in $(echo "$rules" | tr , ' '); do args="$args --fail-on=$r"; done
        # shellcheck disable=SC2086
        base=b.trace
        [ "$new" = n_as_base ] && base=n.trace new=b
        "$P" diff -q $args $base $new.trace >gate.txt 2>&1
        rc=$?
        [ $rc -eq "$want" ] || { echo "--fail-on=$rules $new: exit $rc, want $want"; return 1; }
    done <<'EOF2'
growth:50 n 1
growth:99 n 1
growth:100 n 0
bytes:60 n 1
bytes:70 n 0
allocations:62 n 1
allocations:63 n 0
leaked:0 n 0
added n 0
added v 1
growth:1000 v 1
peak:70,added n 0
peak:10,added n 1
growth:0 b 0
growth:0 n_as_base 0
growth:19 m 1
growth:20 m 0
EOF2
    "$P" diff -q --fail-on=growth:50 --fail-on=bytes:70 b.trace n.trace >g.txt
    [ $? -eq 1 ] || return 1
    grep -q '^  growth:50            FAILED  1 site, first grown grow_site (diff_work.c:[0-9]*)$' g.txt &&
        grep -q '^  bytes:70             passed  total bytes 9.1 KiB -> 15.3 KiB (1.69x)$' g.txt &&
        grep -q '^  result               FAILED (exit 1)$' g.txt || { cat g.txt; return 1; }
    "$P" diff -q --fail-on=growth:50 --format=json b.trace n.trace >g.json
    [ $? -eq 1 ] || return 1
    python3 -c '
import json, sys
g = json.load(open("g.json"))["gate"]
assert g == {"failed": True, "rules": [{"rule": "growth:50", "failed": True, "sites": 1}]}, g'
}
check "gate: --fail-on rules and their exit codes" gate

thresholds() {
    "$P" diff -q --threshold=100 --format=json b.trace n.trace >t.json || return 1
    summary t.json | tail -1 | grep -qx 'counts 0 0 0 0 0 3' || return 1
    "$P" diff -q --threshold=99 --format=json b.trace n.trace >t.json || return 1
    summary t.json | tail -1 | grep -qx 'counts 1 0 0 0 0 2' || return 1
    "$P" diff -q --min-bytes=6401 --format=json b.trace n.trace >t.json || return 1
    summary t.json | tail -1 | grep -qx 'counts 0 0 0 0 0 3' || return 1
    "$P" diff -q --match=function --format=json b.trace n.trace >t.json || return 1
    python3 -c '
import json
d = json.load(open("t.json"))
assert d["match"] == "function" and d["counts"]["grown"] == 1, d["counts"]
assert d["sites"][0]["key"].startswith("grow_site (diff_work.c);main (diff_work.c);"), d["sites"][0]["key"]'
}
check "--threshold, --min-bytes, --match=function" thresholds

profile() {
    "$P" diff -q --format=folded --metric=new_bytes b.trace n.trace >p.txt || return 1
    grep -q ';main;grow_site 12800$' p.txt || { cat p.txt; return 1; }
    "$P" diff -q --format=folded --metric=base_allocations b.trace n.trace >p.txt || return 1
    grep -q ';main;grow_site 100$' p.txt || { cat p.txt; return 1; }
}
check "profile: both runs' values per site (folded --metric=base_/new_)" profile

bad_input() {
    echo "not a trace" >junk.trace
    for args in "missing.trace n.trace" "b.trace junk.trace"; do
        # shellcheck disable=SC2086
        "$P" diff $args >out.txt 2>err.txt
        rc=$?
        f=${args#b.trace }
        f=${f% n.trace}
        [ $rc -eq 2 ] && [ ! -s out.txt ] && [ "$(wc -l <err.txt)" -eq 1 ] &&
            grep -q "^perfshim: diff: $f: " err.txt || { echo "$args: exit $rc"; cat err.txt; return 1; }
    done
    "$P" diff b.trace >/dev/null 2>&1
    [ $? -eq 2 ] || return 1
    # a cut trace: compared with a warning, but a gate refuses it unless --allow-partial
    head -c $(($(wc -c <b.trace) * 3 / 4)) b.trace >cut.trace
    "$P" diff -q cut.trace n.trace >/dev/null 2>err.txt || return 1
    grep -q '^perfshim: warning: partial trace: cut.trace: ' err.txt || return 1
    "$P" diff -q --fail-on=growth:1000 cut.trace n.trace >/dev/null 2>err.txt
    [ $? -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] &&
        grep -q '^perfshim: diff: partial trace: cut.trace: .*--allow-partial' err.txt || return 1
    "$P" diff -q --allow-partial --fail-on=growth:0 n.trace cut.trace >/dev/null 2>&1 ||
        return 1
    "$P" diff --fail-on=growth b.trace n.trace >/dev/null 2>err.txt
    [ $? -eq 2 ] && grep -q "bad --fail-on 'growth'" err.txt
}
check "bad input: one line naming the file, exit 2" bad_input

finish
