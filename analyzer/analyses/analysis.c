/*
 * analysis.c -- see analysis.h. Each analysis's pass_ops_t is an adapter from the pass's
 * interface to its module's functions; the result pointer is the replay_t or the leaks_t.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/analysis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyses/locks.h"
#include "analyses/misuse.h"
#include "analyses/pressure.h"
#include "analyses/series.h"
#include "core/pass.h"
#include "core/prefetch.h"
#include "perfshim/errors.h"

/* ---- heap ---------------------------------------------------------------------------- */

static int heap_init(void *result, void **state, const tracemodel_t *m)
{
    return replay_begin(result, state, m);
}

static void heap_free(void *state, void *result)
{
    (void)result;
    replay_state_free(state);
}

/* ---- misuse: the heap replay finds it, rp->misuse aggregates it ---------------------- */

static int misuse_init(void *result, void **state, const tracemodel_t *m)
{
    (void)m;
    replay_t *rp = result;
    *state = rp;
    return misuse_new(&rp->misuse);
}

static int misuse_finish(void *state, const tracemodel_t *m)
{
    (void)m;
    replay_t *rp = state;
    misuse_take(rp->misuse, &rp->errors, &rp->nerrors);
    return 0;
}

static void misuse_done(void *state, void *result)
{
    (void)state;
    replay_t *rp = result;
    misuse_free(rp->misuse);
    rp->misuse = NULL;
}

/* ---- locks --------------------------------------------------------------------------- */

static int locks_init(void *result, void **state, const tracemodel_t *m)
{
    replay_timeline_init(result, m); /* the waits on the time axis, with or without the heap */
    *state = result;
    return 0;
}

static int locks_on_record(void *state, uint32_t tid, const record_t *rec)
{
    replay_t *rp = state;
    if (rec->type == PS_REC_LOCK_WAIT)
        replay_timeline_wait(rp, rec->u.lock_wait.ts, rec->u.lock_wait.wait_ns);
    if ((rec->type >= PS_REC_LOCK_FIRST && rec->type <= PS_REC_LOCK_LAST) ||
        rec->type == PS_REC_THREAD_START || rec->type == PS_REC_THREAD_EXIT)
        return locks_take(&rp->locks, tid, rec);
    return 0;
}

static int locks_on_finish(void *state, const tracemodel_t *m)
{
    replay_t *rp = state;
    if (rp->locks && !rp->locks->any) {
        locks_free(rp->locks);
        rp->locks = NULL;
    }
    if (rp->locks) /* a crash wrote totals */
        rp->locks->partial = !m->have_end && !m->crash_signal;
    return locks_finish(rp->locks, m->pid, m->start_ns, m->have_ts ? m->last_ts : 0);
}

static void locks_done(void *state, void *result)
{
    (void)state;
    (void)result; /* rp->locks is the result: replay_free frees it */
}

/* ---- leaks --------------------------------------------------------------------------- */

static int leaks_init(void *result, void **state, const tracemodel_t *m)
{
    (void)m;
    *state = result;
    return leaks_begin(result);
}

static int leaks_on_record(void *state, uint32_t tid, const record_t *rec)
{
    (void)tid;
    return leaks_record(state, rec);
}

static int leaks_on_finish(void *state, const tracemodel_t *m)
{
    (void)state;
    (void)m; /* the call sites need symbols: leaks_resolve after the pass */
    return 0;
}

static void leaks_done(void *state, void *result)
{
    (void)state;
    (void)result; /* the result: leaks_free */
}

/* ---- lock waits: each LOCK_WAIT kept in rp->locks (after the lock analysis took it) ---- */

static int waits_on_record(void *state, uint32_t tid, const record_t *rec)
{
    replay_t *rp = state;
    return rec->type == PS_REC_LOCK_WAIT && rp->locks ? locks_keep_wait(rp->locks, tid, rec) : 0;
}

static int waits_on_finish(void *state, const tracemodel_t *m)
{
    (void)state;
    (void)m;
    return 0;
}

/* ---- series: the live heap after the heap replay's events, the RSS samples ------------ */

static int series_init(void *result, void **state, const tracemodel_t *m)
{
    return series_begin(result, state, m);
}

static void series_done(void *state, void *result)
{
    (void)result; /* rp->series is the result: analyses_free frees it */
    series_state_free(state);
}

/* ---- pressure: after the heap replay, whose released blocks it reads ---------------- */

typedef struct pressure_args_s {
    replay_t *rp;
    analysis_params_t params;
} pressure_args_t;

static int pressure_init(void *result, void **state, const tracemodel_t *m)
{
    pressure_args_t *a = result;
    return pressure_begin(a->rp, a->params.short_ns, a->params.within_k, state, m);
}

static void pressure_done(void *state, void *result)
{
    (void)result; /* rp->pressure is the result: analyses_free frees it */
    pressure_state_free(state);
}

/* ---- the table ----------------------------------------------------------------------- */

static const pass_ops_t ops_MISUSE = {"misuse", misuse_init,   NULL,         NULL,
                                      misuse_finish, misuse_done, NULL, NULL, NULL};
static const pass_ops_t ops_HEAP = {"heap",      heap_init,   replay_record, replay_event,
                                    replay_end,  heap_free,   replay_prefetch_on, replay_prefetch,
                                    replay_events};
static const pass_ops_t ops_LOCKS = {"locks", locks_init, locks_on_record, NULL,
                                     locks_on_finish, locks_done, NULL, NULL, NULL};
static const pass_ops_t ops_LEAKS = {"leaks", leaks_init, leaks_on_record, NULL,
                                     leaks_on_finish, leaks_done, NULL, NULL, NULL};
static const pass_ops_t ops_PRESSURE = {"pressure",    pressure_init, pressure_record,
                                        pressure_event, pressure_end,  pressure_done,
                                        NULL,           NULL,          pressure_events};

static const pass_ops_t ops_WAITS = {"waits", locks_init, waits_on_record, NULL,
                                     waits_on_finish, locks_done, NULL, NULL, NULL};

static const pass_ops_t ops_SERIES = {"series", series_init, series_record, series_event,
                                      series_end, series_done, NULL, NULL, series_events};

static const struct {
    const pass_ops_t *ops;
    unsigned needs;
    int leaks; /* the result is the leaks_t (else the replay_t) */
} analyses[ANALYSIS_COUNT] = {
#define ANALYSIS_ROW(id, name, needs, what) {&ops_##id, needs, ANALYSIS_##id == ANALYSIS_LEAKS},
    ANALYSES(ANALYSIS_ROW)
#undef ANALYSIS_ROW
};

unsigned analyses_closure(unsigned select)
{
    unsigned s = select & ANALYSIS_ALL, prev;
    do {
        prev = s;
        for (unsigned i = 0; i < ANALYSIS_COUNT; i++)
            if (s & (1u << i))
                s |= analyses[i].needs;
    } while (s != prev);
    return s;
}

/* ---- symbols ahead: not an analysis, a sink that starts core/symbols.h's symwarm -------
 * The symbols' fixed cost (libc's DWARF above all: ~0.07 s of a report) comes after the
 * pass, on the pass's thread. Once a quarter of the trace's events went by, this loads the
 * modules and DWARF units of the stacks of the sites with the most allocations and bytes so
 * far, and of the exit scan's leaks with the most bytes, on a thread of its own, while the
 * pass goes on; analyses_symbols takes them over.
 * Only where it costs no peak memory: a trace of at least WARM_EVENTS_MIN events whose live
 * heap then holds at most WARM_LIVE_MAX blocks (the symbols' ~25 MB would add to a large
 * block table's, instead of coming after it is freed), and only with a second core for it
 * (prefetch_second_core: more than one CPU, PERFSHIM_NO_PREFETCH unset). */
#define WARM_EVENTS_MIN 200000
#define WARM_LIVE_MAX 65536
#define WARM_SITES 6 /* top sites by allocations, and by bytes */
#define WARM_IPS_MAX 1024

typedef struct warm_s {
    replay_t *rp;
    const symbols_opts_t *so;
    const tracemodel_t *m;
    uint64_t seen, at; /* events so far; when to look (0: not known yet) */
    bool done;
    /* the leak records' stacks with the most bytes (the exit scan's: read before the events,
     * its records are in the shim's stream), most first */
    uint32_t leak_stack[WARM_SITES];
    uint64_t leak_bytes[WARM_SITES];
    size_t nleak;
} warm_t;

static int warm_record(void *state, uint32_t tid, const record_t *rec)
{
    (void)tid;
    warm_t *w = state;
    if (rec->type != PS_REC_LEAK || !rec->u.leak.stack || w->done)
        return 0;
    uint32_t st = rec->u.leak.stack;
    uint64_t b = rec->u.leak.bytes;
    for (size_t i = 0; i < w->nleak; i++)
        if (w->leak_stack[i] == st)
            return 0; /* (a stack's first record is enough to choose) */
    size_t j = w->nleak < WARM_SITES ? w->nleak++ : WARM_SITES;
    while (j > 0 && w->leak_bytes[j - 1] < b) {
        if (j < WARM_SITES) {
            w->leak_stack[j] = w->leak_stack[j - 1];
            w->leak_bytes[j] = w->leak_bytes[j - 1];
        }
        j--;
    }
    if (j < WARM_SITES) {
        w->leak_stack[j] = st;
        w->leak_bytes[j] = b;
    }
    return 0;
}

static int warm_init(void *result, void **state, const tracemodel_t *m)
{
    warm_t *w = result;
    w->m = m;
    *state = w;
    return 0;
}

static void warm_top(const replay_t *rp, size_t *top, size_t *n, bool by_bytes)
{
    size_t k = 0;
    for (size_t i = 0; i < rp->nsites; i++) {
        uint64_t v = by_bytes ? rp->sites[i].bytes : rp->sites[i].allocations;
        size_t j = k < WARM_SITES ? k++ : k;
        while (j > 0 &&
               (by_bytes ? rp->sites[top[j - 1]].bytes : rp->sites[top[j - 1]].allocations) < v) {
            if (j < WARM_SITES)
                top[j] = top[j - 1];
            j--;
        }
        if (j < WARM_SITES)
            top[j] = i;
    }
    *n = k;
}

static void warm_start(warm_t *w)
{
    w->done = true;
    const replay_t *rp = w->rp;
    if (rp->live_blocks > WARM_LIVE_MAX || !prefetch_second_core())
        return;
    size_t top[2][WARM_SITES], ntop[2];
    warm_top(rp, top[0], &ntop[0], false);
    warm_top(rp, top[1], &ntop[1], true);
    uint64_t ips[WARM_IPS_MAX];
    size_t nips = 0;
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < (t < 2 ? ntop[t] : w->nleak); i++) {
            uint32_t id = t < 2 ? rp->sites[top[t][i]].stack_id : w->leak_stack[i];
            const tm_stack_t *st = tracemodel_stack(w->m, id);
            for (uint32_t k = 0; st && k < st->depth && nips < WARM_IPS_MAX; k++)
                ips[nips++] = st->ips[k];
        }
    if (!nips)
        return;
    /* (no symbols ahead is no error: analyses_symbols does the work itself) */
    symwarm_start(&w->rp->symwarm, w->m->modules, w->m->nmodules, ips, nips, w->so);
}

static int warm_events(void *state, const pass_event_t *ev, size_t n)
{
    (void)ev;
    warm_t *w = state;
    if (w->done)
        return 0;
    if (!w->at) { /* the END record (the shim's stream, read before any event) counts them */
        if (!w->m->have_end || w->m->end.events < WARM_EVENTS_MIN) {
            w->done = true;
            return 0;
        }
        w->at = w->m->end.events / 4;
    }
    if ((w->seen += n) >= w->at)
        warm_start(w);
    return 0;
}

static int warm_event(void *state, const pass_event_t *e)
{
    return warm_events(state, e, 1);
}

static int warm_finish(void *state, const tracemodel_t *m)
{
    (void)state;
    (void)m;
    return 0;
}

static void warm_free(void *state, void *result)
{
    (void)state;
    (void)result;
}

static const pass_ops_t ops_WARM = {"symbols-ahead", warm_init, warm_record, warm_event,
                                    warm_finish,     warm_free, NULL,        NULL,
                                    warm_events};

/* One pass with the selected analyses; rp gets the model. so: start the symbols ahead
 * (NULL: not). */
static int analyses_pass(const char *path, unsigned select, const analysis_params_t *params,
                         const symbols_opts_t *so, replay_t *rp, leaks_t *leaks, char *err,
                         size_t errlen)
{
    pressure_args_t pa = {rp, {PRESSURE_SHORT_NS_DEFAULT, PRESSURE_K_DEFAULT}};
    if (params)
        pa.params = *params;
    memset(rp, 0, sizeof(*rp));
    if (leaks)
        memset(leaks, 0, sizeof(*leaks));
    tracemodel_t *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "%s: %s", path, ps_strerror(PS_E_NOMEM));
        return -PS_E_NOMEM;
    }
    select = analyses_closure(select);
    if (!leaks)
        select &= ~ANALYSIS_LEAKS;
    pass_sink_t sinks[ANALYSIS_COUNT + 1];
    size_t n = 0;
    for (unsigned i = 0; i < ANALYSIS_COUNT; i++)
        if (select & (1u << i))
            sinks[n++] = (pass_sink_t){analyses[i].ops,
                                       analyses[i].leaks               ? (void *)leaks
                                       : i == ANALYSIS_ID_PRESSURE ? (void *)&pa
                                                                       : (void *)rp,
                                       NULL};
    warm_t warm = {.rp = rp, .so = so};
    if (so && (select & ANALYSIS_HEAP))
        sinks[n++] = (pass_sink_t){&ops_WARM, &warm, NULL};
    int rc = pass_run(path, m, sinks, n, err, errlen);
    for (size_t i = 0; i < n; i++)
        sinks[i].ops->free(sinks[i].state, sinks[i].result);
    replay_set_model(rp, m); /* rp owns the model from here, even after a failure */
    return rc;
}

/* analyses_pass, and once more with the heap replay when the leaks need it and it did not
 * run: a trace whose scans give verdicts by address (or whose snapshots are markers) has its
 * groups attributed by the replay (leakaddr.h). Only such traces pay for the second pass, and
 * only when the command did not select the replay (perfshim check --no-heap-errors). */
static int analyses_run(const char *path, unsigned select, const analysis_params_t *params,
                        const symbols_opts_t *so, replay_t *rp, leaks_t *leaks, char *err,
                        size_t errlen)
{
    int rc = analyses_pass(path, select, params, so, rp, leaks, err, errlen);
    if (rc < 0 || !leaks || !leaks->by_address || (analyses_closure(select) & ANALYSIS_HEAP))
        return rc;
    leaks_free(leaks);
    series_free(rp->series);
    pressure_free(rp->pressure);
    replay_free(rp);
    return analyses_pass(path, select | ANALYSIS_HEAP, params, so, rp, leaks, err, errlen);
}

int analyses_load(const char *path, unsigned select, replay_t *rp, leaks_t *leaks, char *err,
                  size_t errlen)
{
    return analyses_run(path, select, NULL, NULL, rp, leaks, err, errlen);
}

int analyses_load_params(const char *path, unsigned select, const analysis_params_t *params,
                         replay_t *rp, leaks_t *leaks, char *err, size_t errlen)
{
    return analyses_run(path, select, params, NULL, rp, leaks, err, errlen);
}

int analyses_load_ahead(const char *path, unsigned select, const analysis_params_t *params,
                        const symbols_opts_t *so, replay_t *rp, leaks_t *leaks, char *err,
                        size_t errlen)
{
    return analyses_run(path, select, params, so, rp, leaks, err, errlen);
}

int analyses_symbols(replay_t *rp, leaks_t *leaks, const symbols_opts_t *so, symbols_t **sym,
                     char *err, size_t errlen)
{
    /* symbols once, after the pass; lazy: an address is resolved when something prints it */
    symwarm_wait(rp->symwarm); /* (before symbols_open: libelf's global version) */
    int rc = symbols_open(sym, rp->modules, rp->nmodules, so);
    if (rc == 0)
        symbols_adopt(*sym, rp->symwarm); /* (frees it) */
    else
        symwarm_free(rp->symwarm);
    rp->symwarm = NULL;
    if (rc == 0 && leaks)
        rc = leaks_resolve(leaks, rp, *sym);
    if (rc < 0)
        snprintf(err, errlen, "%s", ps_strerror(rc));
    return rc;
}

void analyses_free(replay_t *rp, leaks_t *leaks, symbols_t *sym)
{
    if (leaks)
        leaks_free(leaks);
    symbols_close(sym);
    series_free(rp->series);
    pressure_free(rp->pressure);
    rp->pressure = NULL;
    replay_free(rp);
}

int replay_run(const char *path, replay_t *rp, char *err, size_t errlen)
{
    int rc = analyses_pass(path, ANALYSIS_HEAP | ANALYSIS_MISUSE | ANALYSIS_LOCKS, NULL, NULL, rp,
                           NULL, err, errlen);
    if (rc < 0)
        replay_free(rp); /* no series: not selected */
    return rc;
}
