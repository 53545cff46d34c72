/*
 * whatif.h -- the allocator what-if's first half: the trace's heap sequence turned into an op
 * file (perfshim/replay_ops.h) that the replay driver runs against each allocator, and what
 * the trace itself measured to compare with (RSS samples, the live heap's peak).
 *
 * Contract: analyzer-only, single-threaded. whatif_ops is a pass_ops_t (core/pass.h) whose
 * result is a whatif_t; the caller sets whatif_t.path (where the op file goes) before the
 * pass and runs it alone or with others: one pass over the trace, memory one entry per live
 * block (address -> id, thread, op index, size) and a spool file of the ops in the merged
 * order, scattered per thread into `path` at the end (then removed). Callbacks return 0 or a
 * negative PS_E_* with whatif_t.err set (I/O on the op file: PS_E_IO).
 *
 * Translation of the pass's events (merged by timestamp): an allocation becomes MALLOC,
 * CALLOC or ALIGNED (by its function; C++ new is MALLOC); a release of a live block FREE; a
 * realloc's release and allocation (consecutive on its thread) one REALLOC (realloc(p, 0):
 * FREE; realloc(NULL, n): MALLOC). Releases of unknown addresses (double or invalid frees,
 * blocks allocated before the trace) and failed allocations are skipped and counted. A release
 * of a block allocated by another thread waits for its allocation (replay_ops.h "Order").
 *
 * Approximated order: the driver keeps each thread's order and the waits only. Each change of
 * thread in the merged order (`switches`) is a point where the recorded interleaving is not
 * enforced; the `waits` are the cross-thread orderings that are. With recorded_order, every
 * change of thread is enforced too: an op whose predecessor in the merged order (among the
 * ops) is another thread's waits for it instead, a chain through all ops that implies the
 * cross-thread waits; nothing is approximated then but a realloc's release, which takes
 * effect with its allocation.
 */
#ifndef PERFSHIM_WHATIF_H
#define PERFSHIM_WHATIF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pass.h"

/* Where the order was approximated: per replayed thread (in the op file's order). */
typedef struct whatif_thread_s {
    uint32_t tid;
    uint64_t ops;
    uint64_t waits;    /* its ops that wait for another thread */
    uint64_t switches; /* changes of thread in the merged order to this one */
} whatif_thread_t;

typedef struct whatif_s {
    const char *path; /* set by the caller: the op file to write */
    bool recorded_order; /* set by the caller: keep the recorded interleaving (see above) */
    /* the op file */
    uint64_t ops, blocks, threads;
    uint64_t allocations, frees, reallocs; /* ops by kind (allocations: MALLOC..ALIGNED) */
    uint64_t skipped_releases, skipped_failed;
    uint64_t waits;      /* ops that wait for another thread (cross-thread releases) */
    uint64_t switches;   /* changes of thread in the merged order (interleaving not kept) */
    uint64_t bytes_allocated;
    /* what the recorded run measured */
    uint64_t heap_peak_bytes;      /* most live bytes (requested sizes) at once */
    uint64_t heap_end_bytes;       /* live at the end (not freed) */
    bool have_rss;
    uint64_t rss_samples;
    uint64_t rss_peak_bytes;       /* largest RSS sample minus the recorder's own memory */
    uint64_t rss_peak_total_bytes; /* largest RSS sample as measured, recorder included */
    uint64_t rss_end_bytes;        /* the last sample minus the recorder's memory */
    uint64_t duration_ns;          /* first to last event of the trace */
    whatif_thread_t *thread;       /* `threads` entries (owned: free() it) */
    char err[256];
} whatif_t;

extern const pass_ops_t whatif_ops;

#endif /* PERFSHIM_WHATIF_H */
