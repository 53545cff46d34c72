#!/bin/sh
# unwind_cost -- the unwinder's memory reads stay plain loads where libunwind's own are: a
# recorded allocation makes no system call of its own. (A process_vm_readv for every read of
# the thread's stack made churn 2-4x slower; this counts the calls, it does not time them.)
. "${top_srcdir:-.}/tests/integration/lib.sh"
command -v strace >/dev/null 2>&1 && strace -o /dev/null true 2>/dev/null || { echo "no strace (or no ptrace): skipped"; exit 77; }
cd "$TMP" || exit 99
W=$top_builddir/tests/workloads

few_syscalls() {
    PERFSHIM_OUTPUT="$TMP/c.trace" strace -f -c -o st.txt env LD_PRELOAD="$PERFSHIM_LIB" \
        "$W/churn_bench" 1 20000 12 >/dev/null 2>err || { cat err; return 1; }
    n=$(awk '$NF == "total" {print $(NF-2)}' st.txt)
    vm=$(awk '$NF == "process_vm_readv" {print $(NF-1)}' st.txt)
    echo "20,000 allocations + frees: ${n:-?} system calls, ${vm:-0} process_vm_readv"
    [ -n "$n" ] && [ "$n" -lt 4000 ] && [ "${vm:-0}" -lt 200 ]
}
check "20,000 recorded allocations make fewer than 4,000 system calls (< 200 memory reads)" few_syscalls
finish
