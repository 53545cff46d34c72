#!/bin/sh
# Real programs under the shim: the same output as without it, and `perfshim report` reads
# each trace. A program that is not installed is skipped with a note (scripts/test installs
# them: python3 perl git sqlite3; gdb where present).
. "$top_srcdir/tests/integration/lib.sh"
cd "$TMP"
n_skip=0

# same NAME CMD...: runs CMD natively and under the shim, compares stdout+status, reports the
# traces (every process the shim traced: PERFSHIM_OUTPUT has %p)
same() {
    p=$1
    shift
    a=$("$@" 2>&1; echo "status $?")
    b=$(PERFSHIM_OUTPUT="$TMP/$p.%p.trace" LD_PRELOAD=$PERFSHIM_LIB "$@" 2>"$TMP/$p.err"; echo "status $?")
    [ "$a" = "$b" ] || { echo "$p: output differs"; echo "$a" | head -5; echo "$b" | head -5; cat "$TMP/$p.err"; return 1; }
    set -- "$TMP/$p".*.trace
    [ -f "$1" ] || { echo "$p: no trace"; return 1; }
    for t in "$@"; do
        "$PERFSHIM_BIN" report "$t" >"$t.txt" 2>"$t.rep" || { echo "$p: report of $t failed"; cat "$t.rep"; return 1; }
        grep -q '^  allocations' "$t.txt" || return 1
    done
}

have() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "SKIP: $1 is not installed"
    n_skip=$((n_skip + 1))
    return 1
}

if have python3; then
    cat >threads.py <<'PY'
import threading
out = [0] * 8
def work(i):
    out[i] = sum(len(str(list(range(j % 97)))) for j in range(20000))
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(out)
PY
    check "python3 with 8 threads" same python3 python3 threads.py
fi
if have perl; then
    check "perl" same perl perl -e 'my %h; $h{$_ % 1000} .= "x" x ($_ % 50) for 1..200000; print scalar(keys %h), " ", length(join("", values %h)), "\n"'
fi
if have gcc; then
    printf '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n' >hello.c
    cc_same() {
        same gcc gcc -O2 -c hello.c -o hello.o && cp hello.o traced.o &&
            gcc -O2 -c hello.c -o hello.o && cmp -s hello.o traced.o
    }
    check "gcc compiles a file (same object)" cc_same
fi
if have git; then
    git_same() {
        mkdir repo && cd repo && git init -q . && echo a >a && echo b >b &&
            git add a && git -c user.name=t -c user.email=t@t commit -qm init && echo c >>a &&
            same git git status --porcelain=v1
        rc=$?
        cd "$TMP"
        return $rc
    }
    check "git status in a repository" git_same
fi
if have sqlite3; then
    sqlite3 db.sqlite 'create table t(a integer, b text);' &&
        sqlite3 db.sqlite "with recursive c(x) as (select 1 union all select x+1 from c where x < 5000) insert into t select x, hex(randomblob(16)) from c;"
    check "sqlite3 queries a small database" same sqlite3 sqlite3 db.sqlite 'select count(*), sum(a), count(distinct length(b)) from t; select a from t order by b limit 3 offset 100;'
fi
if have gdb; then
    # gdb looks at the fatal signals' handlers when it starts and warns of one "preinstalled":
    # the shim's crash handler must be invisible to it (hooks_sig.h), stderr included
    gdb_same() {
        a=$(gdb -nx --version 2>&1; echo "status $?")
        b=$(PERFSHIM_OUTPUT="$TMP/gdb.%p.trace" LD_PRELOAD=$PERFSHIM_LIB gdb -nx --version \
            2>&1; echo "status $?")
        [ "$a" = "$b" ] || { echo "gdb: output differs"; echo "$a" | head -3; echo "$b" | head -8; return 1; }
        set -- "$TMP"/gdb.*.trace
        [ -f "$1" ] || { echo "gdb: no trace"; return 1; }
    }
    check "gdb sees no preinstalled signal handler (stdout and stderr)" gdb_same
fi
echo "$n_skip skipped"
finish
