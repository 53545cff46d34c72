/*
 * locktab.c -- see locktab.h.
 *
 * Memory: the per-lock table (lockinfo_t arena + index) is mapped NORESERVE at init; each
 * thread's site table is mapped NORESERVE on its first lock operation and unmapped at its
 * exit, after its sites were emitted. Locks (ilock only, never on the uncontended path):
 * reg_lock guards the registry of site tables and every emission (so a table is emitted by
 * one thread at a time and never freed while read); edge_lock guards the shared edge set.
 */
#include <config.h>

#include "locktab.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ilock.h"
#include "imem.h"
#include "log.h"
#include "options.h"
#include "perfshim/mix.h"
#include "rec.h"

PS_TLS lockthr_t *lock_me = &lock_none;
lockthr_t lock_none;

/* ---- per-lock table: lock-free, insert-only, keyed by address -------------------------- */
#define INFO_CAP (1u << 16)
#define INFO_SLOTS (1u << 17)

static lockinfo_t *infos;   /* arena; an entry with addr 0 lost an insert race: skip it */
static uint32_t *info_slot; /* 0 empty, else arena index + 1 */
static uint32_t info_used;

/* ---- per-thread lock states: a pool never unmapped, so that a waiter may read any slot ---- */
#define THR_CAP 4096u
#define TID_SLOTS 65536u /* tid % TID_SLOTS -> slot + 1 (a colliding live thread is not named) */
#define HOLDER_SCAN_MAX 256u
#define HOLDER_SPINS 16u /* looks for a holder paused between, then yields, up to */
#define HOLDER_TRIES 64u

static lockthr_t *thr_pool;
static uint32_t *tid_slot;
static uint32_t thr_used;      /* slots ever handed out */
static uint32_t thr_free_head; /* free list through lockthr_t.slot of free slots: index + 1 */
static ilock_t thr_lock;       /* thr_used's growth and the free list; thread start/exit only */

/* ---- per-thread site tables ------------------------------------------------------------ */
#define SITE_CAP 16384u
#define SITE_SLOTS 32768u
#define EDGE_SLOTS 1024u

/* A thread's allocations under a lock: (innermost lock, its site's stack, allocation stack). */
#define LALLOC_SLOTS 1024u
typedef struct lockalloc_s {
    uint64_t lock; /* 0: free slot */
    uint32_t lock_stack, stack;
    uint64_t count, bytes;
    uint8_t kind;
} lockalloc_t;

typedef struct locksites_s {
    struct locksites_s *next; /* registry, under reg_lock */
    uint32_t tid;
    uint32_t nsites; /* published with a release store once a site is filled in */
    uint64_t untracked, held_overflow;
    uint32_t nlalloc;              /* used slots of lalloc */
    lockalloc_t lalloc[LALLOC_SLOTS];
    lockalloc_t lalloc_full;       /* what did not fit (lock 0, stack 0) */
    uint32_t slot[SITE_SLOTS];
    uint64_t edge[EDGE_SLOTS][2]; /* edges this thread has already reported */
    locksite_t site[SITE_CAP];
} locksites_t;

static ilock_t reg_lock;
static locksites_t *reg_head;

/* ---- lock-order edges, process-wide ---------------------------------------------------- */
#define GEDGE_SLOTS (1u << 14)
static ilock_t edge_lock;
static uint64_t (*gedge)[2];

/* A NORESERVE table, zeroed: mapped, or unmapped and mapped again (fork child). */
static void *table_map(void *p, size_t len)
{
    if (p)
        prim_unmap(p, len); /* NORESERVE: not counted by imem */
    return imem_map(len, 1);
}

/* The shared tables, all zero (at init, and again in a fork child). */
static int tables_map(void)
{
    infos = table_map(infos, sizeof(lockinfo_t) * INFO_CAP);
    info_slot = table_map(info_slot, sizeof(uint32_t) * INFO_SLOTS);
    gedge = table_map(gedge, sizeof(uint64_t) * 2 * GEDGE_SLOTS);
    thr_pool = table_map(thr_pool, sizeof(lockthr_t) * THR_CAP);
    tid_slot = table_map(tid_slot, sizeof(uint32_t) * TID_SLOTS);
    return infos && info_slot && thr_pool && tid_slot ? 0 : -1;
}

void locktab_init(void)
{
    tsc_init();
    if (tables_map() != 0)
        PS_WARN("no memory for the lock table; lock activity is counted as untracked");
}

static lockinfo_t *info_get(uint64_t addr, int kind)
{
    if (PS_UNLIKELY(!infos || !info_slot))
        return NULL;
    uint32_t h = (uint32_t)ps_mix64(addr) & (INFO_SLOTS - 1);
    for (uint32_t probe = 0; probe < INFO_SLOTS; probe++, h = (h + 1) & (INFO_SLOTS - 1)) {
        uint32_t idx = __atomic_load_n(&info_slot[h], __ATOMIC_ACQUIRE);
        if (idx == 0) {
            uint32_t n = __atomic_fetch_add(&info_used, 1, __ATOMIC_RELAXED);
            if (n >= INFO_CAP)
                return NULL;
            lockinfo_t *e = &infos[n];
            e->addr = addr;
            e->kind = (uint8_t)kind;
            if (__atomic_compare_exchange_n(&info_slot[h], &idx, n + 1, 0, __ATOMIC_RELEASE,
                                            __ATOMIC_ACQUIRE))
                return e;
            e->addr = 0; /* lost the race for this slot; idx now holds the winner */
        }
        if (infos[idx - 1].addr == addr)
            return &infos[idx - 1];
    }
    return NULL;
}

/* ---- the pool of per-thread states --------------------------------------------------------- */

/* A slot whose thread is gone (it never reached locktab_thread_exit: it was killed, or it
 * locked again after its exit hook). Only when the pool is full. thr_lock held. */
static uint32_t thr_reclaim(void)
{
    pid_t pid = getpid();
    for (uint32_t i = 0; i < thr_used; i++) {
        lockthr_t *t = &thr_pool[i];
        uint32_t tid = __atomic_load_n(&t->tid, __ATOMIC_RELAXED);
        if (tid && syscall(SYS_tgkill, pid, (pid_t)tid, 0) != 0 && errno == ESRCH)
            return i + 1;
    }
    return 0;
}

/* The calling thread's first tracked lock call: a pool slot, named in tid_slot. */
static lockthr_t *thr_new(uint32_t tid)
{
    if (!thr_pool || !tid_slot)
        return NULL;
    ilock_lock(&thr_lock);
    uint32_t idx = thr_free_head;
    if (idx)
        thr_free_head = thr_pool[idx - 1].slot;
    else if (thr_used < THR_CAP)
        idx = ++thr_used;
    else
        idx = thr_reclaim();
    ilock_unlock(&thr_lock);
    if (!idx)
        return NULL;
    lockthr_t *t = &thr_pool[idx - 1];
    __atomic_store_n(&t->tid, 0, __ATOMIC_RELAXED);
    memset(t, 0, sizeof *t);
    t->slot = idx - 1;
    __atomic_store_n(&t->tid, tid, __ATOMIC_RELEASE);
    __atomic_store_n(&tid_slot[tid % TID_SLOTS], idx, __ATOMIC_RELEASE);
    return t;
}

static void thr_free(lockthr_t *t)
{
    uint32_t idx = t->slot + 1;
    __atomic_compare_exchange_n(&tid_slot[t->tid % TID_SLOTS], &idx, 0, 0, __ATOMIC_RELEASE,
                                __ATOMIC_RELAXED);
    __atomic_store_n(&t->depth, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&t->tid, 0, __ATOMIC_RELEASE);
    ilock_lock(&thr_lock);
    uint32_t me = t->slot;
    t->slot = thr_free_head;
    thr_free_head = me + 1;
    ilock_unlock(&thr_lock);
}

/* ---- sites --------------------------------------------------------------------------------- */

static locksites_t *tab_new(uint32_t tid)
{
    locksites_t *tab = prim_map(sizeof *tab, 1);
    if (!tab)
        return NULL;
    tab->tid = tid;
    ilock_lock(&reg_lock);
    tab->next = reg_head;
    reg_head = tab;
    ilock_unlock(&reg_lock);
    return tab;
}

static uint32_t site_hash(uint64_t lock, uintptr_t ra)
{
    return (uint32_t)ps_mix64(lock ^ ((uint64_t)ra * 0x9e3779b97f4a7c15ull)) & (SITE_SLOTS - 1);
}

/* A lock call from a library the shim brought in (libunwind's per-thread cache destructor
 * runs outside any hook) is the shim's own, not the app's. By address range (dladdr would
 * take the loader's lock, maybe inside a dl_iterate_phdr callback: the reverse order). */
static int site_is_internal(uintptr_t ra)
{
    return unwind_is_libunwind(ra);
}

static void no_table(void)
{
    PS_WARN_ONCE("no memory for a thread's lock table; its lock events are dropped");
    rec_count_dropped();
}

static void lock_tick(tstate_t *st, uint64_t now, uintptr_t ra);

locksite_t *locktab_site(tstate_t *st, const void *lock, uintptr_t ra, int kind)
{
    int held = kind & PS_LOCK_F_HELD;
    kind &= ~PS_LOCK_F_HELD;
    lockthr_t *t = lock_me;
    if (PS_UNLIKELY(t == &lock_none)) {
        t = thr_new((uint32_t)st->tid);
        if (!t) {
            no_table();
            return NULL;
        }
        lock_me = t;
    }
    locksites_t *tab = t->tab;
    if (PS_UNLIKELY(!tab)) {
        tab = t->tab = tab_new(t->tid);
        if (!tab) {
            no_table();
            return NULL;
        }
    }
    uint64_t key = (uint64_t)(uintptr_t)lock;
    uint32_t h = site_hash(key, ra);
    for (uint32_t probe = 0; probe < SITE_SLOTS; probe++, h = (h + 1) & (SITE_SLOTS - 1)) {
        uint32_t idx = tab->slot[h];
        if (idx == 0)
            break;
        locksite_t *s = &tab->site[idx - 1];
        if (s->lock == key && s->ra == ra) {
            t->last = s;
            return s;
        }
    }
    uint32_t n = tab->nsites;
    lockinfo_t *li = n < SITE_CAP ? info_get(key, kind) : NULL;
    if (!li) {
        tab->untracked++;
        return NULL;
    }
    locksite_t *s = &tab->site[n];
    s->lock = key;
    s->ra = ra;
    s->kind = (uint8_t)kind;
    s->info = li;
    s->stack = rec_stack(st, ra); /* once per site: the stack of its first acquisition */
    s->ignored = site_is_internal(ra);
    __atomic_store_n(&tab->nsites, n + 1, __ATOMIC_RELEASE);
    tab->slot[h] = n + 1;
    t->last = s;
    /* A new site before its acquisition, the thread holding no lock (not a condvar's site,
     * looked up while its mutex is held again, nor that mutex's: PS_LOCK_F_HELD): the
     * periodic work, as after a wait event, so that a program whose locks are never
     * contended gets the writer thread too (its records so far: threads, stacks, inits) */
    if (kind != PS_LOCK_COND && !held && t->depth == 0 && !s->ignored)
        lock_tick(st, prim_now_ns(), ra);
    return s;
}

void locktab_alloc_held(lockthr_t *t, uint32_t stack, uint64_t n, uint64_t bytes)
{
    uint32_t d = t->depth;
    for (uint32_t i = 0; i < d; i++)
        t->held[i].allocs += n;
    const lockheld_t *h = &t->held[d - 1];
    locksites_t *tab = t->tab;
    if (!tab || !h->site || h->site->ignored)
        return;
    uint32_t i = (uint32_t)ps_mix64(h->lock ^ ((uint64_t)stack << 32) ^ h->stack) &
                 (LALLOC_SLOTS - 1);
    for (uint32_t probe = 0; probe < LALLOC_SLOTS; probe++, i = (i + 1) & (LALLOC_SLOTS - 1)) {
        lockalloc_t *a = &tab->lalloc[i];
        if (a->lock == h->lock && a->stack == stack && a->lock_stack == h->stack) {
            a->count += n;
            a->bytes += bytes;
            return;
        }
        if (a->lock == 0) {
            if (tab->nlalloc >= LALLOC_SLOTS * 3 / 4)
                break;
            tab->nlalloc++;
            *a = (lockalloc_t){h->lock, h->stack, stack, n, bytes, h->site->kind};
            return;
        }
    }
    tab->lalloc_full.count += n;
    tab->lalloc_full.bytes += bytes;
}

lockheld_t *locktab_held_overflow(lockthr_t *t, locksite_t *s)
{
    if (t->tab)
        t->tab->held_overflow++;
    t->spare = (lockheld_t){.lock = s->lock, .stack = s->stack, .idx = LOCK_HELD_MAX, .site = s};
    return &t->spare;
}

void locktab_owner_change(locksite_t *s, uint32_t tid)
{
    uint32_t prev = __atomic_exchange_n(&s->info->last_owner, tid, __ATOMIC_RELAXED);
    if (prev && prev != tid)
        s->owner_changes++;
}

/* Returns 1 if the pair was not in the set (and is now), 0 if it was, -1 if the set is full. */
static int edge_insert(uint64_t (*set)[2], uint32_t slots, uint64_t from, uint64_t to)
{
    uint32_t h = (uint32_t)ps_mix64(from * 31 + to) & (slots - 1);
    for (uint32_t probe = 0; probe < slots; probe++, h = (h + 1) & (slots - 1)) {
        if (set[h][0] == from && set[h][1] == to)
            return 0;
        if (set[h][0] == 0) {
            set[h][0] = from;
            set[h][1] = to;
            return 1;
        }
    }
    return -1;
}

void locktab_edges(tstate_t *st, lockthr_t *t, const lockheld_t *h)
{
    const locksite_t *s = h->site;
    locksites_t *tab = t->tab;
    if (s->ignored)
        return;
    uint32_t below = h->idx < LOCK_HELD_MAX ? h->idx : t->depth;
    for (uint32_t i = 0; i < below; i++) {
        const lockheld_t *b = &t->held[i];
        if (b->lock == s->lock || b->site->ignored)
            continue; /* a recursive mutex taken again */
        if (tab && edge_insert(tab->edge, EDGE_SLOTS, b->lock, s->lock) == 0)
            continue;
        int is_new = 1;
        if (gedge) {
            ilock_lock(&edge_lock);
            is_new = edge_insert(gedge, GEDGE_SLOTS, b->lock, s->lock) != 0;
            ilock_unlock(&edge_lock);
        }
        if (!is_new)
            continue;
        ps_rec_lock_edge_t r = {.h = {PS_REC_LOCK_EDGE, s->kind, sizeof r},
                                .tid = t->tid,
                                .ts = prim_now_ns(),
                                .from = b->lock,
                                .to = s->lock,
                                .from_stack = b->stack,
                                .to_stack = s->stack};
        rec_put(st, &r, sizeof r);
    }
}

/* ---- waits ----------------------------------------------------------------------------------- */

/* The stack of thread t's held entry of `lock` (0: none). With `acquired`, only an entry whose
 * acquisition completed counts (a scan must not name a thread that is itself waiting). */
static uint32_t held_stack_of(const lockthr_t *t, uint32_t tid, uint64_t lock, int acquired)
{
    if (__atomic_load_n(&t->tid, __ATOMIC_ACQUIRE) != tid)
        return 0;
    uint32_t d = __atomic_load_n(&t->depth, __ATOMIC_ACQUIRE);
    if (d > LOCK_HELD_MAX)
        d = LOCK_HELD_MAX;
    for (uint32_t i = d; i-- > 0;) {
        const lockheld_t *h = &t->held[i];
        if (__atomic_load_n(&h->lock, __ATOMIC_RELAXED) != lock)
            continue;
        if (acquired && !__atomic_load_n(&h->t0, __ATOMIC_RELAXED))
            continue;
        uint32_t stack = __atomic_load_n(&h->stack, __ATOMIC_RELAXED);
        return __atomic_load_n(&t->tid, __ATOMIC_ACQUIRE) == tid ? stack : 0;
    }
    return 0;
}

/* glibc keeps the holder's tid in a mutex and in a write-held rwlock (0: none, or read-held) */
static uint32_t owner_tid(const void *lock, int kind)
{
    if (kind == PS_LOCK_MUTEX)
        return (uint32_t)__atomic_load_n(&((const pthread_mutex_t *)lock)->__data.__owner,
                                         __ATOMIC_RELAXED);
    if (kind == PS_LOCK_RWLOCK)
        return (uint32_t)__atomic_load_n(
            &((const pthread_rwlock_t *)lock)->__data.__cur_writer, __ATOMIC_RELAXED);
    return 0;
}

/* Whether a mutex or spinlock is taken now (its lock word); an rwlock: never asked. */
static int lock_taken(const void *lock, int kind)
{
    if (kind == PS_LOCK_MUTEX)
        return __atomic_load_n(&((const pthread_mutex_t *)lock)->__data.__lock,
                               __ATOMIC_RELAXED) != 0;
    return __atomic_load_n((const int *)lock, __ATOMIC_RELAXED) != 0;
}

/* The stack of the thread that holds h's lock by the owner's tid, else by a scan of the
 * threads for a completed acquisition; 0 if none is found. Sets w->holder_tid. */
static uint32_t holder_find(const lockheld_t *h, int kind, lockwait_t *w)
{
    const void *lock = (const void *)(uintptr_t)h->lock;
    uint32_t holder = owner_tid(lock, kind), stack = 0;
    if (holder && thr_pool && tid_slot) {
        w->holder_tid = holder;
        uint32_t idx = __atomic_load_n(&tid_slot[holder % TID_SLOTS], __ATOMIC_ACQUIRE);
        if (idx && (stack = held_stack_of(&thr_pool[idx - 1], holder, h->lock, 0)) != 0)
            return stack;
    }
    if (!thr_pool)
        return 0;
    /* a spinlock, a read-held rwlock, a mutex whose holder is unlocking it (owner cleared
     * first), or one just lost: look for a thread that holds it */
    const lockthr_t *me = lock_me;
    uint32_t n = __atomic_load_n(&thr_used, __ATOMIC_ACQUIRE);
    if (n > HOLDER_SCAN_MAX)
        n = HOLDER_SCAN_MAX;
    for (uint32_t i = 0; i < n; i++) {
        const lockthr_t *t = &thr_pool[i];
        uint32_t tid = __atomic_load_n(&t->tid, __ATOMIC_RELAXED);
        if (t == me || !tid)
            continue;
        if ((stack = held_stack_of(t, tid, h->lock, 1)) != 0) {
            w->holder_tid = tid;
            return stack;
        }
    }
    return 0;
}

void locktab_wait_begin(const lockheld_t *h, int kind, lockwait_t *w)
{
    w->holder_tid = w->holder_stack = 0;
    /* The holder pushed its held entry before it took the lock, so its site is published by
     * now. One moment names nobody: a mutex or spinlock taken by a thread that has not yet
     * returned from the real call (no owner tid stored yet, no acquisition completed), or
     * lost just after our trylock failed. While the lock is taken and nobody is named, look
     * again: a few pauses, then yields (that thread was preempted: on a loaded machine for
     * milliseconds, the whole wait). An owner named twice in a row and not found is one the
     * shim cannot see (a tid slot shared with another thread): no more looks. An rwlock is
     * looked at once. This path blocks anyway. */
    uint32_t seen = 0;
    for (unsigned tries = 0;; tries++) {
        if ((w->holder_stack = holder_find(h, kind, w)) != 0 || kind == PS_LOCK_RWLOCK ||
            tries == HOLDER_TRIES || !lock_taken((const void *)(uintptr_t)h->lock, kind) ||
            (w->holder_tid && w->holder_tid == seen))
            break;
        seen = w->holder_tid;
        w->holder_tid = 0;
        if (tries < HOLDER_SPINS)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
    w->t_begin = tsc_now();
}

/* Writes the wait event of site s (wait from w->t_begin to t_end, tsc_now() values) into st
 * and adds it to the site. Outside any critical section. tid: the waiting thread when it is
 * not st's (PS_LOCK_WAIT_F_TID), else 0. Returns the clock read for it (0: nothing written). */
static uint64_t wait_emit(tstate_t *st, locksite_t *s, const lockwait_t *w, uint64_t t_end,
                          int timedout, uint32_t tid)
{
    if (s->ignored)
        return 0; /* the shim's own libraries' lock (libunwind): never emitted */
    uint64_t ns = tsc_delta_ns(w->t_begin, t_end);
    uint64_t since = tsc_delta_ns(t_end, tsc_now()), mono = prim_now_ns();
    s->contended++;
    s->wait_ns += ns;
    if (ns > s->wait_max_ns)
        s->wait_max_ns = ns;
    locktab_hist_add(s->wait_hist, ns);
    s->timeouts += (uint64_t)timedout;
    uint8_t aux = (uint8_t)(s->kind | (tid ? PS_LOCK_WAIT_F_TID : 0u));
    ps_rec_lock_wait_t r = {.h = {PS_REC_LOCK_WAIT, aux, sizeof r},
                            .stack = s->stack,
                            .ts = mono > since ? mono - since : mono,
                            .lock = s->lock,
                            .wait_ns = ns,
                            .holder_tid = w->holder_tid,
                            .holder_stack = w->holder_stack,
                            .op = w->op,
                            .result = (uint16_t)(timedout ? ETIMEDOUT : 0),
                            .tid = tid};
    rec_put(st, &r, sizeof r);
    return mono;
}

/* A wait event was written at `now` (or a new site is about to be acquired) and this thread
 * holds no lock (tracked): the writer's periodic work when due (writer_tick_lock: the
 * thread's start, the flush period), as an allocation would do it. Without this a program
 * that only takes locks after start-up never started the writer thread, and its records
 * waited for a full buffer or the exit (lost with a SIGKILL). Only on these slow paths: never
 * on the uncontended one of a known site. */
static void lock_tick(tstate_t *st, uint64_t now, uintptr_t ra)
{
    if (PS_UNLIKELY(now && now >= __atomic_load_n(&writer_tick_due, __ATOMIC_RELAXED)))
        writer_tick_lock(st, now, ra);
}

void locktab_wait_end(tstate_t *st, lockheld_t *h, const lockwait_t *w, int read, int rc)
{
    locksite_t *s = h->site;
    if (rc == 0 || rc == EOWNERDEAD) {
        locktab_acquired(st, h, read);
        s->errors += rc == EOWNERDEAD;
        if (!w)
            return;
        lockthr_t *t = lock_me;
        uint32_t i = h->idx;
        if (i >= LOCK_HELD_MAX) { /* the spare: no release will see it */
            wait_emit(st, s, w, h->t0, 0, 0);
            return;
        }
        t->pend[i] = *w;
        __atomic_fetch_or(&t->waited, 1u << i, __ATOMIC_RELAXED);
        return;
    }
    locktab_undo(h);
    if (w && rc == ETIMEDOUT) {
        uint64_t now = wait_emit(st, s, w, tsc_now(), 1, 0);
        if (h->idx == 0) /* (the spare's idx is LOCK_HELD_MAX) */
            lock_tick(st, now, s->ra);
    } else {
        s->errors++; /* EDEADLK, EINVAL...: an error, not a wait */
    }
}

/* Takes bit i of t->waited (atomically: the end of the run may flush another thread's). */
static int pend_take(lockthr_t *t, uint32_t i)
{
    uint32_t bit = 1u << i;
    return (__atomic_fetch_and(&t->waited, ~bit, __ATOMIC_RELAXED) & bit) != 0;
}

/* ---- releases ------------------------------------------------------------------------------- */

lockheld_t *locktab_release_find(lockthr_t *t, uint64_t lock)
{
    for (uint32_t i = t->depth; i-- > 0;)
        if (t->held[i].lock == lock && t->held[i].t0)
            return &t->held[i];
    /* not held by this thread as far as we know (taken before recording started, or by
     * another thread): nothing to end */
    return NULL;
}

/* may_tick: the lock is released (not a condvar wait's mutex, still held until the wait). */
static void release_slow(tstate_t *st, lockthr_t *t, lockheld_t *h, uint64_t t1, int may_tick)
{
    uint32_t i = h->idx, d = t->depth;
    uintptr_t ra = h->site->ra;
    uint64_t now = 0;
    locktab_hold_end(t, h, t1);
    if (pend_take(t, i))
        now = wait_emit(st, h->site, &t->pend[i], h->t0, 0, 0);
    if (i + 1 < d) {
        /* out of order: close the gap (pending bits above i move down with their entries) */
        memmove(&t->held[i], &t->held[i + 1], (d - i - 1) * sizeof t->held[0]);
        for (uint32_t j = i; j + 1 < d; j++)
            t->held[j].idx = j;
        memmove(&t->pend[i], &t->pend[i + 1], (d - i - 1) * sizeof t->pend[0]);
        uint32_t w = __atomic_load_n(&t->waited, __ATOMIC_RELAXED);
        uint32_t lo = w & ((1u << i) - 1), hi = i + 1 < 32 ? (w >> (i + 1)) << i : 0;
        __atomic_store_n(&t->waited, lo | hi, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&t->depth, d - 1, __ATOMIC_RELEASE);
    if (d == 1 && may_tick) /* the thread's last held lock: released (the real unlock is done) */
        lock_tick(st, now, ra);
}

void locktab_release_slow(tstate_t *st, lockthr_t *t, lockheld_t *h, uint64_t t1)
{
    release_slow(st, t, h, t1, 1);
}

void locktab_release_cond(tstate_t *st, lockheld_t *h, uint64_t t1)
{
    lockthr_t *t = lock_me;
    uint32_t i = h->idx;
    if (i + 1 != t->depth || t->waited) {
        release_slow(st, t, h, t1, 0);
        return;
    }
    locktab_hold_end(t, h, t1);
    __atomic_store_n(&t->depth, i, __ATOMIC_RELEASE);
}

/* The pending wait events of t (a thread exiting, or any thread at the end of the run),
 * written into st: the calling thread's stream, so another thread's are marked with its tid. */
static void pend_flush(tstate_t *st, lockthr_t *t)
{
    uint32_t tid = t == lock_me ? 0 : __atomic_load_n(&t->tid, __ATOMIC_ACQUIRE);
    uint32_t d = __atomic_load_n(&t->depth, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < d && i < LOCK_HELD_MAX; i++)
        if (pend_take(t, i))
            wait_emit(st, t->held[i].site, &t->pend[i], t->held[i].t0, 0, tid);
}

void locktab_init_seen(tstate_t *st, const void *lock, uintptr_t ra, int kind, uint32_t attr)
{
    ps_rec_lock_init_t r = {.h = {PS_REC_LOCK_INIT, (uint8_t)kind, sizeof r},
                            .ts = prim_now_ns(),
                            .lock = (uint64_t)(uintptr_t)lock,
                            .attr = attr};
    r.stack = rec_stack(st, ra);
    rec_put(st, &r, sizeof r);
}

/* ---- emission -------------------------------------------------------------------------- */

static int site_active(const locksite_t *s)
{
    return s->acquisitions || s->contended || s->trylock_fail || s->timeouts || s->errors ||
           s->signals || s->broadcasts;
}

/* Site s's LOCK_SITE record of thread tid at `now` (aux: its kind | flags). Another thread may
 * be counting meanwhile (the crash handler's and the snapshots' reads): each u64 is read whole,
 * the record may be a few events behind in some of them. */
static void site_record(const locksite_t *s, uint32_t tid, uint64_t now, uint8_t flags,
                        ps_rec_lock_site_t *r)
{
    *r = (ps_rec_lock_site_t){.h = {PS_REC_LOCK_SITE, (uint8_t)(s->kind | flags), sizeof *r},
                              .stack = s->stack,
                              .ts = now,
                              .lock = s->lock,
                              .tid = tid};
#define PS_X(name, merge) r->name = __atomic_load_n(&s->name, __ATOMIC_RELAXED);
    PS_LOCK_COUNTERS(PS_X)
#undef PS_X
    memcpy(r->wait_hist, s->wait_hist, sizeof r->wait_hist);
    memcpy(r->hold_hist, s->hold_hist, sizeof r->hold_hist);
}

/* The records of tab's non-empty sites, its LOCK_ALLOC totals, then its LOCK_THREAD record if
 * it counted anything untracked, each passed to put(rec, len, arg). */
static void tab_records(const locksites_t *tab, uint64_t now, writer_put_fn put, void *arg)
{
    uint32_t n = __atomic_load_n(&tab->nsites, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n; i++) {
        const locksite_t *s = &tab->site[i];
        if (!site_active(s) || s->ignored)
            continue;
        ps_rec_lock_site_t r;
        site_record(s, tab->tid, now, 0, &r);
        put(&r, sizeof r, arg);
    }
    for (uint32_t i = 0; i <= LALLOC_SLOTS; i++) {
        const lockalloc_t *a = i < LALLOC_SLOTS ? &tab->lalloc[i] : &tab->lalloc_full;
        if (!a->count)
            continue;
        ps_rec_lock_alloc_t r = {.h = {PS_REC_LOCK_ALLOC, a->kind, sizeof r},
                                 .stack = a->stack,
                                 .ts = now,
                                 .lock = a->lock,
                                 .lock_stack = a->lock_stack,
                                 .tid = tab->tid,
                                 .count = a->count,
                                 .bytes = a->bytes};
        put(&r, sizeof r, arg);
    }
    if (tab->untracked || tab->held_overflow) {
        ps_rec_lock_thread_t r = {.h = {PS_REC_LOCK_THREAD, 0, sizeof r},
                                  .tid = tab->tid,
                                  .ts = now,
                                  .untracked = tab->untracked,
                                  .held_overflow = tab->held_overflow};
        put(&r, sizeof r, arg);
    }
}

/* The counts a snapshot compares: a site whose sum moved has something new. */
static uint64_t site_sig(const locksite_t *s)
{
    return s->acquisitions + s->contended + s->trylock_fail + s->timeouts + s->errors +
           s->signals + s->broadcasts + s->hold_ns;
}

static uint64_t snap_next; /* prim_now_ns() of the next snapshot (0: not yet timed) */

/* The next snapshot is one period (PS_LOCK_SNAPSHOT_FLUSHES flush periods) after now. */
static void snap_schedule(uint64_t now)
{
    __atomic_store_n(&snap_next,
                     now + (uint64_t)options.flush_ms * 1000000u * PS_LOCK_SNAPSHOT_FLUSHES,
                     __ATOMIC_RELAXED);
}

int locktab_snapshot_due(void)
{
    uint64_t now = prim_now_ns(), next = __atomic_load_n(&snap_next, __ATOMIC_RELAXED);
    if (next == 0) { /* the first call starts the period */
        snap_schedule(now);
        return 0;
    }
    return now >= next;
}

void locktab_snapshot(writer_append_fn put)
{
    uint64_t now = prim_now_ns();
    snap_schedule(now);
    if (!ilock_trylock(&reg_lock))
        return; /* a thread is emitting or registering: the next period */
    for (locksites_t *tab = reg_head; tab; tab = tab->next) {
        uint32_t n = __atomic_load_n(&tab->nsites, __ATOMIC_ACQUIRE);
        for (uint32_t i = 0; i < n; i++) {
            locksite_t *s = &tab->site[i];
            uint64_t sig = site_sig(s);
            if (!site_active(s) || s->ignored || sig == s->snap_sig)
                continue;
            s->snap_sig = sig;
            ps_rec_lock_site_t r; /* a few events behind at most: the final record corrects it */
            site_record(s, tab->tid, now, PS_LOCK_SITE_F_SNAPSHOT, &r);
            put(&r, sizeof r);
        }
    }
    ilock_unlock(&reg_lock);
}

static void put_state(const void *rec, uint32_t len, void *st)
{
    rec_put(st, rec, len);
}

/* reg_lock held. Writes tab's non-empty sites into st and zeroes them (a table emitted at a
 * thread's exit and again at the end, or before an exec that fails, counts nothing twice). */
static void emit_tab(tstate_t *st, locksites_t *tab)
{
    tab_records(tab, prim_now_ns(), put_state, st);
    uint32_t n = __atomic_load_n(&tab->nsites, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n; i++) {
        locksite_t *s = &tab->site[i];
#define PS_X(name, merge) s->name = 0;
        PS_LOCK_COUNTERS(PS_X)
#undef PS_X
        memset(s->wait_hist, 0, sizeof s->wait_hist);
        memset(s->hold_hist, 0, sizeof s->hold_hist);
        s->snap_sig = 0;
    }
    tab->untracked = tab->held_overflow = 0;
    for (uint32_t i = 0; i < LALLOC_SLOTS; i++)
        tab->lalloc[i].count = tab->lalloc[i].bytes = 0; /* the keys stay: slots in use */
    tab->lalloc_full.count = tab->lalloc_full.bytes = 0;
}

void locktab_crash_records(writer_put_fn put)
{
    if (!ilock_trylock(&reg_lock))
        return; /* a thread is emitting or registering: its tables are lost */
    uint64_t now = prim_now_ns();
    for (const locksites_t *tab = reg_head; tab; tab = tab->next)
        tab_records(tab, now, put, NULL);
    ilock_unlock(&reg_lock);
}

void locktab_thread_exit(tstate_t *st)
{
    lockthr_t *t = lock_me;
    if (t == &lock_none)
        return;
    pend_flush(st, t);
    locksites_t *tab = t->tab;
    if (tab) {
        ilock_lock(&reg_lock);
        emit_tab(st, tab);
        for (locksites_t **pp = &reg_head; *pp; pp = &(*pp)->next) {
            if (*pp == tab) {
                *pp = tab->next;
                break;
            }
        }
        ilock_unlock(&reg_lock);
        prim_unmap(tab, sizeof *tab); /* NORESERVE: never counted by imem, so not imem_unmap */
    }
    /* later lock calls of this thread (other TLS destructors) start afresh */
    lock_me = &lock_none;
    thr_free(t);
}

void locktab_fini(tstate_t *st)
{
    if (!st)
        st = tstate_create(prim_gettid(), 0); /* flushed by the writer's final pass */
    if (!st)
        return;
    /* waits still pending: locks held at the end (by this thread or by others still running) */
    uint32_t n = thr_pool ? __atomic_load_n(&thr_used, __ATOMIC_ACQUIRE) : 0;
    for (uint32_t i = 0; i < n; i++)
        if (__atomic_load_n(&thr_pool[i].tid, __ATOMIC_ACQUIRE))
            pend_flush(st, &thr_pool[i]);
    ilock_lock(&reg_lock);
    for (locksites_t *tab = reg_head; tab; tab = tab->next)
        emit_tab(st, tab);
    ilock_unlock(&reg_lock);
}

void locktab_after_fork_child(void)
{
    /* the parent's threads are gone and the forking thread's tables hold the parent's stack
     * ids: start over (the mappings of other threads' tables are left behind) */
    reg_head = NULL;
    ilock_reset(&reg_lock);
    ilock_reset(&edge_lock);
    ilock_reset(&thr_lock);
    lock_me = &lock_none;
    thr_used = thr_free_head = info_used = 0;
    tables_map();
}
