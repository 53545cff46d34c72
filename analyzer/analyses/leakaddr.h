/*
 * leakaddr.h -- leak verdicts by address and live-set snapshot markers (trace_format.h:
 * LEAK_SCAN flag PS_LEAK_F_BY_ADDRESS with its LEAK_BLOCKS records, SNAPSHOT aux
 * PS_SNAPSHOT_F_BY_REPLAY), attributed to allocation stacks from the heap replay's block table
 * at the record's ts: the LEAK and SNAPSHOT_SITE records a shim that kept a stack per live
 * block wrote itself, rebuilt, so every consumer of leaks.h sees the same groups.
 *
 * Contract: analyzer-only, single-threaded; the heap replay (replay.c) drives it. The replay
 * hands every LEAK_SCAN, LEAK_BLOCKS and SNAPSHOT record to leakaddr_record as the pass
 * delivers them (a thread's records arrive before the events after them in its stream, the
 * shim's own stream before any event: pass.h), and before it applies an event whose ts is
 * later than leakaddr_due() it calls leakaddr_answer with its block table as it stands (every
 * event at or before the scan's ts applied, none after); replay_end answers the rest. The
 * results (ps_rec_leak_t and ps_rec_snapshot_site_t records, one line per scan whose
 * attributed totals differ from the LEAK_SCAN's, one for the first snapshot whose totals
 * differ from the marker's) stay in the leakaddr_t that rp->leakaddr owns until leaks_resolve
 * feeds them to the leak analysis (leaks_record). The cut at ts is exact when every event
 * the shim made after the scan or snapshot is stamped after ts and every one before at or
 * before it; a heap event's stamp can lag its real time (preload/stamp.h: a thread's floor),
 * so the shim must stamp the events after ts later than ts (the notes show where it did
 * not).
 *
 * The attribution, as preload/leakscan.c aggregated before (by kind, stack, the holding
 * definite block's stack, inherited): a listed ptr takes the allocation stack and size of the
 * replay's live block at that address; the last entry for a ptr is its verdict (earlier ones
 * are replaced); an INDIRECT entry's holder entry is followed, through the replacements, to
 * the DEFINITE block that holds it. A listed ptr the replay does not hold live is a block a
 * fork child inherited (flag PS_LEAK_REC_F_INHERITED, stack 0): the replay has no size for it,
 * so the inherited groups of a kind take the LEAK_SCAN's bytes of that kind less the bytes
 * attributed from the replay (split by blocks when several groups share them). Every other
 * block live at ts is REACHABLE, per stack: its site's live blocks and bytes then, less its
 * listed DEFINITE and INDIRECT ones (the listed REACHABLE entries are its possible_blocks);
 * in a fork child's trace the reachable blocks the scan counted beyond those are inherited
 * (one group). Aborted and turned-off scans have no groups, as before.
 *
 * Memory: the listed entries (16 bytes each) until answered, then at most 41 more bytes per
 * entry (its order by ptr, verdict, site, size, holder) and 24 bytes per site while answering
 * (linear time: each holder chain is walked once); the groups; a snapshot's sites with live
 * blocks. Functions return 0 or -PS_E_NOMEM.
 */
#ifndef PERFSHIM_LEAKADDR_H
#define PERFSHIM_LEAKADDR_H

#include <stddef.h>
#include <stdint.h>

#include "core/reader.h"
#include "perfshim/trace_format.h"

typedef struct leakaddr_s leakaddr_t;

/* What the replay lends while answering: its block table's lookup and its sites. */
typedef struct leakaddr_view_s {
    /* 1 and the block's site index and size when ptr is a live block, else 0 */
    int (*find)(void *ctx, uint64_t ptr, uint32_t *site, uint64_t *size);
    void *ctx;
    size_t nsites;
    /* site i's stack id, live blocks and bytes now */
    void (*site)(void *ctx, size_t i, uint32_t *stack, uint64_t *blocks, uint64_t *bytes);
    int fork_child; /* the trace is a fork child's (PS_FILE_F_FORK_CHILD) */
} leakaddr_view_t;

/* Takes a LEAK_SCAN, LEAK_BLOCKS or SNAPSHOT record (others: ignored); *la is created on the
 * first one that needs an answer. */
int leakaddr_record(leakaddr_t **la, uint32_t tid, const record_t *rec);
/* The earliest ts a pending record waits for (UINT64_MAX: none; la may be NULL). */
uint64_t leakaddr_due(const leakaddr_t *la);
/* Answers the pending records whose ts is before `before` (UINT64_MAX: all), from v. */
int leakaddr_answer(leakaddr_t *la, uint64_t before, const leakaddr_view_t *v);

/* The results, for leaks_resolve: each one as the record the old shim wrote (rec->type LEAK
 * or SNAPSHOT_SITE), in no particular order; fn returns 0 or a negative PS_E_* that stops. */
int leakaddr_each(const leakaddr_t *la, int (*fn)(void *arg, const record_t *rec), void *arg);
/* The line saying how the attribution of the scan at ts differs from its LEAK_SCAN totals,
 * or NULL when it does not. */
const char *leakaddr_note(const leakaddr_t *la, uint64_t ts);
/* 1 and the blocks the scan at ts found inherited (listed ptrs the replay lacks, and in a fork
 * child the reachable blocks beyond the replay's) when that scan was attributed, else 0: the
 * LEAK_SCAN's inherited_blocks, which a shim without a stack per live block cannot count. */
int leakaddr_inherited(const leakaddr_t *la, uint64_t ts, uint64_t *blocks);
/* The line saying how the first snapshot marker whose live blocks or bytes differ from the
 * replay's at its ts differs, or NULL when none does. */
const char *leakaddr_snapshot_note(const leakaddr_t *la);
void leakaddr_free(leakaddr_t *la);

#endif /* PERFSHIM_LEAKADDR_H */
