/*
 * report.js -- draws the perfshim HTML report from the JSON blob of the page
 * (#perfshim-data: {"report": the document of `perfshim report --format=json`,
 * "profile": the frame tree of formats/html.c}). No library, no network.
 *
 * Views: the first screen (the sections the document has, generically: verdict, USE tables
 * and recommendations when the report has them), a flame graph of the profile (sample type
 * selector, click to zoom, search, hover), one time axis (heap, RSS, allocation rate, lock
 * waits), the threads' states (running vs waiting per lock, the TSA method), sortable tables
 * of sites, leaks and locks, then every other section of the document.
 * A diff's page (`perfshim diff --format=html`: the document "perfshim-diff", a profile whose
 * types are base_X/new_X pairs) has instead a header of both runs, a differential flame graph
 * (one run's widths of X, each frame coloured by its change from base to new) and the diff's
 * sections (totals, sites by status, gate) drawn generically.
 * With #selftest in the URL the page clicks a frame and searches, then writes the results
 * into #selftest ("SELFTEST PASS" or "SELFTEST FAIL: ..."), for the headless browser test.
 */
(function () {
  'use strict';
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message || e)); });
  var origError = console.error;
  console.error = function () {
    errors.push(Array.prototype.join.call(arguments, ' '));
    origError.apply(console, arguments);
  };

  var D = JSON.parse(document.getElementById('perfshim-data').textContent);
  var R = D.report || {}, P = D.profile;
  var app = document.getElementById('app');
  var tip = document.getElementById('tip');

  /* ---- helpers ---------------------------------------------------------------------- */
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'cls') e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  var SVGNS = 'http://www.w3.org/2000/svg';
  function sv(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function fmtCount(v) {
    if (v == null) return '-';
    return Number(v).toLocaleString('en-US');
  }
  function fmtBytes(v) {
    if (v == null) return '-';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(v < 10 ? 2 : 1) : String(v)) + ' ' + u[i];
  }
  function fmtNs(v) {
    if (v == null) return '-';
    if (v < 1e3) return v + ' ns';
    if (v < 1e6) return (v / 1e3).toFixed(1) + ' us';
    if (v < 1e9) return (v / 1e6).toFixed(1) + ' ms';
    return (v / 1e9).toFixed(2) + ' s';
  }
  function fmtRate(v) {
    var u = ['', ' k', ' M', ' G'], i = 0;
    while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return (i ? v.toFixed(1) : v.toFixed(0)) + u[i] + '/s';
  }
  /* the unit of a member, from its key (docs/json-schema.md names them so) */
  function unitOf(key) {
    if (/(^|_)bytes($|_)|_bytes_|^bytes/.test(key) || /^(peak|leaked)$/.test(key)) return 'bytes';
    if (/(_ns|_ns_total|_ns_charged|^wait_ns|_ns_max)$/.test(key) || /_ns_/.test(key)) return 'ns';
    return 'count';
  }
  function fmtBy(unit, v) {
    if (typeof v !== 'number') return v == null ? '-' : String(v);
    return unit === 'bytes' ? fmtBytes(v) : unit === 'ns' ? fmtNs(v) : fmtCount(v);
  }
  /* a change (perfshim diff): "+6.25 KiB", "2.00x" ("added" from nothing) */
  function fmtDelta(unit, d) { return (d > 0 ? '+' : '') + fmtBy(unit, d); }
  function fmtRatio(b, n) { return b ? (n / b).toFixed(2) + 'x' : n ? 'added' : '-'; }
  function title(key) { return key.replace(/_/g, ' '); }

  /* C++ names shortened: template arguments collapsed to <…> ("operator<" and its kin kept) */
  function shortName(s) {
    if (!s || s.indexOf('<') < 0) return s;
    var out = '', depth = 0;
    for (var i = 0; i < s.length; i++) {
      var c = s[i];
      if (c === '<') {
        if (depth === 0 && /operator\s*$/.test(s.slice(0, i))) { /* operator<, <<, <=, <=> */
          var m = /^(<=>|<<=|<<|<=|<)/.exec(s.slice(i));
          out += m[1]; i += m[1].length - 1; continue;
        }
        if (depth === 0) out += '<\u2026>';
        depth++;
      } else if (c === '>' && depth > 0) {
        if (!(depth === 1 && s[i - 1] === '-')) depth--; /* "->" inside decltype */
      } else if (depth === 0) out += c;
    }
    return out;
  }
  function frameText(f) {
    var n = f.function || (f.module ? f.module.replace(/.*\//, '') + '+' + f.offset : f.address);
    var at = f.file ? f.file + ':' + f.line : (f.module || '');
    return { name: n, at: at };
  }
  /* a stack's first frame with a function (the caller of malloc after the cut) and the full
   * stack as text (the hover) */
  function whereCell(stack) {
    var td = el('td', { cls: 'where' });
    if (!stack || !stack.length) { td.textContent = '(no stack)'; return td; }
    var f = frameText(stack[0]);
    td.textContent = shortName(f.name) + (f.at ? '  ' + f.at.replace(/.*\//, '') : '');
    td.title = stack.map(function (x) { var t = frameText(x); return t.name + (t.at ? '  (' + t.at + ')' : ''); }).join('\n');
    return td;
  }
  function showTip(ev, text) {
    tip.textContent = text;
    tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth) x = Math.max(0, ev.clientX - w - 10);
    if (y + h > window.innerHeight) y = Math.max(0, ev.clientY - h - 10);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  function hideTip() { tip.hidden = true; }

  /* ---- sortable tables ------------------------------------------------------------------ */
  /* cols: [{key, title, unit, get(row) -> value, cell(row) -> td}] */
  function sortableTable(id, rows, cols, limit) {
    var wrap = el('div', { cls: 'tablewrap' });
    var table = el('table', { id: id });
    var thead = el('thead'), tr = el('tr'), tbody = el('tbody');
    var state = { col: -1, dir: 1 };
    function fill() {
      tbody.textContent = '';
      var n = Math.min(rows.length, limit || 1000);
      for (var i = 0; i < n; i++) {
        var r = rows[i], row = el('tr');
        cols.forEach(function (c) {
          if (c.cell) { row.appendChild(c.cell(r)); return; }
          var v = c.get(r), t = fmtBy(c.unit, v);
          /* a long string (a diff site's key: its whole stack) cut, in full on hover */
          row.appendChild(el('td', t.length > 90 ? { title: t, text: t.slice(0, 88) + '\u2026' } : { cls: typeof v === 'number' ? 'num' : '', text: t }));
        });
        tbody.appendChild(row);
      }
      if (rows.length > n) tbody.appendChild(el('tr', {}, [el('td', { colspan: cols.length, cls: 'mut', text: '... ' + (rows.length - n) + ' more (all in the JSON of this page)' })]));
    }
    cols.forEach(function (c, i) {
      var th = el('th', { cls: c.get ? 'sortable' : '', text: c.title });
      if (c.get) th.addEventListener('click', function () {
        state.dir = state.col === i ? -state.dir : (c.unit === 'str' ? 1 : -1);
        state.col = i;
        rows.sort(function (a, b) {
          var x = c.get(a), y = c.get(b);
          if (x == null) return 1;
          if (y == null) return -1;
          return (x < y ? -1 : x > y ? 1 : 0) * state.dir;
        });
        Array.prototype.forEach.call(tr.children, function (h) { h.classList.remove('asc', 'desc'); });
        th.classList.add(state.dir > 0 ? 'asc' : 'desc');
        fill();
      });
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    table.appendChild(thead);
    table.appendChild(tbody);
    fill();
    wrap.appendChild(table);
    return wrap;
  }

  /* ---- generic sections: whatever the document holds ------------------------------------ */
  function isScalar(v) { return v === null || typeof v !== 'object'; }
  /* a change {base, new, delta, ratio} (perfshim diff) takes the unit of its parent's key */
  function keyUnit(key, parent) { return parent && /^(base|new|delta)$/.test(key) ? unitOf(parent) : unitOf(key); }
  function isChange(x) { return x && typeof x === 'object' && typeof x.delta === 'number' && 'base' in x && 'new' in x; }
  function genericValue(key, v, parent) {
    if (isScalar(v)) return document.createTextNode(fmtBy(keyUnit(key, parent), v));
    if (!Array.isArray(v) && Object.keys(v).length && Object.keys(v).every(function (k) { return isChange(v[k]); }))
      return sortableTable(null, Object.keys(v).map(function (k) { return { k: k, c: v[k] }; }), [ /* a table of changes */
        { title: '', unit: 'str', get: function (r) { return title(r.k); } }].concat(['base', 'new', 'delta', 'ratio'].map(function (w) {
        return { title: w, get: function (r) { return r.c[w]; },
                 cell: function (r) { return el('td', { cls: 'num', text: w === 'ratio' ? fmtRatio(r.c.base, r.c.new) : (w === 'delta' ? fmtDelta : fmtBy)(unitOf(r.k), r.c[w]) }); } };
      })));
    if (Array.isArray(v)) {
      if (!v.length) return el('span', { cls: 'mut', text: 'none' });
      if (v.every(isScalar)) return document.createTextNode(v.join(', '));
      if (v.every(function (x) { return x && typeof x === 'object' && !Array.isArray(x) && !('function' in x && 'address' in x); })) {
        var keys = [];
        v.forEach(function (o) { Object.keys(o).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
        var cols = keys.map(function (k) {
          if (k === 'stack' || /stack$/.test(k)) return { title: title(k), cell: function (r) { return whereCell(r[k]); } };
          if (v.some(function (o) { return !isScalar(o[k]); }))
            return { title: title(k), cell: function (r) { return el('td', { text: compact(k, r[k]), title: JSON.stringify(r[k]) }); },
                     /* changes sort by their delta */
                     get: v.every(function (o) { return o[k] == null || isChange(o[k]); }) ? function (r) { return r[k] ? r[k].delta : null; } : null };
          return { key: k, title: title(k), unit: unitOf(k), get: function (r) { return r[k]; } };
        });
        return sortableTable(null, v.slice(), cols, 200);
      }
      if (v.every(function (x) { return x && 'address' in x; })) return whereStack(v);
      return el('pre', { text: JSON.stringify(v, null, 1).slice(0, 4000) });
    }
    return kvTable(v, key);
  }
  /* a nested value in one table cell: "k v, ..." (a stack: its first frame) */
  function compact(key, v, parent) {
    if (isScalar(v)) return fmtBy(keyUnit(key, parent), v);
    if (isChange(v)) return fmtBy(unitOf(key), v.base) + ' \u2192 ' + fmtBy(unitOf(key), v.new) + ' (' + fmtDelta(unitOf(key), v.delta) + ', ' + fmtRatio(v.base, v.new) + ')';
    if (Array.isArray(v)) {
      if (v.length && v[0] && 'address' in v[0]) return whereCell(v).textContent;
      return v.map(function (x) { return compact(key, x); }).join('; ');
    }
    return Object.keys(v).map(function (k) { return title(k) + ' ' + compact(k, v[k], key); }).join(', ');
  }
  /* the recommendation engine's list (issue 16): [{rank, kind, title, saving: {unit, value,
   * method}, evidence, stack, tradeoff, verify, ...}], ranked */
  function recommendations(v) {
    var ol = el('ol', { id: 'recommendations' });
    v.forEach(function (r) {
      var sv = r.saving || {}, li = el('li', { cls: 'rec' });
      var saving = sv.value != null ? fmtBy(sv.unit === 'bytes' ? 'bytes' : /ns$/.test(sv.unit || '') ? 'ns' : 'count', sv.value) +
        (sv.unit && sv.unit !== 'bytes' && !/ns$/.test(sv.unit) ? ' ' + sv.unit : '') : '';
      li.appendChild(el('b', { text: (r.title || r.kind || 'recommendation') }));
      if (r.kind) li.appendChild(el('span', { cls: 'mut', text: '  [' + r.kind + ']' }));
      if (saving) li.appendChild(el('div', { text: 'estimated saving: ' + saving + (sv.method ? ' (' + sv.method + ')' : '') }));
      Object.keys(r).forEach(function (k) {
        if (/^(rank|kind|title|saving|stack)$/.test(k) || r[k] == null || r[k] === '') return;
        li.appendChild(el('div', {}, [el('span', { cls: 'mut', text: title(k) + ': ' }), document.createTextNode(compact(k, r[k]))]));
      });
      if (r.stack && r.stack.length) li.appendChild(whereStack(r.stack));
      ol.appendChild(li);
    });
    return ol;
  }
  function whereStack(stack) {
    var t = whereCell(stack);
    return el('span', { cls: 'where', title: t.title, text: t.textContent });
  }
  function kvTable(obj, parent) {
    var t = el('table');
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      var td = el('td', { cls: isScalar(v) && typeof v === 'number' ? 'num' : '' });
      td.appendChild(genericValue(k, v, parent));
      t.appendChild(el('tr', {}, [el('th', { text: title(k) }), td]));
    });
    return t;
  }
  function genericSection(key, v, open) {
    var d = el('details', { id: 'sec-' + key });
    if (open) d.open = true;
    d.appendChild(el('summary', { text: key === 'use' ? 'USE (utilization, saturation, errors)' : title(key) }));
    d.appendChild(genericValue(key, v));
    return d;
  }

  /* ---- header and first screen ---------------------------------------------------------- */
  var shown = {};
  /* perfshim diff's document: two runs, their totals, the sites by status, the gate */
  var ISDIFF = R.format === 'perfshim-diff';
  function diffHeader() {
    var b = R.base || {}, n = R.new || {};
    document.title = 'perfshim diff: ' + (n.exe || 'diff');
    app.appendChild(el('h1', { text: 'perfshim diff: ' + (b.path || '?') + ' \u2192 ' + (n.path || '?') }));
    [['base', b], ['new', n]].forEach(function (w) {
      app.appendChild(el('div', { cls: 'mut', text: w[0] + ': ' + (w[1].cmdline || w[1].exe || '') + (w[1].pid ? ' (pid ' + w[1].pid + ')' : '') +
        (w[1].complete === false ? ' partial' : '') }));
    });
    app.appendChild(el('div', { cls: 'mut', text: 'sites matched by ' + (R.match === 'function' ? 'function and file' : 'function, file and line') +
      '; changed: more than ' + (R.threshold_pct || 0) + '%' + (R.min_bytes ? ' and at least ' + fmtBytes(R.min_bytes) : '') }));
    shown.format = shown.version = shown.schema_version = shown.base = shown.new = shown.match = shown.threshold_pct = shown.min_bytes = true;
    var cards = el('div', { cls: 'cards', id: 'cards' }), t = R.totals || {};
    Object.keys(t).forEach(function (k) {
      var c = t[k], u = unitOf(k);
      if (isChange(c)) cards.appendChild(el('div', { cls: 'card' }, [el('b', { text: fmtBy(u, c.base) + ' \u2192 ' + fmtBy(u, c.new) }),
        el('span', { text: title(k) + ': ' + fmtDelta(u, c.delta) + ' (' + fmtRatio(c.base, c.new) + ')' })]));
    });
    app.appendChild(cards);
    if (R.gate) app.appendChild(el('div', { cls: 'verdict', id: 'gate-result', text: 'gate (--fail-on): ' + (R.gate.failed ? 'FAILED' : 'passed') +
      ', ' + (R.gate.rules || []).length + ' rule(s)' }));
  }
  function header() {
    if (ISDIFF) return diffHeader();
    var tr = R.trace || {}, s = R.summary || {};
    document.title = 'perfshim: ' + (tr.exe || 'report');
    app.appendChild(el('h1', { text: 'perfshim report: ' + (tr.exe || '?') + (tr.pid ? ' (pid ' + tr.pid + ')' : '') }));
    if (tr.cmdline) app.appendChild(el('div', { cls: 'mut', text: tr.cmdline }));
    shown.trace = shown.format = shown.version = shown.schema_version = true;
    var cards = el('div', { cls: 'cards', id: 'cards' });
    [['allocations', 'count'], ['bytes_allocated', 'bytes'], ['peak_live_bytes', 'bytes'], ['duration_ns', 'ns'],
     ['not_freed_bytes', 'bytes'], ['max_rss_bytes', 'bytes'], ['threads', 'count']].forEach(function (c) {
      if (c[0] in s) cards.appendChild(el('div', { cls: 'card' }, [el('b', { text: fmtBy(c[1], s[c[0]]) }), el('span', { text: title(c[0].replace(/_(ns|bytes)$/, '')) })]));
    });
    if (R.lock_summary) cards.appendChild(el('div', { cls: 'card' }, [el('b', { text: fmtNs(R.lock_summary.total_wait_ns) }), el('span', { text: 'lock wait' })]));
    app.appendChild(cards);
    if (s.complete === false) app.appendChild(el('div', { cls: 'verdict', text: 'Partial trace: ' + (s.partial_reason || '') }));
  }
  /* the first screen of the report, when the document has it (the recommendation engine's
   * sections), in this order, then anything else generic at the end */
  var FIRST = ['verdict', 'use', 'use_tables', 'recommendations'];
  function firstScreen() {
    var box = el('section', { id: 'first' });
    FIRST.forEach(function (k) {
      if (!(k in R)) return;
      shown[k] = true;
      var v = R[k];
      if (typeof v === 'string' || (v && typeof v === 'object' && !Array.isArray(v) && typeof v.text === 'string' && k === 'verdict'))
        box.appendChild(el('div', { cls: 'verdict', id: 'sec-' + k, text: typeof v === 'string' ? v : v.text }));
      else if (k === 'recommendations' && Array.isArray(v) && v.every(function (r) { return r && typeof r === 'object'; })) {
        var d = el('details', { id: 'sec-' + k, open: '' });
        d.appendChild(el('summary', { text: 'Recommendations (' + v.length + ')' }));
        d.appendChild(v.length ? recommendations(v) : el('div', { cls: 'mut', text: 'none' }));
        box.appendChild(d);
      } else
        box.appendChild(genericSection(k, v, true));
    });
    if (box.children.length) {
      app.appendChild(el('h2', { text: 'First screen' }));
      app.appendChild(box);
    }
  }

  /* ---- flame graph ---------------------------------------------------------------------- */
  var FG = { type: 0, zoom: 0, search: '', kids: null, depth: null, total: 0 };
  var UNITS = { allocations: 'count', bytes: 'bytes', peak: 'bytes', leaked: 'bytes', temporary: 'count', lock_wait_ns: 'ns' };
  function typeUnit(t) { t = t.replace(/^(base|new)_/, ''); return UNITS[t] || unitOf(t); }
  function fgUnit() { return typeUnit(P.types[FG.type]); }
  /* A differential profile (perfshim diff): every sample type comes as base_X and new_X. The
   * flame graph then draws one run's values of X (the new run's by default) and colours each
   * frame by its change from base to new. DIFF: {metrics: [X], base: {X: type}, neu: {X: type}} */
  var DIFF = (function () {
    if (!P || !P.types || !P.types.length) return null;
    var m = [], b = {}, n = {}, all = true;
    P.types.forEach(function (t, k) {
      var x = /^(base|new)_(.+)$/.exec(t);
      if (!x) { all = false; return; }
      (x[1] === 'base' ? b : n)[x[2]] = k;
      if (m.indexOf(x[2]) < 0) m.push(x[2]);
    });
    if (!all || m.some(function (x) { return !(x in b) || !(x in n); })) return null;
    return { metrics: m, base: b, neu: n };
  })();
  /* the change of node i in the metric drawn: base, new, and its class */
  function fgChange(i) {
    var b = P.values[DIFF.base[FG.metric]][i], n = P.values[DIFF.neu[FG.metric]][i];
    return { b: b, n: n, cls: b === n ? 'same' : !b ? 'added' : !n ? 'removed' : n > b ? 'grown' : 'shrunk' };
  }
  /* growth red, shrink blue, the deeper the larger the relative change (full at 4x or 1/4);
   * added and removed frames striped */
  function diffColor(c) {
    if (c.cls === 'same') return 'hsl(40,6%,86%)';
    if (c.cls === 'added') return 'repeating-linear-gradient(135deg,#c62828 0 5px,#ef9a9a 5px 10px)';
    if (c.cls === 'removed') return 'repeating-linear-gradient(135deg,#1565c0 0 5px,#90caf9 5px 10px)';
    var t = Math.min(1, Math.abs(Math.log(c.n / c.b) / Math.LN2) / 2);
    return 'hsl(' + (c.cls === 'grown' ? 0 : 212) + ',' + (55 + 35 * t) + '%,' + (88 - 40 * t) + '%)';
  }
  function fgPaint(d, i, name) {
    if (!DIFF) { d.style.background = fgColor(name); return; }
    var c = fgChange(i);
    d.style.background = diffColor(c);
    d.classList.add('fg-' + c.cls);
    d.setAttribute('data-change', c.cls);
  }
  function changeText(unit, b, n) {
    return 'base ' + fmtBy(unit, b) + ' \u2192 new ' + fmtBy(unit, n) + ', delta ' + fmtDelta(unit, n - b) + ', ratio ' + fmtRatio(b, n);
  }
  function fgBuild() {
    var n = P.nodes.length / 3;
    FG.n = n;
    FG.kids = [];
    FG.depth = new Array(n);
    for (var i = 0; i < n; i++) FG.kids.push([]);
    FG.depth[0] = 0;
    for (var j = 1; j < n; j++) {
      var p = P.nodes[3 * j];
      FG.kids[p].push(j);
      FG.depth[j] = FG.depth[p] + 1;
    }
  }
  function fgName(i) { return P.strings[P.nodes[3 * i + 1]]; }
  function fgLoc(i) { return P.strings[P.nodes[3 * i + 2]]; }
  function fgColor(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) | 0;
    var t = P.types[FG.type];
    var base = t === 'lock_wait_ns' ? 200 : t === 'leaked' ? 0 : 20;
    return 'hsl(' + (base + Math.abs(h) % 40) + ',' + (70 + Math.abs(h >> 8) % 20) + '%,' + (60 + Math.abs(h >> 16) % 15) + '%)';
  }
  function fgRender() {
    var box = document.getElementById('fg');
    var V = P.values[FG.type], z = FG.zoom;
    box.textContent = '';
    box.setAttribute('data-zoom', String(z));
    var W = box.clientWidth || 1000, ROW = 18;
    var total = V[z];
    FG.total = total;
    var anc = [];
    for (var a = z; a !== 0; a = P.nodes[3 * a]) anc.unshift(a);
    if (z !== 0) anc.unshift(0);
    anc.pop(); /* z itself is drawn below, full width */
    var maxRow = 0, count = 0, q = (FG.search || '').toLowerCase(), matched = 0;
    function frame(i, x, w, row, isAnc) {
      var name = fgName(i), d = el('div', { cls: 'fg-frame' + (isAnc ? ' fg-anc' : '') });
      d.style.left = (100 * x) + '%';
      d.style.width = (100 * w) + '%';
      d.style.top = (row * ROW) + 'px';
      fgPaint(d, i, name);
      d.textContent = w * W > 30 ? shortName(name) : '';
      d.setAttribute('data-node', String(i));
      if (q && name.toLowerCase().indexOf(q) >= 0) d.classList.add('fg-match');
      box.appendChild(d);
      count++;
      if (row > maxRow) maxRow = row;
    }
    anc.forEach(function (i, r) { frame(i, 0, 1, r, true); });
    var base = anc.length, minw = 0.5 / W;
    /* breadth-first so the element count limit cuts the deepest, thinnest frames */
    var queue = [[z, 0, 1, base]];
    while (queue.length && count < 8000) {
      var it = queue.shift(), i = it[0], x = it[1], w = it[2], row = it[3];
      frame(i, x, w, row, false);
      if (!total) continue;
      var kids = FG.kids[i].filter(function (k) { return V[k] > 0; }).sort(function (a2, b2) { return V[b2] - V[a2]; });
      var cx = x;
      kids.forEach(function (k) {
        var kw = V[k] / total;
        if (kw >= minw) queue.push([k, cx, kw, row + 1]);
        cx += kw;
      });
    }
    box.style.height = ((maxRow + 1) * ROW + 4) + 'px';
    /* the matched total: every matching frame in the zoomed tree, drawn or too thin to draw,
     * counted once (not again under a matching caller) */
    for (var m = 1; q && m < FG.n; m++) {
      if (!V[m] || fgName(m).toLowerCase().indexOf(q) < 0) continue;
      var inside = m === z, outer = true;
      for (var up = P.nodes[3 * m]; !inside && up; up = P.nodes[3 * up]) {
        if (up === z) inside = true;
        else if (fgName(up).toLowerCase().indexOf(q) >= 0) outer = false;
      }
      if ((inside || z === 0) && outer) matched += V[m];
    }
    var info = document.getElementById('fg-info');
    var unit = fgUnit();
    info.textContent = (z ? 'zoomed to ' + shortName(fgName(z)) + ': ' : 'total: ') + fmtBy(unit, total) +
      (DIFF ? ' (' + FG.width + ' run; ' + changeText(unit, fgChange(z).b, fgChange(z).n) + ')' : '') +
      (q ? '  |  search "' + FG.search + '": ' + fmtBy(unit, matched) + (total ? ' (' + (100 * matched / total).toFixed(1) + '%)' : '') : '');
  }
  function fgTipText(i) {
    var V = P.values[FG.type], unit = fgUnit(), root = V[0];
    var lines = [fgName(i)];
    if (fgLoc(i)) lines.push(fgLoc(i));
    if (DIFF) {
      lines.push('change: ' + fgChange(i).cls);
      DIFF.metrics.forEach(function (x) {
        lines.push(x + (x === FG.metric ? ' (drawn)' : '') + ': ' + changeText(typeUnit(x), P.values[DIFF.base[x]][i], P.values[DIFF.neu[x]][i]));
      });
      if (root) lines.push('width: ' + (100 * V[i] / root).toFixed(2) + '% of the ' + FG.width + ' run\'s ' + FG.metric);
      return lines.join('\n');
    }
    lines.push(P.types[FG.type] + ': ' + fmtBy(unit, V[i]) + (root ? ' (' + (100 * V[i] / root).toFixed(2) + '% of all' +
      (FG.zoom && FG.total ? ', ' + (100 * V[i] / FG.total).toFixed(2) + '% of the zoom' : '') + ')' : ''));
    P.types.forEach(function (t, k) { if (k !== FG.type && P.values[k][i]) lines.push(t + ': ' + fmtBy(typeUnit(t), P.values[k][i])); });
    return lines.join('\n');
  }
  function flameView() {
    var sec = el('section', { id: 'flame' });
    sec.appendChild(el('h2', { text: DIFF ? 'Differential flame graph (widths: one run; colour: the change from base to new)'
                                          : 'Flame graph (callers on top, allocation or wait sites below)' }));
    if (!P || !P.nodes || !P.nodes.length) { sec.appendChild(el('div', { cls: 'mut', text: 'no profile' })); app.appendChild(sec); return; }
    fgBuild();
    var sel = el('select', { id: 'fg-type' }), wsel = null;
    var first = -1;
    if (DIFF) { /* a selector of X, and of the run whose values give the widths */
      DIFF.metrics.forEach(function (x) {
        var any = P.values[DIFF.base[x]][0] || P.values[DIFF.neu[x]][0];
        sel.appendChild(el('option', { value: x, text: x + (any ? '' : ' (none)') }));
      });
      var st = /^(base|new)_(.+)$/.exec(P.types[P.select] || '') || [];
      FG.metric = st[2] in DIFF.neu ? st[2] : DIFF.metrics[0];
      FG.width = 'new';
      FG.type = DIFF.neu[FG.metric];
      sel.value = FG.metric;
      wsel = el('select', { id: 'fg-width' }, [el('option', { value: 'new', text: 'new run' }), el('option', { value: 'base', text: 'base run' })]);
    } else {
      P.types.forEach(function (t, k) {
        var o = el('option', { value: String(k), text: t.replace(/_ns$/, '') + (P.values[k][0] ? '' : ' (none)') });
        sel.appendChild(o);
        if (first < 0 && P.values[k][0]) first = k;
      });
      FG.type = P.values[P.select] && P.values[P.select][0] ? P.select : Math.max(first, 0);
      sel.value = String(FG.type);
    }
    var search = el('input', { type: 'search', id: 'fg-search', placeholder: 'search functions (highlights)' });
    var reset = el('button', { id: 'fg-reset', text: 'reset zoom' });
    sec.appendChild(el('div', { cls: 'toolbar' }, [el('label', {}, [DIFF ? 'metric ' : 'sample type ', sel]),
      wsel && el('label', {}, ['widths of the ', wsel]), search, reset, el('span', { id: 'fg-info', cls: 'mut' })]));
    if (DIFF) sec.appendChild(el('div', { cls: 'legend', id: 'fg-legend' }, [['grown', { cls: 'grown', b: 1, n: 2 }], ['shrunk', { cls: 'shrunk', b: 2, n: 1 }],
      ['added (new run only)', { cls: 'added' }], ['removed (base run only; widths of the base run)', { cls: 'removed' }], ['unchanged', { cls: 'same' }]].map(function (x) {
      var sw = el('i');
      sw.style.background = diffColor(x[1]);
      return el('span', {}, [sw, x[0]]);
    })));
    var box = el('div', { id: 'fg' });
    sec.appendChild(box);
    sec.appendChild(el('div', { cls: 'mut', text: 'Click a frame to zoom into it, a greyed caller above to zoom out; hover for numbers and the full name.' }));
    app.appendChild(sec);
    function pickType() { FG.type = DIFF ? (FG.width === 'base' ? DIFF.base : DIFF.neu)[FG.metric] : Number(sel.value); }
    sel.addEventListener('change', function () { if (DIFF) FG.metric = sel.value; pickType(); FG.zoom = 0; fgRender(); });
    if (wsel) wsel.addEventListener('change', function () { FG.width = wsel.value; pickType(); FG.zoom = 0; fgRender(); });
    search.addEventListener('input', function () { FG.search = search.value; fgRender(); });
    reset.addEventListener('click', function () { FG.zoom = 0; fgRender(); });
    box.addEventListener('click', function (ev) {
      var t = ev.target.closest('.fg-frame');
      if (!t) return;
      FG.zoom = Number(t.getAttribute('data-node'));
      fgRender();
    });
    box.addEventListener('mousemove', function (ev) {
      var t = ev.target.closest('.fg-frame');
      if (t) showTip(ev, fgTipText(Number(t.getAttribute('data-node')))); else hideTip();
    });
    box.addEventListener('mouseleave', hideTip);
    fgRender();
    window.addEventListener('resize', fgRender);
  }

  /* ---- the time axis -------------------------------------------------------------------- */
  function timelineView() {
    var sec = el('section', { id: 'timeline' });
    sec.appendChild(el('h2', { text: 'Timeline' }));
    app.appendChild(sec);
    var tl = R.timeline;
    shown.timeline = true;
    if (!tl || !tl.slices || !tl.slices.length) { sec.appendChild(el('div', { cls: 'mut', text: 'no timeline in this report' })); return; }
    var S = tl.slices, ns = tl.slice_ns || 1;
    var rssKeys = [];
    Object.keys(S[0]).forEach(function (k) { if (/rss_bytes$/.test(k)) rssKeys.push(k); });
    var panels = [
      { title: 'memory', unit: 'bytes', series: [{ key: 'live_bytes_max', label: 'live heap (max in slice)', color: '#ff7043', area: true }]
          .concat(rssKeys.map(function (k, i) { return { key: k, label: k === 'rss_bytes' ? 'RSS (app)' : title(k).replace(/ bytes$/, ''), color: ['#1e88e5', '#8e24aa', '#00897b'][i % 3] }; })) },
      { title: 'allocation rate', unit: 'rate', series: [{ key: 'allocations', label: 'allocations/s', color: '#43a047', bars: true, rate: true }] },
    ];
    if ('lock_wait_ns' in S[0] && (R.locks || []).length) panels.push({ title: 'lock waits', unit: 'ns', series: [{ key: 'lock_wait_ns', label: 'time waited for locks in the slice (all threads)', color: '#e53935', bars: true }] });
    var W = 1000, PH = 90, GAP = 22, L = 70, Rm = 10;
    var H = panels.length * (PH + GAP) + 20;
    var svg = sv('svg', { viewBox: '0 0 ' + W + ' ' + H, width: '100%', id: 'tl-svg', preserveAspectRatio: 'none' });
    svg.style.maxHeight = (H * 1.2) + 'px';
    var n = S.length, pw = (W - L - Rm) / n;
    panels.forEach(function (p, pi) {
      var y0 = pi * (PH + GAP) + 14;
      var max = 0;
      p.series.forEach(function (s) {
        S.forEach(function (sl) { var v = sl[s.key]; if (v != null) { if (s.rate) v = v * 1e9 / ns; if (v > max) max = v; } });
      });
      svg.appendChild(sv('rect', { x: L, y: y0, width: W - L - Rm, height: PH, 'class': 'tl-panel' }));
      var t = sv('text', { x: 2, y: y0 - 3 });
      t.textContent = p.title + ' (max ' + (p.unit === 'rate' ? fmtRate(max) : fmtBy(p.unit, max)) + ')';
      svg.appendChild(t);
      p.series.forEach(function (s, si) {
        var pts = [];
        S.forEach(function (sl, i) {
          var v = sl[s.key];
          if (v == null) return;
          if (s.rate) v = v * 1e9 / ns;
          var h = max ? PH * v / max : 0;
          if (s.bars) svg.appendChild(sv('rect', { x: L + i * pw + 1, y: y0 + PH - h, width: Math.max(pw - 2, 1), height: h, fill: s.color, 'class': 'tl-bar' }));
          else pts.push([L + (i + 0.5) * pw, y0 + PH - h]);
        });
        if (pts.length && s.area) {
          var d = 'M' + pts[0][0] + ',' + (y0 + PH) + pts.map(function (q) { return 'L' + q[0] + ',' + q[1]; }).join('') + 'L' + pts[pts.length - 1][0] + ',' + (y0 + PH) + 'Z';
          svg.appendChild(sv('path', { d: d, fill: s.color, 'fill-opacity': 0.35, stroke: s.color, 'class': 'tl-series' }));
        } else if (pts.length) {
          svg.appendChild(sv('path', { d: 'M' + pts.map(function (q) { return q[0] + ',' + q[1]; }).join('L'), fill: 'none', stroke: s.color, 'stroke-width': 2, 'class': 'tl-series' }));
        }
        var lg = sv('text', { x: L + 260 + si * 220, y: y0 - 3 });
        lg.textContent = '\u25A0 ' + s.label;
        lg.style.fill = s.color;
        svg.appendChild(lg);
      });
    });
    for (var i = 0; i <= n; i += Math.max(1, Math.round(n / 10))) {
      var tx = sv('text', { x: Math.min(L + i * pw, W - 30), y: H - 4, 'text-anchor': 'middle' });
      tx.textContent = '+' + fmtNs(i * ns);
      svg.appendChild(tx);
    }
    /* hover: the slice's values */
    var hov = sv('rect', { x: 0, y: 0, width: W, height: H, fill: 'transparent' });
    hov.addEventListener('mousemove', function (ev) {
      var r = svg.getBoundingClientRect(), x = (ev.clientX - r.left) * W / r.width;
      var k = Math.floor((x - L) / pw);
      if (k < 0 || k >= n) { hideTip(); return; }
      var sl = S[k], lines = ['+' + fmtNs(k * ns) + ' .. +' + fmtNs((k + 1) * ns)];
      Object.keys(sl).forEach(function (key) { if (key !== 'start_ns') lines.push(title(key) + ': ' + fmtBy(unitOf(key), sl[key])); });
      showTip(ev, lines.join('\n'));
    });
    hov.addEventListener('mouseleave', hideTip);
    svg.appendChild(hov);
    sec.appendChild(svg);
    if (!rssKeys.length || S.every(function (s) { return s.rss_bytes == null; }))
      sec.appendChild(el('div', { cls: 'mut', text: 'no RSS samples in this trace' }));
  }

  /* ---- threads: running vs waiting per lock (TSA) -------------------------------------- */
  var LOCKCOLORS = ['#e53935', '#fb8c00', '#8e24aa', '#d81b60', '#6d4c41', '#f4511e'];
  function threadsView() {
    var sec = el('section', { id: 'threads' });
    sec.appendChild(el('h2', { text: 'Thread states (time running vs waiting, per thread)' }));
    app.appendChild(sec);
    shown.threads = true;
    var T = R.threads || [];
    if (!T.length) { sec.appendChild(el('div', { cls: 'mut th-empty', text: 'no thread states: the trace has no lock records' })); return; }
    /* per-thread waits on each lock, when the document has them (locks[].thread_waits) */
    var per = {}, lockName = {}, locks = (R.locks || []).slice(0, LOCKCOLORS.length);
    locks.forEach(function (k, li) {
      var site = k.sites && k.sites[0] && k.sites[0].stack && k.sites[0].stack[0];
      lockName[li] = k.type + ' ' + k.address + (site ? ' (' + shortName(frameText(site).name) + ')' : '');
      (k.thread_waits || []).forEach(function (w) { (per[w.tid] = per[w.tid] || []).push([li, w.wait_ns]); });
    });
    var maxWall = 0;
    T.forEach(function (t) { if (t.wall_ns > maxWall) maxWall = t.wall_ns; });
    var legend = el('div', { cls: 'legend' }, [el('span', {}, [el('i', { style: 'background:var(--run)' }), 'running (not waiting)'])]);
    locks.forEach(function (k, li) { if (k.thread_waits && k.thread_waits.length) legend.appendChild(el('span', {}, [el('i', { style: 'background:' + LOCKCOLORS[li] }), 'waiting on ' + lockName[li]])); });
    legend.appendChild(el('span', {}, [el('i', { style: 'background:#b71c1c' }), 'waiting on other locks']));
    legend.appendChild(el('span', {}, [el('i', { style: 'background:var(--cond)' }), 'condvar wait']));
    sec.appendChild(legend);
    T.forEach(function (t) {
      var bar = el('div', { cls: 'th-bar' });
      var scale = maxWall ? 100 / maxWall : 0;
      function seg(ns, color, label) {
        if (!ns) return;
        var s = el('div', { cls: 'th-seg' });
        s.style.width = (ns * scale) + '%';
        s.style.background = color;
        s.addEventListener('mousemove', function (ev) { showTip(ev, 'thread ' + t.tid + ' ' + (t.name || '') + '\n' + label + ': ' + fmtNs(ns) + ' (' + (100 * ns / (t.wall_ns || 1)).toFixed(1) + '% of its ' + fmtNs(t.wall_ns) + ')'); });
        s.addEventListener('mouseleave', hideTip);
        bar.appendChild(s);
      }
      seg(t.running_ns, 'var(--run)', 'running');
      var rest = t.lock_wait_ns;
      (per[t.tid] || []).forEach(function (w) { seg(w[1], LOCKCOLORS[w[0]], 'waiting on ' + lockName[w[0]]); rest -= w[1]; });
      seg(Math.max(rest, 0), '#b71c1c', 'waiting on ' + (per[t.tid] ? 'other locks' : 'locks'));
      if (t.cond_wait_recorded !== false) seg(t.cond_wait_ns, 'var(--cond)', 'condvar wait');
      sec.appendChild(el('div', { cls: 'th-row' }, [el('div', { cls: 'th-name', title: t.name || '', text: t.tid + ' ' + (t.name || '') }), bar,
        el('div', { cls: 'mut', text: fmtNs(t.wall_ns) + ', waits ' + (t.wall_ns ? (100 * t.lock_wait_ns / t.wall_ns).toFixed(1) : '0') + '%' })]));
    });
  }

  /* ---- tables of sites, leaks, locks ---------------------------------------------------- */
  function loc(stack) { var f = stack && stack[0]; return f && f.file ? f.file + ':' + f.line : ''; }
  function fn(stack) { var f = stack && stack[0]; return f ? shortName(frameText(f).name) : ''; }
  function numCol(k, t, unit, get) { return { key: k, title: t, unit: unit, get: get || function (r) { return r[k]; } }; }
  function whereCols() {
    return [{ title: 'function', unit: 'str', get: function (r) { return fn(r.stack); }, cell: function (r) { return whereCell(r.stack); } },
            { title: 'file:line', unit: 'str', get: function (r) { return loc(r.stack); }, cell: function (r) { return el('td', { cls: 'where', text: loc(r.stack) }); } }];
  }
  function tablesView() {
    var sec = el('section', { id: 'tables' });
    sec.appendChild(el('h2', { text: 'Sites, leaks and locks' }));
    app.appendChild(sec);
    if (R.sites) {
      shown.sites = true;
      sec.appendChild(el('h3', { text: 'Allocation sites (' + R.sites.length + ')' }));
      sec.appendChild(sortableTable('t-sites', R.sites.slice(), whereCols().concat([
        numCol('allocations', 'allocations', 'count'), numCol('bytes', 'bytes', 'bytes'), numCol('peak_bytes', 'peak', 'bytes'),
        numCol('not_freed_bytes', 'not freed', 'bytes'), numCol('temporary', 'temporary', 'count'), numCol('frees', 'frees', 'count'),
        numCol('size_p50', 'size p50', 'bytes'), numCol('lifetime_ns_p50', 'lifetime p50', 'ns')])));
    }
    if (R.leaks) {
      shown.leaks = true;
      sec.appendChild(el('h3', { text: 'Leaks (' + R.leaks.length + ')' }));
      if (R.leaks.length) {
        var lk = [];
        Object.keys(R.leaks[0]).forEach(function (k) { if (k !== 'stack' && isScalar(R.leaks[0][k])) lk.push(k); });
        sec.appendChild(sortableTable('t-leaks', R.leaks.slice(), whereCols().concat(lk.map(function (k) {
          return numCol(k, title(k), typeof R.leaks[0][k] === 'string' ? 'str' : unitOf(k));
        }))));
      } else sec.appendChild(el('div', { cls: 'mut', text: 'none' }));
    }
    if (R.locks) {
      shown.locks = true;
      sec.appendChild(el('h3', { text: 'Locks (' + R.locks.length + ')' }));
      if (R.locks.length) {
        var first = function (r) { return r.sites && r.sites[0] ? r.sites[0].stack : null; };
        sec.appendChild(sortableTable('t-locks', R.locks.slice(), [
          numCol('address', 'lock', 'str'), numCol('type', 'type', 'str'),
          { title: 'top waiting site', unit: 'str', get: function (r) { return fn(first(r)); }, cell: function (r) { return whereCell(first(r)); } },
          { title: 'file:line', unit: 'str', get: function (r) { return loc(first(r)); }, cell: function (r) { return el('td', { cls: 'where', text: loc(first(r)) }); } },
          numCol('acquisitions', 'acquisitions', 'count'), numCol('contended', 'contended', 'count'),
          numCol('wait', 'wait total', 'ns', function (r) { return r.wait_ns ? r.wait_ns.total : null; }),
          numCol('wait_p99', 'wait p99', 'ns', function (r) { return r.wait_ns ? r.wait_ns.p99 : null; }),
          numCol('max_waiters', 'max waiters', 'count'), numCol('amdahl_max_saving_ns', 'Amdahl bound', 'ns')]));
      } else sec.appendChild(el('div', { cls: 'mut', text: 'none' }));
    }
  }

  /* perfshim diff's sections, through the generic drawing: totals, the sites by status (a
   * sortable table each; unchanged closed), the gate */
  function diffView() {
    var sec = el('section', { id: 'diff' });
    sec.appendChild(el('h2', { text: 'Totals, sites by status, gate' }));
    ['totals', 'counts'].forEach(function (k) { if (k in R) { shown[k] = true; sec.appendChild(genericSection(k, R[k], true)); } });
    if (Array.isArray(R.sites)) {
      shown.sites = true;
      var by = {}, order = [];
      R.sites.forEach(function (x) { if (!by[x.status]) { by[x.status] = []; order.push(x.status); } by[x.status].push(x); });
      var box = el('div', { id: 'sec-sites' });
      order.forEach(function (st) {
        var d = el('details', { id: 'sec-sites-' + st });
        if (st !== 'unchanged') d.open = true;
        d.appendChild(el('summary', { text: 'sites ' + st + ' (' + by[st].length + ')' }));
        d.appendChild(genericValue('sites', by[st]));
        box.appendChild(d);
      });
      if (!order.length) box.appendChild(el('div', { cls: 'mut', text: 'no site' }));
      sec.appendChild(box);
    }
    if ('gate' in R) { shown.gate = true; sec.appendChild(genericSection('gate', R.gate, true)); }
    app.appendChild(sec);
  }

  function restView() {
    var keys = Object.keys(R).filter(function (k) { return !shown[k]; });
    if (!keys.length) return;
    var sec = el('section', { id: 'more' });
    sec.appendChild(el('h2', { text: 'Every other section of the report' }));
    keys.forEach(function (k) { sec.appendChild(genericSection(k, R[k], k === 'summary')); });
    app.appendChild(sec);
  }

  /* ---- self-test (#selftest): the browser test's checks, results in the DOM ------------ */
  /* whether colour rgb is red (k 0: green and blue equal, below red) or blue (k 2: blue the
   * most) */
  function hue(rgb, k) {
    var x = (/rgb\((\d+), (\d+), (\d+)\)/.exec(rgb) || []).map(Number);
    return x.length === 4 && (k === 0 ? x[1] > x[2] + 20 && Math.abs(x[2] - x[3]) <= 3 : x[3] > x[1] + 20 && x[3] > x[2]);
  }
  function selftest() {
    var out = [], fail = [];
    function ok(name, cond, detail) { out.push((cond ? 'ok   ' : 'FAIL ') + name + (detail ? ' (' + detail + ')' : '')); if (!cond) fail.push(name); }
    var frames = document.querySelectorAll('#fg .fg-frame');
    ok('flame graph rendered', frames.length > 1, frames.length + ' frames');
    if (DIFF) { /* each frame coloured by its own change, and the change is the values' */
      var seen = {}, wrongc = [];
      Array.prototype.forEach.call(frames, function (f) {
        var c = fgChange(Number(f.getAttribute('data-node')));
        seen[c.cls] = (seen[c.cls] || 0) + 1;
        if (f.getAttribute('data-change') !== c.cls || !f.classList.contains('fg-' + c.cls) || f.style.background === '' ||
            (c.cls === 'grown' && !hue(f.style.backgroundColor, 0)) || (c.cls === 'shrunk' && !hue(f.style.backgroundColor, 2)))
          wrongc.push(fgName(Number(f.getAttribute('data-node'))));
      });
      ok('frames coloured by change', !wrongc.length && (seen.grown || seen.shrunk || seen.added || seen.removed),
         Object.keys(seen).map(function (k) { return seen[k] + ' ' + k; }).join(', ') + (wrongc.length ? '; wrong: ' + wrongc.join(' ') : ''));
    }
    if (!ISDIFF) {
      ok('timeline rendered', document.querySelectorAll('#tl-svg .tl-series, #tl-svg .tl-bar').length > 0);
      var rows = document.querySelectorAll('#threads .th-row').length, nt = (R.threads || []).length;
      ok('thread view rendered', document.getElementById('threads') && rows === nt &&
         (nt > 0 || document.querySelector('#threads .th-empty')), rows + ' threads');
      ok('tables rendered', document.querySelectorAll('#t-sites tbody tr').length > 0);
    } else {
      var st = Object.keys(R.counts || {}).filter(function (k) { return R.counts[k]; });
      ok('diff sections rendered', document.querySelector('#diff #sec-totals table') && document.querySelector('#diff #sec-gate') &&
         st.every(function (k) { return document.querySelectorAll('#sec-sites-' + k + ' tbody tr').length === R.counts[k]; }),
         st.map(function (k) { return R.counts[k] + ' ' + k; }).join(', '));
    }
    if (DIFF && R.counts && R.counts.removed) { /* the base run's widths draw the removed frames */
      var ws = document.getElementById('fg-width');
      ws.value = 'base';
      ws.dispatchEvent(new Event('change'));
      var rm = document.querySelectorAll('#fg .fg-removed[data-change="removed"]').length;
      ws.value = 'new';
      ws.dispatchEvent(new Event('change'));
      ok('base widths show the removed frames', rm > 0 && !document.querySelector('#fg .fg-removed'), rm + ' frames');
      frames = document.querySelectorAll('#fg .fg-frame');
    }
    /* hover: the frame's numbers in the tip (a diff: base, new, delta and ratio) */
    var hv = frames[frames.length - 1];
    if (hv) {
      var r = hv.getBoundingClientRect();
      hv.dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: r.left + 2, clientY: r.top + 2 }));
      var tt = tip.hidden ? '' : tip.textContent, hi = Number(hv.getAttribute('data-node'));
      ok('hover shows numbers', tt.indexOf(fgName(hi)) === 0 && (DIFF ? /base .* \u2192 new .*, delta .*, ratio /.test(tt) : tt.indexOf(P.types[FG.type] + ': ') > 0),
         tt.split('\n').slice(0, DIFF ? 4 : 3).join(' | '));
      document.getElementById('fg').dispatchEvent(new MouseEvent('mouseleave'));
    }
    var firstKeys = FIRST.filter(function (k) { return k in R; });
    if (firstKeys.length)
      ok('first screen on top', firstKeys.every(function (k) { return document.querySelector('#first #sec-' + k); }) &&
         (document.getElementById('first').compareDocumentPosition(document.getElementById('flame')) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0,
         firstKeys.join(' '));
    /* click: the widest frame below the root that is not the whole graph zooms in */
    var V = P.values[FG.type], pick = null;
    Array.prototype.forEach.call(frames, function (f) {
      var i = Number(f.getAttribute('data-node'));
      if (i && V[i] < V[0] && FG.kids[i].length && (!pick || V[i] > V[Number(pick.getAttribute('data-node'))])) pick = f;
    });
    if (!pick) Array.prototype.forEach.call(frames, function (f) { if (!pick && f.getAttribute('data-node') !== '0') pick = f; });
    if (pick) {
      var id = pick.getAttribute('data-node');
      pick.dispatchEvent(new MouseEvent('click', { bubbles: true }));
      var box = document.getElementById('fg');
      var z = box.querySelector('.fg-frame:not(.fg-anc)[data-node="' + id + '"]');
      ok('click zooms', box.getAttribute('data-zoom') === id && z && z.style.width === '100%', 'node ' + id + ' ' + fgName(Number(id)));
      document.getElementById('fg-reset').click();
      ok('reset zooms out', box.getAttribute('data-zoom') === '0');
    } else ok('click zooms', false, 'no frame to click');
    /* search: a frame's name highlights it and no frame that does not match */
    var leaf = null, deepest = -1;
    Array.prototype.forEach.call(document.querySelectorAll('#fg .fg-frame'), function (f) {
      var i = Number(f.getAttribute('data-node'));
      if (i && FG.depth[i] > deepest && fgName(i).length > 2) { deepest = FG.depth[i]; leaf = fgName(i); }
    });
    var s = document.getElementById('fg-search');
    s.value = leaf || 'main';
    s.dispatchEvent(new Event('input', { bubbles: true }));
    var m = document.querySelectorAll('#fg .fg-match'), wrong = 0;
    Array.prototype.forEach.call(m, function (f) { if (fgName(Number(f.getAttribute('data-node'))).toLowerCase().indexOf(s.value.toLowerCase()) < 0) wrong++; });
    ok('search highlights', m.length > 0 && wrong === 0, m.length + ' matches of "' + s.value + '"');
    s.value = '';
    s.dispatchEvent(new Event('input', { bubbles: true }));
    ok('search cleared', document.querySelectorAll('#fg .fg-match').length === 0);
    var tmpl = Array.prototype.filter.call(document.querySelectorAll('#fg .fg-frame'), function (f) {
      return fgName(Number(f.getAttribute('data-node'))).indexOf('<') >= 0 && f.textContent;
    });
    if (tmpl.length)
      ok('C++ frames shortened, full name on hover', tmpl.every(function (f) {
        var i = Number(f.getAttribute('data-node'));
        return f.textContent === shortName(fgName(i)) && f.textContent.indexOf('<\u2026>') >= 0 && fgTipText(i).indexOf(fgName(i)) === 0;
      }), tmpl.length + ' frames, e.g. ' + tmpl[0].textContent);
    ok('shortened names', shortName('std::vector<int, std::allocator<int> >::push_back(int const&)') === 'std::vector<\u2026>::push_back(int const&)' &&
       shortName('operator<<(std::ostream&, foo<bar>)') === 'operator<<(std::ostream&, foo<\u2026>)');
    /* sorting: a click on the bytes header orders the sites by bytes, largest first */
    var th = Array.prototype.filter.call(document.querySelectorAll('#t-sites th'), function (h) { return h.textContent === 'bytes'; })[0];
    if (th) {
      th.click();
      var col = Array.prototype.indexOf.call(th.parentNode.children, th), prev = Infinity, sorted = true;
      var parse = function (t) { var x = /^([\d.]+) (B|KiB|MiB|GiB|TiB)$/.exec(t); return x ? Number(x[1]) * Math.pow(1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(x[2])) : NaN; };
      Array.prototype.forEach.call(document.querySelectorAll('#t-sites tbody tr'), function (tr) {
        var cell = tr.children[col];
        if (!cell) return;
        var v = parse(cell.textContent);
        if (!(v <= prev * 1.001)) sorted = false;
        prev = v;
      });
      ok('tables sort', sorted && th.classList.contains('desc'));
    }
    ok('no errors', errors.length === 0, errors.join(' | '));
    out.push(fail.length ? 'SELFTEST FAIL: ' + fail.join(', ') : 'SELFTEST PASS');
    var pre = el('pre', { id: 'selftest', text: out.join('\n') });
    document.body.insertBefore(pre, document.body.firstChild);
  }

  try {
    header();
    firstScreen();
    flameView();
    if (ISDIFF) diffView();
    else {
      timelineView();
      threadsView();
      tablesView();
    }
    restView();
  } catch (e) {
    errors.push('render: ' + (e && e.stack || e));
    app.appendChild(el('pre', { text: 'report.js failed: ' + e }));
  }
  if (location.hash === '#selftest') {
    try { selftest(); } catch (e) {
      document.body.insertBefore(el('pre', { id: 'selftest', text: 'SELFTEST FAIL: ' + (e && e.stack || e) }), document.body.firstChild);
    }
  }
})();
