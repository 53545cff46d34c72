/*
 * shim.h -- lifecycle of the shim and the inline recorders every hook uses.
 *
 * Contract: hooks call hook_enter() first. It returns the calling thread's state with the
 * re-entrancy guard set, or NULL when the hook must only call the real function: the guard
 * was already set (the shim itself, or libunwind, is allocating), the shim is disabled or
 * finished, or it failed. A non-NULL return is paired with hook_leave(). The shim_rec_*()
 * recorders take timestamps and stacks as documented in trace_format.h and never fail the
 * app: a record that cannot be written is counted as dropped.
 * Initialization runs once, lazily from the first hook or from the library constructor,
 * whichever comes first; shim_fini() (library destructor, _exit) writes the trace's end.
 */
#ifndef PERFSHIM_SHIM_H
#define PERFSHIM_SHIM_H

#include <stdint.h>
#include <string.h>

/* what the inline recorders below use; a hook includes what else it calls itself */
#include "acost.h"
#include "leakscan.h"
#include "liveset.h"
#include "locktab.h"
#include "options.h"
#include "perfshim/compiler.h"
#include "perfshim/trace_format.h"
#include "prim.h"
#include "rec.h"
#include "tstate.h"
#include "writer.h"

enum shim_state_e {
    SHIM_UNINIT = 0,
    SHIM_INITIALIZING,
    SHIM_ACTIVE,
    SHIM_DISABLED, /* never recorded (PERFSHIM_ENABLE=0, setuid, no output, fork child) */
    SHIM_FINISHED, /* the trace is complete; hooks pass through */
};

typedef struct shim_tls_s {
    int guard;
    tstate_t *st;
    liveset_block_t realloc_old; /* the live set's block of a realloc's old block, in flight */
} shim_tls_t;

extern PS_HIDDEN int shim_state;
extern PS_TLS shim_tls_t shim_tls;
/* Reads 1 in the process whose trace this is and 0 in a child made without glibc's fork (raw
 * syscall(SYS_fork), clone without CLONE_VM): a word in a MADV_WIPEONFORK page, which the
 * kernel zeroes in every child. The child's first hook takes the slow path, which gives it
 * its own trace as the atfork handler does for fork(). One load on the fast path, no
 * syscall. (Without MADV_WIPEONFORK it points to a constant 1: such children go undetected.) */
extern PS_HIDDEN const volatile int *shim_forkword;
/* Nonzero while the hooks record in this process: shim_state is SHIM_ACTIVE and the process
 * is the trace's (in the same MADV_WIPEONFORK page as shim_forkword, so a child made without
 * fork() reads 0 too). The hooks' one test of both (one load fewer, compare and branch);
 * hook_enter_slow tells the cases apart. */
extern PS_HIDDEN const volatile int *shim_go;

PS_NOINLINE PS_COLD tstate_t *hook_enter_slow(void);
void shim_init(void);
void shim_fini(void);
/* 0 in a child made without fork() that has not taken over a trace of its own yet: it must
 * write nothing (the descriptors and buffers it holds are copies of its parent's). */
int shim_owns_trace(void);
void shim_enter_internal_thread(void);
/* exec hooks: END the trace before the exec; resume recording when it failed. */
void shim_before_exec(void);
void shim_after_exec_failed(void);

/* guard values: 0 recording, 1 inside the shim (hooks pass through), PS_GUARD_ONE_SHOT: a C++
 * hook is calling the real operator new, whose first malloc-family call (the block itself) must
 * pass through; that call clears the guard, so new_handler's and the exception's allocations
 * are recorded normally (hooks_cxx.c). */
#define PS_GUARD_ONE_SHOT 2
/* The calling thread's state, created (THREAD_START, module map) if it has none; guard set. */
tstate_t *shim_self_state(void);

static PS_ALWAYS_INLINE tstate_t *hook_enter(void)
{
    if (PS_UNLIKELY(shim_tls.guard)) {
        if (shim_tls.guard == PS_GUARD_ONE_SHOT)
            shim_tls.guard = 0;
        return NULL;
    }
    tstate_t *st = shim_tls.st;
    if (PS_UNLIKELY(!st || !*shim_go))
        return hook_enter_slow();
    shim_tls.guard = 1;
    return st;
}

static PS_ALWAYS_INLINE void hook_leave(void)
{
    shim_tls.guard = 0;
}

/* The return address of the hook a recorder is inlined into: its caller. */
#define PS_CALLER() ((uintptr_t)__builtin_return_address(0))

/* Without a writer thread the app's own events do its periodic work (writer.h); one load and
 * a compare of a timestamp the recorder took anyway. Called before the event changes the live
 * set or the buffer: a snapshot the app asked for before this event does not include it. */
static PS_ALWAYS_INLINE void shim_tick(tstate_t *st, uint64_t ts)
{
    if (PS_UNLIKELY(ts >= __atomic_load_n(&writer_tick_due, __ATOMIC_RELAXED)))
        writer_tick(st, ts, (uintptr_t)__builtin_return_address(0)); /* inlined: the hook's caller */
}

/* Heap events' timestamps (stamp.h): the thread's floor, or an exact read every
 * PERFSHIM_CLOCK_EVERY events and when time moved on; the live set's guard then orders one
 * address' events across threads (shim_live_add, shim_rec_free, shim_live_realloc_begin
 * return the stamp it gave, which becomes the thread's floor). */
static PS_ALWAYS_INLINE uint64_t shim_ts(tstate_t *st)
{
    return stamp_now(&st->clk);
}

/* shim_ts for a heap event of the malloc family or C++ (inlined into its hook, before the
 * event changes the live set or the buffer), with shim_tick when it read the clock: a floor
 * is an earlier read's value, which was checked then, so the writer's periodic work (due
 * at a time, or at once when the process gets its second thread) starts at the thread's next
 * exact read, at most PERFSHIM_CLOCK_EVERY events or one tick of the staleness word later
 * (the coarse clock's 4 ms without a writer thread), and the floor's path has no compare
 * (issue 18: 3 instructions an event). */
static PS_ALWAYS_INLINE uint64_t shim_ts_tick(tstate_t *st)
{
    uint64_t tk;
    if (PS_LIKELY(stamp_floor_ok(&st->clk, &tk)))
        return st->clk.floor;
    const uint64_t ts = stamp_exact(&st->clk, tk);
    shim_tick(st, ts);
    return ts;
}

/* The thread as the live set's stamps name it (LIVESET_WHO of its tid, kept in st). */
static PS_ALWAYS_INLINE uint32_t shim_who(const tstate_t *st)
{
    PS_ASSERT(st->who == LIVESET_WHO(st->tid)); /* (--enable-debug only) */
    return st->who;
}

/* The live set (PERFSHIM_LEAK_CHECK): a block enters after the real allocator returned and
 * leaves before the real free, so an address is never in it twice. ra: the hook's caller
 * (the stack's first frame; st->ips is not written when the stack came from the cache).
 * Returns the event's stamp: ts through the shard's guard (ts itself without the set, whose
 * events all read the clock, or without a block). */
static PS_ALWAYS_INLINE uint64_t shim_live_add_f(tstate_t *st, const void *ptr, uint64_t size,
                                                 uint32_t f, uint64_t ts)
{
    if (!options.leak_check || !ptr)
        return ts;
    if (PS_UNLIKELY(leakscan_disabled > 0))
        f |= LIVESET_F_IGNORED; /* __lsan_disable */
    /* ts is the thread's floor (shim_ts_tick): set again only where the guard raised it */
    return liveset_add_fl((uint64_t)(uintptr_t)ptr, size, f, ts, shim_who(st),
                          &st->clk.floor);
}

/* shim_live_add_f with the flag LIVESET_F_LINKER from ra (rec.c rec_linker_flag the same) */
static PS_ALWAYS_INLINE uint64_t shim_live_add(tstate_t *st, const void *ptr, uint64_t size,
                                               uint32_t stack, uintptr_t ra, uint64_t ts)
{
    _Static_assert(LIVESET_F_LINKER == 1, "a compare's result");
    return shim_live_add_f(st, ptr, size, stack && ra - leakscan_ld_lo < leakscan_ld_len, ts);
}

/* Called before the real realloc: the old block leaves the live set before the allocator
 * can hand its address to another thread; shim_rec_realloc puts it back if realloc failed.
 * Returns the release's stamp (ts_before): ts through the old block's shard's guard. */
static PS_ALWAYS_INLINE uint64_t shim_live_realloc_begin(tstate_t *st, const void *old,
                                                         uint64_t ts)
{
    shim_tls.realloc_old.ptr = 0;
    if (options.leak_check && old) {
        liveset_stamp_t t = {ts, shim_who(st)};
        liveset_remove((uint64_t)(uintptr_t)old, &shim_tls.realloc_old, &t);
        stamp_set(&st->clk, t.ts);
        return t.ts;
    }
    return ts;
}

/* ts: shim_ts_tick() right after the real allocator returned (the guard may raise it);
 * cost_ns: the real call's duration (acost_begin/acost_end around it: ACOST_UNTIMED for the
 * calls not timed), added to the thread's totals (acost.h). */
static PS_ALWAYS_INLINE void shim_rec_alloc_at(tstate_t *st, uint8_t fn, const void *ptr,
                                               uint64_t size, uint64_t align, uint64_t ts,
                                               uint32_t stack, uint32_t lsflags)
{
    ts = shim_live_add_f(st, ptr, size, lsflags, ts);
    rec_put_alloc(st, fn, stack, ts, (uint64_t)(uintptr_t)ptr, size, align);
    locktab_note_alloc(stack, size);
}

static PS_ALWAYS_INLINE void shim_rec_alloc(tstate_t *st, uint8_t fn, const void *ptr,
                                            uint64_t size, uint64_t align, uint64_t ts,
                                            uint64_t cost_ns)
{
    int counted;
    const uint32_t stack = rec_stack_alloc(st, PS_CALLER(), cost_ns, &counted);
    _Static_assert(LIVESET_F_LINKER == 1, "a compare's result");
    shim_rec_alloc_at(st, fn, ptr, size, align, ts, stack,
                      stack && PS_CALLER() - leakscan_ld_lo < leakscan_ld_len);
    if (!counted)
        acost_add(st, PS_COST_ALLOC, stack, cost_ns);
}

/* shim_rec_alloc for a call acost_pick did not choose (its cost ACOST_UNTIMED): the count in
 * the stack's cache entry, or in the acost table by the walk (rec_stack_untimed). Its stamp
 * (shim_ts_tick) is taken after the stack, so that it is not kept across the lookup's call
 * (issue 18: ~2 instructions a malloc); still after the real call, before the live set and
 * the record. */
static PS_ALWAYS_INLINE void shim_rec_alloc_untimed(tstate_t *st, uint8_t fn, const void *ptr,
                                                    uint64_t size, uint64_t align)
{
    uint32_t lsflags;
    const uint32_t stack = rec_stack_untimed(st, PS_CALLER(), &lsflags);
    shim_rec_alloc_at(st, fn, ptr, size, align, shim_ts_tick(st), stack, lsflags);
}

/* After the real release: c0 from acost_begin before it; added to the thread's release
 * total (acost.h). */
static PS_ALWAYS_INLINE void shim_rec_release_cost(tstate_t *st, uint64_t c0)
{
    acost_add_release(st, acost_end(c0));
}

/* Called before the real free: the timestamp orders this free before any reuse of ptr (the
 * live set keeps no thread per block: the analyzer tells a cross-thread free itself). The
 * release's own stack is recorded when PERFSHIM_FREE_STACKS >= stack_level (free() passes 2:
 * only on request; the C++ delete family passes 1: by default), so heap errors (mismatched,
 * double, invalid frees) can be shown with the stack that made them. */
static PS_ALWAYS_INLINE void shim_rec_free_at(tstate_t *st, uint8_t fn, const void *ptr,
                                              uint64_t ts, uint32_t stack)
{
    if (options.leak_check) {
        /* ts is the thread's floor (shim_ts_tick): set again only where the guard raised it */
        liveset_hit_t h =
            liveset_free_fl((uint64_t)(uintptr_t)ptr, ts, shim_who(st), &st->clk.floor);
        ts = h.ts;
        if (h.hit)
            leakscan_note_free(ptr);
    }
    rec_put_free(st, fn, stack, ts, (uint64_t)(uintptr_t)ptr);
}

static PS_ALWAYS_INLINE void shim_rec_free(tstate_t *st, uint8_t fn, const void *ptr,
                                           int stack_level)
{
    uint64_t ts = shim_ts_tick(st);
    /* (two copies: the one without a stack has its id as a constant 0) */
    if (PS_UNLIKELY(options.free_stacks >= stack_level))
        shim_rec_free_at(st, fn, ptr, ts, rec_stack(st, PS_CALLER()));
    else
        shim_rec_free_at(st, fn, ptr, ts, 0);
}

/* cost: the real call's ns (acost_begin/acost_end around it), or ACOST_UNTIMED; ts_before:
 * shim_live_realloc_begin's stamp; ts: shim_ts_tick() after the real call (the guard may raise
 * it) */
static PS_ALWAYS_INLINE void shim_rec_realloc(tstate_t *st, uint8_t fn, const void *old,
                                              const void *new_ptr, uint64_t size,
                                              uint64_t ts_before, uint64_t ts, uint64_t cost)
{
    int counted;
    const uint32_t stack = rec_stack_alloc(st, PS_CALLER(), cost, &counted);
    if (new_ptr) {
        ts = shim_live_add(st, new_ptr, size, stack, PS_CALLER(), ts);
    } else if (size && shim_tls.realloc_old.ptr) { /* failed: the old block is still live */
        liveset_stamp_t t = {ts, shim_who(st)};
        liveset_insert(shim_tls.realloc_old.ptr, shim_tls.realloc_old.size,
                       shim_tls.realloc_old.flags, &t);
        ts = t.ts;
        stamp_set(&st->clk, t.ts);
    }
    shim_tls.realloc_old.ptr = 0;
    rec_put_realloc(st, fn, stack, ts_before, ts, (uint64_t)(uintptr_t)old,
                    (uint64_t)(uintptr_t)new_ptr, size);
    if (!counted)
        acost_add(st, PS_COST_ALLOC, stack, cost);
    locktab_note_alloc(stack, size);
}

#endif /* PERFSHIM_SHIM_H */
