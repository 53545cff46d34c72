/*
 * ilock.h -- the shim's internal lock: a three-state futex mutex (Drepper, "Futexes are
 * tricky"). Never a pthread lock: those are the calls perfshim interposes.
 *
 * Contract: zero-initialized is unlocked; not recursive; never allocates; callable from any
 * hook. Holders must not unwind, allocate through the app's heap, or block on I/O of
 * unbounded length. ilock_reset() is for a fork child only.
 */
#ifndef PERFSHIM_ILOCK_H
#define PERFSHIM_ILOCK_H

#include "perfshim/compiler.h"
#include "prim.h"

typedef struct ilock_s {
    int v; /* 0 free, 1 locked, 2 locked with waiters */
} ilock_t;

static inline void ilock_lock(ilock_t *l)
{
    int c = 0;
    if (PS_LIKELY(__atomic_compare_exchange_n(&l->v, &c, 1, 0, __ATOMIC_ACQUIRE,
                                              __ATOMIC_RELAXED)))
        return;
    if (c != 2)
        c = __atomic_exchange_n(&l->v, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        prim_futex_wait(&l->v, 2, 0);
        c = __atomic_exchange_n(&l->v, 2, __ATOMIC_ACQUIRE);
    }
}

static inline int ilock_trylock(ilock_t *l)
{
    int c = 0;
    return __atomic_compare_exchange_n(&l->v, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void ilock_unlock(ilock_t *l)
{
    if (__atomic_exchange_n(&l->v, 0, __ATOMIC_RELEASE) == 2)
        prim_futex_wake(&l->v, 1);
}

static inline void ilock_reset(ilock_t *l)
{
    l->v = 0;
}

#endif /* PERFSHIM_ILOCK_H */
