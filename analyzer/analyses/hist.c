/*
 * hist.c -- see hist.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/hist.h"

void replay_hist_merge(replay_hist_t *into, const replay_hist_t *from)
{
    for (unsigned b = 0; b < REPLAY_HIST_BUCKETS; b++)
        into->count[b] += from->count[b];
    into->n += from->n;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t replay_hist_quantile(const replay_hist_t *h, double q)
{
    if (h->n == 0)
        return 0;
    /* rank of the quantile, 1-based, rounded up: p50 of 1..4 is the 2nd value */
    double want = q * (double)h->n;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < REPLAY_HIST_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= rank) {
            uint64_t hi = b == 0 ? 0 : b >= 64 ? UINT64_MAX : (1ull << b) - 1;
            return hi < h->max ? hi : h->max;
        }
    }
    return h->max;
}
