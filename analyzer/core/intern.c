/* intern.c -- see intern.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/intern.h"
#include "core/fmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim/errors.h"

static uint64_t intern_hash(const unsigned char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static int intern_rehash(intern_t *t)
{
    size_t ns = t->nslots ? t->nslots * 2 : 64;
    uint32_t *slots = calloc(ns, sizeof *slots);
    if (!slots)
        return -PS_E_NOMEM;
    for (size_t i = 0; i < t->n; i++) {
        size_t k = t->keys[i].hash & (ns - 1);
        while (slots[k])
            k = (k + 1) & (ns - 1);
        slots[k] = (uint32_t)(i + 1);
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = ns;
    return 0;
}

long intern_get(intern_t *t, const void *key, size_t len, bool *added)
{
    bool dummy;
    if (!added)
        added = &dummy;
    *added = false;
    if ((t->n + 1) * 2 > t->nslots && intern_rehash(t) < 0)
        return -PS_E_NOMEM;
    uint64_t h = intern_hash(key, len);
    size_t k = h & (t->nslots - 1);
    for (; t->slots[k]; k = (k + 1) & (t->nslots - 1)) {
        const intern_key_t *e = &t->keys[t->slots[k] - 1];
        if (e->hash == h && e->len == len && memcmp(e->s, key, len) == 0)
            return (long)(t->slots[k] - 1);
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        intern_key_t *v = realloc(t->keys, nc * sizeof *v);
        if (!v)
            return -PS_E_NOMEM;
        t->keys = v;
        t->cap = nc;
    }
    char *s = malloc(len + 1);
    if (!s)
        return -PS_E_NOMEM;
    memcpy(s, key, len);
    s[len] = 0;
    t->keys[t->n] = (intern_key_t){s, len, h};
    t->slots[k] = (uint32_t)(t->n + 1);
    *added = true;
    return (long)t->n++;
}

long intern_str(intern_t *t, const char *s, bool *added)
{
    return intern_get(t, s ? s : "", s ? strlen(s) : 0, added);
}

long intern_fmt(intern_t *t, bool *added, const char *fmt, ...)
{
    char buf[1024];
    size_t n;
    va_list ap;
    va_start(ap, fmt);
    char *key = fmt_vbuf(buf, sizeof buf, &n, fmt, ap);
    va_end(ap);
    if (!key)
        return n ? -PS_E_NOMEM : -PS_E_INVAL;
    long i = intern_get(t, key, n, added);
    if (key != buf)
        free(key);
    return i;
}

const char *intern_key(const intern_t *t, size_t i, size_t *len)
{
    if (len)
        *len = t->keys[i].len;
    return t->keys[i].s;
}

void intern_free(intern_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->keys[i].s);
    free(t->keys);
    free(t->slots);
    memset(t, 0, sizeof *t);
}
