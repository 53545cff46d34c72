/*
 * doc.h -- the document view of the output model: what a report says, described once as a
 * stream of sections (objects), lists (arrays), key/values, distributions and stacks, and
 * rendered by whichever format plug-in (formats/formats.def) the command was given: text
 * (formats/text.c), JSON (formats/json.c), any other document format of formats/formats.def,
 * HTML later. The two
 * other views are the profile (core/profile.h: stack -> value, for folded, speedscope, pprof)
 * and the findings (the check verdict, SARIF, JUnit).
 *
 * Contract: analyzer-only, single-threaded. An emitter (analyses/..._emit.c, cmd/) calls the
 * doc_* functions on a doc_t a format opened; it never knows which format that is. Streaming:
 * nothing is kept, so a report of any size costs the renderer's stack of open containers only.
 * key is the member's name inside an object and NULL inside a list. Strings are raw bytes
 * (NUL-terminated, any encoding; the renderer makes them valid for its format: JSON escapes
 * bytes that are not UTF-8, see docs/json-schema.md); NULL is written as null.
 * doc_num writes a number already formatted (a fixed-point share "0.2500"). doc_nl is a hint
 * that a line break reads well before the next member (JSON puts one there; it is whitespace).
 * The first error of the renderer (out of memory, a nesting error) sticks in d->err, a
 * negative PS_E_*; every later call is then a no-op, and doc_close returns it.
 * doc_stack writes the frame list of a symbolized stack (innermost first, inlined frames
 * expanded, at most max_depth expanded frames, < 0: all, never more than DOC_MAX_FRAMES):
 * [{"function","file","line","module","address","offset","inlined"}...]; returns 0 or a
 * negative PS_E_* from symbolization. doc_expand gives the same frames to other views.
 *
 * Presentation (what a text renderer needs; jemalloc's emitter_t has the same idea: one
 * description, table or JSON chosen at init). A data format (JSON, ...) ignores all of it:
 * its ops leave the hooks NULL, so these calls cost a test and change none of its bytes.
 *  - doc_title: a section's title ("\nTITLE\n" in text).
 *  - doc_line, doc_linef: a text-only line (emitter_table_printf): for the lines that say in
 *    words what several members hold (core/fmt.h formats their numbers).
 *  - doc_label: the next value is shown in text as "  LABEL  VALUE" (label padded to 18),
 *    VALUE formatted by its unit (doc_unit_t).
 *  - doc_columns: the next list is a table in text: a header line of the columns' titles and
 *    a line per entry (an object), each cell the entry's member of that key formatted by its
 *    unit, right-aligned in its width (prefix and suffix inside it); a member that is null
 *    reads "-". per: the denominator of DOC_UNIT_RATE cells (nanoseconds).
 *  - doc_indent: the indent of the stacks that follow, in text (default 8 spaces).
 *  - doc_only(d, DOC_TEXT | DOC_DATA): the members written until the next doc_only exist in
 *    the text formats only, in the data formats only, or in both (DOC_ALL, the default);
 *    doc_hide is the same one level up, for a caller that visits a section in the text's
 *    order and again in the data's.
 * A text renderer writes nothing else of the values: a member without a label or a column
 * is data only. Stacks: the text renderer shows at most max_depth frames (< 0: its default,
 * 8), folding the C++ standard library's frames unless the symbolizer shows them.
 */
#ifndef PERFSHIM_DOC_H
#define PERFSHIM_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/symbols.h"

#define DOC_MAX_FRAMES 512 /* expanded frames written for one stack, at most */
/* The "schema_version" of every document (docs/json-schema.md): 2 added the key itself, the
 * members always present and the one shape of "leaks" entries. */
#define DOC_SCHEMA_VERSION 2

/* How a labelled value or a table cell is shown in text. */
typedef enum doc_unit_e {
    DOC_UNIT_COUNT, /* the number */
    DOC_UNIT_BYTES, /* "512 B", "1.5 KiB" (core/fmt.h fmt_bytes) */
    DOC_UNIT_NS,    /* "830 ns", "1.2 us" (fmt_ns) */
    DOC_UNIT_RATE,  /* the count per second over doc_columns' per: "12.3 M" (fmt_rate) */
    DOC_UNIT_STR,   /* a string as it is */
} doc_unit_t;

typedef struct doc_col_s {
    const char *key, *title;
    int width; /* of the cell, prefix and suffix included */
    doc_unit_t unit;
    const char *prefix, *suffix; /* around the value, inside the width ("+", "B") */
} doc_col_t;

enum { DOC_TEXT = 1, DOC_DATA = 2, DOC_ALL = 3 };

/* What a renderer implements (formats/json.c, ...). ctx is its own state. The presentation
 * hooks (title .. indent) and stack are optional: NULL in a data format. */
typedef struct doc_ops_s {
    int (*open)(void *ctx, const char *key, bool list);
    int (*close)(void *ctx);
    int (*u64)(void *ctx, const char *key, uint64_t v);
    int (*num)(void *ctx, const char *key, const char *text);
    int (*str)(void *ctx, const char *key, const char *s, size_t len);
    int (*boolean)(void *ctx, const char *key, bool v);
    int (*null)(void *ctx, const char *key);
    void (*nl)(void *ctx);
    int (*finish)(void *ctx); /* flush; frees ctx */
    unsigned kind;            /* DOC_TEXT or DOC_DATA (0 reads DOC_DATA) */
    void (*title)(void *ctx, const char *title);
    void (*line)(void *ctx, const char *text);
    void (*label)(void *ctx, const char *label, doc_unit_t unit);
    void (*columns)(void *ctx, const doc_col_t *cols, size_t n, uint64_t per);
    void (*indent)(void *ctx, const char *indent);
    /* a stack as the format shows it (unexpanded: ips of depth); NULL: the frame list */
    int (*stack)(void *ctx, const char *key, symbols_t *sym, const uint64_t *ips,
                 uint32_t depth, int max_depth);
} doc_ops_t;

typedef struct doc_s {
    const doc_ops_t *ops;
    void *ctx;
    int err;
    bool skip;     /* doc_only excluded this renderer */
    unsigned hide; /* doc_hide: the formats hidden around the emitters' doc_only */
} doc_t;

void doc_obj(doc_t *d, const char *key);
void doc_list(doc_t *d, const char *key);
void doc_end(doc_t *d);
void doc_u64(doc_t *d, const char *key, uint64_t v);
void doc_num(doc_t *d, const char *key, const char *text);
void doc_str(doc_t *d, const char *key, const char *s);
void doc_bool(doc_t *d, const char *key, bool v);
void doc_null(doc_t *d, const char *key);
void doc_nl(doc_t *d);
/* v, or null when !have */
void doc_u64_or_null(doc_t *d, const char *key, bool have, uint64_t v);
/* "0x..." */
void doc_hex(doc_t *d, const char *key, uint64_t v);
/* A distribution's key set, prefixed: PREFIX_p50, PREFIX_p99, PREFIX_p999, PREFIX_max. */
void doc_quantiles(doc_t *d, const char *prefix, uint64_t p50, uint64_t p99, uint64_t p999,
                   uint64_t max);
int doc_stack(doc_t *d, const char *key, symbols_t *sym, const uint64_t *ips, uint32_t depth,
              int max_depth);
int doc_expand(symbols_t *sym, const uint64_t *ips, uint32_t depth, int limit,
               sym_frame_t *buf, size_t *n, size_t *total);
void doc_title(doc_t *d, const char *title);
void doc_line(doc_t *d, const char *text);
/* doc_line of a printf format (composed only for a format that shows lines). */
void doc_linef(doc_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void doc_label(doc_t *d, const char *label, doc_unit_t unit);
void doc_columns(doc_t *d, const doc_col_t *cols, size_t n, uint64_t per);
void doc_indent(doc_t *d, const char *indent);
void doc_only(doc_t *d, unsigned which);
/* doc_hide(d, DOC_TEXT | DOC_DATA | 0): what the caller of an emitter hides whatever the
 * emitter's own doc_only says (a section visited twice: once for the text's order, once for
 * the data's); returns the previous mask. */
unsigned doc_hide(doc_t *d, unsigned which);
/* Whether the members written now reach the renderer (an emitter may skip building an
 * element that doc_only/doc_hide hide from this format: nothing of it would be written). */
static inline bool doc_shown(const doc_t *d)
{
    return d->err == 0 && !d->skip;
}
/* Whether text lines are shown now (to skip composing them otherwise). */
static inline bool doc_text(const doc_t *d)
{
    return d->err == 0 && !d->skip && d->ops->line;
}
/* Ends the document (the renderer flushes and frees its state); returns d->err or the
 * renderer's error. */
int doc_close(doc_t *d);

#endif /* PERFSHIM_DOC_H */
