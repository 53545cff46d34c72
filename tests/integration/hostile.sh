#!/bin/sh
# The analyzer on hostile input (issue 12): FIFOs and other special files anywhere it reads
# (the trace, --suppressions, --baseline, a module path inside a trace) are refused, never
# block; every changed byte of a file header is caught by its checksum; check refuses a
# corrupt, cut or concatenated trace unless --allow-partial while report warns; no control
# byte from a trace reaches the terminal; the memory bomb stays within PERFSHIM_MAX_MEMORY_MB.
. "$top_srcdir/tests/integration/lib.sh"
P=$PERFSHIM_BIN
G=$top_builddir/tests/integration/hostile_gen
cd "$TMP" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
command -v timeout >/dev/null || { echo "SKIP: no timeout"; exit 77; }

"$P" record -o "$TMP/real.trace" -- /bin/true 2>/dev/null || exit 99
mkfifo fifo || exit 99

# $1 = expected exit code, $2 = a word the one stderr line must hold, then the command.
refused() {
    want=$1 word=$2
    shift 2
    timeout 20 "$@" >out 2>err
    rc=$?
    [ "$rc" -eq "$want" ] && [ "$(wc -l <err)" -eq 1 ] && grep -q "$word" err ||
        { echo "  rc=$rc: $*"; cat err; return 1; }
}

fifo_trace() {
    for c in report locks check dump; do
        refused 2 'fifo: is a FIFO, not a regular file' "$P" $c fifo || return 1
    done
}
check "a FIFO as the trace: report, locks, check, dump refuse it (exit 2), no hang" fifo_trace

fifo_options() {
    refused 2 'fifo: is a FIFO' "$P" check --suppressions fifo real.trace &&
        refused 2 'baseline fifo: is a FIFO' "$P" check --baseline fifo real.trace
}
check "a FIFO as --suppressions or --baseline: exit 2, no hang" fifo_options

special_files() {
    refused 2 'is a directory' "$P" report . &&
        refused 2 'is a character device' "$P" report /dev/zero &&
        refused 2 'is a character device' "$P" check --suppressions /dev/zero real.trace
}
check "a directory or a device as input: exit 2 naming what it is" special_files

fifo_module() {
    "$G" module m.trace "$TMP/fifo" || return 1
    timeout 20 "$P" report m.trace >out 2>err && grep -q 'fifo: not a regular file' err ||
        { cat err; return 1; }
    timeout 20 "$P" check m.trace >out 2>err
    [ $? -eq 1 ] && grep -q 'exceeded by 100 bytes' out || return 1
    timeout 20 "$P" locks m.trace >out 2>err
}
check "a FIFO named as a module inside a trace: skipped with a warning, no hang" fifo_module

header_flips() {
    python3 - "$P" real.trace <<'PY'
import subprocess, sys
p, path = sys.argv[1], sys.argv[2]
d = open(path, 'rb').read()
hl = int.from_bytes(d[8:12], 'little')
flags = int.from_bytes(d[12:16], 'little')
assert flags & 4, "the writer did not set PS_FILE_F_HEADER_SUM"
bad = []
for i in range(hl):
    for x in (0x01, 0x80, 0xff):
        b = bytearray(d); b[i] ^= x
        open('flip.trace', 'wb').write(b)
        # dump: the same reader as report, without symbolization (fast); a few through
        # report too
        cmd = 'report' if i % 16 == 0 else 'dump'
        r = subprocess.run([p, cmd, 'flip.trace'], capture_output=True, text=True,
                           errors='replace', timeout=20)
        if r.returncode not in (1, 2) or not ('file header' in r.stderr or
                                              'not a perfshim trace' in r.stderr):
            bad.append((i, x, r.returncode, r.stderr.strip()[:120]))
print("header of %d bytes, %d flips, %d not caught" % (hl, 3 * hl, len(bad)))
for b in bad[:5]:
    print("  byte %d ^ 0x%02x: exit %d: %s" % b)
sys.exit(1 if bad else 0)
PY
}
check "every changed byte of a real trace's file header is refused, naming the header" header_flips

# A corrupt trace (a byte of the first chunk's zstd frame), trailing garbage, two traces
# concatenated: report warns "partial" (exit 0), check refuses (exit 2) unless
# --allow-partial.
"$P" record -o "$TMP/alloc.trace" -- /bin/ls -l / >/dev/null 2>&1 || exit 99
python3 - <<'PY' || exit 99
d = open('alloc.trace', 'rb').read()
hl = int.from_bytes(d[8:12], 'little')
# the first chunk of an app thread (not the shim's own stream, which holds the leak scan)
off = hl
while off + 48 <= len(d):
    flags = int.from_bytes(d[off + 6:off + 8], 'little')
    csize = int.from_bytes(d[off + 8:off + 12], 'little')
    if not flags & 1:
        break
    off += 48 + csize
b = bytearray(d); b[off + 48 + 20] ^= 0xff
open('corrupt.trace', 'wb').write(b)
open('garbage.trace', 'wb').write(d + b'garbage after the last chunk\n')
open('concat.trace', 'wb').write(d + d)
PY
partial() {
    for t in corrupt garbage concat; do
        "$P" report $t.trace >out 2>err && grep -q 'warning: partial trace' err ||
            { echo "  report $t"; cat err; return 1; }
        refused 2 'check: partial trace: .*--allow-partial' "$P" check $t.trace || return 1
        "$P" check --allow-partial $t.trace >out 2>err || { echo "  check --allow-partial $t"; cat err; return 1; }
    done
    grep -q 'concat' /dev/null
    "$P" check concat.trace 2>&1 | grep -q 'concatenated traces' &&
        "$P" check garbage.trace 2>&1 | grep -q 'bad magic' &&
        "$P" check alloc.trace >/dev/null
}
check "corrupt, trailing garbage, concatenated: report warns, check exits 2 unless --allow-partial" partial

control_bytes() {
    "$G" ctrl c.trace || return 1
    n=0
    for cmd in "report" "report --format=folded" "report --format=json" "locks" \
               "locks --format=json" "check" "check --format=json" "check --format=sarif" \
               "check --format=junit" "dump"; do
        n=$((n + 1))
        timeout 20 "$P" $cmd c.trace >out.$n 2>err.$n
    done
    # and the same text written with -o
    for cmd in report locks check; do
        timeout 20 "$P" $cmd -o file.$cmd c.trace >/dev/null 2>&1
    done
    python3 - $n <<'PY'
import re, sys
bad = re.compile(rb'[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]')
ok = True
files = ['file.report', 'file.locks', 'file.check']
for i in range(1, int(sys.argv[1]) + 1):
    files += ['out.%d' % i, 'err.%d' % i]
for f in files:
    d = open(f, 'rb').read()
    m = bad.search(d)
    if m:
        ok = False
        print("  %s: raw control byte %r at %d" % (f, m.group(0), m.start()))
# they were there, escaped: the text report shows the exe, the JSON keeps it exactly
t = open('out.1', 'rb').read()
if b'\\x1b[31mred' not in t or b'\\x1b[31mred' not in open('file.report', 'rb').read():
    ok = False; print("  report text: exe not shown escaped")
if not re.search(rb'\\u001[bB]\[31mred', open('out.3', 'rb').read()):  # JSON: either case
    ok = False; print("  report json: exe not escaped as \\u001b")
sys.exit(0 if ok else 1)
PY
}
check "no raw control byte from a trace in any output (report, locks, check, dump; -o files)" control_bytes

memory_bomb() {
    "$G" bomb bomb.trace 64 || return 1
    python3 - "$P" <<'PY'
import os, resource, subprocess, sys
env = dict(os.environ, PERFSHIM_MAX_MEMORY_MB="64")
r = subprocess.run([sys.argv[1], 'report', 'bomb.trace'], capture_output=True, text=True,
                   env=env, timeout=60)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
print("  %d bytes of trace claim 128 chunks x 4 MiB; report: exit %d, max RSS %d MiB"
      % (os.path.getsize('bomb.trace'), r.returncode, rss))
ok = (r.returncode == 2 and 'PERFSHIM_MAX_MEMORY_MB' in r.stderr and
      len(r.stderr.strip().splitlines()) == 1 and rss <= 64 + 40)
if not ok:
    print(r.stderr)
sys.exit(0 if ok else 1)
PY
}
check "the memory bomb: 64 MiB budget holds (max RSS <= budget + 40 MiB), one-line error" memory_bomb

bomb_within_budget() {
    "$G" bomb small.trace 6 || return 1
    PERFSHIM_MAX_MEMORY_MB=64 "$P" report small.trace >out 2>err &&
        grep -q 'trace              complete' out
}
check "a trace whose chunks fit in the budget is read whole (6 streams x 4 MiB in 64 MiB)" bomb_within_budget

finish
