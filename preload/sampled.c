/* sampled.c -- see sampled.h. */
#include <config.h>

#include "sampled.h"

#include <errno.h>
#include <string.h>

#include "bootstrap.h"
#include "hooks_alloc.h"
#include "ilock.h"
#include "imem.h"
#include "perfshim/mix.h"
#include "perfshim/sampling.h"
#include "shim.h"

int sampled_on;
uint64_t sampled_filter[(1u << SAMPLED_FILTER_LOG2) / 64];

static uint64_t mean;            /* N */
static uint64_t seed0;           /* PERFSHIM_SAMPLE_SEED, 0: random */
static uint32_t threads_seeded;  /* the next thread's ordinal (seeded runs) */

/* ---- the sampled set: addresses of sampled blocks still live ----------------------------- */
static ilock_t set_lock;
static uint16_t filter_count[1u << SAMPLED_FILTER_LOG2]; /* set entries per filter bit */
static uint64_t *set_tab; /* open addressing, linear probing, 0 = empty */
static uint32_t set_cap, set_n;

static uint32_t set_slot(uint64_t p, uint32_t cap)
{
    return (uint32_t)ps_mix64(p) & (cap - 1);
}

static int set_grow(void)
{
    uint32_t cap = set_cap ? set_cap * 2 : 4096;
    uint64_t *t = imem_alloc((size_t)cap * sizeof *t);
    if (!t)
        return -1;
    for (uint32_t i = 0; i < set_cap; i++) {
        if (!set_tab[i])
            continue;
        uint32_t j = set_slot(set_tab[i], cap);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = set_tab[i];
    }
    if (set_tab)
        imem_free(set_tab);
    set_tab = t;
    set_cap = cap;
    return 0;
}

static void set_insert(uint64_t p)
{
    ilock_lock(&set_lock);
    if ((set_n + 1) * 2 > set_cap && set_grow() != 0) {
        ilock_unlock(&set_lock);
        return; /* its release goes unrecorded: the block stays "not freed" */
    }
    uint32_t j = set_slot(p, set_cap);
    while (set_tab[j] && set_tab[j] != p)
        j = (j + 1) & (set_cap - 1);
    if (!set_tab[j]) {
        set_tab[j] = p;
        set_n++;
        unsigned b = sampled_filter_bit(p);
        if (filter_count[b]++ == 0)
            __atomic_or_fetch(&sampled_filter[b >> 6], 1ull << (b & 63), __ATOMIC_RELAXED);
    }
    ilock_unlock(&set_lock);
}

/* 1 if p was in the set (it is removed), else 0. */
static int set_remove(uint64_t p)
{
    ilock_lock(&set_lock);
    if (!set_n) {
        ilock_unlock(&set_lock);
        return 0;
    }
    uint32_t j = set_slot(p, set_cap);
    while (set_tab[j] && set_tab[j] != p)
        j = (j + 1) & (set_cap - 1);
    if (!set_tab[j]) {
        ilock_unlock(&set_lock);
        return 0;
    }
    /* backward-shift deletion: no tombstones */
    uint32_t i = j;
    for (;;) {
        set_tab[i] = 0;
        uint32_t k = i;
        for (;;) {
            k = (k + 1) & (set_cap - 1);
            if (!set_tab[k])
                goto done;
            uint32_t h = set_slot(set_tab[k], set_cap);
            /* move k to i unless its home h lies cyclically in (i, k] */
            if (i <= k ? (i < h && h <= k) : (i < h || h <= k))
                continue;
            break;
        }
        set_tab[i] = set_tab[k];
        i = k;
    }
done:
    set_n--;
    unsigned b = sampled_filter_bit(p);
    if (--filter_count[b] == 0)
        __atomic_and_fetch(&sampled_filter[b >> 6], ~(1ull << (b & 63)), __ATOMIC_RELAXED);
    ilock_unlock(&set_lock);
    return 1;
}

/* ---- the countdown ---------------------------------------------------------------------- */

/* ln(x) for x in (0, 1], without libm: x = m 2^e, m in [1, 2), ln m = 2 atanh((m-1)/(m+1))
 * by its series (|z| <= 1/3: 9 terms, relative error < 1e-10). */
static double ln01(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &bits, sizeof m);
    double z = (m - 1) / (m + 1), z2 = z * z, t = z, s = 0;
    for (int k = 1; k <= 17; k += 2) {
        s += t / k;
        t *= z2;
    }
    return e * 0.69314718055994530942 + 2 * s;
}

static uint64_t rng_next(struct tstate_s *st)
{
    uint64_t x = st->sample_rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    st->sample_rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* A sampled allocation of `size` bytes stands for 1/p(size) allocations (perfshim/sampling.h,
 * the analyzer's Horvitz-Thompson weight): the lock table's counts of allocations made while a
 * lock is held add the weight, so that they estimate the program's (rounded to the nearest
 * whole allocation; >= 1). */
static void sample_weight(uint64_t size, uint64_t *n, uint64_t *bytes)
{
    double w = 1 / ps_sample_p(size, (double)mean);
    *n = (uint64_t)(w + 0.5) ? (uint64_t)(w + 0.5) : 1;
    *bytes = (uint64_t)(w * (double)size + 0.5);
}

/* The lock table's note of a sampled allocation (locktab_note_alloc_n), weighted. */
static void note_alloc(uint32_t stack, uint64_t size)
{
    uint64_t n, bytes;
    sample_weight(size, &n, &bytes);
    locktab_note_alloc_n(stack, n, bytes);
}

/* Bytes until the next sample: exponential with mean N (at least 1). */
static int64_t draw(struct tstate_s *st)
{
    double u = (double)((rng_next(st) >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double v = -ln01(u) * (double)mean;
    return v < 1 ? 1 : v > 4e18 ? (int64_t)4e18 : (int64_t)v + 1;
}

static void seed_thread(struct tstate_s *st)
{
    uint64_t s;
    if (seed0) /* the threads' order of first allocation decides their streams */
        s = seed0 * 0x9e3779b97f4a7c15ull +
            __atomic_fetch_add(&threads_seeded, 1, __ATOMIC_RELAXED);
    else
        s = prim_now_ns() ^ ((uint64_t)st->tid << 32) ^ (uint64_t)(uintptr_t)st;
    s = ps_mix64(s ^ 0x5851f42d4c957f2dull);
    st->sample_rng = s ? s : 1;
}

void sampled_init(int mean_bytes, int seed)
{
    mean = mean_bytes > 0 ? (uint64_t)mean_bytes : 0;
    seed0 = (uint64_t)(seed > 0 ? seed : 0);
    sampled_on = mean > 0;
}

/* The countdown (tstate_t.sample_left, never negative): the bytes until the next sample, less
 * one; 0 in a thread not seeded yet. An allocation of s bytes takes s + 1 bytes of it, so
 * that a zero-size one can be sampled too (trace_format.h: the analyzer's p(s) takes the
 * same). countdown() is 0 when no sample falls inside the allocation (the count goes on), 1
 * when one does: then countdown_expired() decides (1: sampled) and starts the next countdown
 * after the allocation (the process is memoryless). Unsigned: a size near 2^64 ends it. */
static PS_ALWAYS_INLINE int countdown(struct tstate_s *st, uint64_t size)
{
    uint64_t c = (uint64_t)st->sample_left;
    if (PS_LIKELY(c > size)) {
        st->sample_left = (int64_t)(c - size - 1);
        return 0;
    }
    return 1;
}

static PS_NOINLINE PS_COLD int countdown_expired(struct tstate_s *st, uint64_t size)
{
    if (PS_UNLIKELY(!st->sample_rng)) { /* the thread's first allocation: its first countdown */
        seed_thread(st);
        uint64_t c = (uint64_t)draw(st) - 1;
        if (c > size) {
            st->sample_left = (int64_t)(c - size - 1);
            return 0;
        }
    }
    st->sample_left = draw(st) - 1;
    return 1;
}

/* ---- records ---------------------------------------------------------------------------- */

/* A sampled allocation's record (ts: after the real call, the tick done; stack: its id). */
static void rec_alloc_at(tstate_t *st, uint8_t fn, const void *p, uint64_t size, uint64_t align,
                         uint64_t ts, uint32_t stack)
{
    ps_rec_alloc_t r = {.h = {PS_REC_ALLOC, fn, sizeof r},
                        .stack = stack,
                        .ts = ts,
                        .ptr = (uint64_t)(uintptr_t)p,
                        .size = size,
                        .align = align};
    if (p)
        set_insert(r.ptr);
    rec_put(st, &r, sizeof r);
    note_alloc(r.stack, size);
}

/* The same, its stack walked from here (not cached: ra is not this function's caller). */
static void rec_alloc(tstate_t *st, uint8_t fn, const void *p, uint64_t size, uint64_t align,
                      uintptr_t ra)
{
    uint64_t ts = prim_now_ns();
    shim_tick(st, ts);
    rec_alloc_at(st, fn, p, size, align, ts, rec_stack_walk(st, ra, 0));
}

/* alloc_counted inlined into a function the app's call reached by jumps only (the exported
 * symbol's jump, the twin's tail call): its return address and frame are the hook's, so the
 * sample's stack comes from the thread's stack cache (rec_stack) as in full mode. */
static PS_ALWAYS_INLINE void *alloc_counted_here(tstate_t *st, uint8_t fn, void *p,
                                                 uint64_t size, uint64_t align)
{
    int e = errno;
    if (p && countdown(st, size) && countdown_expired(st, size)) {
        uint64_t ts = prim_now_ns();
        shim_tick(st, ts);
        rec_alloc_at(st, fn, p, size, align, ts, rec_stack(st, PS_CALLER()));
    }
    hook_leave();
    errno = e;
    return p;
}

static void rec_free(tstate_t *st, uint8_t fn, const void *p, uint64_t ts, int stack_level,
                     uintptr_t ra)
{
    ps_rec_free_t r = {.h = {PS_REC_FREE, fn, sizeof r}, .ts = ts, .ptr = (uint64_t)(uintptr_t)p};
    shim_tick(st, ts);
    if (options.free_stacks >= stack_level)
        r.stack = rec_stack_walk(st, ra, 0);
    rec_put(st, &r, sizeof r);
}

/* After the real call made under the guard (hook_enter returned st): counts the allocation
 * down, records it when a sample falls inside it (errno kept), leaves the guard. Returns p. */
static PS_NOINLINE PS_COLD void *alloc_expired(tstate_t *st, uint8_t fn, void *p, uint64_t size,
                                               uint64_t align, uintptr_t ra)
{
    int e = errno;
    if (countdown_expired(st, size))
        rec_alloc(st, fn, p, size, align, ra);
    hook_leave();
    errno = e;
    return p;
}

static PS_ALWAYS_INLINE void *alloc_counted(tstate_t *st, uint8_t fn, void *p, uint64_t size,
                                         uint64_t align, uintptr_t ra)
{
    if (PS_LIKELY(!p || !countdown(st, size))) { /* a failed allocation is not counted */
        hook_leave();
        return p;
    }
    return alloc_expired(st, fn, p, size, align, ra);
}

void *sampled_alloc(struct tstate_s *st, uint8_t fn, void *p, uint64_t size, uint64_t align,
                    uintptr_t ra)
{
    return alloc_counted(st, fn, p, size, align, ra);
}

/* Not recorded (hook_enter said so): the real function, or libunwind's thread block from the
 * shim's pool during its first walk (bootstrap.h), as the hooks do. */
static PS_NOINLINE PS_COLD void *pass_alloc(size_t size, int aligned)
{
    void *q;
    if (PS_UNLIKELY(unwind_first_pending) && !aligned && (q = bootstrap_pool_alloc(size)))
        return q;
    return NULL;
}

/* The twins' fast path: the allocation is counted down before the real call, which is then
 * a tail call (no frame, no guard: the real allocator does not come back into the shim; one
 * that did would have its own allocations counted too). When a sample falls inside it
 * (countdown() is 1), or the guard is held, or the thread has no state yet, the cold
 * sampled_slow_<name> takes over: hook_enter() as the hooks do, the real call under the guard,
 * the record. A failed allocation is never recorded (it may take countdown bytes: the others'
 * probabilities stay the same). */
#define PS_X(name, FN, params, args, sz, al)                                                   \
    static PS_NOINLINE PS_COLD void *sampled_slow_##name params                                \
    {                                                                                          \
        tstate_t *st = hook_enter();                                                           \
        if (PS_UNLIKELY(!st)) {                                                                \
            void *q = pass_alloc(sz, (al) != 0);                                               \
            return q ? q : real_##name args;                                                   \
        }                                                                                      \
        return alloc_counted_here(st, PS_FN_##FN, real_##name args, sz, al);                   \
    }                                                                                          \
    void *sampled_##name params                                                                \
    {                                                                                          \
        tstate_t *st = shim_tls.st;                                                            \
        if (PS_LIKELY(st && !shim_tls.guard && !countdown(st, sz)))                            \
            return real_##name args;                                                           \
        return sampled_slow_##name args;                                                       \
    }
PS_PLAIN_ALLOC_HOOKS(PS_X)
#undef PS_X

static PS_NOINLINE PS_COLD void *sampled_slow_calloc(size_t n, size_t m)
{
    tstate_t *st = hook_enter();
    if (PS_UNLIKELY(!st))
        return real_calloc(n, m);
    return alloc_counted_here(st, PS_FN_CALLOC, real_calloc(n, m), n * m, 0);
}

void *sampled_calloc(size_t n, size_t m)
{
    tstate_t *st = shim_tls.st; /* an overflowing n * m fails: the size it counts is moot */
    if (PS_LIKELY(st && !shim_tls.guard && !countdown(st, n * m)))
        return real_calloc(n, m);
    return sampled_slow_calloc(n, m);
}

int sampled_posix_memalign(void **out, size_t align, size_t size)
{
    tstate_t *st = hook_enter();
    if (PS_UNLIKELY(!st))
        return real_posix_memalign(out, align, size);
    int rc = real_posix_memalign(out, align, size);
    alloc_counted(st, PS_FN_POSIX_MEMALIGN, rc == 0 ? *out : NULL, size, align,
               (uintptr_t)__builtin_return_address(0));
    return rc;
}

static PS_NOINLINE PS_COLD void sampled_slow_free(void *p)
{
    if (!p)
        return;
    sampled_release(p, PS_FN_FREE, 2, (uintptr_t)__builtin_return_address(0));
    if (bootstrap_owns(p)) /* never sampled */
        bootstrap_release(p);
    else
        real_free(p);
}

/* One bit test; the bootstrap arena's blocks (bootstrap.h) never go to the real free. */
void sampled_free(void *p)
{
    if (PS_UNLIKELY(sampled_maybe(p))) /* NULL lands on a bit too */
        return sampled_slow_free(p);
    if (PS_UNLIKELY(bootstrap_owns(p)))
        return bootstrap_release(p);
    real_free(p);
}

void sampled_release(void *ptr, uint8_t fn, int stack_level, uintptr_t ra)
{
    int e = errno;
    uint64_t ts = prim_now_ns();
    tstate_t *st = hook_enter();
    if (!st)
        return;
    if (set_remove((uint64_t)(uintptr_t)ptr))
        rec_free(st, fn, ptr, ts, stack_level, ra);
    hook_leave();
    errno = e;
}

static PS_NOINLINE void *realloc_common(tstate_t *st, uint8_t fn, void *old, size_t n, size_t m,
                                        uintptr_t ra)
{
    size_t size;
    int overflow = __builtin_mul_overflow(n, m, &size);
    int e = errno;
    int was = old && sampled_maybe(old) && set_remove((uint64_t)(uintptr_t)old);
    uint64_t t0 = was ? prim_now_ns() : 0;
    errno = e;
    void *p = fn == PS_FN_REALLOCARRAY ? real_reallocarray(old, n, m) : real_realloc(old, size);
    e = errno;
    if (overflow || (!p && size)) { /* failed: the old block is still live */
        if (was)
            set_insert((uint64_t)(uintptr_t)old);
        hook_leave();
        errno = e;
        return p;
    }
    int now = p && countdown(st, size) && countdown_expired(st, size);
    if (was && now) {
        ps_rec_realloc_t r = {.h = {PS_REC_REALLOC, fn, sizeof r},
                              .ts_before = t0,
                              .ts = prim_now_ns(),
                              .old_ptr = (uint64_t)(uintptr_t)old,
                              .new_ptr = (uint64_t)(uintptr_t)p,
                              .size = size};
        shim_tick(st, r.ts);
        r.stack = rec_stack_walk(st, ra, 0);
        set_insert(r.new_ptr);
        rec_put(st, &r, sizeof r);
        note_alloc(r.stack, size);
    } else if (was) {
        rec_free(st, fn, old, t0, 2, ra); /* the old block went; the new one was not sampled */
    } else if (now) {
        rec_alloc(st, fn, p, size, 0, ra);
    }
    hook_leave();
    errno = e;
    return p;
}

/* A block of the bootstrap arena moves to the real heap: the full-mode hook does it (its
 * malloc comes back here). */
void *ps_hook_realloc(void *old, size_t size);
void *ps_hook_reallocarray(void *old, size_t n, size_t m);

void *sampled_realloc(void *old, size_t size)
{
    if (PS_UNLIKELY(old && bootstrap_owns(old)))
        return ps_hook_realloc(old, size);
    tstate_t *st = hook_enter();
    if (PS_UNLIKELY(!st))
        return real_realloc(old, size);
    return realloc_common(st, PS_FN_REALLOC, old, size, 1, (uintptr_t)__builtin_return_address(0));
}

void *sampled_reallocarray(void *old, size_t n, size_t m)
{
    if (PS_UNLIKELY(old && bootstrap_owns(old)))
        return ps_hook_reallocarray(old, n, m);
    tstate_t *st = hook_enter();
    if (PS_UNLIKELY(!st))
        return real_reallocarray(old, n, m);
    return realloc_common(st, PS_FN_REALLOCARRAY, old, n, m,
                          (uintptr_t)__builtin_return_address(0));
}
