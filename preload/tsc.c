/* tsc.c -- see tsc.h. */
#include <config.h>

#include "tsc.h"

#include <string.h>

#include "log.h"

int tsc_ok;
uint64_t tsc_mult = 1ull << 32;
uint64_t tsc_empty_ticks256;
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

/* The timer's own cost in a timed interval: the mean of TSC_EMPTY_N empty intervals (two
 * tsc_begin_ordered() and tsc_end_ordered(), as acost_begin/acost_end make them around a call), its
 * slowest tenth left out (a preempted or interrupted sample), x256; the median of
 * TSC_EMPTY_BATCHES such means. Where the counter advances in steps, back-to-back samples in
 * a loop lock onto the steps' phase (every sample of a batch 45.00 ticks, another batch
 * 49.6, on an AMD EPYC VM): a spin of a random length before each sample spreads them over
 * the phase, as timed calls spread over a run. A few us in all; sorted by insertion (qsort
 * may call malloc, and this runs in the shim's init). */
#define TSC_EMPTY_N 255
#define TSC_EMPTY_BATCHES 5
static uint64_t empty_mean256(uint64_t *rng)
{
    uint64_t d[TSC_EMPTY_N];
    for (unsigned i = 0; i < TSC_EMPTY_N; i++) {
        *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
        for (volatile unsigned k = (unsigned)(*rng & 63u); k; k--)
            ;
        uint64_t c0 = tsc_begin_ordered();
        uint64_t c1 = tsc_end_ordered();
        uint64_t x = c1 > c0 ? c1 - c0 : 0;
        unsigned j = i;
        for (; j > 0 && d[j - 1] > x; j--)
            d[j] = d[j - 1];
        d[j] = x;
    }
    const unsigned keep = TSC_EMPTY_N - TSC_EMPTY_N / 10;
    uint64_t sum = 0;
    for (unsigned i = 0; i < keep; i++)
        sum += d[i];
    return sum * 256u / keep;
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
    uint64_t m[TSC_EMPTY_BATCHES], rng = tsc_now() | 1u;
    for (unsigned b = 0; b < TSC_EMPTY_BATCHES; b++) {
        uint64_t x = empty_mean256(&rng);
        unsigned j = b;
        for (; j > 0 && m[j - 1] > x; j--)
            m[j] = m[j - 1];
        m[j] = x;
    }
    const uint64_t best = m[TSC_EMPTY_BATCHES / 2];
    tsc_empty_ticks256 = best;
    tsc_empty_ns = (tsc_ticks_ns(best) + 128) / 256;
    PS_LOG(3, "timer: an empty timed interval takes %llu.%02llu ticks, %llu ns",
           (unsigned long long)(best / 256), (unsigned long long)(best % 256 * 100 / 256),
           (unsigned long long)tsc_empty_ns);
}
