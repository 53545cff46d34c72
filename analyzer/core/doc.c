/* doc.c -- see doc.h. Only dispatch and the shared shapes (quantiles, frames) live here. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/doc.h"
#include "core/fmt.h"

#include "perfshim/errors.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOC_CALL(d, call)                                                                      \
    do {                                                                                       \
        if ((d)->err == 0 && !(d)->skip) {                                                     \
            int rc_ = (d)->ops->call;                                                          \
            if (rc_ < 0)                                                                       \
                (d)->err = rc_;                                                                \
        }                                                                                      \
    } while (0)

void doc_obj(doc_t *d, const char *key) { DOC_CALL(d, open(d->ctx, key, false)); }
void doc_list(doc_t *d, const char *key) { DOC_CALL(d, open(d->ctx, key, true)); }
void doc_end(doc_t *d) { DOC_CALL(d, close(d->ctx)); }
void doc_u64(doc_t *d, const char *key, uint64_t v) { DOC_CALL(d, u64(d->ctx, key, v)); }
void doc_num(doc_t *d, const char *key, const char *t) { DOC_CALL(d, num(d->ctx, key, t)); }
void doc_bool(doc_t *d, const char *key, bool v) { DOC_CALL(d, boolean(d->ctx, key, v)); }
void doc_null(doc_t *d, const char *key) { DOC_CALL(d, null(d->ctx, key)); }

void doc_str(doc_t *d, const char *key, const char *s)
{
    if (!s)
        doc_null(d, key);
    else
        DOC_CALL(d, str(d->ctx, key, s, strlen(s)));
}

void doc_nl(doc_t *d)
{
    if (d->err == 0 && !d->skip && d->ops->nl)
        d->ops->nl(d->ctx);
}

void doc_u64_or_null(doc_t *d, const char *key, bool have, uint64_t v)
{
    if (have)
        doc_u64(d, key, v);
    else
        doc_null(d, key);
}

void doc_hex(doc_t *d, const char *key, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "0x%" PRIx64, v);
    doc_str(d, key, b);
}

void doc_quantiles(doc_t *d, const char *prefix, uint64_t p50, uint64_t p99, uint64_t p999,
                   uint64_t max)
{
    static const char *const sfx[] = {"_p50", "_p99", "_p999", "_max"};
    const uint64_t v[] = {p50, p99, p999, max};
    char key[64];
    for (unsigned i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, sfx[i]);
        doc_u64(d, key, v[i]);
    }
}

int doc_expand(symbols_t *sym, const uint64_t *ips, uint32_t depth, int limit,
               sym_frame_t *buf, size_t *n, size_t *total)
{
    size_t cap = DOC_MAX_FRAMES;
    if (limit >= 0 && (size_t)limit < cap)
        cap = (size_t)limit;
    *n = *total = 0;
    for (uint32_t i = 0; i < depth; i++) {
        const sym_frame_t *f;
        unsigned k;
        int rc = symbols_frames(sym, ips[i], &f, &k);
        if (rc < 0)
            return rc;
        for (unsigned j = 0; j < k; j++, (*total)++)
            if (*n < cap)
                buf[(*n)++] = f[j];
    }
    return 0;
}

/* A presentation hook: only a format that has it, and not while doc_only excludes it. */
#define DOC_HINT(d, hook, ...)                                                                 \
    do {                                                                                       \
        if ((d)->err == 0 && !(d)->skip && (d)->ops->hook)                                     \
            (d)->ops->hook((d)->ctx, __VA_ARGS__);                                             \
    } while (0)

void doc_title(doc_t *d, const char *title) { DOC_HINT(d, title, title); }
void doc_line(doc_t *d, const char *text) { DOC_HINT(d, line, text); }
void doc_linef(doc_t *d, const char *fmt, ...)
{
    if (d->err || d->skip || !d->ops->line)
        return;
    char b[512];
    size_t n;
    va_list ap;
    va_start(ap, fmt);
    char *p = fmt_vbuf(b, sizeof b, &n, fmt, ap); /* (a long path in it: whole) */
    va_end(ap);
    if (!p) {
        if (n)
            d->err = -PS_E_NOMEM;
        return;
    }
    d->ops->line(d->ctx, p);
    if (p != b)
        free(p);
}
void doc_label(doc_t *d, const char *label, doc_unit_t unit) { DOC_HINT(d, label, label, unit); }
void doc_columns(doc_t *d, const doc_col_t *cols, size_t n, uint64_t per)
{
    DOC_HINT(d, columns, cols, n, per);
}
void doc_indent(doc_t *d, const char *indent) { DOC_HINT(d, indent, indent); }

void doc_only(doc_t *d, unsigned which)
{
    unsigned kind = d->ops->kind ? d->ops->kind : DOC_DATA;
    d->skip = !(which & ~d->hide & kind);
}

unsigned doc_hide(doc_t *d, unsigned which)
{
    unsigned prev = d->hide;
    d->hide = which;
    doc_only(d, DOC_ALL);
    return prev;
}

int doc_stack(doc_t *d, const char *key, symbols_t *sym, const uint64_t *ips, uint32_t depth,
              int max_depth)
{
    if (d->err || d->skip)
        return d->err;
    if (d->ops->stack) {
        int rc = d->ops->stack(d->ctx, key, sym, ips, depth, max_depth);
        if (rc < 0 && d->err == 0)
            d->err = rc;
        return d->err;
    }
    sym_frame_t fr[DOC_MAX_FRAMES];
    size_t n, total;
    int rc = doc_expand(sym, ips, depth, max_depth, fr, &n, &total);
    if (rc < 0)
        return rc;
    doc_list(d, key);
    for (size_t i = 0; i < n; i++) {
        const sym_frame_t *f = &fr[i];
        doc_obj(d, NULL);
        doc_str(d, "function", f->function);
        doc_str(d, "file", f->file);
        doc_u64(d, "line", f->line);
        doc_str(d, "module", f->module);
        doc_hex(d, "address", f->address);
        doc_hex(d, "offset", f->module ? f->offset : f->address);
        doc_bool(d, "inlined", f->inlined);
        doc_end(d);
    }
    doc_end(d);
    return d->err;
}

int doc_close(doc_t *d)
{
    int rc = d->ops->finish(d->ctx);
    d->ctx = NULL;
    return d->err ? d->err : rc;
}
