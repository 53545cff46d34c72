/*
 * diff.c -- `perfshim diff` (see diff.h): both traces through the one load sequence
 * (analyses/analysis.h), their sites matched (analyses/sitediff.h), the diff described once
 * for every document format (diff_emit) and as a profile of both runs' values
 * (diff_profile; the html page takes both, its flame graph differential), then the --fail-on
 * rules.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/diff.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyses/analysis.h"
#include "analyses/callsite.h"
#include "analyses/sitediff.h"
#include "cmd/cliopt.h"
#include "core/cxxname.h"
#include "core/doc.h"
#include "core/fmt.h"
#include "core/profile.h"
#include "core/safeout.h"
#include "formats/formats.h"
#include "formats/text.h"
#include "perfshim/errors.h"

#define DIFF_MAX_RULES 16

/* A --fail-on rule: growth:PCT (a site grew more than PCT % in some metric, or was added),
 * METRIC:PCT (the run's total of METRIC grew more than PCT %), added (a site was added). */
enum rule_kind { RULE_GROWTH, RULE_TOTAL, RULE_ADDED };

typedef struct rule_s {
    const char *text; /* as given */
    enum rule_kind kind;
    int metric; /* RULE_TOTAL */
    uint64_t pct;
    /* the verdict */
    bool failed;
    size_t sites;                 /* the sites that fail it (growth, added) */
    const sitediff_site_t *first; /* the largest of them */
} rule_t;

typedef struct diff_opts_s {
    cliopt_common_t c; /* --format, --output, --top, --stack-depth, symbolization,
                        * --allow-partial (gate on a corrupt or cut trace all the same) */
    size_t metric;     /* the profile's sample type (index in diff_sample_types) */
    const char *trace[2];
    sitediff_opts_t sd;
    rule_t rules[DIFF_MAX_RULES];
    size_t nrules;
} diff_opts_t;

typedef struct diff_s {
    diff_opts_t *o;
    replay_t rp[2];
    symbols_t *sym[2];
    sitediff_t sd;
    FILE *out;
} diff_t;

static const char *const which_names[2] = {"base", "new"};

/* The profile's sample types: both runs' value of each metric, base first. */
static const char *const diff_sample_types[2 * SD_NMETRICS] = {
#define SD_TYPES(id, key, name, unit) "base_" name, "new_" name,
    SITEDIFF_METRICS(SD_TYPES)
#undef SD_TYPES
};
/* their units, as profile_types wants them (pprof's "count" / "bytes") */
static const char *const diff_sample_units[2 * SD_NMETRICS] = {
#define SD_UNITS(id, key, name, unit) unit == DOC_UNIT_BYTES ? "bytes" : "count", \
                                      unit == DOC_UNIT_BYTES ? "bytes" : "count",
    SITEDIFF_METRICS(SD_UNITS)
#undef SD_UNITS
};

/* ---- numbers ---------------------------------------------------------------------------- */

static const char *diff_fmt(char *b, size_t n, doc_unit_t unit, uint64_t v)
{
    if (unit == DOC_UNIT_BYTES)
        return fmt_bytes(b, n, v);
    snprintf(b, n, "%" PRIu64, v);
    return b;
}

/* "+1.2 KiB", "-3", "0" */
static const char *diff_fmt_delta(char *b, size_t n, doc_unit_t unit, uint64_t a, uint64_t v)
{
    char x[24];
    if (a == v)
        return snprintf(b, n, "0"), b;
    snprintf(b, n, "%c%s", v > a ? '+' : '-', diff_fmt(x, sizeof x, unit, v > a ? v - a : a - v));
    return b;
}

/* "2.00x", "new" (base 0) */
static const char *diff_fmt_ratio(char *b, size_t n, uint64_t a, uint64_t v)
{
    if (!a)
        snprintf(b, n, v ? "new" : "-");
    else
        snprintf(b, n, "%.2fx", (double)((long double)v / (long double)a));
    return b;
}

/* {"base","new","delta","ratio"}: delta signed, ratio new/base or null when base is 0 */
static void emit_change(doc_t *d, const char *key, uint64_t a, uint64_t v)
{
    char b[48];
    doc_obj(d, key);
    doc_u64(d, "base", a);
    doc_u64(d, "new", v);
    if (v >= a)
        doc_u64(d, "delta", v - a);
    else {
        snprintf(b, sizeof b, "-%" PRIu64, a - v);
        doc_num(d, "delta", b);
    }
    const char *r = sitediff_ratio(b, sizeof b, a, v);
    if (r)
        doc_num(d, "ratio", r);
    else
        doc_null(d, "ratio");
    doc_end(d);
}

/* ---- the gate ----------------------------------------------------------------------------- */

static bool site_fails_growth(const sitediff_site_t *s, uint64_t pct)
{
    if (s->status != SD_GROWN && s->status != SD_MIXED && s->status != SD_ADDED)
        return false;
    for (int k = 0; k < SD_NMETRICS; k++)
        if (sitediff_grew(s->v[0][k], s->v[1][k], pct))
            return true;
    return false;
}

/* Evaluates the rules; returns whether one failed. */
static bool diff_gate(diff_t *D)
{
    bool failed = false;
    for (size_t i = 0; i < D->o->nrules; i++) {
        rule_t *r = &D->o->rules[i];
        r->sites = 0;
        r->first = NULL;
        if (r->kind == RULE_TOTAL) {
            r->failed = sitediff_grew(D->sd.total[0][r->metric], D->sd.total[1][r->metric], r->pct);
        } else {
            for (size_t j = 0; j < D->sd.nsites; j++) {
                const sitediff_site_t *s = &D->sd.sites[j];
                bool bad =
                    r->kind == RULE_ADDED ? s->status == SD_ADDED : site_fails_growth(s, r->pct);
                if (bad && !r->sites++)
                    r->first = s; /* the sites are sorted: the largest change first */
            }
            r->failed = r->sites > 0;
        }
        failed |= r->failed;
    }
    return failed;
}

/* A site in one line: its innermost frame of the program (not a library frame, as text
 * stacks fold them), "f(…) (file.c:12)", the C++ name shortened unless --full-names. */
static void site_name(const diff_t *D, const sitediff_site_t *s, char *b, size_t n)
{
    sym_frame_t fr[DOC_MAX_FRAMES];
    size_t nf = 0, total, i = 0;
    char name[512];
    if (doc_expand(s->sym, s->ips, s->depth, -1, fr, &nf, &total) < 0 || !nf) {
        snprintf(b, n, "(no stack)");
        return;
    }
    while (i + 1 < nf && callsite_is_library_frame(&fr[i]))
        i++;
    const sym_frame_t *f = &fr[i];
    const char *fn = !f->function           ? NULL
                     : D->o->c.sym.full_names ? f->function
                                            : cxxname_short(f->function, name, sizeof name);
    if (fn && f->file)
        snprintf(b, n, "%s (%s:%" PRIu32 ")", fn, text_base(f->file), f->line);
    else if (fn)
        snprintf(b, n, "%s (%s)", fn, f->module_name ? f->module_name : "?");
    else if (f->module_name)
        snprintf(b, n, "%s+0x%" PRIx64, f->module_name, f->offset);
    else
        snprintf(b, n, "?");
}

static void emit_gate(const diff_t *D, doc_t *d, bool failed)
{
    doc_title(d, "GATE (--fail-on)");
    if (!D->o->nrules)
        doc_line(d, "  no rules");
    doc_nl(d);
    doc_obj(d, "gate");
    doc_bool(d, "failed", failed);
    doc_list(d, "rules");
    for (size_t i = 0; i < D->o->nrules; i++) {
        const rule_t *r = &D->o->rules[i];
        char why[400] = "", head[200], b1[32], b2[32];
        if (doc_text(d) && r->kind == RULE_TOTAL) {
            int k = r->metric;
            doc_unit_t u = sitediff_metrics[k].unit;
            snprintf(why, sizeof why, "total %s %s -> %s (%s)", sitediff_metrics[k].name,
                     diff_fmt(b1, sizeof b1, u, D->sd.total[0][k]),
                     diff_fmt(b2, sizeof b2, u, D->sd.total[1][k]),
                     diff_fmt_ratio(head, sizeof head, D->sd.total[0][k], D->sd.total[1][k]));
        } else if (doc_text(d) && r->first) {
            site_name(D, r->first, head, sizeof head);
            snprintf(why, sizeof why, "%zu site%s, first %s %s", r->sites, r->sites == 1 ? "" : "s",
                     sitediff_status_names[r->first->status], head);
        } else if (doc_text(d)) {
            snprintf(why, sizeof why, "no site");
        }
        doc_linef(d, "  %-20s %s  %s", r->text, r->failed ? "FAILED" : "passed", why);
        doc_obj(d, NULL);
        doc_str(d, "rule", r->text);
        doc_bool(d, "failed", r->failed);
        doc_u64(d, "sites", r->sites);
        doc_end(d);
    }
    doc_end(d);
    doc_end(d);
    doc_linef(d, "  result               %s (exit %d)", failed ? "FAILED" : "passed",
              failed ? 1 : 0);
}

/* ---- the document ------------------------------------------------------------------------- */

static void emit_run(const diff_t *D, doc_t *d, int w)
{
    const replay_t *rp = &D->rp[w];
    doc_linef(d, "  %-5s %s (%s, pid %" PRIu32 ")%s", which_names[w], D->o->trace[w], rp->exe,
              rp->pid, rp->complete ? "" : " partial");
    doc_obj(d, which_names[w]);
    doc_str(d, "path", D->o->trace[w]);
    doc_str(d, "exe", rp->exe);
    doc_str(d, "cmdline", rp->cmdline);
    doc_u64(d, "pid", rp->pid);
    doc_bool(d, "complete", rp->complete);
    doc_end(d);
}

static const char *const total_titles[SD_NMETRICS] = {"allocations", "bytes allocated", "peak heap",
                                                      "not freed at exit"};

static void emit_totals(const diff_t *D, doc_t *d)
{
    doc_title(d, "TOTALS");
    doc_linef(d, "  %-18s %12s %12s  %s", "", "base", "new", "change");
    doc_nl(d);
    doc_obj(d, "totals");
    for (int k = 0; k < SD_NMETRICS; k++) {
        uint64_t a = D->sd.total[0][k], v = D->sd.total[1][k];
        doc_unit_t u = sitediff_metrics[k].unit;
        char b1[32], b2[32], b3[32], b4[32];
        doc_linef(d, "  %-18s %12s %12s  %s (%s)", total_titles[k], diff_fmt(b1, 32, u, a),
                  diff_fmt(b2, 32, u, v), diff_fmt_delta(b3, 32, u, a, v),
                  diff_fmt_ratio(b4, 32, a, v));
        emit_change(d, sitediff_metrics[k].key, a, v);
    }
    doc_end(d);
    doc_nl(d);
    doc_obj(d, "counts");
    for (int s = 0; s < SD_NSTATUS; s++)
        doc_u64(d, sitediff_status_names[s], D->sd.count[s]);
    doc_end(d);
    const size_t *c = D->sd.count;
    doc_linef(d, "\nSITES  %zu grown, %zu added, %zu mixed, %zu shrunk, %zu removed, %zu unchanged",
              c[SD_GROWN], c[SD_ADDED], c[SD_MIXED], c[SD_SHRUNK], c[SD_REMOVED], c[SD_UNCHANGED]);
}

/* One site: in text a line per value that differs (the rank on the first), then its stack,
 * when shown: "  #1  bytes        6.2 KiB ->   12.5 KiB  +6.2 KiB (2.00x)". */
static int emit_site(const diff_t *D, doc_t *d, const sitediff_site_t *s, size_t rank)
{
    char rk[24], b1[32], b2[32], b3[32], b4[32];
    snprintf(rk, sizeof rk, "#%zu", rank);
    for (int k = 0, first = 1; doc_text(d) && k < SD_NMETRICS; k++) {
        uint64_t a = s->v[0][k], v = s->v[1][k];
        doc_unit_t u = sitediff_metrics[k].unit;
        if (a == v)
            continue;
        doc_linef(d, "  %-4s %-12s %10s -> %10s  %s (%s)", first ? rk : "",
                  sitediff_metrics[k].name, diff_fmt(b1, 32, u, a), diff_fmt(b2, 32, u, v),
                  diff_fmt_delta(b3, 32, u, a, v), diff_fmt_ratio(b4, 32, a, v));
        first = 0;
    }
    doc_obj(d, NULL);
    doc_str(d, "status", sitediff_status_names[s->status]);
    doc_str(d, "key", s->key);
    for (int k = 0; k < SD_NMETRICS; k++)
        emit_change(d, sitediff_metrics[k].key, s->v[0][k], s->v[1][k]);
    int rc = doc_stack(d, "stack", s->sym, s->ips, s->depth, D->o->c.stack_depth);
    doc_end(d);
    return rc < 0 ? rc : d->err;
}

static const char *const status_titles[SD_NSTATUS] = {
    "GROWN",  "ADDED (in the new run only)",    "MIXED (some values grew, some shrank)",
    "SHRUNK", "REMOVED (in the base run only)", "UNCHANGED"};

/* The sites: data has them all ("sites", sorted by status then change); text shows the top
 * ones of each status but unchanged, under a title per status. */
static int emit_sites(const diff_t *D, doc_t *d)
{
    const sitediff_t *sd = &D->sd;
    doc_nl(d);
    doc_list(d, "sites");
    int rc = 0;
    size_t rank = 0;
    for (size_t i = 0; i < sd->nsites && rc == 0; i++) {
        const sitediff_site_t *s = &sd->sites[i];
        if (!i || s->status != sd->sites[i - 1].status) {
            rank = 0;
            doc_only(d, DOC_TEXT);
            if (s->status != SD_UNCHANGED) {
                size_t c = sd->count[s->status];
                doc_linef(d, "\n%s (%zu of %zu sites)", status_titles[s->status],
                          c < (size_t)D->o->c.top ? c : (size_t)D->o->c.top, c);
            }
        }
        rank++;
        bool text = s->status != SD_UNCHANGED && rank <= (size_t)D->o->c.top;
        doc_only(d, text ? DOC_ALL : DOC_DATA);
        if (doc_shown(d))
            rc = emit_site(D, d, s, rank);
    }
    doc_only(d, DOC_ALL);
    doc_end(d);
    if (rc == 0 && sd->count[SD_UNCHANGED] == sd->nsites)
        doc_line(d, "\nno site changed");
    return rc < 0 ? rc : d->err;
}

static int diff_emit(const diff_t *D, doc_t *d, bool failed)
{
    const diff_opts_t *o = D->o;
    doc_obj(d, NULL);
    doc_str(d, "format", "perfshim-diff");
    doc_u64(d, "version", 1);
    doc_u64(d, "schema_version", DOC_SCHEMA_VERSION);
    doc_line(d, "perfshim heap diff");
    emit_run(D, d, 0);
    emit_run(D, d, 1);
    doc_linef(d, "  sites matched by function%s; changed: more than %" PRIu64 "%%%s",
              o->sd.match == SITEDIFF_MATCH_LINE ? ", file and line" : " and file",
              o->sd.threshold_pct, o->sd.min_bytes ? " and at least --min-bytes" : "");
    doc_str(d, "match", o->sd.match == SITEDIFF_MATCH_LINE ? "line" : "function");
    doc_u64(d, "threshold_pct", o->sd.threshold_pct);
    doc_u64(d, "min_bytes", o->sd.min_bytes);
    emit_totals(D, d);
    int rc = emit_sites(D, d);
    if (rc == 0)
        emit_gate(D, d, failed);
    doc_end(d);
    return rc < 0 ? rc : d->err;
}

/* The profile: every site with both runs' values, for a differential flame graph. */
static int diff_profile(const diff_t *D, profile_t *p)
{
    profile_types(p, diff_sample_types, diff_sample_units, 2 * SD_NMETRICS);
    for (size_t i = 0; i < D->sd.nsites; i++) {
        const sitediff_site_t *s = &D->sd.sites[i];
        uint64_t values[2 * SD_NMETRICS];
        for (int k = 0; k < SD_NMETRICS; k++) {
            values[2 * k] = s->v[0][k];
            values[2 * k + 1] = s->v[1][k];
        }
        sym_frame_t fr[DOC_MAX_FRAMES];
        size_t n, total;
        int rc = doc_expand(s->sym, s->ips, s->depth, D->o->c.stack_depth, fr, &n, &total);
        if (rc < 0 || (rc = profile_sample(p, fr, n, values)) < 0)
            return rc;
    }
    return 0;
}

static int diff_render(const diff_t *D, bool failed)
{
    const format_t *f = D->o->c.format;
    int rc, rc2;
    if (f->view == FORMAT_PROFILE) {
        profile_t p;
        if ((rc = f->open(&p, D->out)) < 0)
            return rc;
        p.select = D->o->metric;
        rc = diff_profile(D, &p);
        rc2 = profile_close(&p);
        return rc < 0 ? rc : rc2;
    }
    if (f->view == FORMAT_PAGE) { /* the document, then the profile (formats.h), as report */
        format_page_t pg;
        if ((rc = f->open(&pg, D->out)) < 0)
            return rc;
        pg.profile.select = D->o->metric;
        rc = diff_emit(D, &pg.doc, failed);
        rc2 = doc_close(&pg.doc);
        rc = rc < 0 ? rc : rc2;
        rc2 = rc < 0 ? 0 : diff_profile(D, &pg.profile);
        rc = rc < 0 ? rc : rc2;
        rc2 = profile_close(&pg.profile);
        return rc < 0 ? rc : rc2;
    }
    if (f->view != FORMAT_TEXT && f->view != FORMAT_DOC)
        return -PS_E_INVAL;
    doc_t d;
    if ((rc = f->open(&d, D->out)) < 0)
        return rc;
    rc = diff_emit(D, &d, failed);
    rc2 = doc_close(&d);
    return rc < 0 ? rc : rc2;
}

/* ---- command ------------------------------------------------------------------------------ */

static void diff_usage(FILE *f)
{
    fputs("usage: perfshim diff [OPTIONS] BASE NEW\n"
          "Heap call sites of trace NEW against trace BASE, matched by symbolized stack\n"
          "(function, file and line of each frame; module+offset where there is no symbol):\n"
          "added, removed, grown and shrunk sites, totals before and after.\n"
          "  --match=line|function      match frames by function, file and line (default), or\n"
          "                             by function and file only (lines moved by an edit)\n"
          "  --threshold=PCT            a value changed when it moved more than PCT % (default 0)\n"
          "  --min-bytes=N              and its bytes by at least N (default 0)\n"
          "  --fail-on=RULE             exit 1 when RULE holds (repeatable):\n"
          "      growth:PCT             a site grew more than PCT % in allocations, bytes, peak\n"
          "                             or leaked bytes, or a site was added\n"
          "      allocations:PCT, bytes:PCT, peak:PCT, leaked:PCT\n"
          "                             that total of the new run grew more than PCT %\n"
          "      added                  a site was added\n"
          "  --allow-partial            with --fail-on: gate on a partial trace (corrupt, cut\n"
          "                             short) instead of refusing it (exit 2)\n"
          "  --metric=TYPE              the sample type a profile format writes (html: the one\n"
          "                             drawn first): base_ or new_ with allocations, bytes,\n"
          "                             peak, leaked (default new_bytes)\n"
          "  --stack-depth N            frames per site (default 8 for text, all otherwise)\n"
          "  --top N                    sites per text section (default 10)\n"
          "  -o, --output FILE          write the diff to FILE instead of stdout\n"
          "  --sysroot DIR              look for module files under DIR\n"
          "  --debug-dir DIR            also look for separate debug files in DIR\n"
          "  -q, --quiet                no symbolization warnings\n"
          "  --show-std-frames          text: show library frames (folded by default)\n"
          "  --full-names               text: full C++ names (<…> and (…) by default)\n"
          "Exit status: 0 no --fail-on rule failed, 1 a rule failed, 2 usage error, unreadable\n"
          "input, or output error (as `perfshim check`).\n",
          f);
    format_help(f, FORMAT_DIFF);
}

/* "growth:PCT", "METRIC:PCT", "added" */
static int diff_parse_rule(diff_opts_t *o, const char *arg)
{
    if (o->nrules == DIFF_MAX_RULES) {
        fprintf(stderr, "perfshim: diff: at most %d --fail-on rules\n", DIFF_MAX_RULES);
        return -PS_E_INVAL;
    }
    rule_t *r = &o->rules[o->nrules];
    memset(r, 0, sizeof(*r));
    r->text = arg;
    if (!strcmp(arg, "added")) {
        r->kind = RULE_ADDED;
        o->nrules++;
        return 0;
    }
    const char *colon = strchr(arg, ':');
    size_t len = colon ? (size_t)(colon - arg) : 0;
    if (colon && len == 6 && !strncmp(arg, "growth", 6)) {
        r->kind = RULE_GROWTH;
    } else {
        r->kind = RULE_TOTAL;
        r->metric = -1;
        for (int k = 0; colon && k < SD_NMETRICS; k++)
            if (strlen(sitediff_metrics[k].name) == len &&
                !strncmp(arg, sitediff_metrics[k].name, len))
                r->metric = k;
        if (r->metric < 0) {
            fprintf(stderr,
                    "perfshim: diff: bad --fail-on '%s' (growth:PCT, allocations:PCT, bytes:PCT, "
                    "peak:PCT, leaked:PCT or added)\n",
                    arg);
            return -PS_E_INVAL;
        }
    }
    int pct;
    if (cliopt_count("diff", "fail-on", colon + 1, &pct) < 0)
        return -PS_E_INVAL;
    r->pct = (uint64_t)pct;
    o->nrules++;
    return 0;
}

static int diff_parse(int argc, char **argv, diff_opts_t *o)
{
    enum { OPT_METRIC = 256, OPT_MATCH, OPT_THRESHOLD, OPT_MINBYTES, OPT_FAILON };
    static const struct option own[] = {
        {"metric", required_argument, NULL, OPT_METRIC},
        {"match", required_argument, NULL, OPT_MATCH},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"min-bytes", required_argument, NULL, OPT_MINBYTES},
        {"fail-on", required_argument, NULL, OPT_FAILON},
        {NULL, 0, NULL, 0},
    };
    struct option longopts[32];
    memset(o, 0, sizeof(*o));
    cliopt_init(&o->c, "diff", FORMAT_DIFF, NULL, 10);
    o->metric = 2 * SD_BYTES + 1; /* new_bytes */
    opterr = 0;
    optind = 1;
    int c, v;
    while ((c = getopt_long(argc, argv, "ho:q", cliopt_longopts(CLIOPT_ALL, own, longopts, 32),
                            NULL)) != -1) {
        int k = cliopt_common(&o->c, c, optarg);
        if (k < 0)
            return -PS_E_INVAL;
        if (k)
            continue;
        switch (c) {
        case 'h':
            diff_usage(stdout);
            return 1;
        case OPT_METRIC: {
            k = cliopt_choice("diff", "metric", optarg, diff_sample_types, 2 * SD_NMETRICS);
            if (k < 0)
                return -PS_E_INVAL;
            o->metric = (size_t)k;
            break;
        }
        case OPT_MATCH: {
            static const char *const m[] = {"line", "function"};
            k = cliopt_choice("diff", "--match", optarg, m, 2);
            if (k < 0)
                return -PS_E_INVAL;
            o->sd.match = (sitediff_match_t)k;
            break;
        }
        case OPT_THRESHOLD:
        case OPT_MINBYTES:
            if (cliopt_count("diff", c == OPT_THRESHOLD ? "threshold" : "min-bytes", optarg, &v) <
                0)
                return -PS_E_INVAL;
            *(c == OPT_THRESHOLD ? &o->sd.threshold_pct : &o->sd.min_bytes) = (uint64_t)v;
            break;
        case OPT_FAILON:
            if (diff_parse_rule(o, optarg) < 0)
                return -PS_E_INVAL;
            break;
        default:
            cliopt_unknown("diff", argv);
            return -PS_E_INVAL;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "perfshim: diff: %s\n",
                argc - optind < 2 ? "two traces wanted: BASE NEW" : "too many arguments");
        return -PS_E_INVAL;
    }
    o->trace[0] = argv[optind];
    o->trace[1] = argv[optind + 1];
    return 0;
}

/* Both traces through the one load sequence; 0 or 2 after one line naming the file. */
static int diff_load(diff_t *D)
{
    char err[512];
    for (int w = 0; w < 2; w++) {
        const char *path = D->o->trace[w];
        int rc = analyses_load(path, ANALYSIS_HEAP, &D->rp[w], NULL, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "perfshim: diff: %s\n", err); /* err names the file */
            return 2;
        }
        if (!D->rp[w].complete && D->o->nrules && !D->o->c.allow_partial) {
            /* as `check`: a gate must not pass on what it could not read */
            fprintf(stderr,
                    "perfshim: diff: partial trace: %s (--allow-partial gates on it anyway)\n",
                    D->rp[w].partial_reason);
            return 2;
        }
        if (!D->rp[w].complete)
            fprintf(stderr, "perfshim: warning: partial trace: %s\n", D->rp[w].partial_reason);
        if ((rc = analyses_symbols(&D->rp[w], NULL, &D->o->c.sym, &D->sym[w], err, sizeof err)) < 0) {
            fprintf(stderr, "perfshim: diff: %s: %s\n", path, err);
            return 2;
        }
    }
    return 0;
}

int diff_main(int argc, char **argv)
{
    diff_opts_t o;
    int rc = diff_parse(argc, argv, &o);
    if (rc != 0) {
        if (rc < 0)
            diff_usage(stderr);
        return rc < 0 ? 2 : 0;
    }
    diff_t D;
    memset(&D, 0, sizeof(D));
    D.o = &o;
    int status = diff_load(&D);
    if (status)
        goto out;
    const replay_t *const rps[2] = {&D.rp[0], &D.rp[1]};
    if ((rc = sitediff_build(&D.sd, rps, D.sym, &o.sd)) < 0) {
        fprintf(stderr, "perfshim: diff: %s\n", ps_strerror(rc));
        status = 2;
        goto out;
    }
    bool failed = diff_gate(&D);
    D.out = o.c.output ? safeout_fopen(o.c.output) : stdout;
    if (!D.out) {
        fprintf(stderr, "perfshim: diff: %s: %s\n", o.c.output, strerror(errno));
        status = 2;
        goto out;
    }
    rc = diff_render(&D, failed);
    if (rc < 0) {
        fprintf(stderr, "perfshim: diff: %s\n", ps_strerror(rc));
        status = 2;
    }
    if (fflush(D.out) != 0 || ferror(D.out)) {
        fprintf(stderr, "perfshim: diff: cannot write output: %s\n", strerror(errno));
        status = 2;
    }
    if (D.out != stdout && fclose(D.out) != 0 && status == 0) {
        fprintf(stderr, "perfshim: diff: cannot write %s: %s\n", o.c.output, strerror(errno));
        status = 2;
    }
    if (status == 0 && failed)
        status = 1;
out:
    sitediff_free(&D.sd);
    for (int w = 0; w < 2; w++)
        analyses_free(&D.rp[w], NULL, D.sym[w]);
    return status;
}
