/*
 * profile.h -- the profile view of the output model: stack -> one value per sample type
 * (allocations, bytes, peak, leaked, ...), what flame-graph formats render: folded stacks now
 * (formats/folded.c), speedscope and pprof later. The document view is core/doc.h.
 *
 * Contract: analyzer-only, single-threaded. The renderer (a format plug-in) fills ops/ctx; the
 * command sets `select` (the index of the sample type a single-value format writes, from
 * --metric) before the emitter runs. The emitter first names its sample types
 * (profile_types: an array that outlives the profile), then calls profile_sample once per
 * stack with the frames innermost first (core/doc.h doc_expand) and ntypes values.
 * profile_close flushes and frees the renderer; it and profile_sample return 0 or the first
 * negative PS_E_* of the renderer.
 *
 * Two runs in one profile (`perfshim diff`, cmd/diff.c): the sample types come in pairs,
 * "base_X" then "new_X" (allocations, bytes, peak, leaked), each stack sampled once with both
 * runs' values (0 where a site is in one run only): what a differential flame graph draws.
 */
#ifndef PERFSHIM_PROFILE_H
#define PERFSHIM_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/symbols.h"

typedef struct profile_ops_s {
    int (*sample)(void *ctx, const sym_frame_t *frames, size_t n, const uint64_t *values,
                  size_t select);
    int (*finish)(void *ctx);
} profile_ops_t;

typedef struct profile_s {
    const profile_ops_t *ops;
    void *ctx;
    const char *const *types;
    size_t ntypes, select;
    int err;
} profile_t;

void profile_types(profile_t *p, const char *const *types, size_t n);
int profile_sample(profile_t *p, const sym_frame_t *frames, size_t n, const uint64_t *values);
int profile_close(profile_t *p);

#endif /* PERFSHIM_PROFILE_H */
