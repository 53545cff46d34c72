/*
 * hooks_alloc.h -- the interposed malloc family (exported from libperfshim.so, nowhere else).
 *
 * Contract: each hook behaves exactly like the libc function it replaces (same result, errno
 * and failure behaviour) and records one event: an allocation's timestamp is taken after the
 * real call returns, a free's before the real free. malloc_usable_size is not interposed:
 * pointers are libc's own. While the real functions are being looked up, malloc/calloc are
 * served from the bootstrap arena and free ignores such pointers.
 */
#ifndef PERFSHIM_HOOKS_ALLOC_H
#define PERFSHIM_HOOKS_ALLOC_H

/* The allocation functions of one shape, X(name, FN, params, args, size, align): their hooks
 * (hooks_alloc.c) and sampled mode's twins (sampled.c) are made from this one list. */
#define PS_PLAIN_ALLOC_HOOKS(X)                                                                \
    X(malloc, MALLOC, (size_t size), (size), size, 0)                                          \
    X(valloc, VALLOC, (size_t size), (size), size, prim_page_size())                           \
    X(pvalloc, PVALLOC, (size_t size), (size), size, prim_page_size())                         \
    X(memalign, MEMALIGN, (size_t align, size_t size), (align, size), size, align)             \
    X(aligned_alloc, ALIGNED_ALLOC, (size_t align, size_t size), (align, size), size, align)

#endif /* PERFSHIM_HOOKS_ALLOC_H */
