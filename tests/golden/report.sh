#!/bin/sh
# report.sh -- golden test of `perfshim report`: the stored synthetic trace synth.trace (made by
# gen_synth.c: fixed addresses, modules that do not exist) must give exactly the stored
# outputs, in every format, whole and cut short. `make regen-golden` (REGEN=1) rewrites them;
# review the diff by hand: the totals are worked out in gen_synth.c and below.
#
# Truth for synth.trace (by hand): 10 allocations, 5694 bytes, 6 frees, 1 failed allocation,
# 1 unmatched free; peak 5538 bytes at +9100 ns; 4 blocks / 4372 bytes live at the end;
# stacks 1 and 2 are one site (2's top frame is in libperfshim.so).
set -u
: "${top_srcdir:?}" "${PERFSHIM_BIN:?}"
golden=$top_srcdir/tests/golden
tmp=$(mktemp -d "${TMPDIR:-/tmp}/perfshim-golden.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
cp "$golden/synth.trace" "$tmp/synth.trace" || exit 99
size=$(wc -c < "$tmp/synth.trace")
head -c $((size - 20)) "$tmp/synth.trace" > "$tmp/synth-cut.trace" || exit 99
fail=0

# check NAME EXPECTED_EXIT ARGS...: runs the report in $tmp (so messages name relative paths)
check() {
    name=$1 want=$2
    shift 2
    (cd "$tmp" && "$PERFSHIM_BIN" report "$@" > "$name.out" 2> "$name.err")
    rc=$?
    if [ "$rc" != "$want" ]; then
        echo "FAIL: $name: exit $rc, expected $want"; cat "$tmp/$name.err"; fail=1
    fi
    if [ "${REGEN:-0}" = 1 ]; then
        cp "$tmp/$name.out" "$golden/$name.expected"
    elif ! diff -u "$golden/$name.expected" "$tmp/$name.out"; then
        echo "FAIL: $name: output differs from $golden/$name.expected"; fail=1
    fi
}

check synth.json 0 --format=json synth.trace
check synth.txt 0 synth.trace
check synth.folded 0 --format=folded --metric=bytes synth.trace
check synth-peak.folded 0 --format=folded --metric=peak --stack-depth 1 synth.trace
check synth-cut.json 0 --format=json synth-cut.trace
# the same outputs when chunks are decompressed on the caller's thread (one CPU)
if [ "${REGEN:-0}" != 1 ]; then
    PERFSHIM_NO_PREFETCH=1 check synth.json 0 --format=json synth.trace
    PERFSHIM_NO_PREFETCH=1 check synth-cut.json 0 --format=json synth-cut.trace
fi

# one warning per missing module, none twice
n=$(grep -c 'warning: /nonexistent/lib.*: not found; frames show module+offset' "$tmp/synth.txt.err")
[ "$n" = 2 ] || { echo "FAIL: $n module warnings, expected 2"; cat "$tmp/synth.txt.err"; fail=1; }
# the cut trace: partial, a warning naming the offset, and still a report
grep -q 'warning: partial trace: .*offset [0-9]' "$tmp/synth-cut.json.err" ||
    { echo "FAIL: no partial warning with an offset"; cat "$tmp/synth-cut.json.err"; fail=1; }
grep -q '"complete":false,"partial_reason":' "$tmp/synth-cut.json.out" ||
    { echo "FAIL: cut trace not reported as partial"; fail=1; }
# input errors: one line, exit 2
(cd "$tmp" && "$PERFSHIM_BIN" report missing.trace > /dev/null 2> missing.err)
rc=$?
[ "$rc" = 2 ] && [ "$(wc -l < "$tmp/missing.err")" = 1 ] && grep -q '^perfshim: ' "$tmp/missing.err" ||
    { echo "FAIL: missing trace: exit $rc"; cat "$tmp/missing.err"; fail=1; }
printf 'not a trace at all, just text\n' > "$tmp/text.trace"
(cd "$tmp" && "$PERFSHIM_BIN" report text.trace > /dev/null 2> text.err)
rc=$?
[ "$rc" = 2 ] && grep -q 'not a perfshim trace' "$tmp/text.err" ||
    { echo "FAIL: not a trace: exit $rc"; cat "$tmp/text.err"; fail=1; }
(cd "$tmp" && "$PERFSHIM_BIN" report --format=xml synth.trace > /dev/null 2>&1)
[ $? = 2 ] || { echo "FAIL: bad --format accepted"; fail=1; }

[ "$fail" = 0 ] && echo "report golden: ok"
exit $fail
