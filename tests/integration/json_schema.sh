#!/bin/sh
# JSON round trips (issue 15; docs/json-schema.md, tests/data/perfshim.schema.json): the
# documents of report, locks and check validate against the schema, in which every object
# requires all its members, on a trace without locks and without a leak scan, one with both,
# one with snapshots and the golden trace (heap errors); together they show every key of the
# schema. A path in UTF-8 reads back as itself, a byte that is not UTF-8 as \xNN, and the
# output is valid UTF-8. A --baseline with a member of the wrong type: exit 2, one line
# naming the member.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads
I=$top_builddir/tests/integration
SCHEMA=$top_srcdir/tests/data/perfshim.schema.json
cd "$TMP" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
PERFSHIM_LEAK_CHECK=0 "$P" record -o plain.trace -- "$W/demo" >/dev/null 2>&1 || exit 99
"$P" record -o both.trace -- "$I/locks_semantics" run >/dev/null 2>&1 || exit 99
PERFSHIM_SNAPSHOT_SIGNAL=12 "$P" record -o snap.trace -- "$W/snapshot_grow" >/dev/null 2>&1 ||
    exit 99
"$P" record -o lb.trace -- "$I/leaks_basic" run >/dev/null 2>&1 || exit 99

all_keys() {
    for t in plain both snap; do
        "$P" report -q --format=json $t.trace >$t.report.json || return 1
        "$P" locks -q --format=json $t.trace >$t.locks.json || return 1
    done
    "$P" report -q --format=json "$top_srcdir/tests/golden/synth.trace" >golden.report.json ||
        return 1
    "$P" check -q --format=json lb.trace >lb.check.json
    [ $? -eq 1 ] || return 1
    # a diff of two programs (added and removed sites) with a gate rule
    "$P" diff -q --format=json --fail-on=growth:10 plain.trace both.trace >pb.diff.json
    [ $? -le 1 ] || return 1
    "$P" record -o he.trace -- "$W/heap_errors" >/dev/null 2>&1 || return 1
    "$P" check -q --format=json he.trace >he.check.json # heap errors: their keys
    [ $? -eq 1 ] || return 1
    python3 - "$SCHEMA" <<'PY'
import glob, json, sys
schema = json.load(open(sys.argv[1]))
try:
    import jsonschema
    v = jsonschema.Draft4Validator(schema)
except ImportError:
    v = None
    print("(python3-jsonschema missing: key coverage only)")
docs = {f: json.load(open(f)) for f in sorted(glob.glob("*.json"))}
for f, d in docs.items():
    if v:
        errs = sorted(v.iter_errors(d), key=str)
        assert not errs, (f, errs[0].message)
    assert d["schema_version"] == 2, f

# every object schema requires all its members
def walk(s, path, out):
    s = resolve(s)
    if "oneOf" in s:
        for x in s["oneOf"]:
            walk(x, path, out)
        return
    for k, x in s.get("properties", {}).items():
        assert k in s.get("required", []), (path, k)
        out.add(path + "." + k)
        walk(x, path + "." + k, out)
    if "items" in s:
        walk(s["items"], path + "[]", out)
def resolve(s):
    while "$ref" in s:
        s = schema["definitions"][s["$ref"].split("/")[-1]]
    return s
def seen(x, path, out):
    if isinstance(x, dict):
        for k, y in x.items():
            out.add(path + "." + k)
            seen(y, path + "." + k, out)
    elif isinstance(x, list):
        for y in x:
            seen(y, path + "[]", out)
want = {}
for name in ("report", "locks", "check", "diff"):
    want[name] = set()
    walk(schema["definitions"][name], "", want[name])
got = {"report": set(), "locks": set(), "check": set(), "diff": set()}
for f, d in docs.items():
    seen(d, "", got[f.split(".")[1]])
# locks and condvars share one definition, and every stack the frame's: a key is shown
# when any of their uses shows it
def norm1(k):
    k = k.replace(".condvars[]", ".locks[]")
    return "<frame>" + k[k.rindex("stack[]") + 7:] if "stack[]" in k else k
norm = lambda keys: {norm1(k) for k in keys}
for name in want:
    missing = norm(want[name]) - norm(got[name])
    assert not missing, (name, sorted(missing)[:10])

plain, both = docs["plain.report.json"], docs["both.report.json"]
# no locks, no scan: the lock members are there, empty; leak entries have the one shape
assert plain["locks"] == [] and plain["lock_order_cycles"] == [] and plain["threads"] == []
assert plain["lock_summary"]["total_wait_ns"] == 0
assert plain["summary"]["leak_scan"] is False and plain["summary"]["leaked_definite_bytes"] is None
assert plain["leaks"] and all(e["kind"] == "not_freed" and e["held_by"] is None for e in plain["leaks"])
assert both["summary"]["leak_scan"] is True and both["locks"] and both["lock_order_cycles"]
assert set(plain["leaks"][0]) == set(both["leaks"][0]), "leak entries change shape"
assert docs["snap.report.json"]["suspected_leaks"]
PY
}
check "report, locks, check JSON: schema-valid, every key of the schema present (no locks + no scan, both, snapshots, errors)" all_keys

utf8_paths() {
    good=$(printf 'd\303\251/pr\303\266g') # dé/prög
    bad=$(printf 'in\377valid')            # a byte that is no UTF-8
    ctl=$(printf 'c\177\302\205\342\202\254') # DEL, U+0085 (a C1 control), U+20AC
    mkdir -p "$good" "$bad" "$ctl" || return 1
    for d in "$good" "$bad" "$ctl"; do cp "$W/demo" "$d/demo" || return 1; done
    PERFSHIM_LEAK_CHECK=0 "$P" record -o good.trace -- "./$good/demo" >/dev/null 2>&1 &&
        PERFSHIM_LEAK_CHECK=0 "$P" record -o bad.trace -- "./$bad/demo" >/dev/null 2>&1 &&
        PERFSHIM_LEAK_CHECK=0 "$P" record -o ctl.trace -- "./$ctl/demo" >/dev/null 2>&1 ||
        return 1
    for t in good bad ctl; do "$P" report -q --format=json $t.trace >$t.out || return 1; done
    # through -o (safeout's filter) too: the controls are escaped by JSON before it
    "$P" report -q --format=json -o ctl.file ctl.trace || return 1
    python3 - <<'PY'
import json
for f in ("good.out", "bad.out", "ctl.out", "ctl.file"):
    raw = open(f, "rb").read()
    raw.decode("utf-8")  # valid UTF-8, whatever the path's bytes
good = json.loads(open("good.out", "rb").read())
bad = json.loads(open("bad.out", "rb").read())
assert good["trace"]["exe"].endswith("/d\u00e9/pr\u00f6g/demo"), good["trace"]["exe"]  # no mojibake
assert "d\u00e9/pr\u00f6g" in open("good.out", encoding="utf-8").read()  # as characters
assert bad["trace"]["exe"].endswith("/in\\xffvalid/demo"), bad["trace"]["exe"]  # \xNN
for f in ("ctl.out", "ctl.file"):
    raw = open(f, "rb").read()
    assert b"\x7f" not in raw and b"\xc2\x85" not in raw, f  # no raw DEL or C1 control
    ctl = json.loads(raw)
    assert ctl["trace"]["exe"].endswith("/c\x7f\x85\u20ac/demo"), (f, ctl["trace"]["exe"])
PY
}
check "a UTF-8 path reads back as itself, an invalid byte as \\xNN, the output is valid UTF-8" utf8_paths

baseline_types() {
    "$P" check -q lb.trace >/dev/null 2>&1
    for bad in '"peak_heap_bytes":"12","bytes_allocated":1,"allocations":1:summary.peak_heap_bytes:a string' \
               '"peak_heap_bytes":12,"bytes_allocated":true,"allocations":1:summary.bytes_allocated:a boolean' \
               '"peak_heap_bytes":12,"bytes_allocated":1,"allocations":-3:summary.allocations:-3' \
               '"peak_heap_bytes":1.5,"bytes_allocated":1,"allocations":1:summary.peak_heap_bytes:1.5' \
               '"peak_heap_bytes":12,"bytes_allocated":1,"allocations":[1]:summary.allocations:a list'; do
        members=${bad%%:summary.*}
        rest=${bad#"$members":}
        key=${rest%%:*}
        what=${rest#*:}
        printf '{"summary":{%s}}\n' "$members" >b.json
        "$P" check -q --baseline b.json lb.trace >o 2>e
        [ $? -eq 2 ] && [ "$(wc -l <e)" -eq 1 ] && grep -qF "\"$key\" is $what" e ||
            { echo "  $members: $(cat e)"; return 1; }
    done
    printf '{"summary":[1]}\n' >b.json
    "$P" check -q --baseline b.json lb.trace >o 2>e
    [ $? -eq 2 ] && grep -q '"summary" is a list, expected an object' e
}
check "a --baseline with a member of the wrong type: exit 2, one line naming the member" baseline_types

finish
