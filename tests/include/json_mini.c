/* json_mini.c -- see json_mini.h. Recursive descent, depth-limited. */
#include "json_mini.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jp_s {
    const char *p, *start;
    char *err;
    size_t errlen;
    int depth;
} jp_t;

static json_t *jp_value(jp_t *jp);

static json_t *jp_fail(jp_t *jp, const char *what)
{
    if (jp->err && !jp->err[0])
        snprintf(jp->err, jp->errlen, "json: at byte %zu: %s", (size_t)(jp->p - jp->start),
                 what);
    return NULL;
}

static void jp_ws(jp_t *jp)
{
    while (*jp->p == ' ' || *jp->p == '\n' || *jp->p == '\t' || *jp->p == '\r')
        jp->p++;
}

static json_t *jp_new(json_type t)
{
    json_t *j = calloc(1, sizeof(*j));
    if (!j) {
        fprintf(stderr, "out of memory\n");
        exit(99);
    }
    j->type = t;
    return j;
}

static void *jp_grow(void *p, size_t n, size_t sz)
{
    void *q = realloc(p, (n ? n : 1) * sz);
    if (!q) {
        fprintf(stderr, "out of memory\n");
        exit(99);
    }
    return q;
}

static int jp_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *jp_string(jp_t *jp)
{
    size_t cap = 32, n = 0;
    char *s = jp_grow(NULL, cap, 1);
    jp->p++; /* the opening quote */
    for (;;) {
        unsigned char c = (unsigned char)*jp->p;
        if (n + 5 > cap)
            s = jp_grow(s, cap *= 2, 1);
        if (c == '"') {
            jp->p++;
            s[n] = 0;
            return s;
        }
        if (c == 0 || c < 0x20) {
            free(s);
            jp_fail(jp, c ? "control byte in string" : "unterminated string");
            return NULL;
        }
        if (c != '\\') {
            s[n++] = (char)c;
            jp->p++;
            continue;
        }
        char e = jp->p[1];
        jp->p += 2;
        switch (e) {
        case '"': s[n++] = '"'; break;
        case '\\': s[n++] = '\\'; break;
        case '/': s[n++] = '/'; break;
        case 'b': s[n++] = '\b'; break;
        case 'f': s[n++] = '\f'; break;
        case 'n': s[n++] = '\n'; break;
        case 'r': s[n++] = '\r'; break;
        case 't': s[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (jp_hex4(jp->p, &cp) < 0) {
                free(s);
                jp_fail(jp, "bad \\u escape");
                return NULL;
            }
            jp->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && jp->p[0] == '\\' && jp->p[1] == 'u' &&
                jp_hex4(jp->p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                jp->p += 6;
            }
            if (cp < 0x80) {
                s[n++] = (char)cp;
            } else if (cp < 0x800) {
                s[n++] = (char)(0xc0 | (cp >> 6));
                s[n++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                s[n++] = (char)(0xe0 | (cp >> 12));
                s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                s[n++] = (char)(0x80 | (cp & 0x3f));
            } else {
                s[n++] = (char)(0xf0 | (cp >> 18));
                s[n++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                s[n++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            free(s);
            jp_fail(jp, "bad escape");
            return NULL;
        }
    }
}

static json_t *jp_number(jp_t *jp)
{
    const char *q = jp->p;
    if (*q == '-')
        q++;
    if (*q < '0' || *q > '9')
        return jp_fail(jp, "expected a value");
    while (*q >= '0' && *q <= '9')
        q++;
    bool integral = *q != '.' && *q != 'e' && *q != 'E';
    char *end;
    json_t *j = jp_new(JSON_NUMBER);
    j->d = strtod(jp->p, &end);
    if (integral) {
        errno = 0;
        if (*jp->p == '-') {
            j->i = strtoll(jp->p, NULL, 10);
            j->is_int = errno == 0;
        } else {
            j->u = strtoull(jp->p, NULL, 10);
            j->is_int = errno == 0;
            j->i = (int64_t)j->u;
        }
    }
    jp->p = end;
    return j;
}

static json_t *jp_container(jp_t *jp, bool object)
{
    if (++jp->depth > 64)
        return jp_fail(jp, "nested too deeply");
    json_t *j = jp_new(object ? JSON_OBJECT : JSON_ARRAY);
    jp->p++;
    jp_ws(jp);
    char close = object ? '}' : ']';
    if (*jp->p == close) {
        jp->p++;
        jp->depth--;
        return j;
    }
    for (;;) {
        char *key = NULL;
        jp_ws(jp);
        if (object) {
            if (*jp->p != '"' || !(key = jp_string(jp))) {
                json_free(j);
                return jp_fail(jp, "expected a key");
            }
            jp_ws(jp);
            if (*jp->p != ':') {
                free(key);
                json_free(j);
                return jp_fail(jp, "expected ':'");
            }
            jp->p++;
        }
        json_t *v = jp_value(jp);
        if (!v) {
            free(key);
            json_free(j);
            return NULL;
        }
        j->v = jp_grow(j->v, j->n + 1, sizeof(*j->v));
        if (object)
            j->keys = jp_grow(j->keys, j->n + 1, sizeof(*j->keys));
        j->v[j->n] = v;
        if (object)
            j->keys[j->n] = key;
        j->n++;
        jp_ws(jp);
        if (*jp->p == ',') {
            jp->p++;
            continue;
        }
        if (*jp->p == close) {
            jp->p++;
            jp->depth--;
            return j;
        }
        json_free(j);
        return jp_fail(jp, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static json_t *jp_value(jp_t *jp)
{
    jp_ws(jp);
    switch (*jp->p) {
    case '{': return jp_container(jp, true);
    case '[': return jp_container(jp, false);
    case '"': {
        char *s = jp_string(jp);
        if (!s)
            return NULL;
        json_t *j = jp_new(JSON_STRING);
        j->s = s;
        return j;
    }
    case 't':
    case 'f':
    case 'n': {
        static const char *const words[] = {"true", "false", "null"};
        for (int i = 0; i < 3; i++) {
            size_t n = strlen(words[i]);
            if (!strncmp(jp->p, words[i], n)) {
                jp->p += n;
                json_t *j = jp_new(i == 2 ? JSON_NULL : JSON_BOOL);
                j->b = i == 0;
                return j;
            }
        }
        return jp_fail(jp, "expected a value");
    }
    default:
        return jp_number(jp);
    }
}

json_t *json_parse(const char *text, char *err, size_t errlen)
{
    jp_t jp = {text, text, err, errlen, 0};
    if (err && errlen)
        err[0] = 0;
    json_t *j = jp_value(&jp);
    if (!j)
        return NULL;
    jp_ws(&jp);
    if (*jp.p) {
        json_free(j);
        return jp_fail(&jp, "trailing data after the value");
    }
    return j;
}

void json_free(json_t *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++) {
        json_free(j->v[i]);
        if (j->keys)
            free(j->keys[i]);
    }
    free(j->v);
    free(j->keys);
    free(j->s);
    free(j);
}

const json_t *json_get(const json_t *j, const char *key)
{
    if (!j || j->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < j->n; i++)
        if (!strcmp(j->keys[i], key))
            return j->v[i];
    return NULL;
}

const json_t *json_at(const json_t *j, size_t i)
{
    return j && j->type == JSON_ARRAY && i < j->n ? j->v[i] : NULL;
}

uint64_t json_u64(const json_t *j, const char *key)
{
    const json_t *v = json_get(j, key);
    return v && v->type == JSON_NUMBER && v->is_int && v->d >= 0 ? v->u : UINT64_MAX;
}

const char *json_str_of(const json_t *j, const char *key)
{
    const json_t *v = json_get(j, key);
    return v && v->type == JSON_STRING ? v->s : NULL;
}
