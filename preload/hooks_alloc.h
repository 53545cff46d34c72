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

#endif /* PERFSHIM_HOOKS_ALLOC_H */
