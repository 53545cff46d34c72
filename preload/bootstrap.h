/*
 * bootstrap.h -- the real functions behind every interposed symbol, and the static arena that
 * serves allocations made while dlsym itself runs.
 *
 * Contract: bootstrap_resolve() is called once, by shim initialization, with the calling
 * thread's hook guard set; it fills every real_<name> from one table (dlsym(RTLD_NEXT), or
 * dlvsym where glibc versions the symbol). While it runs, the hooks serve malloc/calloc from
 * bootstrap_alloc(); free() must test bootstrap_owns() and ignore such pointers. Returns 0,
 * or -PS_E_NOSYM if a REQUIRED symbol is missing (then the shim cannot work: fatal).
 * bootstrap_alloc is thread-safe, never fails before its 256 KiB are used, returns zeroed
 * 16-byte-aligned memory, and never frees.
 */
#ifndef PERFSHIM_BOOTSTRAP_H
#define PERFSHIM_BOOTSTRAP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "perfshim/compiler.h"

/* name, return type, parameter list, REQUIRED(1)/OPTIONAL(0), glibc version (NULL: dlsym) */
#define PS_REAL_LIST(X)                                                                        \
    X(malloc, void *, (size_t), 1, NULL)                                                       \
    X(free, void, (void *), 1, NULL)                                                           \
    X(calloc, void *, (size_t, size_t), 1, NULL)                                               \
    X(realloc, void *, (void *, size_t), 1, NULL)                                              \
    X(reallocarray, void *, (void *, size_t, size_t), 0, NULL)                                 \
    X(posix_memalign, int, (void **, size_t, size_t), 1, NULL)                                 \
    X(aligned_alloc, void *, (size_t, size_t), 0, NULL)                                        \
    X(memalign, void *, (size_t, size_t), 0, NULL)                                             \
    X(valloc, void *, (size_t), 0, NULL)                                                       \
    X(pvalloc, void *, (size_t), 0, NULL)                                                      \
    X(_exit, void, (int), 1, NULL)                                                             \
    X(_Exit, void, (int), 0, NULL)                                                             \
    X(sigaction, int, (int, const struct sigaction *, struct sigaction *), 0, NULL)

#define PS_X(name, ret, args, req, ver) typedef ret(*real_##name##_t) args;
PS_REAL_LIST(PS_X)
#undef PS_X
#define PS_X(name, ret, args, req, ver) extern PS_HIDDEN real_##name##_t real_##name;
PS_REAL_LIST(PS_X)
#undef PS_X

int bootstrap_resolve(void);
void *bootstrap_alloc(size_t size);

/* The arena: the bump area, then the thread-block pool (bootstrap_pool_alloc), so that one
 * range test in free() covers both. */
#define PS_BOOT_BUMP (256u << 10)
#define PS_POOL_SLOT 32u
#define PS_POOL_SLOTS 8192u
#define PS_BOOT_ARENA_BYTES (PS_BOOT_BUMP + PS_POOL_SLOTS * PS_POOL_SLOT)
extern unsigned char bootstrap_arena[PS_BOOT_ARENA_BYTES] __attribute__((visibility("hidden")));
/* 1 if p lies in the arena: inline, one subtraction and one compare (every free tests it). */
static inline __attribute__((always_inline)) int bootstrap_owns(const void *p)
{
    return (uintptr_t)p - (uintptr_t)bootstrap_arena < (uintptr_t)PS_BOOT_ARENA_BYTES;
}
/* A 32-byte block from a pool of 8,192 that the shim owns (NULL when size > 32 or the pool
 * is full): the thread-local block libunwind's first unwind in a thread allocates through
 * malloc (it is dlopened, so its TLS is dynamic, allocated with malloc by __tls_get_addr and
 * freed by glibc when the thread's stack goes). Served from here, it is neither recorded nor
 * the real allocator's, so its free (which reaches the shim's free) is not an unmatched one. */
void *bootstrap_pool_alloc(size_t size);
/* free() of a pointer bootstrap_owns: a pool block goes back to the pool (the bump area is
 * never reused). */
void bootstrap_release(void *p);
/* The bytes from p (bootstrap_owns) to the end of its block or of the bump area: what a
 * realloc may copy. */
size_t bootstrap_span(const void *p);

#endif /* PERFSHIM_BOOTSTRAP_H */
