#!/bin/sh
# PERFSHIM_FOLLOW_EXEC under bash (issue 12): bash exports its own setenv/unsetenv and builds
# every exec's environment from its own variable table, so the shim must take itself out of
# the environment bash starts from, not only through unsetenv. A loop of 20 /bin/true:
# FOLLOW_EXEC=0 leaves no trace of /bin/true (bash's own trace and those of its fork children,
# which are bash too, remain); FOLLOW_EXEC=1 traces each of the 20.
. "$top_srcdir/tests/integration/lib.sh"
cd "$TMP"
command -v bash >/dev/null || { echo "SKIP: no bash"; exit 77; }
[ -x /bin/true ] || { echo "SKIP: no /bin/true"; exit 77; }

# count_exe DIR: traces in DIR by program (one "COUNT EXE" line each)
count_exe() {
    for f in "$1"/*.trace*; do
        [ -e "$f" ] || continue
        "$PERFSHIM_BIN" dump "$f" 2>/dev/null | head -1 | sed -n 's/.* exe="\([^"]*\)".*/\1/p'
    done | sort | uniq -c
}

loop() {
    follow=$1 want=$2
    rm -rf "f$follow" && mkdir "f$follow"
    script='for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do /bin/true; done; echo done'
    native=$(bash -c "$script") || return 1
    traced=$(PERFSHIM_FOLLOW_EXEC=$follow PERFSHIM_OUTPUT="$TMP/f$follow/t.%p.trace" \
        LD_PRELOAD=$PERFSHIM_LIB bash -c "echo \$\$ >pid; $script") || return 1
    [ "$native" = "$traced" ] || { echo "output differs: $native / $traced"; return 1; }
    counts=$(count_exe "f$follow")
    n_true=$(echo "$counts" | awk '$2 ~ /\/true$/ {n += $1} END {print n + 0}')
    n_bash=$(echo "$counts" | awk '$2 ~ /\/bash$/ {n += $1} END {print n + 0}')
    [ "$n_true" -eq "$want" ] && [ "$n_bash" -ge 1 ] || { echo "FOLLOW_EXEC=$follow:"; echo "$counts"; return 1; }
    # bash's own trace is complete
    "$PERFSHIM_BIN" report "f$follow/t.$(cat pid).trace" >/dev/null 2>rep.err || { cat rep.err; return 1; }
    ! grep -q partial rep.err || { cat rep.err; return 1; }
}
check "bash loop, FOLLOW_EXEC=0: no /bin/true traced" loop 0 0
check "bash loop, FOLLOW_EXEC=1: each /bin/true traced" loop 1 20
finish
