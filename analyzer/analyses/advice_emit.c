/* advice_emit.c -- see advice_emit.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/advice_emit.h"

#include <inttypes.h>
#include <stdio.h>

#include "analyses/callsite.h"
#include "core/fmt.h"

const char *advice_saving_text(char *buf, size_t n, const advice_rec_t *r)
{
    char v[32];
    double pct = 100.0 * r->share;
    switch (r->unit) {
    case ADVICE_UNIT_NS:
        snprintf(buf, n, "%s of wall time (%.1f%% of the run)", fmt_ns(v, sizeof v, r->value), pct);
        break;
    case ADVICE_UNIT_CPU_NS:
        snprintf(buf, n, "%s of CPU time (%.1f%% of the threads' time)",
                 fmt_ns(v, sizeof v, r->value), pct);
        break;
    default:
        snprintf(buf, n, "%s of memory (%.1f%% of the peak)", fmt_bytes(v, sizeof v, r->value),
                 pct);
    }
    return buf;
}

void advice_emit_screen(doc_t *d, const advice_t *a, int top)
{
    if (!doc_text(d))
        return;
    size_t shown = a->n < (size_t)top ? a->n : (size_t)top;
    doc_linef(d,
              "\nTOP RECOMMENDATIONS (%zu of %zu; --section advice: evidence, estimate, "
              "how to verify)",
              shown, a->n);
    if (!a->n)
        doc_line(d, "  none: no rule found a saving worth reporting");
    for (size_t i = 0; i < shown; i++) {
        const advice_rec_t *r = &a->recs[i];
        char s[96];
        doc_linef(d, "  #%zu  %-18s saves ~%s, confidence %s", r->rank, advice_kind_name(r->kind),
                  advice_saving_text(s, sizeof s, r), advice_confidence_name(r->confidence));
        doc_linef(d, "      %s", r->title);
    }
}

int advice_emit(doc_t *d, const advice_t *a, const replay_t *rp, symbols_t *sym, int depth, int top)
{
    size_t shown = a->n < (size_t)top ? a->n : (size_t)top;
    doc_linef(d,
              "\nRECOMMENDATIONS (%zu of %zu, by estimated saving as a share of the run, "
              "Amdahl-bounded)",
              shown, a->n);
    if (!a->n)
        doc_line(d, "  none");
    doc_nl(d);
    doc_list(d, "recommendations");
    for (size_t i = 0; i < a->n; i++) {
        const advice_rec_t *r = &a->recs[i];
        doc_only(d, i < shown ? DOC_ALL : DOC_DATA);
        if (!doc_shown(d))
            continue;
        if (doc_text(d)) {
            char s[96];
            doc_linef(d, "  #%zu  %s: saves ~%s, confidence %s", r->rank, advice_kind_name(r->kind),
                      advice_saving_text(s, sizeof s, r), advice_confidence_name(r->confidence));
            doc_linef(d, "      %s", r->title);
            doc_linef(d, "      evidence   %s", r->evidence);
            doc_linef(d, "      estimate   %s", r->method);
            doc_linef(d, "      trade-off  %s", r->tradeoff);
            doc_linef(d, "      verify     %s", r->verify);
        }
        doc_nl(d);
        doc_obj(d, NULL);
        doc_u64(d, "rank", r->rank);
        doc_str(d, "kind", advice_kind_name(r->kind));
        doc_str(d, "title", r->title);
        doc_obj(d, "saving");
        doc_str(d, "unit", advice_unit_name(r->unit));
        doc_u64(d, "value", r->value);
        doc_str(d, "method", r->method);
        char sh[32];
        snprintf(sh, sizeof sh, "%.4f", r->share);
        doc_num(d, "share", sh);
        doc_u64(d, "bound", r->bound);
        doc_end(d);
        doc_u64(d, "count", r->count);
        doc_str(d, "evidence", r->evidence);
        const uint64_t *ips = r->ips;
        uint32_t n = r->depth;
        int rc = ips ? 0 : callsite_cut(sym, rp, r->stack_id, &ips, &n);
        if (rc == 0)
            rc = doc_stack(d, "stack", sym, ips, n, depth);
        if (rc < 0)
            return rc;
        doc_str(d, "confidence", advice_confidence_name(r->confidence));
        doc_str(d, "tradeoff", r->tradeoff);
        doc_str(d, "verify", r->verify);
        doc_end(d);
    }
    doc_only(d, DOC_ALL);
    doc_end(d);
    return d->err;
}
