/*
 * pressure.h -- allocation pressure (the C analogue of GC pressure): how fast the program
 * allocates, how long its blocks live, which allocations are short-lived, grow by realloc,
 * cycle through one size, cross threads or happen under a lock; what the heap's peak and RSS
 * look like over time. The facts the recommendation engine (advice.h) ranks.
 *
 * Contract: analyzer-only, single-threaded for its caller (the events themselves are run on a
 * thread of its own, pressure.c, joined in pressure_end / pressure_state_free). One analysis
 * of the ANALYSES table (analysis.h), selected with the heap replay (it reads each released
 * block's size, allocation time, site and function from the replay; it keeps no address
 * table of its own: per thread a ring of
 * its latest K+1 allocations says which thread allocated a block released now, and how many
 * of its allocations followed). A release of a block not allocated in the trace (an
 * unmatched free) counts nothing here. Every count is exact
 * for the trace as recorded (a trace cut short: for what was read). Fields are appended,
 * never renamed (the advice engine and the JSON "pressure" section read them).
 *
 * Where: analyses_load (analysis.h) with ANALYSIS_PRESSURE leaves the result in
 * replay_t.pressure (NULL when not selected), freed by analyses_free. The options (T, K) come
 * from analysis_params_t (analyses_load_params). Each released block's facts come from the
 * replay's replay_t.evres (replay.h: the block a release freed, the live heap after each
 * event), read by this analysis's on_event(s) for the events the replay took just before;
 * allocations, failed allocations and the events' threads from the pass's events.
 *
 * Definitions (the report and docs/json-schema.md say the same):
 *  - short-lived: released within short_ns (default 1 ms, --short-lived=T) of its allocation
 *    (lifetime <= short_ns; a realloc's old side is released at the realloc's ts_before);
 *  - temporary (heaptrack's): released before its thread's next allocation (realloc counts as
 *    an allocation);
 *  - within K: released after at most k (default 8) other allocations of its thread (its
 *    thread: the allocating one, wherever the release happens; temporary implies within K);
 *  - same-size cycle: an allocation at a site of the size its thread last released from that
 *    site (a pool or free-list candidate); realloc's sides take no part (its old side is no
 *    release, its new side no allocation, for this);
 *  - growth chain: successive reallocs of one block (count of steps, bytes copied = the old
 *    size of every moving or in-place step, final size). A step is counted at the realloc's
 *    site; a chain begins with a step whose old block was not made by one of its thread's
 *    latest 8 steps (realloc_chains: a block grown by several threads, or more than 8 chains
 *    growing in turns in one thread, count more chains, never more steps), and
 *    realloc_final_max is the largest size a step of the site made (for growing chains: the
 *    largest final size);
 *  - cross-thread free: released by a thread other than the one that allocated it, free and
 *    delete, not realloc: from the FREE records' PS_FREE_F_CROSS_THREAD flag in traces whose
 *    header has PS_FILE_F_CROSS_FREES, else from the heap replay, which keeps each block's
 *    allocating thread (replay_released_t.cross_thread); have_cross_thread is true for every
 *    trace (it was false, "unavailable", for traces without the flag before 2026-12-02);
 *  - under a lock: allocated while its thread held at least one pthread lock (from the shim's
 *    per-thread aggregate records, LOCK_ALLOC: allocation calls, realloc included, by
 *    innermost held lock and allocation stack;
 *    0 in traces without them, have_under_lock false). The "lock most often held" of a site
 *    is the innermost lock of most of its allocations under a lock.
 * Rates: the span from the file header's start to the last chunk's end is cut into
 * PRESSURE_WINDOWS windows of window_ns (the last one open-ended); peak_windows lists the
 * windows with the most allocations, most first (ties: the earlier), at most
 * PRESSURE_PEAK_WINDOWS, windows without allocations never.
 */
#ifndef PERFSHIM_PRESSURE_H
#define PERFSHIM_PRESSURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyses/hist.h"
#include "core/pass.h"
#include "core/reader.h"
#include "core/tracemodel.h"

struct replay_s;

/* The pressure facts of one allocation site (interned stack id). */
typedef struct pressure_site_s {
    uint32_t stack_id;
    uint64_t allocations, bytes;          /* successful allocations (realloc's new side too) */
    uint64_t releases;                    /* of blocks allocated here */
    uint64_t short_lived, short_lived_bytes;
    uint64_t temporary, within_k;
    uint64_t same_size_cycles;            /* pool candidates */
    uint64_t cross_thread_frees;
    uint64_t realloc_steps, realloc_chains, realloc_bytes_copied, realloc_final_max;
    uint64_t under_lock, under_lock_bytes; /* allocations while holding a lock */
    uint64_t under_lock_lock;             /* the lock most often held then (address), 0: none */
    uint32_t under_lock_site;             /* that lock's acquisition stack id, 0: unknown */
    uint64_t alloc_ns, alloc_ns_calls;    /* measured time inside the allocator, 0: unmeasured */
    uint64_t peak_bytes;                  /* live bytes of this site at the heap's peak */
    uint32_t size_min, size_max;          /* requested sizes seen (capped at UINT32_MAX) */
    replay_hist_t lifetimes;              /* ns from allocation to release, log2 buckets */
} pressure_site_t;

/* One window of the allocation-rate series. */
typedef struct pressure_window_s {
    uint64_t allocations, bytes, releases;
    uint64_t bytes_died_young; /* bytes released within short_ns of their allocation */
    uint64_t live_bytes_max;   /* the app's live heap, the most within the window */
    uint64_t rss_bytes;        /* the process's RSS (largest sample), 0: none */
    uint64_t recorder_bytes;   /* the recorder's own memory in that RSS, 0: unknown */
} pressure_window_t;

typedef struct pressure_s {
    uint64_t short_ns; /* T */
    unsigned k;        /* K */
    uint64_t duration_ns;
    uint64_t allocations, bytes, short_lived, short_lived_bytes, temporary, within_k;
    uint64_t same_size_cycles, cross_thread_frees, realloc_steps, realloc_bytes_copied;
    uint64_t under_lock, alloc_ns, alloc_ns_calls;
    /* the rate series: windows of window_ns from the trace's start */
    uint64_t window_ns;
    pressure_window_t *windows;
    size_t nwindows;
    size_t peak_window; /* the window with the most allocations */
    pressure_site_t *sites; /* one per site that allocated, unordered */
    size_t nsites;
    bool have_under_lock, have_alloc_ns, have_recorder_bytes;
    /* appended */
    bool have_cross_thread;   /* cross-thread frees are counted (always, since the replay
                               * computes them where the FREE records do not say) */
    uint64_t releases;        /* releases of blocks allocated in the trace */
    uint64_t realloc_chains;  /* growth chains begun */
    uint64_t under_lock_bytes;
    uint64_t peak_bytes, peak_time_ns; /* the replay's heap peak (peak_time_ns from start) */
    size_t peak_windows[4];   /* PRESSURE_PEAK_WINDOWS window indices, most allocations first */
    size_t npeak_windows;
} pressure_t;

#define PRESSURE_WINDOWS 40
#define PRESSURE_PEAK_WINDOWS 4
#define PRESSURE_SHORT_NS_DEFAULT 1000000ull
#define PRESSURE_K_DEFAULT 8u

/* The window of timestamp ts for a series that starts at start_ns (clamped to the first and
 * the last window). */
size_t pressure_window(const pressure_t *p, uint64_t start_ns, uint64_t ts);
/* Fills peak_windows / npeak_windows from the windows' allocations. */
void pressure_peaks(pressure_t *p);
void pressure_free(pressure_t *p); /* and p itself; NULL ok */

/* The analysis (analysis.c drives it after the heap replay, pass.h): pressure_begin makes
 * rp->pressure (T = short_ns, K = k); then each non-heap record (RSS, LOCK_ALLOC), each heap
 * event after the replay saw it, the end after the replay's end. Return 0 or -PS_E_NOMEM. */
int pressure_begin(struct replay_s *rp, uint64_t short_ns, unsigned k, void **state,
                   const tracemodel_t *m);
int pressure_record(void *state, uint32_t tid, const record_t *rec);
int pressure_event(void *state, const pass_event_t *e);
int pressure_events(void *state, const pass_event_t *ev, size_t n); /* pass_ops_t.on_events */
int pressure_end(void *state, const tracemodel_t *m);
void pressure_state_free(void *state);

#endif /* PERFSHIM_PRESSURE_H */
