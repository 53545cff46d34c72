#!/bin/sh
# The exit scan on programs whose exit is hard on it (tests/workloads/leak_cases.c,
# leak_ownmalloc.c): every case runs natively and under the shim with the same output and exit
# status, the trace has a scan, and its definite/indirect blocks and bytes are the truth below
# (each case leaks one 40-byte control block; see the program for what else it leaves).
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads
cd "$TMP" || exit 99

# field KEY FILE: a number of the report's JSON summary
field() { tr ',{}' '\n\n\n' <"$2" | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | head -1; }

# traced NAME ARGS...: native and traced runs agree; the traces are $TMP/NAME.*.trace
traced() {
    tn=$1
    shift
    a=$("$@" 2>/dev/null; echo "status $?")
    b=$(PERFSHIM_OUTPUT="$TMP/$tn.%p.trace" LD_PRELOAD=$PERFSHIM_LIB "$@" 2>"$TMP/$tn.err"; echo "status $?")
    [ "$a" = "$b" ] || { echo "$tn: native and traced differ:"; echo "$a" | tail -3; echo "--"; echo "$b" | tail -3; cat "$TMP/$tn.err"; return 1; }
    echo "$tn: $b" | tr '\n' ' '
    echo
}

# scan TRACE DEF_BLOCKS DEF_BYTES IND_BLOCKS IND_BYTES
scan() {
    "$P" report --format=json -q -o "$1.json" "$1" 2>"$1.rerr" || { cat "$1.rerr"; return 1; }
    got="$(field leaked_definite_blocks "$1.json") $(field leaked_definite_bytes "$1.json") $(field leaked_indirect_blocks "$1.json") $(field leaked_indirect_bytes "$1.json")"
    [ "$got" = "$2 $3 $4 $5" ] || { echo "$1: definite/indirect blocks bytes: $got, want $2 $3 $4 $5"; return 1; }
}

# one NAME WANT_DEF_BLOCKS DEF_BYTES IND_BLOCKS IND_BYTES CASE...: one process
one() {
    n=$1
    shift 5
    traced "$n" "$W/leak_cases" "$@" || return 1
    set -- "$TMP/$n".*.trace
    [ $# -eq 1 ] && [ -f "$1" ] || { echo "$n: want one trace: $*"; return 1; }
    eval "scan \"\$1\" $want"
}

case1() { want="$2 $3 $4 $5"; one "$@"; }

check "a live block with a PROT_NONE page inside: exit 0, scan complete" case1 protnone 1 40 0 0 protnone
check "exit() on a makecontext coroutine's mmap'ed stack: status 3" case1 coroutine 1 40 0 0 coroutine
check "exit() on a coroutine stack carved from a malloc'ed block: status 3" case1 coheap 1 40 0 0 coroutine-heap
check "exit() from a SIGUSR1 handler on a sigaltstack: status 4" case1 altstack 1 40 0 0 altstack
check "main thread's pthread_setspecific values (keys 1 and 39) are reachable" case1 tsd 1 40 0 0 tsd
check "main thread's __thread pointer when another thread calls exit()" case1 tls 1 40 0 0 tls
check "a thread that only slept since it started holds its block" case1 sleeper 1 40 0 0 sleeper
check "a thread still in its TSD destructor holds its value" case1 dtor 1 40 0 0 dtor
check "a pointer in a dead frame below a thread's sp keeps nothing" case1 deadframe 2 128 0 0 deadframe
check "pointers in freed blocks (tcache, fastbin, moved by realloc) keep nothing" case1 dangling 4 112 0 0 dangling
check "a pointer in an anonymous mmap (an interpreter's arena) is a root" case1 anon 1 40 0 0 anon

check "unreachable cycles are cliques as memcheck has them (4 definite, 6 indirect)" case1 cycles 4 264 6 432 cycles
check "leaks after a dlopen, their stacks from the stack cache, are the app's (3 x 24 definite)" case1 afterdlopen 4 112 0 0 afterdlopen "$W/.libs/libleaktls.so"

# the same cycles under memcheck: the same definite and indirect totals
cycles_memcheck() {
    command -v valgrind >/dev/null || { echo "no valgrind: memcheck comparison skipped"; return 0; }
    valgrind --leak-check=full "$W/leak_cases" cycles >/dev/null 2>vg.txt || return 1
    # "definitely lost: 264 bytes in 4 blocks", "indirectly lost: 432 bytes in 6 blocks"
    vg="$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p' vg.txt | tr -d ,) $(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p' vg.txt | tr -d ,)"
    [ "$vg" = "4 264 6 432" ] || { echo "memcheck: $vg"; cat vg.txt | tail -12; return 1; }
}
check "memcheck agrees on the cycles' definite and indirect blocks and bytes" cycles_memcheck

# suppressing a leak suppresses what it holds (LSan): leak:cyc_a takes a1, a2 and the B
# cycle a1 holds; left: c1 c2 x y control = 408 bytes in 5 blocks
supp_held() {
    set -- "$TMP"/cycles.*.trace
    printf 'leak:cyc_a\n' >cyc.supp
    "$P" check -q --suppressions cyc.supp "$1" >out 2>err
    [ $? -eq 1 ] && grep -q 'max-leaked-bytes: 408 bytes' out && grep -q 'max-leaked-blocks: 5 blocks' out ||
        { cat out err; return 1; }
}
check "suppressing a leak suppresses the indirect leaks it holds" supp_held

# a leaked malloc(0) fails the default gate (blocks budget 0)
zero_block() {
    case1 zero 1 0 0 0 zero || return 1
    set -- "$TMP"/zero.*.trace
    "$P" check -q "$1" >out 2>err
    [ $? -eq 1 ] && grep -q 'FAIL  max-leaked-blocks: 1 blocks' out || { cat out err; return 1; }
}
check "a leaked malloc(0) block fails check by default" zero_block

fork_child() {
    traced fork "$W/leak_cases" fork || return 1
    set -- "$TMP"/fork.*.trace
    [ $# -eq 2 ] || { echo "want 2 traces: $*"; return 1; }
    ok=0
    for t in "$@"; do
        "$P" report --format=json -q -o "$t.json" "$t" 2>/dev/null || return 1
        got="$(field leaked_definite_blocks "$t.json") $(field leaked_definite_bytes "$t.json")"
        case $got in
        "1 120") ok=$((ok + 1)) ;;                                  # the parent
        "2 160") grep -q '"inherited":true' "$t.json" && ok=$((ok + 1)) ;; # the child
        *) echo "$t: definite $got" ;;
        esac
    done
    [ $ok -eq 2 ]
}
check "a fork child's scan has the blocks it inherited, marked inherited" fork_child

ownmalloc() {
    traced own "$W/leak_ownmalloc" || return 1
    set -- "$TMP"/own.*.trace
    "$P" report --format=json -q -o own.json "$1" 2>/dev/null && grep -q '"leaked_definite_blocks":0' own.json
}
check "a program with its own malloc/free/calloc/realloc exits 0 with a scan" ownmalloc

# no memory left for the scan at exit (an address-space limit the app sets): the program exits
# as natively, the trace has an ABORTED scan, and check gives no verdict (exit 2, one line)
nomem() {
    traced nomem "$W/leak_cases" nomem || return 1
    set -- "$TMP"/nomem.*.trace
    "$P" dump "$1" 2>/dev/null | grep -a '^leak_scan' | grep -q 'flags=0x4 ' || return 1
    "$P" check -q "$1" >out 2>err
    [ $? -eq 2 ] && grep -q 'the leak scan could not run' err || { cat out err; return 1; }
}
check "a scan without memory says so in the trace; the program exits 0; check: no verdict" nomem

# jemalloc preloaded before the shim: threads first reach the shim through jemalloc's own
# mutexes (the lock hook's lazy attach, inside the allocator): attaching must not allocate
jemalloc_first() {
    je=$(ls /usr/lib/*/libjemalloc.so.2 /usr/lib/libjemalloc.so.2 2>/dev/null | head -1)
    [ -n "$je" ] || { echo "no libjemalloc.so.2: skipped"; return 0; }
    a=$("$W/leak_cases" threads 20 2>/dev/null; echo "status $?")
    b=$(PERFSHIM_OUTPUT="$TMP/je.trace" LD_PRELOAD="$je $PERFSHIM_LIB" "$W/leak_cases" threads 20 2>je.err; echo "status $?")
    [ "$a" = "$b" ] || { echo "jemalloc first: $a / $b"; cat je.err; return 1; }
    "$P" dump je.trace 2>/dev/null | grep -aq '^leak_scan'
}
check "jemalloc preloaded first, threads attached from inside it: status 0, a scan" jemalloc_first

# jemalloc linked, threads allocating with mallocx: their first event is a lock hook inside
# jemalloc, where the first unwind (libunwind's thread block comes from malloc) must not happen
mallocx_threads() {
    a=$("$top_builddir/tests/workloads/je_mallocx" 2>&1; echo "status $?")
    for i in 1 2 3; do
        b=$(PERFSHIM_OUTPUT="$TMP/mx$i.trace" LD_PRELOAD="$PERFSHIM_LIB" \
            "$top_builddir/tests/workloads/je_mallocx" 2>mx.err; echo "status $?")
        [ "$a" = "$b" ] || { echo "mallocx: $a / $b"; cat mx.err; return 1; }
        "$P" check -q --max-leaked-bytes 1000000000 --max-leaked-blocks 1000000000 "$TMP/mx$i.trace" >/dev/null 2>&1
        [ $? -le 1 ] || { echo "mallocx: trace $i unreadable"; return 1; }
    done
}
check "jemalloc linked, mallocx from 8 threads: output and status as native, the trace readable" mallocx_threads

# 500 idle threads at exit: the native status, the scan complete, and the traced run's peak
# RSS bounded (the scan reads only resident pages from each thread's stack pointer up: it
# used to fault in all of every 8 MiB stack, 4.24 GB).
threads500() {
    case1 threads 1 40 0 0 threads 500 || return 1
    if [ -x /usr/bin/time ]; then
        PERFSHIM_OUTPUT="$TMP/rss.trace" LD_PRELOAD=$PERFSHIM_LIB /usr/bin/time -f '%M' -o rss.txt "$W/leak_cases" threads 500 >/dev/null 2>&1
        /usr/bin/time -f '%M' -o rss0.txt "$W/leak_cases" threads 500 >/dev/null 2>&1
        echo "peak RSS KiB: native $(cat rss0.txt), traced $(cat rss.txt)"
        [ "$(cat rss.txt)" -lt 262144 ] || { echo "traced peak RSS over 256 MiB"; return 1; }
    fi
}
check "500 idle threads at exit: status 0, scan exact, peak RSS bounded" threads500
finish
