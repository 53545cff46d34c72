/*
 * checkres.h -- the result of `perfshim check` (cmd/check.c computes it): the traces, the
 * budgets and whether each held, the counted leak sites. The findings its formats render
 * (the check verdict in text and JSON, SARIF and JUnit in formats/ci_report.c) are read from
 * it. Header only: types, no functions.
 */
#ifndef PERFSHIM_CHECKRES_H
#define PERFSHIM_CHECKRES_H

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
    long holder; /* an indirect group: the index in check_result_t.leaks of the definite
                  * group holding it, -1: not counted or none */
    uint64_t total; /* a definite group: its bytes and those of the indirect ones it holds */
    long pos;       /* its index in check_result_t.leaks */
} check_leak_t;

typedef struct check_result_s {
    check_trace_t *traces;
    size_t ntraces;
    check_budget_t budgets[8];
    size_t nbudgets, nfailed;
    /* definite groups first, by their bytes plus the indirect bytes they hold, each followed
     * by the indirect groups it holds (largest first); then indirect groups whose holder is
     * not counted; then reachable ones; by bytes within each */
    check_leak_t *leaks;
    size_t nleaks;
    uint64_t suppressed_blocks, suppressed_bytes;
    uint64_t allocations, bytes_allocated, peak_heap_bytes;
    uint64_t definite_bytes, definite_blocks, indirect_bytes, indirect_blocks;
    uint64_t reachable_bytes, reachable_blocks;
    unsigned kinds;    /* bit (1 << ps_leak_kind) per counted kind */
    bool heap_errors_counted; /* the heap-error budget applies (not --no-heap-errors) */
    uint64_t mismatched_frees, double_frees, invalid_frees; /* of all traces */
    /* sampled traces (replay.h): their estimated blocks not freed at exit, which count as
     * leaks of every kind (no leak scan in sampled mode); `estimated`: any trace is sampled,
     * so the values of the budgets are estimates */
    uint64_t sampled_not_freed_bytes, sampled_not_freed_blocks;
    bool estimated;
    int stack_depth, top;
    const char *source_root; /* --source-root, absolute and canonical, or NULL */
} check_result_t;

#endif /* PERFSHIM_CHECKRES_H */
