#!/bin/sh
# Oracle (slow: scripts/test runs it, not `make check`): real programs from Debian under
# valgrind memcheck (--leak-check=full --trace-children=yes) and under the shim
# (PERFSHIM_FOLLOW_EXEC=1): every process's definitely and indirectly lost blocks and bytes
# must be memcheck's (processes matched by argv[0]'s base name, then by their numbers).
# Inputs are tiny: about 1.5 min on 2 busy cores. A program that is not installed is skipped.
# memcheck runs with --run-libc-freeres=no: both tools then look at the heap the program left.
# glibc's __libc_freeres (memcheck's default) calls clearenv(), which frees environ's array,
# so a string the program putenv()ed (gcc's driver does, for MAKEFLAGS) would be definitely
# lost to memcheck while environ still pointed to it when the program exited.
. "$top_srcdir/tests/integration/lib.sh"
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 77; }
P=$PERFSHIM_BIN
cd "$TMP" || exit 99

num() { tr ',{}' '\n\n\n' <"$2" | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | head -1; }

# oracle NAME CMD...: the per-process lines "argv0 def_blocks def_bytes ind_blocks ind_bytes"
oracle() {
    on=$1
    shift
    mkdir "$on" || return 1
    valgrind --leak-check=full --run-libc-freeres=no --trace-children=yes --log-file="$on/vg.%p" "$@" \
        >/dev/null 2>&1 </dev/null
    for f in "$on"/vg.*; do
        grep -q "HEAP SUMMARY" "$f" || continue # an exec'ed-away image: no leak check
        exe=$(sed -n 's/^==[0-9]*== Command: \([^ ]*\).*/\1/p' "$f" | head -1)
        d=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p' "$f" | tr -d ,)
        i=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p' "$f" | tr -d ,)
        echo "${exe##*/} ${d:-0 0} ${i:-0 0}"
    done | sort >"$on/memcheck"
    PERFSHIM_FOLLOW_EXEC=1 PERFSHIM_OUTPUT="$TMP/$on/ps.%p.trace" LD_PRELOAD=$PERFSHIM_LIB "$@" \
        >/dev/null 2>&1 </dev/null
    for t in "$on"/ps.*.trace "$on"/ps.*.trace.[0-9]*; do # after an exec: PID.trace.N
        [ -f "$t" ] || continue
        "$P" report --format=json -q -o "$t.json" "$t" 2>/dev/null || continue
        grep -q '"leaked_definite_blocks":[0-9]' "$t.json" || continue # exec'ed away
        exe=$("$P" dump "$t" 2>/dev/null | sed -n '1s/^trace .* cmdline="\([^" ]*\).*/\1/p')
        echo "${exe##*/} $(num leaked_definite_blocks "$t.json") $(num leaked_definite_bytes "$t.json") $(num leaked_indirect_blocks "$t.json") $(num leaked_indirect_bytes "$t.json")"
    done | sort >"$on/perfshim"
    echo "$on memcheck: $(tr '\n' ';' <"$on/memcheck")"
    echo "$on perfshim: $(tr '\n' ';' <"$on/perfshim")"
    [ -s "$on/perfshim" ] && cmp -s "$on/memcheck" "$on/perfshim"
}

have() { command -v "$1" >/dev/null 2>&1 || { echo "SKIP: $1 is not installed"; return 1; }; }

printf 'import json\nd = {str(i): [i] * 3 for i in range(300)}\nprint(len(json.dumps(d)))\n' >s.py
[ -x /usr/bin/python3 ] && check "python3 script.py" oracle py /usr/bin/python3 s.py
[ -x /usr/bin/python3 ] && check "python3 -c" oracle pyc /usr/bin/python3 -c 'print(sum(range(10)))'
have perl && check "perl" oracle perl perl -e 'my %h; $h{$_} = $_ x 3 for 1 .. 500; print scalar(keys %h), "\n"'
have sort && check "sort" oracle sort sort /etc/passwd
have bash && check "bash with a subshell" oracle bash bash -c 'x=$(echo a b); echo "$x"'
have sqlite3 && check "sqlite3" oracle sqlite sqlite3 :memory: 'create table t(a); insert into t values (1), (2); select sum(a) from t;'
have git && check "git" oracle git git --version
if have gcc; then
    printf 'int main(void) { return 0; }\n' >t.c
    # gcc's driver reads MAKEFLAGS (make check may pass a jobserver): the plain case without
    # it, whoever runs the test; then with a jobserver it cannot use (GCC 12 takes only
    # --jobserver-auth=R,W, checking both descriptors), which it drops by
    # putenv()ing a new MAKEFLAGS (reachable from environ) and leaking its copy (definite)
    check "gcc -c with its children (the driver, cc1, as)" oracle gcc \
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL gcc -c t.c -o t.o
    check "gcc -c with MAKEFLAGS naming a jobserver it cannot use" oracle gccjobs \
        env -u MFLAGS -u MAKELEVEL MAKEFLAGS=' -j2 --jobserver-auth=fifo:/nonexistent' gcc -c t.c -o t.o
fi
finish
