/* Unit tests of preload/acost.h's totals (issue 16's measured allocator time): the timed
 * calls' ticks less the timer's mean, in ns, scaled to every call. A counter that advances in
 * steps (a VM's: ~22 ticks here) makes each interval a whole number of steps, 0 or 1 more or
 * less than the call; from a uniform phase the sum is unbiased, and acost_total_ns must keep
 * it so: simulated 4 ns calls under a 20-tick step and a 47-tick timer come out at 4 ns, where
 * taking the timer off each interval and clamping at 0 (the old way) made 7.15. */
#include <stdint.h>
#include <string.h>

#include "acost.h"
#include "test.h"
#include "tsc.h"

/* A counter of 20-tick steps at time t (ticks). */
static uint64_t stepped(uint64_t t)
{
    return t / 20u * 20u;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

TEST(stepped_counter_sum_unbiased)
{
    tsc_mult = 1ull << 32; /* a tick a ns */
    tsc_empty_ticks256 = 47u * 256u;
    tsc_empty_ns = 47;
    const uint64_t n = 200000, call = 4, timer = 47;
    uint64_t ticks = 0, clamped = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = 1000000 + next() % 20u; /* a uniform phase */
        uint64_t d = stepped(t0 + timer + call) - stepped(t0);
        ticks += d;
        clamped += d > timer ? d - timer : 0;
    }
    /* sampled n of 16 n calls: scaled by 16 */
    uint64_t ns = acost_total_ns(ticks, n, 16 * n);
    expect_true(ns >= 16 * n * call * 98 / 100 && ns <= 16 * n * call * 102 / 100);
    expect_true(clamped > n * call * 150 / 100); /* the old way: far off */
    expect_u64_eq(acost_total_ns(ticks, 0, 16 * n), 0);            /* none timed */
    expect_u64_eq(acost_total_ns(n * 40, n, n), 0);                /* all below the timer */
}

TEST(ticks_scaled_to_ns)
{
    tsc_mult = (1ull << 32) / 2; /* two ticks a ns */
    tsc_empty_ticks256 = 10u * 256u;
    /* 1000 timed calls of 110 ticks: 100 ticks each net, 50 ns; 4000 calls in all */
    expect_u64_eq(acost_total_ns(110000, 1000, 4000), 4000u * 50u);
    /* a fractional timer mean: 10.5 ticks */
    tsc_empty_ticks256 = 10u * 256u + 128u;
    expect_u64_eq(acost_total_ns(110500, 1000, 1000), 50000u);
}

TEST_MAIN(TEST_ENTRY(stepped_counter_sum_unbiased), TEST_ENTRY(ticks_scaled_to_ns))
