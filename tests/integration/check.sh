#!/bin/sh
# perfshim check: leak-free C and C++ programs pass with a budget of 0; leaks_basic fails with
# exit 1 naming the budget and the exact excess; suppressions and the app's own
# __lsan_default_suppressions() are honoured; a baseline with growth beyond tolerance fails;
# SARIF has the 2.1.0 required fields and points at the leak's line; JUnit XML parses;
# record --check gates in one step; bad input is exit 2 with one line; live-set snapshots
# report the growing site.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads
LB=$top_builddir/tests/integration/leaks_basic
SRC=$top_srcdir/tests/integration/leaks_basic.c
cd "$TMP" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

# leaks_basic (see its header): definite 984 + indirect 96 = 1080 bytes, of which the app's
# default suppressions take leak_calloc (100 bytes): 980 counted.
"$P" record -o "$TMP/lb.trace" -- "$LB" run 2>/dev/null || exit 99
"$P" record -o "$TMP/mt.trace" -- "$W/leakfree_mt" >/dev/null 2>&1 || exit 99

leakfree_c() { "$P" check mt.trace >out 2>err && grep -q '^perfshim check: PASS' out; }
check "a leak-free multithreaded C program passes with budget 0" leakfree_c

leakfree_cxx() {
    "$P" record -o "$TMP/cxx.trace" -- "$W/leakfree_cxx" >/dev/null 2>&1 &&
        "$P" check cxx.trace >out 2>err && grep -q '^perfshim check: PASS' out
}
check "a leak-free C++ program (threads, iostream, exceptions) passes with budget 0" leakfree_cxx

leak_fails() {
    "$P" check lb.trace >out 2>err
    [ $? -eq 1 ] &&
        grep -q 'FAIL  max-leaked-bytes: 980 bytes leaked (definite,indirect, not suppressed), limit 0: exceeded by 980 bytes' out &&
        grep -q 'suppressed: 100 bytes in 1 blocks' out &&
        sed -n '/^Top offending/,$p' out | sed -n 3p | grep -q '^        leak_malloc (leaks_basic.c:'
}
check "a leaking program fails with exit 1, the budget, the excess and the top stack" leak_fails

budget_holds() { "$P" check --max-leaked-bytes 980 lb.trace >out 2>err; }
check "a budget of exactly the leaked bytes passes" budget_holds

blocks_budget() {
    "$P" check --max-leaked-bytes 100000 --max-leaked-blocks 9 lb.trace >out 2>err
    [ $? -eq 1 ] && grep -q 'FAIL  max-leaked-blocks: 10 blocks leaked.*exceeded by 1 blocks' out
}
check "--max-leaked-blocks counts blocks (7 definite + 3 indirect after suppression)" blocks_budget

kinds() {
    "$P" check --leak-kinds=reachable --max-leaked-bytes 549 lb.trace >out 2>err
    [ $? -eq 1 ] && grep -q 'max-leaked-bytes: 550 bytes leaked (reachable' out
}
check "--leak-kinds=reachable counts the 550 reachable bytes" kinds

suppressed() {
    printf '# ours\nleak:leak_*\nleak:^list_head$\nleak:list_node\nrace:ignored\n' >supp.txt
    "$P" check --suppressions supp.txt lb.trace >out 2>err &&
        grep -q 'suppressed: 1080 bytes in 11 blocks' out
}
check "a suppressions file makes the leaking program pass" suppressed

supp_file_pattern() {
    printf 'leak:leaks_basic.c\n' >supp2.txt
    "$P" check --suppressions supp2.txt lb.trace >out 2>err
}
check "a pattern matches the source file of a frame" supp_file_pattern

supp_partial() {
    printf 'leak:list_\n' >supp3.txt
    "$P" check --suppressions supp3.txt lb.trace >out 2>err
    [ $? -eq 1 ] && grep -q 'exceeded by 852 bytes' out
}
check "suppressing only the lost list leaves 852 bytes" supp_partial

baseline_same() {
    "$P" report --format=json mt.trace >base.json &&
        "$P" check --baseline base.json mt.trace >out 2>err &&
        [ "$(grep -c '  pass  max-growth-' out)" -eq 3 ]
}
check "the same run against its own baseline passes" baseline_same

baseline_growth() {
    python3 - <<'PY' || return 1
import json
j = json.load(open("base.json"))
s = j["summary"]
s["peak_heap_bytes"] = int(s["peak_heap_bytes"] / 1.2)
json.dump(j, open("small.json", "w"))
PY
    "$P" check --baseline small.json --max-growth 10% mt.trace >out 2>err
    [ $? -eq 1 ] && grep -q 'FAIL  max-growth-peak-heap-bytes' out &&
        grep -q 'pass  max-growth-bytes-allocated' out &&
        "$P" check --baseline small.json --max-growth 25% mt.trace >/dev/null 2>&1
}
check "a baseline with peak growth beyond 10% fails, within 25% passes" baseline_growth

baseline_check_json() {
    "$P" check --format=json -o c.json mt.trace 2>err &&
        "$P" check --baseline c.json mt.trace >out 2>err
}
check "check --format=json output works as a baseline" baseline_check_json

sarif() {
    "$P" check --format=sarif -o r.sarif lb.trace 2>err
    [ $? -eq 1 ] || return 1
    line=$(grep -n 'return malloc(100)' "$SRC" | cut -d: -f1)
    python3 - "$line" <<'PY'
import json, sys
log = json.load(open("r.sarif"))
assert log["version"] == "2.1.0" and "$schema" in log
assert isinstance(log["runs"], list) and len(log["runs"]) == 1
run = log["runs"][0]
assert run["tool"]["driver"]["name"] == "perfshim"
rules = [r["id"] for r in run["tool"]["driver"].get("rules", [])]
results = run["results"]
assert len(results) == 6, len(results)  # 7 leak sites, leak_calloc suppressed
for r in results:
    assert r["message"]["text"]
    assert r["ruleId"] in rules and r["level"] in ("none", "note", "warning", "error")
    for loc in r.get("locations", []):
        pl = loc["physicalLocation"]
        assert pl["artifactLocation"]["uri"]
        assert pl["region"]["startLine"] >= 1
top = results[0]["locations"][0]["physicalLocation"]
assert top["artifactLocation"]["uri"].startswith("file:///")
assert top["artifactLocation"]["uri"].endswith("/leaks_basic.c"), top
assert top["region"]["startLine"] == int(sys.argv[1]), (top, sys.argv[1])
PY
}
check "SARIF 2.1.0 required fields, one result per site, the leak's file and line" sarif

junit() {
    "$P" check --format=junit -o r.xml --max-leaked-blocks 100 lb.trace 2>err
    [ $? -eq 1 ] || return 1
    python3 - <<'PY'
import xml.dom.minidom
d = xml.dom.minidom.parse("r.xml")
cases = d.getElementsByTagName("testcase")
assert [c.getAttribute("name") for c in cases] == ["max-leaked-bytes", "max-leaked-blocks",
                                                  "max-heap-errors"]
fails = d.getElementsByTagName("failure")
assert len(fails) == 1 and "exceeded by 980" in fails[0].getAttribute("message")
assert d.getElementsByTagName("testsuite")[0].getAttribute("failures") == "1"
PY
}
check "JUnit XML parses, one test case per budget, the failure says by how much" junit

record_check() {
    "$P" record -o "$TMP/r1.trace" --check --max-leaked-bytes 980 -- "$LB" run >/dev/null 2>&1 || return 1
    "$P" record -o "$TMP/r2.trace" --check -- "$LB" run >/dev/null 2>&1
    [ $? -eq 1 ] || return 1
    "$P" record -o "$TMP/r3.trace" --check -- sh -c 'exit 3' >/dev/null 2>&1
    [ $? -eq 3 ]
}
check "record --check: the gate's status, or the app's when the app failed" record_check

bad_input() {
    echo junk >junk.trace
    "$P" check junk.trace >out 2>err
    [ $? -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] || return 1
    "$P" check --max-leaked-bytes x lb.trace >/dev/null 2>&1
    [ $? -eq 2 ] || return 1
    "$P" check --baseline junk.trace lb.trace >/dev/null 2>err
    [ $? -eq 2 ] && grep -q 'baseline junk.trace' err || return 1
    "$P" check --suppressions /nonexistent lb.trace >/dev/null 2>&1
    [ $? -eq 2 ] || return 1
    printf 'leak\n' >badsupp.txt
    "$P" check --suppressions badsupp.txt lb.trace >/dev/null 2>&1
    [ $? -eq 2 ]
}
check "bad input or usage: exit 2" bad_input

no_scan() {
    PERFSHIM_LEAK_CHECK=0 "$P" record -o "$TMP/off.trace" -- "$LB" run 2>/dev/null &&
        ! "$P" dump off.trace | grep -q '^leak' || return 1
    "$P" check off.trace >/dev/null 2>err
    [ $? -eq 2 ] && grep -q 'no leak scan' err
}
check "PERFSHIM_LEAK_CHECK=0: no scan in the trace, and check says so (exit 2)" no_scan

snapshots() {
    PERFSHIM_SNAPSHOT_SIGNAL=12 "$P" record -o "$TMP/snap.trace" -- "$W/snapshot_grow" 2>/dev/null &&
        [ "$("$P" dump snap.trace | grep -c '^snapshot ')" -eq 3 ] &&
        "$P" report --format=json -o snap.json snap.trace || return 1
    python3 - <<'PY'
import json
j = json.load(open("snap.json"))
assert j["snapshots"] == 3
s = j["suspected_leaks"]
assert len(s) == 1, s
assert (s[0]["growth_bytes"], s[0]["first_bytes"], s[0]["last_bytes"], s[0]["last_blocks"]) == (2000, 1000, 3000, 30), s[0]
assert s[0]["stack"][0]["function"] == "grow_site"
PY
}
check "snapshots on a signal: the growing site, +2000 bytes over 3 snapshots" snapshots

finish
