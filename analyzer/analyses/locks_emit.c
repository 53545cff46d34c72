/* locks_emit.c -- see locks_emit.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/locks_emit.h"

#include <inttypes.h>
#include <stdio.h>

#include "analyses/locks.h"

static int emit_stack(doc_t *d, const char *key, const replay_t *rp, symbols_t *sym,
                      uint32_t id, int depth)
{
    const replay_stack_t *st = id ? replay_stack(rp, id) : NULL;
    return doc_stack(d, key, sym, st ? st->ips : NULL, st ? st->depth : 0, depth);
}

static void emit_dist(doc_t *d, const char *key, const replay_hist_t *h, uint64_t total)
{
    doc_obj(d, key);
    doc_u64(d, "total", total);
    doc_u64(d, "count", h->n);
    doc_u64(d, "p50", replay_hist_quantile(h, 0.5));
    doc_u64(d, "p99", replay_hist_quantile(h, 0.99));
    doc_u64(d, "p999", replay_hist_quantile(h, 0.999));
    doc_u64(d, "max", h->max);
    doc_list(d, "histogram");
    for (unsigned b = 0; b < PS_LOCK_HIST; b++)
        if (h->count[b]) {
            doc_obj(d, NULL);
            doc_u64(d, "min", b == 0 ? 0 : (uint64_t)1 << (b - 1));
            doc_u64(d, "count", h->count[b]);
            doc_end(d);
        }
    doc_end(d);
    doc_end(d);
}

static int emit_lock(doc_t *d, const replay_t *rp, symbols_t *sym, int depth,
                     const locks_lock_t *k)
{
    const locks_t *L = rp->locks;
    uint64_t wait_all = L->total_wait_ns; /* a condvar's share is of all condvar wait */
    if (k->kind == PS_LOCK_COND) {
        wait_all = 0;
        for (size_t i = 0; i < L->nconds; i++)
            wait_all += L->conds[i].wait_ns;
    }
    char share[32];
    snprintf(share, sizeof share, "%.4f",
             wait_all ? (double)k->wait_ns / (double)wait_all : 0.0);
    doc_nl(d);
    doc_obj(d, NULL);
    doc_hex(d, "address", k->addr);
    doc_str(d, "type", lock_kind_name(k->kind));
    doc_u64(d, "acquisitions", k->acquisitions);
    doc_u64(d, "contended", k->contended);
    doc_u64(d, "owner_changes", k->owner_changes);
    doc_u64(d, "trylock_failures", k->trylock_fail);
    doc_u64(d, "timeouts", k->timeouts);
    doc_u64(d, "errors", k->errors);
    doc_u64(d, "read_acquisitions", k->rd_acquisitions);
    doc_u64(d, "allocations_while_held", k->allocs_held);
    doc_u64(d, "max_waiters", k->max_waiters);
    doc_num(d, "wait_share", share);
    doc_u64(d, "amdahl_max_saving_ns", k->amdahl_ns);
    /* a condvar's; 0 for the other kinds (the same keys in every entry) */
    doc_u64(d, "signals", k->kind == PS_LOCK_COND ? k->signals : 0);
    doc_u64(d, "broadcasts", k->kind == PS_LOCK_COND ? k->broadcasts : 0);
    /* false in a partial trace: acquisitions, owner changes, holds are lower bounds */
    doc_bool(d, "totals_complete", !L->partial);
    emit_dist(d, "wait_ns", &k->wait, k->wait_ns);
    emit_dist(d, "hold_ns", &k->hold, k->hold_ns);
    doc_list(d, "sites");
    int rc = 0;
    for (size_t j = 0; j < k->nsites && rc == 0; j++) {
        const locks_site_t *s = &k->sites[j];
        doc_obj(d, NULL);
        doc_u64(d, "acquisitions", s->acquisitions);
        doc_u64(d, "contended", s->contended);
        doc_u64(d, "wait_ns_total", s->wait_ns);
        doc_u64(d, "trylock_failures", s->trylock_fail);
        doc_u64(d, "timeouts", s->timeouts);
        doc_u64(d, "errors", s->errors);
        rc = emit_stack(d, "stack", rp, sym, s->stack, depth);
        doc_end(d);
    }
    doc_end(d);
    doc_list(d, "holders");
    for (size_t j = 0; j < k->nholders && rc == 0; j++) {
        const locks_holder_t *h = &k->holders[j];
        doc_obj(d, NULL);
        doc_u64(d, "waits", h->waits);
        doc_u64(d, "wait_ns_charged", h->wait_ns);
        rc = emit_stack(d, "stack", rp, sym, h->stack, depth);
        doc_end(d);
    }
    doc_end(d);
    if (rc == 0 && k->have_init) {
        rc = emit_stack(d, "init_stack", rp, sym, k->init_stack, depth);
        doc_u64(d, "init_attr", k->init_attr);
    } else {
        doc_null(d, "init_stack");
        doc_null(d, "init_attr");
    }
    doc_end(d);
    return rc < 0 ? rc : d->err;
}

int locks_emit(doc_t *d, const replay_t *rp, symbols_t *sym, int depth)
{
    const locks_t *L = rp->locks;
    int rc = 0;
    doc_nl(d);
    doc_list(d, "locks");
    for (size_t i = 0; L && i < L->nlocks && rc == 0; i++)
        rc = emit_lock(d, rp, sym, depth, &L->locks[i]);
    doc_end(d);
    doc_nl(d);
    doc_list(d, "condvars");
    for (size_t i = 0; L && i < L->nconds && rc == 0; i++)
        rc = emit_lock(d, rp, sym, depth, &L->conds[i]);
    doc_end(d);
    doc_nl(d);
    doc_list(d, "threads");
    for (size_t i = 0; L && i < L->nthreads; i++) {
        const locks_thread_t *t = &L->threads[i];
        /* cond_wait_recorded false: a thread of a partial trace still running (locks.h) */
        bool cond_known = !L->partial || t->exited;
        uint64_t busy = t->lock_wait_ns + (cond_known ? t->cond_wait_ns : 0);
        doc_obj(d, NULL);
        doc_u64(d, "tid", t->tid);
        doc_str(d, "name", t->name);
        doc_u64(d, "wall_ns", t->wall_ns);
        doc_u64(d, "lock_wait_ns", t->lock_wait_ns);
        doc_u64(d, "lock_waits", t->waits);
        doc_u64(d, "cond_wait_ns", t->cond_wait_ns);
        doc_bool(d, "cond_wait_recorded", cond_known);
        doc_u64(d, "running_ns", t->wall_ns > busy ? t->wall_ns - busy : 0);
        doc_end(d);
    }
    doc_end(d);
    doc_nl(d);
    doc_list(d, "lock_order_cycles");
    for (size_t i = 0; L && i < L->ncycles && rc == 0; i++) {
        const locks_cycle_t *c = &L->cycles[i];
        doc_nl(d);
        doc_obj(d, NULL);
        doc_list(d, "locks");
        for (uint32_t j = 0; j < c->n; j++)
            doc_hex(d, NULL, L->edges[c->edge[j]].from);
        doc_end(d);
        doc_list(d, "edges");
        for (uint32_t j = 0; j < c->n && rc == 0; j++) {
            const locks_edge_t *e = &L->edges[c->edge[j]];
            doc_obj(d, NULL);
            doc_hex(d, "held", e->from);
            doc_hex(d, "acquired", e->to);
            doc_u64(d, "tid", e->tid);
            rc = emit_stack(d, "held_stack", rp, sym, e->from_stack, depth);
            if (rc == 0)
                rc = emit_stack(d, "acquired_stack", rp, sym, e->to_stack, depth);
            doc_end(d);
        }
        doc_end(d);
        doc_end(d);
    }
    doc_end(d);
    doc_nl(d);
    doc_obj(d, "lock_summary");
    doc_bool(d, "totals_complete", !(L && L->partial));
    doc_u64(d, "total_wait_ns", L ? L->total_wait_ns : 0);
    doc_u64(d, "wait_events", L ? L->wait_events : 0);
    doc_u64(d, "edges", L ? L->nedges : 0);
    doc_u64(d, "untracked", L ? L->untracked : 0);
    doc_u64(d, "holds_not_timed_overflow", L ? L->held_overflow : 0);
    doc_end(d);
    return rc < 0 ? rc : d->err;
}
