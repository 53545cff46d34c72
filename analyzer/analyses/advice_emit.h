/*
 * advice_emit.h -- the recommendations (analyses/advice.h) emitted into the document view
 * (core/doc.h): the member "recommendations" of an open object (docs/json-schema.md), and
 * their short form on the report's first screen.
 *
 * Contract: analyzer-only. advice_emit writes "recommendations" always (an empty list when
 * there are none): every record, ranked, each {"rank","kind","title","saving":{"unit","value",
 * "method","share","bound"},"count","evidence","stack","confidence","tradeoff","verify"};
 * text (the presentation): the section "RECOMMENDATIONS" with the first `top` of them, each
 * with its evidence, estimate, trade-off, verification and stack (depth frames, < 0: the
 * format's default). advice_emit_screen writes text only: the first `top` as two lines each
 * (rank, kind, saving and share; title). rp and sym: the trace's, to cut and show stacks.
 * Return 0 or a negative PS_E_*.
 */
#ifndef PERFSHIM_ADVICE_EMIT_H
#define PERFSHIM_ADVICE_EMIT_H

#include "analyses/advice.h"
#include "core/doc.h"

int advice_emit(doc_t *d, const advice_t *a, const replay_t *rp, symbols_t *sym, int depth,
                int top);
void advice_emit_screen(doc_t *d, const advice_t *a, int top);
/* "18.0 ms of wall time (12.3% of the run)" and the like, into buf. */
const char *advice_saving_text(char *buf, size_t n, const advice_rec_t *r);

#endif /* PERFSHIM_ADVICE_EMIT_H */
