/*
 * hooks_alloc.c -- see hooks_alloc.h.
 *
 * Cost budget of a recorded allocation: guard check and one test of the shim's state
 * (shim_go), the real call (one in 8 timed: two counter reads; the others a countdown's
 * decrement, acost.h; an untimed call takes a path of its own, with nothing to test after
 * the real call), the timestamp (stamp.h: the thread's floor, a load of the staleness
 * word and a countdown; a clock read, prim_now_ns, every PERFSHIM_CLOCK_EVERY events, and a
 * compare with the live-set shard's stamp), the stack from the thread's stack cache (a call
 * of ucache_lookup: the last entry's key, then straight-line code entered by a jump to an
 * address the entry keeps, one 16-byte load and xor per frame-pointer frame, 3 or 4
 * instructions, or one 8-byte load per single slot, 3, one branch; a walk with libunwind and
 * a stack-table probe on a miss, unwind.h; the live set's linker flag from the entry), the
 * live-set insert inline (liveset.h liveset_add_fl: two Fibonacci hashes, its shard's owner:
 * two plain stores and two loads, the region's table (the shard's cached last one), the
 * probe (a store when the block's home entry is free); any other thread: liveset.c, the
 * shard lock's CAS and exchange, "Biased shards"), five 8-byte stores into the thread buffer
 * from registers (rec_put_alloc) and one release store, the call's count (one add to the
 * stack cache's entry, or the allocator-time table's update: acost.h), and the lock table's
 * note of an allocation under a held lock (one TLS load). Frees skip the stack (unless
 * PERFSHIM_FREE_STACKS=2), remove from the live set inline (liveset_free) and count the
 * release (one add). errno is not saved (below), the hot globals are read PC-relative
 * (hidden).
 * Measured (callgrind, scripts/bench-callgrind: churn_bench 1 200000 12, issue 18's hookcost
 * work): 227 instructions per event on the app's thread (287 before it; 377, then 311 before
 * the hookfast work): per malloc ~181 in the hook, of them ~60 the live set's insert, ~29
 * the record, ~8 the stamp, and ~92 in ucache_lookup_avx2 (16 frames: 13 windows, 4 single
 * slots); per free ~141, of them ~45 the live set's remove; ~10 per pair the timed calls'
 * draws (acost_pick_slow). Under valgrind clock_gettime is a syscall (natively prim_now_ns
 * calls the vDSO directly, its ~20-40 instructions, ~30 ns here). Depth 30: 252 (322); without
 * frame pointers (churn_bench_nofp): 227 (272), at depth 30 254 (310). Everything else is out
 * of line in shim.c/tstate.c. With the live set's region tables (issue 18's recorder memory:
 * address and size only, liveset.h): 231 (228 before them), the insert ~4 more (the cached
 * region's compare), the remove ~9 more (small tables at a higher load: more shifts), less
 * the cross-thread test the free no longer makes (~6). Then issue 18's hookcut work: 212
 * (231): per malloc ~163 in the hook, of them ~58 the live set's insert, ~26 the record, ~7
 * the stamp, and ~77 in ucache_lookup_avx2; per free ~137 (and ~8 in liveset_free_shift),
 * of them ~51 the live set's remove. Depth 30: 239 (255); without frame pointers: 211 (230),
 * at depth 30 238 (257), callgrind as bench-callgrind with those programs. Then issue 18's
 * hook4 work: 205 (212): one call in 16 timed, not 8 (acost.h: the two rdtsc, 22 ns each on
 * the reference VM, were ~15% of the app thread's perf samples; ~6 instructions an event of
 * acost_pick_slow's draws and the timed bookkeeping), and one store an event fewer (tstate.h:
 * the cursor and the committed count one field). Per event on the app thread, callgrind:
 * ~77 a malloc in ucache_lookup_avx2, ~58 the insert, ~51 the remove (+ ~8 in
 * liveset_free_shift), ~25 / ~14 the ALLOC / FREE record, ~7 the stamp; by the disassembly
 * ~17 hook_enter and hook_leave and ~18 the prologue and epilogue of each hook. The stack
 * budget is unchanged (no frame added). Then issue 18's hook6 work: 206 (207). Where the app
 * thread's time goes (churn_bench 1 4000000 12 50 on a 2-core AMD EPYC VM, the thread's CPU
 * time, interleaved pairs: native 309 ms, the shim adds ~178): one part taken out at a time,
 * the live set ~64 ms (the insert ~50 with its effect on the removes, the removes alone ~20),
 * the stack cache's checks ~30, the timed calls ~18, the record stores ~16; all four ~122, so
 * ~55 ms is the rest (entry and exit, the stamp, the calls). The live set's loads hit L1
 * (callgrind --cache-sim: ~0.02 misses an insert or remove; the app thread's write misses are
 * the buffer's new lines, prefetched, tstate.h): its time is its instructions and its probes'
 * mispredicted branches, so its small tables now sit at a lower load (liveset.c ls_tab_alloc:
 * ~6 ms). Prefetching the insert's home entry before the stack lookup (inside the owner's way
 * in) was 1.5-3 ms faster alone, nothing measurable with that lower load (5 of 10 pairs); the
 * same prefetch at a free's entry, or of the shard's line, was 3-8 ms slower: not kept.
 *
 * errno: the app sees exactly what the real function left. hook_enter_slow() restores the
 * value it found; the recorders' fast paths make no call that can change it, and each slow
 * path that can (the stack walk, a buffer hand-off, the live set's lock or growth) keeps it
 * (rec.h: through st->errnop, or errno in liveset.c), so the hooks save nothing (issue 18:
 * 7 instructions an allocation, 4 a free, callgrind). realloc saves and restores around its
 * own steps (the live set's release before the real call). A free records before the real
 * free, which leaves errno alone (glibc >= 2.33).
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
#include "sampled.h"
#include "shim.h"

/* ---- the exported symbols: sampled mode's dispatch (sampled.h) ------------------------ */
/* Each exported function of the malloc family is three instructions that test sampled_on
 * before any frame is set up and jump (not call: either side sees the app's return address
 * and frame, as the stack cache needs) to its sampled twin or to its full-mode hook below,
 * ps_hook_<name>, which is the hook as it was. A test inside the hook would come after its
 * prologue (the frame pointer and the callee-saved registers the full path needs): ~20
 * instructions a call in sampled mode, measured. */
#define PS_HOOK __attribute__((used)) /* hidden (-fvisibility=hidden); jumped to from asm */
#define PS_HOOK_NAME(name) ps_hook_##name
#if defined(__x86_64__)
#define PS_X(ret, name, params, args)                                                          \
    PS_HOOK ret PS_HOOK_NAME(name) params;                                                     \
    __asm__(".text\n\t.p2align 4\n\t.globl " #name "\n\t.type " #name ", @function\n" #name      \
            ":\n\tcmpl $0, sampled_on(%rip)\n\tjne sampled_" #name "\n\tjmp ps_hook_" #name       \
            "\n\t.size " #name ", .-" #name "\n");
#else /* elsewhere the same test in C, after the prologue */
#define PS_X(ret, name, params, args)                                                          \
    PS_HOOK ret PS_HOOK_NAME(name) params;                                                     \
    PS_EXPORT ret name params                                                                  \
    {                                                                                          \
        if (PS_UNLIKELY(sampled_on))                                                           \
            return sampled_##name args;                                                        \
        return PS_HOOK_NAME(name) args;                                                        \
    }
#endif
PS_SAMPLED_HOOKS(PS_X)
#undef PS_X

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
/* (PS_PLAIN_ALLOC_HOOKS: hooks_alloc.h) */

#define PS_X(name, FN, params, args, sz, al)                                                   \
    PS_HOOK void *PS_HOOK_NAME(name) params                                                    \
    {                                                                                          \
        tstate_t *st = hook_enter();                                                           \
        if (PS_UNLIKELY(!st)) { /* not recorded: before init, or from the shim itself */       \
            void *q;                                                                           \
            if (PS_UNLIKELY(unwind_first_pending) && !(al) && (q = bootstrap_pool_alloc(sz)))  \
                return q; /* libunwind's thread block (bootstrap.h) */                         \
            return PS_LIKELY(real_##name != NULL) ? real_##name args : boot_aligned(al, sz);   \
        }                                                                                      \
        void *p;                                                                               \
        if (PS_LIKELY(!acost_pick(st))) { /* untimed: counted with its stack, nothing to test */ \
            p = real_##name args;                                                              \
            shim_rec_alloc_untimed(st, PS_FN_##FN, p, sz, al);                                 \
        } else {                                                                               \
            const uint64_t c0 = acost_begin_timed();                                           \
            p = real_##name args;                                                              \
            const uint64_t cost = acost_end(c0);                                               \
            shim_rec_alloc(st, PS_FN_##FN, p, sz, al, shim_ts_tick(st), cost);                 \
        }                                                                                      \
        hook_leave();                                                                          \
        return p;                                                                              \
    }
PS_PLAIN_ALLOC_HOOKS(PS_X)
#undef PS_X

PS_HOOK void *PS_HOOK_NAME(calloc)(size_t n, size_t m)
{
    tstate_t *st = hook_enter();
    if (PS_UNLIKELY(!st))
        return PS_LIKELY(real_calloc != NULL) ? real_calloc(n, m) : boot_calloc(n, m);
    size_t total;
    if (__builtin_mul_overflow(n, m, &total))
        total = SIZE_MAX;
    void *p;
    if (PS_LIKELY(!acost_pick(st))) { /* as the malloc family's */
        p = real_calloc(n, m);
        shim_rec_alloc_untimed(st, PS_FN_CALLOC, p, total, 0);
    } else {
        const uint64_t c0 = acost_begin_timed();
        p = real_calloc(n, m);
        const uint64_t cost = acost_end(c0);
        shim_rec_alloc(st, PS_FN_CALLOC, p, total, 0, shim_ts_tick(st), cost);
    }
    hook_leave();
    return p;
}

PS_HOOK int PS_HOOK_NAME(posix_memalign)(void **out, size_t align, size_t size)
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
    shim_rec_alloc(st, PS_FN_POSIX_MEMALIGN, rc == 0 ? *out : NULL, size, align, shim_ts_tick(st),
                   cost);
    hook_leave();
    return rc;
}

PS_HOOK void PS_HOOK_NAME(free)(void *p)
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
    shim_rec_free(st, PS_FN_FREE, p, 2);
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
    int *ep = st->errnop, e = *ep;
    uint64_t t0 = shim_live_realloc_begin(st, old, shim_ts_tick(st));
    /* a block the real realloc may free (moved, or size 0) is marked as free() marks it
     * (leakscan_note_free) before the call; the word goes back wherever the data stays */
    int mark = shim_tls.realloc_old.ptr && leakscan_mark_frees;
    uint64_t word2 = mark ? ((const uint64_t *)old)[2] : 0;
    if (mark)
        leakscan_note_free(old);
    *ep = e;
    uint64_t c0 = acost_begin(st); /* timed by the TSC as malloc and free are */
    void *p = fn == PS_FN_REALLOCARRAY ? real_reallocarray(old, n, m) : real_realloc(old, size);
    uint64_t cost = acost_end(c0);
    if (mark && (p || size || overflow)) /* in place, moved (a copy of the mark), or failed */
        ((uint64_t *)(p ? p : old))[2] = word2;
    e = *ep;
    uint64_t t1 = shim_ts_tick(st);
    shim_rec_realloc(st, fn, old, p, overflow ? SIZE_MAX : size, t0, t1, cost);
    hook_leave();
    *ep = e;
    return p;
}

PS_HOOK void *PS_HOOK_NAME(realloc)(void *old, size_t size)
{
    return realloc_common(PS_FN_REALLOC, old, size, 1);
}

PS_HOOK void *PS_HOOK_NAME(reallocarray)(void *old, size_t n, size_t m)
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
