/*
 * speedscope.c -- speedscope's file format (https://www.speedscope.app/file-format-schema.json),
 * a renderer of the profile view (core/profile.h): "shared": {"frames": [{name, file, line}]}
 * (each distinct frame once), "profiles": one of type "sampled" per sample type (name: the
 * type, unit "none" for counts and "bytes" for bytes, startValue 0, endValue the total, each
 * stack whose value is not 0 in "samples" as frame indices root first, its value in
 * "weights"), "activeProfileIndex": --metric's, "name": the program, "exporter". A stack
 * without frames is the frame "[no stack]". Written with yajl (formats/jsonw.h) at the end.
 *
 * Contract: analyzer-only. speedscope_format (formats.def) opens it; 0 or -PS_E_NOMEM.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/profile.h"
#include "core/intern.h"
#include "formats/jsonw.h"
#include "perfshim/errors.h"

int speedscope_format(void *view, FILE *o); /* formats/formats.def */

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

typedef struct speedscope_s {
    FILE *o;
    const profile_t *p;
    intern_t frames; /* key: name \0 file \0 line */
    uint32_t *idx;   /* every sample's frame indices, root first, one after another */
    size_t nidx, capidx;
    size_t *start;     /* sample i: idx[start[i] .. start[i + 1]) */
    size_t capstart;
    uint64_t *values;  /* sample i's values: values[i * ntypes ...] */
    size_t capvalues;
    size_t n;
} speedscope_t;

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    return grow_array(v, cap, need, elem, 64);
}

/* A frame's index: its key name NUL file NUL line, whole (speedscope_write splits it at the
 * NULs: a key cut short would send it past the end). */
static long speedscope_frame(speedscope_t *S, const sym_frame_t *f)
{
    char nb[64];
    const char *name = f ? profile_frame_name(f, nb, sizeof nb) : "[no stack]";
    return intern_fmt(&S->frames, NULL, "%s%c%s%c%" PRIu32, name, 0,
                      f && f->file ? f->file : "", 0, f ? f->line : 0);
}

static int speedscope_sample(void *ctx, const sym_frame_t *fr, size_t n, const uint64_t *values,
                             size_t select)
{
    (void)select;
    speedscope_t *S = ctx;
    size_t nt = S->p->ntypes, any = 0;
    for (size_t t = 0; t < nt; t++)
        any |= values[t] != 0;
    if (!any)
        return 0;
    size_t depth = n ? n : 1;
    if (grow((void **)&S->idx, &S->capidx, S->nidx + depth, sizeof *S->idx) < 0 ||
        grow((void **)&S->start, &S->capstart, S->n + 2, sizeof *S->start) < 0 ||
        grow((void **)&S->values, &S->capvalues, (S->n + 1) * nt, sizeof *S->values) < 0)
        return -PS_E_NOMEM;
    S->start[S->n] = S->nidx;
    for (size_t k = depth; k-- > 0;) { /* root first */
        long i = speedscope_frame(S, n ? &fr[k] : NULL);
        if (i < 0)
            return (int)i;
        S->idx[S->nidx++] = (uint32_t)i;
    }
    memcpy(&S->values[S->n * nt], values, nt * sizeof *values);
    S->n++;
    S->start[S->n] = S->nidx;
    return 0;
}

static void speedscope_write(speedscope_t *S, jsonw_t *w)
{
    const profile_t *p = S->p;
    size_t nt = p->ntypes;
    jsonw_map(w);
    jsonw_kstr(w, "$schema", "https://www.speedscope.app/file-format-schema.json");
    jsonw_str(w, "shared");
    jsonw_map(w);
    jsonw_str(w, "frames");
    jsonw_array(w);
    for (size_t i = 0; i < S->frames.n; i++) {
        size_t len;
        const char *name = intern_key(&S->frames, i, &len);
        const char *file = name + strlen(name) + 1, *line = file + strlen(file) + 1;
        jsonw_map(w);
        jsonw_kstr(w, "name", name);
        if (*file) {
            jsonw_kstr(w, "file", file);
            if (strcmp(line, "0") != 0)
                jsonw_ku64(w, "line", strtoull(line, NULL, 10));
        }
        jsonw_map_end(w);
    }
    jsonw_array_end(w);
    jsonw_map_end(w);
    jsonw_str(w, "profiles");
    jsonw_array(w);
    for (size_t t = 0; t < nt; t++) {
        uint64_t total = 0;
        for (size_t i = 0; i < S->n; i++)
            total += S->values[i * nt + t];
        jsonw_map(w);
        jsonw_kstr(w, "type", "sampled");
        jsonw_kstr(w, "name", p->types[t]);
        jsonw_kstr(w, "unit", strcmp(profile_unit(p, t), "bytes") == 0 ? "bytes" : "none");
        jsonw_ku64(w, "startValue", 0);
        jsonw_ku64(w, "endValue", total);
        jsonw_str(w, "samples");
        jsonw_array(w);
        for (size_t i = 0; i < S->n; i++) {
            if (!S->values[i * nt + t])
                continue;
            jsonw_array(w);
            for (size_t k = S->start[i]; k < S->start[i + 1]; k++)
                jsonw_u64(w, S->idx[k]);
            jsonw_array_end(w);
        }
        jsonw_array_end(w);
        jsonw_str(w, "weights");
        jsonw_array(w);
        for (size_t i = 0; i < S->n; i++)
            if (S->values[i * nt + t])
                jsonw_u64(w, S->values[i * nt + t]);
        jsonw_array_end(w);
        jsonw_map_end(w);
    }
    jsonw_array_end(w);
    jsonw_ku64(w, "activeProfileIndex", p->select < nt ? p->select : 0);
    jsonw_kstr(w, "name", p->meta && p->meta->exe ? p->meta->exe : "perfshim profile");
    jsonw_kstr(w, "exporter", "perfshim " PACKAGE_VERSION);
    jsonw_map_end(w);
}

static int speedscope_finish(void *ctx)
{
    speedscope_t *S = ctx;
    jsonw_t *w;
    int rc = jsonw_open(&w, S->o);
    if (rc == 0) {
        speedscope_write(S, w);
        rc = jsonw_close(w);
    }
    intern_free(&S->frames);
    free(S->idx);
    free(S->start);
    free(S->values);
    free(S);
    return rc;
}

static const profile_ops_t speedscope_ops = {.sample = speedscope_sample,
                                             .finish = speedscope_finish};

int speedscope_format(void *view, FILE *o)
{
    profile_t *p = view;
    memset(p, 0, sizeof(*p));
    speedscope_t *S = calloc(1, sizeof *S);
    if (!S)
        return -PS_E_NOMEM;
    S->o = o;
    S->p = p;
    p->ops = &speedscope_ops;
    p->ctx = S;
    return 0;
}
