/*
 * tracemodel.h -- what a trace says about the process it recorded, independent of any
 * analysis: the file header (program, pid, flags, start), the interned stacks, the union of
 * the module maps, the time range of its events, its threads, how it ended (END, CRASH) and
 * whether it could be read whole.
 *
 * Contract: analyzer-only, single-threaded. The pass (pass.h) builds one while it reads the
 * trace; after pass_run returns the model is read-only (symbols.h takes its modules, the
 * analyses its stacks). A zeroed tracemodel_t is empty; tracemodel_free releases what it owns.
 * Functions return 0 or -PS_E_NOMEM.
 *
 * complete / partial_reason: false with one line (the first problem met, which explains the
 * rest) when a chunk could not be read, the index stops early, chunks are missing from a
 * thread's sequence, or the trace has no END record.
 */
#ifndef PERFSHIM_TRACEMODEL_H
#define PERFSHIM_TRACEMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reader.h"
#include "core/u32map.h"
#include "perfshim/compiler.h"
#include "perfshim/trace_format.h"

typedef struct tm_stack_s {
    uint32_t id, depth;
    uint64_t *ips; /* innermost first: ips[0] is the caller of the allocation function */
} tm_stack_t;

typedef struct tm_module_s {
    char *path;
    uint64_t base;
    uint32_t nseg, buildid_len;
    ps_segment_t *segs;
    unsigned char buildid[256];
} tm_module_t;

typedef struct tracemodel_s {
    /* from the file header */
    char *exe, *cmdline;
    uint32_t pid, file_flags;
    uint64_t sample_bytes; /* sampled mode's mean bytes between samples (0: a full trace) */
    /* the time origin: the header's CLOCK_MONOTONIC start while the pass runs; at its end
     * the first timestamp if an event claims to be earlier */
    uint64_t start_ns;
    uint64_t span_end_ns; /* the latest chunk end (t_last) in the index, >= start_ns */
    uint64_t start_realtime_ns; /* the header's CLOCK_REALTIME at the start (wall clock) */
    /* events */
    bool have_ts;
    uint64_t first_ts, last_ts, duration_ns; /* duration: last_ts - start_ns */
    uint64_t threads;                        /* THREAD_START records */
    bool have_end;
    ps_rec_end_t end;      /* the latest END (a failed exec resumes tracing after one) */
    uint32_t crash_signal; /* from a CRASH record, 0 if none */
    uint64_t chunks, chunks_lost, records;
    /* set before the analyses' init: the live blocks the trace says it ended with (its
     * latest leak scan or live-set snapshot, read ahead from its last chunks; 0: unknown),
     * a size hint for the replay's table */
    uint64_t live_hint;
    bool complete;
    char partial_reason[320];
    tm_stack_t *stacks; /* in the order first defined */
    size_t nstacks, stacks_cap;
    tm_module_t *modules; /* the union of all module maps, deduplicated */
    size_t nmodules, modules_cap;
    u32map_t stack_map; /* stack id -> index in stacks */
} tracemodel_t;

/* The stack of an id, or NULL when no STACK record named it. */
const tm_stack_t *tracemodel_stack(const tracemodel_t *m, uint32_t id);
/* A STACK record: the first definition of an id wins (the shim never redefines one). */
int tracemodel_add_stack(tracemodel_t *m, const record_t *rec);
/* A MODULE record: kept once per (path, base). */
int tracemodel_add_module(tracemodel_t *m, const record_t *rec);
/* Widens the event time range (per event: inline). */
static inline void tracemodel_ts(tracemodel_t *m, uint64_t ts)
{
    if (!m->have_ts || ts < m->first_ts)
        m->first_ts = ts;
    if (!m->have_ts || ts > m->last_ts)
        m->last_ts = ts;
    m->have_ts = true;
}
/* Marks the model partial; the first reason is kept. */
void tracemodel_partial(tracemodel_t *m, const char *fmt, ...) PS_PRINTF(2, 3);
void tracemodel_free(tracemodel_t *m);

#endif /* PERFSHIM_TRACEMODEL_H */
