/* json.c -- see json.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "formats/json.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "perfshim/errors.h"

typedef struct json_s {
    yajl_gen g;
    FILE *o;
    bool nl; /* a line break before the next token but a separator */
    char *buf; /* json_utf8_clean's output, grown on demand */
    size_t cap;
    unsigned depth;
    bool list[128]; /* what each open container is (yajl's map_close does not check) */
} json_t;

/* yajl prints a member as [","] [key ":"] value, each piece in its own call: the hinted line
 * break goes after the separator, so lines start with a member, as before the library. */
static void json_print(void *ctx, const char *s, size_t len)
{
    json_t *j = ctx;
    if (j->nl && !(len == 1 && *s == ',')) {
        fputc('\n', j->o);
        j->nl = false;
    }
    fwrite(s, 1, len, j->o);
}

static int json_rc(yajl_gen_status st)
{
    return st == yajl_gen_status_ok ? 0 : st == yajl_gen_in_error_state ? -PS_E_NOMEM
                                                                         : -PS_E_INVAL;
}

/* The length of the valid UTF-8 sequence at p (end - p bytes left), 0 if there is none:
 * overlong forms, surrogates and code points above U+10FFFF are not valid (RFC 3629). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

size_t json_utf8_clean(const char *s, size_t len, char *buf, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t w = 0;
    while (p < end) {
        size_t n = utf8_seq(p, end);
        if (n) {
            if (w + n < cap)
                memcpy(buf + w, p, n);
            w += n;
            p += n;
        } else {
            if (w + 4 < cap)
                snprintf(buf + w, 5, "\\x%02x", *p);
            w += 4;
            p++;
        }
    }
    if (w < cap)
        buf[w] = '\0';
    return w;
}

static int json_key(json_t *j, const char *key)
{
    return key ? json_rc(yajl_gen_string(j->g, (const unsigned char *)key, strlen(key))) : 0;
}

static int json_open(void *ctx, const char *key, bool list)
{
    json_t *j = ctx;
    int rc = json_key(j, key);
    if (rc)
        return rc;
    if (j->depth >= sizeof(j->list))
        return -PS_E_LIMIT;
    j->list[j->depth++] = list;
    return json_rc(list ? yajl_gen_array_open(j->g) : yajl_gen_map_open(j->g));
}

static int json_close(void *ctx)
{
    json_t *j = ctx;
    if (!j->depth)
        return -PS_E_INVAL;
    return json_rc(j->list[--j->depth] ? yajl_gen_array_close(j->g) : yajl_gen_map_close(j->g));
}

static int json_u64(void *ctx, const char *key, uint64_t v)
{
    json_t *j = ctx;
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRIu64, v); /* all 64 bits: yajl's integer is signed */
    int rc = json_key(j, key);
    return rc ? rc : json_rc(yajl_gen_number(j->g, b, (size_t)n));
}

static int json_num(void *ctx, const char *key, const char *text)
{
    json_t *j = ctx;
    int rc = json_key(j, key);
    return rc ? rc : json_rc(yajl_gen_number(j->g, text, strlen(text)));
}

static int json_str_gen(json_t *j, const char *s, size_t n);

static int json_str(void *ctx, const char *key, const char *s, size_t len)
{
    json_t *j = ctx;
    int rc = json_key(j, key);
    if (rc)
        return rc;
    size_t need = json_utf8_clean(s, len, j->buf, j->cap);
    if (need >= j->cap) {
        size_t cap = need + 1 > 2 * j->cap ? need + 1 : 2 * j->cap;
        char *b = realloc(j->buf, cap);
        if (!b)
            return -PS_E_NOMEM;
        j->buf = b;
        j->cap = cap;
        json_utf8_clean(s, len, j->buf, j->cap);
    }
    return json_str_gen(j, j->buf, need);
}

/* Writes s (valid UTF-8 by now) as a string value. yajl escapes the C0 controls but passes
 * DEL and the C1 controls (U+0080..U+009F), which some terminals obey, and safeout (the
 * analyzer's stdout and -o files) would rewrite them as \xNN, an invalid JSON escape: a
 * string holding one is escaped here, \u00XX, and handed to yajl as a ready token. */
static int json_str_gen(json_t *j, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    bool ctl = false;
    for (size_t i = 0; i < n && !ctl; i++)
        ctl = p[i] == 0x7f || (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f);
    if (!ctl)
        return json_rc(yajl_gen_string(j->g, p, n));
    char *t = malloc(6 * n + 3);
    if (!t)
        return -PS_E_NOMEM;
    size_t w = 0;
    t[w++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        bool esc = c < 0x20 || c == 0x7f;
        if (c == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
            c = p[++i]; /* the C1 control's code point (0xc2 only ever leads a sequence) */
            esc = true;
        }
        const char *short_esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                              : c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '\b' ? "\\b"
                              : c == '\f' ? "\\f" : NULL; /* yajl's forms */
        if (short_esc) {
            memcpy(t + w, short_esc, 2);
            w += 2;
        } else if (esc) {
            w += (size_t)snprintf(t + w, 7, "\\u%04X", c); /* upper case, as yajl */
        } else {
            t[w++] = (char)c;
        }
    }
    t[w++] = '"';
    int rc = json_rc(yajl_gen_number(j->g, t, w)); /* a token written as given */
    free(t);
    return rc;
}

static int json_boolean(void *ctx, const char *key, bool v)
{
    json_t *j = ctx;
    int rc = json_key(j, key);
    return rc ? rc : json_rc(yajl_gen_bool(j->g, v));
}

static int json_null(void *ctx, const char *key)
{
    json_t *j = ctx;
    int rc = json_key(j, key);
    return rc ? rc : json_rc(yajl_gen_null(j->g));
}

static void json_nl(void *ctx)
{
    ((json_t *)ctx)->nl = true;
}

static int json_finish(void *ctx)
{
    json_t *j = ctx;
    fputc('\n', j->o);
    yajl_gen_free(j->g);
    free(j->buf);
    free(j);
    return 0;
}

static const doc_ops_t json_ops = {
    .open = json_open, .close = json_close, .u64 = json_u64, .num = json_num, .str = json_str,
    .boolean = json_boolean, .null = json_null, .nl = json_nl, .finish = json_finish,
};

int json_doc_open(doc_t *d, FILE *o)
{
    memset(d, 0, sizeof(*d));
    json_t *j = calloc(1, sizeof(*j));
    if (!j || !(j->buf = malloc(j->cap = 256)) || !(j->g = yajl_gen_alloc(NULL))) {
        if (j)
            free(j->buf);
        free(j);
        return -PS_E_NOMEM;
    }
    j->o = o;
    yajl_gen_config(j->g, yajl_gen_print_callback, json_print, j);
    d->ops = &json_ops;
    d->ctx = j;
    return 0;
}
