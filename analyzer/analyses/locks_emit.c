/* locks_emit.c -- see locks_emit.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/locks_emit.h"

#define PS_XSTR_(x) #x
#define PS_XSTR(x) PS_XSTR_(x)

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyses/callsite.h"
#include "analyses/locks.h"
#include "core/fmt.h"
#include "perfshim/errors.h"

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

/* The text line of a distribution: "wait  total ..  p50 <=..  p99 <=..  p999 <=..  max ..". */
static void text_dist(doc_t *d, const char *what, const replay_hist_t *h, uint64_t total,
                      const char *extra)
{
    char a[32], b[32], c[32], m[32], e[32];
    if (!h->n) {
        doc_linef(d, "      %-5s -", what);
        return;
    }
    doc_linef(d, "      %-5s total %s  p50 <=%s  p99 <=%s  p999 <=%s  max %s%s", what,
              fmt_ns(e, sizeof e, total), fmt_ns(a, sizeof a, replay_hist_quantile(h, 0.5)),
              fmt_ns(b, sizeof b, replay_hist_quantile(h, 0.99)),
              fmt_ns(c, sizeof c, replay_hist_quantile(h, 0.999)), fmt_ns(m, sizeof m, h->max),
              extra);
}

/* A lock's lines in text, before its members: what it is, its distributions, Amdahl. */
static void text_lock(doc_t *d, const replay_t *rp, const locks_lock_t *k, size_t rank)
{
    const locks_t *L = rp->locks;
    char b1[32], b3[64], rw[64] = "";
    if (k->kind == PS_LOCK_COND) {
        doc_linef(d, "  condvar 0x%" PRIx64 ": %" PRIu64 " waits (%" PRIu64 " timed out), %" PRIu64
                     " signals, %" PRIu64 " broadcasts%s",
                  k->addr, k->acquisitions, k->timeouts, k->signals, k->broadcasts,
                  L->partial ? " (exited threads, running ones to their last snapshot: trace incomplete)" : "");
        text_dist(d, "wait", &k->wait, k->wait_ns, "");
        return;
    }
    bool totals = !L->partial || k->have_totals;
    if (k->kind == PS_LOCK_RWLOCK && totals)
        snprintf(rw, sizeof rw, " (%" PRIu64 " read, %" PRIu64 " write)", k->rd_acquisitions,
                 k->acquisitions - k->rd_acquisitions);
    if (totals)
        doc_linef(d, "  #%zu %s 0x%" PRIx64 ": %s%" PRIu64 " acquisitions%s, %" PRIu64
                     " contended, %" PRIu64 " owner changes, max waiters %" PRIu32,
                  rank, lock_kind_name(k->kind), k->addr, L->partial ? "at least " : "",
                  k->acquisitions, rw, k->contended, k->owner_changes, k->max_waiters);
    else
        doc_linef(d, "  #%zu %s 0x%" PRIx64 ": acquisitions and owner changes not recorded "
                     "(trace incomplete)\n     %s %" PRIu64 " contended, max waiters %" PRIu32,
                  rank, lock_kind_name(k->kind), k->addr, rw, k->contended, k->max_waiters);
    if (totals)
        doc_linef(d, "      %" PRIu64 " trylock failures, %" PRIu64 " timeouts, %" PRIu64
                     " errors, %" PRIu64 " allocations while held%s",
                  k->trylock_fail, k->timeouts, k->errors, k->allocs_held,
                  L->partial ? " (exited threads; running ones to their last snapshot)" : "");
    snprintf(b3, sizeof b3, "  (%.1f%% of all lock wait)", fmt_pct(k->wait_ns, L->total_wait_ns));
    text_dist(d, "wait", &k->wait, k->wait_ns, b3);
    snprintf(b3, sizeof b3, "  (%" PRIu64 " holds timed%s)", k->hold.n,
             L->partial ? "; running threads: to a snapshot" : "");
    if (L->partial && !k->hold.n)
        doc_line(d, "      hold  not recorded (trace incomplete)");
    else
        text_dist(d, "hold", &k->hold, k->hold_ns, b3);
    doc_linef(d, "      Amdahl: removing this contention saves at most %s (%.1f%% of the run)",
              fmt_ns(b1, sizeof b1, k->amdahl_ns), fmt_pct(k->amdahl_ns, rp->duration_ns));
}

/* text: whether this lock is one text lists (rank <= top); its sites and holders too, up to
 * top; the others are data only. */
static int emit_lock(doc_t *d, const replay_t *rp, symbols_t *sym, int depth,
                     const locks_lock_t *k, size_t rank, int top)
{
    bool text = (int)rank <= top, cond = k->kind == PS_LOCK_COND;
    char b1[32];
    doc_only(d, text ? DOC_ALL : DOC_DATA);
    if (!doc_shown(d)) { /* text lists the top ones only */
        doc_only(d, DOC_ALL);
        return d->err;
    }
    if (text)
        text_lock(d, rp, k, rank);
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
    for (size_t j = 0; j < k->nsites && rc == 0; j++) { /* by wait, then count */
        const locks_site_t *s = &k->sites[j];
        doc_only(d, text && (int)j < top ? DOC_ALL : DOC_DATA);
        fmt_ns(b1, sizeof b1, s->wait_ns);
        if (cond && (s->acquisitions || s->timeouts))
            doc_linef(d, "    waited at: %" PRIu64 " waits, %s", s->acquisitions, b1);
        else if (cond)
            doc_linef(d, "    signalled from: %" PRIu64 " calls", s->notifies);
        else if (L->partial && s->acquisitions)
            doc_linef(d, "    site: %" PRIu64 " contended, wait %s, at least %" PRIu64
                         " acquisitions", s->contended, b1, s->acquisitions);
        else if (L->partial)
            doc_linef(d, "    site: %" PRIu64 " contended, wait %s", s->contended, b1);
        else
            doc_linef(d, "    site: %" PRIu64 " acquisitions, %" PRIu64 " contended, wait %s",
                      s->acquisitions, s->contended, b1);
        doc_obj(d, NULL);
        doc_u64(d, "acquisitions", s->acquisitions);
        doc_u64(d, "contended", s->contended);
        doc_u64(d, "wait_ns_total", s->wait_ns);
        doc_u64(d, "trylock_failures", s->trylock_fail);
        doc_u64(d, "timeouts", s->timeouts);
        doc_u64(d, "errors", s->errors);
        rc = callsite_emit_stack(d, "stack", rp, sym, s->stack, depth);
        doc_end(d);
    }
    doc_only(d, text ? DOC_ALL : DOC_DATA);
    doc_end(d);
    doc_list(d, "holders");
    for (size_t j = 0; j < k->nholders && rc == 0; j++) {
        const locks_holder_t *h = &k->holders[j];
        doc_only(d, text && !cond && (int)j < top ? DOC_ALL : DOC_DATA);
        doc_linef(d, "    holder that made others wait: %s charged over %" PRIu64 " waits",
                  fmt_ns(b1, sizeof b1, h->wait_ns), h->waits);
        doc_obj(d, NULL);
        doc_u64(d, "waits", h->waits);
        doc_u64(d, "wait_ns_charged", h->wait_ns);
        rc = callsite_emit_stack(d, "stack", rp, sym, h->stack, depth);
        doc_end(d);
    }
    doc_only(d, text ? DOC_ALL : DOC_DATA);
    doc_end(d);
    if (rc == 0 && k->have_init) {
        doc_only(d, text && !cond ? DOC_ALL : DOC_DATA);
        doc_line(d, "    initialized at:");
        rc = callsite_emit_stack(d, "init_stack", rp, sym, k->init_stack, depth);
        doc_u64(d, "init_attr", k->init_attr);
    } else {
        doc_null(d, "init_stack");
        doc_null(d, "init_attr");
    }
    doc_only(d, DOC_DATA); /* each thread's wait on this lock (the HTML's thread states) */
    doc_list(d, "thread_waits");
    for (size_t j = 0; j < k->ntwait; j++) {
        doc_obj(d, NULL);
        doc_u64(d, "tid", k->twait[j].tid);
        doc_u64(d, "wait_ns", k->twait[j].wait_ns);
        doc_end(d);
    }
    doc_end(d);
    doc_end(d);
    doc_only(d, DOC_ALL);
    return rc < 0 ? rc : d->err;
}

/* The text lines above the lock list: totals of the locks and the threads. */
static void text_locks_head(doc_t *d, const replay_t *rp)
{
    const locks_t *L = rp->locks;
    char b1[32], b3[64];
    uint64_t acq = 0, cont = 0, thread_wall = 0;
    bool any_totals = false;
    for (size_t i = 0; i < L->nlocks; i++) {
        acq += L->locks[i].acquisitions;
        cont += L->locks[i].contended;
        any_totals |= L->locks[i].have_totals;
    }
    for (size_t i = 0; i < L->nthreads; i++)
        thread_wall += L->threads[i].wall_ns;
    doc_title(d, "LOCK CONTENTION (locks ranked by total wait)");
    if (L->partial) {
        /* see locks.h: waits from the events, acquisitions what exited threads wrote and the
         * running ones' last snapshots */
        doc_line(d, "  trace incomplete (no END): waits and times are those of the wait events "
                    "recorded;\n  acquisition totals are those of the threads that exited and, "
                    "for the running ones, of their last snapshot (taken every "
                    PS_XSTR(PS_LOCK_SNAPSHOT_FLUSHES) " flush periods)");
        if (any_totals)
            snprintf(b3, sizeof b3, "at least %" PRIu64, acq);
        else
            snprintf(b3, sizeof b3, "not recorded");
    } else {
        snprintf(b3, sizeof b3, "%" PRIu64, acq);
    }
    doc_linef(d, "  locks %zu, acquisitions %s, contended %" PRIu64 ", wait %s (%.1f%% of "
                 "all threads' wall time)",
              L->nlocks, b3, cont, fmt_ns(b1, sizeof b1, L->total_wait_ns),
              fmt_pct(L->total_wait_ns, thread_wall));
    if (L->untracked || L->held_overflow)
        doc_linef(d, "  warning: %" PRIu64 " lock operations untracked (tables full), %" PRIu64
                     " holds not timed (too many locks held at once)",
                  L->untracked, L->held_overflow);
}

int locks_emit(doc_t *d, const replay_t *rp, symbols_t *sym, int depth, int top)
{
    const locks_t *L = rp->locks;
    int rc = 0;
    char b1[32], b2[32], b4[32], b5[32];
    if (L) /* text: no lock sections at all without lock records */
        text_locks_head(d, rp);
    doc_nl(d);
    doc_list(d, "locks");
    for (size_t i = 0; L && i < L->nlocks && rc == 0; i++)
        rc = emit_lock(d, rp, sym, depth, &L->locks[i], i + 1, top);
    doc_end(d);
    if (L && L->nlocks > (size_t)top)
        doc_linef(d, "  ... %zu more locks", L->nlocks - (size_t)top);
    if (L && L->nconds)
        doc_title(d, "CONDITION VARIABLES (waiting for work or an event, not for a lock)");
    doc_nl(d);
    doc_list(d, "condvars");
    for (size_t i = 0; L && i < L->nconds && rc == 0; i++)
        rc = emit_lock(d, rp, sym, depth, &L->conds[i], i + 1, top);
    doc_end(d);
    if (L) {
        doc_title(d, "THREADS (wall time: running, waiting for a lock, waiting on a condvar)");
        doc_linef(d, "  %8s %-15s %12s %12s %12s %7s %12s %7s", "tid", "name", "wall",
                  "running", "lock wait", "share", "cond wait", "share");
    }
    doc_nl(d);
    doc_list(d, "threads");
    for (size_t i = 0; L && i < L->nthreads; i++) {
        const locks_thread_t *t = &L->threads[i];
        /* cond_wait_recorded false: a thread of a partial trace still running (locks.h) */
        bool cond_known = !L->partial || t->exited;
        uint64_t busy = t->lock_wait_ns + (cond_known ? t->cond_wait_ns : 0);
        char cw[48];
        if (cond_known)
            snprintf(cw, sizeof cw, "%12s %6.1f%%", fmt_ns(b5, sizeof b5, t->cond_wait_ns),
                     fmt_pct(t->cond_wait_ns, t->wall_ns));
        else
            snprintf(cw, sizeof cw, "%12s %7s", "not recorded", "-");
        doc_linef(d, "  %8" PRIu32 " %-15s %12s %12s %12s %6.1f%% %s", t->tid, t->name,
                  fmt_ns(b1, sizeof b1, t->wall_ns),
                  cond_known ? fmt_ns(b4, sizeof b4, t->wall_ns > busy ? t->wall_ns - busy : 0)
                             : "-",
                  fmt_ns(b2, sizeof b2, t->lock_wait_ns), fmt_pct(t->lock_wait_ns, t->wall_ns), cw);
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
    if (L && L->partial)
        doc_line(d, "  (trace incomplete: a thread still running has no condvar totals yet)");
    if (L) {
        doc_title(d, "LOCK ORDER CYCLES (potential deadlocks)");
        if (!L->ncycles)
            doc_linef(d, "  none among %zu lock-order edges", L->nedges);
    }
    doc_nl(d);
    doc_list(d, "lock_order_cycles");
    for (size_t i = 0; L && i < L->ncycles && rc == 0; i++) {
        const locks_cycle_t *c = &L->cycles[i];
        if (d->ops->line) { /* "cycle N: 0x.. -> 0x.. -> 0x.." (text only) */
            char line[1024];
            size_t n = (size_t)snprintf(line, sizeof line, "  cycle %zu:", i + 1);
            for (uint32_t j = 0; j < c->n && n < sizeof line; j++)
                n += (size_t)snprintf(line + n, sizeof line - n, " 0x%" PRIx64 " ->",
                                      L->edges[c->edge[j]].from);
            if (n < sizeof line)
                snprintf(line + n, sizeof line - n, " 0x%" PRIx64, L->edges[c->edge[0]].from);
            doc_line(d, line);
        }
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
            doc_linef(d, "    thread %" PRIu32 " held 0x%" PRIx64 ", acquired at:", e->tid,
                      e->from);
            rc = callsite_emit_stack(d, "held_stack", rp, sym, e->from_stack, depth);
            doc_linef(d, "    while acquiring 0x%" PRIx64 " at:", e->to);
            if (rc == 0)
                rc = callsite_emit_stack(d, "acquired_stack", rp, sym, e->to_stack, depth);
            doc_end(d);
        }
        doc_end(d);
        doc_end(d);
    }
    doc_end(d);
    if (L && L->cycles_truncated)
        doc_line(d, "  ... more cycles not listed");
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

/* ---- the time axis (profile view) ---------------------------------------------------- */

static int wait_by_start(const void *a, const void *b)
{
    const locks_wait_t *x = a, *y = b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* The waiter's frame of stack id: the first outside the shim; false when there is none. */
static int wait_frame(const replay_t *rp, symbols_t *sym, uint32_t id, sym_frame_t *f, bool *ok)
{
    const replay_stack_t *st = id ? replay_stack(rp, id) : NULL;
    *ok = false;
    for (uint32_t i = 0; st && i < st->depth && !*ok; i++) {
        int rc = symbols_lookup(sym, st->ips[i], f);
        if (rc < 0)
            return rc;
        *ok = !callsite_is_own_frame(f);
    }
    return 0;
}

int locks_emit_waits(profile_t *p, const replay_t *rp, symbols_t *sym)
{
    const locks_t *L = rp->locks;
    if (!L || !profile_wants_time(p))
        return 0;
    int rc = 0;
    for (size_t i = 0; i < L->nthreads && rc == 0; i++)
        rc = profile_thread(p, L->threads[i].tid, L->threads[i].name);
    locks_wait_t *v = NULL;
    if (L->nwaits && !(v = malloc(L->nwaits * sizeof *v)))
        return -PS_E_NOMEM;
    if (L->nwaits) {
        memcpy(v, L->waits, L->nwaits * sizeof *v);
        qsort(v, L->nwaits, sizeof *v, wait_by_start);
    }
    char name[512], detail[448];
    uint32_t last_stack = 0;
    bool have_last = false, ok = false;
    sym_frame_t f;
    for (size_t i = 0; i < L->nwaits && rc == 0; i++) {
        const locks_wait_t *w = &v[i];
        if (!have_last || w->stack != last_stack) { /* the lookups are cached; this skips them */
            if ((rc = wait_frame(rp, sym, w->stack, &f, &ok)) < 0)
                break;
            last_stack = w->stack;
            have_last = true;
            detail[0] = 0;
            if (ok && f.function && f.file)
                snprintf(detail, sizeof detail, "%s (%s:%" PRIu32 ")", f.function, f.file,
                         f.line);
            else if (ok && f.function)
                snprintf(detail, sizeof detail, "%s", f.function);
            else if (ok && f.module_name)
                snprintf(detail, sizeof detail, "%s+0x%" PRIx64, f.module_name, f.offset);
        }
        int n = snprintf(name, sizeof name, "%s 0x%" PRIx64, lock_kind_name(w->kind), w->lock);
        if (ok && n > 0 && (size_t)n < sizeof name)
            snprintf(name + n, sizeof name - (size_t)n, " at %s",
                     f.function ? f.function : detail);
        uint64_t t = w->start_ns > rp->start_ns ? w->start_ns - rp->start_ns : 0;
        rc = profile_span(p, w->tid, t, w->wait_ns, name, detail);
    }
    free(v);
    return rc;
}
