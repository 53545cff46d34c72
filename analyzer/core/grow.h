/*
 * grow.h -- the analyzer's one growth step for a realloc'd array: capacity doubled from a first
 * size until it holds `need` elements.
 *
 * Contract: *v is an array of *cap elements of `elem` bytes (NULL and 0 at first). grow_array()
 * makes room for at least `need` elements and returns 0, or returns -PS_E_NOMEM and leaves *v
 * and *cap as they were. A first growth allocates `first` elements (or more).
 */
#ifndef PERFSHIM_GROW_H
#define PERFSHIM_GROW_H

#include <stdlib.h>

#include "perfshim/errors.h"

static inline int grow_array(void **v, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : first;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*v, nc * elem);
    if (!q)
        return -PS_E_NOMEM;
    *v = q;
    *cap = nc;
    return 0;
}

#endif /* PERFSHIM_GROW_H */
