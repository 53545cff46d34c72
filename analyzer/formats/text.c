/* text.c -- see text.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "formats/text.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "analyses/callsite.h"
#include "core/cxxname.h"
#include "core/fmt.h"
#include "perfshim/errors.h"

#define TEXT_MAX_COLS 16

typedef struct text_s {
    FILE *o;
    unsigned depth;
    const char *label; /* doc_label: shows the next value */
    doc_unit_t label_unit;
    const doc_col_t *cols; /* doc_columns: the next list, then the open table */
    size_t ncols;
    uint64_t per;
    bool table_next;
    unsigned table_depth; /* depth inside the table's list; 0: none */
    char cell[TEXT_MAX_COLS][48];
    const char *indent;
} text_t;

const char *text_base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* "… 3 library frames" (a run of folded frames, in the place they were) */
static void text_folded(FILE *o, const char *indent, size_t n)
{
    fprintf(o, "%s\xe2\x80\xa6 %zu library frame%s\n", indent, n, n == 1 ? "" : "s");
}

/* One shown frame. */
static void text_frame(FILE *o, const symbols_opts_t *so, const sym_frame_t *f, const char *indent)
{
    fputs(indent, o);
    char name[512];
    if (f->function)
        fputs(so->full_names ? f->function : cxxname_short(f->function, name, sizeof name), o);
    else if (f->module_name)
        fprintf(o, "%s+0x%" PRIx64, f->module_name, f->offset);
    else
        fprintf(o, "0x%" PRIx64, f->address);
    if (f->file)
        fprintf(o, " (%s:%" PRIu32 ")", text_base(f->file), f->line);
    else if (f->function && f->module_name)
        fprintf(o, " (%s+0x%" PRIx64 ")", f->module_name, f->offset);
    if (f->inlined)
        fputs(" [inlined]", o);
    fputc('\n', o);
}

/* The frames of ips as doc_expand gives them (at most DOC_MAX_FRAMES looked at), library ones
 * folded. Frames that are only counted (a library module's, all of whose frames fold, and
 * those after the last one shown) are not resolved, only counted (symbols_depth). */
int text_frames(FILE *o, symbols_t *sym, const uint64_t *ips, uint32_t depth, int max_depth,
                const char *indent)
{
    if (!depth)
        fprintf(o, "%s[no stack recorded]\n", indent);
    const symbols_opts_t *so = symbols_options(sym);
    bool fold = !so->show_std_frames;
    /* i: frames looked at (doc_expand's, capped at DOC_MAX_FRAMES); with folding, max_depth
     * counts the user frames shown, not those folded */
    size_t shown = 0, folded = 0, i = 0, total = 0;
    for (uint32_t k = 0; k < depth; k++) {
        bool done = i >= DOC_MAX_FRAMES || (max_depth >= 0 && shown >= (size_t)max_depth);
        if (done || (fold && callsite_is_library_module(symbols_module_name(sym, ips[k])))) {
            unsigned m;
            int rc = symbols_depth(sym, ips[k], &m);
            if (rc < 0)
                return rc;
            total += m;
            if (!done) { /* all folded: as many as are looked at */
                size_t look = DOC_MAX_FRAMES - i < m ? DOC_MAX_FRAMES - i : m;
                folded += look;
                i += look;
            }
            continue;
        }
        const sym_frame_t *fr;
        unsigned m;
        int rc = symbols_frames(sym, ips[k], &fr, &m);
        if (rc < 0)
            return rc;
        total += m;
        for (unsigned j = 0; j < m; j++) {
            if (i >= DOC_MAX_FRAMES || (max_depth >= 0 && shown >= (size_t)max_depth))
                break;
            i++;
            const sym_frame_t *f = &fr[j];
            if (fold && callsite_is_library_frame(f)) {
                folded++;
                continue;
            }
            if (folded)
                text_folded(o, indent, folded);
            folded = 0;
            shown++;
            text_frame(o, so, f, indent);
        }
    }
    if (folded && i == total)
        text_folded(o, indent, folded);
    else if (i < total)
        fprintf(o, "%s... %zu more frames\n", indent, total - i + folded);
    return 0;
}

/* ---- values ---------------------------------------------------------------------------- */

static const char *text_fmt(const text_t *t, char *b, size_t n, doc_unit_t unit, uint64_t v)
{
    switch (unit) {
    case DOC_UNIT_BYTES: return fmt_bytes(b, n, v);
    case DOC_UNIT_NS: return fmt_ns(b, n, v);
    case DOC_UNIT_RATE: return fmt_rate(b, n, v, t->per);
    default: snprintf(b, n, "%" PRIu64, v); return b;
    }
}

/* The column of key in the open table's row, or -1 (not a cell: data only). */
static int text_col(const text_t *t, const char *key)
{
    if (!t->table_depth || t->depth != t->table_depth + 1 || !key)
        return -1;
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].key, key) == 0)
            return (int)i;
    return -1;
}

/* A value, shown as text s (or as v in its unit when s is NULL) where the presentation says. */
static void text_value(text_t *t, const char *key, const char *s, const uint64_t *v)
{
    char b[48];
    int c = text_col(t, key);
    if (c >= 0) {
        const char *x = s ? s : v ? text_fmt(t, b, sizeof b, t->cols[c].unit, *v) : "-";
        snprintf(t->cell[c], sizeof t->cell[c], "%s", x);
    }
    if (t->label) {
        const char *x = s ? s : v ? text_fmt(t, b, sizeof b, t->label_unit, *v) : "-";
        fprintf(t->o, "  %-18s %s\n", t->label, x);
        t->label = NULL;
    }
}

static int text_u64(void *ctx, const char *key, uint64_t v)
{
    text_value(ctx, key, NULL, &v);
    return 0;
}

static int text_num(void *ctx, const char *key, const char *s)
{
    text_value(ctx, key, s, NULL);
    return 0;
}

static int text_str(void *ctx, const char *key, const char *s, size_t len)
{
    (void)len; /* NUL-terminated (doc_str); safeout cleans the bytes on the way out */
    text_value(ctx, key, s, NULL);
    return 0;
}

static int text_boolean(void *ctx, const char *key, bool v)
{
    text_value(ctx, key, v ? "yes" : "no", NULL);
    return 0;
}

static int text_null(void *ctx, const char *key)
{
    text_value(ctx, key, NULL, NULL);
    return 0;
}

/* ---- structure: tables ------------------------------------------------------------------ */

static void text_row(text_t *t, bool header)
{
    fputs("  ", t->o);
    for (size_t i = 0; i < t->ncols; i++) {
        const doc_col_t *c = &t->cols[i];
        const char *pre = header || !c->prefix ? "" : c->prefix;
        const char *suf = header || !c->suffix ? "" : c->suffix;
        int w = c->width - (int)strlen(pre) - (int)strlen(suf);
        fprintf(t->o, "%s%s%*s%s", i ? " " : "", pre, w, header ? c->title : t->cell[i], suf);
    }
    fputc('\n', t->o);
}

static int text_open(void *ctx, const char *key, bool list)
{
    text_t *t = ctx;
    (void)key;
    t->depth++;
    if (list && t->table_next) {
        t->table_next = false;
        t->table_depth = t->depth;
        text_row(t, true);
    } else if (!list && t->table_depth && t->depth == t->table_depth + 1) {
        for (size_t i = 0; i < t->ncols; i++)
            strcpy(t->cell[i], "-");
    }
    return 0;
}

static int text_close(void *ctx)
{
    text_t *t = ctx;
    if (!t->depth)
        return -PS_E_INVAL;
    if (t->table_depth && t->depth == t->table_depth + 1)
        text_row(t, false);
    else if (t->depth == t->table_depth)
        t->table_depth = 0;
    t->depth--;
    return 0;
}

/* ---- presentation ----------------------------------------------------------------------- */

static void text_title(void *ctx, const char *title)
{
    fprintf(((text_t *)ctx)->o, "\n%s\n", title);
}

static void text_line(void *ctx, const char *s)
{
    fprintf(((text_t *)ctx)->o, "%s\n", s);
}

static void text_label(void *ctx, const char *label, doc_unit_t unit)
{
    text_t *t = ctx;
    t->label = label;
    t->label_unit = unit;
}

static void text_columns(void *ctx, const doc_col_t *cols, size_t n, uint64_t per)
{
    text_t *t = ctx;
    t->cols = cols;
    t->ncols = n < TEXT_MAX_COLS ? n : TEXT_MAX_COLS;
    t->per = per;
    t->table_next = true;
}

static void text_indent(void *ctx, const char *indent)
{
    ((text_t *)ctx)->indent = indent;
}

static int text_stack(void *ctx, const char *key, symbols_t *sym, const uint64_t *ips,
                      uint32_t depth, int max_depth)
{
    text_t *t = ctx;
    (void)key;
    return text_frames(t->o, sym, ips, depth, max_depth < 0 ? TEXT_DEPTH : max_depth, t->indent);
}

static int text_finish(void *ctx)
{
    free(ctx);
    return 0;
}

static const doc_ops_t text_ops = {
    .open = text_open, .close = text_close, .u64 = text_u64, .num = text_num, .str = text_str,
    .boolean = text_boolean, .null = text_null, .finish = text_finish, .kind = DOC_TEXT,
    .title = text_title, .line = text_line, .label = text_label, .columns = text_columns,
    .indent = text_indent, .stack = text_stack,
};

int text_doc_open(doc_t *d, FILE *o)
{
    memset(d, 0, sizeof(*d));
    text_t *t = calloc(1, sizeof(*t));
    if (!t)
        return -PS_E_NOMEM;
    t->o = o;
    t->indent = "        ";
    d->ops = &text_ops;
    d->ctx = t;
    return 0;
}

int text_format(void *view, FILE *o) { return text_doc_open(view, o); }
