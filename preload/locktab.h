/*
 * locktab.h -- in-process aggregation of lock activity: per-thread site tables, the
 * per-thread stack of held locks, the shared per-lock table, lock-order edges, and the
 * emission of it all as trace records (trace_format.h, 0x30..0x3f).
 *
 * Contract: called only from hooks_lock.c (and the alloc recorders' locktab_note_alloc), with
 * the calling thread's hook guard set (hook_enter() returned st), except locktab_thread_exit(),
 * locktab_fini() and locktab_after_fork_child(), which shim.c calls, and
 * locktab_crash_records(), which crash.c calls.
 *
 * An acquisition, in order (hooks_lock.c):
 *   locktab_pre      before the real call: find the site (a new one is unwound here, before
 *                    the lock is taken) and push a held entry marked "not yet acquired";
 *   locktab_acquired the real call succeeded: count it, start the hold (rdtsc);
 *   locktab_undo     it failed (EBUSY, a timeout, an error): pop the entry again.
 * A release: locktab_release_begin finds the held entry and the hold's end (rdtsc) before the
 * real unlock; everything else (hold statistics, owner changes, a pending wait event) is done
 * by locktab_release_end after the real unlock, outside the critical section.
 *
 * Data, and who writes it:
 *  - lockthr_t (one per thread, from a pool that is never unmapped; lock_me points to it):
 *    the held-lock stack and the site cache. Only its thread writes. Other threads read the
 *    published fields (tid, depth, held[].lock/stack/t0) to name the holder's site when they
 *    wait: a mutex's holder tid comes from the mutex itself, its site from the holder's
 *    stack. These reads race with the holder by design; a stale read names no site (0).
 *  - the thread's site table (lazily mapped): one locksite_t per (lock, call site = return
 *    address of the lock function). Only its thread writes; emission at its exit or at the
 *    end reads it. A site's full stack is unwound once, when the site is created. With it,
 *    the thread's allocations under a lock by (innermost held lock, allocation stack): count
 *    and bytes (PS_REC_LOCK_ALLOC; a full table adds to one record with lock 0, stack 0).
 *  - lockinfo_t (shared, lock-free hash keyed by lock address, one cache line per lock): the
 *    latest releaser, for owner changes. Read after every release, outside the critical
 *    section; written only when the releaser changed.
 *  - the edge set (shared, behind an ilock): taken only the first time a thread sees an
 *    edge (its own per-thread set answers every later time).
 * Nothing here takes a pthread lock or touches the app's heap. When a table is full the
 * acquisition is counted as "untracked" (PS_REC_LOCK_THREAD), never lost silently.
 *
 * Cost inside the app's critical section, uncontended: the rdtsc that starts the hold and a
 * few stores to this thread's own lines (acquisition), the rdtsc that ends it (release). A
 * contended acquisition adds nothing shared: its LOCK_WAIT event is written after the
 * release. Max waiters are computed by the analyzer from the wait events' intervals.
 */
#ifndef PERFSHIM_LOCKTAB_H
#define PERFSHIM_LOCKTAB_H

#include <stdint.h>

#include "perfshim/compiler.h"
#include "perfshim/trace_format.h"
#include "tstate.h"
#include "tsc.h"
#include "writer.h"

#define LOCK_HELD_MAX 32

typedef struct lockinfo_s {
    uint64_t addr;       /* 0: free slot */
    uint32_t last_owner; /* tid of the latest releaser (its hold ended last) */
    uint8_t kind;
} PS_ALIGNED_CL lockinfo_t;

typedef struct locksite_s {
    uint64_t lock;
    uintptr_t ra;
    lockinfo_t *info;
    uint32_t stack;
    uint8_t kind;
    uint8_t ignored; /* called from the shim's own libraries (libunwind): never emitted */
#define PS_X(name, merge) uint64_t name;
    PS_LOCK_COUNTERS(PS_X) /* trace_format.h: what a LOCK_SITE record carries */
#undef PS_X
    uint32_t wait_hist[PS_LOCK_HIST];
    uint32_t hold_hist[PS_LOCK_HIST];
    uint64_t snap_sig; /* locktab_snapshot's: the counts at the last snapshot (reg_lock) */
} locksite_t;

typedef struct lockheld_s {
    uint64_t lock;    /* published (read by waiters) */
    uint32_t stack;   /* published: the acquisition site's stack */
    uint32_t idx;     /* its index in held[] (LOCK_HELD_MAX: the spare) */
    uint64_t t0;      /* published: tsc_now() at acquisition, 0 while not yet acquired */
    locksite_t *site;
    uint64_t allocs;  /* recorded allocations while held */
} lockheld_t;

/* A contended acquisition whose event waits for the release (lockthr_t.waited). */
typedef struct lockwait_s {
    uint64_t t_begin; /* tsc_now() when the trylock found the lock busy */
    uint32_t holder_tid, holder_stack;
    uint16_t op, pad[3];
} lockwait_t;

typedef struct lockthr_s {
    uint32_t tid;    /* published; 0: a free pool slot (or lock_none) */
    uint32_t depth;  /* published: valid entries in held[] */
    uint32_t waited; /* bit i: held[i] ended a wait whose event is pending in pend[i] */
    uint32_t slot;   /* index in the pool */
    struct locksites_s *tab;
    locksite_t *last; /* the site of the latest acquisition */
    lockheld_t spare; /* an acquisition past LOCK_HELD_MAX: counted, its hold not timed */
    lockheld_t held[LOCK_HELD_MAX];
    lockwait_t pend[LOCK_HELD_MAX];
} lockthr_t;

/* The calling thread's lock state; &lock_none (all zero, never written) until its first
 * tracked lock call. */
extern PS_TLS lockthr_t *lock_me;
extern lockthr_t lock_none;

/* Or'ed into the kind given to locktab_pre/find/site: the calling thread holds the lock already
 * (a condvar wait's mutex, taken again by the wait), so a new site there does no periodic work
 * (writer_tick_lock needs the thread outside every critical section). */
#define PS_LOCK_F_HELD 0x80

void locktab_init(void);
/* The site (lock, ra) of this thread, created (stack unwound, info found) if new; NULL when a
 * table is full (then counted as untracked). Sets lock_me on a thread's first call. */
PS_NOINLINE locksite_t *locktab_site(tstate_t *st, const void *lock, uintptr_t ra, int kind);
/* The held entry of an acquisition at site s past LOCK_HELD_MAX (t->spare). */
PS_NOINLINE lockheld_t *locktab_held_overflow(lockthr_t *t, locksite_t *s);
/* Lock-order edges from every lock held below h to h's lock. */
PS_NOINLINE void locktab_edges(tstate_t *st, lockthr_t *t, const lockheld_t *h);
/* The owner changed (lockinfo_t.last_owner was not this thread): count it, publish us. */
PS_NOINLINE void locktab_owner_change(locksite_t *s, uint32_t tid);
/* Release of a lock not on top of the held stack (or not held): its entry or NULL. */
PS_NOINLINE lockheld_t *locktab_release_find(lockthr_t *t, uint64_t lock);
/* The rest of a release whose entry is not the top one, or whose wait event is pending. */
PS_NOINLINE void locktab_release_slow(tstate_t *st, lockthr_t *t, lockheld_t *h, uint64_t t1);
/* locktab_release_end for the mutex a condvar wait is about to release (still held: never
 * the writer's periodic work here, see writer_tick_lock). */
PS_NOINLINE void locktab_release_cond(tstate_t *st, lockheld_t *h, uint64_t t1);
/* Contended path: before blocking, names the holder (tid and its site's stack). */
void locktab_wait_begin(const lockheld_t *h, int kind, lockwait_t *w);
/* After the blocking call returned rc. w: the wait that began (locktab_wait_begin), or NULL
 * when the trylock failed otherwise than EBUSY. An acquisition is counted and its wait event
 * made pending on h (written at the release); a timed-out wait's event is written now; any
 * other failure is an error. */
void locktab_wait_end(tstate_t *st, lockheld_t *h, const lockwait_t *w, int read, int rc);
/* pthread_*_init seen: writes PS_REC_LOCK_INIT with the caller's stack (ra: the caller, the
 * stack where unwinding is not safe). */
void locktab_init_seen(tstate_t *st, const void *lock, uintptr_t ra, int kind, uint32_t attr);
/* Emission: the exiting thread's sites (its own tstate); at the end every thread's. */
void locktab_thread_exit(tstate_t *st);
void locktab_fini(tstate_t *st);
/* Fatal signal (crash.c, async-signal-safe): passes the records of every thread's lock totals
 * (LOCK_SITE, LOCK_THREAD) to put, without zeroing them. Nothing when another thread holds the
 * table registry's lock. Waits still pending (locks not released yet) are not among them. */
void locktab_crash_records(writer_put_fn put);
/* Whether a snapshot of every thread's lock sites is due (every PS_LOCK_SNAPSHOT_FLUSHES flush
 * periods), and the snapshot: the LOCK_SITE records (aux | PS_LOCK_SITE_F_SNAPSHOT) of the sites
 * whose counts changed since the last one, passed to put (the writer's own stream). Skipped
 * when a thread is emitting or registering its table at that moment (reg_lock busy). */
int locktab_snapshot_due(void);
void locktab_snapshot(writer_append_fn put);
/* Fork child: forgets every thread's tables and the per-lock table (the child's trace starts
 * afresh, with new stack ids). */
void locktab_after_fork_child(void);

/* Bucket of trace_format.h's PS_LOCK_HIST log2 histograms. */
static PS_ALWAYS_INLINE void locktab_hist_add(uint32_t *hist, uint64_t ns)
{
    unsigned b = ns ? 64u - (unsigned)__builtin_clzll(ns) : 0u;
    hist[b < PS_LOCK_HIST ? b : PS_LOCK_HIST - 1]++;
}

/* The site of (lock, ra): the thread's latest one, else the table's (see locktab_site). */
static PS_ALWAYS_INLINE locksite_t *locktab_find(tstate_t *st, const void *lock, uintptr_t ra,
                                                 int kind)
{
    locksite_t *s = lock_me->last;
    if (PS_LIKELY(s && s->lock == (uint64_t)(uintptr_t)lock && s->ra == ra))
        return s;
    return locktab_site(st, lock, ra, kind);
}

/* Before the real acquisition call: the site of (lock, ra) and a held entry for it, pushed
 * as "not yet acquired" (so that a thread the lock names as its owner has always published
 * the entry). NULL when untracked. */
static PS_ALWAYS_INLINE lockheld_t *locktab_pre(tstate_t *st, const void *lock, uintptr_t ra,
                                                int kind)
{
    locksite_t *s = locktab_find(st, lock, ra, kind);
    if (PS_UNLIKELY(!s))
        return NULL;
    lockthr_t *t = lock_me; /* after the find, which sets it on the thread's first call */
    uint32_t d = t->depth;
    if (PS_UNLIKELY(d >= LOCK_HELD_MAX))
        return locktab_held_overflow(t, s);
    lockheld_t *h = &t->held[d];
    h->site = s;
    h->idx = d;
    h->allocs = 0;
    __atomic_store_n(&h->t0, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&h->stack, s->stack, __ATOMIC_RELAXED);
    __atomic_store_n(&h->lock, (uint64_t)(uintptr_t)lock, __ATOMIC_RELAXED);
    __atomic_store_n(&t->depth, d + 1, __ATOMIC_RELEASE);
    return h;
}

/* The real call did not acquire: pop h (the top entry, or the spare). */
static PS_ALWAYS_INLINE void locktab_undo(lockheld_t *h)
{
    if (PS_LIKELY(h->idx < LOCK_HELD_MAX))
        __atomic_store_n(&lock_me->depth, h->idx, __ATOMIC_RELEASE);
}

/* The real call acquired: count it and start the hold. */
static PS_ALWAYS_INLINE void locktab_acquired(tstate_t *st, lockheld_t *h, int read)
{
    locksite_t *s = h->site;
    s->acquisitions++;
    s->rd_acquisitions += (uint64_t)read;
    __atomic_store_n(&h->t0, tsc_now(), __ATOMIC_RELAXED);
    if (PS_UNLIKELY(h->idx != 0))
        locktab_edges(st, lock_me, h);
}

/* Before the real unlock: the held entry of `lock` (NULL: not held as far as we know). */
static PS_ALWAYS_INLINE lockheld_t *locktab_release_begin(const void *lock)
{
    lockthr_t *t = lock_me;
    uint32_t d = t->depth;
    if (PS_LIKELY(d != 0 && t->held[d - 1].lock == (uint64_t)(uintptr_t)lock))
        return &t->held[d - 1];
    return locktab_release_find(t, (uint64_t)(uintptr_t)lock);
}

/* The hold of h ended at t1: its statistics, and the owner change (after the real unlock). */
static PS_ALWAYS_INLINE void locktab_hold_end(const lockthr_t *t, const lockheld_t *h,
                                              uint64_t t1)
{
    locksite_t *s = h->site;
    uint64_t ns = tsc_delta_ns(h->t0, t1);
    s->hold_ns += ns;
    if (ns > s->hold_max_ns)
        s->hold_max_ns = ns;
    locktab_hist_add(s->hold_hist, ns);
    s->allocs_held += h->allocs;
    if (PS_UNLIKELY(__atomic_load_n(&s->info->last_owner, __ATOMIC_RELAXED) != t->tid))
        locktab_owner_change(s, t->tid);
}

/* After the real unlock: the hold of h (ended at t1, a tsc_now() taken before the unlock),
 * owner change, pending wait event; pops h. */
static PS_ALWAYS_INLINE void locktab_release_end(tstate_t *st, lockheld_t *h, uint64_t t1)
{
    lockthr_t *t = lock_me;
    uint32_t i = h->idx;
    if (PS_UNLIKELY(i + 1 != t->depth || t->waited)) {
        locktab_release_slow(st, t, h, t1);
        return;
    }
    locktab_hold_end(t, h, t1);
    __atomic_store_n(&t->depth, i, __ATOMIC_RELEASE);
}

/* n allocations of `bytes` in all at `stack` while t holds a lock (n = 1 in full mode; a
 * sampled allocation's Horvitz-Thompson weight in sampled mode): n more inside every held lock
 * (LOCK_SITE allocs_held) and in the thread's (innermost lock, stack) totals (LOCK_ALLOC). */
PS_NOINLINE void locktab_alloc_held(lockthr_t *t, uint32_t stack, uint64_t n, uint64_t bytes);

/* From the allocation recorders: with no lock held, one load and one predictable branch. */
static PS_ALWAYS_INLINE void locktab_note_alloc(uint32_t stack, uint64_t size)
{
    lockthr_t *t = lock_me;
    if (PS_UNLIKELY(t->depth != 0))
        locktab_alloc_held(t, stack, 1, size);
}

/* The same for an allocation that stands for n of `bytes` in all (sampled mode). */
static PS_ALWAYS_INLINE void locktab_note_alloc_n(uint32_t stack, uint64_t n, uint64_t bytes)
{
    lockthr_t *t = lock_me;
    if (PS_UNLIKELY(t->depth != 0))
        locktab_alloc_held(t, stack, n, bytes);
}

#endif /* PERFSHIM_LOCKTAB_H */
