/* baseline.c -- see baseline.h. The file is parsed by yajl's streaming parser (the library
 * the JSON output is written with, formats/json.c), read in chunks: only the three summary
 * numbers are kept, whatever the file's size up to the limit. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/baseline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "core/infile.h"
#include "perfshim/errors.h"

#define BASELINE_MAX_BYTES (64u << 20)
#define BASELINE_MAX_DEPTH 64

static const char *const baseline_keys[] = {"peak_heap_bytes", "bytes_allocated", "allocations"};

typedef struct bl_s {
    baseline_t *b;
    unsigned depth;       /* containers open */
    bool in_summary;      /* the top-level "summary" object is the one open at depth 2 */
    int top_key_summary;  /* the last key at depth 1 was "summary" */
    int want;             /* index in baseline_keys of the last key in summary, or -1 */
    unsigned found;       /* bit per baseline_keys entry */
    char err[200];        /* why the parse was stopped, or "" */
} bl_t;

/* A value (or the start of a container) of type `what` arrives: checks where it goes. */
static int bl_value(bl_t *j, const char *what, bool container)
{
    if (j->depth == 0 && (!container || strcmp(what, "an object") != 0)) {
        snprintf(j->err, sizeof j->err, "not a JSON object");
        return 0;
    }
    if (j->depth == 1 && j->top_key_summary && strcmp(what, "an object") != 0) {
        snprintf(j->err, sizeof j->err, "\"summary\" is %s, expected an object", what);
        return 0;
    }
    if (j->in_summary && j->depth == 2 && j->want >= 0) {
        snprintf(j->err, sizeof j->err,
                 "\"summary.%s\" is %s, expected a non-negative integer",
                 baseline_keys[j->want], what);
        return 0;
    }
    return 1;
}

static int bl_null(void *ctx) { return bl_value(ctx, "null", false); }
static int bl_bool(void *ctx, int v) { (void)v; return bl_value(ctx, "a boolean", false); }
static int bl_string(void *ctx, const unsigned char *s, size_t n)
{
    (void)s;
    (void)n;
    return bl_value(ctx, "a string", false);
}

static int bl_number(void *ctx, const char *s, size_t n)
{
    bl_t *j = ctx;
    if (!(j->in_summary && j->depth == 2 && j->want >= 0))
        return bl_value(j, "a number", false);
    char buf[32];
    bool digits = n > 0 && n < sizeof buf;
    for (size_t i = 0; digits && i < n; i++)
        digits = s[i] >= '0' && s[i] <= '9';
    if (digits) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        errno = 0;
        unsigned long long v = strtoull(buf, NULL, 10);
        if (errno == 0) {
            uint64_t *dst[] = {&j->b->peak_heap_bytes, &j->b->bytes_allocated,
                               &j->b->allocations};
            *dst[j->want] = v;
            j->found |= 1u << j->want;
            return 1;
        }
    }
    snprintf(j->err, sizeof j->err,
             "\"summary.%s\" is %.*s, expected a non-negative integer (at most 2^64-1)",
             baseline_keys[j->want], n > 40 ? 40 : (int)n, s);
    return 0;
}

static int bl_open(bl_t *j, bool list)
{
    if (!bl_value(j, list ? "a list" : "an object", true))
        return 0;
    if (++j->depth > BASELINE_MAX_DEPTH) {
        snprintf(j->err, sizeof j->err, "nested deeper than %d", BASELINE_MAX_DEPTH);
        return 0;
    }
    if (j->depth == 2 && j->top_key_summary && !list)
        j->in_summary = true;
    j->want = -1;
    return 1;
}

static int bl_start_map(void *ctx) { return bl_open(ctx, false); }
static int bl_start_array(void *ctx) { return bl_open(ctx, true); }

static int bl_end(void *ctx)
{
    bl_t *j = ctx;
    if (j->depth-- == 2)
        j->in_summary = false;
    j->want = -1;
    j->top_key_summary = 0;
    return 1;
}

static int bl_key(void *ctx, const unsigned char *k, size_t n)
{
    bl_t *j = ctx;
    if (j->depth == 1)
        j->top_key_summary = n == 7 && !memcmp(k, "summary", 7);
    j->want = -1;
    if (j->in_summary && j->depth == 2)
        for (int i = 0; i < 3; i++)
            if (strlen(baseline_keys[i]) == n && !memcmp(k, baseline_keys[i], n))
                j->want = i;
    return 1;
}

static const yajl_callbacks bl_callbacks = {
    .yajl_null = bl_null,
    .yajl_boolean = bl_bool,
    .yajl_number = bl_number, /* raw text: all 64 bits, and types told apart */
    .yajl_string = bl_string,
    .yajl_start_map = bl_start_map,
    .yajl_map_key = bl_key,
    .yajl_end_map = bl_end,
    .yajl_start_array = bl_start_array,
    .yajl_end_array = bl_end,
};

int baseline_load(const char *path, baseline_t *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    char why[512];
    FILE *f = infile_fopen(path, why, sizeof why); /* a FIFO would block: regular files only */
    if (!f) {
        snprintf(err, errlen, "baseline %s", why);
        return -PS_E_OPEN;
    }
    bl_t j = {.b = b, .want = -1};
    yajl_handle h = yajl_alloc(&bl_callbacks, NULL, &j);
    if (!h) {
        fclose(f);
        snprintf(err, errlen, "baseline %s: %s", path, ps_strerror(PS_E_NOMEM));
        return -PS_E_NOMEM;
    }
    unsigned char buf[64 << 10];
    size_t total = 0, got, base = 0; /* base: the offset of the buffer yajl parses */
    yajl_status st = yajl_status_ok;
    int rc = 0;
    while (st == yajl_status_ok && (got = fread(buf, 1, sizeof buf, f)) > 0) {
        if ((total += got) > BASELINE_MAX_BYTES) {
            snprintf(err, errlen, "baseline %s: larger than 64 MiB", path);
            rc = -PS_E_LIMIT;
            break;
        }
        base = total - got;
        st = yajl_parse(h, buf, got);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "baseline %s: read error", path);
        rc = -PS_E_IO;
    }
    if (rc == 0 && st == yajl_status_ok) {
        base = total;
        st = yajl_complete_parse(h);
    }
    if (rc == 0 && st != yajl_status_ok) {
        size_t off = yajl_get_bytes_consumed(h);
        if (j.err[0]) {
            snprintf(err, errlen, "baseline %s: %s", path, j.err);
            rc = -PS_E_INVAL;
        } else {
            /* yajl's message, first line only: one line per error */
            unsigned char *m = yajl_get_error(h, 0, NULL, 0);
            char *nl = m ? strchr((char *)m, '\n') : NULL;
            if (nl)
                *nl = '\0';
            snprintf(err, errlen, "baseline %s: offset %zu: %s", path, base + off,
                     m ? (const char *)m : "not JSON");
            if (m)
                yajl_free_error(h, m);
            rc = -PS_E_CORRUPT;
        }
    } else if (rc == 0 && j.found != 7u) {
        snprintf(err, errlen,
                 "baseline %s: no \"summary\" with peak_heap_bytes, bytes_allocated and "
                 "allocations (not perfshim report/check JSON)",
                 path);
        rc = -PS_E_INVAL;
    }
    yajl_free(h);
    fclose(f);
    return rc;
}
