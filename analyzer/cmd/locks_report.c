/*
 * locks_report.c -- see locks_report.h.
 *
 * Percentiles are those of replay_hist_quantile (upper bound of the log2 bucket, clamped to
 * the exact maximum). The document (JSON, ...) is analyses/locks_emit.c's.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/locks_report.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cliopt.h"
#include "formats/fmt.h"
#include "formats/text.h"
#include "formats/formats.h"
#include "analyses/analysis.h"
#include "analyses/locks_emit.h"
#include "core/doc.h"
#include "analyses/locks.h"
#include "core/safeout.h"
#include "perfshim/errors.h"

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- text ---------------------------------------------------------------------------- */

static const char *fmt_at_least(char *buf, size_t cap, uint64_t acquisitions)
{
    snprintf(buf, cap, ", at least %" PRIu64 " acquisitions", acquisitions);
    return buf;
}

static int text_stack(FILE *o, const replay_t *rp, symbols_t *sym, uint32_t id, int depth,
                      const char *indent)
{
    const replay_stack_t *st = id ? replay_stack(rp, id) : NULL;
    return text_frames(o, sym, st ? st->ips : NULL, st ? st->depth : 0, depth, indent);
}

static void text_dist(FILE *o, const char *what, const replay_hist_t *h, uint64_t total,
                      const char *extra)
{
    char a[32], b[32], c[32], d[32], e[32];
    if (!h->n) {
        fprintf(o, "      %-5s -\n", what);
        return;
    }
    fprintf(o, "      %-5s total %s  p50 <=%s  p99 <=%s  p999 <=%s  max %s%s\n", what,
            fmt_ns(e, sizeof e, total), fmt_ns(a, sizeof a, replay_hist_quantile(h, 0.5)),
            fmt_ns(b, sizeof b, replay_hist_quantile(h, 0.99)),
            fmt_ns(c, sizeof c, replay_hist_quantile(h, 0.999)), fmt_ns(d, sizeof d, h->max),
            extra);
}

int locks_text(FILE *o, const replay_t *rp, symbols_t *sym, int depth, int top)
{
    const locks_t *L = rp->locks;
    char b1[32], b2[32], b3[64];
    if (!L)
        return 0;
    uint64_t acq = 0, cont = 0, thread_wall = 0;
    for (size_t i = 0; i < L->nlocks; i++) {
        acq += L->locks[i].acquisitions;
        cont += L->locks[i].contended;
    }
    for (size_t i = 0; i < L->nthreads; i++)
        thread_wall += L->threads[i].wall_ns;
    bool any_totals = false;
    for (size_t i = 0; i < L->nlocks; i++)
        any_totals |= L->locks[i].have_totals;
    fprintf(o, "\nLOCK CONTENTION (locks ranked by total wait)\n");
    if (L->partial) {
        /* see locks.h: waits from the events, acquisitions only what exited threads wrote */
        fprintf(o, "  trace incomplete (no END): waits and times are those of the wait events "
                   "recorded;\n  acquisition totals exist only for threads that exited\n");
        if (any_totals)
            snprintf(b3, sizeof b3, "at least %" PRIu64, acq);
        else
            snprintf(b3, sizeof b3, "not recorded");
    } else {
        snprintf(b3, sizeof b3, "%" PRIu64, acq);
    }
    fprintf(o, "  locks %zu, acquisitions %s, contended %" PRIu64 ", wait %s (%.1f%% of "
               "all threads' wall time)\n",
            L->nlocks, b3, cont, fmt_ns(b1, sizeof b1, L->total_wait_ns),
            pct(L->total_wait_ns, thread_wall));
    if (L->untracked || L->held_overflow)
        fprintf(o, "  warning: %" PRIu64 " lock operations untracked (tables full), %" PRIu64
                   " holds not timed (too many locks held at once)\n",
                L->untracked, L->held_overflow);
    for (size_t i = 0; i < L->nlocks && (int)i < top; i++) {
        const locks_lock_t *k = &L->locks[i];
        if (!L->partial)
            fprintf(o, "  #%zu %s 0x%" PRIx64 ": %" PRIu64 " acquisitions", i + 1,
                    lock_kind_name(k->kind), k->addr, k->acquisitions);
        else if (k->have_totals)
            fprintf(o, "  #%zu %s 0x%" PRIx64 ": at least %" PRIu64 " acquisitions", i + 1,
                    lock_kind_name(k->kind), k->addr, k->acquisitions);
        else
            fprintf(o, "  #%zu %s 0x%" PRIx64 ": acquisitions and owner changes not recorded "
                       "(trace incomplete)\n     ",
                    i + 1, lock_kind_name(k->kind), k->addr);
        if (k->kind == PS_LOCK_RWLOCK && (!L->partial || k->have_totals))
            fprintf(o, " (%" PRIu64 " read, %" PRIu64 " write)", k->rd_acquisitions,
                    k->acquisitions - k->rd_acquisitions);
        if (L->partial && !k->have_totals)
            fprintf(o, " %" PRIu64 " contended, max waiters %" PRIu32 "\n", k->contended,
                    k->max_waiters);
        else
            fprintf(o, ", %" PRIu64 " contended, %" PRIu64 " owner changes, max waiters %" PRIu32
                       "\n",
                    k->contended, k->owner_changes, k->max_waiters);
        if (!L->partial || k->have_totals)
            fprintf(o, "      %" PRIu64 " trylock failures, %" PRIu64 " timeouts, %" PRIu64
                   " errors, %" PRIu64 " allocations while held%s\n",
                k->trylock_fail, k->timeouts, k->errors, k->allocs_held,
                L->partial ? " (of exited threads)" : "");
        snprintf(b3, sizeof b3, "  (%.1f%% of all lock wait)", pct(k->wait_ns, L->total_wait_ns));
        text_dist(o, "wait", &k->wait, k->wait_ns, b3);
        snprintf(b3, sizeof b3, "  (%" PRIu64 " holds timed%s)", k->hold.n,
                 L->partial ? ", exited threads only" : "");
        if (L->partial && !k->hold.n)
            fprintf(o, "      hold  not recorded (trace incomplete)\n");
        else
            text_dist(o, "hold", &k->hold, k->hold_ns, b3);
        fprintf(o, "      Amdahl: removing this contention saves at most %s (%.1f%% of the run)\n",
                fmt_ns(b1, sizeof b1, k->amdahl_ns),
                pct(k->amdahl_ns, rp->duration_ns));
        int rc;
        for (size_t j = 0; j < k->nsites && (int)j < top; j++) {
            const locks_site_t *s = &k->sites[j];
            if (L->partial)
                fprintf(o, "    site: %" PRIu64 " contended, wait %s%s\n", s->contended,
                        fmt_ns(b1, sizeof b1, s->wait_ns),
                        s->acquisitions ? fmt_at_least(b3, sizeof b3, s->acquisitions) : "");
            else
                fprintf(o, "    site: %" PRIu64 " acquisitions, %" PRIu64 " contended, wait %s\n",
                        s->acquisitions, s->contended, fmt_ns(b1, sizeof b1, s->wait_ns));
            if ((rc = text_stack(o, rp, sym, s->stack, depth, "        ")) < 0)
                return rc;
        }
        for (size_t j = 0; j < k->nholders && (int)j < top; j++) {
            const locks_holder_t *h = &k->holders[j];
            fprintf(o, "    holder that made others wait: %s charged over %" PRIu64 " waits\n",
                    fmt_ns(b1, sizeof b1, h->wait_ns), h->waits);
            if ((rc = text_stack(o, rp, sym, h->stack, depth, "        ")) < 0)
                return rc;
        }
        if (k->have_init) {
            fprintf(o, "    initialized at:\n");
            if ((rc = text_stack(o, rp, sym, k->init_stack, depth, "        ")) < 0)
                return rc;
        }
    }
    if (L->nlocks > (size_t)top)
        fprintf(o, "  ... %zu more locks\n", L->nlocks - (size_t)top);
    if (L->nconds) {
        fprintf(o, "\nCONDITION VARIABLES (waiting for work or an event, not for a lock)\n");
        for (size_t i = 0; i < L->nconds && (int)i < top; i++) {
            const locks_lock_t *k = &L->conds[i];
            fprintf(o, "  condvar 0x%" PRIx64 ": %" PRIu64 " waits (%" PRIu64 " timed out), %" PRIu64
                       " signals, %" PRIu64 " broadcasts%s\n",
                    k->addr, k->acquisitions, k->timeouts, k->signals, k->broadcasts,
                    L->partial ? " (of exited threads: trace incomplete)" : "");
            text_dist(o, "wait", &k->wait, k->wait_ns, "");
            int rc;
            for (size_t j = 0; j < k->nsites && (int)j < top; j++) { /* by wait, then count */
                const locks_site_t *st = &k->sites[j];
                if (st->acquisitions || st->timeouts)
                    fprintf(o, "    waited at: %" PRIu64 " waits, %s\n", st->acquisitions,
                            fmt_ns(b1, sizeof b1, st->wait_ns));
                else
                    fprintf(o, "    signalled from: %" PRIu64 " calls\n", st->notifies);
                if ((rc = text_stack(o, rp, sym, st->stack, depth, "        ")) < 0)
                    return rc;
            }
        }
    }
    fprintf(o, "\nTHREADS (wall time: running, waiting for a lock, waiting on a condvar)\n");
    fprintf(o, "  %8s %-15s %12s %12s %12s %7s %12s %7s\n", "tid", "name", "wall", "running",
            "lock wait", "share", "cond wait", "share");
    for (size_t i = 0; i < L->nthreads; i++) {
        const locks_thread_t *t = &L->threads[i];
        /* a running thread's condvar totals are not written yet (see locks.h) */
        bool cond_known = !L->partial || t->exited;
        uint64_t busy = t->lock_wait_ns + (cond_known ? t->cond_wait_ns : 0);
        char b4[32], b5[32];
        fprintf(o, "  %8" PRIu32 " %-15s %12s %12s %12s %6.1f%% ", t->tid, t->name,
                fmt_ns(b1, sizeof b1, t->wall_ns),
                cond_known ? fmt_ns(b4, sizeof b4, t->wall_ns > busy ? t->wall_ns - busy : 0)
                           : "-",
                fmt_ns(b2, sizeof b2, t->lock_wait_ns), pct(t->lock_wait_ns, t->wall_ns));
        if (cond_known)
            fprintf(o, "%12s %6.1f%%\n", fmt_ns(b5, sizeof b5, t->cond_wait_ns),
                    pct(t->cond_wait_ns, t->wall_ns));
        else
            fprintf(o, "%12s %7s\n", "not recorded", "-");
    }
    if (L->partial)
        fprintf(o, "  (trace incomplete: a thread still running has no condvar totals yet)\n");
    fprintf(o, "\nLOCK ORDER CYCLES (potential deadlocks)\n");
    if (!L->ncycles)
        fprintf(o, "  none among %zu lock-order edges\n", L->nedges);
    for (size_t i = 0; i < L->ncycles; i++) {
        const locks_cycle_t *c = &L->cycles[i];
        fprintf(o, "  cycle %zu:", i + 1);
        for (uint32_t j = 0; j < c->n; j++)
            fprintf(o, " 0x%" PRIx64 " ->", L->edges[c->edge[j]].from);
        fprintf(o, " 0x%" PRIx64 "\n", L->edges[c->edge[0]].from);
        for (uint32_t j = 0; j < c->n; j++) {
            const locks_edge_t *e = &L->edges[c->edge[j]];
            fprintf(o, "    thread %" PRIu32 " held 0x%" PRIx64 ", acquired at:\n", e->tid,
                    e->from);
            int rc = text_stack(o, rp, sym, e->from_stack, depth, "        ");
            if (rc == 0) {
                fprintf(o, "    while acquiring 0x%" PRIx64 " at:\n", e->to);
                rc = text_stack(o, rp, sym, e->to_stack, depth, "        ");
            }
            if (rc < 0)
                return rc;
        }
    }
    if (L->cycles_truncated)
        fprintf(o, "  ... more cycles not listed\n");
    return 0;
}

/* ---- command ------------------------------------------------------------------------- */

static void locks_usage(FILE *f)
{
    fputs("usage: perfshim locks [OPTIONS] TRACE\n"
          "Lock contention of TRACE: locks ranked by wait, their sites and holders, threads'\n"
          "time waiting, lock-order cycles.\n"
          "  --stack-depth N     frames per stack (default 8 for text, all otherwise)\n"
          "  --top N             locks, sites and holders listed in text (default 10)\n"
          "  -o, --output FILE   write to FILE instead of stdout\n"
          "  -q, --quiet         no symbolization warnings\n"
          "  --show-std-frames   text: show C++ standard library frames (folded by default)\n"
          "Exit status: 0 written, 2 usage error, unreadable input or output error.\n",
          f);
    format_help(f, FORMAT_LOCKS);
}

int locks_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'}, {"stack-depth", required_argument, NULL, 'd'},
        {"top", required_argument, NULL, 't'},    {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {"show-std-frames", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    const format_t *fmt = format_find("locks", FORMAT_LOCKS, "text");
    int depth = -1, top = 10;
    const char *output = NULL;
    symbols_opts_t so = {0};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "ho:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            locks_usage(stdout);
            return 0;
        case 'f':
            if (!(fmt = format_find("locks", FORMAT_LOCKS, optarg)))
                return 2;
            break;
        case 'd':
        case 't':
            if (cliopt_count("locks", c == 'd' ? "stack-depth" : "top", optarg,
                             c == 'd' ? &depth : &top) < 0)
                return 2;
            break;
        case 'o':
            output = optarg;
            break;
        case 'q':
            so.quiet = true;
            break;
        case 'S':
            so.show_std_frames = true;
            break;
        default:
            fprintf(stderr, "perfshim: locks: unknown option '%s' or missing argument\n",
                    argv[optind - 1]);
            locks_usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "perfshim: locks: %s\n",
                argc - optind < 1 ? "no trace file given" : "too many arguments");
        locks_usage(stderr);
        return 2;
    }
    if (depth < 0 && fmt->view == FORMAT_TEXT)
        depth = 8;
    replay_t rp;
    char err[512];
    symbols_t *sym = NULL;
    /* the lock analysis only: no heap replay */
    if (analyses_load(argv[optind], ANALYSIS_LOCKS, &rp, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "perfshim: %s\n", err);
        analyses_free(&rp, NULL, sym);
        return 2;
    }
    if (!rp.complete)
        fprintf(stderr, "perfshim: warning: partial trace: %s\n", rp.partial_reason);
    int status = 0;
    FILE *o = NULL;
    int rc = analyses_symbols(&rp, NULL, &so, &sym, err, sizeof err);
    if (rc < 0) {
        /* rc: reported below */
    } else if (!(o = output ? safeout_fopen(output) : stdout)) {
        fprintf(stderr, "perfshim: locks: %s: %s\n", output, strerror(errno));
        status = 2;
    } else {
        if (fmt->view == FORMAT_DOC) {
            doc_t d;
            if ((rc = fmt->open(&d, o)) == 0) {
                doc_obj(&d, NULL);
                doc_str(&d, "format", "perfshim-locks");
                doc_u64(&d, "version", 1);
                doc_u64(&d, "schema_version", DOC_SCHEMA_VERSION);
                rc = locks_emit(&d, &rp, sym, depth);
                doc_end(&d);
                int rc2 = doc_close(&d);
                rc = rc < 0 ? rc : rc2;
            }
        } else {
            fprintf(o, "perfshim lock report: %s (pid %" PRIu32 ")%s\n", rp.exe, rp.pid,
                    rp.complete ? "" : " [partial trace]");
            if (!rp.locks)
                fprintf(o, "\nno lock records in this trace\n");
            rc = locks_text(o, &rp, sym, depth, top);
        }
        if (fflush(o) != 0 || ferror(o)) {
            fprintf(stderr, "perfshim: locks: cannot write output: %s\n", strerror(errno));
            status = 2;
        }
        if (o != stdout && fclose(o) != 0)
            status = 2;
    }
    if (rc < 0) {
        fprintf(stderr, "perfshim: locks: %s\n", ps_strerror(rc));
        status = 2;
    }
    analyses_free(&rp, NULL, sym);
    return status;
}
