/*
 * check.c -- `perfshim check` (see check.h): loads each trace (replay, symbols, leak scan),
 * applies the suppressions (--suppressions files and each app's own
 * __lsan_default_suppressions() text, recorded in its trace), evaluates the budgets and writes
 * the verdict as text, JSON, SARIF or JUnit XML.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/check.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyses/analysis.h"
#include "analyses/callsite.h"
#include "cmd/baseline.h"
#include "formats/ci_report.h"
#include "cmd/cliopt.h"
#include "formats/formats.h"
#include "core/doc.h"
#include "core/reader.h"
#include "perfshim/errors.h"
#include "core/safeout.h"
#include "cmd/suppress.h"

typedef struct check_opts_s {
    uint64_t max_bytes, max_blocks;
    bool have_max_blocks, have_max_bytes;
    unsigned kinds;
    const char *supp_files[16];
    size_t nsupp;
    const char *baseline;
    double max_growth; /* percent */
    cliopt_common_t c; /* --format, --output, --top, --stack-depth, --quiet, --allow-partial,
                        * --show-std-frames, --full-names */
    const char *source_root; /* --source-root (SARIF URIs relative to it) */
    const char *gen_supp;    /* --gen-suppressions FILE */
    bool no_heap_errors;   /* --no-heap-errors: heap errors do not fail the gate */
    uint64_t max_heap_errors; /* --max-heap-errors (default 0) */
} check_opts_t;

static void check_usage(FILE *f)
{
    fputs("usage: perfshim check [OPTIONS] TRACE...\n"
          "Gate on the leaks, the heap errors (and, with --baseline, the heap growth) of one\n"
          "or more traces.\n"
          "  --max-leaked-bytes N     budget of leaked bytes (default 0)\n"
          "  --max-leaked-blocks N    budget of leaked blocks (default 0 unless\n"
          "                           --max-leaked-bytes is given: then none)\n"
          "  --leak-kinds=LIST        kinds that count: definite,indirect,reachable\n"
          "                           (default definite,indirect)\n"
          "  --max-heap-errors N      budget of heap errors: mismatched, double and invalid\n"
          "                           frees (default 0, like valgrind --error-exitcode)\n"
          "  --no-heap-errors         heap errors do not count (no such budget)\n"
          "  --suppressions FILE      LSan-style leak:PATTERN lines (repeatable)\n"
          "  --baseline OLD.json      JSON of a previous `report --format=json` or `check\n"
          "                           --format=json`: compare peak heap, bytes allocated and\n"
          "                           allocation count\n"
          "  --max-growth P%          allowed growth over the baseline (default 0%)\n"
          "  --top N                  offending stacks shown (default 5)\n"
          "  --stack-depth N          frames per stack (default 8 for text, all otherwise)\n"
          "  -o, --output FILE        write the output to FILE\n"
          "  -q, --quiet              no symbolization warnings\n"
          "  --source-root DIR        SARIF: source URIs relative to DIR (uriBaseId SRCROOT)\n"
          "  --gen-suppressions FILE  write LSan-syntax suppressions for the leaks counted\n"
          "  --show-std-frames        text: show library frames (C++ std, libc, allocator;\n"
          "                           folded by default)\n"
          "  --full-names             text: full C++ names (<…> and (…) by default)\n"
                    "  --allow-partial          check a partial trace (corrupt, cut short, trailing\n"
          "                           garbage, missing chunks) instead of refusing it\n"
          "Leaks are listed definite first, each followed by the indirect leaks it holds.\n"
          "Exit status: 0 all budgets hold, 1 a budget is exceeded (leaks, heap errors or\n"
          "growth), 2 usage or input error\n"
          "(a partial trace without --allow-partial).\n",
          f);
    format_help(f, FORMAT_CHECK);
}

static int check_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return -PS_E_INVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return -PS_E_INVAL;
    *out = v;
    return 0;
}

static int check_parse_kinds(const char *s, unsigned *out)
{
    unsigned k = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 8 && !strncmp(s, "definite", n))
            k |= 1u << PS_LEAK_DEFINITE;
        else if (n == 8 && !strncmp(s, "indirect", n))
            k |= 1u << PS_LEAK_INDIRECT;
        else if (n == 9 && !strncmp(s, "reachable", n))
            k |= 1u << PS_LEAK_REACHABLE;
        else if (n == 3 && !strncmp(s, "all", n))
            k |= (1u << PS_LEAK_DEFINITE) | (1u << PS_LEAK_INDIRECT) | (1u << PS_LEAK_REACHABLE);
        else
            return -PS_E_INVAL;
        s += n;
        if (*s == ',')
            s++;
    }
    if (!k)
        return -PS_E_INVAL;
    *out = k;
    return 0;
}

static int check_parse(int argc, char **argv, check_opts_t *o)
{
    enum {
        OPT_MAXB = 256, OPT_MAXBL, OPT_KINDS, OPT_SUPP, OPT_BASE, OPT_GROWTH, OPT_SRCROOT,
        OPT_GENSUPP, OPT_NOHEAPERR, OPT_MAXHEAPERR
    };
    static const struct option own[] = {
        {"max-leaked-bytes", required_argument, NULL, OPT_MAXB},
        {"max-leaked-blocks", required_argument, NULL, OPT_MAXBL},
        {"leak-kinds", required_argument, NULL, OPT_KINDS},
        {"suppressions", required_argument, NULL, OPT_SUPP},
        {"baseline", required_argument, NULL, OPT_BASE},
        {"max-growth", required_argument, NULL, OPT_GROWTH},
        {"source-root", required_argument, NULL, OPT_SRCROOT},
        {"gen-suppressions", required_argument, NULL, OPT_GENSUPP},
        {"no-heap-errors", no_argument, NULL, OPT_NOHEAPERR},
        {"max-heap-errors", required_argument, NULL, OPT_MAXHEAPERR},
        {NULL, 0, NULL, 0},
    };
    struct option longopts[32];
    memset(o, 0, sizeof(*o));
    o->kinds = (1u << PS_LEAK_DEFINITE) | (1u << PS_LEAK_INDIRECT);
    cliopt_init(&o->c, "check", FORMAT_CHECK, NULL, 5);
    opterr = 0;
    optind = 1;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "ho:q",
                            cliopt_longopts(CLIOPT_ALL & ~(CLIOPT(SYSROOT) | CLIOPT(DEBUGDIR)),
                                            own, longopts, 32),
                            NULL)) != -1) {
        int k = cliopt_common(&o->c, c, optarg);
        if (k < 0)
            return -PS_E_INVAL;
        if (k)
            continue;
        switch (c) {
        case 'h':
            check_usage(stdout);
            return 1;
        case OPT_NOHEAPERR:
            o->no_heap_errors = true;
            break;
        case OPT_MAXHEAPERR:
            if (check_parse_u64(optarg, &o->max_heap_errors) < 0) {
                fprintf(stderr, "perfshim: check: --max-heap-errors wants a number, not '%s'\n",
                        optarg);
                return -PS_E_INVAL;
            }
            break;
        case OPT_MAXB:
        case OPT_MAXBL:
            if (check_parse_u64(optarg, &v) < 0) {
                fprintf(stderr, "perfshim: check: --%s wants a number, not '%s'\n",
                        c == OPT_MAXB ? "max-leaked-bytes" : "max-leaked-blocks", optarg);
                return -PS_E_INVAL;
            }
            if (c == OPT_MAXB) {
                o->max_bytes = v;
                o->have_max_bytes = true;
            } else {
                o->max_blocks = v;
                o->have_max_blocks = true;
            }
            break;
        case OPT_KINDS:
            if (check_parse_kinds(optarg, &o->kinds) < 0) {
                fprintf(stderr, "perfshim: check: --leak-kinds: '%s' is not a list of "
                                "definite,indirect,reachable\n",
                        optarg);
                return -PS_E_INVAL;
            }
            break;
        case OPT_SUPP:
            if (o->nsupp == sizeof(o->supp_files) / sizeof(o->supp_files[0])) {
                fprintf(stderr, "perfshim: check: at most 16 --suppressions files\n");
                return -PS_E_INVAL;
            }
            o->supp_files[o->nsupp++] = optarg;
            break;
        case OPT_BASE:
            o->baseline = optarg;
            break;
        case OPT_GROWTH: {
            char *end;
            errno = 0;
            double g = strtod(optarg, &end);
            if (*end == '%')
                end++;
            if (errno || end == optarg || *end || !(g >= 0) || g > 1e9) {
                fprintf(stderr, "perfshim: check: --max-growth wants a percentage like 10%%, "
                                "not '%s'\n",
                        optarg);
                return -PS_E_INVAL;
            }
            o->max_growth = g;
            break;
        }
        case OPT_SRCROOT:
            o->source_root = optarg;
            break;
        case OPT_GENSUPP:
            o->gen_supp = optarg;
            break;
        default:
            cliopt_unknown("check", argv);
            return -PS_E_INVAL;
        }
    }
    if (!o->have_max_blocks && !o->have_max_bytes) {
        /* the default gate: no leaked block at all, whatever its size (malloc(0) too) */
        o->have_max_blocks = true;
        o->max_blocks = 0;
    }
    if (optind >= argc) {
        fprintf(stderr, "perfshim: check: no trace file given\n");
        return -PS_E_INVAL;
    }
    return 0;
}

/* ---- evaluation ---------------------------------------------------------------------- */

/* The order of check_result_t.leaks (checkres.h): an entry's class (0: a definite group or an
 * indirect one held by a counted definite group, 1: other indirect, 2: reachable), then its
 * root's total (the holding definite group's, or its own), the root itself, holder before
 * the groups it holds, then bytes and blocks. */
static int check_leak_class(const check_leak_t *l)
{
    if (l->g->kind == PS_LEAK_DEFINITE || (l->g->kind == PS_LEAK_INDIRECT && l->holder >= 0))
        return 0;
    return l->g->kind == PS_LEAK_INDIRECT ? 1 : 2;
}

static const check_leak_t *check_leaks_base; /* for the comparison's root lookups (qsort) */

static int check_leak_cmp(const void *pa, const void *pb)
{
    const check_leak_t *a = pa, *b = pb;
    int ca = check_leak_class(a), cb = check_leak_class(b);
    if (ca != cb)
        return ca - cb;
    if (ca == 0) {
        /* the roots by their place in the unsorted list (a and b are being moved) */
        long pa_ = a->holder >= 0 ? a->holder : a->pos, pb_ = b->holder >= 0 ? b->holder : b->pos;
        const check_leak_t *ra = &check_leaks_base[pa_], *rb = &check_leaks_base[pb_];
        if (pa_ != pb_) {
            if (ra->total != rb->total)
                return ra->total > rb->total ? -1 : 1;
            if (ra->g->bytes != rb->g->bytes)
                return ra->g->bytes > rb->g->bytes ? -1 : 1;
            return pa_ < pb_ ? -1 : 1;
        }
        if ((a->holder < 0) != (b->holder < 0))
            return a->holder < 0 ? -1 : 1; /* the holder first */
    }
    if (a->g->bytes != b->g->bytes)
        return a->g->bytes > b->g->bytes ? -1 : 1;
    if (a->g->blocks != b->g->blocks)
        return a->g->blocks > b->g->blocks ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Links each counted indirect group to its counted holder and totals each definite group;
 * then sorts (check_leak_cmp). Returns 0 or -PS_E_NOMEM. */
static int check_order_leaks(check_result_t *r)
{
    for (size_t t = 0; t < r->ntraces; t++) {
        size_t ng = r->traces[t].leaks.ngroups;
        long *entry = malloc((ng ? ng : 1) * sizeof(*entry));
        if (!entry)
            return -PS_E_NOMEM;
        for (size_t k = 0; k < ng; k++)
            entry[k] = -1;
        for (size_t i = 0; i < r->nleaks; i++)
            if (r->leaks[i].t == &r->traces[t])
                entry[r->leaks[i].g - r->traces[t].leaks.groups] = (long)i;
        for (size_t i = 0; i < r->nleaks; i++) {
            check_leak_t *l = &r->leaks[i];
            l->total = l->g->kind == PS_LEAK_DEFINITE ? l->g->bytes : l->total;
            if (l->t != &r->traces[t] || l->g->kind != PS_LEAK_INDIRECT || l->g->held_by < 0 ||
                (size_t)l->g->held_by >= ng)
                continue;
            long h = entry[l->g->held_by];
            if (h >= 0 && r->leaks[h].g->kind == PS_LEAK_DEFINITE)
                l->holder = h;
        }
        free(entry);
    }
    for (size_t i = 0; i < r->nleaks; i++)
        if (r->leaks[i].holder >= 0)
            r->leaks[r->leaks[i].holder].total += r->leaks[i].g->bytes;
    /* sort a copy (the keys read the holders in r->leaks, unsorted), then re-point holders
     * to their new places */
    size_t n = r->nleaks;
    check_leak_t *copy = malloc((n ? n : 1) * sizeof(*copy));
    long *moved = malloc((n ? n : 1) * sizeof(*moved));
    if (!copy || !moved) {
        free(copy);
        free(moved);
        return -PS_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        copy[i] = r->leaks[i];
        copy[i].pos = (long)i;
    }
    check_leaks_base = r->leaks;
    qsort(copy, n, sizeof(*copy), check_leak_cmp);
    for (size_t i = 0; i < n; i++)
        moved[copy[i].pos] = (long)i;
    for (size_t i = 0; i < n; i++) {
        if (copy[i].holder >= 0)
            copy[i].holder = moved[copy[i].holder];
        copy[i].pos = (long)i;
    }
    memcpy(r->leaks, copy, n * sizeof(*copy));
    free(copy);
    free(moved);
    return 0;
}

static void check_kinds_str(unsigned kinds, char *out, size_t n)
{
    out[0] = 0;
    for (int k = PS_LEAK_DEFINITE; k <= PS_LEAK_REACHABLE; k++)
        if (kinds & (1u << k)) {
            size_t l = strlen(out);
            snprintf(out + l, n - l, "%s%s", l ? "," : "", leaks_kind_name(k));
        }
}

static check_budget_t *check_budget(check_result_t *r, const char *name, const char *unit,
                                    uint64_t value, uint64_t limit)
{
    check_budget_t *b = &r->budgets[r->nbudgets++];
    b->name = name;
    b->unit = unit;
    b->value = value;
    b->limit = limit;
    b->failed = value > limit;
    r->nfailed += b->failed;
    return b;
}

static uint64_t check_grown_limit(uint64_t old, double pct)
{
    long double l = (long double)old * (1.0L + (long double)pct / 100.0L);
    return l >= 18446744073709551615.0L ? UINT64_MAX : (uint64_t)l;
}

static int check_evaluate(check_result_t *r, const check_opts_t *o, const baseline_t *base)
{
    uint64_t lbytes = 0, lblocks = 0;
    size_t cap = 0;
    for (size_t i = 0; i < r->ntraces; i++)
        cap += r->traces[i].leaks.ngroups;
    r->leaks = calloc(cap ? cap : 1, sizeof(*r->leaks));
    if (!r->leaks)
        return -PS_E_NOMEM;
    for (size_t i = 0; i < r->ntraces; i++) {
        check_trace_t *t = &r->traces[i];
        const ps_rec_leak_scan_t *s = &t->leaks.scan;
        r->allocations += t->rp.allocations;
        r->bytes_allocated += t->rp.bytes_allocated;
        r->peak_heap_bytes += t->rp.peak_bytes;
        r->definite_bytes += s->definite_bytes;
        r->definite_blocks += s->definite_blocks;
        r->indirect_bytes += s->indirect_bytes;
        r->indirect_blocks += s->indirect_blocks;
        r->reachable_bytes += s->reachable_bytes;
        r->reachable_blocks += s->reachable_blocks;
        r->mismatched_frees += t->rp.mismatched_frees;
        r->double_frees += t->rp.double_frees;
        r->invalid_frees += t->rp.invalid_frees;
        if (t->rp.sample_bytes) { /* no scan: its blocks not freed, estimated, are the leaks */
            r->estimated = true;
            r->sampled_not_freed_bytes += t->rp.live_bytes;
            r->sampled_not_freed_blocks += t->rp.live_blocks;
            lbytes += t->rp.live_bytes;
            lblocks += t->rp.live_blocks;
        }
        for (size_t k = 0; k < t->leaks.ngroups; k++) {
            const leak_group_t *g = &t->leaks.groups[k];
            if (!(o->kinds & (1u << g->kind)))
                continue;
            if (g->suppressed) {
                r->suppressed_blocks += g->blocks;
                r->suppressed_bytes += g->bytes;
                continue;
            }
            lbytes += g->bytes;
            lblocks += g->blocks;
            r->leaks[r->nleaks++] = (check_leak_t){t, g, -1, 0, 0};
        }
    }
    int rc = check_order_leaks(r);
    if (rc < 0)
        return rc;
    char kinds[64];
    check_kinds_str(o->kinds, kinds, sizeof kinds);
    check_budget_t *b = check_budget(r, "max-leaked-bytes", "bytes", lbytes, o->max_bytes);
    snprintf(b->what, sizeof b->what, "bytes leaked (%s, not suppressed)", kinds);
    if (o->have_max_blocks) {
        b = check_budget(r, "max-leaked-blocks", "blocks", lblocks, o->max_blocks);
        snprintf(b->what, sizeof b->what, "blocks leaked (%s, not suppressed)", kinds);
    }
    if (r->heap_errors_counted) {
        b = check_budget(r, "max-heap-errors", "errors",
                         r->mismatched_frees + r->double_frees + r->invalid_frees,
                         o->max_heap_errors);
        snprintf(b->what, sizeof b->what, "heap errors (%" PRIu64 " mismatched, %" PRIu64
                 " double, %" PRIu64 " invalid frees)",
                 r->mismatched_frees, r->double_frees, r->invalid_frees);
    }
    if (base) {
        static const char *const names[] = {"max-growth-peak-heap-bytes",
                                            "max-growth-bytes-allocated",
                                            "max-growth-allocations"};
        static const char *const units[] = {"bytes", "bytes", "allocations"};
        static const char *const whats[] = {"peak heap", "bytes allocated", "allocations"};
        const uint64_t now[] = {r->peak_heap_bytes, r->bytes_allocated, r->allocations};
        const uint64_t old[] = {base->peak_heap_bytes, base->bytes_allocated, base->allocations};
        for (int i = 0; i < 3; i++) {
            b = check_budget(r, names[i], units[i], now[i],
                             check_grown_limit(old[i], o->max_growth));
            snprintf(b->what, sizeof b->what, "%s (baseline %" PRIu64 " + %g%%)", whats[i],
                     old[i], o->max_growth);
        }
    }
    return 0;
}

/* ---- text and JSON ------------------------------------------------------------------- */

/* A budget in words: "VALUE WHAT, limit LIMIT[: exceeded by N UNIT]" (text, SARIF, JUnit). */
static void budget_message(const check_budget_t *b, char *buf, size_t n)
{
    if (b->failed)
        snprintf(buf, n, "%" PRIu64 " %s, limit %" PRIu64 ": exceeded by %" PRIu64 " %s", b->value,
                 b->what, b->limit, b->value - b->limit, b->unit);
    else
        snprintf(buf, n, "%" PRIu64 " %s, limit %" PRIu64, b->value, b->what, b->limit);
}

/* A heap error's stack, cut like a call site (the allocator's and the shim's frames). */
static int check_error_stack(doc_t *d, const char *key, const check_trace_t *t, uint32_t id,
                             int depth)
{
    const uint64_t *ips;
    uint32_t n;
    int rc = callsite_cut(t->sym, &t->rp, id, &ips, &n);
    if (rc == 0 && !n)
        doc_only(d, DOC_DATA); /* text: its line says "(no stack)" */
    if (rc == 0)
        rc = doc_stack(d, key, t->sym, ips, n, depth);
    doc_only(d, DOC_ALL);
    return rc;
}

/* "heap_errors": every distinct heap error of the traces (the misuse analysis's, none with
 * --no-heap-errors); text: the first `top` with both stacks, after the leaks. */
static int check_emit_heap_errors(doc_t *d, const check_result_t *r)
{
    size_t k = 0;
    doc_nl(d);
    doc_list(d, "heap_errors");
    for (size_t i = 0; i < r->ntraces; i++) {
        const check_trace_t *t = &r->traces[i];
        for (size_t j = 0; j < t->rp.nerrors; j++, k++) {
            const replay_error_t *e = &t->rp.errors[j];
            unsigned vis = (int)k < r->top ? DOC_ALL : DOC_DATA;
            doc_only(d, vis);
            if (k == 0)
                doc_line(d, "Heap errors:");
            doc_linef(d, "  #%zu  %s x%" PRIu64 ": %s%s%sreleased by %s%s%s%s", k + 1,
                      misuse_kind_name(e->kind), e->count, e->alloc_fn ? "allocated by " : "",
                      e->alloc_fn ? alloc_fn_name(e->alloc_fn) : "", e->alloc_fn ? ", " : "",
                      alloc_fn_name(e->free_fn), r->ntraces > 1 ? " (" : "",
                      r->ntraces > 1 ? t->path : "", r->ntraces > 1 ? ")" : "");
            doc_nl(d);
            doc_obj(d, NULL);
            doc_str(d, "kind", misuse_kind_name(e->kind));
            doc_u64(d, "count", e->count);
            doc_str(d, "alloc_fn", e->alloc_fn ? alloc_fn_name(e->alloc_fn) : NULL);
            doc_str(d, "free_fn", alloc_fn_name(e->free_fn));
            doc_str(d, "trace", t->path);
            doc_line(d, e->alloc_stack ? "      allocated at:" : "      allocated at: (no stack)");
            int rc = check_error_stack(d, "alloc_stack", t, e->alloc_stack, r->stack_depth);
            doc_only(d, vis);
            doc_line(d, e->free_stack ? "      released at:"
                                      : "      released at: (no stack; PERFSHIM_FREE_STACKS=2 "
                                        "records free()'s)");
            if (rc == 0)
                rc = check_error_stack(d, "free_stack", t, e->free_stack, r->stack_depth);
            doc_only(d, vis);
            doc_end(d);
            if (rc < 0)
                return rc;
        }
    }
    doc_only(d, DOC_ALL);
    doc_end(d);
    return d->err;
}

/* The verdict as a document (text, JSON, any document format): docs/json-schema.md. Text:
 * the verdict line, a line per budget, the leak totals, the top offending stacks. */
static int check_emit(doc_t *d, const check_result_t *r)
{
    size_t failed = 0;
    for (size_t i = 0; i < r->nbudgets; i++)
        failed += r->budgets[i].failed;
    doc_linef(d, "perfshim check: %s: %zu of %zu budgets exceeded", failed ? "FAIL" : "PASS",
              failed, r->nbudgets);
    if (r->estimated)
        doc_linef(d, "  sampled trace: the budgets are checked on estimates; its leaks are the "
                     "%" PRIu64 " bytes in %" PRIu64 " blocks estimated not freed at exit (no "
                     "leak scan in sampled mode: reachable blocks count too)",
                  r->sampled_not_freed_bytes, r->sampled_not_freed_blocks);
    doc_obj(d, NULL);
    doc_str(d, "format", "perfshim-check");
    doc_u64(d, "version", 1);
    doc_u64(d, "schema_version", DOC_SCHEMA_VERSION);
    doc_str(d, "result", r->nfailed ? "fail" : "pass");
    doc_list(d, "traces");
    for (size_t i = 0; i < r->ntraces; i++)
        doc_str(d, NULL, r->traces[i].path);
    doc_end(d);
    doc_nl(d);
    doc_obj(d, "summary");
    doc_u64(d, "allocations", r->allocations);
    doc_u64(d, "bytes_allocated", r->bytes_allocated);
    doc_u64(d, "peak_heap_bytes", r->peak_heap_bytes);
    doc_u64(d, "leaked_definite_bytes", r->definite_bytes);
    doc_u64(d, "leaked_definite_blocks", r->definite_blocks);
    doc_u64(d, "leaked_indirect_bytes", r->indirect_bytes);
    doc_u64(d, "leaked_indirect_blocks", r->indirect_blocks);
    doc_u64(d, "reachable_bytes", r->reachable_bytes);
    doc_u64(d, "reachable_blocks", r->reachable_blocks);
    doc_u64(d, "suppressed_bytes", r->suppressed_bytes);
    doc_u64(d, "suppressed_blocks", r->suppressed_blocks);
    doc_u64(d, "mismatched_frees", r->mismatched_frees);
    doc_u64(d, "double_frees", r->double_frees);
    doc_u64(d, "invalid_frees", r->invalid_frees);
    doc_bool(d, "heap_errors_counted", r->heap_errors_counted);
    doc_bool(d, "estimated", r->estimated);
    doc_u64(d, "sampled_not_freed_bytes", r->sampled_not_freed_bytes);
    doc_u64(d, "sampled_not_freed_blocks", r->sampled_not_freed_blocks);
    doc_end(d);
    doc_nl(d);
    doc_list(d, "budgets");
    for (size_t i = 0; i < r->nbudgets; i++) {
        const check_budget_t *b = &r->budgets[i];
        if (doc_text(d)) {
            char msg[512];
            budget_message(b, msg, sizeof msg);
            doc_linef(d, "  %s  %s: %s", b->failed ? "FAIL" : "pass", b->name, msg);
        }
        doc_nl(d);
        doc_obj(d, NULL);
        doc_str(d, "name", b->name);
        doc_u64(d, "value", b->value);
        doc_u64(d, "limit", b->limit);
        doc_bool(d, "passed", !b->failed);
        doc_u64(d, "exceeded_by", b->failed ? b->value - b->limit : 0);
        doc_str(d, "unit", b->unit);
        doc_str(d, "what", b->what);
        doc_end(d);
    }
    doc_end(d);
    doc_linef(d, "  leaks at exit: definite %" PRIu64 " bytes in %" PRIu64 " blocks, indirect %"
                 PRIu64 " bytes in %" PRIu64 " blocks, reachable %" PRIu64 " bytes in %" PRIu64
                 " blocks",
              r->definite_bytes, r->definite_blocks, r->indirect_bytes, r->indirect_blocks,
              r->reachable_bytes, r->reachable_blocks);
    if (r->suppressed_blocks)
        doc_linef(d, "  suppressed: %" PRIu64 " bytes in %" PRIu64 " blocks", r->suppressed_bytes,
                  r->suppressed_blocks);
    doc_nl(d);
    doc_list(d, "leaks");
    for (size_t i = 0; i < r->nleaks; i++) {
        const check_leak_t *l = &r->leaks[i];
        doc_only(d, (int)i < r->top ? DOC_ALL : DOC_DATA); /* text: the top ones */
        if (i == 0)
            doc_line(d, "Top offending stacks:");
        char held[48] = "";
        if (l->holder >= 0)
            snprintf(held, sizeof held, ", held by #%ld", l->holder + 1);
        doc_linef(d, "  #%zu  %s: %" PRIu64 " blocks, %" PRIu64 " bytes%s%s%s%s", i + 1,
                  leaks_kind_name(l->g->kind), l->g->blocks, l->g->bytes, held,
                  r->ntraces > 1 ? " (" : "", r->ntraces > 1 ? l->t->path : "",
                  r->ntraces > 1 ? ")" : "");
        doc_nl(d);
        doc_obj(d, NULL);
        doc_str(d, "kind", leaks_kind_name(l->g->kind));
        doc_u64(d, "blocks", l->g->blocks);
        doc_u64(d, "bytes", l->g->bytes);
        doc_str(d, "trace", l->t->path);
        doc_u64_or_null(d, "held_by", l->holder >= 0, (uint64_t)(l->holder >= 0 ? l->holder : 0));
        int rc = doc_stack(d, "stack", l->t->sym, l->g->ips, l->g->depth, r->stack_depth);
        if (rc < 0)
            return rc;
        doc_end(d);
    }
    doc_only(d, DOC_ALL);
    doc_end(d);
    int rc = check_emit_heap_errors(d, r);
    doc_end(d);
    return rc < 0 ? rc : d->err;
}

/* The findings of the verdict: one per budget, one per counted leak site (largest first). */
static int check_findings(const check_result_t *r, findings_t *F)
{
    F->source_root = r->source_root;
    F->top = r->top;
    finding_t *f;
    int rc;
    for (size_t i = 0; i < r->nbudgets; i++) {
        const check_budget_t *b = &r->budgets[i];
        if ((rc = findings_add(F, &f)) < 0)
            return rc;
        f->kind = FINDING_BUDGET;
        f->rule_index = CI_RULE_BUDGET;
        f->rule = ci_rule_id(f->rule_index);
        f->name = b->name;
        f->level = FINDING_ERROR;
        f->failed = b->failed;
        budget_message(b, f->message, sizeof f->message);
        F->nbudgets++;
        F->nfailed += b->failed;
    }
    for (size_t i = 0; i < r->nleaks; i++) {
        const check_leak_t *l = &r->leaks[i];
        /* the message names the function that allocated: the first named frame, looking no
         * further than the first frame with a source line */
        const char *fn = NULL;
        for (uint32_t k = 0; k < l->g->depth; k++) {
            sym_frame_t fr;
            if ((rc = symbols_lookup(l->t->sym, l->g->ips[k], &fr)) < 0)
                return rc;
            if (!fn)
                fn = fr.function;
            if (fr.file && fr.line)
                break;
        }
        if ((rc = findings_add(F, &f)) < 0)
            return rc;
        f->kind = FINDING_LEAK;
        f->rule_index = l->g->kind - PS_LEAK_DEFINITE;
        f->rule = ci_rule_id(f->rule_index);
        f->name = leaks_kind_name(l->g->kind);
        f->level = l->g->kind == PS_LEAK_REACHABLE ? FINDING_WARNING : FINDING_ERROR;
        f->failed = true;
        snprintf(f->message, sizeof f->message,
                 "%" PRIu64 " bytes in %" PRIu64 " blocks %s lost, allocated in %s", l->g->bytes,
                 l->g->blocks,
                 l->g->kind == PS_LEAK_DEFINITE   ? "definitely"
                 : l->g->kind == PS_LEAK_INDIRECT ? "indirectly"
                                                  : "never freed (reachable at exit), not",
                 fn ? fn : "an unknown function");
        f->trace = l->t->path;
        f->sym = l->t->sym;
        f->ips = l->g->ips;
        f->depth = l->g->depth;
        f->blocks = l->g->blocks;
        f->bytes = l->g->bytes;
    }
    return 0;
}

/* Renders the verdict in the format the table gave. */
static int check_render(FILE *out, const format_t *f, const check_result_t *r)
{
    doc_t d;
    int rc, rc2;
    if (f->view == FORMAT_DOC || f->view == FORMAT_TEXT) {
        if ((rc = f->open(&d, out)) < 0)
            return rc;
        rc = check_emit(&d, r);
        rc2 = doc_close(&d);
        return rc < 0 ? rc : rc2;
    }
    findings_t F = {0}; /* the findings formats */
    rc = check_findings(r, &F);
    if (rc == 0)
        rc = f->open(&F, out);
    findings_free(&F);
    return rc;
}

/* ---- command ------------------------------------------------------------------------- */

static int check_load(check_trace_t *t, const check_opts_t *o, suppress_t *files)
{
    char err[512];
    symbols_opts_t so = o->c.sym;
    /* only what the budgets and the output need: the leaks; the heap replay for a baseline
     * (peak, bytes allocated, allocations) and for a document format (JSON: its summary has
     * them) */
    unsigned select =
        ANALYSIS_LEAKS | (o->baseline || o->c.format->view == FORMAT_DOC ? ANALYSIS_HEAP : 0) |
        (o->no_heap_errors ? 0 : ANALYSIS_MISUSE); /* the heap-error budget */
    reader_t *hr = NULL; /* a sampled trace's leaks are its blocks not freed: the heap replay */
    if (reader_open(&hr, t->path) == 0 && reader_info(hr)->sample_bytes)
        select |= ANALYSIS_HEAP;
    reader_close(hr);
    int rc = analyses_load(t->path, select, &t->rp, &t->leaks, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "perfshim: check: %s\n", err);
        return rc;
    }
    if (!t->rp.complete && !o->c.allow_partial) {
        /* a gate must not pass on what it could not read: corrupt or cut input is an
         * input error (2), as for a trace that cannot be opened */
        fprintf(stderr, "perfshim: check: partial trace: %s (--allow-partial checks it anyway)\n",
                t->rp.partial_reason);
        return -PS_E_CORRUPT;
    }
    if ((rc = analyses_symbols(&t->rp, &t->leaks, &so, &t->sym, err, sizeof err)) < 0) {
        fprintf(stderr, "perfshim: check: %s\n", err);
        return rc;
    }
    if (!t->leaks.have_scan && t->rp.sample_bytes)
        return 0; /* check_evaluate counts its blocks not freed, estimated */
    if (!t->leaks.have_scan) {
        fprintf(stderr,
                "perfshim: check: %s: no leak scan in the trace (recorded with "
                "PERFSHIM_LEAK_CHECK=0, or the process did not exit cleanly%s)\n",
                t->path, t->rp.complete ? "" : ": the trace is partial");
        return -PS_E_INVAL;
    }
    if (t->leaks.scan.flags & PS_LEAK_F_ABORTED) {
        fprintf(stderr, "perfshim: check: %s: the leak scan could not run (out of memory at "
                        "exit): no verdict\n",
                t->path);
        return -PS_E_INVAL;
    }
    if ((rc = suppress_apply(files, &t->leaks, t->sym)) < 0)
        return rc;
    if (t->leaks.suppressions) {
        suppress_t app = {0};
        char src[600];
        snprintf(src, sizeof src, "%s: __lsan_default_suppressions()", t->path);
        rc = suppress_add_text(&app, t->leaks.suppressions, src, err, sizeof err);
        if (rc == 0)
            rc = suppress_apply(&app, &t->leaks, t->sym);
        else
            fprintf(stderr, "perfshim: check: %s\n", err);
        suppress_free(&app);
    }
    if (rc >= 0)
        leaks_suppress_held(&t->leaks); /* what a suppressed leak holds is suppressed too */
    return rc;
}

int check_main(int argc, char **argv)
{
    check_opts_t o;
    int rc = check_parse(argc, argv, &o);
    if (rc != 0) {
        if (rc < 0)
            check_usage(stderr);
        return rc < 0 ? 2 : 0;
    }
    suppress_t files = {0};
    char err[512];
    for (size_t i = 0; i < o.nsupp; i++)
        if (suppress_add_file(&files, o.supp_files[i], err, sizeof err) < 0) {
            fprintf(stderr, "perfshim: check: %s\n", err);
            suppress_free(&files);
            return 2;
        }
    baseline_t base;
    if (o.baseline && baseline_load(o.baseline, &base, err, sizeof err) < 0) {
        fprintf(stderr, "perfshim: check: %s\n", err);
        suppress_free(&files);
        return 2;
    }
    check_result_t r;
    memset(&r, 0, sizeof r);
    char root[PATH_MAX];
    if (o.source_root) {
        struct stat sb;
        errno = 0;
        if (!realpath(o.source_root, root) || stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "perfshim: check: --source-root %s: %s\n", o.source_root,
                    errno ? strerror(errno) : "not a directory");
            suppress_free(&files);
            return 2;
        }
        r.source_root = root;
    }
    r.kinds = o.kinds;
    r.heap_errors_counted = !o.no_heap_errors;
    r.stack_depth = o.c.stack_depth;
    r.top = o.c.top;
    r.ntraces = (size_t)(argc - optind);
    r.traces = calloc(r.ntraces, sizeof(*r.traces));
    int status = 2;
    FILE *out = NULL;
    if (!r.traces) {
        fprintf(stderr, "perfshim: check: %s\n", ps_strerror(PS_E_NOMEM));
        goto done;
    }
    for (size_t i = 0; i < r.ntraces; i++) {
        r.traces[i].path = argv[optind + (int)i];
        if (check_load(&r.traces[i], &o, &files) < 0)
            goto done;
    }
    if ((rc = check_evaluate(&r, &o, o.baseline ? &base : NULL)) < 0) {
        fprintf(stderr, "perfshim: check: %s\n", ps_strerror(rc));
        goto done;
    }
    out = o.c.output ? safeout_fopen(o.c.output) : stdout;
    if (!out) {
        fprintf(stderr, "perfshim: check: %s: %s\n", o.c.output, strerror(errno));
        goto done;
    }
    rc = check_render(out, o.c.format, &r);
    status = r.nfailed ? 1 : 0;
    if (rc == 0 && o.gen_supp) {
        FILE *sf = fopen(o.gen_supp, "w");
        if (!sf || (rc = ci_suppressions(sf, &r)) < 0 || fflush(sf) != 0 || ferror(sf)) {
            fprintf(stderr, "perfshim: check: --gen-suppressions %s: %s\n", o.gen_supp,
                    rc < 0 ? ps_strerror(rc) : strerror(errno));
            status = 2;
        }
        if (sf && fclose(sf) != 0 && status != 2) {
            fprintf(stderr, "perfshim: check: cannot write %s: %s\n", o.gen_supp,
                    strerror(errno));
            status = 2;
        }
        rc = 0;
    }
    if (rc < 0) {
        fprintf(stderr, "perfshim: check: %s\n", ps_strerror(rc));
        status = 2;
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "perfshim: check: cannot write output: %s\n", strerror(errno));
        status = 2;
    }
    if (out != stdout && fclose(out) != 0) {
        fprintf(stderr, "perfshim: check: cannot write %s: %s\n", o.c.output, strerror(errno));
        status = 2;
    }
done:
    for (size_t i = 0; r.traces && i < r.ntraces; i++) {
        analyses_free(&r.traces[i].rp, &r.traces[i].leaks, r.traces[i].sym);
    }
    free(r.traces);
    free(r.leaks);
    suppress_free(&files);
    return status;
}
