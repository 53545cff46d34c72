#!/bin/sh
# Formats as plug-ins (issue 15): `stats`, the throw-away format, is one file
# (analyzer/formats/stats.c) plus one line of analyzer/formats/formats.def, and with nothing
# else it is reachable from report, check and locks and listed in their --help; a format is
# refused by a command the table does not list it for, with one line naming the accepted ones.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
LB=$top_builddir/tests/integration/leaks_basic
A=$top_srcdir/analyzer
cd "$TMP" || exit 99
"$P" record -o lb.trace -- "$LB" run 2>/dev/null || exit 99

one_file_one_line() {
    # the format's name appears in the analyzer's sources in exactly these two files ...
    [ "$(grep -rlw stats "$A" | sed "s|^$A/||" | sort | tr '\n' ' ')" = \
        "formats/formats.def formats/stats.c " ] || return 1
    # ... and on one line of the table
    [ "$(grep -cw stats "$A/formats/formats.def")" -eq 1 ]
}
check "stats is defined by formats/stats.c and one line of formats/formats.def, nowhere else" one_file_one_line

reachable() {
    "$P" report -q --format=stats lb.trace >r.out 2>r.err || return 1
    grep -q '^summary values=[1-9]' r.out && grep -q '^sites values=[1-9]' r.out &&
        grep -q '^locks values=0 lists=1 objects=0$' r.out && grep -q '^total values=' r.out ||
        return 1
    "$P" check -q --format=stats lb.trace >c.out 2>c.err
    [ $? -eq 1 ] || return 1 # leaks_basic leaks: the verdict's status, whatever the format
    grep -q '^budgets values=[1-9]' c.out && grep -q '^total values=' c.out || return 1
    "$P" locks -q --format=stats lb.trace >l.out 2>l.err || return 1
    grep -q '^lock_summary values=6 lists=0 objects=1$' l.out && grep -q '^total values=' l.out
}
check "--format=stats is reachable from report, check and locks" reachable

helps() {
    for c in report check locks; do
        "$P" $c --help >h.$c || return 1
        grep -q '^      stats ' h.$c && grep -q '^      json ' h.$c || return 1
    done
    grep -q '^      folded ' h.report && ! grep -q '^      folded ' h.locks &&
        grep -q '^      sarif ' h.check && ! grep -q '^      sarif ' h.report || return 1
    "$P" --help >h.main || return 1
    grep -q '^  report \[--format=text|json|folded|stats|speedscope|pprof|chrome-trace|massif|html\] ' h.main &&
        grep -q '^  check \[--format=text|json|sarif|junit|stats\] ' h.main &&
        grep -q '^  locks \[--format=text|json|stats|chrome-trace\] ' h.main
}
check "--help of report, check and locks, and perfshim --help, list the formats from the table" helps

refused() {
    "$P" locks --format=folded lb.trace >o 2>e
    [ $? -eq 2 ] && [ "$(wc -l <e)" -eq 1 ] &&
        grep -q "unknown --format 'folded' (one of: text json stats chrome-trace)" e || return 1
    "$P" report --format=sarif lb.trace >o 2>e
    [ $? -eq 2 ] && grep -q "unknown --format 'sarif' (one of: text json folded stats speedscope pprof chrome-trace massif html)" e
}
check "a format the table does not list for a command is refused, naming the accepted ones" refused

finish
