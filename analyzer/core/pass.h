/*
 * pass.h -- one read of a trace that drives the analyses a command selected.
 *
 * Contract: analyzer-only, single-threaded (prefetch.h decompresses on a worker). pass_run()
 * opens the trace at `path`, fills the trace model (tracemodel.h: header, stacks, modules,
 * time range, END/CRASH, completeness) and calls each analysis through its pass_ops_t:
 *
 *   init(result, &state, model)  once, after the file header and the chunk index are read
 *                                (model->start_ns is the header's, span_end_ns is set);
 *   on_record(state, tid, rec)   every record but the heap events (ALLOC, FREE, REALLOC and
 *                                their packed forms), thread `tid`'s records in their order,
 *                                the threads interleaved in any order;
 *   on_event(state, ev)          the heap events of all threads merged by timestamp, a
 *                                release before an allocation at equal timestamps (ties
 *                                between threads: the lower stream, i.e. tid, first);
 *                                or on_events(state, ev, n), the same in batches (below);
 *   finish(state, model)         once, after the last record, with the model final.
 *
 * An analysis with on_event == NULL needs no merge: when none of those selected has one, the
 * threads are read one after the other and no heap event is built beyond its timestamp.
 * free(state, result) is not called by the pass (the caller owns the lifetime of results).
 * A callback returns 0 or a negative PS_E_* that stops the pass.
 *
 * Event model. A realloc record is a release of old_ptr at ts_before (when old_ptr != 0 and
 * new_ptr != 0 or size == 0) and then an allocation of new_ptr at ts (when new_ptr != 0);
 * new_ptr == 0 with size > 0 is a failed allocation.
 *
 * Streams. Each thread's chunks are read in seq order (whatever their order in the file); a
 * gap in the sequence counts model->chunks_lost; a chunk that cannot be read marks the
 * model partial and is skipped. Memory: one decoded chunk per thread and a ring of 32 events
 * decoded ahead of the merge, plus what prefetch.h holds ahead (chunks, and their heap records
 * decoded into events on its worker when an analysis has on_event), within
 * PERFSHIM_MAX_MEMORY_MB.
 *
 * Returns 0 (the trace may still be partial: model->complete), or a negative PS_E_* when the
 * file cannot be read as a trace (missing, not a trace, newer version, over the memory budget,
 * out of memory) or a callback failed; then `err` holds one line.
 */
#ifndef PERFSHIM_PASS_H
#define PERFSHIM_PASS_H

#include <stddef.h>
#include <stdint.h>

#include "core/reader.h"
#include "core/tracemodel.h"

/* pass_event_t.align_log2 of an alignment asked for (0: none) */
#define PASS_ALIGN_LOG2(align) ((align) ? (uint8_t)__builtin_ctzll(align) : (uint8_t)0)

enum pass_ev_kind { PASS_EV_RELEASE = 0, PASS_EV_ALLOC = 1, PASS_EV_FAILED = 2 };

/* One heap event. */
typedef struct pass_event_s {
    uint64_t ts, ptr, size;
    uint32_t stack;
    uint8_t kind;  /* pass_ev_kind */
    uint8_t fn;    /* ps_alloc_fn (the aux bits PS_ALLOC_FN_MASK) */
    uint8_t flags; /* the record's other aux bits (a FREE's PS_FREE_F_CROSS_THREAD) */
    uint32_t tid;  /* the thread (stream) whose record it is */
    uint8_t align_log2;    /* an allocation's alignment asked for, log2 (0: none asked) */
    uint8_t realloc_moves; /* a realloc's release: 1 when its allocation follows (0: realloc
                            * (p, 0), a release alone) */
} pass_event_t;

/* The interface of an analysis (the table of them is analyses/analysis.h). */
typedef struct pass_ops_s {
    const char *name;
    int (*init)(void *result, void **state, const tracemodel_t *m);
    int (*on_record)(void *state, uint32_t tid, const record_t *rec); /* NULL: none */
    int (*on_event)(void *state, const pass_event_t *e);             /* NULL: no merge */
    int (*finish)(void *state, const tracemodel_t *m);
    void (*free)(void *state, void *result); /* frees the state (NULL ok), not the result */
    /* Optional (NULL: none): an analysis with a large address table asks for the addresses of
     * a stream's next heap records before their turn (prefetch_on, asked each time a stream
     * loads a chunk, says whether it wants them now), so the table's cache misses overlap
     * (the heap replay: core/livetab.h). Only the first sink with it is asked. prefetch gets
     * them in runs, the addresses of ev[0..n) (n >= 1; a failed allocation's ptr is 0, which
     * the sink skips): one call per run, not per event. */
    int (*prefetch_on)(void *state);
    void (*prefetch)(void *state, const pass_event_t *ev, size_t n);
    /* Optional (NULL: none): the heap events in batches, ev[0..n) with 1 <= n <=
     * PASS_BATCH_MAX, as on_event would take them one by one. When every selected analysis
     * with on_event has it, the pass calls each one with a batch before the next one gets it
     * (else each event goes to all of them, on_event, before the next event); an analysis
     * that reads another's per-event results reads them per batch (the heap replay's
     * replay_t.evres). */
    int (*on_events)(void *state, const pass_event_t *ev, size_t n);
} pass_ops_t;

#define PASS_BATCH_MAX 256

/* One selected analysis: its interface, where its result goes, its state (set by init). */
typedef struct pass_sink_s {
    const pass_ops_t *ops;
    void *result;
    void *state;
} pass_sink_t;

int pass_run(const char *path, tracemodel_t *m, pass_sink_t *sinks, size_t nsinks, char *err,
             size_t errlen);

#endif /* PERFSHIM_PASS_H */
