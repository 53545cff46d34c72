/* tsc.c -- see tsc.h. */
#include <config.h>

#include "tsc.h"

#include <string.h>

#include "log.h"

int tsc_ok;
uint64_t tsc_mult = 1ull << 32;
uint64_t tsc_empty_ns;

/* The kernel says whether the counter ticks at one rate on every CPU, in every C-state. */
static int tsc_invariant(void)
{
    static char buf[8192]; /* the first CPU's flags line is early in the file */
    ssize_t n = prim_read_file("/proc/cpuinfo", buf, sizeof buf - 1);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *flags = strstr(buf, "\nflags");
    if (!flags)
        return 0;
    char *eol = strchr(flags + 1, '\n');
    if (eol)
        *eol = 0;
    return strstr(flags, " constant_tsc") && strstr(flags, " nonstop_tsc");
}

/* The timer's own cost in a timed interval: the median of TSC_EMPTY_N empty intervals (two
 * tsc_now() back to back, as acost_begin/acost_end make them around a call; a median, so that
 * a preempted sample does not move it), the least of TSC_EMPTY_BATCHES such medians (a batch
 * that ran while something slowed the core, an SMT sibling, is not the steady cost). A few us
 * in all; sorted by insertion (qsort may call malloc, and this runs in the shim's init). */
#define TSC_EMPTY_N 255
#define TSC_EMPTY_BATCHES 3
static uint64_t empty_median(void)
{
    uint64_t d[TSC_EMPTY_N];
    for (unsigned i = 0; i < TSC_EMPTY_N; i++) {
        uint64_t c0 = tsc_now();
        __asm__ volatile("" ::: "memory");
        uint64_t x = tsc_delta_ns(c0, tsc_now());
        unsigned j = i;
        for (; j > 0 && d[j - 1] > x; j--)
            d[j] = d[j - 1];
        d[j] = x;
    }
    return d[TSC_EMPTY_N / 2];
}

static void tsc_calibrate(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (__atomic_load_n(&tsc_ok, __ATOMIC_ACQUIRE))
        return; /* calibrated already */
    if (!tsc_invariant()) {
        PS_LOG(2, "no invariant TSC: timestamps and lock hold times use clock_gettime");
        return;
    }
    uint32_t lo, hi;
    uint64_t n0 = prim_mono_ns(), n1;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    uint64_t c0 = ((uint64_t)hi << 32) | lo, c1;
    do { /* ~100 us: the two clock reads' error (~30 ns each) stays below 0.1 % */
        n1 = prim_mono_ns();
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        c1 = ((uint64_t)hi << 32) | lo;
    } while (n1 - n0 < 100000);
    if (c1 <= c0)
        return;
    tsc_mult = (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (c1 - c0));
    __atomic_store_n(&tsc_ok, 1, __ATOMIC_RELEASE);
#if PRIM_TSC_CLOCK
    prim_clock_start(tsc_mult); /* every record's timestamp from here on (prim.h) */
#endif
    PS_LOG(3, "TSC: %llu ticks in %llu ns", (unsigned long long)(c1 - c0),
           (unsigned long long)(n1 - n0));
#endif
}

void tsc_init(void)
{
    tsc_calibrate();
    uint64_t best = UINT64_MAX;
    for (unsigned b = 0; b < TSC_EMPTY_BATCHES; b++) {
        uint64_t m = empty_median();
        best = m < best ? m : best;
    }
    tsc_empty_ns = best;
    PS_LOG(3, "timer: an empty timed interval takes %llu ns", (unsigned long long)best);
}
