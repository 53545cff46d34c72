#!/usr/bin/env python3
"""visual_formats.py -- checks of the formats other tools read (tests/integration/visual_formats.sh).

usage: visual_formats.py KIND OUTPUT REPORT_JSON [TAMPER...]
  KIND: speedscope | pprof-raw | chrome-trace | massif | ms_print
  OUTPUT: the format's file (pprof-raw: `go tool pprof -raw`'s output; ms_print: its output)
  REPORT_JSON: `perfshim report --format=json` of the same trace: the truth to compare with
  TAMPER: keys of the expected values (allocations, bytes, peak, leaked, inuse, lock_wait);
          the check is run again with each one off by one, and must then fail.
Exit 0 when the output has its format's required fields and the report's totals (and each
tampered check fails), else 1 with one line saying what differs.
"""
import json
import re
import sys


class Mismatch(Exception):
    pass


def fail(msg):
    raise Mismatch("visual_formats: " + msg)


def expected(report, tamper):
    s = report["summary"]
    leaked = (s["leaked_definite_bytes"] + s["leaked_indirect_bytes"]) if s["leak_scan"] \
        else s["not_freed_bytes"]
    e = {"allocations": s["allocations"], "bytes": s["bytes_allocated"],
         "peak": s["peak_heap_bytes"], "leaked": leaked, "inuse": s["not_freed_bytes"],
         "lock_wait": {t["tid"]: t["lock_wait_ns"] for t in report["threads"]}}
    if tamper:
        if tamper == "lock_wait":
            tid = max(e["lock_wait"], key=lambda t: e["lock_wait"][t])
            e["lock_wait"][tid] += 1
        else:
            e[tamper] += 1
    return e


def speedscope(path, e):
    d = json.load(open(path))
    if d.get("$schema") != "https://www.speedscope.app/file-format-schema.json":
        fail("speedscope: $schema")
    frames = d["shared"]["frames"]
    for f in frames:
        if not isinstance(f.get("name"), str):
            fail("speedscope: a frame without a name: %r" % f)
        if "line" in f and not isinstance(f["line"], int):
            fail("speedscope: a frame's line: %r" % f)
        if any(ch < " " for k in ("name", "file") for ch in f.get(k, "")):
            fail("speedscope: a control character in a frame: %r" % f)
    names = {}
    for p in d["profiles"]:
        for k in ("type", "name", "unit", "startValue", "endValue", "samples", "weights"):
            if k not in p:
                fail("speedscope: profile %s has no %s" % (p.get("name"), k))
        if p["type"] != "sampled" or p["unit"] not in ("none", "bytes"):
            fail("speedscope: profile %s: type %s unit %s" % (p["name"], p["type"], p["unit"]))
        if len(p["samples"]) != len(p["weights"]):
            fail("speedscope: profile %s: %d samples, %d weights" %
                 (p["name"], len(p["samples"]), len(p["weights"])))
        for st in p["samples"]:
            if not st or any(not (0 <= i < len(frames)) for i in st):
                fail("speedscope: profile %s: a frame index out of range: %r" % (p["name"], st))
        if sum(p["weights"]) != p["endValue"] - p["startValue"]:
            fail("speedscope: profile %s: weights sum %d, endValue %d" %
                 (p["name"], sum(p["weights"]), p["endValue"]))
        names[p["name"]] = sum(p["weights"])
    if not 0 <= d.get("activeProfileIndex", 0) < len(d["profiles"]):
        fail("speedscope: activeProfileIndex")
    for k in ("allocations", "bytes", "peak", "leaked", "inuse"):
        if names.get(k) != e[k]:
            fail("speedscope: %s: %s, the report says %d" % (k, names.get(k), e[k]))


def pprof_raw(path, e):
    """`go tool pprof -raw`: a header line of TYPE/UNIT, then VALUES...: LOCATION IDS."""
    lines = open(path).read().split("\n")
    try:
        i = lines.index("Samples:")
    except ValueError:
        fail("pprof: no Samples: section")
    types = [t.split("/")[0] for t in lines[i + 1].replace("[dflt]", "").split()]
    units = [t.split("/")[1] for t in lines[i + 1].replace("[dflt]", "").split()]
    if units != ["count", "bytes", "bytes", "bytes", "bytes", "count", "nanoseconds"]:
        fail("pprof: units %r" % units)
    tot = [0] * len(types)
    for ln in lines[i + 2:]:
        m = re.match(r"^\s+([\d\s]+):\s+([\d\s]+)$", ln)
        if not m:
            break
        vals = [int(v) for v in m.group(1).split()]
        if len(vals) != len(types):
            fail("pprof: a sample with %d values" % len(vals))
        tot = [a + b for a, b in zip(tot, vals)]
    got = dict(zip(types, tot))
    for k in ("allocations", "bytes", "peak", "leaked", "inuse"):
        if got.get(k) != e[k]:
            fail("pprof: %s: %s, the report says %d" % (k, got.get(k), e[k]))
    if "Locations" not in lines or "Mappings" not in lines:
        fail("pprof: no Locations or Mappings")


def us_to_ns(v):
    """A Trace Event timestamp (us, three decimals) in ns, exactly."""
    s = json.dumps(v)
    whole, _, frac = s.partition(".")
    return int(whole) * 1000 + int((frac + "000")[:3])


def chrome_trace(path, e, report):
    d = json.load(open(path))
    ev = d["traceEvents"]
    pid = report["trace"]["pid"]
    waits, names, heap = {}, {}, []
    for x in ev:
        for k in ("name", "ph", "pid", "tid"):
            if k not in x:
                fail("chrome-trace: an event without %s: %r" % (k, x))
        if x["pid"] != pid:
            fail("chrome-trace: pid %r" % x["pid"])
        if x["ph"] == "M":
            if x["name"] not in ("process_name", "thread_name") or "name" not in x["args"]:
                fail("chrome-trace: metadata %r" % x)
            if x["name"] == "thread_name":
                names[x["tid"]] = x["args"]["name"]
        elif x["ph"] == "C":
            if not isinstance(x.get("ts"), (int, float)) or not x.get("args"):
                fail("chrome-trace: counter %r" % x)
            if x["name"] == "heap":
                heap.append(x["args"]["live_bytes"])
        elif x["ph"] == "X":
            if not isinstance(x.get("ts"), (int, float)) or not isinstance(x.get("dur"), (int, float)):
                fail("chrome-trace: slice %r" % x)
            if us_to_ns(x["dur"]) != x["args"]["wait_ns"]:
                fail("chrome-trace: dur %r is not wait_ns %r" % (x["dur"], x["args"]["wait_ns"]))
            waits[x["tid"]] = waits.get(x["tid"], 0) + us_to_ns(x["dur"])
        else:
            fail("chrome-trace: phase %r" % x["ph"])
    for tid, ns in e["lock_wait"].items():
        if waits.get(tid, 0) != ns:
            fail("chrome-trace: thread %d waited %d ns in slices, the report says %d" %
                 (tid, waits.get(tid, 0), ns))
        if tid not in names:
            fail("chrome-trace: thread %d has no thread_name" % tid)
    if (max(heap) if heap else 0) != e["peak"]:
        fail("chrome-trace: heap counter peak %s, the report says %d" % (max(heap), e["peak"]))
    if heap and heap[-1] != e["inuse"]:
        fail("chrome-trace: the last heap counter %d, in use at the end %d" % (heap[-1], e["inuse"]))


def massif(path, e):
    text = open(path).read()
    if not re.match(r"desc: .*\ncmd: .*\ntime_unit: ms\n", text):
        fail("massif: head")
    snaps = re.findall(r"snapshot=(\d+)\n#-+\ntime=([\d.]+)\nmem_heap_B=(\d+)\n"
                       r"mem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=(\w+)\n", text)
    if len(snaps) != text.count("snapshot="):
        fail("massif: a snapshot without its fields")
    peaks = [s for s in snaps if s[3] == "peak"]
    if len(peaks) != 1 or int(peaks[0][2]) != e["peak"]:
        fail("massif: peak snapshot %r, the report's peak %d" % (peaks, e["peak"]))
    if max(int(s[2]) for s in snaps) != e["peak"]:
        fail("massif: a snapshot above the peak")
    # the peak tree: its root and the sum of its first level are the peak
    tree = text.split("heap_tree=peak\n", 1)[1].split("#-----------", 1)[0].split("\n")
    root = re.match(r"n(\d+): (\d+) ", tree[0])
    first = [int(m.group(1)) for m in (re.match(r"^ n\d+: (\d+) ", ln) for ln in tree) if m]
    if int(root.group(2)) != e["peak"] or sum(first) != e["peak"] or len(first) != int(root.group(1)):
        fail("massif: peak tree root %s, first level %r, the report's peak %d" %
             (root.group(2), first, e["peak"]))
    last = snaps[-1]
    if last[3] != "detailed" or int(last[2]) != e["inuse"]:
        fail("massif: the last snapshot %r, in use at the end %d" % (last, e["inuse"]))


def ms_print(path, e):
    """ms_print's table: the largest total(B) is the report's peak, marked (peak)."""
    out = open(path).read()
    rows = re.findall(r"^\s*(\d+)\s+([\d,.]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s*$",
                      out, re.M)
    if not rows:
        fail("ms_print: no snapshot table")
    top = max(int(r[2].replace(",", "")) for r in rows)
    if top != e["peak"]:
        fail("ms_print: peak total %d B, the report says %d" % (top, e["peak"]))
    if "(peak)" not in out:
        fail("ms_print: no (peak) snapshot")


def run(kind, out, report, tamper):
    e = expected(report, tamper)
    if kind == "speedscope":
        speedscope(out, e)
    elif kind == "pprof-raw":
        pprof_raw(out, e)
    elif kind == "chrome-trace":
        chrome_trace(out, e, report)
    elif kind == "massif":
        massif(out, e)
    elif kind == "ms_print":
        ms_print(out, e)
    else:
        fail("unknown kind " + kind)


def main():
    kind, out, rep = sys.argv[1:4]
    report = json.load(open(rep))
    try:
        run(kind, out, report, None)
    except Mismatch as m:
        print(m)
        sys.exit(1)
    for t in sys.argv[4:]:
        try:
            run(kind, out, report, t)
        except Mismatch:
            continue
        print("visual_formats: %s: passed with %s off by one" % (kind, t))
        sys.exit(1)


main()
