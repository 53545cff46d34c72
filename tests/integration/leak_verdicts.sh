#!/bin/sh
# The leak scan's verdicts by address (LEAK_BLOCKS, trace version 4), read with `perfshim dump`:
# tests/workloads/leak_verdicts.c prints the address of each block whose verdict it knows; the
# last entry for each address must have that kind, possible flag and (indirect) holder chain
# ending at the definite block that holds it, and the LEAK_SCAN totals must be the entries'.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
W=$top_builddir/tests/workloads
cd "$TMP" || exit 99
N=70000

# verdicts DUMP: one line per scan's block with an entry, "scan ptr kind possible root", root
# the ptr that following holders ends at (a definite block's own ptr; "-" for reachable); then
# per scan "total scan KEY VALUE" for LEAK_SCAN's fields and "records scan N".
verdicts() {
    awk '
    /^leak_scan / {
        s++; ne = 0
        for (i = 2; i <= NF; i++) { split($i, kv, "="); print "total", s, kv[1], kv[2] }
        next
    }
    /^leak_blocks / {
        rec[s]++
        n = split($0, parts, "[")
        for (i = 2; i <= n; i++) {
            e = parts[i]; sub(/\].*/, "", e)
            m = split(e, f, " ")
            k = s SUBSEP ne
            kind[k] = f[1]; hold[k] = -1; poss[k] = 0
            for (j = 2; j <= m; j++) {
                if (f[j] ~ /^ptr=/) ptr[k] = substr(f[j], 5)
                else if (f[j] ~ /^holder=/) hold[k] = substr(f[j], 8) + 0
                else if (f[j] == "possible") poss[k] = 1
            }
            last[s, ptr[k]] = ne
            cnt[s] = ++ne
        }
    }
    END {
        for (t = 1; t <= s; t++) {
            print "records", t, rec[t] + 0
            for (e = 0; e < cnt[t]; e++) {
                k = t SUBSEP e
                if (last[t, ptr[k]] != e) continue   # replaced by a later entry
                root = "-"
                if (kind[k] == "definite") root = ptr[k]
                if (kind[k] == "indirect") {
                    c = k
                    for (steps = 0; steps < 100 && kind[c] == "indirect"; steps++)
                        c = t SUBSEP last[t, ptr[t SUBSEP hold[c]]]
                    root = kind[c] == "definite" ? ptr[c] : "BROKEN"
                }
                print t, ptr[k], kind[k], poss[k], root
            }
        }
    }'
}

# want SCAN NAME KIND POSSIBLE ROOTNAME: NAME's last entry in scan SCAN
want() {
    a=$(sed -n "s/^$2 //p" out)
    r=-
    [ "$5" = - ] || r=$(sed -n "s/^$5 //p" out)
    got=$(awk -v s="$1" -v a="$a" '$1 == s && $2 == a { print $3, $4, $5 }' v.txt)
    [ "$got" = "$3 $4 $r" ] || { echo "scan $1: $2 ($a): got '$got', want '$3 $4 $r'"; return 1; }
}

total() { awk -v s="$1" -v k="$2" '$1 == "total" && $2 == s && $3 == k { print $4 }' v.txt; }

# scan_ok S: the verdicts of scan S
scan_ok() {
    s=$1
    want "$s" d1 definite 0 d1 && want "$s" i1 indirect 0 d1 && want "$s" i2 indirect 0 d1 &&
        want "$s" y definite 0 y && want "$s" x indirect 0 y && want "$s" xi indirect 0 y &&
        want "$s" d2 definite 0 d2 && want "$s" i3 indirect 1 d2 &&
        want "$s" r1 reachable 1 - && want "$s" w definite 0 w &&
        want "$s" b1 reachable 1 - && want "$s" d3 definite 0 d3 && want "$s" b2 indirect 1 d3 &&
        want "$s" w0 indirect 0 w && want "$s" wlast indirect 0 w || return 1
    # LEAK_SCAN: by address, its totals those of the program and of the entries
    fl=$(total "$s" flags)
    [ $((fl & 0x80)) -ne 0 ] || { echo "scan $s: flags $fl, no BY_ADDRESS"; return 1; }
    got="$(total "$s" definite_blocks) $(total "$s" definite_bytes) $(total "$s" indirect_blocks) $(total "$s" indirect_bytes)"
    exp="5 $((248 + 8 * N)) $((6 + N)) $((100160 + 16 * N))"
    [ "$got" = "$exp" ] || { echo "scan $s: definite/indirect $got, want $exp"; return 1; }
    ent="$(awk -v s="$s" '$1 == s && $3 == "definite"' v.txt | wc -l) $(awk -v s="$s" '$1 == s && $3 == "indirect"' v.txt | wc -l)"
    [ "$ent" = "5 $((6 + N))" ] || { echo "scan $s: entries definite/indirect $ent"; return 1; }
    poss=$(awk -v s="$s" '$1 == s && $3 != "definite" && $4 == 1' v.txt | wc -l)
    [ "$poss" = "$(total "$s" possible_blocks)" ] || { echo "scan $s: $poss possible entries, LEAK_SCAN $(total "$s" possible_blocks)"; return 1; }
    [ "$(total "$s" groups)" = "$(awk -v s="$s" '$1 == "records" && $2 == s { print $3 }' v.txt)" ] ||
        { echo "scan $s: groups $(total "$s" groups) != LEAK_BLOCKS records"; return 1; }
    [ "$(total "$s" inherited_blocks)" = 0 ] && ! grep -aq '^leak ' d.txt
}

exit_scan() {
    PERFSHIM_OUTPUT="$TMP/v.trace" LD_PRELOAD=$PERFSHIM_LIB "$W/leak_verdicts" >out 2>err || { cat err; return 1; }
    grep -q '^order x<y' out || { echo "x above y: the absorbed-leader case is not exercised"; }
    "$P" dump v.trace >d.txt 2>err || { cat err; return 1; }
    grep -aq '^trace version=4 ' d.txt || { echo "want a version 4 trace"; return 1; }
    verdicts <d.txt >v.txt
    [ "$(grep -ac '^leak_scan' d.txt)" = 1 ] || { echo "want one leak_scan"; return 1; }
    scan_ok 1 || return 1
    # the absorbed leader x: entered definite first, then indirect (its entries in order)
    xa=$(sed -n 's/^x //p' out)
    if grep -q '^order x<y' out; then
        seq=$(tr '[' '\n' <d.txt | awk -v a="$xa" '{ sub(/\].*/, "") } $2 == "ptr=" a { printf "%s ", $1 }')
        [ "$seq" = "definite indirect " ] || { echo "x's entries: $seq"; return 1; }
    fi
}
check "exit scan: verdicts by address, holders, possible, totals (work stack overflowed)" exit_scan

on_demand() {
    PERFSHIM_OUTPUT="$TMP/od.trace" LD_PRELOAD=$PERFSHIM_LIB "$W/leak_verdicts" ondemand >out 2>err || { cat err; return 1; }
    "$P" dump od.trace >d.txt 2>err || { cat err; return 1; }
    verdicts <d.txt >v.txt
    [ "$(grep -ac '^leak_scan' d.txt)" = 2 ] || { echo "want two leak_scan records"; return 1; }
    scan_ok 1 && scan_ok 2 || return 1
    # the on-demand scan's records go through the thread's buffer: 1000 entries at most
    awk '/^leak_blocks / { for (i = 1; i <= NF; i++) if ($i ~ /^n=/) { n = substr($i, 3) + 0; if (n > 4000) bad = 1 } } END { exit bad }' d.txt
}
check "on-demand scan, then the exit scan: the same verdicts in both" on_demand

# The calling thread's registers are roots (preload/leakscan.c ps_leakscan_entry): a block
# whose one pointer is in r15 during an on-demand check is reachable (no entry in scan 1);
# with r15 cleared, definite (scan 2). x86_64 only (the workload prints no "reg" elsewhere).
in_register() {
    PERFSHIM_OUTPUT="$TMP/rg.trace" LD_PRELOAD=$PERFSHIM_LIB "$W/leak_verdicts" register >out 2>err || { cat err; return 1; }
    grep -q '^reg ' out || { echo "SKIP: no register case on this machine"; return 0; }
    "$P" dump rg.trace >d.txt 2>err || { cat err; return 1; }
    verdicts <d.txt >v.txt
    [ "$(grep -ac '^leak_scan' d.txt)" = 3 ] || { echo "want three leak_scan records"; return 1; }
    a=$(sed -n 's/^reg //p' out)
    got1=$(awk -v a="$a" '$1 == 1 && $2 == a { print $3 }' v.txt)
    got2=$(awk -v a="$a" '$1 == 2 && $2 == a { print $3 }' v.txt)
    [ -z "$got1" ] || { echo "held in r15: '$got1', want reachable (no entry)"; return 1; }
    [ "$got2" = definite ] || { echo "r15 cleared: '$got2', want definite"; return 1; }
    scan_ok 3
}
check "on-demand scan: a pointer only in a callee-saved register is a root" in_register

snapshot() {
    PERFSHIM_SNAPSHOT_SIGNAL=12 "$P" record -o snap.trace -- "$W/snapshot_grow" >/dev/null 2>&1 || return 1
    "$P" dump snap.trace >d.txt 2>/dev/null || return 1
    grep -aq '^snapshot ' d.txt || { echo "no snapshot"; return 1; }
    ! grep -aq '^snapshot_site' d.txt || { echo "snapshot sites written"; return 1; }
    grep -a '^snapshot ' d.txt | grep -v 'sites=0' && return 1
    grep -a '^snapshot ' d.txt | head -2
}
check "snapshots are markers: totals, no sites" snapshot
finish
