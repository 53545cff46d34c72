/*
 * sampling.h -- the probability behind a sampled trace (PERFSHIM_SAMPLE_BYTES=N,
 * docs/trace-format.md): an allocation of s bytes is recorded with p(s) = 1 - exp(-(s + 1)/N),
 * so one sample stands for 1/p(s) allocations and s/p(s) bytes (Horvitz-Thompson). The shim
 * weighs its lock-table counts with it (preload/sampled.c), the analyzer its estimates
 * (analyzer/analyses/replay.c): one formula for both.
 *
 * Contract: pure, inline, libm-free (the shim links no libm); ps_one_minus_exp_neg(x) for
 * x >= 0, relative error < 1e-15 below 0.5 (a Taylor series, no cancellation), else
 * exp(-x) = 2^-k exp(-r) with |r| <= ln 2 / 2.
 */
#ifndef PERFSHIM_SAMPLING_H
#define PERFSHIM_SAMPLING_H

#include <stdint.h>

static inline double ps_one_minus_exp_neg(double x)
{
    if (x < 0.5) {
        double t = x, s = 0;
        for (int k = 1; k <= 16; k++) { /* x - x^2/2! + x^3/3! ... */
            s += t;
            t *= -x / (k + 1);
        }
        return s;
    }
    if (x > 700)
        return 1.0;
    double k = (double)(long)(x / 0.69314718055994530942 + 0.5);
    double r = x - k * 0.69314718055994530942, t = 1, e = 0;
    for (int i = 1; i <= 20; i++) { /* exp(-r) */
        e += t;
        t *= -r / i;
    }
    for (long i = 0; i < (long)k; i++)
        e *= 0.5;
    return 1.0 - e;
}

/* p(s) of a trace sampled with mean n bytes (n > 0). */
static inline double ps_sample_p(uint64_t size, double n)
{
    return ps_one_minus_exp_neg(((double)size + 1.0) / n);
}

#endif /* PERFSHIM_SAMPLING_H */
