/* screen_emit.c -- see screen_emit.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/screen_emit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "analyses/advice_emit.h"
#include "analyses/locks.h"
#include "core/fmt.h"
#include "perfshim/errors.h"

static uint64_t heap_errors(const replay_t *rp)
{
    return rp->mismatched_frees + rp->double_frees + rp->invalid_frees;
}

static size_t lock_cycles(const replay_t *rp)
{
    return rp->locks ? rp->locks->ncycles : 0;
}

unsigned screen_problems(const replay_t *rp, const leaks_t *L)
{
    bool leaked = L && L->have_scan && (L->scan.definite_blocks || L->scan.indirect_blocks);
    return (unsigned)leaked + (heap_errors(rp) != 0) + (lock_cycles(rp) != 0);
}

static void share(doc_t *d, const char *key, bool have, uint64_t part, uint64_t whole)
{
    char b[32];
    if (!have || !whole) {
        doc_null(d, key);
        return;
    }
    snprintf(b, sizeof b, "%.4f", (double)part / (double)whole);
    doc_num(d, key, b);
}

static void emit_verdict(doc_t *d, const replay_t *rp, const leaks_t *L)
{
    unsigned n = screen_problems(rp, L);
    bool scan = L && L->have_scan;
    char b1[32], b2[32];
    if (doc_text(d)) {
        bool leaked = scan && (L->scan.definite_blocks || L->scan.indirect_blocks);
        if (rp->sample_bytes) /* replay.h: the numbers below are estimates */
            doc_linef(d, "\nMODE: sampled, mean %" PRIu64 " bytes: counts and bytes are estimates "
                         "(%" PRIu64 " allocations recorded; no leak scan)",
                      rp->sample_bytes, rp->samples);
        if (n)
            doc_linef(d, "\nVERDICT: %u problem%s: %s%s%s%s%s", n, n == 1 ? "" : "s",
                      leaked ? "leaks" : "",
                      leaked && (heap_errors(rp) || lock_cycles(rp)) ? ", " : "",
                      heap_errors(rp) ? "heap errors" : "",
                      heap_errors(rp) && lock_cycles(rp) ? ", " : "",
                      lock_cycles(rp) ? "lock-order cycles" : "");
        else
            doc_line(d, "\nVERDICT: no leaks, no heap errors, no lock-order cycles");
        if (scan)
            doc_linef(d,
                      "  leaks              %s in %" PRIu64 " blocks definitely lost, %s in "
                      "%" PRIu64 " indirectly (exit scan)",
                      fmt_bytes(b1, sizeof b1, L->scan.definite_bytes), L->scan.definite_blocks,
                      fmt_bytes(b2, sizeof b2, L->scan.indirect_bytes), L->scan.indirect_blocks);
        else if (rp->sample_bytes)
            doc_linef(d,
                      "  leaks              no leak scan (sampled); about %s in about %" PRIu64
                      " blocks not freed when the trace ends (estimates)",
                      fmt_bytes(b1, sizeof b1, rp->live_bytes), rp->live_blocks);
        else
            doc_linef(d,
                      "  leaks              no leak scan; %s in %" PRIu64 " blocks not freed "
                      "when the trace ends",
                      fmt_bytes(b1, sizeof b1, rp->live_bytes), rp->live_blocks);
        doc_linef(d,
                  "  heap errors        %" PRIu64 " (%" PRIu64 " mismatched, %" PRIu64
                  " double, %" PRIu64 " invalid frees)",
                  heap_errors(rp), rp->mismatched_frees, rp->double_frees, rp->invalid_frees);
        doc_linef(d, "  lock-order cycles  %zu%s", lock_cycles(rp),
                  lock_cycles(rp) ? " (potential deadlocks: --section locks)" : "");
    }
    doc_nl(d);
    doc_obj(d, "verdict");
    doc_u64(d, "problems", n);
    doc_bool(d, "leak_scan", scan);
    doc_u64_or_null(d, "leaked_bytes", scan,
                    scan ? L->scan.definite_bytes + L->scan.indirect_bytes : 0);
    doc_u64_or_null(d, "leaked_blocks", scan,
                    scan ? L->scan.definite_blocks + L->scan.indirect_blocks : 0);
    doc_u64(d, "heap_errors", heap_errors(rp));
    doc_u64(d, "lock_cycles", lock_cycles(rp));
    doc_end(d);
}

static void emit_use_heap(doc_t *d, const replay_t *rp, const pressure_t *P)
{
    char b1[32], b2[32], b3[32], b4[32];
    bool timed = P && P->have_alloc_ns;
    /* the app's RSS: the recorder's own memory in the samples is not the app's (issue 18) */
    uint64_t rss = rp->have_rss ? replay_rss_app(rp->max_rss_bytes, rp->max_rss_shim_bytes) : 0;
    uint64_t final_rss = replay_rss_app(rp->final_rss_bytes, rp->final_shim_bytes);
    bool apart = rp->max_rss_shim_bytes || rp->final_shim_bytes;
    if (doc_text(d)) {
        doc_line(d, "\nUSE: HEAP");
        char at[96] = "allocator time not measured";
        if (timed)
            snprintf(at, sizeof at, "allocator time %s (%.1f%% of the run)",
                     fmt_ns(b3, sizeof b3, P->alloc_ns), fmt_pct(P->alloc_ns, rp->duration_ns));
        doc_linef(d, "  utilization        %s/s allocations, %sB/s; %s",
                  fmt_rate(b1, sizeof b1, rp->allocations, rp->duration_ns),
                  fmt_rate(b2, sizeof b2, rp->bytes_allocated, rp->duration_ns), at);
        char of_peak[112];
        if (apart)
            snprintf(of_peak, sizeof of_peak, "the app's peak RSS %s (the recorder's %s apart)",
                     fmt_bytes(b2, sizeof b2, rss),
                     fmt_bytes(b3, sizeof b3, rp->max_rss_shim_bytes));
        else
            snprintf(of_peak, sizeof of_peak, "peak RSS %s", fmt_bytes(b2, sizeof b2, rss));
        if (rss)
            doc_linef(d,
                      "  saturation         peak heap %s is %.1f%% of %s; %s still live at the "
                      "end (%.1f%% of %sfinal RSS)",
                      fmt_bytes(b1, sizeof b1, rp->peak_bytes), fmt_pct(rp->peak_bytes, rss),
                      of_peak, fmt_bytes(b4, sizeof b4, rp->live_bytes),
                      fmt_pct(rp->live_bytes, final_rss), apart ? "the app's " : "");
        else
            doc_linef(d,
                      "  saturation         peak heap %s; %s still live at the end; RSS not "
                      "sampled",
                      fmt_bytes(b1, sizeof b1, rp->peak_bytes),
                      fmt_bytes(b4, sizeof b4, rp->live_bytes));
        doc_linef(d,
                  "  errors             %" PRIu64 " failed allocations, %" PRIu64
                  " heap errors, %" PRIu64 " unmatched frees",
                  rp->failed_allocations, heap_errors(rp), rp->unmatched_frees);
    }
    doc_obj(d, "heap");
    doc_u64(d, "allocations_per_s",
            rp->duration_ns ? (uint64_t)((double)rp->allocations * 1e9 / (double)rp->duration_ns)
                            : 0);
    doc_u64(d, "bytes_per_s",
            rp->duration_ns
                ? (uint64_t)((double)rp->bytes_allocated * 1e9 / (double)rp->duration_ns)
                : 0);
    doc_u64_or_null(d, "allocator_ns", timed, timed ? P->alloc_ns : 0);
    share(d, "allocator_share", timed, timed ? P->alloc_ns : 0, rp->duration_ns);
    doc_u64(d, "peak_heap_bytes", rp->peak_bytes);
    /* (the JSON keeps the process's RSS, the recorder's included: summary has it apart) */
    doc_u64_or_null(d, "max_rss_bytes", rp->have_rss, rp->max_rss_bytes);
    share(d, "peak_heap_share_of_rss", rp->have_rss, rp->peak_bytes, rp->max_rss_bytes);
    doc_u64(d, "live_bytes_at_end", rp->live_bytes);
    doc_u64(d, "failed_allocations", rp->failed_allocations);
    doc_u64(d, "heap_errors", heap_errors(rp));
    doc_end(d);
}

static int twait_cmp(const void *a, const void *b)
{
    const locks_thread_t *x = *(const locks_thread_t *const *)a,
                         *y = *(const locks_thread_t *const *)b;
    double sx = x->wall_ns ? (double)x->lock_wait_ns / (double)x->wall_ns : 0,
           sy = y->wall_ns ? (double)y->lock_wait_ns / (double)y->wall_ns : 0;
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int emit_use_locks(doc_t *d, const replay_t *rp)
{
    const locks_t *L = rp->locks;
    size_t nlocks = 0;
    const locks_lock_t *busy = NULL;
    uint64_t trylock = 0, timeouts = 0, errors = 0;
    for (size_t i = 0; L && i < L->nlocks; i++) {
        const locks_lock_t *k = &L->locks[i];
        nlocks++;
        trylock += k->trylock_fail;
        timeouts += k->timeouts;
        errors += k->errors;
        if (!busy || k->hold_ns > busy->hold_ns)
            busy = k;
    }
    for (size_t i = 0; L && i < L->nconds; i++)
        timeouts += L->conds[i].timeouts;
    size_t nt = L ? L->nthreads : 0;
    const locks_thread_t **tv = malloc((nt ? nt : 1) * sizeof(*tv));
    if (!tv)
        return -PS_E_NOMEM;
    for (size_t i = 0; i < nt; i++)
        tv[i] = &L->threads[i];
    qsort(tv, nt, sizeof(*tv), twait_cmp);
    if (doc_text(d)) {
        char b1[32], line[256];
        doc_linef(d, "\nUSE: LOCKS (%zu locks, %zu condition variables)", nlocks,
                  L ? L->nconds : 0);
        if (busy)
            doc_linef(d,
                      "  utilization        busiest lock 0x%" PRIx64 " held %.1f%% of the run "
                      "(%s)",
                      busy->addr, fmt_pct(busy->hold_ns, rp->duration_ns),
                      fmt_ns(b1, sizeof b1, busy->hold_ns));
        else
            doc_line(d, "  utilization        no lock records");
        int n = snprintf(line, sizeof line, "  saturation         lock wait per thread:");
        size_t shown = 0;
        for (size_t i = 0; i < nt && shown < 4 && n > 0 && (size_t)n < sizeof line; i++) {
            if (!tv[i]->lock_wait_ns)
                continue;
            n += snprintf(line + n, sizeof line - (size_t)n, "%s tid %" PRIu32 " %.1f%%",
                          shown ? "," : "", tv[i]->tid, fmt_pct(tv[i]->lock_wait_ns, tv[i]->wall_ns));
            shown++;
        }
        if (!shown && n > 0 && (size_t)n < sizeof line)
            snprintf(line + n, sizeof line - (size_t)n, " none waited");
        else if (shown < nt && n > 0 && (size_t)n < sizeof line)
            snprintf(line + n, sizeof line - (size_t)n, " (of %zu threads)", nt);
        doc_line(d, line);
        doc_linef(d,
                  "  errors             %" PRIu64 " trylock failures, %" PRIu64
                  " timeouts, %" PRIu64 " errors returned",
                  trylock, timeouts, errors);
    }
    doc_obj(d, "locks");
    doc_u64(d, "locks", nlocks);
    if (busy)
        doc_hex(d, "busiest_lock", busy->addr);
    else
        doc_null(d, "busiest_lock");
    share(d, "hold_share", busy != NULL, busy ? busy->hold_ns : 0, rp->duration_ns);
    doc_list(d, "threads");
    for (size_t i = 0; i < nt; i++) {
        doc_obj(d, NULL);
        doc_u64(d, "tid", tv[i]->tid);
        share(d, "wait_share", true, tv[i]->lock_wait_ns, tv[i]->wall_ns);
        doc_end(d);
    }
    doc_end(d);
    doc_u64(d, "trylock_failures", trylock);
    doc_u64(d, "timeouts", timeouts);
    doc_u64(d, "errors", errors);
    doc_end(d);
    free(tv);
    return 0;
}

int screen_emit(doc_t *d, const replay_t *rp, const leaks_t *L, const pressure_t *P,
                const advice_t *a, int top)
{
    emit_verdict(d, rp, L);
    doc_nl(d);
    doc_obj(d, "use");
    emit_use_heap(d, rp, P);
    int rc = emit_use_locks(d, rp);
    doc_end(d);
    advice_emit_screen(d, a, top);
    return rc < 0 ? rc : d->err;
}
