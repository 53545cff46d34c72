#!/bin/sh
# LeakSanitizer's interface and knobs under the shim (tests/workloads/lsan_api.c, built
# without LSan and without -rdynamic): same stdout and status as natively; ignored objects,
# disabled regions, root regions, on-demand checks, the app's hooks found in .symtab, and
# LSAN_OPTIONS' suppressions / use_stacks; the verdicts exact.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
X=$top_builddir/tests/workloads/lsan_api
cd "$TMP" || exit 99

field() { tr ',{}' '\n\n\n' <"$2" | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | head -1; }

# run NAME ARGS...: native and traced stdout+status agree; the trace is NAME.trace
run() {
    tn=$1
    shift
    a=$("$X" "$@" 2>/dev/null; echo "status $?")
    b=$(PERFSHIM_OUTPUT="$TMP/$tn.trace" LD_PRELOAD=$PERFSHIM_LIB "$X" "$@" 2>"$tn.err"; echo "status $?")
    [ "$a" = "$b" ] || { echo "$tn: differs: $a / $b"; cat "$tn.err"; return 1; }
    "$P" report --format=json -q -o "$tn.json" "$tn.trace" 2>/dev/null
}

# classes NAME DEF_BLOCKS DEF_BYTES IND_BLOCKS IND_BYTES
classes() {
    got="$(field leaked_definite_blocks "$1.json") $(field leaked_definite_bytes "$1.json") $(field leaked_indirect_blocks "$1.json") $(field leaked_indirect_bytes "$1.json")"
    [ "$got" = "$2 $3 $4 $5" ] || { echo "$1: $got, want $2 $3 $4 $5"; return 1; }
}

api() {
    run api api && classes api 4 263 1 36 &&
        grep -q '^recoverable 1$' api.err || { cat api.err; return 1; }
    "$P" dump api.trace 2>/dev/null | grep -a '^leak_scan' >scans
    [ "$(grep -c . scans)" = 2 ] && grep 'flags=0x80 ' scans | grep -q 'ignored_blocks=3' ||
        { cat scans; return 1; }
}
check "ignore_object, disable/enable, root regions (one unreadable), recoverable check" api

symtab_supp() {
    "$P" check -q api.trace >out 2>err
    [ $? -eq 1 ] && grep -q 'max-leaked-bytes: 188 bytes' out && grep -q 'suppressed: 111 bytes' out ||
        { cat out err; return 1; }
}
check "the app's __lsan_default_suppressions (not exported: found in .symtab) is honoured" symtab_supp

docheck() {
    run docheck docheck && classes docheck 1 40 0 0 &&
        "$P" dump docheck.trace 2>/dev/null | grep -a '^leak_scan' >scans &&
        [ "$(grep -c . scans)" = 1 ] && grep -q 'flags=0x90 ' scans || { cat scans; return 1; }
}
check "__lsan_do_leak_check records the scan then; the exit scan does not run" docheck

turned_off() {
    LSAN_TEST_OFF=1 run off api || return 1
    "$P" check -q off.trace >out 2>err || { cat out err; return 1; }
    "$P" dump off.trace 2>/dev/null | grep -a '^leak_scan' | grep -q 'flags=0x40 '
}
check "__lsan_is_turned_off (in .symtab) turns the exit scan off: check passes" turned_off

use_stacks() {
    run st0 stack && classes st0 1 40 0 0 || return 1
    LSAN_OPTIONS=use_stacks=0 run st1 stack && classes st1 2 96 0 0 || return 1
    LSAN_TEST_OPTS=use_stacks=0 run st2 stack && classes st2 2 96 0 0
}
check "LSAN_OPTIONS and __lsan_default_options use_stacks=0 leave the stacks out" use_stacks

supp_file() {
    printf 'leak:control\n' >my.supp
    LSAN_OPTIONS="suppressions=$TMP/my.supp" run sf stack || return 1
    "$P" check -q sf.trace >out 2>err || { cat out err; return 1; }
    grep -q 'suppressed: 40 bytes in 1 blocks' out
}
check "LSAN_OPTIONS suppressions=FILE goes into the trace and check honours it" supp_file
finish
