/*
 * report.c -- `perfshim report` (see report.h).
 *
 * Pipeline: replay (replay.c) gives aggregates per interned stack id; each stack is cut to
 * its call site (the allocator's and the shim's own frames removed from the top, so the first
 * frame is the caller of malloc); stacks that become equal are merged into one site; sites
 * are ranked and printed with symbolized frames (symbols.c). report_emit describes the
 * report once for every document format (text included, formats/text.c); the profile
 * (folded, ...) is report_profile.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/report.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyses/advice.h"
#include "analyses/advice_emit.h"
#include "analyses/analysis.h"
#include "analyses/leaks.h"
#include "analyses/locks.h"
#include "analyses/screen_emit.h"
#include "perfshim/errors.h"
#include "core/reader.h"
#include "analyses/callsite.h"
#include "cmd/cliopt.h"
#include "core/fmt.h"
#include "formats/text.h"
#include "formats/formats.h"
#include "analyses/leaks_emit.h"
#include "analyses/locks_emit.h"
#include "analyses/pressure_emit.h"
#include "core/doc.h"
#include "core/profile.h"
#include "analyses/replay.h"
#include "analyses/series.h"
#include "core/safeout.h"
#include "core/symbols.h"

/* the order of report_sample_types and --metric's names */
enum report_metric {
    MET_ALLOCATIONS,
    MET_BYTES,
    MET_PEAK,
    MET_LEAKED,
    MET_INUSE,
    MET_TEMPORARY,
    MET_LOCK_WAIT
};

/* The text report's sections, in their order, each reachable with --section NAME. */
#define REPORT_SECTIONS(X)                                                                     \
    X(SCREEN, "screen", "the first screen: verdict, USE of heap and locks, top recommendations") \
    X(ADVICE, "advice", "recommendations: evidence, estimate, trade-off, how to verify")         \
    X(SUMMARY, "summary", "workload summary")                                                    \
    X(TIMELINE, "timeline", "rates, live heap and RSS over time")                                \
    X(SITES, "sites", "top sites by allocations, bytes, peak contribution, temporary")           \
    X(NOT_FREED, "not-freed", "sites with blocks not freed at exit")                             \
    X(LEAKS, "leaks", "the exit scan's leaks, definite with the indirect ones they hold")        \
    X(GROWTH, "growth", "suspected leaks: growth across snapshots")                              \
    X(ERRORS, "errors", "heap errors: mismatched, double, invalid frees")                        \
    X(HISTOGRAM, "histogram", "size histogram")                                                  \
    X(LOCKS, "locks", "lock contention, condition variables, threads, lock-order cycles")     \
    X(PRESSURE, "pressure", "allocation pressure: rates, lifetimes, short-lived, chains, cycles")

enum report_section {
#define REPORT_SEC_ENUM(id, name, what) SEC_##id,
    REPORT_SECTIONS(REPORT_SEC_ENUM)
#undef REPORT_SEC_ENUM
    SEC_COUNT,
    SEC_ALL = -1
};

static const struct {
    const char *name, *what;
} report_sections[SEC_COUNT] = {
#define REPORT_SEC_ROW(id, name, what) {name, what},
    REPORT_SECTIONS(REPORT_SEC_ROW)
#undef REPORT_SEC_ROW
};

typedef struct report_opts_s {
    cliopt_common_t c; /* --format, --output, --top, --stack-depth, symbolization */
    enum report_metric metric;
    int advice_top; /* recommendations in text: --top, default 5 */
    int section;    /* --section: the one text section shown, SEC_ALL: all */
    bool brief; /* --brief: the first screen, summary, leaks, top sites */
    analysis_params_t params; /* --short-lived, --within */
    const char *trace;
} report_opts_t;

/* A call site: one or more interned stacks that are equal once cut. */
typedef struct site_s {
    const uint64_t *ips;
    uint32_t depth;
    uint64_t allocations, bytes, frees, failed, live_blocks, live_bytes, peak_bytes;
    uint64_t temporary;
    replay_hist_t sizes, lifetimes;
    uint64_t alloc_ns, alloc_ns_calls; /* time inside the real allocator (replay_site_t) */
} site_t;

typedef struct report_s {
    const report_opts_t *o;
    replay_t rp;
    symbols_t *sym;
    site_t *sites;
    size_t nsites;
    FILE *out;
    leaks_t leaks; /* the leak scan and snapshots (leaks.c) */
    const pressure_t *pressure; /* the allocation-pressure facts, NULL: not computed */
    advice_t advice;            /* the recommendations (advice.c) */
} report_t;

/* What the text hides of a section (--section shows one): DOC_TEXT or 0. */
static unsigned sec_mask(const report_t *R, enum report_section s)
{
    return R->o->section == SEC_ALL || R->o->section == (int)s ? 0 : DOC_TEXT;
}

/* ---- call sites ---------------------------------------------------------------------- */

static int site_cmp_ips(const void *a, const void *b)
{
    const site_t *x = a, *y = b;
    uint32_t n = x->depth < y->depth ? x->depth : y->depth;
    for (uint32_t i = 0; i < n; i++)
        if (x->ips[i] != y->ips[i])
            return x->ips[i] < y->ips[i] ? -1 : 1;
    return x->depth < y->depth ? -1 : x->depth > y->depth;
}

static void site_merge(site_t *into, const site_t *from)
{
    into->allocations += from->allocations;
    into->bytes += from->bytes;
    into->frees += from->frees;
    into->failed += from->failed;
    into->live_blocks += from->live_blocks;
    into->live_bytes += from->live_bytes;
    into->peak_bytes += from->peak_bytes;
    into->temporary += from->temporary;
    into->alloc_ns += from->alloc_ns;
    into->alloc_ns_calls += from->alloc_ns_calls;
    replay_hist_merge(&into->sizes, &from->sizes);
    replay_hist_merge(&into->lifetimes, &from->lifetimes);
}

static int report_build_sites(report_t *R)
{
    const replay_t *rp = &R->rp;
    R->sites = calloc(rp->nsites ? rp->nsites : 1, sizeof(*R->sites));
    if (!R->sites)
        return -PS_E_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < rp->nsites; i++) {
        const replay_site_t *rs = &rp->sites[i];
        if (!rs->allocations && !rs->failed)
            continue;
        site_t *s = &R->sites[n++];
        int rc = callsite_cut(R->sym, rp, rs->stack_id, &s->ips, &s->depth);
        if (rc < 0)
            return rc;
        s->allocations = rs->allocations;
        s->bytes = rs->bytes;
        s->frees = rs->frees;
        s->failed = rs->failed;
        s->live_blocks = rs->live_blocks;
        s->live_bytes = rs->live_bytes;
        s->peak_bytes = rs->peak_bytes;
        s->temporary = rs->temporary;
        s->alloc_ns = rs->alloc_ns;
        s->alloc_ns_calls = rs->alloc_ns_calls;
        s->sizes = rs->sizes;
        s->lifetimes = rs->lifetimes;
    }
    qsort(R->sites, n, sizeof(*R->sites), site_cmp_ips);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && site_cmp_ips(&R->sites[m - 1], &R->sites[i]) == 0)
            site_merge(&R->sites[m - 1], &R->sites[i]);
        else
            R->sites[m++] = R->sites[i];
    }
    R->nsites = m;
    return 0;
}

/* ---- ranking ------------------------------------------------------------------------- */

static int site_tiebreak(const site_t *x, const site_t *y)
{
    uint64_t a = x->depth ? x->ips[0] : 0, b = y->depth ? y->ips[0] : 0;
    if (a != b)
        return a < b ? -1 : 1;
    return site_cmp_ips(x, y);
}

#define SITE_DESC(fa, fb)                                                                      \
    do {                                                                                       \
        if ((fa) != (fb))                                                                      \
            return (fa) > (fb) ? -1 : 1;                                                       \
    } while (0)

static int site_by_allocations(const void *a, const void *b)
{
    const site_t *x = *(const site_t *const *)a, *y = *(const site_t *const *)b;
    SITE_DESC(x->allocations, y->allocations);
    SITE_DESC(x->bytes, y->bytes);
    return site_tiebreak(x, y);
}

static int site_by_bytes(const void *a, const void *b)
{
    const site_t *x = *(const site_t *const *)a, *y = *(const site_t *const *)b;
    SITE_DESC(x->bytes, y->bytes);
    SITE_DESC(x->allocations, y->allocations);
    return site_tiebreak(x, y);
}

static int site_by_peak(const void *a, const void *b)
{
    const site_t *x = *(const site_t *const *)a, *y = *(const site_t *const *)b;
    SITE_DESC(x->peak_bytes, y->peak_bytes);
    return site_by_bytes(a, b);
}

static int site_by_temporary(const void *a, const void *b)
{
    const site_t *x = *(const site_t *const *)a, *y = *(const site_t *const *)b;
    SITE_DESC(x->temporary, y->temporary);
    return site_tiebreak(x, y);
}

static int site_by_leaked(const void *a, const void *b)
{
    const site_t *x = *(const site_t *const *)a, *y = *(const site_t *const *)b;
    SITE_DESC(x->live_bytes, y->live_bytes);
    SITE_DESC(x->live_blocks, y->live_blocks);
    return site_tiebreak(x, y);
}

/* An array of pointers to the sites in the given order; NULL when out of memory. */
static const site_t **report_rank(const report_t *R, int (*cmp)(const void *, const void *))
{
    const site_t **v = malloc((R->nsites + 1) * sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < R->nsites; i++)
        v[i] = &R->sites[i];
    v[R->nsites] = NULL;
    qsort(v, R->nsites, sizeof(*v), cmp);
    return v;
}

/* ---- call sites in the document ------------------------------------------------------ */

static void emit_hist(doc_t *d, const char *prefix, const replay_hist_t *h);

static void text_dist(doc_t *d, const char *what, const replay_hist_t *h, bool is_time)
{
    char a[32], b[32], c[32];
    if (!h->n)
        doc_linef(d, "      %-9s -", what);
    else if (is_time)
        doc_linef(d, "      %-9s p50 <=%s  p99 <=%s  max %s", what,
                  fmt_ns(a, sizeof(a), replay_hist_quantile(h, 0.5)),
                  fmt_ns(b, sizeof(b), replay_hist_quantile(h, 0.99)),
                  fmt_ns(c, sizeof(c), h->max));
    else
        doc_linef(d, "      %-9s p50 <=%" PRIu64 "  p99 <=%" PRIu64 "  max %" PRIu64 " B", what,
                  replay_hist_quantile(h, 0.5), replay_hist_quantile(h, 0.99), h->max);
}

/* One site: its members and stack; in text its line (as ranked: rank; what is not freed, for
 * the not-freed ranking) and its distributions. */
static int emit_site(const report_t *R, doc_t *d, const site_t *s, size_t rank, bool not_freed)
{
    char b1[32], b2[32], extra[96] = "";
    if (doc_text(d) && not_freed) {
        doc_linef(d, "  #%zu  %" PRIu64 " blocks, %" PRIu64 " bytes (%s) not freed, of %" PRIu64
                     " allocations",
                  rank, s->live_blocks, s->live_bytes, fmt_bytes(b1, sizeof(b1), s->live_bytes),
                  s->allocations);
    } else if (doc_text(d)) {
        int n = 0;
        if (s->temporary)
            n = snprintf(extra, sizeof extra, ", %" PRIu64 " temporary (%.0f%%)", s->temporary,
                         100.0 * (double)s->temporary / (double)s->allocations);
        if (s->failed && n >= 0 && (size_t)n < sizeof extra)
            snprintf(extra + n, sizeof extra - (size_t)n, ", %" PRIu64 " failed", s->failed);
        doc_linef(d, "  #%zu  %" PRIu64 " allocations, %" PRIu64 " bytes (%s), peak %s, "
                     "%" PRIu64 " not freed%s",
                  rank, s->allocations, s->bytes, fmt_bytes(b1, sizeof(b1), s->bytes),
                  fmt_bytes(b2, sizeof(b2), s->peak_bytes), s->live_blocks, extra);
        if (s->alloc_ns_calls) /* measured by the shim (ALLOC_COST records) */
            doc_linef(d, "      allocator %s in %" PRIu64 " calls, %s per call",
                      fmt_ns(b1, sizeof(b1), s->alloc_ns), s->alloc_ns_calls,
                      fmt_ns(b2, sizeof(b2), s->alloc_ns / s->alloc_ns_calls));
        text_dist(d, "size", &s->sizes, false);
        text_dist(d, "lifetime", &s->lifetimes, true);
    }
    doc_nl(d);
    doc_obj(d, NULL);
    doc_u64(d, "allocations", s->allocations);
    doc_u64(d, "bytes", s->bytes);
    doc_u64(d, "peak_bytes", s->peak_bytes);
    doc_u64(d, "not_freed_blocks", s->live_blocks);
    doc_u64(d, "not_freed_bytes", s->live_bytes);
    doc_u64(d, "frees", s->frees);
    doc_u64(d, "failed_allocations", s->failed);
    doc_u64(d, "temporary", s->temporary);
    doc_u64(d, "alloc_ns", s->alloc_ns);
    doc_u64(d, "alloc_ns_calls", s->alloc_ns_calls);
    emit_hist(d, "size", &s->sizes);
    emit_hist(d, "lifetime_ns", &s->lifetimes);
    int rc = doc_stack(d, "stack", R->sym, s->ips, s->depth, R->o->c.stack_depth);
    doc_end(d);
    return rc < 0 ? rc : d->err;
}

/* Which sites a ranking shows: all of them, or those with something not freed or temporary. */
enum top_filter { TOP_ALL, TOP_LEAKS, TOP_TEMPORARY };

static bool top_keeps(const site_t *s, enum top_filter f)
{
    return f == TOP_ALL || (f == TOP_LEAKS && s->live_blocks) || (f == TOP_TEMPORARY && s->temporary);
}

/* A ranking v of the sites. data: it is the "sites" list (every site, in this order), and text
 * shows its top ones; !data: a ranking in text only ("TOP SITES BY BYTES", ...). */
static int emit_top(const report_t *R, doc_t *d, const char *title, const site_t **v,
                    enum top_filter filter, bool data)
{
    size_t total = 0;
    for (size_t i = 0; i < R->nsites; i++)
        if (top_keeps(v[i], filter))
            total++;
    size_t shown = total < (size_t)R->o->c.top ? total : (size_t)R->o->c.top;
    doc_only(d, data ? DOC_ALL : DOC_TEXT);
    doc_linef(d, "\n%s (%zu of %zu sites)", title, shown, total);
    if (!total)
        doc_line(d, "  none");
    if (data)
        doc_list(d, "sites");
    int rc = 0;
    for (size_t i = 0, k = 0; i < R->nsites && rc == 0 && (data || k < shown); i++) {
        bool text = k < shown && top_keeps(v[i], filter);
        if (!text && !data)
            continue;
        k += text;
        doc_only(d, text ? (data ? DOC_ALL : DOC_TEXT) : DOC_DATA);
        if (doc_shown(d)) /* text has its top sites only */
            rc = emit_site(R, d, v[i], k, filter == TOP_LEAKS);
    }
    doc_only(d, DOC_ALL);
    if (data)
        doc_end(d);
    return rc < 0 ? rc : d->err;
}

/* A ranking in text only, by cmp. */
static int text_top(const report_t *R, doc_t *d, const char *title,
                    int (*cmp)(const void *, const void *), enum top_filter filter)
{
    const site_t **v = report_rank(R, cmp);
    if (!v)
        return -PS_E_NOMEM;
    int rc = emit_top(R, d, title, v, filter, false);
    free(v);
    return rc;
}

/* The size histogram: "size_histogram" [{min, count}] of the buckets that are not empty; in
 * text "SIZE HISTOGRAM", a line per bucket from the first to the last that is not empty, with
 * its share and a bar. */
static void emit_size_histogram(const report_t *R, doc_t *d)
{
    const replay_hist_t *h = &R->rp.sizes;
    doc_title(d, "SIZE HISTOGRAM (bytes asked for, all allocations)");
    if (!h->n)
        doc_line(d, "  none");
    unsigned lo = 0, hi = REPLAY_HIST_BUCKETS - 1;
    uint64_t most = 0;
    while (h->n && !h->count[lo])
        lo++;
    while (h->n && !h->count[hi])
        hi--;
    for (unsigned b = lo; h->n && b <= hi; b++)
        if (h->count[b] > most)
            most = h->count[b];
    doc_list(d, "size_histogram");
    for (unsigned b = 0; b < REPLAY_HIST_BUCKETS; b++) {
        if (h->n && b >= lo && b <= hi) {
            char range[48];
            if (b <= 1)
                snprintf(range, sizeof(range), "%u", b);
            else
                snprintf(range, sizeof(range), "%" PRIu64 "..%" PRIu64, (uint64_t)1 << (b - 1),
                         b >= 64 ? UINT64_MAX : ((uint64_t)1 << b) - 1);
            int bar = (int)((h->count[b] * 40 + most - 1) / most);
            doc_linef(d, "  %22s %12" PRIu64 " %5.1f%%%s%.*s", range, h->count[b],
                      100.0 * (double)h->count[b] / (double)h->n, bar ? " " : "", bar,
                      "########################################");
        }
        if (h->count[b]) {
            doc_obj(d, NULL);
            doc_u64(d, "min", b == 0 ? 0 : (uint64_t)1 << (b - 1));
            doc_u64(d, "count", h->count[b]);
            doc_end(d);
        }
    }
    doc_end(d);
}

/* ---- heap errors (misuse.c) ---------------------------------------------------------- */

/* The stack of id cut like a site's (allocator and shim frames removed); depth 0 if none. */
static int report_cut_stack(const report_t *R, uint32_t id, site_t *out)
{
    memset(out, 0, sizeof(*out));
    return callsite_cut(R->sym, &R->rp, id, &out->ips, &out->depth);
}

static int emit_errors(const report_t *R, doc_t *d);
static void emit_timeline(const report_t *R, doc_t *d);

/* The leak sections in text: the scan's groups, then the growth across snapshots. */
static int report_leaks_text(const report_t *R, doc_t *d, int top)
{
    int rc = R->leaks.have_scan
                 ? leaks_emit_groups(d, &R->leaks, R->sym, R->o->c.stack_depth, top, NULL, NULL)
                 : 0;
    return rc < 0 ? rc : leaks_emit_growth(d, &R->leaks, R->sym, R->o->c.stack_depth, top);
}

/* ---- the document and the profile ------------------------------------------------- */

static int emit_frames(const report_t *R, doc_t *d, const char *key, const site_t *s)
{
    return doc_stack(d, key, R->sym, s->ips, s->depth, R->o->c.stack_depth);
}

static void emit_hist(doc_t *d, const char *prefix, const replay_hist_t *h)
{
    doc_quantiles(d, prefix, replay_hist_quantile(h, 0.5), replay_hist_quantile(h, 0.99),
                  replay_hist_quantile(h, 0.999), h->max);
}

/* A stack that text shows only when there is one (its line said "(no stack)"). */
static int emit_frames_if(const report_t *R, doc_t *d, const char *key, const site_t *s)
{
    if (!s->depth)
        doc_only(d, DOC_DATA);
    int rc = emit_frames(R, d, key, s);
    doc_only(d, DOC_ALL);
    return rc;
}

static int emit_errors(const report_t *R, doc_t *d)
{
    const replay_t *rp = &R->rp;
    char line[256];
    if (rp->nerrors) {
        snprintf(line, sizeof line, "HEAP ERRORS (%zu distinct: %" PRIu64 " mismatched, %" PRIu64
                 " double, %" PRIu64 " invalid frees)",
                 rp->nerrors, rp->mismatched_frees, rp->double_frees, rp->invalid_frees);
        doc_title(d, line);
    }
    doc_nl(d);
    doc_list(d, "errors");
    for (size_t i = 0; i < rp->nerrors; i++) {
        const replay_error_t *e = &rp->errors[i];
        site_t a, f;
        int rc;
        if ((rc = report_cut_stack(R, e->alloc_stack, &a)) < 0 ||
            (rc = report_cut_stack(R, e->free_stack, &f)) < 0)
            return rc;
        doc_obj(d, NULL);
        doc_str(d, "kind", misuse_kind_name(e->kind));
        doc_u64(d, "count", e->count);
        doc_str(d, "alloc_fn", e->alloc_fn ? alloc_fn_name(e->alloc_fn) : NULL);
        doc_str(d, "free_fn", alloc_fn_name(e->free_fn));
        int n = snprintf(line, sizeof line, "  #%zu  %s x%" PRIu64 ": ", i + 1,
                         misuse_kind_name(e->kind), e->count);
        if (e->alloc_fn && n >= 0 && (size_t)n < sizeof line)
            n += snprintf(line + n, sizeof line - (size_t)n, "allocated by %s, ",
                          alloc_fn_name(e->alloc_fn));
        if (n >= 0 && (size_t)n < sizeof line)
            snprintf(line + n, sizeof line - (size_t)n, "released by %s",
                     alloc_fn_name(e->free_fn));
        doc_line(d, line);
        doc_line(d, a.depth ? "      allocated at:" : "      allocated at: (no stack)");
        if ((rc = emit_frames_if(R, d, "alloc_stack", &a)) < 0)
            return rc;
        doc_line(d, f.depth ? "      released at:"
                            : "      released at: (no stack; PERFSHIM_FREE_STACKS=2 records "
                              "free()'s)");
        if ((rc = emit_frames_if(R, d, "free_stack", &f)) < 0)
            return rc;
        doc_end(d);
    }
    doc_end(d);
    return d->err;
}

/* Where each call site (R->sites, sorted by call stack) stands in the ranked "sites" list. */
typedef struct site_ranks_s {
    const report_t *R;
    long *rank; /* rank[j]: the index in the list of R->sites[j] */
} site_ranks_t;

/* The index in the ranked "sites" list of the site with this call stack, or -1: a binary
 * search of R->sites (sorted and merged by site_cmp_ips), not a walk of the list. */
static long report_site_index(const uint64_t *ips, uint32_t depth, void *arg)
{
    const site_ranks_t *k = arg;
    site_t key = {.ips = ips, .depth = depth};
    const site_t *s = bsearch(&key, k->R->sites, k->R->nsites, sizeof(*s), site_cmp_ips);
    return s ? k->rank[s - k->R->sites] : -1;
}

static bool report_exited(const report_t *R);

/* The summary's text lines ("SUMMARY"): several members said in words, in the text's order. */
static void text_summary(const report_t *R, doc_t *d)
{
    const replay_t *rp = &R->rp;
    char b1[32], b2[32], b3[32], b4[32];
    doc_title(d, "SUMMARY");
    if (rp->sample_bytes)
        doc_linef(d, "  mode               sampled, mean %" PRIu64 " bytes: counts and bytes are "
                     "estimates (%" PRIu64 " allocations and %" PRIu64 " releases recorded)",
                  rp->sample_bytes, rp->samples, rp->sample_frees);
    if (rp->complete)
        doc_line(d, "  trace              complete");
    else
        doc_linef(d, "  trace              partial: %s", rp->partial_reason);
    doc_linef(d, "  duration           %s", fmt_ns(b1, sizeof(b1), rp->duration_ns));
    doc_linef(d, "  threads            %" PRIu64, rp->threads);
    doc_linef(d, "  allocations        %" PRIu64 " (%s/s)", rp->allocations,
              fmt_rate(b1, sizeof(b1), rp->allocations, rp->duration_ns));
    doc_linef(d, "  frees              %" PRIu64 " (%s/s)", rp->frees,
              fmt_rate(b1, sizeof(b1), rp->frees, rp->duration_ns));
    fmt_rate(b3, sizeof(b3), rp->bytes_allocated, rp->duration_ns);
    doc_linef(d, "  bytes allocated    %" PRIu64 " (%s, %sB/s)", rp->bytes_allocated,
              fmt_bytes(b1, sizeof(b1), rp->bytes_allocated), b3);
    doc_linef(d, "  temporary allocs   %" PRIu64 " (%.1f%% of allocations; freed right after, "
                 "as heaptrack counts them)",
              rp->temporary,
              rp->allocations ? 100.0 * (double)rp->temporary / (double)rp->allocations : 0.0);
    if (rp->sizes.n)
        doc_linef(d, "  allocation size    p50 <=%" PRIu64 "  p99 <=%" PRIu64 "  p999 <=%" PRIu64
                     "  max %" PRIu64 " B",
                  replay_hist_quantile(&rp->sizes, 0.5), replay_hist_quantile(&rp->sizes, 0.99),
                  replay_hist_quantile(&rp->sizes, 0.999), rp->sizes.max);
    doc_linef(d, "  peak heap          %" PRIu64 " bytes (%s) at +%s", rp->peak_bytes,
              fmt_bytes(b1, sizeof(b1), rp->peak_bytes), fmt_ns(b2, sizeof(b2), rp->peak_time_ns));
    /* without END the process had not exited (or was killed): live where the trace stops */
    doc_linef(d, "  live heap at %-5s %" PRIu64 " bytes (%s) in %" PRIu64 " blocks",
              report_exited(R) ? "end" : "cut", rp->live_bytes,
              fmt_bytes(b1, sizeof(b1), rp->live_bytes), rp->live_blocks);
    /* the live heap is the app's: of its RSS where the trace has the recorder's part */
    uint64_t final_app = replay_rss_app(rp->final_rss_bytes, rp->final_shim_bytes);
    if (rp->have_rss)
        doc_linef(d, "  final RSS          %s (max %s); live heap is %.1f%% of %s",
                  fmt_bytes(b1, sizeof(b1), rp->final_rss_bytes),
                  fmt_bytes(b2, sizeof(b2), rp->max_rss_bytes),
                  final_app ? 100.0 * (double)rp->live_bytes / (double)final_app : 0.0,
                  rp->final_shim_bytes ? "the app's RSS" : "it");
    else
        doc_line(d, "  final RSS          not sampled");
    if (rp->have_rss) /* the recorder's own memory is in the samples: shown apart */
        doc_linef(d, "  app RSS            %s at the end (max %s); the recorder's own %s (%s)",
                  fmt_bytes(b1, sizeof(b1), replay_rss_app(rp->final_rss_bytes, rp->final_shim_bytes)),
                  fmt_bytes(b2, sizeof(b2), replay_rss_app(rp->max_rss_bytes, rp->max_rss_shim_bytes)),
                  fmt_bytes(b3, sizeof(b3), rp->final_shim_bytes),
                  fmt_bytes(b4, sizeof(b4), rp->max_rss_shim_bytes));
    if (rp->have_alloc_cost)
        doc_linef(d, "  allocator time     %s in %" PRIu64 " allocating calls (%s each), %s in %" PRIu64
                     " releases",
                  fmt_ns(b1, sizeof(b1), rp->alloc_ns), rp->alloc_ns_calls,
                  fmt_ns(b2, sizeof(b2), rp->alloc_ns_calls ? rp->alloc_ns / rp->alloc_ns_calls : 0),
                  fmt_ns(b3, sizeof(b3), rp->release_ns), rp->release_ns_calls);
    doc_linef(d, "  failed allocations %" PRIu64, rp->failed_allocations);
    doc_linef(d, "  unmatched frees    %" PRIu64 " (of blocks allocated before tracing, or double "
                 "frees)",
              rp->unmatched_frees);
    if (rp->have_end)
        doc_linef(d, "  events             %" PRIu64 " written, %" PRIu64 " dropped",
                  rp->end.events, rp->end.dropped);
    else
        doc_linef(d, "  events             %" PRIu64 " records read (no END record)",
                  rp->records);
    doc_linef(d, "  call sites         %zu", R->nsites);
}

/* Whether the process exited (an END record or a crash): "at end", not "when the trace stops". */
static bool report_exited(const report_t *R)
{
    return R->rp.have_end || R->rp.crash_signal;
}

static void emit_summary(const report_t *R, doc_t *d)
{
    const replay_t *rp = &R->rp;
    if (doc_text(d))
        text_summary(R, d);
    doc_nl(d);
    doc_obj(d, "summary");
    doc_u64(d, "allocations", rp->allocations);
    doc_u64(d, "frees", rp->frees);
    doc_u64(d, "bytes_allocated", rp->bytes_allocated);
    doc_u64(d, "peak_heap_bytes", rp->peak_bytes);
    doc_u64(d, "peak_time_ns", rp->peak_time_ns);
    doc_u64(d, "not_freed_blocks", rp->live_blocks);
    doc_u64(d, "not_freed_bytes", rp->live_bytes);
    doc_u64(d, "duration_ns", rp->duration_ns);
    doc_u64(d, "threads", rp->threads);
    doc_u64(d, "failed_allocations", rp->failed_allocations);
    doc_u64(d, "unmatched_frees", rp->unmatched_frees);
    doc_u64(d, "double_allocations", rp->double_allocations);
    doc_u64(d, "temporary_allocations", rp->temporary);
    doc_u64(d, "mismatched_frees", rp->mismatched_frees);
    doc_u64(d, "double_frees", rp->double_frees);
    doc_u64(d, "invalid_frees", rp->invalid_frees);
    doc_u64_or_null(d, "final_rss_bytes", rp->have_rss, rp->final_rss_bytes);
    doc_u64_or_null(d, "max_rss_bytes", rp->have_rss, rp->max_rss_bytes);
    doc_u64_or_null(d, "final_rss_app_bytes", rp->have_rss,
                    replay_rss_app(rp->final_rss_bytes, rp->final_shim_bytes));
    doc_u64_or_null(d, "final_rss_recorder_bytes", rp->have_rss, rp->final_shim_bytes);
    doc_u64_or_null(d, "max_rss_app_bytes", rp->have_rss,
                    replay_rss_app(rp->max_rss_bytes, rp->max_rss_shim_bytes));
    doc_u64_or_null(d, "max_rss_recorder_bytes", rp->have_rss, rp->max_rss_shim_bytes);
    doc_u64_or_null(d, "alloc_ns", rp->have_alloc_cost, rp->alloc_ns);
    doc_u64_or_null(d, "alloc_ns_calls", rp->have_alloc_cost, rp->alloc_ns_calls);
    doc_u64_or_null(d, "release_ns", rp->have_alloc_cost, rp->release_ns);
    doc_u64_or_null(d, "release_ns_calls", rp->have_alloc_cost, rp->release_ns_calls);
    doc_u64_or_null(d, "events", rp->have_end, rp->end.events);
    doc_u64_or_null(d, "dropped", rp->have_end, rp->end.dropped);
    emit_hist(d, "size", &rp->sizes);
    doc_u64(d, "call_sites", R->nsites);
    doc_bool(d, "complete", rp->complete);
    doc_str(d, "partial_reason", rp->complete ? NULL : rp->partial_reason);
    leaks_emit_summary(d, &R->leaks);
    doc_only(d, DOC_DATA); /* text: its own section, further down */
    emit_size_histogram(R, d);
    doc_only(d, DOC_ALL);
    doc_end(d);
}

/* Rates, live heap and RSS on one time axis (workload characterization: phases, bursts). */
static void emit_timeline(const report_t *R, doc_t *d)
{
    static const doc_col_t cols[] = {
        {"start_ns", "from", 10, DOC_UNIT_NS, "+", NULL},
        {"allocations", "allocs/s", 10, DOC_UNIT_RATE, NULL, NULL},
        {"frees", "frees/s", 10, DOC_UNIT_RATE, NULL, NULL},
        {"bytes_allocated", "bytes/s", 11, DOC_UNIT_RATE, NULL, "B"},
        {"live_bytes", "live heap", 11, DOC_UNIT_BYTES, NULL, NULL},
        {"live_bytes_max", "(max)", 11, DOC_UNIT_BYTES, NULL, NULL},
        {"rss_bytes", "RSS", 10, DOC_UNIT_BYTES, NULL, NULL},
    };
    const replay_t *rp = &R->rp;
    char title[64], b[32];
    snprintf(title, sizeof title, "TIMELINE (%d slices of %s)", REPLAY_SLICES,
             fmt_ns(b, sizeof b, rp->slice_ns));
    doc_title(d, title);
    doc_nl(d);
    doc_obj(d, "timeline");
    doc_u64(d, "slice_ns", rp->slice_ns);
    doc_columns(d, cols, sizeof cols / sizeof cols[0], rp->slice_ns);
    doc_list(d, "slices");
    for (unsigned i = 0; i < REPLAY_SLICES; i++) {
        const replay_slice_t *sl = &rp->slices[i];
        doc_obj(d, NULL);
        doc_u64(d, "start_ns", rp->slice_ns * i);
        doc_u64(d, "allocations", sl->allocations);
        doc_u64(d, "frees", sl->frees);
        doc_u64(d, "bytes_allocated", sl->bytes_allocated);
        doc_u64(d, "live_bytes", sl->live_bytes);
        doc_u64(d, "live_bytes_max", sl->live_bytes_max);
        doc_u64_or_null(d, "rss_bytes", sl->rss_bytes != 0, sl->rss_bytes);
        /* the same sample apart: the app's and the recorder's own memory */
        doc_u64_or_null(d, "app_rss_bytes", sl->rss_bytes != 0,
                        replay_rss_app(sl->rss_bytes, sl->rss_recorder_bytes));
        doc_u64_or_null(d, "recorder_rss_bytes", sl->rss_bytes != 0,
                        sl->rss_bytes ? sl->rss_bytes - replay_rss_app(sl->rss_bytes, sl->rss_recorder_bytes) : 0);
        doc_u64(d, "lock_wait_ns", sl->lock_wait_ns);
        doc_end(d);
    }
    doc_end(d);
    doc_end(d);
}

/* The report, in every document format. The data's order: trace, verdict, use,
 * recommendations, summary, timeline, sites, leaks, locks, errors, snapshots; the text's: the
 * first screen (verdict, USE, top recommendations), recommendations, summary, timeline, the
 * rankings, not freed, leaks, growth, errors, histogram, locks (--brief: the first screen,
 * summary, leaks, top sites; --section NAME: that one section): the sections whose place
 * differs are visited twice, hidden from one side each time (doc_hide). */
static int report_emit(const report_t *R, doc_t *d)
{
    const replay_t *rp = &R->rp;
    bool brief = R->o->brief;
    int depth = R->o->c.stack_depth, top = R->o->c.top;
    doc_obj(d, NULL);
    doc_str(d, "format", "perfshim-report");
    doc_u64(d, "version", 1);
    doc_u64(d, "schema_version", DOC_SCHEMA_VERSION);
    doc_linef(d, "perfshim heap report: %s (pid %" PRIu32 ")", rp->exe, rp->pid);
    if (rp->cmdline[0])
        doc_linef(d, "command: %s", rp->cmdline);
    doc_obj(d, "trace");
    doc_str(d, "exe", rp->exe);
    doc_str(d, "cmdline", rp->cmdline);
    doc_u64(d, "pid", rp->pid);
    /* sampled mode (replay.h): every count and byte total of the report is an estimate */
    bool sampled = rp->sample_bytes != 0;
    doc_bool(d, "sampled", sampled);
    doc_u64_or_null(d, "sample_bytes", sampled, rp->sample_bytes);
    doc_u64_or_null(d, "samples", sampled, rp->samples);
    doc_u64_or_null(d, "sample_frees", sampled, rp->sample_frees);
    doc_end(d);
    int rc = 0;
    doc_hide(d, sec_mask(R, SEC_SCREEN));
    rc = screen_emit(d, rp, &R->leaks, R->pressure, &R->advice, R->o->advice_top);
    doc_hide(d, brief ? DOC_TEXT : sec_mask(R, SEC_ADVICE));
    if (rc == 0)
        rc = advice_emit(d, &R->advice, rp, R->sym, depth, R->o->advice_top);
    doc_hide(d, sec_mask(R, SEC_SUMMARY));
    emit_summary(R, d);
    if (brief && rc == 0) { /* the first screen: what leaked, then where the allocations come from */
        doc_hide(d, DOC_DATA);
        rc = report_leaks_text(R, d, 3);
    }
    doc_hide(d, brief ? DOC_TEXT : sec_mask(R, SEC_TIMELINE));
    emit_timeline(R, d);
    doc_hide(d, sec_mask(R, SEC_SITES));

    const site_t **v = report_rank(R, site_by_allocations);
    site_ranks_t ranks = {R, malloc((R->nsites ? R->nsites : 1) * sizeof(long))};
    if (!v || !ranks.rank) {
        free(v);
        free(ranks.rank);
        return -PS_E_NOMEM;
    }
    for (size_t i = 0; i < R->nsites; i++)
        ranks.rank[v[i] - R->sites] = (long)i;
    if (rc == 0)
        rc = emit_top(R, d, "TOP SITES BY ALLOCATIONS", v, TOP_ALL, true);
    if (!brief) {
        doc_hide(d, DOC_DATA | sec_mask(R, SEC_SITES));
        if (rc == 0)
            rc = text_top(R, d, "TOP SITES BY BYTES", site_by_bytes, TOP_ALL);
        if (rc == 0)
            rc = text_top(R, d, "TOP SITES BY PEAK CONTRIBUTION", site_by_peak, TOP_ALL);
        if (rc == 0)
            rc = text_top(R, d, "TOP SITES BY TEMPORARY ALLOCATIONS", site_by_temporary,
                          TOP_TEMPORARY);
        doc_hide(d, DOC_DATA | sec_mask(R, SEC_NOT_FREED));
        if (rc == 0)
            rc = text_top(R, d,
                          rp->sample_bytes
                              ? (report_exited(R) ? "NOT FREED AT EXIT (estimates: a sampled trace)"
                                                  : "NOT FREED WHEN THE TRACE STOPS (the process "
                                                    "had not exited; estimates: a sampled trace)")
                          : report_exited(R)
                              ? "NOT FREED AT EXIT"
                              : "NOT FREED WHEN THE TRACE STOPS (the process had not exited)",
                          site_by_leaked, TOP_LEAKS);
        doc_hide(d, 0);
    }
    /* leaks, largest first: the scan's groups, or without a scan the sites' blocks not freed
     * at exit; one shape either way (leaks_emit.h); text: the LEAKS section */
    doc_hide(d, brief ? DOC_TEXT : sec_mask(R, SEC_LEAKS));
    if (R->o->section == SEC_LEAKS && !R->leaks.have_scan) /* asked for: say why it is empty */
        doc_line(d, "\nLEAKS: no leak scan in the trace (PERFSHIM_LEAK_CHECK=0, or the process "
                    "did not exit cleanly); --section not-freed shows what was still allocated");
    doc_nl(d);
    doc_list(d, "leaks");
    if (rc == 0 && R->leaks.have_scan) {
        /* the index into "sites" is data only: text does not look it up */
        rc = leaks_emit_groups(d, &R->leaks, R->sym, depth, top,
                               d->ops->kind == DOC_TEXT ? NULL : report_site_index, &ranks);
    } else if (rc == 0 && d->ops->kind != DOC_TEXT) { /* data only */
        const site_t **lv = report_rank(R, site_by_leaked);
        if (!lv)
            rc = -PS_E_NOMEM;
        for (size_t i = 0; lv && i < R->nsites && rc == 0; i++) {
            if (!lv[i]->live_blocks)
                continue;
            rc = leaks_emit_entry(d, "not_freed", lv[i]->live_blocks, lv[i]->live_bytes, 0, -1,
                                  ranks.rank[lv[i] - R->sites], false, false, R->sym,
                                  lv[i]->ips, lv[i]->depth, depth);
        }
        free(lv);
    }
    doc_end(d);
    if (!brief) { /* text: growth, errors, histogram here */
        doc_hide(d, DOC_DATA | sec_mask(R, SEC_GROWTH));
        if (R->o->section == SEC_GROWTH && R->leaks.nsnapshots < 2)
            doc_linef(d, "\nSUSPECTED LEAKS: %" PRIu32 " live-set snapshots in the trace, growth "
                         "needs two (PERFSHIM_SNAPSHOT_SIGNAL)",
                      R->leaks.nsnapshots);
        if (rc == 0)
            rc = leaks_emit_growth(d, &R->leaks, R->sym, depth, top);
        doc_hide(d, DOC_DATA | sec_mask(R, SEC_ERRORS));
        if (rc == 0)
            rc = emit_errors(R, d);
        doc_hide(d, DOC_DATA | sec_mask(R, SEC_HISTOGRAM));
        emit_size_histogram(R, d);
    }
    doc_hide(d, brief ? DOC_TEXT : sec_mask(R, SEC_LOCKS));
    if (rc == 0)
        rc = locks_emit(d, rp, R->sym, depth, top);
    doc_hide(d, DOC_TEXT);
    if (rc == 0)
        rc = emit_errors(R, d);
    if (rc == 0) {
        doc_nl(d);
        rc = leaks_emit_growth(d, &R->leaks, R->sym, depth, top);
    }
    doc_hide(d, brief ? DOC_TEXT : sec_mask(R, SEC_PRESSURE)); /* the pressure section, last */
    if (rc == 0)
        rc = pressure_emit(d, rp, R->sym, depth, top);
    doc_hide(d, 0);
    doc_end(d);
    free(v);
    free(ranks.rank);
    return rc < 0 ? rc : d->err;
}

/* The profile: every call site, with its value for each sample type (--metric selects):
 * allocations, bytes, the live bytes at the heap's peak, what leaked (the leak scan's
 * definite and indirect bytes when the trace has a scan, else what was not freed at the end),
 * what was in use at the end and the temporary allocations; a leak group whose call site is
 * no site's (a fork child's inherited blocks) is a stack of its own with only "leaked"; then
 * every contended lock site (rp->locks; not condvars: waiting there is not contention) with
 * its total wait, zero in the heap's types. Then the time axis, for a format that has one:
 * the live heap at each step's end of the fine series (series.h; the timeline's slices
 * without it) and at the peak, each RSS sample (without the series the largest per slice),
 * and the lock waits (locks_emit_waits). */
static const char *const report_sample_types[] = {"allocations", "bytes",     "peak",
                                                  "leaked",      "inuse",     "temporary",
                                                  "lock_wait_ns"};
static const char *const report_sample_units[] = {"count", "bytes", "bytes",      "bytes",
                                                  "bytes", "count", "nanoseconds"};
#define REPORT_NTYPES 7

static bool leak_counts(const leak_group_t *g)
{
    return g->kind == PS_LEAK_DEFINITE || g->kind == PS_LEAK_INDIRECT;
}

static int report_profile_stack(const report_t *R, profile_t *p, const uint64_t *ips,
                                uint32_t depth, const uint64_t *values)
{
    sym_frame_t fr[DOC_MAX_FRAMES];
    size_t n, total;
    int rc = doc_expand(R->sym, ips, depth, R->o->c.stack_depth, fr, &n, &total);
    return rc < 0 ? rc : profile_sample(p, fr, n, values);
}

static int report_profile_time(const report_t *R, profile_t *p)
{
    const replay_t *rp = &R->rp;
    const series_t *se = rp->series; /* the fine series, else the timeline's slices */
    unsigned n = se ? SERIES_STEPS : REPLAY_SLICES;
    uint64_t step = se ? se->step_ns : rp->slice_ns;
    int rc = profile_counter(p, "heap", 0, 0);
    bool peak_done = rp->peak_bytes == 0;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        uint64_t end = step * (i + 1);
        if (!peak_done && rp->peak_time_ns < end) {
            rc = profile_counter(p, "heap", rp->peak_time_ns, rp->peak_bytes);
            peak_done = true;
        }
        if (rc == 0 && step)
            rc = profile_counter(p, "heap", end, se ? se->live[i] : rp->slices[i].live_bytes);
    }
    if (rc == 0 && !peak_done)
        rc = profile_counter(p, "heap", rp->peak_time_ns, rp->peak_bytes);
    for (size_t i = 0; se && i < se->nrss && rc == 0; i++)
        rc = profile_counter(p, "rss", se->rss_ts[i], se->rss_bytes[i]);
    for (unsigned i = 0; !se && i < REPLAY_SLICES && rc == 0 && rp->have_rss; i++)
        if (rp->slices[i].rss_bytes)
            rc = profile_counter(p, "rss", rp->slice_ns * i, rp->slices[i].rss_bytes);
    return rc < 0 ? rc : locks_emit_waits(p, rp, R->sym);
}

static int report_profile(const report_t *R, profile_t *p, profile_meta_t *meta)
{
    const replay_t *rp = &R->rp;
    *meta = (profile_meta_t){.exe = rp->exe,
                             .cmdline = rp->cmdline,
                             .pid = rp->pid,
                             .start_ns = rp->start_ns,
                             .start_realtime_ns = rp->model ? rp->model->start_realtime_ns : 0,
                             .duration_ns = rp->duration_ns,
                             .peak_bytes = rp->peak_bytes,
                             .peak_time_ns = rp->peak_time_ns,
                             .final_bytes = rp->live_bytes,
                             .modules = rp->modules,
                             .nmodules = rp->nmodules};
    profile_types(p, report_sample_types, report_sample_units, REPORT_NTYPES);
    profile_meta(p, meta);
    const leaks_t *L = &R->leaks;
    uint64_t *leaked = calloc(R->nsites ? R->nsites : 1, sizeof *leaked);
    if (!leaked)
        return -PS_E_NOMEM;
    int rc = 0;
    for (size_t g = 0; L->have_scan && g < L->ngroups; g++) { /* the groups' sites */
        if (!leak_counts(&L->groups[g]))
            continue;
        site_t key = {.ips = L->groups[g].ips, .depth = L->groups[g].depth};
        const site_t *s = bsearch(&key, R->sites, R->nsites, sizeof(*s), site_cmp_ips);
        if (s)
            leaked[s - R->sites] += L->groups[g].bytes;
    }
    for (size_t i = 0; i < R->nsites && rc == 0; i++) {
        const site_t *s = &R->sites[i];
        const uint64_t values[REPORT_NTYPES] = {
            s->allocations, s->bytes, s->peak_bytes,
            L->have_scan ? leaked[i] : s->live_bytes, s->live_bytes, s->temporary, 0};
        rc = report_profile_stack(R, p, s->ips, s->depth, values);
    }
    for (size_t g = 0; L->have_scan && g < L->ngroups && rc == 0; g++) { /* the others */
        site_t key = {.ips = L->groups[g].ips, .depth = L->groups[g].depth};
        if (!leak_counts(&L->groups[g]) ||
            bsearch(&key, R->sites, R->nsites, sizeof(site_t), site_cmp_ips))
            continue;
        const uint64_t values[REPORT_NTYPES] = {0, 0, 0, L->groups[g].bytes, 0, 0, 0};
        rc = report_profile_stack(R, p, key.ips, key.depth, values);
    }
    free(leaked);
    const locks_t *LK = rp->locks;
    for (size_t i = 0; LK && i < LK->nlocks && rc == 0; i++)
        for (size_t j = 0; j < LK->locks[i].nsites && rc == 0; j++) {
            const locks_site_t *ls = &LK->locks[i].sites[j];
            if (!ls->wait_ns)
                continue;
            site_t cut;
            const uint64_t values[REPORT_NTYPES] = {0, 0, 0, 0, 0, 0, ls->wait_ns};
            if ((rc = report_cut_stack(R, ls->stack, &cut)) == 0)
                rc = report_profile_stack(R, p, cut.ips, cut.depth, values);
        }
    if (rc == 0 && profile_wants_time(p))
        rc = report_profile_time(R, p);
    return rc;
}

/* Renders the report in the format the table gave. */
static int report_render(const report_t *R)
{
    const format_t *f = R->o->c.format;
    int rc, rc2;
    switch (f->view) {
    case FORMAT_TEXT:
    case FORMAT_DOC: {
        doc_t d;
        if ((rc = f->open(&d, R->out)) < 0)
            return rc;
        rc = report_emit(R, &d);
        rc2 = doc_close(&d);
        return rc < 0 ? rc : rc2;
    }
    case FORMAT_PROFILE: {
        profile_t p;
        profile_meta_t meta;
        if ((rc = f->open(&p, R->out)) < 0)
            return rc;
        p.select = (size_t)R->o->metric;
        rc = report_profile(R, &p, &meta);
        rc2 = profile_close(&p);
        return rc < 0 ? rc : rc2;
    }
    case FORMAT_PAGE: { /* the document, then the profile (formats.h) */
        format_page_t pg;
        profile_meta_t meta;
        if ((rc = f->open(&pg, R->out)) < 0)
            return rc;
        pg.profile.select = (size_t)R->o->metric;
        rc = report_emit(R, &pg.doc);
        rc2 = doc_close(&pg.doc);
        rc = rc < 0 ? rc : rc2;
        rc2 = rc < 0 ? 0 : report_profile(R, &pg.profile, &meta);
        rc = rc < 0 ? rc : rc2;
        rc2 = profile_close(&pg.profile);
        return rc < 0 ? rc : rc2;
    }
    default:
        return -PS_E_INVAL; /* a findings format: not in report's table */
    }
}

/* ---- command ------------------------------------------------------------------------- */

static void report_usage(FILE *f)
{
    fputs("usage: perfshim report [OPTIONS] TRACE\n"
          "Heap report of TRACE: first a screen with the verdict, the USE figures of heap\n"
          "and locks and the top recommendations; then the detail sections.\n"
          "  --metric=allocations|bytes|peak|leaked|inuse|temporary|lock_wait\n"
          "                             the sample type a single-value profile format\n"
          "                             (folded) writes (default allocations); leaked: the\n"
          "                             leak scan's definite and indirect bytes, without a\n"
          "                             scan what was not freed; inuse: not freed at the end;\n"
          "                             lock_wait: nanoseconds waited per contended lock site\n"
          "  --stack-depth N            frames per site (default 8 for text, all otherwise)\n"
          "  --top N                    sites per text section (default 10) and\n"
          "                             recommendations shown (default 5)\n"
          "  --section NAME             text: only that section (see below)\n"
          "  -o, --output FILE          write the report to FILE instead of stdout\n"
          "  --sysroot DIR              look for module files under DIR\n"
          "  --debug-dir DIR            also look for separate debug files in DIR\n"
          "  -q, --quiet                no symbolization warnings\n"
          "  --show-std-frames          text: show library frames (std::, __gnu_cxx::, inlined\n"
          "                             libstdc++ code, libc, the allocator; folded by default\n"
          "                             into one line, --stack-depth counting the program's)\n"
          "  --full-names               text: full C++ names (template arguments and\n"
          "                             parameters collapsed to <…> and (…) by default)\n"
          "  --brief                    text: the first screen, the summary, the leaks and\n"
          "                             the top sites; what `perfshim PROGRAM` prints\n"
          "  --short-lived=T            pressure: a block freed within T is short-lived\n"
          "                             (N, Nns, Nus, Nms, Ns; default 1ms)\n"
          "  --within=K                 pressure: a block freed after at most K other\n"
          "                             allocations of its thread (default 8)\n"
          "`perfshim html [OPTIONS] TRACE -o FILE` is report --format=html: one self-contained\n"
          "HTML page (flame graph, timeline, thread states, tables; docs/html-report.md).\n"
          "Exit status: 0 report written (also for a partial trace, which the report marks),\n"
          "2 usage error, unreadable input, or output error.\n"
          "Sections (--section NAME; the text report shows them all, in this order):\n",
          f);
    for (int i = 0; i < SEC_COUNT; i++)
        fprintf(f, "  %-12s %s\n", report_sections[i].name, report_sections[i].what);
    format_help(f, FORMAT_REPORT);
}

static int report_parse(int argc, char **argv, report_opts_t *o)
{
    enum { OPT_METRIC = 256, OPT_BRIEF, OPT_SECTION, OPT_SHORT, OPT_WITHIN };
    static const struct option own[] = {
        {"metric", required_argument, NULL, OPT_METRIC},
        {"brief", no_argument, NULL, OPT_BRIEF},
        {"section", required_argument, NULL, OPT_SECTION},
        {"short-lived", required_argument, NULL, OPT_SHORT},
        {"within", required_argument, NULL, OPT_WITHIN},
        {NULL, 0, NULL, 0},
    };
    struct option longopts[32];
    memset(o, 0, sizeof(*o));
    cliopt_init(&o->c, "report", FORMAT_REPORT, NULL, 10);
    o->section = SEC_ALL;
    o->params = (analysis_params_t){PRESSURE_SHORT_NS_DEFAULT, PRESSURE_K_DEFAULT};
    bool top_given = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "ho:q",
                            cliopt_longopts(CLIOPT_ALL & ~CLIOPT(PARTIAL), own, longopts, 32),
                            NULL)) != -1) {
        int k = cliopt_common(&o->c, c, optarg);
        if (k < 0)
            return -PS_E_INVAL;
        top_given |= c == CLIOPT_V_TOP;
        if (k)
            continue;
        switch (c) {
        case 'h':
            report_usage(stdout);
            return 1;
        case OPT_METRIC: {
            static const char *const metrics[] = {"allocations", "bytes",     "peak",
                                                  "leaked",      "inuse",     "temporary",
                                                  "lock_wait"};
            k = cliopt_choice("report", "metric", optarg, metrics, 7);
            if (k < 0)
                return -PS_E_INVAL;
            o->metric = (enum report_metric)k;
            break;
        }
        case OPT_BRIEF:
            o->brief = true;
            break;
        case OPT_SECTION:
            for (int i = 0; i < SEC_COUNT && o->section == SEC_ALL; i++)
                if (!strcmp(optarg, report_sections[i].name))
                    o->section = i;
            if (o->section == SEC_ALL) {
                fprintf(stderr, "perfshim: report: unknown section '%s' (perfshim report --help "
                                "lists them)\n",
                        optarg);
                return 2; /* said in one line: no usage */
            }
            break;
        case OPT_SHORT:
            if (cliopt_duration("report", "short-lived", optarg, &o->params.short_ns) < 0)
                return -PS_E_INVAL;
            break;
        case OPT_WITHIN:
            if (cliopt_count("report", "within", optarg, &k) < 0)
                return -PS_E_INVAL;
            o->params.within_k = (unsigned)k;
            break;
        default:
            cliopt_unknown("report", argv);
            return -PS_E_INVAL;
        }
    }
    if (o->section != SEC_ALL && o->c.format->view != FORMAT_TEXT) {
        fprintf(stderr, "perfshim: report: --section is for the text format (the data formats "
                        "have every section)\n");
        return 2;
    }
    if (o->section != SEC_ALL)
        o->brief = false;
    o->advice_top = top_given ? o->c.top : 5;
    if (o->brief && !top_given) /* a screen: 5 sites of 3 frames */
        o->c.top = 5;
    if (o->brief && o->c.stack_depth < 0)
        o->c.stack_depth = 3;
    if (cliopt_trace("report", argc, argv) < 0)
        return -PS_E_INVAL;
    o->trace = argv[optind];
    return 0;
}

int report_main(int argc, char **argv)
{
    report_opts_t o;
    int rc = report_parse(argc, argv, &o);
    if (rc != 0) {
        if (rc < 0)
            report_usage(stderr);
        return rc < 0 || rc == 2 ? 2 : 0;
    }
    report_t R;
    memset(&R, 0, sizeof(R));
    R.o = &o;
    char err[512];
    int status = 0;
    /* each lock wait and the fine heap series are kept for the profile formats' time axis */
    rc = analyses_load_ahead(
        o.trace,
        ANALYSIS_ALL &
            ~(o.c.format->view == FORMAT_PROFILE ? 0u : ANALYSIS_WAITS | ANALYSIS_SERIES),
        &o.params, &o.c.sym, &R.rp, &R.leaks, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "perfshim: %s\n", err);
        status = 2;
        goto out;
    }
    if (!R.rp.complete)
        fprintf(stderr, "perfshim: warning: partial trace: %s\n", R.rp.partial_reason);
    R.pressure = R.rp.pressure;
    if ((rc = analyses_symbols(&R.rp, &R.leaks, &o.c.sym, &R.sym, err, sizeof(err))) < 0 ||
        (rc = report_build_sites(&R)) < 0 ||
        (rc = advice_run(&(advice_in_t){.rp = &R.rp, .leaks = &R.leaks,
                                         .pressure = R.pressure, .sym = R.sym, .trace = o.trace},
                         &R.advice)) < 0) {
        fprintf(stderr, "perfshim: report: %s\n", ps_strerror(rc));
        status = 2;
        goto out;
    }
    R.out = o.c.output ? safeout_fopen(o.c.output) : stdout;
    if (!R.out) {
        fprintf(stderr, "perfshim: report: %s: %s\n", o.c.output, strerror(errno));
        status = 2;
        goto out;
    }
    rc = report_render(&R);
    if (rc < 0) {
        fprintf(stderr, "perfshim: report: %s\n", ps_strerror(rc));
        status = 2;
    }
    if (fflush(R.out) != 0 || ferror(R.out)) {
        fprintf(stderr, "perfshim: report: cannot write output: %s\n", strerror(errno));
        status = 2;
    }
    if (R.out != stdout && fclose(R.out) != 0 && status == 0) {
        fprintf(stderr, "perfshim: report: cannot write %s: %s\n", o.c.output, strerror(errno));
        status = 2;
    }
out:
    advice_free(&R.advice);
    free(R.sites);
    analyses_free(&R.rp, &R.leaks, R.sym);
    return status;
}

int report_html_main(int argc, char **argv)
{
    /* report's options, --format=html first (a later --format overrides it) */
    char **v = calloc((size_t)argc + 2, sizeof(*v));
    if (!v) {
        fputs("perfshim: html: out of memory\n", stderr);
        return 2;
    }
    v[0] = argv[0];
    v[1] = (char *)"--format=html";
    for (int i = 1; i < argc; i++)
        v[i + 1] = argv[i];
    int rc = report_main(argc + 1, v);
    free(v);
    return rc;
}
