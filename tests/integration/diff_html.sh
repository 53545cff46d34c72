#!/bin/sh
# `perfshim diff BASE NEW --format=html` (issue 17): the differential flame graph's page, on
# tests/workloads/diff_work.c as tests/integration/diff.sh (FACTOR 1 and 2: grow_site doubles,
# 100 -> 200 blocks of 64 B; VARIANT a and b: only_a removed, only_b added). The page is
# self-contained, its document is byte for byte the one --format=json writes, and its profile
# holds every site's base_X and new_X values, exactly the workload's. The browser checks
# (colours, hover, zoom, search) are in tests/integration/html_browser.sh.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads/diff_work
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
cd "$TMP" || exit 99
"$P" record -o b.trace -- "$W" 1 a >/dev/null 2>&1 || exit 99
"$P" record -o n.trace -- "$W" 2 a >/dev/null 2>&1 || exit 99
"$P" record -o v.trace -- "$W" 1 b >/dev/null 2>&1 || exit 99

written() {
    "$P" diff -q --format=html b.trace n.trace >bn.html 2>e && [ ! -s e ] || return 1
    "$P" diff -q --format=html -o bn2.html b.trace n.trace || return 1
    cmp -s bn.html bn2.html && head -1 bn.html | grep -q '^<!DOCTYPE html>$' &&
        tail -1 bn.html | grep -q '^</html>$' || return 1
    # the gate's exit status holds with the page as output (1: a rule failed)
    "$P" diff -q --format=html --fail-on=growth:50 -o gate.html b.trace n.trace
    [ $? -eq 1 ] && tail -1 gate.html | grep -q '^</html>$' &&
        "$P" diff --help | grep -q '^      html  *self-contained HTML page'
}
check "diff --format=html (stdout, -o, with a failing gate) writes the page; --help lists it" written

self_contained() {
    # as tests/integration/html.sh: no URL but the SVG namespace's, scripts and styles inline
    [ "$(grep -o 'https\?://[^"'"'"' ]*' bn.html | grep -vx 'http://www.w3.org/2000/svg' | wc -l)" -eq 0 ] &&
        ! grep -qi '<script[^>]* src=\|<link \|<img \|<iframe\|@import\|url(' bn.html &&
        [ "$(grep -c '<script' bn.html)" -eq 2 ] && [ "$(grep -c '<style>' bn.html)" -eq 1 ] &&
        [ "$(wc -c <bn.html)" -lt 200000 ]
}
check "the page is self-contained and small (< 200 kB)" self_contained

# The embedded blob of page $1, as JSON on stdout.
blob() {
    python3 - "$1" <<'PY'
import json, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r'<script type="application/json" id="perfshim-data">\n(.*?)\n</script>', page, re.S)
assert "<" not in m.group(1), "a '<' in the blob could end its <script>"
json.dump(json.loads(m.group(1)), sys.stdout)
PY
}

# check_profile BLOB JSON SELECT SITE=VALUES...: the profile's types come in base_/new_ pairs,
# SELECT the one selected (--metric), the root holds the document's totals, and each named
# site's frame (there is one) holds VALUES: base,new of allocations, bytes, peak and leaked.
check_profile() {
    python3 - "$@" <<'PY'
import json, sys
b, doc = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert b["report"] == doc, "the page's document is not --format=json's"
p = b["profile"]
M = ["allocations", "bytes", "peak", "leaked"]
assert p["types"] == [w + "_" + x for x in M for w in ("base", "new")], p["types"]
assert p["types"][p["select"]] == sys.argv[3], p["select"]
nodes, S, V = p["nodes"], p["strings"], p["values"]
for x, key in zip(M, ["allocations", "bytes", "peak_bytes", "leaked_bytes"]):
    t = doc["totals"][key]
    if x != "peak": # the peak of the whole run is not the sum of the sites' peaks
        assert [V[p["types"].index(w + "_" + x)][0] for w in ("base", "new")] == [t["base"], t["new"]], (x, t)
def vals(fn):
    i = [i for i in range(1, len(nodes) // 3) if S[nodes[3 * i + 1]] == fn]
    assert len(i) == 1, (fn, i)
    return [V[k][i[0]] for k in range(len(p["types"]))]
for arg in sys.argv[4:]:
    fn, want = arg.split("=")
    got = vals(fn)
    assert got == [int(v) for v in want.split(",")], (fn, got, want)
PY
}

grown() {
    "$P" diff -q --format=json b.trace n.trace >bn.json && blob bn.html >bn.blob || return 1
    # grow_site: 100 -> 200 allocations, 6400 -> 12800 bytes and peak; fixed_site unchanged,
    # one 32-byte block of 50 leaked in both runs
    check_profile bn.blob bn.json new_bytes grow_site=100,200,6400,12800,6400,12800,0,0 \
        fixed_site=50,50,1600,1600,1600,1600,32,32 only_a=10,10,1280,1280,1280,1280,0,0
}
check "the profile's pairs: grow_site base 100/new 200 allocations, 6400/12800 bytes" grown

added_removed() {
    "$P" diff -q --format=html --metric=base_allocations b.trace v.trace >bv.html &&
        "$P" diff -q --format=json b.trace v.trace >bv.json && blob bv.html >bv.blob || return 1
    # VARIANT b: only_a (10 x 128 B) removed, only_b (20 x 256 B) added
    check_profile bv.blob bv.json base_allocations only_a=10,0,1280,0,1280,0,0,0 \
        only_b=0,20,0,5120,0,5120,0,0 grow_site=100,100,6400,6400,6400,6400,0,0
}
check "added and removed sites: one run's values only; --metric selects the one drawn first" added_removed

finish
