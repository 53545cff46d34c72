/*
 * u32map.c -- see u32map.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/u32map.h"

#include <stdlib.h>
#include <string.h>

#include "perfshim/errors.h"

static size_t u32map_slot(uint32_t k, size_t cap)
{
    return (size_t)((k * 0x9e3779b1u) ^ (k >> 16)) & (cap - 1);
}

uint32_t u32map_get(const u32map_t *m, uint32_t k)
{
    if (!m->cap)
        return U32MAP_NONE;
    for (size_t i = u32map_slot(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->vals[i] == U32MAP_NONE)
            return U32MAP_NONE;
        if (m->keys[i] == k)
            return m->vals[i];
    }
}

int u32map_put(u32map_t *m, uint32_t k, uint32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        uint32_t *keys = malloc(cap * sizeof(*keys)), *vals = malloc(cap * sizeof(*vals));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return -PS_E_NOMEM;
        }
        memset(vals, 0xff, cap * sizeof(*vals));
        for (size_t j = 0; j < m->cap; j++) {
            if (m->vals[j] == U32MAP_NONE)
                continue;
            size_t i = u32map_slot(m->keys[j], cap);
            while (vals[i] != U32MAP_NONE)
                i = (i + 1) & (cap - 1);
            keys[i] = m->keys[j];
            vals[i] = m->vals[j];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    size_t i = u32map_slot(k, m->cap);
    while (m->vals[i] != U32MAP_NONE && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    if (m->vals[i] == U32MAP_NONE)
        m->n++;
    m->keys[i] = k;
    m->vals[i] = v;
    return 0;
}

void u32map_free(u32map_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}
