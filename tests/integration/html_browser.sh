#!/bin/sh
# The HTML report in a real browser (issue 17's acceptance), with Debian's headless Chromium:
# each page is loaded from its file with #selftest, which makes the page's own script check
# that the flame graph, the timeline and the thread view rendered, click a frame (it must
# zoom to it), search (matching frames, and only those, highlighted), and collect the errors;
# the results are read from the dumped DOM (<pre id="selftest">), the DOM elements are
# counted here too, and Chromium's console log must hold no message (an uncaught error is
# one). Pages broken on purpose (zoom disabled; a script that throws) must make the same
# checks fail. The diff page (perfshim diff --format=html, tests/workloads/diff_work: one site
# doubles, one is added, one removed) passes the same self-test, its frames coloured by their
# change (grow_site red, only_b as added), hover showing base, new, delta and ratio.
# Screenshots: $top_builddir/test-artifacts/report.png (demo workload), report-threads.png
# (cond_work) and report-diff.png (diff_work). Slow-ish (a browser start per page, ~10 s each): run by
# scripts/test, not by `make check` (`make check TESTS=tests/integration/html_browser.sh`).
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
B=$top_builddir/tests/workloads
ART=$top_builddir/test-artifacts
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
[ -n "$CHROMIUM" ] || { echo "SKIP: no chromium (Debian package chromium)"; exit 77; }
[ -x "$B/cond_work" ] && [ -x "$B/leakfree_cxx" ] && [ -x "$B/diff_work" ] ||
    { echo "SKIP: build the test workloads first (make check)"; exit 77; }
cd "$TMP" || exit 99
mkdir -p "$ART" || exit 99
"$P" record -o demo.trace -- "$B/demo" >/dev/null 2>&1 || exit 99
"$P" record -o cw.trace -- "$B/cond_work" 2>/dev/null || exit 99
"$P" html -q demo.trace -o demo.html && "$P" html -q cw.trace -o cw.html || exit 99
# diff_work FACTOR VARIANT: grow_site makes 100 * FACTOR blocks; VARIANT a: only_a, b: only_b
"$P" record -o d1a.trace -- "$B/diff_work" 1 a >/dev/null 2>&1 &&
    "$P" record -o d2a.trace -- "$B/diff_work" 2 a >/dev/null 2>&1 &&
    "$P" record -o d2b.trace -- "$B/diff_work" 2 b >/dev/null 2>&1 || exit 99
"$P" diff -q --format=html d1a.trace d2a.trace -o grown.html &&
    "$P" diff -q --format=html d1a.trace d2b.trace -o diff.html || exit 99

chrome() {
    timeout 120 "$CHROMIUM" --headless --disable-gpu --no-sandbox --no-first-run \
        --user-data-dir="$TMP/profile" --enable-logging=stderr --v=0 "$@"
}

# selftest PAGE: loads PAGE#selftest; PAGE.dom is the DOM after the script ran, PAGE.st the
# self-test's lines, PAGE.log the browser's log. Fails when a check failed or the console
# has a message. A diff's page (its name starts with "diff" or "grown") has no timeline,
# threads or site table, but its sections of the diff.
selftest() {
    chrome --virtual-time-budget=5000 --dump-dom "file://$TMP/$1#selftest" >"$1.dom" 2>"$1.log"
    sed -n '/<pre id="selftest">/,/<\/pre>/p' "$1.dom" >"$1.st"
    cat "$1.st"
    grep -q '^SELFTEST PASS</pre>' "$1.st" || return 1
    if grep ':CONSOLE' "$1.log"; then return 1; fi
    [ "$(grep -o 'class="fg-frame' "$1.dom" | wc -l)" -gt 1 ] || return 1
    case $1 in diff* | grown*) grep -q '<section id="diff">' "$1.dom"; return ;; esac
    grep -q '<svg [^>]*id="tl-svg"' "$1.dom" && grep -q 'class="tl-series"' "$1.dom" &&
        grep -q '<section id="threads">' "$1.dom" && grep -q '<table id="t-sites">' "$1.dom"
}

demo_page() {
    selftest demo.html || return 1
    grep -q 'ok   click zooms' demo.html.st && grep -q 'ok   search highlights ([1-9]' demo.html.st
}
check "demo: flame graph, timeline, tables render; click zooms; search highlights; no console message" demo_page

threads_page() {
    selftest cw.html || return 1
    # cond_work has three threads, one waiting on a mutex, one on a condvar
    grep -q 'ok   thread view rendered (3 threads)' cw.html.st &&
        [ "$(grep -o 'class="th-row"' cw.html.dom | wc -l)" -eq 3 ] &&
        grep -q 'class="tl-bar"' cw.html.dom # the lock-wait panel of the time axis
}
check "cond_work: the thread view has its 3 threads, the time axis its lock waits" threads_page

cxx_page() {
    "$P" record -o cxx.trace -- "$B/leakfree_cxx" >/dev/null 2>&1 &&
        "$P" html -q cxx.trace -o cxx.html || return 1
    selftest cxx.html && grep -q 'ok   C++ frames shortened, full name on hover ([1-9]' cxx.html.st
}
check "C++: template arguments collapsed in the flame graph, the full name on hover" cxx_page

# frame FN DOM: the flame graph's frame named FN in the dumped DOM: "CHANGE R G B" (its
# data-change and its background's first colour)
frame() {
    grep -o "<div class=\"fg-frame[^>]*>$1</div>" "$2" | head -1 |
        sed -n 's/.*data-change="\([a-z]*\)".*background: [a-z-]*(\([^)]*\)).*/\1 \2/p' |
        sed 's/^\([a-z]*\) \(.*deg, \)\{0,1\}rgb(/\1 /; s/,/ /g; s/  */ /g' | cut -d' ' -f1-4
}
# red: green and blue equal, red well above them
is_red() { set -- $1; [ "$1" = grown ] && [ "$2" -gt $(($3 + 40)) ] && [ "$3" -eq "$4" ]; }

diff_page() {
    selftest grown.html || return 1
    grep -q 'ok   frames coloured by change ([0-9]* grown, [0-9]* same)' grown.html.st &&
        grep -q 'ok   diff sections rendered (1 grown, 2 unchanged)' grown.html.st &&
        grep -q 'ok   hover shows numbers (.* | change: .* | allocations: base [0-9]* → new [0-9]*, delta [-+0-9]*, ratio ' grown.html.st &&
        grep -q 'ok   click zooms' grown.html.st && grep -q 'ok   search highlights ([1-9]' grown.html.st || return 1
    # the doubled site red, half as deep as at 4x; the unchanged ones not coloured
    g=$(frame grow_site grown.html.dom) && echo "grow_site: $g" && is_red "$g" &&
        [ "$(frame fixed_site grown.html.dom | cut -d' ' -f1)" = same ] || return 1
    # grown, added, removed at once: only_b added (striped), only_a absent from the new run's
    # widths (drawn, striped blue, with the base run's), grow_site grown
    selftest diff.html || return 1
    grep -q 'ok   diff sections rendered (1 grown, 1 added, 1 removed, 1 unchanged)' diff.html.st &&
        grep -q 'ok   base widths show the removed frames ([1-9]' diff.html.st &&
        [ "$(frame only_b diff.html.dom | cut -d' ' -f1-2)" = "added 198" ] &&
        ! grep -q '>only_a</div>' diff.html.dom && is_red "$(frame grow_site diff.html.dom)"
}
check "diff: frames coloured by change (grown red, added striped), hover base/new/delta/ratio, zoom, search" diff_page

first_screen() {
    # the recommendation engine's first screen (issue 16), in the shape its JSON will have,
    # put into the page's document: it must come first, generically and as a ranked list
    python3 - <<'PY' || return 1
import json, re
page = open("cw.html", encoding="utf-8").read()
m = re.search(r'(<script type="application/json" id="perfshim-data">\n)(.*?)(\n</script>)', page, re.S)
blob = json.loads(m.group(2))
r = blob["report"]
r["verdict"] = "1 leak, no heap error, no lock-order cycle"
r["use"] = {"heap": [{"resource": "heap", "utilization": "0.01", "saturation_bytes": 304, "errors": 0}],
            "locks": [{"resource": "mutex 0x1", "utilization": "0.29", "wait_ns": 100000000, "errors": 0}]}
r["recommendations"] = [{"rank": 1, "kind": "shorten_lock", "title": "Shorten the critical section of take_busy_lock",
                         "saving": {"unit": "ns", "value": 100000000, "method": "Amdahl bound of the wait"},
                         "evidence": "1 thread waited 100 ms", "stack": r["locks"][0]["sites"][0]["stack"],
                         "tradeoff": "none", "verify": "perfshim locks TRACE"}]
out = json.dumps(blob).replace("<", "\\u003c")
open("first.html", "w", encoding="utf-8").write(page[:m.start(2)] + out + page[m.end(2):])
PY
    selftest first.html || return 1
    grep -q 'ok   first screen on top (verdict use recommendations)' first.html.st &&
        grep -q '<ol id="recommendations"><li class="rec"><b>Shorten the critical section' first.html.dom &&
        grep -q 'estimated saving: 100.0 ms (Amdahl bound of the wait)' first.html.dom
}
check "the first screen's sections (verdict, USE, recommendations) render on top" first_screen

broken_is_red() {
    # zoom disabled: the self-test must say so
    sed 's/FG.zoom = Number(t.getAttribute(.data-node.));/FG.zoom = 0;/' cw.html >nozoom.html
    ! cmp -s cw.html nozoom.html || return 1
    if selftest nozoom.html >/dev/null; then return 1; fi
    grep -q '^FAIL click zooms' nozoom.html.st || return 1
    # a script that throws before the report's: the console check must catch it
    sed 's|<script type="application/json"|<script>notDefinedAnywhere();</script>&|' cw.html >throws.html
    if selftest throws.html >/dev/null; then return 1; fi
    grep -q 'CONSOLE.*notDefinedAnywhere' throws.html.log || return 1
    # the diff page coloured as a report's (by name, not by change); its hover without the change
    sed 's/d.style.background = diffColor(c);/d.style.background = fgColor(name);/' grown.html >diffnocolour.html
    sed 's/lines.push(.change: . + fgChange(i).cls);/return fgName(i);/' grown.html >diffnohover.html
    ! cmp -s grown.html diffnocolour.html && ! cmp -s grown.html diffnohover.html || return 1
    if selftest diffnocolour.html >/dev/null || selftest diffnohover.html >/dev/null; then return 1; fi
    grep -q '^FAIL frames coloured by change' diffnocolour.html.st && ! is_red "$(frame grow_site diffnocolour.html.dom)" &&
        grep -q '^FAIL hover shows numbers' diffnohover.html.st
}
check "pages broken on purpose fail these checks (zoom disabled; an uncaught error; diff colours, hover)" broken_is_red

screenshots() {
    rm -f "$ART/report.png" "$ART/report-threads.png" "$ART/report-diff.png"
    chrome --hide-scrollbars --window-size=1300,1900 --virtual-time-budget=3000 \
        --screenshot="$ART/report.png" "file://$TMP/demo.html" >/dev/null 2>&1
    chrome --hide-scrollbars --window-size=1300,1300 --virtual-time-budget=3000 \
        --screenshot="$ART/report-threads.png" "file://$TMP/cw.html" >/dev/null 2>&1
    chrome --hide-scrollbars --window-size=1300,1300 --virtual-time-budget=3000 \
        --screenshot="$ART/report-diff.png" "file://$TMP/diff.html" >/dev/null 2>&1
    cp demo.html "$ART/report.html" && cp cw.html "$ART/report-threads.html" && cp diff.html "$ART/report-diff.html"
    [ "$(wc -c <"$ART/report.png")" -gt 20000 ] && [ "$(wc -c <"$ART/report-threads.png")" -gt 20000 ] &&
        [ "$(wc -c <"$ART/report-diff.png")" -gt 20000 ] &&
        echo "screenshots: $ART/report.png $ART/report-threads.png $ART/report-diff.png"
}
check "screenshots saved as test artifacts" screenshots

finish
