/*
 * hooks_alloc.c -- see hooks_alloc.h.
 *
 * Cost budget of a recorded allocation: guard check, the real call (one in 8 timed: two
 * counter reads, acost.h), one clock read, the stack from the thread's stack cache (a hash
 * and one load and compare per checked slot, ~2 per frame; a walk with libunwind and a
 * stack-table probe on a miss, unwind.h), the live-set insert (a sharded CAS, liveset.h), a
 * 40-byte copy into the thread buffer and one release store, the allocator-time table's
 * update, and the lock table's note of an allocation under a held lock (one TLS load). Frees
 * skip the stack (unless PERFSHIM_FREE_STACKS=2) and remove from the live set. Measured
 * (docs/performance.md "Stack cache and allocator time", "Issue 18's recording targets"):
 * churn ~150-380 ns per event of CPU here (with the load), where clock_gettime (vDSO, tsc
 * clocksource) costs ~70 ns and rdtsc ~22 ns; callgrind (scripts/bench-callgrind): 377
 * instructions per event on the app's thread, ~261 of them per malloc the stack cache's
 * slot checks at depth 12, and 735-919 on the writer's. Everything else is out of line in
 * shim.c/tstate.c.
 *
 * errno: the app sees exactly what the real function left. hook_enter_slow() restores the
 * value it found; after the real call each hook saves errno and restores it after recording
 * (the unwinder, a contended futex or a buffer hand-off may change it). A free records before
 * the real free, which leaves errno alone (glibc >= 2.33), so it saves on entry.
 */
#include <config.h>

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bootstrap.h"
#include "hooks_alloc.h"
#include "shim.h"

/* ---- before the real functions are known ----------------------------------------------- */

static void *boot_aligned(size_t align, size_t size)
{
    if (align < 16)
        align = 16;
    if (size > SIZE_MAX - align)
        return NULL;
    uintptr_t p = (uintptr_t)bootstrap_alloc(size + align);
    return p ? (void *)((p + align - 1) & ~(uintptr_t)(align - 1)) : NULL;
}

static void *boot_calloc(size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total))
        return NULL;
    return bootstrap_alloc(total); /* the arena is never reused: already zero */
}

/* ---- allocation functions of one shape: X(name, FN, params, args, size, align) ---------- */
#define PS_PLAIN_ALLOC_HOOKS(X)                                                                \
    X(malloc, MALLOC, (size_t size), (size), size, 0)                                          \
    X(valloc, VALLOC, (size_t size), (size), size, prim_page_size())                           \
    X(pvalloc, PVALLOC, (size_t size), (size), size, prim_page_size())                         \
    X(memalign, MEMALIGN, (size_t align, size_t size), (align, size), size, align)             \
    X(aligned_alloc, ALIGNED_ALLOC, (size_t align, size_t size), (align, size), size, align)

#define PS_X(name, FN, params, args, sz, al)                                                   \
    PS_EXPORT void *name params                                                                \
    {                                                                                          \
        tstate_t *st = hook_enter();                                                           \
        if (PS_UNLIKELY(!st)) { /* not recorded: before init, or from the shim itself */       \
            void *q;                                                                           \
            if (PS_UNLIKELY(unwind_first_pending) && !(al) && (q = bootstrap_pool_alloc(sz)))  \
                return q; /* libunwind's thread block (bootstrap.h) */                         \
            return PS_LIKELY(real_##name != NULL) ? real_##name args : boot_aligned(al, sz);   \
        }                                                                                      \
        uint64_t c0 = acost_begin(st);                                                         \
        void *p = real_##name args;                                                            \
        uint64_t cost = acost_end(c0);                                                         \
        int e = errno;                                                                         \
        shim_rec_alloc(st, PS_FN_##FN, p, sz, al, prim_now_ns(), cost);                        \
        hook_leave();                                                                          \
        errno = e;                                                                             \
        return p;                                                                              \
    }
PS_PLAIN_ALLOC_HOOKS(PS_X)
#undef PS_X

PS_EXPORT void *calloc(size_t n, size_t m)
{
    tstate_t *st = hook_enter();
    if (PS_UNLIKELY(!st))
        return PS_LIKELY(real_calloc != NULL) ? real_calloc(n, m) : boot_calloc(n, m);
    uint64_t c0 = acost_begin(st);
    void *p = real_calloc(n, m);
    uint64_t cost = acost_end(c0);
    int e = errno;
    uint64_t ts = prim_now_ns();
    size_t total;
    if (__builtin_mul_overflow(n, m, &total))
        total = SIZE_MAX;
    shim_rec_alloc(st, PS_FN_CALLOC, p, total, 0, ts, cost);
    hook_leave();
    errno = e;
    return p;
}

PS_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    tstate_t *st = hook_enter();
    if (PS_UNLIKELY(!st)) {
        if (PS_LIKELY(real_posix_memalign != NULL))
            return real_posix_memalign(out, align, size);
        void *p = boot_aligned(align, size);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    uint64_t c0 = acost_begin(st);
    int rc = real_posix_memalign(out, align, size);
    uint64_t cost = acost_end(c0);
    int e = errno;
    shim_rec_alloc(st, PS_FN_POSIX_MEMALIGN, rc == 0 ? *out : NULL, size, align, prim_now_ns(),
                   cost);
    hook_leave();
    errno = e;
    return rc;
}

PS_EXPORT void free(void *p)
{
    if (PS_UNLIKELY(!p || bootstrap_owns(p))) {
        if (p)
            bootstrap_release(p);
        return;
    }
    tstate_t *st = hook_enter();
    if (PS_UNLIKELY(!st)) {
        if (PS_LIKELY(real_free != NULL))
            real_free(p);
        return;
    }
    int e = errno;
    shim_rec_free(st, PS_FN_FREE, p, 2);
    errno = e;
    uint64_t c0 = acost_begin(st);
    real_free(p);
    shim_rec_release_cost(st, c0);
    hook_leave();
}

/* A block from the bootstrap arena moves to the real heap (its size is unknown: copy what
 * the arena can hold, which covers the block). */
static void *realloc_from_boot(void *old, size_t size)
{
    void *p = malloc(size);
    if (p && old) {
        size_t avail = bootstrap_span(old);
        memcpy(p, old, size < avail ? size : avail);
    }
    if (p && old)
        bootstrap_release(old);
    return p;
}

static PS_ALWAYS_INLINE void *realloc_common(uint8_t fn, void *old, size_t n, size_t m)
{
    size_t size;
    int overflow = __builtin_mul_overflow(n, m, &size);
    if (PS_UNLIKELY(old && bootstrap_owns(old))) {
        if (overflow) {
            errno = ENOMEM;
            return NULL;
        }
        return realloc_from_boot(old, size);
    }
    tstate_t *st = hook_enter();
    if (PS_UNLIKELY(!st)) {
        if (PS_UNLIKELY(real_realloc == NULL))
            return overflow ? NULL : realloc_from_boot(old, size);
        if (fn == PS_FN_REALLOCARRAY)
            return real_reallocarray(old, n, m);
        return real_realloc(old, size);
    }
    int e = errno;
    shim_live_realloc_begin(old);
    uint64_t t0 = prim_now_ns();
    errno = e;
    uint64_t c0 = acost_begin(st); /* timed by the TSC as malloc and free are */
    void *p = fn == PS_FN_REALLOCARRAY ? real_reallocarray(old, n, m) : real_realloc(old, size);
    uint64_t cost = acost_end(c0);
    e = errno;
    uint64_t t1 = prim_now_ns();
    shim_rec_realloc(st, fn, old, p, overflow ? SIZE_MAX : size, t0, t1, cost);
    hook_leave();
    errno = e;
    return p;
}

PS_EXPORT void *realloc(void *old, size_t size)
{
    return realloc_common(PS_FN_REALLOC, old, size, 1);
}

PS_EXPORT void *reallocarray(void *old, size_t n, size_t m)
{
    return realloc_common(PS_FN_REALLOCARRAY, old, n, m);
}

/* ---- process end without exit(): write the trace's end first ---------------------------- */
#define PS_EXIT_HOOKS(X) X(_exit) X(_Exit)
#define PS_X(name)                                                                             \
    PS_EXPORT void name(int status)                                                            \
    {                                                                                          \
        shim_fini();                                                                           \
        if (real_##name)                                                                       \
            real_##name(status);                                                               \
        for (;;)                                                                               \
            syscall(SYS_exit_group, status);                                                   \
    }
PS_EXIT_HOOKS(PS_X)
#undef PS_X
