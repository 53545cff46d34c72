#!/bin/sh
# perfshim record tells the truth about its files: the path the shim actually wrote (PATH.1
# when PATH exists; every process's with PERFSHIM_FOLLOW_EXEC=1, each named after its own
# program), --check gates that trace, an output it cannot create and a static program are
# refused before anything runs (exit 2, one line).
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads
LB=$top_builddir/tests/integration/leaks_basic
cd "$TMP" || exit 99

existing_file() {
    "$P" record -o app.trace -- "$W/leakfree_mt" >/dev/null 2>&1 || return 1
    "$P" record -o app.trace --check -- -- "$LB" run >out 2>err
    rc=$?
    [ $rc -eq 1 ] && [ -f app.trace.1 ] && grep -q '^perfshim: trace written to app.trace.1$' err &&
        ! grep -q 'written to app.trace$' err && grep -q '^perfshim check: FAIL' out
}
check "an existing -o file: record names and gates the .1 trace it wrote" existing_file

refused() { # $1: the -o value, $2: the reason
    "$P" record -o "$1" -- sh -c 'touch ran' >out 2>err
    rc=$?
    [ $rc -eq 2 ] && [ ! -e ran ] && [ "$(wc -l <err)" -eq 1 ] && grep -q "$2" err
}
mkdir tdir
check "-o DIR is refused before the program runs (exit 2, one line)" refused tdir 'tdir: is a directory'
check "an unwritable -o is refused before the program runs" \
    refused /nonexistent/x.trace '/nonexistent/x.trace: cannot create a trace in /nonexistent: No such file'

static_program() {
    printf 'int main(void) { return 0; }\n' >st.c
    if ! ${CC:-cc} -static -o st st.c 2>/dev/null; then
        echo "(no static libc: skipped)"
        return 0
    fi
    "$P" record -- ./st >out 2>err
    [ $? -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] &&
        grep -q '^perfshim: record: ./st: statically linked: LD_PRELOAD cannot work$' err
}
check "a static program: record says LD_PRELOAD cannot work (exit 2)" static_program

elf32() { # only the header is read before the run: a 64-byte ELFCLASS32 executable header
    printf '\177ELF\001\001\001\000\000\000\000\000\000\000\000\000\002\000\003\000' >e32
    head -c 44 /dev/zero >>e32 && chmod +x e32
    "$P" record -- ./e32 >out 2>err
    [ $? -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q '^perfshim: record: ./e32: a 32-bit program' err
}
check "a 32-bit program: record says why before running it" elf32

# A wrapper script exec'ing the real program: with FOLLOW_EXEC each image writes its own trace,
# %e names it after that image, and record prints both.
exec_chain() {
    printf '#!/bin/sh\nexec "%s" run\n' "$LB" >wrap.sh && chmod +x wrap.sh
    PERFSHIM_FOLLOW_EXEC=1 "$P" record -o 'c.%e.%p.trace' -- ./wrap.sh >out 2>err
    a=$(sed -n 's/^perfshim: trace written to //p' err | sed -n 1p)
    b=$(sed -n 's/^perfshim: trace written to //p' err | sed -n 2p)
    n=$(grep -c 'trace written to' err)
    case $a in c.wrap.sh.[0-9]*.trace) ;; *) return 1 ;; esac
    case $b in c.leaks_basic.[0-9]*.trace) ;; *) return 1 ;; esac
    [ "$n" -eq 2 ] && [ -f "$a" ] && [ -f "$b" ] && [ "$(ls c.*.trace | wc -l)" -eq 2 ] &&
        "$P" dump "$b" | grep -q '^alloc ' && "$P" check "$b" >/dev/null 2>&1
    [ $? -eq 1 ] # leaks_basic's trace is the one that leaks
}
check "FOLLOW_EXEC=1: a wrapper script's exec chain, each trace named after its program" exec_chain

# --check gates the program's trace; the wrapper's, ended by the exec, has no leak scan to gate
exec_chain_check() {
    PERFSHIM_FOLLOW_EXEC=1 "$P" record -o 'g.%e.%p.trace' --check -- -- ./wrap.sh >out 2>err
    [ $? -eq 1 ] && grep -q '^perfshim check: FAIL' out &&
        grep -q 'max-leaked-bytes: 980 bytes leaked' out && ! grep -q 'no leak scan' err
}
check "FOLLOW_EXEC=1 --check gates the exec'd program's trace, not the wrapper's" exec_chain_check

exec_untraced() {
    "$P" record -o 'u.%e.%p.trace' -- ./wrap.sh >out 2>err
    [ "$(grep -c 'trace written to u.wrap.sh' err)" -eq 1 ] &&
        grep -q "1 process exec'd a program that was not traced (PERFSHIM_FOLLOW_EXEC=1" err
}
check "without FOLLOW_EXEC record says the exec'd program was not traced" exec_untraced

# Options anywhere, as GNU tools read them; `--` ends them.
options_after() {
    "$P" record -o opt.trace -- "$LB" run >/dev/null 2>&1 || return 1
    "$P" report opt.trace --format=json >r.json 2>/dev/null &&
        python3 -c 'import json,sys; json.load(open("r.json"))' 2>/dev/null || return 1
    "$P" report opt.trace --top 1 -q --stack-depth 2 >r.txt && grep -q '^perfshim heap report' r.txt || return 1
    "$P" check opt.trace --max-leaked-bytes 100000 >c.txt 2>c.err || return 1
    grep -q 'pass  max-leaked-bytes: 980 bytes leaked.*limit 100000' c.txt || return 1
    "$P" locks opt.trace --format=json >l.json && grep -q '"format":"perfshim-locks"' l.json || return 1
    "$P" dump opt.trace --help | grep -q '^usage: perfshim dump' || return 1
    "$P" report -- opt.trace >/dev/null 2>&1 || return 1
    # after `--` an option-looking word is a file name
    "$P" dump -- --format=json >/dev/null 2>e.txt
    [ $? -eq 2 ] && grep -q -- '--format=json: No such file' e.txt
}
check "every command reads options after the trace; -- ends them" options_after

# record's own options stop at PROGRAM: the program's arguments are passed unchanged.
record_args_intact() {
    "$P" record -o args.trace sh -c 'echo "$@"' sh -o x --format=json >out 2>/dev/null &&
        [ "$(cat out)" = "-o x --format=json" ] && [ -f args.trace ]
}
check "record keeps the program's own options intact" record_args_intact

# One step, like `heaptrack ./app`: record, the first screen of the report, the trace's path
# and the next commands; the exit status is the program's.
one_step() {
    mkdir os && cd os || return 1
    "$P" "$LB" run >out 2>err
    rc=$?
    cd .. || return 1
    t=$(sed -n 's/^trace: //p' os/out)
    case $t in perfshim.leaks_basic.[0-9]*.trace) ;; *) return 1 ;; esac
    [ $rc -eq 0 ] && [ -f "os/$t" ] && grep -q '^SUMMARY' os/out &&
        grep -q '^  definitely lost    984 bytes in 8 blocks' os/out &&
        grep -q '^TOP SITES BY ALLOCATIONS (5 of ' os/out && ! grep -q '^TIMELINE' os/out &&
        grep -q "^  perfshim check $t " os/out && grep -q "^  perfshim report $t " os/out &&
        grep -q "^perfshim: trace written to $t\$" os/err
}
check "perfshim PROGRAM records and prints the first screen, the trace and what next" one_step

one_step_dashdash() {
    mkdir os2 && cd os2 || return 1
    "$P" -- sh -c 'exit 3' >out 2>err
    rc=$?
    cd .. || return 1
    [ $rc -eq 3 ] && grep -q '^trace: perfshim.sh.[0-9]*.trace$' os2/out || return 1
    "$P" report >/dev/null 2>&1 # a command name stays the command
    [ $? -eq 2 ] || return 1
    "$P" nosuchprogram 2>e
    [ $? -eq 2 ] && grep -q "'nosuchprogram' is neither a command nor a program" e
}
check "perfshim -- PROGRAM returns its status; a command stays a command" one_step_dashdash

finish
