/*
 * leaks.h -- the leak records of a trace (trace_format.h 0x40..0x44), grouped for reports:
 * the exit-time reachability scan by allocation call site and kind, and the growth of live
 * bytes per call site across snapshots.
 *
 * Contract: analyzer-only, single-threaded. The leak analysis of the pass (analysis.h):
 * leaks_begin, then leaks_record for each record of the trace (it keeps the leak and snapshot
 * records, with their stack ids), then, after the pass, leaks_resolve with `rp` and `sym`
 * (the same trace's replay_t and symbols) cuts the stacks to the call site exactly as the
 * report cuts them (allocator and shim frames dropped) and merges groups whose call sites are
 * then equal: the only symbolization the leaks need, done once after the pass. A trace whose
 * scans give verdicts by address (and snapshots that are markers) has its groups and sites
 * attributed by the heap replay (analyses/leakaddr.h: rp->leakaddr, as the LEAK and
 * SNAPSHOT_SITE records the shim wrote before): leaks_resolve takes them from rp; L->by_address
 * says the trace needs the heap replay for that (analysis.h selects it then). A trace may hold several scans (the app's
 * __lsan_do_leak_check / __lsan_do_recoverable_leak_check record one each): the groups and
 * totals are the last scan's, nscans counts them. L->have_scan says whether the trace holds a
 * scan: none with PERFSHIM_LEAK_CHECK=0 or when the process did not exit cleanly. Functions
 * return 0 or a negative PS_E_*.
 *
 * Groups are sorted by bytes (then blocks), largest first. An indirect group names, in
 * held_by, the definite group whose blocks hold it (the definite block that reaches it first;
 * -1 if that group is not in the trace). Growth: a call site whose live bytes never decrease
 * across the snapshots and end higher than they began (at least two snapshots) is a suspected
 * leak; sorted by growth, largest first.
 */
#ifndef PERFSHIM_LEAKS_H
#define PERFSHIM_LEAKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "perfshim/trace_format.h"
#include "analyses/replay.h"
#include "core/reader.h"
#include "core/symbols.h"

typedef struct leak_group_s {
    uint8_t kind; /* ps_leak_kind */
    const uint64_t *ips; /* the call site, innermost first (into the replay's stacks) */
    uint32_t depth;
    uint64_t blocks, bytes, possible_blocks;
    long held_by; /* indirect: index of the holding definite group, else -1 */
    const uint64_t *holder_ips; /* indirect: the holder's call site */
    uint32_t holder_depth;
    bool suppressed; /* set by suppress.c */
    bool inherited;  /* a fork child's blocks from its parent (no stack) */
    uint64_t ts;     /* the scan's */
} leak_group_t;

typedef struct leak_growth_s {
    const uint64_t *ips;
    uint32_t depth;
    uint64_t first_bytes, last_bytes, last_blocks;
} leak_growth_t;

typedef struct leaks_s {
    bool have_scan;
    ps_rec_leak_scan_t scan; /* the last scan: the exit scan, else the last on-demand one;
                              * by address, with inherited_blocks as the replay counted them
                              * when the shim wrote 0 (it cannot count them) */
    uint32_t nscans;         /* scans in the trace (on-demand ones and the exit scan) */
    leak_group_t *groups;
    size_t ngroups;
    char *suppressions; /* the app's __lsan_default_suppressions() text, or NULL */
    uint32_t nsnapshots;
    leak_growth_t *growth;
    size_t ngrowth;
    /* traces with verdicts by address (analyses/leakaddr.h): how the groups attributed from
     * the replay differ from the chosen scan's totals, one line; NULL when they do not */
    char *attribution_note;
    /* snapshot markers: the first whose totals differ from the replay's at its ts, one line;
     * NULL when none does */
    char *snapshot_note;
    /* the trace has a scan by address or a snapshot marker: its groups and sites come from
     * the heap replay (analysis.c runs the pass again with it when it was not selected) */
    bool by_address;
    void *priv; /* the records collected by the pass, until leaks_resolve */
} leaks_t;

int leaks_begin(leaks_t *L);
int leaks_record(leaks_t *L, const record_t *rec);
int leaks_resolve(leaks_t *L, const replay_t *rp, symbols_t *sym);
void leaks_free(leaks_t *L);
/* After suppression: an indirect group whose holder is suppressed is suppressed too (what a
 * suppressed leak holds is not reported, as LSan does). */
void leaks_suppress_held(leaks_t *L);
const char *leaks_kind_name(int kind);

/* The report sections, in every format, are analyses/leaks_emit.h. */

#endif /* PERFSHIM_LEAKS_H */
