#!/bin/sh
# Oracle (slow: scripts/test runs it, not `make check`): real programs from Debian under
# valgrind memcheck (--leak-check=full --trace-children=yes) and under the shim
# (PERFSHIM_FOLLOW_EXEC=1): every process's definitely and indirectly lost blocks and bytes
# must be memcheck's (processes matched by argv[0]'s base name, then by their numbers).
# Each run under the shim must also print what the program prints natively, with its exit
# status. Inputs are tiny: about 1.6 min on 2 busy cores (26 s for the first 9 cases alone).
# A program that is not installed is skipped.
# memcheck runs with --run-libc-freeres=no: both tools then look at the heap the program left.
# glibc's __libc_freeres (memcheck's default) calls clearenv(), which frees environ's array,
# so a string the program putenv()ed (gcc's driver does, for MAKEFLAGS) would be definitely
# lost to memcheck while environ still pointed to it when the program exited.
. "$top_srcdir/tests/integration/lib.sh"
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 77; }
P=$PERFSHIM_BIN
cd "$TMP" || exit 99

num() { tr ',{}' '\n\n\n' <"$2" | sed -n "s/^\"$1\":\([0-9]*\)\$/\1/p" | head -1; }

# oracle NAME CMD...: the per-process lines "argv0 def_blocks def_bytes ind_blocks ind_bytes"
oracle() {
    on=$1
    shift
    mkdir "$on" || return 1
    # (absolute: a child that chdir()s, git's and csplit's shells here, still finds the folder)
    valgrind --leak-check=full --run-libc-freeres=no --trace-children=yes --log-file="$TMP/$on/vg.%p" "$@" \
        >/dev/null 2>&1 </dev/null
    for f in "$on"/vg.*; do
        grep -q "HEAP SUMMARY" "$f" || continue # an exec'ed-away image: no leak check
        exe=$(sed -n 's/^==[0-9]*== Command: \([^ ]*\).*/\1/p' "$f" | head -1)
        d=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p' "$f" | tr -d ,)
        i=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p' "$f" | tr -d ,)
        echo "${exe##*/} ${d:-0 0} ${i:-0 0}"
    done | sort >"$on/memcheck"
    PERFSHIM_FOLLOW_EXEC=1 PERFSHIM_OUTPUT="$TMP/$on/ps.%p.trace" LD_PRELOAD=$PERFSHIM_LIB "$@" \
        >"$on/shim.out" 2>/dev/null </dev/null
    echo "exit $?" >>"$on/shim.out"
    "$@" >"$on/native.out" 2>/dev/null </dev/null
    echo "exit $?" >>"$on/native.out"
    for t in "$on"/ps.*.trace "$on"/ps.*.trace.[0-9]*; do # after an exec: PID.trace.N
        [ -f "$t" ] || continue
        "$P" report --format=json -q -o "$t.json" "$t" 2>/dev/null || continue
        grep -q '"leaked_definite_blocks":[0-9]' "$t.json" || continue # exec'ed away
        exe=$("$P" dump "$t" 2>/dev/null | sed -n '1s/^trace .* cmdline="\([^" ]*\).*/\1/p')
        echo "${exe##*/} $(num leaked_definite_blocks "$t.json") $(num leaked_definite_bytes "$t.json") $(num leaked_indirect_blocks "$t.json") $(num leaked_indirect_bytes "$t.json")"
    done | sort >"$on/perfshim"
    echo "$on memcheck: $(tr '\n' ';' <"$on/memcheck")"
    echo "$on perfshim: $(tr '\n' ';' <"$on/perfshim")"
    cmp -s "$on/native.out" "$on/shim.out" || { echo "$on: stdout or exit status not the native one"; return 1; }
    [ -s "$on/perfshim" ] && cmp -s "$on/memcheck" "$on/perfshim"
}

have() { command -v "$1" >/dev/null 2>&1 || { echo "SKIP: $1 is not installed"; return 1; }; }

printf 'import json\nd = {str(i): [i] * 3 for i in range(300)}\nprint(len(json.dumps(d)))\n' >s.py
[ -x /usr/bin/python3 ] && check "python3 script.py" oracle py /usr/bin/python3 s.py
[ -x /usr/bin/python3 ] && check "python3 -c" oracle pyc /usr/bin/python3 -c 'print(sum(range(10)))'
have perl && check "perl" oracle perl perl -e 'my %h; $h{$_} = $_ x 3 for 1 .. 500; print scalar(keys %h), "\n"'
have sort && check "sort" oracle sort sort /etc/passwd
have bash && check "bash with a subshell" oracle bash bash -c 'x=$(echo a b); echo "$x"'
have sqlite3 && check "sqlite3" oracle sqlite sqlite3 :memory: 'create table t(a); insert into t values (1), (2); select sum(a) from t;'
have git && check "git" oracle git git --version
if have gcc; then
    printf 'int main(void) { return 0; }\n' >t.c
    # gcc's driver reads MAKEFLAGS (make check may pass a jobserver): the plain case without
    # it, whoever runs the test; then with a jobserver it cannot use (GCC 12 takes only
    # --jobserver-auth=R,W, checking both descriptors), which it drops by
    # putenv()ing a new MAKEFLAGS (reachable from environ) and leaking its copy (definite)
    check "gcc -c with its children (the driver, cc1, as)" oracle gcc \
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL gcc -c t.c -o t.o
    check "gcc -c with MAKEFLAGS naming a jobserver it cannot use" oracle gccjobs \
        env -u MFLAGS -u MAKELEVEL MAKEFLAGS=' -j2 --jobserver-auth=fifo:/nonexistent' gcc -c t.c -o t.o
fi
# More programs and workloads, inputs made here (a 400-line table, its sorted halves, a
# changed copy, a tree, a JSON document). Each prints the same natively; openssl rand is
# not here (its output differs each run), nor cp with two or more sources: its src_info
# hash table (copy.c's src_info_init) is definitely lost to memcheck and reachable to the
# shim, whose stack scan meets the table's address left by main() in an unwritten slot of
# glibc's __run_exit_handlers frame (rsp+0x20); memcheck sees the same stale word there but
# skips it as undefined (vgdb: get_vbits ffffffff ffffffff), which a scan without memcheck's
# definedness bits cannot tell from a live pointer (LeakSanitizer counts it as the shim does);
# nor perl -MPOSIX -MData::Dumper: an SV head's sv_any is its body's address less 16 (perl's
# bodies_by_type offsets), which under glibc lands in the last word of the block before the
# body arena's chunk (there perl's tmps stack, 13576 bytes: reachable through that interior
# word to the shim, definitely lost to memcheck, whose 16-byte redzones put the word in no
# block; with PERL_HASH_SEED random the block before changes and so do the shim's counts);
# nor ctypes.util.find_library, which runs /sbin/ldconfig, static: no preload, no trace
i=1
while [ $i -le 400 ]; do
    case $((i % 3)) in 0) k=beta ;; *) k=alpha ;; esac
    echo "$((i * 7919 % 1000)) $i word$((i % 37)) $k"
    i=$((i + 1))
done >data.txt
sort -k1,1 data.txt >j1.txt
sed 's/^\([0-9]*\) \([0-9]*\).*/\1 x\2/' data.txt | sort -k1,1 >j2.txt
sed -e '5s/.*/changed line/' -e 200d -e '$a\
appended' data.txt >data2.txt
mkdir -p tree/a/b tree/c && cp data.txt tree/a/ && cp j1.txt tree/a/b/ && echo hi >tree/c/x.sh
{
    printf '{"items":['
    i=1
    while [ $i -le 200 ]; do
        [ $i -gt 1 ] && printf ,
        printf '{"id":%d,"v":"s%d","n":[%d,%d]}' $i $((i % 13)) $i $((i * 2))
        i=$((i + 1))
    done
    printf '],"meta":{"name":"x","tags":["a","b","c"]}}\n'
} >doc.json
printf 'all: a.o b.o\n\tcc -o prog a.o b.o\n%%.o: %%.c\n\tcc -c $< -o $@\na.c b.c:\n\techo "int x;" > $@\n' >Makefile
cat >classes.py <<'EOF'
import re, collections, functools
class Node:
    def __init__(self, k, kids=()): self.k = k; self.kids = list(kids)
    def walk(self):
        yield self.k
        for c in self.kids: yield from c.walk()
def mk(n): return Node(n, [mk(n - 1) for _ in range(2)]) if n else Node(0)
adders = [(lambda i: (lambda x: x + i))(i) for i in range(50)]
words = re.findall(r"[a-z]+\d*", open("data.txt").read())
c = collections.Counter(w for w in words if re.match(r"word\d+$", w))
@functools.lru_cache(None)
def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)
print(sum(mk(8).walk()), sum(f(1) for f in adders), len(c), fib(80))
EOF
cat >classes.pl <<'EOF'
package Pt; sub new { my ($c, %a) = @_; bless {%a}, $c } sub sum { $_[0]{x} + $_[0]{y} }
package main;
my @subs = map { my $i = $_; sub { $_[0] * $i } } 1 .. 50;
my %cnt; open my $fh, '<', 'data.txt' or die;
while (<$fh>) { $cnt{$1}++ while /(word\d+|alpha|beta)/g; s/(\d+)/<$1>/g; }
my @p = map { Pt->new(x => $_, y => $_ * 2) } 1 .. 300;
my $t = 0; $t += $_->sum for @p; $t += $_->(2) for @subs;
print scalar(keys %cnt), " $t\n";
EOF
have gawk && check "gawk arrays" oracle gawk gawk '{a[$3] = a[$3] " " $2; n[$4]++} END {s = 0; for (k in a) s += length(a[k]); print s, n["alpha"], length(a)}' data.txt
have mawk && check "mawk" oracle mawk mawk '{a[$3]++} END {for (k in a) n++; print n}' data.txt
have sed && check "sed -E, several scripts" oracle sed sed -E -e 's/word([0-9]+)/W\1W/g' -e '/beta/d' -e 'y/abc/ABC/' -e '10~7s/$/!/' data.txt
have grep && check "grep -E, six patterns" oracle grep grep -E -c -e 'word1[0-9]' -e '^9[0-9]+ ' -e 'alpha$' -e '(12|34|56)7' -e 'w[aeiou]rd3+' -e '^[0-9]{3} 1[0-9]{2} ' data.txt
have sort && check "sort -u by keys" oracle sortu sort -u -k3,3 -k2,2n data.txt
have uniq && check "cut | sort | uniq -c" oracle uniq sh -c 'cut -d" " -f3 data.txt | sort | uniq -c'
have tr && check "tr -s" oracle tr sh -c 'tr -s "a-z" "A-Z" <data.txt'
have join && check "join" oracle join join j1.txt j2.txt
have tsort && check "tsort" oracle tsort sh -c 'printf "a b\nb c\nc d\na d\ne f\n" | tsort'
have diff && check "diff -u" oracle diff diff -u data.txt data2.txt
have find && check "find -printf" oracle find find tree -mindepth 1 -printf '%d %y %p\n'
for z in gzip bzip2 zstd; do
    have $z && check "$z round trip" oracle $z sh -c "$z -c -q data.txt | $z -d -c -q | cmp - data.txt"
done
# threads: xz's encoder and decoder with 2 workers over 4 KiB blocks, sort's merge, Python's
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do cat data.txt; done >big.txt
have xz && check "xz -T2 round trip" oracle xz sh -c 'xz -T2 --block-size=4096 -c big.txt | xz -T2 -d -c | cmp - big.txt'
have sort && check "sort --parallel=2" oracle sortp sort --parallel=2 -S 64K -k2,2n big.txt
[ -x /usr/bin/python3 ] && check "python3 threads" oracle pythr /usr/bin/python3 -c 'import threading, queue
q, r = queue.Queue(), []
def w():
    while (x := q.get()) is not None: r.append(str(x) * 3)
ts = [threading.Thread(target=w) for _ in range(3)]
[t.start() for t in ts]; [q.put(i) for i in range(2000)]; [q.put(None) for _ in ts]; [t.join() for t in ts]
print(len(r))'
have tar && check "tar create, list" oracle tar sh -c 'tar -cf t.tar --sort=name --mtime=@0 --owner=0 --group=0 tree && tar -tvf t.tar'
have file && check "file" oracle file file data.txt doc.json tree Makefile classes.py /bin/sh
have openssl && check "openssl dgst, enc" oracle openssl sh -c 'openssl dgst -sha256 data.txt &&
    openssl enc -aes-256-cbc -pbkdf2 -pass pass:secret -S 0102030405060708 -in data.txt | openssl dgst -sha1'
have jq && check "jq" oracle jq jq -c '[.items[] | select(.id % 3 == 0) | {id, s: (.v + "x"), t: (.n | add)}] | length, (map(.t) | add), .[0:2], (group_by(.s) | map(length))' doc.json
have bc && check "bc -l" oracle bc sh -c 'echo "scale=50; 4*a(1); define f(n) { if (n < 2) return n; return f(n-1)+f(n-2); }; f(18); 2^200" | bc -l'
have make && check "make -n" oracle make env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n -B -f Makefile all
[ -x /usr/bin/python3 ] && check "python3 classes, closures, regexes" oracle pycls /usr/bin/python3 classes.py
have perl && check "perl classes, closures, regexes" oracle perlcls perl classes.pl
have bash && check "bash arrays and functions" oracle bashfn bash -c 'declare -A m; f() { local i; for i in "$@"; do m[$i]=$((${#i} * 2)); done; }; f a bb ccc dddd; for k in "${!m[@]}"; do echo "$k=${m[$k]}"; done | sort; arr=($(seq 1 50)); echo "${#arr[@]} ${arr[*]:10:5}"'
# children through pipes and system(): gawk's print | and getline, perl's system, backticks
# and open |-, Python's subprocess; iconv's gconv modules (dlopen)
have gawk && check "gawk with pipes" oracle gawkpipe gawk '{print $3 | "sort -u | wc -l"} END {close("sort -u | wc -l"); "date +%Y -d @0" | getline y; print y}' data.txt
have perl && check "perl system, backticks, pipe" oracle perlsys perl -e 'system("true"); my $x = `echo hi`; open(my $p, "|-", "cat") or die; print $p "p\n"; close $p; print $x'
[ -x /usr/bin/python3 ] && check "python3 subprocess" oracle pysub /usr/bin/python3 -c 'import subprocess; print(subprocess.run(["echo", "x"], capture_output=True).stdout, subprocess.check_output("echo y | tr y z", shell=True))'
have iconv && check "iconv (gconv modules)" oracle iconv sh -c 'printf "caf\303\251 na\303\257ve\n" | iconv -f UTF-8 -t ISO-8859-1 | iconv -f ISO-8859-1 -t UTF-16 | od -c'
# git in a new repository (fixed names and dates: the same hashes each run)
have git && check "git init, add, commit, log, diff" oracle gitrepo env HOME="$TMP" GIT_CONFIG_NOSYSTEM=1 \
    GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@b GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@b \
    GIT_AUTHOR_DATE=2020-01-01T00:00:00Z GIT_COMMITTER_DATE=2020-01-01T00:00:00Z \
    sh -c 'rm -rf r && git init -q r && cd r && cp ../data.txt . && cp ../Makefile . && git add . &&
        git commit -q -m one && sed -i 5d data.txt && git commit -q -am two && git log --oneline &&
        git diff HEAD~1 --stat && git diff HEAD~1 | wc -l'
finish
