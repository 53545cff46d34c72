/*
 * stats.c -- `--format=stats`: a document-view renderer that prints, per top-level section of
 * the document (core/doc.h), how many values, lists and objects it holds. Added as the proof
 * that a format is one file plus one line of formats/formats.def (tests/integration/
 * formats.sh checks that it is reachable from report, check and locks and defined nowhere
 * else); kept because the counts are a quick look at a report's size.
 *
 * Output: one line per top-level member, "NAME values=N lists=N objects=N", then
 * "total values=N lists=N objects=N".
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/doc.h"
#include "perfshim/errors.h"

int stats_format(void *view, FILE *o); /* formats/formats.def */

typedef struct stats_s {
    FILE *o;
    unsigned depth;
    char section[64];
    uint64_t n[3], total[3]; /* values, lists, objects */
} stats_t;

static void stats_flush(stats_t *s)
{
    if (s->section[0])
        fprintf(s->o, "%s values=%" PRIu64 " lists=%" PRIu64 " objects=%" PRIu64 "\n",
                s->section, s->n[0], s->n[1], s->n[2]);
    for (int i = 0; i < 3; i++) {
        s->total[i] += s->n[i];
        s->n[i] = 0;
    }
    s->section[0] = '\0';
}

/* A member begins: at depth 1 it starts a new section. */
static void stats_member(stats_t *s, const char *key, int what)
{
    if (s->depth == 1) {
        stats_flush(s);
        snprintf(s->section, sizeof s->section, "%s", key ? key : "-");
    }
    s->n[what]++;
}

static int stats_open(void *ctx, const char *key, bool list)
{
    stats_t *s = ctx;
    if (s->depth)
        stats_member(s, key, list ? 1 : 2);
    s->depth++;
    return 0;
}

static int stats_close(void *ctx)
{
    stats_t *s = ctx;
    if (!s->depth)
        return -PS_E_INVAL;
    s->depth--;
    return 0;
}

static int stats_value(void *ctx, const char *key)
{
    stats_member(ctx, key, 0);
    return 0;
}

static int stats_u64(void *ctx, const char *key, uint64_t v) { (void)v; return stats_value(ctx, key); }
static int stats_num(void *ctx, const char *key, const char *t) { (void)t; return stats_value(ctx, key); }
static int stats_str(void *ctx, const char *key, const char *v, size_t n) { (void)v; (void)n; return stats_value(ctx, key); }
static int stats_bool(void *ctx, const char *key, bool v) { (void)v; return stats_value(ctx, key); }

static int stats_finish(void *ctx)
{
    stats_t *s = ctx;
    stats_flush(s);
    fprintf(s->o, "total values=%" PRIu64 " lists=%" PRIu64 " objects=%" PRIu64 "\n",
            s->total[0], s->total[1], s->total[2]);
    free(s);
    return 0;
}

static const doc_ops_t stats_ops = {
    .open = stats_open, .close = stats_close, .u64 = stats_u64, .num = stats_num,
    .str = stats_str, .boolean = stats_bool, .null = stats_value, .finish = stats_finish,
};

int stats_format(void *view, FILE *o)
{
    doc_t *d = view;
    memset(d, 0, sizeof(*d));
    stats_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -PS_E_NOMEM;
    s->o = o;
    d->ops = &stats_ops;
    d->ctx = s;
    return 0;
}
