#!/bin/sh
# The leaks_basic workload under valgrind memcheck and under perfshim must agree on the
# definitely lost, indirectly lost and still reachable byte and block totals (and valgrind
# must see nothing "possibly lost"). Skipped without valgrind.
. "$top_srcdir/tests/integration/lib.sh"
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
P=$PERFSHIM_BIN
LB=$top_builddir/tests/integration/leaks_basic
cd "$TMP" || exit 99

agree() {
    valgrind -q --leak-check=full --show-leak-kinds=all --xml=yes --xml-file=vg.xml \
        "$LB" run >/dev/null 2>&1 || return 1
    "$P" record -o "$TMP/ps.trace" -- "$LB" run 2>/dev/null &&
        "$P" report --format=json -o ps.json ps.trace || return 1
    python3 - <<'PY'
import json, re, xml.dom.minidom
d = xml.dom.minidom.parse("vg.xml")
vg = {}
for e in d.getElementsByTagName("error"):
    kind = e.getElementsByTagName("kind")[0].firstChild.data
    if not kind.startswith("Leak_"):
        continue
    w = e.getElementsByTagName("xwhat")[0]
    b = int(w.getElementsByTagName("leakedbytes")[0].firstChild.data)
    # a definite record counts the indirect bytes it holds too: "128 (32 direct, 96 indirect)"
    m = re.search(r"\((\d+) direct, (\d+) indirect\)", w.getElementsByTagName("text")[0].firstChild.data)
    if m:
        b = int(m.group(1))
    n = int(w.getElementsByTagName("leakedblocks")[0].firstChild.data)
    t = vg.setdefault(kind, [0, 0])
    t[0] += b
    t[1] += n
s = json.load(open("ps.json"))["summary"]
ours = {
    "Leak_DefinitelyLost": [s["leaked_definite_bytes"], s["leaked_definite_blocks"]],
    "Leak_IndirectlyLost": [s["leaked_indirect_bytes"], s["leaked_indirect_blocks"]],
    "Leak_StillReachable": [s["reachable_bytes"], s["reachable_blocks"]],
}
print("valgrind:", vg)
print("perfshim:", ours)
assert vg.get("Leak_PossiblyLost", [0, 0]) == [0, 0]
for k, v in ours.items():
    assert vg.get(k, [0, 0]) == v, (k, vg.get(k), v)
assert ours["Leak_DefinitelyLost"] == [984, 8] and ours["Leak_IndirectlyLost"] == [96, 3]
PY
}
check "valgrind memcheck and perfshim agree on definite/indirect/reachable totals" agree
finish
