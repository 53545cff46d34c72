#!/bin/sh
# Symbolization of a C++ workload with known truth (tests/workloads/cxx_inline.cc): exact
# per-site totals, demangled names, an always-inlined allocation helper shown as an inlined
# frame at its own line with its caller at the call's line, allocator frames (operator new,
# malloc) cut; and every frame of every recorded address (inlined ones included) agrees with
# binutils' addr2line -i on file and line; without .debug_aranges, the same frames.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads/cxx_inline
SRC=$top_srcdir/tests/workloads/cxx_inline.cc
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
cd "$TMP" || exit 99
N=700
"$P" record -o "$TMP/cx.trace" -- "$W" $N >out.txt 2>err.txt || { cat err.txt; exit 1; }
"$P" report --format=json --top 1000 --stack-depth 1000 cx.trace >r.json 2>err.txt ||
    { cat err.txt; exit 1; }
line_of() { grep -n "// $1\$" "$SRC" | cut -d: -f1; }

sites_exact() {
    python3 - r.json "$N" "$(line_of LINE_MAKE_NODE)" "$(line_of LINE_FILL_CALL)" \
        "$(line_of LINE_MAKE_ARRAY)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); n = int(sys.argv[2])
l_node, l_fill, l_arr = map(int, sys.argv[3:6])
def first(s): return s["stack"][0] if s["stack"] else {}
ok = True
def expect(what, got, want):
    global ok
    if got != want:
        print("%s: got %r, want %r" % (what, got, want)); ok = False
node = [s for s in d["sites"] if first(s).get("function") == "make_node"]
expect("make_node sites", len(node), 1)
if node:
    s = node[0]; f0, f1 = s["stack"][0], s["stack"][1]
    expect("make_node allocations", s["allocations"], n)
    expect("make_node bytes", s["bytes"], 48 * n)
    expect("make_node not freed", s["not_freed_blocks"], 0)
    expect("frame 0 inlined", f0["inlined"], True)
    expect("frame 0 line", f0["line"], l_node)
    expect("frame 0 file", f0["file"].endswith("/cxx_inline.cc"), True)
    expect("frame 1 function", f1["function"], "shapes::Pool::fill(int)")
    expect("frame 1 line", f1["line"], l_fill)
    expect("frame 1 inlined", f1["inlined"], False)
arr = [s for s in d["sites"] if first(s).get("function") == "double* shapes::make_array<double>(unsigned long)"]
expect("make_array sites", len(arr), 1)
if arr:
    expect("make_array allocations", arr[0]["allocations"], 25)
    expect("make_array bytes", arr[0]["bytes"], 25 * 128)
    expect("make_array line", first(arr[0])["line"], l_arr)
res = [s for s in d["sites"] if any(f["function"] == "std::vector<shapes::Node*, std::allocator<shapes::Node*> >::reserve(unsigned long)" and f["inlined"] for f in s["stack"])]
expect("vector reserve sites", len(res), 1)
if res:
    expect("reserve bytes", res[0]["bytes"], 8 * n)
for s in d["sites"]:
    fn = first(s).get("function") or ""
    if fn.startswith("operator new") or fn == "malloc":
        print("allocator frame not cut:", fn); ok = False
sys.exit(0 if ok else 1)
PY
}
check "C++ sites: exact totals, demangled names, inlined helper with both lines" sites_exact

agrees_with_addr2line() {
    command -v addr2line >/dev/null || return 0
    python3 - r.json <<'PY'
import json, os, subprocess, sys
d = json.load(open(sys.argv[1]))
groups = {}
for s in d["sites"]:
    st, i = s["stack"], 0
    while i < len(st):
        j = i
        while j + 1 < len(st) and st[j]["inlined"]:
            j += 1
        groups[(st[i]["module"], st[i]["offset"])] = st[i:j + 1]
        i = j + 1
def debug_file(m):
    out = subprocess.run(["readelf", "-n", m], capture_output=True, text=True).stdout
    for l in out.splitlines():
        if "Build ID" in l:
            b = l.split()[-1]
            p = "/usr/lib/debug/.build-id/%s/%s.debug" % (b[:2], b[2:])
            if os.path.exists(p):
                return p
    return m
n = bad = 0
for (m, off), fr in groups.items():
    if not m or not m.startswith("/") or not (m.endswith("cxx_inline") or "/libc.so" in m):
        continue
    out = subprocess.run(["addr2line", "-i", "-e", debug_file(m), "0x%x" % (int(off, 16) - 1)],
                         capture_output=True, text=True).stdout.splitlines()
    want = []
    for l in out:
        f, _, ln = l.rpartition(":")
        ln = ln.split()[0]
        want.append((os.path.basename(f), int(ln) if ln.isdigit() else 0))
    got = [(os.path.basename(x["file"] or "??"), x["line"]) for x in fr]
    n += 1
    if want != got:
        bad += 1
        print("differs at %s+%s: addr2line %r, perfshim %r" % (os.path.basename(m), off, want, got))
print("%d addresses compared, %d differ" % (n, bad))
sys.exit(0 if n > 5 and bad == 0 else 1)
PY
}
check "every frame's file:line agrees with addr2line -i" agrees_with_addr2line

text_marks_inlined() {
    "$P" report --top 3 cx.trace 2>/dev/null | grep -q "make_node (cxx_inline.cc:$(line_of LINE_MAKE_NODE)) \[inlined\]"
}
check "the text report marks the inlined frame" text_marks_inlined

# core/dwarfinfo.c indexes CUs by .debug_aranges, else walks the CU headers: the same frames
no_aranges_same() {
    command -v objcopy >/dev/null || return 0
    mkdir -p "root$(dirname "$W")" &&
        objcopy --remove-section=.debug_aranges "$W" "root$W" || return 1
    "$P" report --top 1000 --stack-depth 1000 cx.trace 2>/dev/null | grep "cxx_inline.cc:" >a.txt
    "$P" report --sysroot "$TMP/root" --top 1000 --stack-depth 1000 cx.trace 2>/dev/null |
        grep "cxx_inline.cc:" >b.txt
    test -s a.txt && cmp -s a.txt b.txt
}
check "a module without .debug_aranges: the same frames" no_aranges_same
finish
