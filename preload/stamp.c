/*
 * stamp.c -- see stamp.h.
 */
#include <config.h>

#include "stamp.h"

uint64_t stamp_tick;
uint32_t stamp_every = 1; /* options_derive sets PERFSHIM_CLOCK_EVERY */
int stamp_guard_on = 1;

static int tick_used; /* a thread read the clock because stamp_tick changed (writer clears) */

uint64_t stamp_exact(stamp_clock_t *c, uint64_t tick)
{
    if (tick != c->tick && !__atomic_load_n(&tick_used, __ATOMIC_RELAXED))
        __atomic_store_n(&tick_used, 1, __ATOMIC_RELAXED); /* (a store only once a tick) */
    uint64_t now = prim_now_ns();
    if (now > c->floor)
        c->floor = now;
    c->tick = tick;
    c->left = stamp_every - 1;
    return c->floor;
}

/* Another thread's event in the shard, or ts behind the shard's stamp: ts must reach the
 * quantum after the shard's stamp (another thread) or the stamp itself (the same thread, which
 * never happens: its floor does not decrease). When it does not, the exact clock, raised to
 * that when it is behind (two threads' reads within one quantum, or the clock behind a raised
 * stamp). */
uint64_t stamp_guard_slow(uint64_t *s_ts, uint32_t *s_who, uint64_t ts, uint32_t who)
{
    uint64_t s = *s_ts;
    if (PS_UNLIKELY(!stamp_guard_on)) { /* tests: the order as the floors have it */
        if (ts > s)
            *s_ts = ts, *s_who = who;
        return ts;
    }
    uint64_t need = who == *s_who ? s : (s | ((1ull << STAMP_Q) - 1)) + 1;
    if (ts < need) {
        uint64_t now = prim_now_ns();
        ts = now > need ? now : need;
    }
    *s_ts = ts;
    *s_who = who;
    return ts;
}

static uint64_t tick_count; /* the writer thread's: only it changes stamp_tick */

void stamp_tick_start(void)
{
    __atomic_store_n(&stamp_tick, ++tick_count, __ATOMIC_RELAXED);
}

int stamp_tick_advance(void)
{
    __atomic_store_n(&stamp_tick, ++tick_count, __ATOMIC_RELAXED);
    return __atomic_exchange_n(&tick_used, 0, __ATOMIC_RELAXED);
}

void stamp_tick_stop(void)
{
    __atomic_store_n(&stamp_tick, 0, __ATOMIC_RELAXED);
}
