/*
 * locktab.h -- in-process aggregation of lock activity: per-thread site tables, the
 * per-thread stack of held locks, the shared per-lock table, lock-order edges, and the
 * emission of it all as trace records (trace_format.h, 0x30..0x3f).
 *
 * Contract: called only from hooks_lock.c (and the alloc recorder's locktab_note_alloc), with
 * the calling thread's hook guard set (hook_enter() returned st), except locktab_thread_exit()
 * and locktab_fini() which shim.c calls at thread exit and at the end.
 *
 * Data, and who writes it:
 *  - lock_tls (per thread, TLS): the held-lock stack and the site cache. Only its thread.
 *  - the thread's site table (imem, lazily mapped): one locksite_t per (lock address, call
 *    site = return address of the lock function). Only its thread writes; the end-of-run
 *    emission reads it. A site's full stack is unwound once, when the site is created.
 *  - lockinfo_t (shared, lock-free hash keyed by lock address, one cache line per lock): the
 *    last acquirer (for owner changes and the holder named in wait events), waiters now and
 *    at most. Written on the uncontended path only when the owner changes.
 *  - the edge set (shared, behind an ilock): taken only the first time a thread sees an
 *    edge (its own per-thread set answers every later time).
 * Nothing here takes a pthread lock or touches the app's heap. When a table is full the
 * acquisition is counted as "untracked" (PS_REC_LOCK_THREAD), never lost silently.
 *
 * Hot path (locktab_acquired + locktab_released, the uncontended pair): a site-cache compare
 * (or a per-thread hash probe), a few counter bumps, no atomics; on a sampled acquisition
 * two rdtsc and a histogram bump.
 */
#ifndef PERFSHIM_LOCKTAB_H
#define PERFSHIM_LOCKTAB_H

#include <stdint.h>

#include "perfshim/compiler.h"
#include "perfshim/trace_format.h"
#include "tstate.h"
#include "tsc.h"

#define LOCK_HELD_MAX 32

typedef struct lockinfo_s {
    uint64_t addr;        /* 0: free slot */
    uint32_t owner_tid;   /* last acquirer */
    uint32_t owner_stack; /* its site's stack */
    uint32_t waiters;     /* blocked now (atomic) */
    uint32_t max_waiters;
    uint8_t kind;
    /* the latest owners' sites by tid % 4: names the holder's site when a waiter reads the
     * holder's tid from the lock before the holder's hook published it as owner_tid */
    uint32_t recent_tid[4], recent_stack[4];
} PS_ALIGNED_CL lockinfo_t;

typedef struct locksite_s {
    uint64_t lock;
    uintptr_t ra;
    lockinfo_t *info;
    uint32_t stack;
    uint8_t kind;
    uint8_t ignored; /* called from the shim's own libraries (libunwind): never emitted */
    uint64_t acquisitions, contended, owner_changes, trylock_fail, timeouts, errors;
    uint64_t rd_acquisitions, wait_ns, wait_max_ns, hold_ns, hold_max_ns, allocs_held;
    uint64_t signals, broadcasts;
    uint32_t wait_hist[PS_LOCK_HIST];
    uint32_t hold_hist[PS_LOCK_HIST];
} locksite_t;

typedef struct lockheld_s {
    const void *lock;
    locksite_t *site;
    uint64_t t0;     /* tsc_now() at acquisition */
    uint64_t allocs; /* recorded allocations while held */
} lockheld_t;

typedef struct lockthr_s {
    uint32_t depth; /* valid entries in held[] */
    uint32_t tid;
    struct locksites_s *tab;
    locksite_t *last; /* the site of the latest acquisition */
    lockheld_t held[LOCK_HELD_MAX];
} lockthr_t;

extern PS_TLS lockthr_t lock_tls;
/* Holds are timed on 1 acquisition in (mask + 1) per site, the first one included
 * (PERFSHIM_LOCK_HOLD_SAMPLE rounded down to a power of two): two rdtsc (~11 ns each on the
 * reference machine) per pair would cost more than the rest of the hook, and both run inside
 * the critical section, so on a contended lock they would lengthen everyone's wait. */
extern uint64_t locktab_hold_mask;

void locktab_init(void);
/* The site (lock, ra) of this thread, created (stack unwound, info found) if new; NULL when a
 * table is full (then counted as untracked). */
PS_NOINLINE locksite_t *locktab_site(tstate_t *st, const void *lock, uintptr_t ra, int kind);
/* Owner changed: count it and publish this thread as the holder. */
PS_NOINLINE void locktab_new_owner(locksite_t *s);
/* Lock-order edges from every held lock to s's lock. */
PS_NOINLINE void locktab_edges(tstate_t *st, locksite_t *s);
PS_NOINLINE void locktab_release_slow(const void *lock);
void locktab_untracked(void);
void locktab_held_overflow(void);
/* Contended path: before blocking, counts this thread as a waiter and reads the holder. */
void locktab_wait_begin(locksite_t *s, const void *lock, uint32_t *holder_tid,
                        uint32_t *holder_stack, uint32_t *waiters);
/* After the blocking call returned rc (wait started at t0, CLOCK_MONOTONIC): updates the
 * site and writes the PS_REC_LOCK_WAIT event (rc 0 or ETIMEDOUT). */
void locktab_wait_end(tstate_t *st, locksite_t *s, const void *lock, int op, uint64_t t0,
                      uint32_t holder_tid, uint32_t holder_stack, uint32_t waiters, int rc);
/* pthread_*_init seen: writes PS_REC_LOCK_INIT with the caller's stack. */
void locktab_init_seen(tstate_t *st, const void *lock, int kind, uint32_t attr);
/* Emission: the exiting thread's sites (its own tstate); at the end every thread's. */
void locktab_thread_exit(tstate_t *st);
void locktab_fini(tstate_t *st);

/* Bucket of trace_format.h's PS_LOCK_HIST log2 histograms. */
static PS_ALWAYS_INLINE void locktab_hist_add(uint32_t *hist, uint64_t ns)
{
    unsigned b = ns ? 64u - (unsigned)__builtin_clzll(ns) : 0u;
    hist[b < PS_LOCK_HIST ? b : PS_LOCK_HIST - 1]++;
}

/* t0 0: this hold is not timed (sampled out). */
static PS_ALWAYS_INLINE void locktab_hold_push(const void *lock, locksite_t *s, int timed)
{
    lockthr_t *t = &lock_tls;
    uint32_t d = t->depth;
    if (PS_UNLIKELY(d >= LOCK_HELD_MAX)) {
        locktab_held_overflow();
        return;
    }
    t->held[d] = (lockheld_t){lock, s, timed ? tsc_now() : 0, 0};
    t->depth = d + 1;
}

/* The site of (lock, ra): the thread's latest site, else the table's. */
static PS_ALWAYS_INLINE locksite_t *locktab_find(tstate_t *st, const void *lock, uintptr_t ra,
                                                 int kind)
{
    locksite_t *s = lock_tls.last;
    if (PS_LIKELY(s && s->lock == (uint64_t)(uintptr_t)lock && s->ra == ra))
        return s;
    return locktab_site(st, lock, ra, kind);
}

/* Counts a successful acquisition at site s and starts its hold. */
static PS_ALWAYS_INLINE void locktab_count_acq(tstate_t *st, locksite_t *s, const void *lock,
                                               int read)
{
    lockthr_t *t = &lock_tls;
    s->acquisitions++;
    s->rd_acquisitions += (uint64_t)read;
    lockinfo_t *li = s->info;
    if (PS_UNLIKELY(li->owner_tid != t->tid || li->owner_stack != s->stack))
        locktab_new_owner(s);
    if (PS_UNLIKELY(t->depth != 0))
        locktab_edges(st, s);
    locktab_hold_push(lock, s, ((s->acquisitions - 1) & locktab_hold_mask) == 0);
}

/* A successful acquisition of `lock` from call site `ra`. */
static PS_ALWAYS_INLINE void locktab_acquired(tstate_t *st, const void *lock, uintptr_t ra,
                                              int kind, int read)
{
    locksite_t *s = locktab_find(st, lock, ra, kind);
    if (PS_LIKELY(s != NULL))
        locktab_count_acq(st, s, lock, read);
}

/* Before the real unlock: ends the hold of the latest acquisition of `lock`. */
static PS_ALWAYS_INLINE void locktab_released(const void *lock)
{
    lockthr_t *t = &lock_tls;
    uint32_t d = t->depth;
    if (PS_UNLIKELY(d == 0 || t->held[d - 1].lock != lock)) {
        locktab_release_slow(lock);
        return;
    }
    lockheld_t *h = &t->held[d - 1];
    locksite_t *s = h->site;
    s->allocs_held += h->allocs;
    t->depth = d - 1;
    if (!h->t0)
        return;
    uint64_t ns = tsc_delta_ns(h->t0, tsc_now());
    s->hold_ns += ns;
    if (ns > s->hold_max_ns)
        s->hold_max_ns = ns;
    locktab_hist_add(s->hold_hist, ns);
}

/* From the allocation recorders: one more allocation inside every held lock. */
static PS_ALWAYS_INLINE void locktab_note_alloc(void)
{
    lockthr_t *t = &lock_tls;
    for (uint32_t i = 0; i < t->depth; i++)
        t->held[i].allocs++;
}

#endif /* PERFSHIM_LOCKTAB_H */
