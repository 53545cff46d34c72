/* bootstrap.c -- see bootstrap.h. */
#include <config.h>

#include "bootstrap.h"

#include <dlfcn.h>
#include <stdint.h>

#include "log.h"
#include "perfshim/errors.h"

#define PS_X(name, ret, args, req, ver) real_##name##_t real_##name;
PS_REAL_LIST(PS_X)
#undef PS_X

/* dlsym may call calloc (dlerror's buffer); glibc needs a few hundred bytes at most. The
 * tail of the same array is the thread-block pool (bootstrap.h). */
unsigned char bootstrap_arena[PS_BOOT_ARENA_BYTES] __attribute__((aligned(64)));
static size_t arena_used;
static uint64_t pool_used[PS_POOL_SLOTS / 64]; /* bit set: slot taken */
static unsigned pool_hint;

void *bootstrap_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    size_t off = __atomic_fetch_add(&arena_used, size, __ATOMIC_RELAXED);
    if (off + size > PS_BOOT_BUMP || off + size < off)
        return NULL;
    return bootstrap_arena + off;
}

void *bootstrap_pool_alloc(size_t size)
{
    if (size > PS_POOL_SLOT)
        return NULL;
    unsigned start = __atomic_load_n(&pool_hint, __ATOMIC_RELAXED);
    for (unsigned k = 0; k < PS_POOL_SLOTS / 64; k++) {
        unsigned i = (start + k) % (PS_POOL_SLOTS / 64);
        uint64_t w = __atomic_load_n(&pool_used[i], __ATOMIC_RELAXED);
        while (~w) {
            unsigned b = (unsigned)__builtin_ctzll(~w);
            if (__atomic_compare_exchange_n(&pool_used[i], &w, w | (1ull << b), 0,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
                __atomic_store_n(&pool_hint, i, __ATOMIC_RELAXED);
                return bootstrap_arena + PS_BOOT_BUMP + ((size_t)i * 64u + b) * PS_POOL_SLOT;
            }
        }
    }
    return NULL;
}

size_t bootstrap_span(const void *p)
{
    size_t off = (size_t)((const unsigned char *)p - bootstrap_arena);
    return off < PS_BOOT_BUMP ? PS_BOOT_BUMP - off
                              : PS_POOL_SLOT - (off - PS_BOOT_BUMP) % PS_POOL_SLOT;
}

void bootstrap_release(void *p)
{
    size_t off = (size_t)((unsigned char *)p - bootstrap_arena);
    if (off < PS_BOOT_BUMP) /* the bump part is never reused */
        return;
    size_t slot = (off - PS_BOOT_BUMP) / PS_POOL_SLOT;
    __atomic_fetch_and(&pool_used[slot / 64], ~(1ull << (slot % 64)), __ATOMIC_RELEASE);
}

static void *resolve(const char *name, const char *version)
{
    return version ? dlvsym(RTLD_NEXT, name, version) : dlsym(RTLD_NEXT, name);
}

int bootstrap_resolve(void)
{
    int missing = 0;
    void *sym;
#define PS_X(name, ret, args, req, ver)                                                        \
    sym = resolve(#name, ver);                                                                 \
    if (!sym && (req)) {                                                                       \
        PS_WARN("required symbol %s not found; perfshim cannot record", #name);              \
        missing++;                                                                             \
    }                                                                                          \
    __atomic_store_n((void **)&real_##name, sym, __ATOMIC_RELEASE);
    PS_REAL_LIST(PS_X)
#undef PS_X
    return missing ? -PS_E_NOSYM : 0;
}
