#!/bin/sh
# trace_bytes -- scripts/trace-bytes (where a trace's bytes go, column by column) encodes and
# compresses a trace's events again as the writer does (its compression loop is a copy of
# writer.c's compress_columns, with per-column counts): on traces this tree's shim just wrote
# (churn, 1 and 2 threads) it must come to the file's size to the byte, its column shares must
# add up to its total, and it must say what it could not read.
. "${top_srcdir:-.}/tests/integration/lib.sh"
cd "$TMP" || exit 99
W=$top_builddir/tests/workloads
TB=$top_srcdir/scripts/trace-bytes

# same_size THREADS: the re-encoded size is the file's, the columns add up
same_size() {
    PERFSHIM_OUTPUT="$TMP/c$1.trace" LD_PRELOAD=$PERFSHIM_LIB "$W/churn_bench" "$1" 30000 12 \
        >/dev/null 2>&1 || return 1
    sh "$TB" "$TMP/c$1.trace" >"c$1.out" 2>&1 || { cat "c$1.out"; return 1; }
    file=$(wc -c <"$TMP/c$1.trace")
    again=$(sed -n "s/^this tree's encoder .*: \([0-9]*\) bytes,.*/\1/p" "c$1.out")
    echo "churn $1 thread(s): file $file bytes, encoded again $again"
    [ -n "$again" ] && [ "$again" -eq "$file" ] || { cat "c$1.out"; return 1; }
    # every column's compressed bytes + headers = the columns' line + headers
    awk '$1 == "columns" { c = $2 }
         NF == 6 && $2 ~ /^[0-9]+$/ { sum += $3 }
         END { if (sum != c || c == 0) { print "columns sum " sum " != " c; exit 1 } }' "c$1.out"
}

check "a 1-thread churn trace encoded again comes to the file's size" same_size 1
check "a 2-thread churn trace encoded again comes to the file's size" same_size 2
check "a file that is no trace: a non-zero exit" sh -c "! sh '$TB' /etc/hostname >/dev/null 2>&1"
finish
