/* imem.c -- see imem.h. Each block carries its mapping length in a 64-byte header. */
#include <config.h>

#include "imem.h"

#include "prim.h"

#define IMEM_HDR 64

static uint64_t mapped_bytes;

/* NORESERVE mappings are address space touched page by page as used: their owner counts
 * what it uses (stacktab_bytes) instead. */
void *imem_map(size_t size, int noreserve)
{
    void *p = prim_map(size, noreserve);
    if (p && !noreserve)
        __atomic_add_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
    return p;
}

void imem_unmap(void *p, size_t size)
{
    if (!p)
        return;
    prim_unmap(p, size);
    __atomic_sub_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
}

void *imem_alloc(size_t size)
{
    size_t page = prim_page_size();
    if (size > SIZE_MAX - IMEM_HDR - page)
        return NULL;
    size_t len = (size + IMEM_HDR + page - 1) & ~(page - 1);
    char *p = imem_map(len, 0);
    if (!p)
        return NULL;
    *(size_t *)p = len;
    return p + IMEM_HDR;
}

void imem_free(void *p)
{
    if (!p)
        return;
    char *base = (char *)p - IMEM_HDR;
    imem_unmap(base, *(size_t *)base);
}

uint64_t imem_bytes(void)
{
    return __atomic_load_n(&mapped_bytes, __ATOMIC_RELAXED);
}
