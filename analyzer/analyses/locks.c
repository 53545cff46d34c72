/*
 * locks.c -- see locks.h.
 *
 * Locks are found by address through an open-addressing map (index + 1, 0 = empty). Sites,
 * holders and per-thread waits of one lock are short arrays searched linearly: a lock has a
 * handful of each in practice, and the search runs once per summary or wait event.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/locks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/intern.h"
#include "perfshim/errors.h"
#include "perfshim/mix.h"

typedef struct amap_s {
    uint32_t *slot;
    size_t cap; /* power of two */
} amap_t;

static size_t amap_hash(uint64_t a, size_t cap)
{
    return (size_t)ps_mix64(a) & (cap - 1);
}

/* Grows *arr (of elem bytes, *cap entries) to hold n + 1. Returns 0 or -PS_E_NOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -PS_E_NOMEM;
    memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

static int amap_rehash(locks_t *L, amap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint32_t *s = calloc(cap, sizeof *s);
    if (!s)
        return -PS_E_NOMEM;
    for (size_t i = 0; i < L->nlocks; i++) {
        size_t h = amap_hash(L->locks[i].addr, cap);
        while (s[h])
            h = (h + 1) & (cap - 1);
        s[h] = (uint32_t)i + 1;
    }
    free(m->slot);
    m->slot = s;
    m->cap = cap;
    return 0;
}

static locks_lock_t *lock_get(locks_t *L, uint64_t addr, uint8_t kind)
{
    amap_t *m = L->priv;
    if (m->cap) {
        for (size_t h = amap_hash(addr, m->cap); m->slot[h]; h = (h + 1) & (m->cap - 1))
            if (L->locks[m->slot[h] - 1].addr == addr) {
                locks_lock_t *k = &L->locks[m->slot[h] - 1];
                if (!k->kind)
                    k->kind = kind;
                return k;
            }
    }
    if ((L->nlocks + 1) * 2 > m->cap && amap_rehash(L, m) < 0)
        return NULL;
    if (grow((void **)&L->locks, &L->locks_cap, L->nlocks, sizeof *L->locks) < 0)
        return NULL;
    locks_lock_t *k = &L->locks[L->nlocks++];
    k->addr = addr;
    k->kind = kind;
    size_t h = amap_hash(addr, m->cap);
    while (m->slot[h])
        h = (h + 1) & (m->cap - 1);
    m->slot[h] = (uint32_t)L->nlocks;
    return k;
}

static locks_thread_t *thread_get(locks_t *L, uint32_t tid)
{
    for (size_t i = 0; i < L->nthreads; i++)
        if (L->threads[i].tid == tid)
            return &L->threads[i];
    if (grow((void **)&L->threads, &L->threads_cap, L->nthreads, sizeof *L->threads) < 0)
        return NULL;
    locks_thread_t *t = &L->threads[L->nthreads++];
    t->tid = tid;
    return t;
}

static locks_site_t *site_get(locks_lock_t *k, uint32_t stack)
{
    for (size_t i = 0; i < k->nsites; i++)
        if (k->sites[i].stack == stack)
            return &k->sites[i];
    if (grow((void **)&k->sites, &k->sites_cap, k->nsites, sizeof *k->sites) < 0)
        return NULL;
    locks_site_t *s = &k->sites[k->nsites++];
    s->stack = stack;
    return s;
}

static void hist_merge32(replay_hist_t *h, const uint32_t *v, uint64_t max)
{
    for (unsigned b = 0; b < PS_LOCK_HIST; b++) {
        h->count[b] += v[b];
        h->n += v[b];
    }
    if (max > h->max)
        h->max = max;
}

/* ---- snapshots: the latest per (tid, lock, stack), interned keys --------------------------- */
typedef struct snap_s {
    ps_rec_lock_site_t r; /* the latest snapshot (h.aux: the kind, the flag off) */
    uint64_t final_ts;    /* the key's latest final record's ts (0: none) */
    bool live;            /* a snapshot that no final record followed */
} snap_t;

typedef struct snaps_s {
    intern_t keys; /* (lock, tid, stack) -> index into v */
    snap_t *v;
    size_t n, cap;
} snaps_t;

/* The entry of r's key, made (zeroed) if new. */
static snap_t *snap_entry(locks_t *L, const ps_rec_lock_site_t *r)
{
    snaps_t *S = L->snaps;
    if (!S && !(S = L->snaps = calloc(1, sizeof *S)))
        return NULL;
    struct {
        uint64_t lock;
        uint32_t tid, stack;
    } key = {r->lock, r->tid, r->stack};
    bool added;
    long i = intern_get(&S->keys, &key, sizeof key, &added);
    if (i < 0)
        return NULL;
    if (added) {
        if (grow((void **)&S->v, &S->cap, S->n, sizeof *S->v) < 0)
            return NULL;
        memset(&S->v[S->n++], 0, sizeof *S->v); /* index i == the n-th key */
    }
    return &S->v[i];
}

/* A snapshot: it replaces the key's last one, unless a final record of the key is as late
 * (it counted everything the snapshot saw: the writer took both under one lock). */
static int snap_keep(locks_t *L, const record_t *rec)
{
    const ps_rec_lock_site_t *r = &rec->u.lock_site;
    snap_t *e = snap_entry(L, r);
    if (!e)
        return -PS_E_NOMEM;
    if (e->final_ts && r->ts <= e->final_ts)
        return 0;
    e->r = *r;
    e->r.h.aux = (uint8_t)(rec->aux & ~PS_LOCK_SITE_F_SNAPSHOT);
    e->live = true;
    return 0;
}

/* A final record of the key: its snapshot so far is superseded. Only where snapshots exist
 * (a trace without them keeps no entries). */
static int snap_final(locks_t *L, const ps_rec_lock_site_t *r)
{
    if (!L->snaps)
        return 0;
    snap_t *e = snap_entry(L, r);
    if (!e)
        return -PS_E_NOMEM;
    e->live = false;
    if (r->ts > e->final_ts)
        e->final_ts = r->ts;
    return 0;
}

static void snaps_free(locks_t *L)
{
    snaps_t *S = L->snaps;
    if (S) {
        intern_free(&S->keys);
        free(S->v);
        free(S);
    }
    L->snaps = NULL;
}

static int take_site_totals(locks_t *L, const ps_rec_lock_site_t *r, uint8_t kind);

static int take_site(locks_t *L, const record_t *rec)
{
    if (rec->aux & PS_LOCK_SITE_F_SNAPSHOT)
        return snap_keep(L, rec);
    int rc = snap_final(L, &rec->u.lock_site);
    if (rc < 0)
        return rc;
    return take_site_totals(L, &rec->u.lock_site, rec->aux);
}

/* The snapshots no final record superseded: the totals of the threads the end cut off. */
static int snaps_take(locks_t *L)
{
    snaps_t *S = L->snaps;
    int rc = 0;
    for (size_t i = 0; S && i < S->n && rc == 0; i++)
        if (S->v[i].live)
            rc = take_site_totals(L, &S->v[i].r, S->v[i].r.h.aux);
    snaps_free(L);
    return rc;
}

static int take_site_totals(locks_t *L, const ps_rec_lock_site_t *r, uint8_t kind)
{
    locks_lock_t *k = lock_get(L, r->lock, kind);
    if (!k)
        return -PS_E_NOMEM;
    k->have_totals = true;
#define PS_X(name, merge) PS_LOCK_IF_SUM_##merge(k->name += r->name;)
    PS_LOCK_COUNTERS(PS_X) /* the maxima go into the histograms */
#undef PS_X
    hist_merge32(&k->wait, r->wait_hist, r->wait_max_ns);
    hist_merge32(&k->hold, r->hold_hist, r->hold_max_ns);
    locks_site_t *s = site_get(k, r->stack);
    if (!s)
        return -PS_E_NOMEM;
    s->acquisitions += r->acquisitions;
    s->contended += r->contended;
    s->wait_ns += r->wait_ns;
    s->trylock_fail += r->trylock_fail;
    s->timeouts += r->timeouts;
    s->errors += r->errors;
    s->notifies += r->signals + r->broadcasts;
    if (kind == PS_LOCK_COND) {
        locks_thread_t *t = thread_get(L, r->tid);
        if (!t)
            return -PS_E_NOMEM;
        t->cond_wait_ns += r->wait_ns;
    }
    return 0;
}

static int take_wait(locks_t *L, uint32_t tid, const record_t *rec)
{
    const ps_rec_lock_wait_t *w = &rec->u.lock_wait;
    if ((rec->aux & PS_LOCK_WAIT_F_TID) && w->tid)
        tid = w->tid; /* another thread's wait, written by the thread that ended the run */
    locks_lock_t *k = lock_get(L, w->lock, PS_LOCK_WAIT_KIND(rec->aux));
    locks_thread_t *t = thread_get(L, tid);
    if (!k || !t)
        return -PS_E_NOMEM;
    t->lock_wait_ns += w->wait_ns;
    t->waits++;
    L->wait_events++;
    k->ev_waits++;
    k->ev_wait_ns += w->wait_ns;
    k->ev_timeouts += w->result == ETIMEDOUT;
    replay_hist_add(&k->ev_wait, w->wait_ns);
    locks_site_t *ws = site_get(k, w->stack);
    if (!ws)
        return -PS_E_NOMEM;
    ws->ev_contended++;
    ws->ev_wait_ns += w->wait_ns;
    locks_holder_t *h = NULL;
    for (size_t i = 0; i < k->nholders && !h; i++)
        if (k->holders[i].stack == w->holder_stack)
            h = &k->holders[i];
    if (!h) {
        if (grow((void **)&k->holders, &k->holders_cap, k->nholders, sizeof *k->holders) < 0)
            return -PS_E_NOMEM;
        h = &k->holders[k->nholders++];
        h->stack = w->holder_stack;
    }
    h->waits++;
    h->wait_ns += w->wait_ns;
    locks_twait_t *tw = NULL;
    for (size_t i = 0; i < k->ntwait && !tw; i++)
        if (k->twait[i].tid == tid)
            tw = &k->twait[i];
    if (!tw) {
        if (grow((void **)&k->twait, &k->twait_cap, k->ntwait, sizeof *k->twait) < 0)
            return -PS_E_NOMEM;
        tw = &k->twait[k->ntwait++];
        tw->tid = tid;
    }
    tw->wait_ns += w->wait_ns;
    if (k->nwedge + 2 > k->wedge_cap &&
        grow((void **)&k->wedge, &k->wedge_cap, k->nwedge + 1, sizeof *k->wedge) < 0)
        return -PS_E_NOMEM;
    uint64_t start = w->ts > w->wait_ns ? w->ts - w->wait_ns : 0;
    k->wedge[k->nwedge++] = start * 2 + 1;
    k->wedge[k->nwedge++] = w->ts * 2;
    return 0;
}

int locks_keep_wait(locks_t *L, uint32_t tid, const record_t *rec)
{
    const ps_rec_lock_wait_t *w = &rec->u.lock_wait;
    if ((rec->aux & PS_LOCK_WAIT_F_TID) && w->tid)
        tid = w->tid; /* as take_wait */
    if (grow((void **)&L->waits, &L->waits_cap, L->nwaits, sizeof *L->waits) < 0)
        return -PS_E_NOMEM;
    L->waits[L->nwaits++] = (locks_wait_t){
        .start_ns = w->ts > w->wait_ns ? w->ts - w->wait_ns : 0,
        .wait_ns = w->wait_ns,
        .lock = w->lock,
        .tid = tid,
        .stack = w->stack,
        .kind = (uint8_t)PS_LOCK_WAIT_KIND(rec->aux),
        .timed_out = w->result == ETIMEDOUT,
    };
    return 0;
}

static int take_edge(locks_t *L, const record_t *rec)
{
    const ps_rec_lock_edge_t *e = &rec->u.lock_edge;
    for (size_t i = 0; i < L->nedges; i++)
        if (L->edges[i].from == e->from && L->edges[i].to == e->to)
            return 0; /* a pair is written once per process; keep the first */
    if (grow((void **)&L->edges, &L->edges_cap, L->nedges, sizeof *L->edges) < 0)
        return -PS_E_NOMEM;
    L->edges[L->nedges++] =
        (locks_edge_t){e->from, e->to, e->from_stack, e->to_stack, e->tid};
    return 0;
}

int locks_take(locks_t **lp, uint32_t tid, const record_t *rec)
{
    locks_t *L = *lp;
    if (!L) {
        L = *lp = calloc(1, sizeof *L);
        if (!L || !(L->priv = calloc(1, sizeof(amap_t))))
            return -PS_E_NOMEM;
    }
    locks_thread_t *t;
    switch (rec->type) {
    case PS_REC_THREAD_START:
    case PS_REC_THREAD_EXIT:
        if (!(t = thread_get(L, rec->u.thread.tid)))
            return -PS_E_NOMEM;
        if (rec->type == PS_REC_THREAD_START) {
            t->started = true;
            t->start_ts = rec->u.thread.ts;
        } else {
            t->exited = true;
            t->exit_ts = rec->u.thread.ts;
        }
        {
            uint32_t n = rec->u.thread.name_len < 15 ? rec->u.thread.name_len : 15;
            if (n) {
                memcpy(t->name, rec->u.thread.name, n);
                t->name[n] = 0;
            }
        }
        return 0;
    case PS_REC_LOCK_WAIT:
        L->any = true;
        return take_wait(L, tid, rec);
    case PS_REC_LOCK_SITE:
        L->any = true;
        return take_site(L, rec);
    case PS_REC_LOCK_INIT: {
        L->any = true;
        locks_lock_t *k = lock_get(L, rec->u.lock_init.lock, rec->aux);
        if (!k)
            return -PS_E_NOMEM;
        k->have_init = true;
        k->init_stack = rec->u.lock_init.stack;
        k->init_attr = rec->u.lock_init.attr;
        return 0;
    }
    case PS_REC_LOCK_EDGE:
        L->any = true;
        return take_edge(L, rec);
    case PS_REC_LOCK_INFO: {
        L->any = true;
        locks_lock_t *k = lock_get(L, rec->u.lock_info.lock, rec->aux);
        if (!k)
            return -PS_E_NOMEM;
        if (rec->u.lock_info.max_waiters > k->max_waiters)
            k->max_waiters = rec->u.lock_info.max_waiters;
        return 0;
    }
    case PS_REC_LOCK_THREAD:
        L->any = true;
        L->untracked += rec->u.lock_thread.untracked;
        L->held_overflow += rec->u.lock_thread.held_overflow;
        return 0;
    default:
        return 0;
    }
}

/* ---- analysis -------------------------------------------------------------------------- */

static int cmp_lock(const void *a, const void *b)
{
    const locks_lock_t *x = a, *y = b;
    if (x->wait_ns != y->wait_ns)
        return x->wait_ns > y->wait_ns ? -1 : 1;
    if (x->acquisitions != y->acquisitions)
        return x->acquisitions > y->acquisitions ? -1 : 1;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int cmp_site(const void *a, const void *b)
{
    const locks_site_t *x = a, *y = b;
    if (x->wait_ns != y->wait_ns)
        return x->wait_ns > y->wait_ns ? -1 : 1;
    if (x->acquisitions != y->acquisitions)
        return x->acquisitions > y->acquisitions ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int cmp_holder(const void *a, const void *b)
{
    const locks_holder_t *x = a, *y = b;
    if (x->wait_ns != y->wait_ns)
        return x->wait_ns > y->wait_ns ? -1 : 1;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int cmp_thread(const void *a, const void *b)
{
    const locks_thread_t *x = a, *y = b;
    return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* DFS for elementary cycles whose smallest lock (by address) is the start: each cycle is
 * found exactly once. path[] holds edge indices. */
typedef struct cyc_s {
    locks_t *L;
    uint64_t start;
    uint32_t path[LOCKS_CYCLE_MAX];
    uint64_t budget; /* edge visits left: a dense graph must not take forever */
    int err;
} cyc_t;

static bool path_has(const cyc_t *c, uint32_t depth, uint64_t node)
{
    for (uint32_t i = 0; i < depth; i++)
        if (c->L->edges[c->path[i]].from == node)
            return true;
    return false;
}

static void cyc_dfs(cyc_t *c, uint64_t node, uint32_t depth)
{
    locks_t *L = c->L;
    for (size_t i = 0; i < L->nedges && !c->err; i++) {
        if (c->budget == 0) {
            L->cycles_truncated = true;
            return;
        }
        c->budget--;
        const locks_edge_t *e = &L->edges[i];
        if (e->from != node || e->to < c->start)
            continue;
        c->path[depth] = (uint32_t)i;
        if (e->to == c->start) {
            if (L->ncycles >= LOCKS_CYCLES_REPORTED) {
                L->cycles_truncated = true;
                return;
            }
            if (grow((void **)&L->cycles, &L->cycles_cap, L->ncycles, sizeof *L->cycles) < 0) {
                c->err = -PS_E_NOMEM;
                return;
            }
            locks_cycle_t *cy = &L->cycles[L->ncycles++];
            cy->n = depth + 1;
            memcpy(cy->edge, c->path, (depth + 1) * sizeof c->path[0]);
            continue;
        }
        if (depth + 1 < LOCKS_CYCLE_MAX && !path_has(c, depth + 1, e->to))
            cyc_dfs(c, e->to, depth + 1);
    }
}

/* qsort of an empty array may get NULL, which qsort must not be given. */
static void sort_n(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The most waits of k in progress at once (an end sorts before a start at the same time). */
static uint32_t max_overlap(locks_lock_t *k)
{
    sort_n(k->wedge, k->nwedge, sizeof *k->wedge, cmp_u64);
    uint32_t cur = 0, max = 0;
    for (size_t i = 0; i < k->nwedge; i++) {
        if (k->wedge[i] & 1) {
            if (++cur > max)
                max = cur;
        } else if (cur) {
            cur--;
        }
    }
    free(k->wedge);
    k->wedge = NULL;
    k->nwedge = k->wedge_cap = 0;
    return max;
}

int locks_finish(locks_t *L, uint32_t pid, uint64_t start_ns, uint64_t end_ns)
{
    if (!L)
        return 0;
    int src = snaps_take(L);
    if (src < 0)
        return src;
    /* condvars apart from the locks */
    size_t nl = 0, nc = 0;
    for (size_t i = 0; i < L->nlocks; i++)
        nc += L->locks[i].kind == PS_LOCK_COND;
    if (nc) {
        L->conds = calloc(nc, sizeof *L->conds);
        if (!L->conds)
            return -PS_E_NOMEM;
    }
    for (size_t i = 0; i < L->nlocks; i++) {
        locks_lock_t *k = &L->locks[i];
        if (!k->nsites && !k->nholders && !k->have_init) { /* a LOCK_INFO alone: no activity */
            free(k->twait);
            free(k->wedge);
            continue;
        }
        uint32_t mw = max_overlap(k);
        if (mw > k->max_waiters) /* traces before 2026-11-24 also counted them in LOCK_INFO */
            k->max_waiters = mw;
        if (k->kind == PS_LOCK_COND)
            L->conds[L->nconds++] = *k;
        else
            L->locks[nl++] = *k;
    }
    L->nlocks = nl;
    amap_t *m = L->priv;
    free(m->slot); /* indices are stale from here on */
    m->slot = NULL;
    m->cap = 0;

    uint64_t duration = end_ns > start_ns ? end_ns - start_ns : 0;
    L->total_wait_ns = 0;
    for (size_t i = 0; i < L->nlocks; i++) {
        locks_lock_t *k = &L->locks[i];
        if (L->partial) { /* waits from the events, as the holders and threads (see locks.h) */
            k->contended = k->ev_waits;
            k->wait_ns = k->ev_wait_ns;
            k->wait = k->ev_wait;
            if (k->ev_timeouts > k->timeouts)
                k->timeouts = k->ev_timeouts;
            for (size_t j = 0; j < k->nsites; j++) {
                k->sites[j].contended = k->sites[j].ev_contended;
                k->sites[j].wait_ns = k->sites[j].ev_wait_ns;
            }
        }
        L->total_wait_ns += k->wait_ns;
        for (size_t j = 0; j < k->ntwait; j++)
            if (k->twait[j].wait_ns > k->amdahl_ns)
                k->amdahl_ns = k->twait[j].wait_ns;
        if (k->amdahl_ns > duration)
            k->amdahl_ns = duration;
        sort_n(k->sites, k->nsites, sizeof *k->sites, cmp_site);
        sort_n(k->holders, k->nholders, sizeof *k->holders, cmp_holder);
    }
    for (size_t i = 0; i < L->nconds; i++)
        sort_n(L->conds[i].sites, L->conds[i].nsites, sizeof *L->conds[i].sites, cmp_site);
    sort_n(L->locks, L->nlocks, sizeof *L->locks, cmp_lock);
    sort_n(L->conds, L->nconds, sizeof *L->conds, cmp_lock);

    for (size_t i = 0; i < L->nthreads; i++) {
        locks_thread_t *t = &L->threads[i];
        uint64_t s = t->started ? t->start_ts : start_ns, e = t->exited ? t->exit_ts : end_ns;
        if (t->tid == pid || s < start_ns)
            s = start_ns; /* the main thread starts with the process */
        t->wall_ns = e > s ? e - s : 0;
    }
    sort_n(L->threads, L->nthreads, sizeof *L->threads, cmp_thread);

    cyc_t c = {.L = L, .budget = 100000000};
    for (size_t i = 0; i < L->nedges && !c.err; i++) {
        uint64_t from = L->edges[i].from;
        bool seen = false; /* each start node once */
        for (size_t j = 0; j < i && !seen; j++)
            seen = L->edges[j].from == from;
        if (seen)
            continue;
        c.start = from;
        cyc_dfs(&c, from, 0);
    }
    return c.err;
}

void locks_free(locks_t *L)
{
    if (!L)
        return;
    free(L->waits);
    snaps_free(L);
    for (int pass = 0; pass < 2; pass++) {
        locks_lock_t *v = pass ? L->conds : L->locks;
        size_t n = pass ? L->nconds : L->nlocks;
        for (size_t i = 0; i < n; i++) {
            free(v[i].sites);
            free(v[i].holders);
            free(v[i].twait);
            free(v[i].wedge);
        }
    }
    amap_t *m = L->priv;
    if (m)
        free(m->slot);
    free(m);
    free(L->locks);
    free(L->conds);
    free(L->threads);
    free(L->edges);
    free(L->cycles);
    free(L);
}
