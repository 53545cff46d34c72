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
#include <string.h>

#include "ilock.h"
#include "imem.h"
#include "log.h"
#include "shim.h"

PS_TLS lockthr_t lock_tls;
uint64_t locktab_hold_mask = 15;

/* ---- per-lock table: lock-free, insert-only, keyed by address -------------------------- */
#define INFO_CAP (1u << 16)
#define INFO_SLOTS (1u << 17)

static lockinfo_t *infos;   /* arena; an entry with addr 0 lost an insert race: skip it */
static uint32_t *info_slot; /* 0 empty, else arena index + 1 */
static uint32_t info_used;

/* ---- per-thread site tables ------------------------------------------------------------ */
#define SITE_CAP 16384u
#define SITE_SLOTS 32768u
#define EDGE_SLOTS 1024u

typedef struct locksites_s {
    struct locksites_s *next; /* registry, under reg_lock */
    uint32_t tid;
    uint32_t nsites; /* published with a release store once a site is filled in */
    uint64_t untracked, held_overflow;
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

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

void locktab_init(void)
{
    tsc_init();
    uint64_t p = 1;
    while (p * 2 <= (uint64_t)options.lock_hold_sample)
        p *= 2;
    locktab_hold_mask = p - 1;
    infos = imem_map(sizeof(lockinfo_t) * INFO_CAP, 1);
    info_slot = imem_map(sizeof(uint32_t) * INFO_SLOTS, 1);
    gedge = imem_map(sizeof(uint64_t) * 2 * GEDGE_SLOTS, 1);
    if (!infos || !info_slot)
        PS_WARN("no memory for the lock table; lock activity is counted as untracked");
}

static lockinfo_t *info_get(uint64_t addr, int kind)
{
    if (PS_UNLIKELY(!infos || !info_slot))
        return NULL;
    uint32_t h = (uint32_t)mix64(addr) & (INFO_SLOTS - 1);
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
    return (uint32_t)mix64(lock ^ ((uint64_t)ra * 0x9e3779b97f4a7c15ull)) & (SITE_SLOTS - 1);
}

/* A lock call from a library the shim brought in (libunwind's per-thread cache destructor
 * runs outside any hook) is the shim's own, not the app's. */
static int site_is_internal(uintptr_t ra)
{
    Dl_info di;
    return dladdr((void *)ra, &di) && di.dli_fname && strstr(di.dli_fname, "libunwind");
}

locksite_t *locktab_site(tstate_t *st, const void *lock, uintptr_t ra, int kind)
{
    lockthr_t *t = &lock_tls;
    locksites_t *tab = t->tab;
    if (PS_UNLIKELY(!tab)) {
        t->tid = (uint32_t)st->tid;
        tab = t->tab = tab_new(t->tid);
        if (!tab) {
            PS_WARN_ONCE("no memory for a thread's lock table; its lock events are dropped");
            shim_count_dropped();
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
    s->stack = shim_stack(st); /* once per site: the stack of its first acquisition */
    s->ignored = site_is_internal(ra);
    __atomic_store_n(&tab->nsites, n + 1, __ATOMIC_RELEASE);
    tab->slot[h] = n + 1;
    t->last = s;
    return s;
}

void locktab_new_owner(locksite_t *s)
{
    lockinfo_t *li = s->info;
    uint32_t tid = lock_tls.tid, prev = __atomic_load_n(&li->owner_tid, __ATOMIC_RELAXED);
    if (prev != tid) {
        if (prev)
            s->owner_changes++;
        __atomic_store_n(&li->owner_tid, tid, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&li->owner_stack, s->stack, __ATOMIC_RELAXED);
    __atomic_store_n(&li->recent_stack[tid & 3], s->stack, __ATOMIC_RELAXED);
    __atomic_store_n(&li->recent_tid[tid & 3], tid, __ATOMIC_RELAXED);
}

void locktab_untracked(void)
{
    if (lock_tls.tab)
        lock_tls.tab->untracked++;
}

void locktab_held_overflow(void)
{
    if (lock_tls.tab)
        lock_tls.tab->held_overflow++;
}

/* Returns 1 if the pair was not in the set (and is now), 0 if it was, -1 if the set is full. */
static int edge_insert(uint64_t (*set)[2], uint32_t slots, uint64_t from, uint64_t to)
{
    uint32_t h = (uint32_t)mix64(from * 31 + to) & (slots - 1);
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

void locktab_edges(tstate_t *st, locksite_t *s)
{
    lockthr_t *t = &lock_tls;
    locksites_t *tab = t->tab;
    if (s->ignored)
        return;
    for (uint32_t i = 0; i < t->depth; i++) {
        const lockheld_t *h = &t->held[i];
        uint64_t from = (uint64_t)(uintptr_t)h->lock;
        if (from == s->lock || (h->site && h->site->ignored))
            continue; /* a recursive mutex taken again */
        if (tab && edge_insert(tab->edge, EDGE_SLOTS, from, s->lock) == 0)
            continue;
        int is_new = 1;
        if (gedge) {
            ilock_lock(&edge_lock);
            is_new = edge_insert(gedge, GEDGE_SLOTS, from, s->lock) != 0;
            ilock_unlock(&edge_lock);
        }
        if (!is_new)
            continue;
        ps_rec_lock_edge_t r = {.h = {PS_REC_LOCK_EDGE, s->kind, sizeof r},
                                .tid = t->tid,
                                .ts = prim_now_ns(),
                                .from = from,
                                .to = s->lock,
                                .from_stack = h->site ? h->site->stack : 0,
                                .to_stack = s->stack};
        shim_put(st, &r, sizeof r);
    }
}

void locktab_release_slow(const void *lock)
{
    lockthr_t *t = &lock_tls;
    for (uint32_t i = t->depth; i-- > 0;) {
        if (t->held[i].lock != lock)
            continue;
        lockheld_t *h = &t->held[i];
        locksite_t *s = h->site;
        s->allocs_held += h->allocs;
        if (h->t0) {
            uint64_t ns = tsc_delta_ns(h->t0, tsc_now());
            s->hold_ns += ns;
            if (ns > s->hold_max_ns)
                s->hold_max_ns = ns;
            locktab_hist_add(s->hold_hist, ns);
        }
        memmove(&t->held[i], &t->held[i + 1], (t->depth - i - 1) * sizeof t->held[0]);
        t->depth--;
        return;
    }
    /* not held by this thread as far as we know (taken before recording started, or by
     * another thread): nothing to end */
}

void locktab_wait_begin(locksite_t *s, const void *lock, uint32_t *holder_tid,
                        uint32_t *holder_stack, uint32_t *waiters)
{
    lockinfo_t *li = s->info;
    uint32_t w = __atomic_add_fetch(&li->waiters, 1, __ATOMIC_RELAXED);
    uint32_t m = __atomic_load_n(&li->max_waiters, __ATOMIC_RELAXED);
    while (w > m && !__atomic_compare_exchange_n(&li->max_waiters, &m, w, 1, __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED))
        ;
    /* glibc keeps the holder's tid in the lock itself; the last acquirer we saw is the
     * fallback (spinlocks, read-held rwlocks) */
    uint32_t holder = 0;
    if (s->kind == PS_LOCK_MUTEX)
        holder = (uint32_t)__atomic_load_n(&((const pthread_mutex_t *)lock)->__data.__owner,
                                           __ATOMIC_RELAXED);
    else if (s->kind == PS_LOCK_RWLOCK)
        holder = (uint32_t)__atomic_load_n(
            &((const pthread_rwlock_t *)lock)->__data.__cur_writer, __ATOMIC_RELAXED);
    uint32_t last = __atomic_load_n(&li->owner_tid, __ATOMIC_RELAXED);
    if (!holder)
        holder = last;
    *holder_tid = holder;
    *holder_stack = holder == last ? __atomic_load_n(&li->owner_stack, __ATOMIC_RELAXED) : 0;
    if (holder != last && __atomic_load_n(&li->recent_tid[holder & 3], __ATOMIC_RELAXED) == holder)
        *holder_stack = __atomic_load_n(&li->recent_stack[holder & 3], __ATOMIC_RELAXED);
    *waiters = w;
}

void locktab_wait_end(tstate_t *st, locksite_t *s, const void *lock, int op, uint64_t t0,
                      uint32_t holder_tid, uint32_t holder_stack, uint32_t waiters, int rc)
{
    uint64_t t1 = prim_now_ns(), ns = t1 > t0 ? t1 - t0 : 0;
    __atomic_sub_fetch(&s->info->waiters, 1, __ATOMIC_RELAXED);
    if (s->ignored)
        return; /* the shim's own libraries' lock (libunwind): never emitted */
    if (rc != 0 && rc != ETIMEDOUT && rc != EOWNERDEAD) {
        s->errors++; /* EDEADLK, EINVAL...: an error, not a wait */
        return;
    }
    lockinfo_t *li = s->info;
    if (!holder_stack && holder_tid &&
        __atomic_load_n(&li->recent_tid[holder_tid & 3], __ATOMIC_RELAXED) == holder_tid)
        /* the holder had not published its site when the wait began (it was unwinding its
         * new site's stack); it has since released the lock to us */
        holder_stack = __atomic_load_n(&li->recent_stack[holder_tid & 3], __ATOMIC_RELAXED);
    s->contended++;
    s->wait_ns += ns;
    if (ns > s->wait_max_ns)
        s->wait_max_ns = ns;
    locktab_hist_add(s->wait_hist, ns);
    if (rc == ETIMEDOUT)
        s->timeouts++;
    ps_rec_lock_wait_t r = {.h = {PS_REC_LOCK_WAIT, s->kind, sizeof r},
                            .stack = s->stack,
                            .ts = t1,
                            .lock = (uint64_t)(uintptr_t)lock,
                            .wait_ns = ns,
                            .holder_tid = holder_tid,
                            .holder_stack = holder_stack,
                            .op = (uint16_t)op,
                            .result = (uint16_t)(rc == ETIMEDOUT ? ETIMEDOUT : 0),
                            .waiters = waiters};
    shim_put(st, &r, sizeof r);
}

void locktab_init_seen(tstate_t *st, const void *lock, int kind, uint32_t attr)
{
    ps_rec_lock_init_t r = {.h = {PS_REC_LOCK_INIT, (uint8_t)kind, sizeof r},
                            .ts = prim_now_ns(),
                            .lock = (uint64_t)(uintptr_t)lock,
                            .attr = attr};
    r.stack = shim_stack(st);
    shim_put(st, &r, sizeof r);
}

/* ---- emission -------------------------------------------------------------------------- */

static int site_active(const locksite_t *s)
{
    return s->acquisitions || s->contended || s->trylock_fail || s->timeouts || s->errors ||
           s->signals || s->broadcasts;
}

/* reg_lock held. Writes tab's non-empty sites into st and zeroes them (a table emitted at a
 * thread's exit and again at the end counts nothing twice). */
static void emit_tab(tstate_t *st, locksites_t *tab)
{
    uint32_t n = __atomic_load_n(&tab->nsites, __ATOMIC_ACQUIRE);
    uint64_t now = prim_now_ns();
    for (uint32_t i = 0; i < n; i++) {
        locksite_t *s = &tab->site[i];
        if (!site_active(s) || s->ignored)
            continue;
        ps_rec_lock_site_t r = {.h = {PS_REC_LOCK_SITE, s->kind, sizeof r},
                                .stack = s->stack,
                                .ts = now,
                                .lock = s->lock,
                                .tid = tab->tid,
                                .acquisitions = s->acquisitions,
                                .contended = s->contended,
                                .owner_changes = s->owner_changes,
                                .trylock_fail = s->trylock_fail,
                                .timeouts = s->timeouts,
                                .errors = s->errors,
                                .rd_acquisitions = s->rd_acquisitions,
                                .wait_ns = s->wait_ns,
                                .wait_max_ns = s->wait_max_ns,
                                .hold_ns = s->hold_ns,
                                .hold_max_ns = s->hold_max_ns,
                                .allocs_held = s->allocs_held,
                                .signals = s->signals,
                                .broadcasts = s->broadcasts};
        memcpy(r.wait_hist, s->wait_hist, sizeof r.wait_hist);
        memcpy(r.hold_hist, s->hold_hist, sizeof r.hold_hist);
        shim_put(st, &r, sizeof r);
        s->acquisitions = s->contended = s->owner_changes = s->trylock_fail = 0;
        s->timeouts = s->errors = s->rd_acquisitions = s->wait_ns = s->wait_max_ns = 0;
        s->hold_ns = s->hold_max_ns = s->allocs_held = s->signals = s->broadcasts = 0;
        memset(s->wait_hist, 0, sizeof s->wait_hist);
        memset(s->hold_hist, 0, sizeof s->hold_hist);
    }
    if (tab->untracked || tab->held_overflow) {
        ps_rec_lock_thread_t r = {.h = {PS_REC_LOCK_THREAD, 0, sizeof r},
                                  .tid = tab->tid,
                                  .ts = now,
                                  .untracked = tab->untracked,
                                  .held_overflow = tab->held_overflow};
        shim_put(st, &r, sizeof r);
        tab->untracked = tab->held_overflow = 0;
    }
}

void locktab_thread_exit(tstate_t *st)
{
    lockthr_t *t = &lock_tls;
    locksites_t *tab = t->tab;
    if (!tab)
        return;
    ilock_lock(&reg_lock);
    emit_tab(st, tab);
    for (locksites_t **pp = &reg_head; *pp; pp = &(*pp)->next) {
        if (*pp == tab) {
            *pp = tab->next;
            break;
        }
    }
    ilock_unlock(&reg_lock);
    /* later lock calls of this thread (other TLS destructors) start a fresh table */
    t->tab = NULL;
    t->last = NULL;
    t->depth = 0;
    prim_unmap(tab, sizeof *tab); /* NORESERVE: never counted by imem, so not imem_unmap */
}

void locktab_fini(tstate_t *st)
{
    if (!st)
        st = tstate_create(prim_gettid(), 0); /* flushed by the writer's final pass */
    if (!st)
        return;
    ilock_lock(&reg_lock);
    for (locksites_t *tab = reg_head; tab; tab = tab->next)
        emit_tab(st, tab);
    uint32_t n = __atomic_load_n(&info_used, __ATOMIC_RELAXED);
    if (n > INFO_CAP)
        n = INFO_CAP;
    uint64_t now = prim_now_ns();
    for (uint32_t i = 0; infos && i < n; i++) {
        const lockinfo_t *li = &infos[i];
        if (!li->addr)
            continue;
        ps_rec_lock_info_t r = {.h = {PS_REC_LOCK_INFO, li->kind, sizeof r},
                                .max_waiters = li->max_waiters,
                                .ts = now,
                                .lock = li->addr};
        shim_put(st, &r, sizeof r);
    }
    ilock_unlock(&reg_lock);
}
