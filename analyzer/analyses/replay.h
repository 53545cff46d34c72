/*
 * replay.h -- the heap replay: rebuilds the heap from the heap events of the pass (merged by
 * timestamp, core/pass.h), giving per-stack aggregates and a workload summary; replay_t is
 * also the result every command reads the trace's header and summary from.
 *
 * Contract: single-threaded, analyzer-only. The heap replay is one analysis of the table in
 * analysis.h, which runs it (analyses_load, replay_run) in one pass over the trace; memory:
 * the live set (one entry per live block) and the per-stack aggregates. replay_t.complete and
 * .partial_reason say whether the trace was read whole (a warning line naming the offset is
 * in .partial_reason).
 *
 * Event model. A realloc record is a release of old_ptr at ts_before (when old_ptr != 0 and
 * new_ptr != 0 or size == 0) and then an allocation of new_ptr at ts (when new_ptr != 0);
 * new_ptr == 0 with size > 0 is a failed allocation. At equal timestamps releases are applied
 * before allocations. "allocations" count successful allocations (realloc's new side
 * included), "frees" count releases of a live block (realloc's old side included). A release
 * of an address that is not live is an "unmatched free" (allocated before tracing, or a
 * double free) and changes nothing else.
 *
 * Temporary allocations (heaptrack's notion, per thread): an allocation whose next heap event
 * on its thread is its own free; realloc counts as neither. The timeline cuts the span from
 * the file header's start to the last chunk's end into REPLAY_SLICES equal slices.
 *
 * Peak: the largest live heap (sum of requested sizes) after any event, first reached at
 * peak_time_ns; every stack's live bytes at that moment is its peak_bytes (computed exactly
 * in one pass by lazy snapshots, see replay.c).
 *
 * Sampled traces (sample_bytes = N > 0, PS_FILE_F_SAMPLED): each recorded allocation of s
 * bytes was sampled with probability p(s) = 1 - exp(-(s + 1)/N), so it stands for
 * 1/p(s) allocations and s/p(s) bytes (the Horvitz-Thompson estimator, jemalloc's per-sample
 * unbiasing); its release stands for as many releases. At replay_end every count and byte
 * total above (per site, per slice, the summary, the peak, temporary allocations) is replaced
 * by its estimate, rounded; the peak is the largest estimated live heap. The histograms of
 * sizes and lifetimes are scaled by their site's estimated / sampled ratio (approximate). The
 * sampled numbers stay in samples / sample_frees. Every output therefore shows estimates;
 * replay_t.sample_bytes says so.
 */
#ifndef PERFSHIM_REPLAY_H
#define PERFSHIM_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyses/hist.h"
#include "analyses/misuse.h"
#include "core/pass.h"
#include "core/tracemodel.h"
#include "perfshim/trace_format.h"

/* Aggregates of one interned stack id (id 0: events recorded without a stack). */
/* The app's part of an RSS sample: the sample less the recorder's own memory in it. */
static inline uint64_t replay_rss_app(uint64_t rss, uint64_t recorder)
{
    return rss > recorder ? rss - recorder : 0;
}

typedef struct replay_site_s {
    uint32_t stack_id;
    uint64_t allocations, bytes, frees, failed;
    uint64_t temporary; /* heaptrack's temporary allocations of this site (see replay_t) */
    uint64_t live_blocks, live_bytes; /* at the end of the trace: "not freed" */
    uint64_t peak_bytes;              /* live bytes of this stack at the global peak */
    uint64_t peak_epoch_seen;         /* internal: lazy snapshot bookkeeping */
    replay_hist_t sizes, lifetimes;   /* sizes of allocations; ns from alloc to release */
    /* alloc_ns (below) without the interrupted calls (replay_cost_steady), and with every
     * call at its record's median (replay_cost_typical) */
    uint64_t alloc_ns_steady, alloc_ns_typical;
    /* time inside the real allocator of this stack's allocating calls (ALLOC_COST records,
     * summed over threads; 0 in a trace without them) */
    uint64_t alloc_ns, alloc_ns_calls;
    /* sampled traces: the estimates while the replay runs (see above) */
    double est_allocations, est_bytes, est_frees, est_live_blocks, est_live_bytes;
    double est_peak_bytes, est_temporary;
    uint64_t est_peak_epoch_seen;
} replay_site_t;

#define REPLAY_SLICES 20 /* the timeline: the trace's time span cut in this many slices */

/* One slice of the timeline. */
typedef struct replay_slice_s {
    uint64_t allocations, frees, bytes_allocated;
    uint64_t live_bytes, live_bytes_max; /* at the slice's end; the most within it */
    uint64_t rss_bytes;                  /* largest sample in the slice, 0: none */
    uint64_t rss_recorder_bytes;         /* the recorder's own memory in that sample */
    uint64_t lock_wait_ns; /* lock waits (LOCK_WAIT), each spread over the slices it spans */
} replay_slice_t;

/* The trace model's stacks and modules (core/tracemodel.h), under the names the reports use. */
typedef tm_stack_t replay_stack_t;
typedef tm_module_t replay_module_t;

/* The block a matched release freed (replay_evres_t.released): what the pressure analysis
 * reads for each release event that freed a live block (replay_evres_t.freed). */
typedef struct replay_released_s {
    uint64_t size, alloc_ts;
    uint32_t stack_id;
    uint8_t alloc_fn;
    /* released by another thread than the allocating one, from the replay (traces without
     * PS_FILE_F_CROSS_FREES; false in traces with it: their FREE records say) */
    bool cross_thread;
} replay_released_t;

/* What the replay did with each event of the latest batch it took (replay_events: evres[i]
 * for ev[i]; replay_event: evres[0]), for the analyses after it in the table, which read it
 * in their on_event(s) for the same events (pressure, series). */
typedef struct replay_evres_s {
    replay_released_t released; /* freed: the block it released */
    uint64_t live_bytes;        /* the live heap after the event */
    bool freed;                 /* a release of a live block */
} replay_evres_t;

typedef struct replay_s {
    /* from the file header */
    char *exe, *cmdline;
    uint32_t pid;
    uint64_t start_ns; /* time origin: the file header's CLOCK_MONOTONIC start, or the first
                        * timestamp if an event claims to be earlier */
    /* summary */
    uint64_t first_ts, last_ts, duration_ns;
    uint64_t threads;
    uint64_t allocations, frees, bytes_allocated, failed_allocations, unmatched_frees;
    /* Temporary allocations, exactly as heaptrack counts them (accumulatedtracedata.cpp): a
     * free whose block has the size and call stack of the allocation just before it in the
     * process's event order (all threads merged by time), with nothing in between; realloc
     * is a free of the old block then an allocation of the new one. Frees of unknown
     * blocks and failed allocations are not events there, so they change nothing. */
    uint64_t temporary;
    uint64_t double_allocations; /* allocation of an address already live */
    /* unmatched_frees split: double (the address was freed before and not reused) and invalid
     * (never allocated in the trace; not counted in a fork child's trace); mismatched: released
     * by another family than the one that allocated it (counted in frees, not unmatched) */
    uint64_t mismatched_frees, double_frees, invalid_frees;
    replay_error_t *errors;
    size_t nerrors;
    uint32_t file_flags;  /* PS_FILE_F_* of the header */
    /* sampled mode (see above): N, 0 for a full trace; the allocations and releases
     * recorded (the counts above are estimates then) */
    uint64_t sample_bytes, samples, sample_frees;
    uint32_t crash_signal; /* from a CRASH record, 0 if none */
    uint64_t live_blocks, live_bytes;
    uint64_t peak_bytes, peak_time_ns; /* peak_time_ns relative to start_ns */
    bool have_rss;
    uint64_t final_rss_bytes, final_rss_ts, max_rss_bytes;
    /* the recorder's own memory in the RSS samples (ps_rec_rss_t.shim_bytes, 0 in traces
     * without it): at the final sample and at the sample of max_rss_bytes; the app's RSS is
     * the sample's RSS less it */
    uint64_t final_shim_bytes, max_rss_shim_bytes;
    /* allocator time (ALLOC_COST records): allocating calls (every stack) and releases */
    bool have_alloc_cost;
    uint64_t alloc_ns, alloc_ns_calls, release_ns, release_ns_calls;
    uint64_t alloc_ns_steady, release_ns_steady; /* without interrupted calls (below) */
    uint64_t alloc_ns_typical, release_ns_typical; /* at the records' medians (below) */
    bool have_end;
    ps_rec_end_t end;
    uint64_t chunks, chunks_lost; /* chunks lost: gaps in a thread's seq numbers */
    uint64_t records;
    bool complete;
    char partial_reason[320];
    replay_hist_t sizes; /* all allocations */
    /* timeline: slice i covers [slice_ns * i, slice_ns * (i + 1)) from start_ns */
    uint64_t slice_ns;
    replay_slice_t slices[REPLAY_SLICES];
    /* per stack id, unordered */
    replay_site_t *sites;
    size_t nsites;
    replay_stack_t *stacks;
    size_t nstacks;
    replay_module_t *modules; /* the union of all module maps, deduplicated */
    size_t nmodules;
    /* lock records (locks.h), NULL when the trace has none or the lock analysis did not run */
    struct locks_s *locks;
    /* the finer heap and RSS series (series.h), NULL unless the series analysis ran */
    struct series_s *series;
    /* symbols made ready during the pass (core/symbols.h: symwarm_t), NULL when none;
     * analyses_symbols takes them */
    struct symwarm_s *symwarm;
    /* the trace model (owned: replay_free frees it); stacks, modules, exe and cmdline point
     * into it */
    tracemodel_t *model;
    /* where the heap replay reports misuse: the misuse analysis's, NULL when not selected */
    misuse_t *misuse;
    /* internal */
    void *priv;
    /* the latest batch's events as the replay saw them (replay_evres_t): evres[i] for the
     * batch's event i, room for PASS_BATCH_MAX; replay_begin points it at evres_buf, the
     * pressure analysis at its hand-off block (analyses/pressure.c: no copy of them) */
    replay_evres_t *evres;
    replay_evres_t evres_buf[PASS_BATCH_MAX];
    /* the pressure analysis's result (analyses/pressure.h), NULL when it did not run */
    struct pressure_s *pressure;
    /* leak verdicts by address and snapshot markers, attributed from the block table at their
     * ts (analyses/leakaddr.h), NULL when the trace has none; leaks_resolve reads it */
    struct leakaddr_s *leakaddr;
} replay_t;

/* The heap replay as an analysis (analysis.h drives it through the pass, pass.h):
 * replay_begin before the first record (the model's header fields and span are set),
 * replay_record for each non-heap record (RSS samples, allocator time), replay_event for each heap event in
 * the merged order, replay_end with the final model. replay_state_free frees the state (the
 * result stays). Return 0 or -PS_E_NOMEM. */
int replay_begin(replay_t *rp, void **state, const tracemodel_t *m);
int replay_record(void *state, uint32_t tid, const record_t *rec);
int replay_event(void *state, const pass_event_t *e);
int replay_events(void *state, const pass_event_t *ev, size_t n); /* pass_ops_t.on_events */
int replay_end(void *state, const tracemodel_t *m);
/* pass_ops_t.prefetch_on / prefetch: the block table's slots of addresses about to come */
int replay_prefetch_on(void *state);
void replay_prefetch(void *state, const pass_event_t *ev, size_t n);
void replay_state_free(void *state);

/* Takes the model (ownership) into rp and copies its header and summary fields (exe, pid,
 * times, threads, END, completeness, stacks, modules): every command's replay_t has them,
 * whether or not the heap replay ran. */
void replay_set_model(replay_t *rp, tracemodel_t *m);
void replay_free(replay_t *rp);

/* The timeline's slices for the span of m (rp->start_ns, slice_ns), once: the heap replay
 * and the lock analysis both call it, whichever runs. */
void replay_timeline_init(replay_t *rp, const tracemodel_t *m);
/* Adds a wait of wait_ns that ended at end_ts to the slices it spans (their lock_wait_ns sum
 * to wait_ns exactly; the part before the trace's start goes to the first slice). */
void replay_timeline_wait(replay_t *rp, uint64_t end_ts, uint64_t wait_ns);

/* The stack of an id, or NULL when no STACK record named it. */
const replay_stack_t *replay_stack(const replay_t *rp, uint32_t id);


/* An ALLOC_COST record's ns without the timed calls the machine interrupted (preemption, a
 * long VM exit: what a loaded machine adds to the traced run, never the program's native
 * cost): the timed calls in buckets >= 2^REPLAY_COST_OUTLIER_LOG2 ns and >= 64x the median
 * bucket are taken out at their bucket's midpoint, the rest kept between its buckets' bounds
 * (their midpoints when the open last bucket, >= 2^23 ns, holds calls: those have no
 * midpoint) and scaled to every call as the record's ns is. The record's ns when nothing was timed, the
 * histogram does not add up to the timed calls, or none is an outlier. */
#define REPLAY_COST_OUTLIER_LOG2 14 /* 16 us */
uint64_t replay_cost_steady(const ps_rec_alloc_cost_t *c);
/* An ALLOC_COST record's calls x the median of its timed calls (interpolated in its log2
 * bucket): the typical call, which neither an interrupted call nor one the recorder's own work
 * left with cold caches moves; the record's ns when its histogram does not add up. */
uint64_t replay_cost_typical(const ps_rec_alloc_cost_t *c);

#endif /* PERFSHIM_REPLAY_H */
