/*
 * tsc.h -- the cheap clock of lock hold times: the CPU's time-stamp counter, scaled to ns.
 *
 * Contract: tsc_init() is called once during shim initialization (it spins ~100 us against
 * CLOCK_MONOTONIC to measure the counter's rate); before it, and on a CPU without an
 * invariant TSC (no constant_tsc + nonstop_tsc in /proc/cpuinfo), tsc_now() reads
 * CLOCK_MONOTONIC instead, so tsc_delta_ns() is always right, only slower. tsc_now() and
 * tsc_delta_ns() are hot-path inlines: no lock, no allocation, callable from any hook.
 * Differences are only meaningful between two reads of the same thread (hold times).
 * tsc_init also starts prim_now_ns's TSC clock (prim.h), the timestamps of every record:
 * the same counter mapped onto CLOCK_MONOTONIC.
 * Cost (measured on the reference AMD EPYC VM): rdtsc ~11 ns, clock_gettime ~28 ns.
 */
#ifndef PERFSHIM_TSC_H
#define PERFSHIM_TSC_H

#include <stdint.h>

#include "perfshim/compiler.h"
#include "prim.h"

extern PS_HIDDEN int tsc_ok;          /* 1 once calibrated on an invariant TSC */
extern PS_HIDDEN uint64_t tsc_mult;   /* ns per tick, 32.32 fixed point (1 << 32 when ticks are ns) */
/* ns an empty timed interval takes (two tsc_now() back to back), measured by tsc_init, 0
 * before: what a timed call's interval holds beyond the call (acost_end takes it off) */
extern PS_HIDDEN uint64_t tsc_empty_ns;

void tsc_init(void);

static PS_ALWAYS_INLINE uint64_t tsc_now(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (PS_LIKELY(tsc_ok)) {
        uint32_t lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        return ((uint64_t)hi << 32) | lo;
    }
#endif
    return prim_now_ns();
}

/* ns between two tsc_now() values of one thread (0 if the counter went backwards). */
static PS_ALWAYS_INLINE uint64_t tsc_delta_ns(uint64_t t0, uint64_t t1)
{
    if (PS_UNLIKELY(t1 < t0))
        return 0;
    return (uint64_t)(((unsigned __int128)(t1 - t0) * tsc_mult) >> 32);
}

#endif /* PERFSHIM_TSC_H */
