/*
 * screen_emit.h -- the report's first screen (issue 16): the verdict (leaks, heap errors,
 * lock-order cycles), the USE tables of the heap and of the locks (utilization, saturation,
 * errors; docs/json-schema.md "verdict", "use"), then the top recommendations
 * (advice_emit_screen). Emitted into the document view (core/doc.h).
 *
 * Contract: analyzer-only. screen_emit writes the members "verdict" and "use" of an open
 * object, always (nulls for what the trace does not know: RSS not sampled, allocator time
 * not measured, no leak scan); text (the presentation): "VERDICT", "USE: HEAP", "USE: LOCKS"
 * and "TOP RECOMMENDATIONS" (the first `top` of a), about 25 lines with 5 recommendations.
 * P: the pressure facts or NULL (allocator time then unknown). Returns d->err.
 */
#ifndef PERFSHIM_SCREEN_EMIT_H
#define PERFSHIM_SCREEN_EMIT_H

#include "analyses/advice.h"
#include "core/doc.h"

/* The verdict's problem count: leaked blocks (definite or indirect; without a scan, none),
 * heap errors and lock-order cycles, each 1 when present. */
unsigned screen_problems(const replay_t *rp, const leaks_t *L);
int screen_emit(doc_t *d, const replay_t *rp, const leaks_t *L, const pressure_t *P,
                const advice_t *a, int top);

#endif /* PERFSHIM_SCREEN_EMIT_H */
