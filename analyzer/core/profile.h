/*
 * profile.h -- the profile view of the output model: stack -> one value per sample type
 * (allocations, bytes, peak, leaked, inuse), what flame-graph and profile formats render
 * (formats/folded.c, speedscope.c, pprof.c, massif.c), and the time axis beside it (heap and
 * RSS counters, lock waits per thread) that timeline formats render (formats/chrome_trace.c,
 * massif.c). The document view is core/doc.h.
 *
 * Contract: analyzer-only, single-threaded. The renderer (a format plug-in) fills ops/ctx; the
 * command sets `select` (the index of the sample type a single-value format writes, from
 * --metric) before the emitter runs. The emitter first names its sample types and their units
 * (profile_types: arrays that outlive the profile; units NULL: "count" for each) and says what
 * the profile is of (profile_meta: a struct that outlives the profile, the trace's program,
 * duration, heap peak and module map), then calls profile_sample once per stack with the
 * frames innermost first (core/doc.h doc_expand) and ntypes values, then the time axis:
 * profile_thread for each thread it knows, profile_counter for each point of a series
 * ("heap", "rss": bytes at t_ns, nanoseconds from the trace's start, in time order per
 * series), profile_span for each interval a thread spent (a lock wait: name and detail are
 * copied if kept). A renderer without a time axis leaves those ops NULL and they cost
 * nothing; profile_wants_time() says whether the emitter need compute them.
 * profile_close flushes and frees the renderer; it and the other calls return 0 or the first
 * negative PS_E_* of the renderer (after one, the other calls do nothing).
 *
 * Two runs in one profile (`perfshim diff`, cmd/diff.c): the sample types come in pairs,
 * "base_X" then "new_X" (allocations, bytes, peak, leaked), each stack sampled once with both
 * runs' values (0 where a site is in one run only): what a differential flame graph draws.
 */
#ifndef PERFSHIM_PROFILE_H
#define PERFSHIM_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/symbols.h"
#include "core/tracemodel.h"

typedef struct profile_ops_s {
    int (*sample)(void *ctx, const sym_frame_t *frames, size_t n, const uint64_t *values,
                  size_t select);
    int (*finish)(void *ctx);
    /* the time axis, NULL when the renderer has none */
    int (*thread)(void *ctx, uint32_t tid, const char *name);
    int (*counter)(void *ctx, const char *series, uint64_t t_ns, uint64_t value);
    int (*span)(void *ctx, uint32_t tid, uint64_t start_ns, uint64_t dur_ns, const char *name,
                const char *detail);
} profile_ops_t;

/* What the profile is of; any pointer may be NULL, counts 0. */
typedef struct profile_meta_s {
    const char *exe, *cmdline;
    uint32_t pid;
    uint64_t start_ns;    /* the trace's time origin (CLOCK_MONOTONIC) */
    uint64_t start_realtime_ns; /* the wall clock at the start (ns since the epoch), 0: unknown */
    uint64_t duration_ns; /* from the origin to the last event */
    uint64_t peak_bytes, peak_time_ns; /* the live heap's peak and when (from the origin) */
    uint64_t final_bytes;              /* the live heap at the end */
    const tm_module_t *modules;        /* the trace's module map */
    size_t nmodules;
} profile_meta_t;

typedef struct profile_s {
    const profile_ops_t *ops;
    void *ctx;
    const char *const *types, *const *units;
    size_t ntypes, select;
    const profile_meta_t *meta;
    int err;
} profile_t;

void profile_types(profile_t *p, const char *const *types, const char *const *units, size_t n);
/* The unit of sample type i ("count" when none was given). */
const char *profile_unit(const profile_t *p, size_t i);
/* The index of the sample type named `name`, or -1. */
long profile_type_index(const profile_t *p, const char *name);
void profile_meta(profile_t *p, const profile_meta_t *meta);
int profile_sample(profile_t *p, const sym_frame_t *frames, size_t n, const uint64_t *values);
bool profile_wants_time(const profile_t *p);
int profile_thread(profile_t *p, uint32_t tid, const char *name);
int profile_counter(profile_t *p, const char *series, uint64_t t_ns, uint64_t value);
int profile_span(profile_t *p, uint32_t tid, uint64_t start_ns, uint64_t dur_ns,
                 const char *name, const char *detail);
int profile_close(profile_t *p);
/* A frame's name for a format: its function, else "MODULE+0xOFFSET", else "0xADDRESS" (written
 * into buf, cap bytes). */
const char *profile_frame_name(const sym_frame_t *f, char *buf, size_t cap);

#endif /* PERFSHIM_PROFILE_H */
