/*
 * acost.h -- the time the real allocator takes, per thread and allocation stack (issue 16's
 * "measured allocator cost"): the hooks read the cycle counter (tsc.h) around the real call
 * and add the ns here; the totals reach the trace as PS_REC_ALLOC_COST records
 * (trace_format.h), one per (thread, stack, kind), so the trace grows by the number of sites,
 * not of events.
 *
 * Only one call in PS_COST_PERIOD (16), at random, is timed (acost_begin/acost_end: two
 * counter reads, ~40 ns each on a VM, 22 ns on the reference Xeon VM); every call is counted,
 * and the record's total is the timed calls' ns scaled to all of them. (One in 8 until issue
 * 18's hook4 work: the two rdtsc were the largest single stall of the hooks, ~15% of the app
 * thread's samples in them on churn_bench 1 4000000 12 50, perf; a timed call costs ~58 ns
 * with its bookkeeping. A site's estimate now rests on half as many timed calls: its relative
 * error grows by sqrt(2), small for the sites with the calls that matter.) The two reads are
 * ordered (tsc.h tsc_begin_ordered, tsc_end_ordered: a fence after the first, before the
 * second), the intervals summed in ticks and the timer's mean taken off the sum
 * (acost_total_ns): with plain reads and the timer's median taken off each interval, on an
 * AMD EPYC VM whose counter advances in ~22-tick steps, a ~4 ns malloc measured 0 and
 * scripts/bench-advice's pool estimate was 15x low (2 of 5 kinds within 2x, ranking
 * wrong); now 5 of 5 within 1.31x, ranking right, for ~1-2% more recording time on churn.
 * An untimed call costs a decrement and branch (the
 * countdown to the next timed call), then one add: for an allocation whose stack came from
 * the stack cache, to the cache entry's count (rec_stack_untimed, rec_stack_alloc; moved
 * into the table when the entry is replaced, rec_stack_walk, or flushed), else the table's
 * bump of its (stack, kind); for a release, to st->cost_rel_calls (issue 18: ~60 -> ~30
 * instructions per malloc and free pair, callgrind).
 *
 * Contract: acost_add() is a hot-path inline called by the thread that owns st, guard set:
 * no lock, no allocation after the thread's first call (which maps its table, imem). A table
 * holds ACOST_SLOTS (stack, kind) pairs; later pairs are summed into stack 0 of their kind
 * (counted as such: the totals stay exact, only their attribution is coarser).
 * acost_flush() writes st's totals (the untimed releases' count folded into the release
 * entry) into `out`'s stream and empties st's table: called by a
 * thread at its exit (st == out), and at the trace's end for every thread still registered
 * (out: the thread ending the trace; a thread still running meanwhile may lose the calls it
 * adds during the flush). acost_free() releases the table (with its tstate).
 */
#ifndef PERFSHIM_ACOST_H
#define PERFSHIM_ACOST_H

#include <stdint.h>

#include "perfshim/compiler.h"
#include "perfshim/trace_format.h"
#include "tsc.h"
#include "tstate.h"

#define ACOST_SLOTS 1024u /* (stack, kind) pairs per thread: 132 KiB of address space */

typedef struct acost_ent_s {
    uint32_t key; /* stack id * 2 + kind, + 1; 0: empty */
    uint32_t pad;
    uint64_t calls, ticks, sampled; /* ticks: of the sampled calls, the timer's own included
                                     * (acost_put takes off tsc_empty_ticks256 a call) */
    uint32_t hist[PS_COST_BUCKETS];
} acost_ent_t; /* 128 bytes */

/* A call's duration (acost_end: counter ticks, the timer's own included) when it was not
 * timed (acost_begin said 0). */
#define ACOST_UNTIMED UINT64_MAX

typedef struct acost_s {
    uint32_t used;
    acost_ent_t ent[ACOST_SLOTS];
} acost_t;

PS_NOINLINE void acost_add_slow(tstate_t *st, uint32_t key, uint64_t ns);
/* calls untimed allocations of stack: from a stack cache entry's count (rec_stack_alloc),
 * when the entry is refilled or flushed; by the thread that owns st. */
void acost_add_calls(tstate_t *st, uint32_t stack, uint64_t calls);
void acost_flush(tstate_t *st, tstate_t *out);
void acost_free(tstate_t *st);

static PS_ALWAYS_INLINE void acost_bump(acost_ent_t *e, uint64_t ticks)
{
    e->calls++;
    if (PS_LIKELY(ticks == ACOST_UNTIMED))
        return;
    e->sampled++;
    e->ticks += ticks;
    uint64_t ns = tsc_ticks_ns(ticks); /* the histogram's: one call's, the timer's taken off */
    ns = ns > tsc_empty_ns ? ns - tsc_empty_ns : 0;
    unsigned b = ns < 2 ? 0u : 63u - (unsigned)__builtin_clzll(ns);
    e->hist[b < PS_COST_BUCKETS ? b : PS_COST_BUCKETS - 1]++;
}

/* Whether to time this call: at random, one in PS_COST_PERIOD, each call independently of
 * the others (a period would alias with the app's patterns). Drawn as a countdown: the
 * number of calls up to the next timed one is geometric (acost_pick_slow draws it when the
 * countdown ends, from PS_COST_PERIOD's bits of a 64-bit xorshift), the same process as a
 * draw per call for one decrement and branch per call. acost_begin, before a real call: the
 * counter's value if so, else 0. */
PS_NOINLINE int acost_pick_slow(tstate_t *st);
static PS_ALWAYS_INLINE int acost_pick(tstate_t *st)
{
#if defined(__x86_64__) || defined(__i386__)
    _Bool more; /* one subtract from memory and a branch on its flags */
    __asm__("subl $1, %0" : "+m"(st->cost_skip), "=@ccg"(more));
    if (PS_LIKELY(more))
        return 0;
#else
    if (PS_LIKELY(--st->cost_skip > 0))
        return 0;
#endif
    return acost_pick_slow(st);
}
_Static_assert((PS_COST_PERIOD & (PS_COST_PERIOD - 1)) == 0, "a power of two");
/* The counter's value for a call acost_pick chose (never 0: 0 says "not timed"). Ordered
 * reads (tsc.h tsc_begin_ordered, tsc_end_ordered): the call's work cannot overlap the
 * timer's. */
static PS_ALWAYS_INLINE uint64_t acost_begin_timed(void)
{
    const uint64_t c = tsc_begin_ordered();
    return c ? c : 1u;
}
static PS_ALWAYS_INLINE uint64_t acost_begin(tstate_t *st)
{
    return PS_LIKELY(!acost_pick(st)) ? 0 : acost_begin_timed(); /* never 0 when timed */
}

/* After it: the interval in counter ticks, the timer's own cost included, or ACOST_UNTIMED.
 * That cost (tsc_empty_ticks256: what an empty interval takes on average) is taken off the
 * total of the timed calls (acost_put), not off each: a counter that advances in steps (a
 * VM's, ~10 ns) makes each interval 0 or 1 step more or less than the call, and only the
 * sum stays unbiased (taken off each and clamped at 0, a 4 ns malloc measured 0). */
static PS_ALWAYS_INLINE uint64_t acost_end(uint64_t c0)
{
    if (PS_LIKELY(c0 == 0))
        return ACOST_UNTIMED;
    const uint64_t c1 = tsc_end_ordered();
    return c1 > c0 ? c1 - c0 : 0;
}

/* The ns of calls calls, from sampled timed ones that took ticks in all (acost_end's, the
 * timer's own included): the timer's mean (tsc_empty_ticks256 a timed call) taken off the
 * total, the rest in ns and scaled to every call; 0 if none was timed. */
static inline uint64_t acost_total_ns(uint64_t ticks, uint64_t sampled, uint64_t calls)
{
    if (!sampled)
        return 0;
    const unsigned __int128 t = (unsigned __int128)ticks * 256u,
                            timer = (unsigned __int128)sampled * tsc_empty_ticks256;
    const uint64_t net = t > timer ? (uint64_t)((t - timer) / 256u) : 0;
    return (uint64_t)((unsigned __int128)tsc_ticks_ns(net) * calls / sampled);
}

/* kind: PS_COST_ALLOC or PS_COST_RELEASE; ns: the real call's interval in counter ticks
 * (acost_end), or ACOST_UNTIMED. */
static PS_ALWAYS_INLINE void acost_add(tstate_t *st, uint32_t kind, uint32_t stack, uint64_t ns)
{
    uint32_t key = stack * 2u + kind + 1u;
    acost_t *a = st->acost;
    if (PS_LIKELY(a != NULL)) {
        acost_ent_t *e = &a->ent[(key * 0x9e3779b1u) >> (32 - 10)];
        if (PS_LIKELY(e->key == key)) {
            acost_bump(e, ns);
            return;
        }
    }
    acost_add_slow(st, key, ns);
}

/* A release (stack 0): one add when it was not timed; acost_flush moves the count into the
 * table's (0, PS_COST_RELEASE) entry. */
static PS_ALWAYS_INLINE void acost_add_release(tstate_t *st, uint64_t ns)
{
    if (PS_LIKELY(ns == ACOST_UNTIMED))
        st->cost_rel_calls++;
    else
        acost_add(st, PS_COST_RELEASE, 0, ns);
}
_Static_assert(ACOST_SLOTS == 1024u, "acost_add's hash takes 10 bits");

#endif /* PERFSHIM_ACOST_H */
