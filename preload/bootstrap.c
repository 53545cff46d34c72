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

/* dlsym may call calloc (dlerror's buffer); glibc needs a few hundred bytes at most. */
static unsigned char arena[256 << 10] __attribute__((aligned(64)));
static size_t arena_used;

void *bootstrap_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    size_t off = __atomic_fetch_add(&arena_used, size, __ATOMIC_RELAXED);
    if (off + size > sizeof arena || off + size < off)
        return NULL;
    return arena + off;
}

int bootstrap_owns(const void *p)
{
    return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + sizeof arena;
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
