/*
 * html.c -- the HTML page format (formats/formats.def "html", view FORMAT_PAGE): one
 * self-contained file holding the report's document and its profile as one JSON blob, and
 * the small script and style sheet that draw them in a browser (analyzer/formats/html/:
 * report.html, report.css, report.js, embedded at build time by scripts/embed-assets into
 * the generated html_assets.c; docs/html-report.md).
 *
 * What is embedded is aggregated only, never an event: the document (what --format=json
 * writes, kept in memory until the page is written) and the profile folded into a tree of
 * frames (a node per distinct path of (function, file:line) from the root), each node with
 * its inclusive value per sample type. Its size grows with the call sites, not the events.
 *
 * The blob: {"report": DOCUMENT, "profile": {"types": [NAME...], "select": I,
 * "strings": [S...], "nodes": [PARENT, NAME, LOC, ...], "values": [[V per node] per type]}}:
 * node 0 is the root (every stack; PARENT 0), a node's parent comes before it; NAME and
 * LOC index "strings" (LOC "" when unknown). Every '<' of the JSON is written \u003c, so no
 * string can end the <script> element that holds it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "core/doc.h"
#include "core/profile.h"
#include "formats/formats.h"
#include "formats/html_assets.h"
#include "formats/json.h"
#include "perfshim/errors.h"

typedef struct hnode_s {
    uint32_t parent, name, loc;
} hnode_t;

typedef struct html_s {
    FILE *out;
    FILE *mem; /* the document's JSON, until the page is written */
    char *doc;
    size_t doclen;
    const profile_t *prof; /* its types (profile_types) */
    size_t ntypes;
    /* the frame tree: nodes, their values (ntypes per node), and a hash of (parent, name,
     * loc) -> node + 1 (0: empty) */
    hnode_t *nodes;
    uint64_t *vals;
    size_t nnodes, ncap;
    uint32_t *nhash;
    size_t nhcap;
    /* interned strings: the array and a hash -> index + 1 */
    char **strs;
    size_t nstrs, scap;
    uint32_t *shash;
    size_t shcap;
    char *clean; /* json_utf8_clean's buffer */
    size_t cleancap;
} html_t;

static uint64_t hash_bytes(const char *s, uint64_t h)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

/* Grows an open-addressing table of indices + 1 to twice its size, rehashing by key(i). */
static int table_grow(uint32_t **tab, size_t *cap, size_t n, uint64_t (*key)(html_t *, size_t),
                      html_t *H)
{
    size_t ncap = *cap ? *cap * 2 : 1024;
    uint32_t *t = calloc(ncap, sizeof(*t));
    if (!t)
        return -PS_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t k = key(H, i) & (ncap - 1);
        while (t[k])
            k = (k + 1) & (ncap - 1);
        t[k] = (uint32_t)i + 1;
    }
    free(*tab);
    *tab = t;
    *cap = ncap;
    return 0;
}

static uint64_t str_key(html_t *H, size_t i)
{
    return hash_mix(hash_bytes(H->strs[i], 0xcbf29ce484222325ull));
}

static uint64_t node_key3(uint32_t parent, uint32_t name, uint32_t loc)
{
    return hash_mix(((uint64_t)parent << 32 | name) ^ hash_mix(loc + 0x9e3779b97f4a7c15ull));
}

static uint64_t node_key(html_t *H, size_t i)
{
    return node_key3(H->nodes[i].parent, H->nodes[i].name, H->nodes[i].loc);
}

/* The index of string s, interned; < 0: out of memory. */
static long html_intern(html_t *H, const char *s)
{
    if ((H->nstrs + 1) * 2 > H->shcap && table_grow(&H->shash, &H->shcap, H->nstrs, str_key, H) < 0)
        return -PS_E_NOMEM;
    size_t k = hash_mix(hash_bytes(s, 0xcbf29ce484222325ull)) & (H->shcap - 1);
    for (; H->shash[k]; k = (k + 1) & (H->shcap - 1))
        if (strcmp(H->strs[H->shash[k] - 1], s) == 0)
            return (long)H->shash[k] - 1;
    if (H->nstrs == H->scap) {
        size_t c = H->scap ? H->scap * 2 : 256;
        char **v = realloc(H->strs, c * sizeof(*v));
        if (!v)
            return -PS_E_NOMEM;
        H->strs = v;
        H->scap = c;
    }
    if (!(H->strs[H->nstrs] = strdup(s)))
        return -PS_E_NOMEM;
    H->shash[k] = (uint32_t)++H->nstrs;
    return (long)H->nstrs - 1;
}

/* The child of parent named (name, loc), made with zero values if new; < 0: no memory. */
static long html_child(html_t *H, uint32_t parent, uint32_t name, uint32_t loc)
{
    if ((H->nnodes + 1) * 2 > H->nhcap &&
        table_grow(&H->nhash, &H->nhcap, H->nnodes, node_key, H) < 0)
        return -PS_E_NOMEM;
    size_t k = node_key3(parent, name, loc) & (H->nhcap - 1);
    for (; H->nhash[k]; k = (k + 1) & (H->nhcap - 1)) {
        const hnode_t *n = &H->nodes[H->nhash[k] - 1];
        if (n->parent == parent && n->name == name && n->loc == loc)
            return (long)H->nhash[k] - 1;
    }
    if (H->nnodes == H->ncap) {
        size_t c = H->ncap ? H->ncap * 2 : 1024;
        hnode_t *v = realloc(H->nodes, c * sizeof(*v));
        uint64_t *w = v ? realloc(H->vals, c * H->ntypes * sizeof(*w)) : NULL;
        if (v)
            H->nodes = v;
        if (!w)
            return -PS_E_NOMEM;
        H->vals = w;
        H->ncap = c;
    }
    H->nodes[H->nnodes] = (hnode_t){parent, name, loc};
    memset(&H->vals[H->nnodes * H->ntypes], 0, H->ntypes * sizeof(*H->vals));
    H->nhash[k] = (uint32_t)++H->nnodes;
    return (long)H->nnodes - 1;
}

static void html_add(html_t *H, size_t node, const uint64_t *values)
{
    for (size_t t = 0; t < H->ntypes; t++)
        H->vals[node * H->ntypes + t] += values[t];
}

static int html_sample(void *ctx, const sym_frame_t *fr, size_t n, const uint64_t *values,
                       size_t select)
{
    html_t *H = ctx;
    (void)select;
    if (!H->ntypes) { /* the first sample: the types are named; the root */
        H->ntypes = H->prof->ntypes;
        long e = html_intern(H, "");
        long r = e < 0 ? e : html_intern(H, "all");
        if (r < 0 || html_child(H, 0, (uint32_t)r, (uint32_t)e) < 0)
            return -PS_E_NOMEM;
    }
    html_add(H, 0, values);
    uint32_t parent = 0;
    char name[96], loc[4096];
    for (size_t k = n; k-- > 0;) { /* root first */
        const sym_frame_t *f = &fr[k];
        const char *fn = f->function;
        if (!fn) {
            if (f->module_name)
                snprintf(name, sizeof name, "%s+0x%" PRIx64, f->module_name, f->offset);
            else
                snprintf(name, sizeof name, "0x%" PRIx64, f->address);
            fn = name;
        }
        if (f->file)
            snprintf(loc, sizeof loc, "%s:%" PRIu32, f->file, f->line);
        else
            snprintf(loc, sizeof loc, "%s", f->module ? f->module : "");
        long a = html_intern(H, fn), b = a < 0 ? a : html_intern(H, loc);
        long c = b < 0 ? b : html_child(H, parent, (uint32_t)a, (uint32_t)b);
        if (c < 0)
            return -PS_E_NOMEM;
        parent = (uint32_t)c;
        html_add(H, parent, values);
    }
    return 0;
}

/* Writes s (len bytes of JSON) with each '<' as \u003c. */
static void html_put_json(FILE *o, const char *s, size_t len)
{
    while (len) {
        const char *lt = memchr(s, '<', len);
        size_t n = lt ? (size_t)(lt - s) : len;
        fwrite(s, 1, n, o);
        if (!lt)
            break;
        fputs("\\u003c", o);
        s += n + 1;
        len -= n + 1;
    }
}

static void html_print(void *ctx, const char *s, size_t len)
{
    html_put_json(ctx, s, len);
}

static int html_gen_str(html_t *H, yajl_gen g, const char *s)
{
    size_t len = strlen(s), need = json_utf8_clean(s, len, H->clean, H->cleancap);
    if (need >= H->cleancap) {
        char *b = realloc(H->clean, need + 1);
        if (!b)
            return -PS_E_NOMEM;
        H->clean = b;
        H->cleancap = need + 1;
        need = json_utf8_clean(s, len, H->clean, H->cleancap);
    }
    return yajl_gen_string(g, (const unsigned char *)H->clean, need) == yajl_gen_status_ok
               ? 0
               : -PS_E_NOMEM;
}

#define GEN_KEY(g, k) yajl_gen_string(g, (const unsigned char *)(k), strlen(k))

/* The "profile" member's value. */
static int html_profile_json(html_t *H, FILE *o)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return -PS_E_NOMEM;
    yajl_gen_config(g, yajl_gen_print_callback, html_print, o);
    int rc = 0;
    const profile_t *p = H->prof;
    yajl_gen_map_open(g);
    GEN_KEY(g, "types");
    yajl_gen_array_open(g);
    for (size_t t = 0; t < p->ntypes && rc == 0; t++)
        rc = html_gen_str(H, g, p->types[t]);
    yajl_gen_array_close(g);
    GEN_KEY(g, "select");
    yajl_gen_integer(g, (long long)p->select);
    GEN_KEY(g, "strings");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < H->nstrs && rc == 0; i++)
        rc = html_gen_str(H, g, H->strs[i]);
    yajl_gen_array_close(g);
    GEN_KEY(g, "nodes");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < H->nnodes; i++) {
        yajl_gen_integer(g, H->nodes[i].parent);
        yajl_gen_integer(g, H->nodes[i].name);
        yajl_gen_integer(g, H->nodes[i].loc);
    }
    yajl_gen_array_close(g);
    GEN_KEY(g, "values");
    yajl_gen_array_open(g);
    for (size_t t = 0; t < H->ntypes; t++) {
        yajl_gen_array_open(g);
        for (size_t i = 0; i < H->nnodes; i++) {
            char num[24];
            int n = snprintf(num, sizeof num, "%" PRIu64, H->vals[i * H->ntypes + t]);
            yajl_gen_number(g, num, (size_t)n);
        }
        yajl_gen_array_close(g);
    }
    yajl_gen_array_close(g);
    if (yajl_gen_map_close(g) != yajl_gen_status_ok && rc == 0)
        rc = -PS_E_NOMEM;
    yajl_gen_free(g);
    return rc;
}

/* The part of the template between the markers: from after `from` (NULL: the start) up to
 * `to` (NULL: the end). */
static void html_template(FILE *o, const char *from, const char *to)
{
    const char *t = (const char *)html_report_html;
    const char *a = from ? strstr(t, from) : t;
    if (!a)
        return;
    a += from ? strlen(from) : 0;
    const char *b = to ? strstr(a, to) : t + html_report_html_len;
    fwrite(a, 1, (size_t)((b ? b : t + html_report_html_len) - a), o);
}

static void html_free(html_t *H)
{
    for (size_t i = 0; i < H->nstrs; i++)
        free(H->strs[i]);
    free(H->strs);
    free(H->shash);
    free(H->nodes);
    free(H->vals);
    free(H->nhash);
    free(H->clean);
    free(H->doc);
    free(H);
}

/* The profile's close: the page. */
static int html_finish(void *ctx)
{
    html_t *H = ctx;
    FILE *o = H->out;
    int rc = 0;
    if (H->mem && fclose(H->mem) != 0)
        rc = -PS_E_NOMEM;
    H->mem = NULL;
    if (rc == 0 && !H->ntypes) { /* no sample: an empty tree of the types */
        H->ntypes = H->prof->ntypes ? H->prof->ntypes : 1;
        long e = html_intern(H, "");
        long r = e < 0 ? e : html_intern(H, "all");
        if (r < 0 || html_child(H, 0, (uint32_t)r, (uint32_t)e) < 0)
            rc = -PS_E_NOMEM;
    }
    if (rc == 0) {
        html_template(o, NULL, "@CSS@");
        fwrite(html_report_css, 1, html_report_css_len, o);
        html_template(o, "@CSS@", "@DATA@");
        fputs("{\"report\":", o);
        if (H->doclen)
            html_put_json(o, H->doc, H->doclen);
        else
            fputs("null", o);
        fputs(",\n\"profile\":", o);
        rc = html_profile_json(H, o);
        fputs("}", o);
        html_template(o, "@DATA@", "@JS@");
        fwrite(html_report_js, 1, html_report_js_len, o);
        html_template(o, "@JS@", NULL);
    }
    html_free(H);
    return rc;
}

static const profile_ops_t html_profile_ops = {.sample = html_sample, .finish = html_finish};

int html_format(void *view, FILE *o);
int html_format(void *view, FILE *o)
{
    format_page_t *pg = view;
    memset(pg, 0, sizeof(*pg));
    html_t *H = calloc(1, sizeof(*H));
    if (!H)
        return -PS_E_NOMEM;
    H->out = o;
    H->prof = &pg->profile;
    int rc = (H->mem = open_memstream(&H->doc, &H->doclen)) ? json_doc_open(&pg->doc, H->mem)
                                                            : -PS_E_NOMEM;
    if (rc < 0) {
        if (H->mem)
            fclose(H->mem);
        html_free(H);
        return rc;
    }
    pg->profile.ops = &html_profile_ops;
    pg->profile.ctx = H;
    return 0;
}
