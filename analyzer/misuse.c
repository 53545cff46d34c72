/*
 * misuse.c -- see misuse.h.
 *
 * The graveyard is open addressing on the address with backward-shift deletion (like the
 * replay's live set); errors are few, kept in an array and found by a linear scan of a small
 * hash of their key.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "misuse.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim/errors.h"

typedef struct grave_s {
    uint64_t ptr; /* 0: empty */
    uint32_t stack;
    uint8_t fn;
} grave_t;

struct misuse_s {
    grave_t *g;
    size_t gcap, gn;
    replay_error_t *errs;
    size_t nerr, errcap;
};

static size_t grave_slot(uint64_t p, size_t cap)
{
    p ^= p >> 31;
    p *= 0x9e3779b97f4a7c15ull;
    p ^= p >> 29;
    return (size_t)p & (cap - 1);
}

int misuse_new(misuse_t **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -PS_E_NOMEM;
}

void misuse_free(misuse_t *m)
{
    if (!m)
        return;
    free(m->g);
    free(m->errs);
    free(m);
}

static grave_t *grave_find(const misuse_t *m, uint64_t ptr)
{
    if (!m->gcap)
        return NULL;
    for (size_t i = grave_slot(ptr, m->gcap);; i = (i + 1) & (m->gcap - 1)) {
        if (m->g[i].ptr == ptr)
            return &m->g[i];
        if (!m->g[i].ptr)
            return NULL;
    }
}

static int grave_grow(misuse_t *m)
{
    size_t cap = m->gcap ? m->gcap * 2 : 1024;
    grave_t *g = calloc(cap, sizeof(*g));
    if (!g)
        return -PS_E_NOMEM;
    for (size_t j = 0; j < m->gcap; j++) {
        if (!m->g[j].ptr)
            continue;
        size_t i = grave_slot(m->g[j].ptr, cap);
        while (g[i].ptr)
            i = (i + 1) & (cap - 1);
        g[i] = m->g[j];
    }
    free(m->g);
    m->g = g;
    m->gcap = cap;
    return 0;
}

int misuse_released(misuse_t *m, uint64_t ptr, uint32_t alloc_stack, uint8_t alloc_fn)
{
    grave_t *e = grave_find(m, ptr);
    if (!e) {
        if ((m->gn + 1) * 4 > m->gcap * 3) {
            int rc = grave_grow(m);
            if (rc < 0)
                return rc;
        }
        size_t i = grave_slot(ptr, m->gcap);
        while (m->g[i].ptr)
            i = (i + 1) & (m->gcap - 1);
        e = &m->g[i];
        e->ptr = ptr;
        m->gn++;
    }
    e->stack = alloc_stack;
    e->fn = alloc_fn;
    return 0;
}

void misuse_reused(misuse_t *m, uint64_t ptr)
{
    grave_t *e = grave_find(m, ptr);
    if (!e)
        return;
    size_t mask = m->gcap - 1, i = (size_t)(e - m->g), j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->g[j].ptr)
            break;
        size_t home = grave_slot(m->g[j].ptr, m->gcap);
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            m->g[i] = m->g[j];
            i = j;
        }
    }
    m->g[i].ptr = 0;
    m->gn--;
}

static int err_add(misuse_t *m, uint8_t kind, uint32_t alloc_stack, uint8_t alloc_fn,
                   uint32_t free_stack, uint8_t free_fn)
{
    /* Most programs have no errors and a buggy one has few distinct ones: a linear scan of
     * the distinct errors is enough and keeps their first-seen order. */
    for (size_t i = 0; i < m->nerr; i++) {
        replay_error_t *e = &m->errs[i];
        if (e->kind == kind && e->alloc_stack == alloc_stack && e->free_stack == free_stack &&
            e->alloc_fn == alloc_fn && e->free_fn == free_fn) {
            e->count++;
            return 0;
        }
    }
    if (m->nerr == m->errcap) {
        size_t cap = m->errcap ? m->errcap * 2 : 16;
        replay_error_t *v = realloc(m->errs, cap * sizeof(*v));
        if (!v)
            return -PS_E_NOMEM;
        m->errs = v;
        m->errcap = cap;
    }
    m->errs[m->nerr++] = (replay_error_t){.kind = kind,
                                          .alloc_fn = alloc_fn,
                                          .free_fn = free_fn,
                                          .alloc_stack = alloc_stack,
                                          .free_stack = free_stack,
                                          .count = 1};
    return 0;
}

int misuse_mismatch(misuse_t *m, uint32_t alloc_stack, uint8_t alloc_fn, uint32_t free_stack,
                    uint8_t free_fn)
{
    return err_add(m, REPLAY_ERR_MISMATCHED_FREE, alloc_stack, alloc_fn, free_stack, free_fn);
}

int misuse_unmatched(misuse_t *m, uint64_t ptr, uint32_t free_stack, uint8_t free_fn,
                     int report_invalid)
{
    const grave_t *e = grave_find(m, ptr);
    int rc;
    if (e) {
        rc = err_add(m, REPLAY_ERR_DOUBLE_FREE, e->stack, e->fn, free_stack, free_fn);
        return rc < 0 ? rc : REPLAY_ERR_DOUBLE_FREE;
    }
    if (!report_invalid)
        return -1;
    rc = err_add(m, REPLAY_ERR_INVALID_FREE, 0, 0, free_stack, free_fn);
    return rc < 0 ? rc : REPLAY_ERR_INVALID_FREE;
}

void misuse_take(misuse_t *m, replay_error_t **errs, size_t *n)
{
    *errs = m->errs;
    *n = m->nerr;
    m->errs = NULL;
    m->nerr = m->errcap = 0;
}
