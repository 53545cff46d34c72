/*
 * spsc_ring.h -- a single-producer, single-consumer ring of pointers, for test programs whose
 * threads hand blocks to each other (tests/stress/churn.c, tests/workloads/handoff.c).
 *
 * Contract: define RING (slots a ring holds) before including; a zeroed ring_t is empty; one
 * thread pushes, one pops. ring_push returns 0 when the ring is full, ring_pop NULL when empty.
 */
#ifndef PERFSHIM_TESTS_SPSC_RING_H
#define PERFSHIM_TESTS_SPSC_RING_H

#include <stdatomic.h>
#include <stddef.h>

#ifndef RING
#error "define RING before including spsc_ring.h"
#endif

typedef struct ring_s {
    _Atomic size_t head, tail;
    void *slot[RING];
} ring_t;

static int ring_push(ring_t *r, void *p)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&r->head, memory_order_acquire) == RING)
        return 0;
    r->slot[t % RING] = p;
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return 1;
}

static void *ring_pop(ring_t *r)
{
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h == atomic_load_explicit(&r->tail, memory_order_acquire))
        return NULL;
    void *p = r->slot[h % RING];
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return p;
}

#endif /* PERFSHIM_TESTS_SPSC_RING_H */
