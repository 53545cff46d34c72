/*
 * pressure.h -- allocation pressure (the C analogue of GC pressure): how fast the program
 * allocates, how long its blocks live, which allocations are short-lived, grow by realloc,
 * cycle through one size, cross threads or happen under a lock; what the heap's peak and RSS
 * look like over time. The facts the recommendation engine (advice.h) ranks.
 *
 * Contract: analyzer-only, single-threaded. One analysis of the ANALYSES table (analysis.h),
 * selected with the heap replay (it reads each released block's size, allocation time, site
 * and thread from the replay; it keeps no address table of its own). Every count is exact
 * for the trace as recorded (a trace cut short: for what was read). Fields are appended,
 * never renamed (the advice engine and the JSON "pressure" section read them).
 *
 * Definitions (the report and docs/json-schema.md say the same):
 *  - short-lived: released within short_ns (default 1 ms, --short-lived=T) of its allocation;
 *  - temporary (heaptrack's): released before its thread's next allocation (realloc counts as
 *    an allocation);
 *  - within K: released after at most k (default 8) other allocations of its thread;
 *  - same-size cycle: an allocation at a site of the size its thread last released from that
 *    site (a pool or free-list candidate);
 *  - growth chain: successive reallocs of one block (count of steps, bytes copied = the old
 *    size of every moving or in-place step, final size);
 *  - cross-thread free: released by a thread other than the one that allocated it;
 *  - under a lock: allocated while its thread held at least one pthread lock (from the shim's
 *    per-thread aggregate records; 0 in traces without them).
 */
#ifndef PERFSHIM_PRESSURE_H
#define PERFSHIM_PRESSURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyses/hist.h"

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
} pressure_t;

#endif /* PERFSHIM_PRESSURE_H */
