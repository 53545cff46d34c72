/*
 * check.h -- `perfshim check [OPTIONS] TRACE...`: turns traces into a CI verdict.
 *
 * Contract: check_main() is called from main.c's dispatch (argv[0] = "check") and from
 * `perfshim record --check`; it returns the exit status, documented and stable:
 *   0  every budget holds
 *   1  a budget is exceeded (the output names each one, by how much, and the top stacks)
 *   2  usage error, unreadable or unsuitable input (a trace without a leak scan, a bad
 *      suppressions or baseline file), or an output error; one "perfshim: check: ..." line
 * The budgets: leaked bytes (--max-leaked-bytes, default 0) and leaked blocks
 * (--max-leaked-blocks; default 0 when neither budget is given, so a leaked malloc(0) fails
 * the default gate; not checked when only --max-leaked-bytes is), both over the kinds of
 * --leak-kinds (default definite,indirect) minus suppressed call sites and what they hold;
 * with --baseline, peak heap, bytes allocated and allocations may each grow by at most
 * --max-growth percent (default 0). Several traces (a process and its children) are summed.
 *
 * The types below are the result the output writers (check.c text/JSON, ci_report.c SARIF and
 * JUnit) share.
 */
#ifndef PERFSHIM_CHECK_H
#define PERFSHIM_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "analyses/leaks.h"
#include "analyses/replay.h"
#include "core/symbols.h"

typedef struct check_trace_s {
    const char *path;
    replay_t rp;
    symbols_t *sym;
    leaks_t leaks;
} check_trace_t;

typedef struct check_budget_s {
    const char *name;  /* "max-leaked-bytes", "max-growth-peak-heap-bytes", ... */
    const char *unit;  /* "bytes", "blocks", "allocations" */
    uint64_t value, limit;
    bool failed;
    char what[160];    /* what the value counts, one phrase */
} check_budget_t;

/* A counted leak site: an unsuppressed group of a selected kind. */
typedef struct check_leak_s {
    check_trace_t *t;
    const leak_group_t *g;
} check_leak_t;

typedef struct check_result_s {
    check_trace_t *traces;
    size_t ntraces;
    check_budget_t budgets[8];
    size_t nbudgets, nfailed;
    check_leak_t *leaks; /* sorted by bytes, largest first */
    size_t nleaks;
    uint64_t suppressed_blocks, suppressed_bytes;
    uint64_t allocations, bytes_allocated, peak_heap_bytes;
    uint64_t definite_bytes, definite_blocks, indirect_bytes, indirect_blocks;
    uint64_t reachable_bytes, reachable_blocks;
    unsigned kinds;    /* bit (1 << ps_leak_kind) per counted kind */
    int stack_depth, top;
    const char *source_root; /* --source-root, absolute and canonical, or NULL */
} check_result_t;

int check_main(int argc, char **argv);

#endif /* PERFSHIM_CHECK_H */
