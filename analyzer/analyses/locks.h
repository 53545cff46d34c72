/*
 * locks.h -- replay of a trace's lock records (0x30..0x3f) into per-lock and per-site
 * aggregates, and the analyses on top: ranking by total wait, wait charged to the holder's
 * critical section, each thread's share of wall time spent waiting, an Amdahl bound per lock,
 * and lock-order cycles (potential deadlocks).
 *
 * Contract: analyzer-only, single-threaded. The pass (core/pass.h, driven by analysis.h) feeds
 * every THREAD_START/EXIT and lock record of thread `tid` to locks_take() (per-thread streams in order; threads in any order);
 * locks_finish() then ranks and analyzes, after which the structure is read-only. Functions
 * return 0 or -PS_E_NOMEM. A trace without lock records gives a locks_t with `any` false.
 *
 * Definitions (what the report prints):
 *  - lock totals come from the LOCK_SITE summaries (exact counts); thread lock_wait_ns from
 *    the LOCK_WAIT events of that thread (so a trace cut short still has them).
 *  - holder charging: each wait event's wait is charged to the stack of the site where the
 *    holder had acquired the lock; k threads waiting on one holder charge it k times.
 *  - max waiters of a lock: the most of its waits (LOCK_WAIT intervals [ts - wait_ns, ts))
 *    that overlap at any time, so exact to the clock, not sampled in the shim.
 *  - Amdahl bound of a lock: the largest wait on it of any one thread, capped at the trace's
 *    duration. Removing all waits on the lock shortens each thread by at most its own wait
 *    on it, so the run (its longest thread) by at most that much.
 *  - a partial trace (no END: the process still running, or killed): the LOCK_SITE totals
 *    exist only for the threads that exited, so contended counts, wait times and the wait
 *    histogram of every lock and site are taken from its LOCK_WAIT events instead -- the
 *    same events the holders and the THREADS view are built from, so all sections agree --
 *    and acquisitions, owner changes and hold times (which only the totals know) are a lower
 *    bound (have_totals) or not recorded at all (!have_totals); the reports say which.
 *  - snapshots (LOCK_SITE with PS_LOCK_SITE_F_SNAPSHOT, the writer's reads of running threads'
 *    tables): the latest of each (tid, lock, stack) is kept until a later LOCK_SITE of that
 *    key supersedes it, and those left at the end count as that thread's totals (a thread
 *    killed with the process: its counts up to the last snapshot, a lower bound).
 *  - a cycle: locks L1 -> L2 -> ... -> L1 where each Li -> Li+1 is an edge (Li+1 acquired
 *    while Li held). Elementary cycles up to LOCKS_CYCLE_MAX locks are reported, each once.
 */
#ifndef PERFSHIM_LOCKS_H
#define PERFSHIM_LOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/reader.h"
#include "analyses/hist.h"

#define LOCKS_CYCLE_MAX 8
#define LOCKS_CYCLES_REPORTED 100

typedef struct locks_site_s {
    uint32_t stack;
    uint64_t acquisitions, contended, wait_ns, trylock_fail, timeouts, errors;
    uint64_t ev_contended, ev_wait_ns; /* from this site's LOCK_WAIT events */
    uint64_t notifies;                 /* condvar: signals + broadcasts from here */
} locks_site_t;

typedef struct locks_holder_s {
    uint32_t stack;
    uint64_t waits, wait_ns;
} locks_holder_t;

typedef struct locks_twait_s {
    uint32_t tid;
    uint64_t wait_ns;
} locks_twait_t;

typedef struct locks_lock_s {
    uint64_t addr;
    uint8_t kind; /* ps_lock_kind */
    bool have_init;
    uint32_t init_stack, init_attr;
    uint32_t max_waiters;
#define PS_X(name, merge) PS_LOCK_IF_SUM_##merge(uint64_t name;)
    PS_LOCK_COUNTERS(PS_X) /* the SUM counters of its LOCK_SITE records, totalled */
#undef PS_X
    replay_hist_t wait, hold;  /* wait.max / hold.max are exact */
    bool have_totals;          /* a LOCK_SITE record named this lock */
    uint64_t ev_waits, ev_wait_ns, ev_timeouts; /* from its LOCK_WAIT events */
    replay_hist_t ev_wait;
    uint64_t amdahl_ns;
    locks_site_t *sites; /* sorted by wait, then acquisitions, after locks_finish */
    size_t nsites, sites_cap;
    locks_holder_t *holders; /* sorted by charged wait */
    size_t nholders, holders_cap;
    locks_twait_t *twait; /* wait events per thread */
    size_t ntwait, twait_cap;
    uint64_t *wedge; /* each wait's start (2t + 1) and end (2t), for max_waiters; freed by
                      * locks_finish */
    size_t nwedge, wedge_cap;
} locks_lock_t;

typedef struct locks_thread_s {
    uint32_t tid;
    char name[16];
    bool started, exited;
    uint64_t start_ts, exit_ts;
    uint64_t wall_ns;               /* set by locks_finish */
    uint64_t lock_wait_ns, waits;   /* from LOCK_WAIT events */
    uint64_t cond_wait_ns;          /* from condvar LOCK_SITE summaries */
} locks_thread_t;

typedef struct locks_edge_s {
    uint64_t from, to;
    uint32_t from_stack, to_stack, tid;
} locks_edge_t;

typedef struct locks_cycle_s {
    uint32_t n;
    uint32_t edge[LOCKS_CYCLE_MAX]; /* indices into edges, in cycle order */
} locks_cycle_t;

/* One LOCK_WAIT event, kept by locks_keep_wait for timelines (the lock waits analysis). */
typedef struct locks_wait_s {
    uint64_t start_ns, wait_ns; /* the wait began at start_ns (CLOCK_MONOTONIC) */
    uint64_t lock;              /* its address */
    uint32_t tid, stack;        /* the waiting thread and its site */
    uint8_t kind;               /* ps_lock_kind */
    bool timed_out;
} locks_wait_t;

typedef struct locks_s {
    bool any; /* the trace has lock records */
    bool partial; /* set before locks_finish: the trace has no END (see "partial" above) */
    locks_lock_t *locks; /* mutex/rwlock/spinlock sorted by wait_ns desc after finish */
    size_t nlocks, locks_cap;
    locks_lock_t *conds; /* condvars (split out by locks_finish) */
    size_t nconds;
    locks_thread_t *threads; /* by tid */
    size_t nthreads, threads_cap;
    locks_edge_t *edges;
    size_t nedges, edges_cap;
    locks_cycle_t *cycles;
    size_t ncycles, cycles_cap;
    bool cycles_truncated;
    uint64_t total_wait_ns, wait_events, untracked, held_overflow;
    locks_wait_t *waits; /* each LOCK_WAIT event, in record order per thread; only when the
                          * lock waits analysis ran (locks_keep_wait) */
    size_t nwaits, waits_cap;
    void *priv; /* address -> index map */
    void *snaps; /* LOCK_SITE snapshots not yet superseded (locks.c, "snapshots") */
} locks_t;

int locks_take(locks_t **lp, uint32_t tid, const record_t *rec);
/* After locks_take of the same LOCK_WAIT record (L not NULL): keeps the event in L->waits. */
int locks_keep_wait(locks_t *L, uint32_t tid, const record_t *rec);
/* start_ns/end_ns: the trace's time range (threads without an exit end at end_ns; the
 * main thread, tid == pid, starts at start_ns). */
int locks_finish(locks_t *L, uint32_t pid, uint64_t start_ns, uint64_t end_ns);
void locks_free(locks_t *L);

#endif /* PERFSHIM_LOCKS_H */
