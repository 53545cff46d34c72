/*
 * hooks_cxx.c -- see hooks_cxx.h.
 *
 * Cost budget: the same as a malloc hook (guard, real call, clock, unwind, 40-byte record)
 * plus one indirect call; a delete also unwinds when PERFSHIM_FREE_STACKS >= 1 (default), the
 * price of showing the release's stack in heap-error reports (see docs/internals.md "C++ new
 * and delete").
 * The mangled names are those of the x86-64 / aarch64 Itanium ABI with a 64-bit size_t
 * ("m" = unsigned long); std::align_val_t is passed as a size_t and std::nothrow_t const& as a
 * pointer, which is how the real operators receive them.
 */
#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "bootstrap.h"
#include "hooks_cxx.h"
#include "log.h"
#include "sampled.h"
#include "shim.h"

/* X(symbol, FN, params, args, size, align, nothrow) */
#define PS_CXX_NEW_HOOKS(X)                                                                    \
    X(_Znwm, NEW, (size_t n), (n), n, 0, 0)                                                    \
    X(_ZnwmRKSt9nothrow_t, NEW_NOTHROW, (size_t n, const void *nt), (n, nt), n, 0, 1)          \
    X(_ZnwmSt11align_val_t, NEW_ALIGNED, (size_t n, size_t al), (n, al), n, al, 0)             \
    X(_ZnwmSt11align_val_tRKSt9nothrow_t, NEW_ALIGNED_NOTHROW,                                 \
      (size_t n, size_t al, const void *nt), (n, al, nt), n, al, 1)                            \
    X(_Znam, NEW_ARRAY, (size_t n), (n), n, 0, 0)                                              \
    X(_ZnamRKSt9nothrow_t, NEW_ARRAY_NOTHROW, (size_t n, const void *nt), (n, nt), n, 0, 1)    \
    X(_ZnamSt11align_val_t, NEW_ARRAY_ALIGNED, (size_t n, size_t al), (n, al), n, al, 0)       \
    X(_ZnamSt11align_val_tRKSt9nothrow_t, NEW_ARRAY_ALIGNED_NOTHROW,                           \
      (size_t n, size_t al, const void *nt), (n, al, nt), n, al, 1)

/* X(symbol, FN, params, args) */
#define PS_CXX_DELETE_HOOKS(X)                                                                 \
    X(_ZdlPv, DELETE, (void *p), (p))                                                          \
    X(_ZdlPvm, DELETE_SIZED, (void *p, size_t n), (p, n))                                      \
    X(_ZdlPvSt11align_val_t, DELETE_ALIGNED, (void *p, size_t al), (p, al))                    \
    X(_ZdlPvmSt11align_val_t, DELETE_SIZED_ALIGNED, (void *p, size_t n, size_t al), (p, n, al)) \
    X(_ZdlPvRKSt9nothrow_t, DELETE_NOTHROW, (void *p, const void *nt), (p, nt))                \
    X(_ZdlPvSt11align_val_tRKSt9nothrow_t, DELETE_ALIGNED_NOTHROW,                             \
      (void *p, size_t al, const void *nt), (p, al, nt))                                       \
    X(_ZdaPv, DELETE_ARRAY, (void *p), (p))                                                    \
    X(_ZdaPvm, DELETE_ARRAY_SIZED, (void *p, size_t n), (p, n))                                \
    X(_ZdaPvSt11align_val_t, DELETE_ARRAY_ALIGNED, (void *p, size_t al), (p, al))              \
    X(_ZdaPvmSt11align_val_t, DELETE_ARRAY_SIZED_ALIGNED, (void *p, size_t n, size_t al),      \
      (p, n, al))                                                                              \
    X(_ZdaPvRKSt9nothrow_t, DELETE_ARRAY_NOTHROW, (void *p, const void *nt), (p, nt))          \
    X(_ZdaPvSt11align_val_tRKSt9nothrow_t, DELETE_ARRAY_ALIGNED_NOTHROW,                       \
      (void *p, size_t al, const void *nt), (p, al, nt))

/* Prototypes (exported through exports.map) and the real functions' pointer types. */
#define PS_X(sym, FN, params, args, sz, al, nt)                                                \
    PS_EXPORT void *sym params;                                                                \
    typedef void *(*real_##sym##_t) params;                                                   \
    static real_##sym##_t real_##sym;
PS_CXX_NEW_HOOKS(PS_X)
#undef PS_X
#define PS_X(sym, FN, params, args)                                                            \
    PS_EXPORT void sym params;                                                                 \
    typedef void (*real_##sym##_t) params;                                                    \
    static real_##sym##_t real_##sym;
PS_CXX_DELETE_HOOKS(PS_X)
#undef PS_X

/* Resolved on first use, not in bootstrap_resolve(): libstdc++ can be loaded (dlopen of a C++
 * plugin) long after the shim initialized. A racing first use resolves twice to the same value. */
static PS_NOINLINE PS_COLD void *cxx_resolve(void **slot, const char *name)
{
    int g = shim_tls.guard, e = errno;
    shim_tls.guard = 1; /* dlsym's own allocations are the loader's, not the app's */
    void *f = dlsym(RTLD_NEXT, name);
    shim_tls.guard = g;
    errno = e;
    __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    return f;
}

#define PS_REAL(sym)                                                                           \
    (PS_LIKELY(__atomic_load_n(&real_##sym, __ATOMIC_ACQUIRE) != NULL)                         \
         ? real_##sym                                                                          \
         : (real_##sym##_t)cxx_resolve((void **)&real_##sym, #sym))

/* Without a real operator new (cannot happen while a program that calls it has libstdc++
 * loaded) the heap is used directly; a throwing form that fails cannot throw from C. */
static PS_NOINLINE PS_COLD void *cxx_fallback_new(size_t n, size_t al, int nothrow)
{
    void *p = NULL;
    if (al ? real_posix_memalign(&p, al < sizeof(void *) ? sizeof(void *) : al, n ? n : 1) != 0
           : (p = real_malloc(n ? n : 1)) == NULL)
        p = NULL;
    if (!p && !nothrow) {
        static const char msg[] = "perfshim: operator new failed and the real one is missing\n";
        (void)prim_write_all(2, msg, sizeof msg - 1);
        abort();
    }
    return p;
}

/* The state of one operator new hook, finished when its scope ends: by return, or by an
 * exception (std::bad_alloc) from the real operator new, which is then recorded as a failed
 * allocation. */
typedef struct cxx_scope_s {
    tstate_t *st;
    size_t n, al;
    uint8_t fn;
    int done;
    uint64_t c0; /* acost_begin() before the real operator */
} cxx_scope_t;

static void cxx_scope_end(const cxx_scope_t *s)
{
    if (PS_UNLIKELY(!s->done)) {
        shim_tls.guard = 1;
        shim_rec_alloc(s->st, s->fn, NULL, s->n, s->al, shim_ts_tick(s->st),
                       acost_end(s->c0));
    }
    hook_leave();
}

/* Sampled mode: the hook's guard is released when the scope ends, by return (sampled_alloc
 * released it already) or by an exception from the real operator new (not sampled). */
static void cxx_sampled_end(const int *unused)
{
    (void)unused;
    hook_leave();
}

/* The real operator new runs under a one-shot guard (shim.h): its own malloc of the block
 * passes through, anything after (new_handler, the std::bad_alloc object) is recorded. The C++
 * hooks never clear a one-shot guard (libstdc++'s nothrow new calls the throwing one, which
 * must pass through too): only the malloc family's hooks do. */
#define PS_X(sym, FN, params, args, sz, al, nt)                                                \
    PS_EXPORT void *sym params                                                                 \
    {                                                                                          \
        real_##sym##_t real = PS_REAL(sym);                                                    \
        tstate_t *st = shim_tls.guard ? NULL : hook_enter();                                   \
        if (PS_UNLIKELY(!st))                                                                  \
            return PS_LIKELY(real != NULL) ? real args : cxx_fallback_new(sz, al, nt);         \
        if (PS_UNLIKELY(sampled_on)) { /* sampled.h; the guard goes on an exception too */     \
            __attribute__((cleanup(cxx_sampled_end))) int scope_s = 0;                         \
            shim_tls.guard = PS_GUARD_ONE_SHOT;                                                \
            void *q = PS_LIKELY(real != NULL) ? real args : cxx_fallback_new(sz, al, nt);      \
            shim_tls.guard = 1;                                                                \
            return sampled_alloc(st, PS_FN_##FN, q, sz, al, PS_CALLER());                      \
        }                                                                                      \
        __attribute__((cleanup(cxx_scope_end))) cxx_scope_t scope = {st, sz, al, PS_FN_##FN,   \
                                                                     0, acost_begin(st)};      \
        void *p;                                                                               \
        if (PS_LIKELY(real != NULL)) {                                                         \
            shim_tls.guard = PS_GUARD_ONE_SHOT;                                                \
            p = real args;                                                                     \
            shim_tls.guard = 1;                                                                \
        } else {                                                                               \
            p = cxx_fallback_new(sz, al, nt);                                                  \
        }                                                                                      \
        uint64_t cost = acost_end(scope.c0);                                                   \
        int *ep = st->errnop, e = *ep; /* the app sees the real operator's errno */            \
        shim_rec_alloc(st, PS_FN_##FN, p, sz, al, shim_ts_tick(st), cost);                         \
        scope.done = 1;                                                                        \
        *ep = e;                                                                               \
        return p;                                                                              \
    }
PS_CXX_NEW_HOOKS(PS_X)
#undef PS_X

#define PS_X(sym, FN, params, args)                                                            \
    PS_EXPORT void sym params                                                                  \
    {                                                                                          \
        if (PS_UNLIKELY(!p || bootstrap_owns(p)))                                              \
            return;                                                                            \
        real_##sym##_t real = PS_REAL(sym);                                                    \
        tstate_t *st = NULL;                                                                   \
        if (PS_UNLIKELY(sampled_on)) { /* sampled.h: only sampled blocks are recorded */       \
            if (PS_UNLIKELY(sampled_maybe(p)) && !shim_tls.guard)                              \
                sampled_release(p, PS_FN_##FN, 1, PS_CALLER());                                \
        } else if (!shim_tls.guard) {                                                          \
            st = hook_enter();                                                                 \
        }                                                                                      \
        if (PS_UNLIKELY(!st)) { /* passed on, not recorded (or recorded above) */              \
            if (PS_LIKELY(real != NULL))                                                       \
                real args;                                                                     \
            else                                                                               \
                real_free(p);                                                                  \
            return;                                                                            \
        }                                                                                      \
        int *ep = st->errnop, e = *ep;                                                         \
        shim_rec_free(st, PS_FN_##FN, p, 1);                                                   \
        *ep = e;                                                                               \
        uint64_t c0 = acost_begin(st);                                                         \
        if (PS_LIKELY(real != NULL))                                                           \
            real args;                                                                         \
        else                                                                                   \
            real_free(p);                                                                      \
        shim_rec_release_cost(st, c0);                                                         \
        hook_leave();                                                                          \
    }
PS_CXX_DELETE_HOOKS(PS_X)
#undef PS_X
