#!/bin/sh
# The perfshim command line: record, dump, exit codes, and clear one-line errors.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
cd "$TMP" || exit 99

record_prints_path() {
    "$P" record -o "$TMP/t.%p.trace" -- /bin/true 2>err || return 1
    f=$(sed -n 's/^perfshim: trace written to //p' err)
    [ -f "$f" ] && [ "$(stat -c %a "$f")" = 600 ]
}
check "record writes a 0600 trace and prints its path" record_prints_path

record_returns_status() {
    "$P" record -o "$TMP/s.%p.trace" -- sh -c 'exit 7' 2>/dev/null
    [ $? -eq 7 ]
}
check "record returns the app's exit status" record_returns_status

output_unchanged() {
    printf '3\n1\n2\n' >in.txt
    sort in.txt >native.txt
    "$P" record -o "$TMP/o.%p.trace" -- sort in.txt >traced.txt 2>/dev/null &&
        cmp -s native.txt traced.txt
}
check "the app's output is unchanged" output_unchanged

dump_complete() {
    "$P" record -o "$TMP/d.trace" -- ls / >/dev/null 2>&1 || return 1
    "$P" dump "$TMP/d.trace" >dump.txt || return 1
    grep -q '^trace version=4 ' dump.txt && grep -q '^alloc fn="malloc" ' dump.txt &&
        grep -q '^module .*path="/usr/bin/ls"' dump.txt && grep -q '^end ' dump.txt
}
check "dump decodes a complete trace (exit 0)" dump_complete

dump_truncated() {
    size=$(stat -c %s "$TMP/d.trace")
    head -c $((size - 10)) "$TMP/d.trace" >cut.trace
    "$P" dump cut.trace >cut.txt 2>cut.err
    rc=$?
    [ $rc -eq 1 ] && [ "$(wc -l <cut.err)" -eq 1 ] && grep -q 'cut.trace: offset [0-9]' cut.err &&
        grep -q '^alloc ' cut.txt
}
check "dump of a cut trace prints what it can, one error line, exit 1" dump_truncated

dump_errors() {
    "$P" dump /nonexistent.trace 2>e1; r1=$?
    "$P" dump /etc/passwd 2>e2; r2=$?
    "$P" frobnicate 2>e3; r3=$?
    [ $r1 -eq 2 ] && [ $r2 -eq 2 ] && [ $r3 -eq 2 ] &&
        grep -q nonexistent.trace e1 && grep -q 'not a perfshim trace' e2 && grep -q frobnicate e3
}
check "missing file, non-trace, unknown command: exit 2 with the reason" dump_errors

bad_env_warns() {
    PERFSHIM_DEPTH=abc PERFSHIM_OUTPUT="$TMP/b.trace" LD_PRELOAD=$PERFSHIM_LIB /bin/true 2>w.err &&
        [ "$(grep -c 'PERFSHIM_DEPTH' w.err)" -eq 1 ] && [ -f "$TMP/b.trace" ]
}
check "a bad PERFSHIM_ value warns once and records with the default" bad_env_warns

unwritable_output() {
    out=$(PERFSHIM_OUTPUT=/nonexistent/dir/x.trace LD_PRELOAD=$PERFSHIM_LIB /bin/echo hello 2>u.err) &&
        [ "$out" = hello ] && grep -q 'cannot create trace file' u.err
}
check "an unwritable output warns and the app runs on" unwritable_output

never_overwrites() {
    echo keep >taken.trace
    PERFSHIM_OUTPUT="$TMP/taken.trace" LD_PRELOAD=$PERFSHIM_LIB /bin/true 2>/dev/null &&
        [ "$(cat taken.trace)" = keep ] && [ -f taken.trace.1 ]
}
check "an existing file is never overwritten" never_overwrites

symlink_not_followed() {
    ln -sf "$TMP/victim" link.trace
    PERFSHIM_OUTPUT="$TMP/link.trace" LD_PRELOAD=$PERFSHIM_LIB /bin/true 2>/dev/null
    [ ! -e "$TMP/victim" ]
}
check "a symlink at the output path is not followed" symlink_not_followed

disabled() {
    PERFSHIM_ENABLE=0 PERFSHIM_OUTPUT="$TMP/none.trace" LD_PRELOAD=$PERFSHIM_LIB /bin/true &&
        [ ! -e "$TMP/none.trace" ]
}
check "PERFSHIM_ENABLE=0 records nothing" disabled

script_name() {
    printf '#!/bin/sh\nexit 0\n' >myscript.sh && chmod +x myscript.sh
    "$P" record -- ./myscript.sh 2>err && grep -q 'trace written to perfshim.myscript.sh.[0-9]*.trace' err
}
check "record names a #! script's trace after the script" script_name

depth_limit() {
    PERFSHIM_DEPTH=3 PERFSHIM_OUTPUT="$TMP/depth.trace" LD_PRELOAD=$PERFSHIM_LIB /bin/ls / >/dev/null &&
        "$P" dump "$TMP/depth.trace" >depth.txt &&
        awk '/^stack / {split($3, a, "="); if (a[2] > 3) bad++; n++} END {exit !(n > 0 && !bad)}' depth.txt
}
check "PERFSHIM_DEPTH bounds the recorded frames" depth_limit

finish
