/* pressure_emit.c -- see pressure_emit.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/callsite.h"
#include "analyses/pressure_emit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/fmt.h"
#include "perfshim/errors.h"

/* count per second over ns, rounded down; 0 over no time */
static uint64_t per_s(uint64_t count, uint64_t ns)
{
    if (!ns)
        return 0;
    return (uint64_t)((double)count * 1e9 / (double)ns);
}

static const pressure_t *sort_P; /* qsort's context (single-threaded) */

static int by_allocations(const void *a, const void *b)
{
    const pressure_site_t *x = &sort_P->sites[*(const size_t *)a];
    const pressure_site_t *y = &sort_P->sites[*(const size_t *)b];
    if (x->allocations != y->allocations)
        return x->allocations > y->allocations ? -1 : 1;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static int by_peak(const void *a, const void *b)
{
    const pressure_site_t *x = &sort_P->sites[*(const size_t *)a];
    const pressure_site_t *y = &sort_P->sites[*(const size_t *)b];
    if (x->peak_bytes != y->peak_bytes)
        return x->peak_bytes > y->peak_bytes ? -1 : 1;
    return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static size_t *ranked(const pressure_t *P, int (*cmp)(const void *, const void *))
{
    size_t *v = malloc((P->nsites ? P->nsites : 1) * sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < P->nsites; i++)
        v[i] = i;
    sort_P = P;
    if (P->nsites)
        qsort(v, P->nsites, sizeof(*v), cmp);
    return v;
}

static void emit_window(doc_t *d, const pressure_t *P, size_t i)
{
    const pressure_window_t *w = &P->windows[i];
    doc_obj(d, NULL);
    doc_u64(d, "index", i);
    doc_u64(d, "start_ns", P->window_ns * i);
    doc_u64(d, "allocations", w->allocations);
    doc_u64(d, "bytes", w->bytes);
    doc_u64(d, "releases", w->releases);
    doc_u64(d, "allocations_per_s", per_s(w->allocations, P->window_ns));
    doc_u64(d, "bytes_per_s", per_s(w->bytes, P->window_ns));
    doc_u64(d, "bytes_died_young", w->bytes_died_young);
    doc_u64(d, "bytes_died_young_per_s", per_s(w->bytes_died_young, P->window_ns));
    doc_u64(d, "live_bytes_max", w->live_bytes_max);
    doc_u64_or_null(d, "rss_bytes", w->rss_bytes != 0, w->rss_bytes);
    doc_u64_or_null(d, "recorder_bytes", P->have_recorder_bytes, w->recorder_bytes);
    doc_end(d);
}

static int emit_site(doc_t *d, const replay_t *rp, const pressure_t *P, const pressure_site_t *s,
                     symbols_t *sym, int depth)
{
    doc_obj(d, NULL);
    doc_u64(d, "stack_id", s->stack_id);
    doc_u64(d, "allocations", s->allocations);
    doc_u64(d, "bytes", s->bytes);
    doc_u64(d, "releases", s->releases);
    doc_u64(d, "size_min", s->size_min);
    doc_u64(d, "size_max", s->size_max);
    doc_u64(d, "short_lived", s->short_lived);
    doc_u64(d, "short_lived_bytes", s->short_lived_bytes);
    doc_u64(d, "temporary", s->temporary);
    doc_u64(d, "within_k", s->within_k);
    doc_u64(d, "same_size_cycles", s->same_size_cycles);
    doc_u64_or_null(d, "cross_thread_frees", P->have_cross_thread, s->cross_thread_frees);
    doc_u64(d, "realloc_steps", s->realloc_steps);
    doc_u64(d, "realloc_chains", s->realloc_chains);
    doc_u64(d, "realloc_bytes_copied", s->realloc_bytes_copied);
    doc_u64(d, "realloc_final_max", s->realloc_final_max);
    doc_u64_or_null(d, "under_lock", P->have_under_lock, s->under_lock);
    doc_u64_or_null(d, "under_lock_bytes", P->have_under_lock, s->under_lock_bytes);
    if (s->under_lock_lock)
        doc_hex(d, "under_lock_lock", s->under_lock_lock);
    else
        doc_null(d, "under_lock_lock");
    doc_u64_or_null(d, "alloc_ns", P->have_alloc_ns, s->alloc_ns);
    doc_u64(d, "peak_bytes", s->peak_bytes);
    const replay_hist_t *h = &s->lifetimes;
    doc_quantiles(d, "lifetime_ns", replay_hist_quantile(h, 0.5), replay_hist_quantile(h, 0.99),
                  replay_hist_quantile(h, 0.999), h->max);
    doc_list(d, "lifetime_histogram");
    for (unsigned b = 0; b < REPLAY_HIST_BUCKETS; b++)
        if (h->count[b]) {
            doc_obj(d, NULL);
            doc_u64(d, "min_ns", b == 0 ? 0 : (uint64_t)1 << (b - 1));
            doc_u64(d, "count", h->count[b]);
            doc_end(d);
        }
    doc_end(d);
    /* text: the lock's site only where there is one, before the site's own stack */
    unsigned prev = doc_hide(d, d->hide | (s->under_lock_site ? 0u : (unsigned)DOC_TEXT));
    if (s->under_lock_site)
        doc_line(d, "      the lock's acquisition:");
    int rc = callsite_emit_stack(d, "under_lock_stack", rp, sym, s->under_lock_site, depth);
    doc_hide(d, prev);
    if (s->under_lock_site)
        doc_line(d, "      the allocation:");
    if (rc == 0)
        rc = callsite_emit_stack(d, "stack", rp, sym, s->stack_id, depth);
    doc_end(d);
    return rc;
}

/* The text lines of the totals. */
static void text_totals(doc_t *d, const pressure_t *P, const replay_hist_t *life)
{
    char a[32], b[32], c[32], e[32], f[32];
    doc_linef(d, "  short-lived: freed within %s; within K: at most %u other allocations of the "
                 "allocating thread in between",
              fmt_ns(a, sizeof a, P->short_ns), P->k);
    doc_linef(d, "  rate            %s allocations/s, %s/s over %s", fmt_rate(a, sizeof a,
              P->allocations, P->duration_ns), fmt_bytes(b, sizeof b, per_s(P->bytes,
              P->duration_ns)), fmt_ns(c, sizeof c, P->duration_ns));
    doc_linef(d, "  short-lived     %" PRIu64 " of %" PRIu64 " allocations (%.1f%%), %s; %s/s die "
                 "young",
              P->short_lived, P->allocations, fmt_pct(P->short_lived, P->allocations),
              fmt_bytes(a, sizeof a, P->short_lived_bytes),
              fmt_bytes(b, sizeof b, per_s(P->short_lived_bytes, P->duration_ns)));
    doc_linef(d, "  temporary       %" PRIu64 " freed before their thread's next allocation; %" PRIu64
                 " within %u",
              P->temporary, P->within_k, P->k);
    doc_linef(d, "  same-size       %" PRIu64 " alloc/free cycles of one size (pool candidates)",
              P->same_size_cycles);
    doc_linef(d, "  realloc chains  %" PRIu64 " chains, %" PRIu64 " steps, %s copied",
              P->realloc_chains, P->realloc_steps, fmt_bytes(a, sizeof a, P->realloc_bytes_copied));
    if (P->have_cross_thread)
        doc_linef(d, "  cross-thread    %" PRIu64 " frees by another thread than the allocating one",
                  P->cross_thread_frees);
    else
        doc_line(d, "  cross-thread    unavailable (the trace's frees do not say; recorded "
                    "without the live set or by an older shim)");
    if (P->have_under_lock)
        doc_linef(d, "  under a lock    %" PRIu64 " allocations (%.1f%%), %s", P->under_lock,
                  fmt_pct(P->under_lock, P->allocations), fmt_bytes(a, sizeof a, P->under_lock_bytes));
    else
        doc_line(d, "  under a lock    unavailable (no lock-held allocation records in the trace)");
    if (life->n)
        doc_linef(d, "  lifetimes       p50 <=%s  p99 <=%s  p999 <=%s  max %s",
                  fmt_ns(a, sizeof a, replay_hist_quantile(life, 0.5)),
                  fmt_ns(b, sizeof b, replay_hist_quantile(life, 0.99)),
                  fmt_ns(c, sizeof c, replay_hist_quantile(life, 0.999)),
                  fmt_ns(e, sizeof e, life->max));
    doc_linef(d, "  peak heap       %s at +%s", fmt_bytes(a, sizeof a, P->peak_bytes),
              fmt_ns(f, sizeof f, P->peak_time_ns));
}

int pressure_emit(doc_t *d, const replay_t *rp, symbols_t *sym, int depth, int top)
{
    static const pressure_t none = {.short_ns = PRESSURE_SHORT_NS_DEFAULT,
                                    .k = PRESSURE_K_DEFAULT};
    const pressure_t *P = rp->pressure ? rp->pressure : &none;
    int rc = 0;
    replay_hist_t life = {{0}, 0, 0};
    for (size_t i = 0; i < P->nsites; i++)
        replay_hist_merge(&life, &P->sites[i].lifetimes);
    size_t *v = ranked(P, by_allocations), *pk = ranked(P, by_peak);
    if (!v || !pk) {
        free(v);
        free(pk);
        return -PS_E_NOMEM;
    }
    if (rp->pressure) {
        doc_title(d, "ALLOCATION PRESSURE (rates, lifetimes, churn, growth, threads, locks)");
        text_totals(d, P, &life);
    }
    doc_nl(d);
    doc_obj(d, "pressure");
    doc_bool(d, "available", rp->pressure != NULL);
    doc_u64(d, "short_lived_ns", P->short_ns);
    doc_u64(d, "k", P->k);
    doc_u64(d, "duration_ns", P->duration_ns);
    doc_u64(d, "allocations", P->allocations);
    doc_u64(d, "bytes", P->bytes);
    doc_u64(d, "releases", P->releases);
    doc_u64(d, "allocations_per_s", per_s(P->allocations, P->duration_ns));
    doc_u64(d, "bytes_per_s", per_s(P->bytes, P->duration_ns));
    doc_u64(d, "short_lived", P->short_lived);
    doc_u64(d, "short_lived_bytes", P->short_lived_bytes);
    doc_u64(d, "bytes_died_young_per_s", per_s(P->short_lived_bytes, P->duration_ns));
    doc_u64(d, "temporary", P->temporary);
    doc_u64(d, "within_k", P->within_k);
    doc_u64(d, "same_size_cycles", P->same_size_cycles);
    doc_bool(d, "cross_thread_available", P->have_cross_thread);
    doc_u64_or_null(d, "cross_thread_frees", P->have_cross_thread, P->cross_thread_frees);
    doc_u64(d, "realloc_steps", P->realloc_steps);
    doc_u64(d, "realloc_chains", P->realloc_chains);
    doc_u64(d, "realloc_bytes_copied", P->realloc_bytes_copied);
    doc_bool(d, "under_lock_available", P->have_under_lock);
    doc_u64_or_null(d, "under_lock", P->have_under_lock, P->under_lock);
    doc_u64_or_null(d, "under_lock_bytes", P->have_under_lock, P->under_lock_bytes);
    doc_u64_or_null(d, "alloc_ns", P->have_alloc_ns, P->alloc_ns);
    doc_u64(d, "peak_bytes", P->peak_bytes);
    doc_u64(d, "peak_time_ns", P->peak_time_ns);
    doc_quantiles(d, "lifetime_ns", replay_hist_quantile(&life, 0.5),
                  replay_hist_quantile(&life, 0.99), replay_hist_quantile(&life, 0.999),
                  life.max);
    doc_u64(d, "window_ns", P->window_ns);
    /* text: the peak windows, then every window's data */
    if (P->npeak_windows) {
        doc_line(d, "  peak windows (allocation rate):");
        doc_linef(d, "    %8s %12s %14s %12s %12s %12s", "start", "allocs/s", "bytes/s",
                  "young B/s", "live max", "rss");
    }
    for (size_t j = 0; j < P->npeak_windows && doc_text(d); j++) {
        const pressure_window_t *w = &P->windows[P->peak_windows[j]];
        char a[32], t[40], b[32], c[32], e[32], f[32], g[32];
        snprintf(t, sizeof t, "+%s", fmt_ns(a, sizeof a, P->window_ns * P->peak_windows[j]));
        doc_linef(d, "    %8s %12s %14s %12s %12s %12s", t,
                  fmt_rate(b, sizeof b, w->allocations, P->window_ns),
                  fmt_bytes(c, sizeof c, per_s(w->bytes, P->window_ns)),
                  fmt_bytes(e, sizeof e, per_s(w->bytes_died_young, P->window_ns)),
                  fmt_bytes(f, sizeof f, w->live_bytes_max),
                  w->rss_bytes ? fmt_bytes(g, sizeof g, w->rss_bytes) : "-");
    }
    doc_list(d, "peak_windows");
    for (size_t j = 0; j < P->npeak_windows; j++)
        doc_u64(d, NULL, P->peak_windows[j]);
    doc_end(d);
    doc_nl(d);
    doc_list(d, "windows");
    for (size_t i = 0; i < P->nwindows; i++)
        emit_window(d, P, i);
    doc_end(d);
    /* text: RSS vs live, the largest gap */
    if (rp->pressure && doc_text(d)) {
        /* the app's RSS: the recorder's own memory in a sample is not the app's */
        uint64_t rss = 0, live = 0, rec = 0;
        for (size_t i = 0; i < P->nwindows; i++) {
            const pressure_window_t *w = &P->windows[i];
            uint64_t app = replay_rss_app(w->rss_bytes, w->recorder_bytes);
            if (app > rss)
                rss = app, live = w->live_bytes_max, rec = w->recorder_bytes;
        }
        char a[32], b[32], c[32], e[32], max[96];
        if (rec)
            snprintf(max, sizeof max, "the app's max RSS %s (the recorder's %s apart)",
                     fmt_bytes(a, sizeof a, rss), fmt_bytes(e, sizeof e, rec));
        else
            snprintf(max, sizeof max, "max RSS %s", fmt_bytes(a, sizeof a, rss));
        if (rss && rss >= live)
            doc_linef(d, "  RSS vs live     %s, live heap then %s (RSS - live %s: retention, "
                         "fragmentation, non-heap memory)",
                      max, fmt_bytes(b, sizeof b, live), fmt_bytes(c, sizeof c, rss - live));
        else if (rss)
            doc_linef(d, "  RSS vs live     max RSS %s, live heap then %s (RSS below the live "
                         "heap: pages allocated but never touched)",
                      fmt_bytes(a, sizeof a, rss), fmt_bytes(b, sizeof b, live));
    }
    /* sites: text shows the top ones */
    if (rp->pressure && P->nsites)
        doc_line(d, "  top sites by allocations (short: short-lived, temp: temporary, cycles: "
                    "same-size, x-thr: cross-thread frees):");
    doc_nl(d);
    doc_list(d, "sites");
    for (size_t i = 0; i < P->nsites && rc == 0; i++) {
        const pressure_site_t *s = &P->sites[v[i]];
        bool shown = (int)i < top;
        unsigned prev = doc_hide(d, d->hide | (shown ? 0u : (unsigned)DOC_TEXT));
        if (shown && doc_text(d)) {
            char a[32], b[32], c[32], lk[96] = "", xt[32] = "-";
            if (P->have_cross_thread)
                snprintf(xt, sizeof xt, "%" PRIu64, s->cross_thread_frees);
            if (s->under_lock)
                snprintf(lk, sizeof lk, ", %" PRIu64 " under lock 0x%" PRIx64, s->under_lock,
                         s->under_lock_lock);
            doc_linef(d, "  #%zu %" PRIu64 " allocs (%s), short %" PRIu64 ", temp %" PRIu64
                         ", cycles %" PRIu64 ", realloc %" PRIu64 " steps/%s copied, x-thr %s"
                         "%s, lifetime p50 <=%s",
                      i + 1, s->allocations, fmt_bytes(a, sizeof a, s->bytes), s->short_lived,
                      s->temporary, s->same_size_cycles, s->realloc_steps,
                      fmt_bytes(b, sizeof b, s->realloc_bytes_copied), xt, lk,
                      fmt_ns(c, sizeof c, replay_hist_quantile(&s->lifetimes, 0.5)));
        }
        rc = emit_site(d, rp, P, s, sym, depth);
        doc_hide(d, prev);
    }
    doc_end(d);
    if (rp->pressure && P->nsites && P->sites[pk[0]].peak_bytes)
        doc_linef(d, "  peak owners (live at the %s peak):",
                  fmt_bytes((char[32]){0}, 32, P->peak_bytes));
    doc_nl(d);
    doc_list(d, "peak_owners");
    for (size_t i = 0; i < P->nsites && rc == 0; i++) {
        const pressure_site_t *s = &P->sites[pk[i]];
        if (!s->peak_bytes)
            break;
        bool shown = (int)i < top;
        unsigned prev = doc_hide(d, d->hide | (shown ? 0u : (unsigned)DOC_TEXT));
        if (shown && doc_text(d)) {
            char a[32];
            doc_linef(d, "  %s (%.1f%% of the peak)", fmt_bytes(a, sizeof a, s->peak_bytes),
                      fmt_pct(s->peak_bytes, P->peak_bytes));
        }
        doc_obj(d, NULL);
        doc_u64(d, "stack_id", s->stack_id);
        doc_u64(d, "peak_bytes", s->peak_bytes);
        rc = callsite_emit_stack(d, "stack", rp, sym, s->stack_id, depth);
        doc_end(d);
        doc_hide(d, prev);
    }
    doc_end(d);
    doc_end(d);
    free(v);
    free(pk);
    return rc < 0 ? rc : d->err;
}
