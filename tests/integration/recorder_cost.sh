#!/bin/sh
# recorder_cost -- what the shim measures about the allocator and about itself:
#  - allocator time (ALLOC_COST records, issue 16): every allocating call and every release
#    of churn_bench (2 threads x 5000, one allocation site) is counted exactly once, one in 16
#    of them timed at random (1/16 of the calls within 25 % on the large records: 4.5 standard deviations at 5000 calls), in the records and
#    in the report's site (alloc_ns_calls = its allocations) and summary (release_ns_calls =
#    frees);
#  - the recorder's own memory (issue 18): kvstore keeps 200,000 blocks live, so the live
#    set is megabytes (until the exit scan frees it); every RSS sample names the shim's
#    resident part (shim > 0), the report's JSON gives it apart, and the app's RSS is exactly
#    the total less it.
. "${top_srcdir:-.}/tests/integration/lib.sh"
cd "$TMP" || exit 99
W=$top_builddir/tests/workloads

PERFSHIM_OUTPUT="$TMP/c.trace" LD_PRELOAD="$PERFSHIM_LIB" "$W/churn_bench" 2 5000 3 >/dev/null || exit 99
"$PERFSHIM_BIN" dump c.trace >c.dump
"$PERFSHIM_BIN" report --format=json c.trace >c.json || exit 99
json() { grep -o "\"$2\":[0-9a-z]*" "$1" | head -1 | cut -d: -f2; }

cost_counts() {
    allocs=$(grep -c '^alloc ' c.dump)
    frees=$(grep -c '^free ' c.dump)
    awk -v a="$allocs" -v f="$frees" '
        function field(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2) + 0; return -1 }
        /^alloc_cost/ { c = field("calls"); s = field("sampled"); n = field("ns")
            if ((c >= 4000 && (s < c / 16 * 0.75 || s > c / 16 * 1.25)) || s > c || (s > 0 && n <= 0)) bad = 1
            if ($2 == "kind=alloc") { ca += c; sa += s } else { cr += c; sr += s } }
        END { printf "allocations %d, counted %d (%d timed); frees %d, counted %d (%d timed)\n", a, ca, sa, f, cr, sr
              exit !(ca == a && cr == f && !bad) }' c.dump
}
check "allocator time: every call counted once, one in 16 timed" cost_counts

hist_sums() {
    awk '/^alloc_cost/ { c = 0; h = 0; for (i = 1; i <= NF; i++) { if ($i ~ /^sampled=/) c = substr($i, 9)
            if ($i ~ /^hist=/) { n = split(substr($i, 6), a, ","); for (k = 1; k <= n; k++) h += a[k]; if (n != 24) bad = 1 } }
          if (h != c) bad = 1 } END { exit bad }' c.dump
}
check "allocator time: each record's 24 histogram buckets sum to its timed calls" hist_sums

report_cost() {
    # the churn site: its allocations are its measured calls; the summary's releases, the frees
    site_allocs=$(grep -o '"allocations":10000,' c.json | wc -l)
    grep -q '"allocations":10000,[^}]*"alloc_ns_calls":10000,' c.json &&
        [ "$(json c.json release_ns_calls)" = "$(json c.json frees)" ] &&
        [ "$(json c.json release_ns)" -gt 0 ] && [ "$site_allocs" -ge 1 ] ||
        { grep -o '"alloc_ns[_a-z]*":[0-9]*' c.json | head; return 1; }
}
check "report JSON: the site's alloc_ns_calls are its 10000 allocations, release_ns_calls the frees" report_cost

PERFSHIM_RSS_MS=5 PERFSHIM_OUTPUT="$TMP/kv.trace" LD_PRELOAD="$PERFSHIM_LIB" "$W/kvstore" 200000 100000 >/dev/null || exit 99
"$PERFSHIM_BIN" dump kv.trace >kv.dump
"$PERFSHIM_BIN" report --format=json kv.trace >kv.json || exit 99
"$PERFSHIM_BIN" report kv.trace >kv.txt || exit 99

recorder_apart() {
    total=$(json kv.json final_rss_bytes) rec=$(json kv.json final_rss_recorder_bytes)
    app=$(json kv.json final_rss_app_bytes) mt=$(json kv.json max_rss_bytes)
    mr=$(json kv.json max_rss_recorder_bytes) ma=$(json kv.json max_rss_app_bytes)
    echo "final RSS $total = app $app + recorder $rec; max $mt = $ma + $mr"
    # (the recorder's peak: at the end the exit scan has freed the live set's tables)
    [ "$mr" -gt 4000000 ] && [ "$rec" -gt 0 ] && [ "$app" -eq $((total - rec)) ] &&
        [ "$ma" -eq $((mt - mr)) ] && [ "$mr" -lt "$mt" ]
}
check "kvstore: the recorder's memory (> 4 MB at its peak) is apart, app RSS = total - recorder" recorder_apart
final_fresh() {
    # the last sample comes after the exit scan freed the live set and its block array: its
    # recorder part is counted then (not a value cached at the scan's peak), so the app's RSS
    # at the end holds the live heap kvstore wrote (it once came out below it)
    app=$(json kv.json final_rss_app_bytes) live=$(json kv.json live_bytes_at_end)
    rec=$(json kv.json final_rss_recorder_bytes) mr=$(json kv.json max_rss_recorder_bytes)
    echo "at the end: app RSS $app, live heap $live; recorder $rec (max $mr)"
    [ "$app" -ge "$live" ] && [ "$rec" -lt "$mr" ]
}
check "kvstore: the final RSS sample's recorder part is counted after the exit scan" final_fresh
samples_name_it() {
    awk '/^rss / { n++; for (i = 1; i <= NF; i++) if ($i ~ /^shim=/ && substr($i, 6) + 0 > 0) s++ }
         END { print n " samples, " s " with the recorder part"; exit !(n > 1 && s >= n - 1) }' kv.dump
}
check "kvstore: RSS samples carry the recorder's resident bytes" samples_name_it
text_apart() {
    # the summary's app RSS line, and the conclusions drawn from RSS (USE saturation, RSS vs
    # live) on the app's RSS, the recorder's part said apart (not read as fragmentation)
    grep -q '^  app RSS  .*the recorder.s own' kv.txt &&
        grep -q "^  final RSS  .*; live heap is .* of the app's RSS" kv.txt &&
        grep -q "^  saturation  .* of the app's peak RSS .* (the recorder's .* apart)" kv.txt &&
        grep -q "^  RSS vs live  .*the app's max RSS .* (the recorder's .* apart)" kv.txt ||
        { grep -E "app RSS|saturation|RSS vs live" kv.txt; return 1; }
}
check "kvstore: the text summary shows the app's RSS and the recorder's apart" text_apart
timeline_apart() {
    # each slice's RSS sample apart: app + recorder = the sample, the recorder's part > 0
    python3 - kv.json <<'PY'
import json, sys
sl = json.load(open(sys.argv[1]))["timeline"]["slices"]
n = 0
for s in sl:
    if s["rss_bytes"] is None:
        assert s["app_rss_bytes"] is None and s["recorder_rss_bytes"] is None, s
        continue
    assert s["app_rss_bytes"] + s["recorder_rss_bytes"] == s["rss_bytes"], s
    assert 0 < s["recorder_rss_bytes"] < s["rss_bytes"], s
    n += 1
# a few slices at least: the single-threaded kvstore samples RSS only on its own allocations,
# and its exit (the leak scan, no allocation) may fill many slices; on a loaded machine 6 of 20
# slices had a sample, 10 or more when quiet
assert n >= 3, n
print(n, "slices with RSS, each split into app and recorder")
PY
}
check "kvstore: the timeline's RSS per slice, the app's and the recorder's apart" timeline_apart
finish
