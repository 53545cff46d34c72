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
/* What an empty timed interval takes (tsc_begin_ordered(), tsc_end_ordered()), measured by
 * tsc_init (0 before): its mean in ticks x 256 (a timed call's total takes off its calls'
 * share: acost.c), and in whole ns (a single call's, for its histogram bucket). A mean, not
 * a median: a virtual machine's counter may advance in steps (here ~22 ticks, ~10 ns), and
 * only means of quantized intervals stay unbiased. */
extern PS_HIDDEN uint64_t tsc_empty_ticks256;
extern PS_HIDDEN uint64_t tsc_empty_ns;

void tsc_init(void);

/* NAME(): the counter read by INSNS (rdtsc, with fences) when tsc_ok, else CLOCK_MONOTONIC's
 * ns; the rest of the arguments the asm's clobbers. */
#if defined(__x86_64__) || defined(__i386__)
#define TSC_READER(NAME, INSNS, ...)                                                           \
    static PS_ALWAYS_INLINE uint64_t NAME(void)                                                \
    {                                                                                          \
        if (PS_LIKELY(tsc_ok)) {                                                               \
            uint32_t lo, hi;                                                                   \
            __asm__ volatile(INSNS : "=a"(lo), "=d"(hi) : : __VA_ARGS__);                      \
            return ((uint64_t)hi << 32) | lo;                                                  \
        }                                                                                      \
        return prim_now_ns();                                                                  \
    }
#else
#define TSC_READER(NAME, INSNS, ...)                                                           \
    static PS_ALWAYS_INLINE uint64_t NAME(void)                                                \
    {                                                                                          \
        return prim_now_ns();                                                                  \
    }
#endif

TSC_READER(tsc_now, "rdtsc")

/* The counter around a short call (acost.h): before it, rdtsc; lfence (nothing after the
 * read starts before it: the call cannot begin in the read's shadow); after it, lfence;
 * rdtsc (the read waits for the call to finish), as Intel's SDM and AMD's manual give them.
 * Between two plain reads a ~4 ns malloc overlapped the reads' own latency and measured 0 on
 * an AMD EPYC VM (issue 16's estimates 15x low there); with each read fenced only in front,
 * still 14x low (pool). Two fences a timed call (lfence on both sides of both reads: the same
 * estimates, ~4% more recording time on churn; these two: ~1%). */
TSC_READER(tsc_begin_ordered, "rdtsc\n\tlfence", "memory")
TSC_READER(tsc_end_ordered, "lfence\n\trdtsc", "memory")

/* ns of a number of ticks (a difference of two counter values). */
static PS_ALWAYS_INLINE uint64_t tsc_ticks_ns(uint64_t ticks)
{
    return (uint64_t)(((unsigned __int128)ticks * tsc_mult) >> 32);
}

/* ns between two tsc_now() values of one thread (0 if the counter went backwards). */
static PS_ALWAYS_INLINE uint64_t tsc_delta_ns(uint64_t t0, uint64_t t1)
{
    if (PS_UNLIKELY(t1 < t0))
        return 0;
    return (uint64_t)(((unsigned __int128)(t1 - t0) * tsc_mult) >> 32);
}

#endif /* PERFSHIM_TSC_H */
