/* baseline.c -- see baseline.h. A validating recursive-descent JSON reader that keeps only
 * the three summary numbers; bounded in input size and nesting. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/baseline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/infile.h"
#include "perfshim/errors.h"

#define BASELINE_MAX_BYTES (64u << 20)
#define BASELINE_MAX_DEPTH 64

typedef struct jr_s {
    const char *p, *start, *end;
    const char *err;
    baseline_t *b;
    unsigned found; /* bit per summary key */
} jr_t;

static void jr_ws(jr_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool jr_fail(jr_t *j, const char *msg)
{
    if (!j->err)
        j->err = msg;
    return false;
}

/* Reads a string; copies up to cap-1 bytes of it (escapes kept raw) into out if out. */
static bool jr_string(jr_t *j, char *out, size_t cap)
{
    if (j->p >= j->end || *j->p != '"')
        return jr_fail(j, "expected a string");
    j->p++;
    size_t n = 0;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20)
            return jr_fail(j, "control byte in a string");
        if (c == '\\') {
            if (++j->p >= j->end || !strchr("\"\\/bfnrtu", *j->p))
                return jr_fail(j, "bad escape");
        }
        if (out && n + 1 < cap)
            out[n++] = (char)c;
        j->p++;
    }
    if (j->p >= j->end)
        return jr_fail(j, "unterminated string");
    j->p++;
    if (out)
        out[n] = 0;
    return true;
}

/* Reads a number; *is_uint and *u for a non-negative integer that fits. */
static bool jr_number(jr_t *j, bool *is_uint, uint64_t *u)
{
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9')
        return jr_fail(j, "expected a value");
    *is_uint = *s != '-';
    *u = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = (unsigned)(*j->p - '0');
        if (*u > (UINT64_MAX - d) / 10)
            *is_uint = false;
        *u = *u * 10 + d;
        j->p++;
    }
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) {
        *is_uint = false;
        j->p++;
        while (j->p < j->end && strchr("0123456789+-eE", *j->p))
            j->p++;
    }
    return true;
}

static bool jr_value(jr_t *j, int depth, int in_summary_key);

static bool jr_object(jr_t *j, int depth, bool is_top, bool is_summary)
{
    j->p++; /* '{' */
    jr_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return true;
    }
    for (;;) {
        char key[64];
        jr_ws(j);
        if (!jr_string(j, key, sizeof key))
            return false;
        jr_ws(j);
        if (j->p >= j->end || *j->p != ':')
            return jr_fail(j, "expected ':'");
        j->p++;
        jr_ws(j);
        int which = 0; /* 1..3: a summary key; -1: the summary object */
        if (is_summary) {
            if (!strcmp(key, "peak_heap_bytes"))
                which = 1;
            else if (!strcmp(key, "bytes_allocated"))
                which = 2;
            else if (!strcmp(key, "allocations"))
                which = 3;
        } else if (is_top && !strcmp(key, "summary")) {
            which = -1;
        }
        if (!jr_value(j, depth + 1, which))
            return false;
        jr_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return true;
        }
        return jr_fail(j, "expected ',' or '}'");
    }
}

/* which: 0 plain, -1 the summary object, 1..3 a summary number */
static bool jr_value(jr_t *j, int depth, int which)
{
    if (depth > BASELINE_MAX_DEPTH)
        return jr_fail(j, "nested too deep");
    jr_ws(j);
    if (j->p >= j->end)
        return jr_fail(j, "unexpected end of file");
    char c = *j->p;
    if (which > 0 && !(c >= '0' && c <= '9'))
        return jr_fail(j, "a summary value is not a non-negative integer");
    if (which < 0 && c != '{')
        return jr_fail(j, "\"summary\" is not an object");
    if (c == '{')
        return jr_object(j, depth, depth == 0, which < 0);
    if (c == '[') {
        j->p++;
        jr_ws(j);
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return true;
        }
        for (;;) {
            if (!jr_value(j, depth + 1, 0))
                return false;
            jr_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == ']') {
                j->p++;
                return true;
            }
            return jr_fail(j, "expected ',' or ']'");
        }
    }
    if (c == '"')
        return jr_string(j, NULL, 0);
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, words[i], n)) {
            j->p += n;
            return true;
        }
    }
    bool is_uint;
    uint64_t u;
    if (!jr_number(j, &is_uint, &u))
        return false;
    if (which > 0) {
        if (!is_uint)
            return jr_fail(j, "a summary value is not a non-negative integer");
        if (which == 1)
            j->b->peak_heap_bytes = u;
        else if (which == 2)
            j->b->bytes_allocated = u;
        else
            j->b->allocations = u;
        j->found |= 1u << which;
    }
    return true;
}

int baseline_load(const char *path, baseline_t *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    char why[512];
    FILE *f = infile_fopen(path, why, sizeof why); /* a FIFO would block: regular files only */
    if (!f) {
        snprintf(err, errlen, "baseline %s", why);
        return -PS_E_OPEN;
    }
    /* grown as it is read (a baseline is a few KiB; a pipe has no size), up to the limit */
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rerr = 0;
    while (n <= BASELINE_MAX_BYTES) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64u << 10;
            if (ncap > BASELINE_MAX_BYTES + 1)
                ncap = BASELINE_MAX_BYTES + 1;
            char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "baseline %s: %s", path, ps_strerror(PS_E_NOMEM));
                return -PS_E_NOMEM;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            rerr = ferror(f);
            break;
        }
    }
    fclose(f);
    if (rerr || n > BASELINE_MAX_BYTES) {
        free(buf);
        snprintf(err, errlen, "baseline %s: %s", path,
                 rerr ? "read error" : "larger than 64 MiB");
        return rerr ? -PS_E_IO : -PS_E_LIMIT;
    }
    jr_t j = {.p = buf, .start = buf, .end = buf + n, .b = b};
    jr_ws(&j);
    bool ok = j.p < j.end && *j.p == '{' ? jr_value(&j, 0, 0) : jr_fail(&j, "not a JSON object");
    if (ok) {
        jr_ws(&j);
        if (j.p != j.end)
            ok = jr_fail(&j, "trailing data after the JSON value");
    }
    int rc = 0;
    if (!ok) {
        snprintf(err, errlen, "baseline %s: offset %zu: %s", path, (size_t)(j.p - j.start),
                 j.err);
        rc = -PS_E_CORRUPT;
    } else if (j.found != 0xeu) {
        snprintf(err, errlen,
                 "baseline %s: no \"summary\" with peak_heap_bytes, bytes_allocated and "
                 "allocations (not perfshim report/check JSON)",
                 path);
        rc = -PS_E_INVAL;
    }
    free(buf);
    return rc;
}
