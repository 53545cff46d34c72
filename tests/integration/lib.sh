# lib.sh -- helpers for the shell tests: `check NAME CMD...` runs CMD and counts a pass or a
# failure; `finish` prints the totals and exits with automake's code (0 pass, 1 fail).
: "${PERFSHIM_BIN:?run through make check}" "${PERFSHIM_LIB:?run through make check}"
n_pass=0
n_fail=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/perfshim-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
check() {
    name=$1
    shift
    if "$@"; then
        n_pass=$((n_pass + 1))
        echo "PASS: $name"
    else
        n_fail=$((n_fail + 1))
        echo "FAIL: $name"
    fi
}
finish() {
    echo "$n_pass passed, $n_fail failed"
    [ "$n_fail" -eq 0 ]
}
