/*
 * stamp.h -- heap events' timestamps: a clock read per run of events, not per event (issue 18).
 *
 * Contract: a heap event's timestamp is its thread's floor, the last exact clock read
 * (prim_now_ns) of that thread, unless stamp_now() takes a new one: when the thread has made
 * stamp_every events since its last one (PERFSHIM_CLOCK_EVERY; 1: every event exact), or when
 * time moved on (the staleness word, below, changed since). So a stamp is never later than
 * the event and at most stamp_every events and ~1 ms behind it (4 ms while the process has no
 * writer thread). A thread's stamps never decrease.
 *
 * Cross-thread order of one address is exact, by the live set (liveset.h): every alloc and
 * free of an address goes through its shard's exclusion (the lock, or its owner's way in: an
 * owned shard is revoked before another thread enters it), and stamp_guard() runs inside it:
 * the shard keeps the largest stamp of its events (ts) and the thread that made it (who). An
 * event of another thread must be stamped in a later time quantum (2^STAMP_Q ns, the unit the
 * trace keeps: writer.c's PS_WRITER_TIME_Q) than the shard's: if its floor is not, it takes an
 * exact read, raised to the quantum after the shard's stamp when the clock has not got there.
 * A free of X by thread A leaves the shard before the real free, so B's later insert of X
 * sees A's stamp and sorts after it in the analyzer's merge, whatever B's floor was; the
 * same the other way. (Within one thread the stream's order holds, so nothing is needed.)
 * Everything that stamps events without the live set (PERFSHIM_LEAK_CHECK=0, sampled mode)
 * reads the clock every event instead: options_derive sets stamp_every to 1.
 *
 * Staleness word: stamp_tick, advanced every STAMP_TICK_NS by the writer thread while threads
 * make heap events (one relaxed load an event, ~1 ns; "make": a thread read the clock because
 * the word changed, within the writer's own period, PERFSHIM_RSS_MS or PERFSHIM_FLUSH_MS,
 * 10 ms by default), and at that period when none did: waking every 1 ms cost ~11 us of CPU a
 * wake-up on the reference VM, 1% of a core in an idle program. So the first events after an
 * idle stretch may take floors up to that period stale (at most PERFSHIM_CLOCK_EVERY of them)
 * until the next advance. 0 while there is no writer thread (a
 * process that has not had a second thread), where the thread reads CLOCK_MONOTONIC_COARSE
 * instead (its 4 ms resolution; ~10 ns a read here against ~30-50 for CLOCK_MONOTONIC).
 */
#ifndef PERFSHIM_STAMP_H
#define PERFSHIM_STAMP_H

#include <stdint.h>
#include <time.h>

#include "perfshim/compiler.h"
#include "prim.h"

#define STAMP_Q 6u /* the trace's time unit, 2^6 ns (writer.c asserts it is PS_WRITER_TIME_Q) */
#define STAMP_TICK_NS 1000000u /* the writer thread's staleness tick: 1 ms */

/* A thread's clock (in tstate_t, owned by its thread). Zero: the next event reads the clock. */
typedef struct stamp_clock_s {
    uint64_t floor; /* the thread's last stamp: its last exact read, or a guard's raise */
    uint64_t tick;  /* stamp_tick (or the coarse clock) at the last exact read */
    uint32_t left;  /* events that may still take the floor */
} stamp_clock_t;

extern PS_HIDDEN uint64_t stamp_tick;  /* 0: no writer thread (the coarse clock instead) */
extern PS_HIDDEN uint32_t stamp_every; /* events per exact read (1: every event) */
extern PS_HIDDEN int stamp_guard_on;   /* 0 only for tests (PERFSHIM_CLOCK_GUARD=0) */

/* The exact read (out of line): floor = max(floor, now). */
PS_NOINLINE uint64_t stamp_exact(stamp_clock_t *c, uint64_t tick);

static PS_ALWAYS_INLINE uint64_t stamp_coarse(void)
{
    struct timespec t;
    __atomic_load_n(&prim_vdso_cgt, __ATOMIC_RELAXED)(CLOCK_MONOTONIC_COARSE, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Whether a heap event may take the thread's floor (c->floor): 1, or 0 when it must read the
 * clock (stamp_exact(c, *tk)). */
static PS_ALWAYS_INLINE int stamp_floor_ok(stamp_clock_t *c, uint64_t *tk)
{
    uint64_t t = __atomic_load_n(&stamp_tick, __ATOMIC_RELAXED);
    if (PS_UNLIKELY(!t))
        t = stamp_coarse();
    *tk = t;
    /* left counted down first, in memory (one subtract and a branch on its borrow: left was
     * 0); the exact read sets it anew, so a decrement before a mismatched tick is harmless
     * (issue 18: 11 -> 8 instructions an event) */
#if defined(__x86_64__) || defined(__i386__)
    _Bool none;
    __asm__("subl $1, %0" : "+m"(c->left), "=@ccc"(none));
#else
    const _Bool none = c->left-- == 0;
#endif
    return PS_LIKELY(!none && t == c->tick);
}

/* A heap event's timestamp before the live set's guard: the floor, or an exact read. */
static PS_ALWAYS_INLINE uint64_t stamp_now(stamp_clock_t *c)
{
    uint64_t tk;
    if (PS_LIKELY(stamp_floor_ok(c, &tk)))
        return c->floor;
    return stamp_exact(c, tk);
}

/* The thread's floor after an event stamped ts (>= the floor: stamp_guard only raises). */
static PS_ALWAYS_INLINE void stamp_set(stamp_clock_t *c, uint64_t ts)
{
    c->floor = ts;
}

/* A live-set shard's side of the guard (liveset.c keeps the two fields in its shard). */
PS_NOINLINE uint64_t stamp_guard_slow(uint64_t *s_ts, uint32_t *s_who, uint64_t ts, uint32_t who);

/* Under the shard's lock: the stamp of an event of thread `who` (nonzero: liveset's tid bits)
 * whose floor or exact read is ts; the shard's (s_ts, s_who) become this event's. Same thread
 * and not behind: the stamp is ts (two loads, a compare, a store). */
static PS_ALWAYS_INLINE uint64_t stamp_guard(uint64_t *s_ts, uint32_t *s_who, uint64_t ts,
                                             uint32_t who)
{
    if (PS_LIKELY(who == *s_who && ts >= *s_ts)) {
        *s_ts = ts;
        return ts;
    }
    return stamp_guard_slow(s_ts, s_who, ts, who);
}

/* The writer thread's side: started (a fresh nonzero value), advanced, stopped (0). The
 * advance returns 1 when a thread read the clock because of the word since the last advance
 * (the threads are making heap events: the next advance in STAMP_TICK_NS), 0 when none did
 * (idle: the writer may wait its own period; the word changed, so each thread's next event
 * reads the clock, and its floors are then at most that period stale until the next advance). */
void stamp_tick_start(void);
int stamp_tick_advance(void);
void stamp_tick_stop(void);

#endif /* PERFSHIM_STAMP_H */
