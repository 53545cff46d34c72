#!/bin/sh
# unwind_same -- the stack cache (PERFSHIM_UNWIND=auto, the default) records exactly the
# stacks a full libunwind walk records (PERFSHIM_UNWIND=libunwind): tests/workloads/
# stack_paths (one caller reached through two equal frames, mutual recursion along different
# paths, 30-frame stacks, alloca frames, a qsort callback from libc, a signal handler, C++
# exceptions, two threads), built with frame pointers and without. Every heap event's stack,
# its addresses made module-relative (ASLR), is the same multiset in both traces; and the
# cache answered most events (the walks libunwind made are counted, PERFSHIM_LOG=2).
. "${top_srcdir:-.}/tests/integration/lib.sh"
cd "$TMP" || exit 99
W=$top_builddir/tests/workloads

# events TRACE: "kind fn size frames" per heap event, frames as module+offset
events() {
    "$PERFSHIM_BIN" dump "$1" >"$1.dump"
    awk '
    function hex(s,   v, i) { v = 0; s = tolower(s); sub(/^0x/, "", s)
        for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
        return v }
    function frames(id,   n, a, k, v, m, best, out) {
        if (id in done) return done[id]
        n = split(raw[id], a, ","); out = ""
        for (k = 1; k <= n; k++) { v = hex(a[k]); best = 0
            for (m = 1; m <= nm; m++) if (base[m] <= v && (best == 0 || base[m] > base[best])) best = m
            out = out (k > 1 ? ";" : "") (best ? name[best] "+" sprintf("%x", v - base[best]) : a[k]) }
        return done[id] = out }
    FNR == NR && $1 == "module" { for (i = 1; i <= NF; i++) { if ($i ~ /^base=/) b = substr($i, 6); if ($i ~ /^path=/) p = $i }
        nm++; base[nm] = hex(b); name[nm] = p; next }
    FNR == NR && $1 == "stack" { for (i = 1; i <= NF; i++) { if ($i ~ /^id=/) id = substr($i, 4); if ($i ~ /^ips=/) raw[id] = substr($i, 5) }; next }
    FNR == NR { next }
    /^(alloc|realloc|free) / { st = ""; line = $1 " " $2
        for (i = 1; i <= NF; i++) { if ($i ~ /^stack=/) st = substr($i, 7); if ($i ~ /^size=/) line = line " " $i }
        print line, (st == "" || st == "0" ? "-" : frames(st)) }' "$1.dump" "$1.dump" | sort
}

for v in fp nofp; do
    P=$W/stack_paths_$v
    [ -x "$P" ] || exit 99
    "$P" >native.$v.out || { echo "native $v run failed"; exit 99; }
    # sse2: the cache's check without AVX2 (what a CPU without it runs; PERFSHIM_UCACHE_AVX2=0)
    for m in libunwind auto sse2; do
        u=$m avx=1
        [ "$m" = sse2 ] && u=auto avx=0
        PERFSHIM_LOG=2 PERFSHIM_UNWIND=$u PERFSHIM_UCACHE_AVX2=$avx PERFSHIM_OUTPUT="$TMP/$m.$v.trace" \
            PERFSHIM_FREE_STACKS=2 LD_PRELOAD="$PERFSHIM_LIB" "$P" >"$m.$v.out" 2>"$m.$v.err"
        events "$m.$v.trace" >"$m.$v.ev"
    done
    same_output() { cmp -s "native.$1.out" "libunwind.$1.out" && cmp -s "native.$1.out" "auto.$1.out" &&
        cmp -s "native.$1.out" "sse2.$1.out"; }
    check "$v: the same output natively and under both stack captures" same_output $v
    same_stacks() {
        n=$(wc -l <"auto.$1.ev")
        [ "$n" -gt 4000 ] || { echo "only $n events"; return 1; }
        cmp -s "libunwind.$1.ev" "auto.$1.ev" || { diff "libunwind.$1.ev" "auto.$1.ev" | head -5; return 1; }
        echo "$1: $n events, their stacks identical"
    }
    check "$v: every event's stack the same with the cache as with libunwind alone" same_stacks $v
    same_sse2() {
        cmp -s "libunwind.$1.ev" "sse2.$1.ev" || { diff "libunwind.$1.ev" "sse2.$1.ev" | head -5; return 1; }
    }
    check "$v: the same with the cache's SSE2 check (PERFSHIM_UCACHE_AVX2=0)" same_sse2 $v
    cache_used() {
        walks=$(sed -n 's/.*stacks walked by libunwind: \([0-9]*\).*/\1/p' "auto.$1.err")
        n=$(wc -l <"auto.$1.ev")
        echo "$1: $walks walks for $n events"
        [ -n "$walks" ] && [ "$walks" -lt $((n / 4)) ]
    }
    check "$v: the cache answered most events (fewer walks than a quarter of the events)" cache_used $v
done
finish
