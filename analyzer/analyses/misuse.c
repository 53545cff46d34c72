/*
 * misuse.c -- see misuse.h.
 *
 * Errors are few: kept in an array in first-seen order, found by a linear scan.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/misuse.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim/errors.h"

struct misuse_s {
    replay_error_t *errs;
    size_t nerr, errcap;
};

int misuse_new(misuse_t **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -PS_E_NOMEM;
}

void misuse_free(misuse_t *m)
{
    if (!m)
        return;
    free(m->errs);
    free(m);
}

static int err_add(misuse_t *m, uint8_t kind, uint32_t alloc_stack, uint8_t alloc_fn,
                   uint32_t free_stack, uint8_t free_fn)
{
    if (!m)
        return 0; /* the misuse analysis is not selected */
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

int misuse_double(misuse_t *m, uint32_t alloc_stack, uint8_t alloc_fn, uint32_t free_stack,
                  uint8_t free_fn)
{
    return err_add(m, REPLAY_ERR_DOUBLE_FREE, alloc_stack, alloc_fn, free_stack, free_fn);
}

int misuse_invalid(misuse_t *m, uint32_t free_stack, uint8_t free_fn)
{
    return err_add(m, REPLAY_ERR_INVALID_FREE, 0, 0, free_stack, free_fn);
}

const char *misuse_kind_name(int kind)
{
    static const char *const names[] = {"mismatched_free", "double_free", "invalid_free"};
    return kind >= 0 && kind < 3 ? names[kind] : "?";
}

void misuse_take(misuse_t *m, replay_error_t **errs, size_t *n)
{
    *errs = m->errs;
    *n = m->nerr;
    m->errs = NULL;
    m->nerr = m->errcap = 0;
}
