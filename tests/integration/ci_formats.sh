#!/bin/sh
# CI formats at the edges: SARIF with --source-root (relative URIs, originalUriBaseIds, rules
# with help, no placeholder informationUri) validated against the SARIF 2.1.0 schema subset in
# tests/data; --gen-suppressions writes an LSan file that makes a second check pass; dump
# quotes the allocation function's name.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads
LB=$top_builddir/tests/integration/leaks_basic
SCHEMA=$top_srcdir/tests/data/sarif-2.1.0-subset.schema.json
cd "$TMP" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
"$P" record -o lb.trace -- "$LB" run 2>/dev/null || exit 99

sarif_root() {
    "$P" check -q --format=sarif --source-root "$top_srcdir" -o r.sarif lb.trace
    [ $? -eq 1 ] || return 1
    root=$(cd "$top_srcdir" && pwd -P)
    python3 - "$SCHEMA" "$root" <<'PY'
import json, sys
log = json.load(open("r.sarif"))
try:
    import jsonschema
except ImportError:
    jsonschema = None
    print("(python3-jsonschema missing: structural checks only)")
if jsonschema:
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(log)
run = log["runs"][0]
driver = run["tool"]["driver"]
assert "example.invalid" not in json.dumps(driver), driver.get("informationUri")
rules = driver["rules"]
for r in rules:
    assert r["help"]["text"] and r["shortDescription"]["text"], r
base = run["originalUriBaseIds"]["SRCROOT"]["uri"]
assert base == "file://" + sys.argv[2] + "/", base
results = run["results"]
assert len(results) == 6, len(results)
for res in results:
    assert rules[res["ruleIndex"]]["id"] == res["ruleId"], res
    al = res["locations"][0]["physicalLocation"]["artifactLocation"]
    assert al == {"uri": "tests/integration/leaks_basic.c", "uriBaseId": "SRCROOT"}, al
PY
}
check "SARIF --source-root: relative URIs under originalUriBaseIds, rules with help, schema-valid" sarif_root

sarif_bad_root() {
    "$P" check -q --format=sarif --source-root /nonexistent lb.trace >out 2>err
    [ $? -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q -- '--source-root /nonexistent' err
}
check "an unusable --source-root is exit 2, one line" sarif_bad_root

gen_supp() {
    "$P" check -q --gen-suppressions gen.supp lb.trace >out 2>err
    [ $? -eq 1 ] || return 1
    # LSan syntax: comments and leak:PATTERN lines only
    ! grep -v -e '^#' -e '^leak:' gen.supp || return 1
    [ "$(grep -c '^leak:' gen.supp)" -eq 6 ] && grep -q '^leak:^leak_malloc\$$' gen.supp || return 1
    "$P" check -q --suppressions gen.supp lb.trace >out2 2>err2 &&
        grep -q '^perfshim check: PASS' out2
}
check "--gen-suppressions writes an LSan file that makes a second check pass" gen_supp

dump_quotes() {
    "$P" record -o cxx.trace -- "$W/leakfree_cxx" >/dev/null 2>&1 || return 1
    "$P" dump cxx.trace >d.txt || return 1
    grep -q '^free fn="operator delete(sized)" ts=' d.txt && grep -q '^alloc fn="operator new" ' d.txt &&
        ! grep -q 'fn=[^"]' d.txt
}
check "dump quotes the allocation function: fn=\"operator delete(sized)\"" dump_quotes

finish
