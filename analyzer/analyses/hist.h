/*
 * hist.h -- log2 histograms of sizes, lifetimes and wait/hold times, shared by the heap
 * replay (replay.h) and the lock analysis (locks.h).
 *
 * Contract: plain data, no allocation. replay_hist_quantile: the value at quantile q (0..1):
 * the upper bound of the bucket that holds it, clamped to the exact maximum; 0 for an empty
 * histogram.
 */
#ifndef PERFSHIM_HIST_H
#define PERFSHIM_HIST_H

#include <stdint.h>

#define REPLAY_HIST_BUCKETS 65 /* log2 buckets: 0 holds the value 0, b >= 1 holds [2^(b-1), 2^b) */

typedef struct replay_hist_s {
    uint64_t count[REPLAY_HIST_BUCKETS];
    uint64_t n, max;
} replay_hist_t;

uint64_t replay_hist_quantile(const replay_hist_t *h, double q);

/* Adds v (inline: the replay adds three values per heap event). */
static inline void replay_hist_add(replay_hist_t *h, uint64_t v)
{
    /* (63 ^ clz is the top bit's index, one bsr: GCC leaves 64 - clz as bsr, xor and sub) */
    h->count[v == 0 ? 0u : 1u + (63u ^ (unsigned)__builtin_clzll(v))]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}
/* replay_hist_add without n, for a caller that counts the values anyway and sets n from its
 * count before the histogram is read (the heap replay: a site's allocations, its frees). */
static inline void replay_hist_put(replay_hist_t *h, uint64_t v)
{
    h->count[v == 0 ? 0u : 1u + (63u ^ (unsigned)__builtin_clzll(v))]++;
    if (v > h->max)
        h->max = v;
}

/* replay_hist_put of a value known not to be 0. */
static inline void replay_hist_put_nz(replay_hist_t *h, uint64_t v)
{
    h->count[1u + (63u ^ (unsigned)__builtin_clzll(v))]++;
    if (v > h->max)
        h->max = v;
}

void replay_hist_merge(replay_hist_t *into, const replay_hist_t *from);

#endif /* PERFSHIM_HIST_H */
