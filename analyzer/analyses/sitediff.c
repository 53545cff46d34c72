/*
 * sitediff.c -- see sitediff.h. Each run's sites are keyed and sorted by key, equal keys
 * merged, and the two sorted arrays joined in one walk.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/sitediff.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyses/callsite.h"
#include "perfshim/errors.h"

const sitediff_metric_info_t sitediff_metrics[SD_NMETRICS] = {
#define SD_METRIC_ROW(id, key, name, unit) {key, name, unit},
    SITEDIFF_METRICS(SD_METRIC_ROW)
#undef SD_METRIC_ROW
};

const char *const sitediff_status_names[SD_NSTATUS] = {
#define SD_STATUS_ROW(id, name) name,
    SITEDIFF_STATUSES(SD_STATUS_ROW)
#undef SD_STATUS_ROW
};

/* ---- keys ------------------------------------------------------------------------------ */

typedef struct sbuf_s {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf_t;

static void sbuf_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sbuf_str(sbuf_t *b, const char *s)
{
    sbuf_put(b, s, strlen(s));
}

static const char *sitediff_base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int sitediff_key(symbols_t *sym, const uint64_t *ips, uint32_t depth, sitediff_match_t match,
                 char **key)
{
    sym_frame_t fr[DOC_MAX_FRAMES];
    size_t n, total;
    *key = NULL;
    int rc = doc_expand(sym, ips, depth, -1, fr, &n, &total);
    if (rc < 0)
        return rc;
    sbuf_t b = {0};
    sbuf_put(&b, "", 0); /* an empty stack is the empty key */
    for (size_t i = 0; i < n; i++) {
        const sym_frame_t *f = &fr[i];
        char num[48];
        if (i)
            sbuf_str(&b, ";");
        if (f->function) {
            sbuf_str(&b, f->function);
            sbuf_str(&b, " (");
            if (f->file) {
                sbuf_str(&b, sitediff_base(f->file));
                if (match == SITEDIFF_MATCH_LINE) {
                    snprintf(num, sizeof num, ":%" PRIu32, f->line);
                    sbuf_str(&b, num);
                }
            } else {
                sbuf_str(&b, f->module_name ? f->module_name : "?");
            }
            sbuf_str(&b, ")");
        } else if (f->module_name) {
            sbuf_str(&b, f->module_name);
            snprintf(num, sizeof num, "+0x%" PRIx64, f->offset);
            sbuf_str(&b, num);
        } else {
            sbuf_str(&b, "?");
        }
    }
    if (b.oom) {
        free(b.p);
        return -PS_E_NOMEM;
    }
    *key = b.p;
    return 0;
}

/* ---- one run's sites --------------------------------------------------------------------- */

typedef struct run_site_s {
    char *key;
    const uint64_t *ips;
    uint32_t depth;
    uint64_t v[SD_NMETRICS];
} run_site_t;

static int run_site_cmp(const void *a, const void *b)
{
    return strcmp(((const run_site_t *)a)->key, ((const run_site_t *)b)->key);
}

static void run_sites_free(run_site_t *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        free(s[i].key);
    free(s);
}

/* The sites of one run, keyed, sorted by key, equal keys merged. */
static int run_sites(const replay_t *rp, symbols_t *sym, sitediff_match_t match, run_site_t **out,
                     size_t *nout)
{
    run_site_t *s = calloc(rp->nsites ? rp->nsites : 1, sizeof(*s));
    size_t n = 0;
    *out = NULL;
    *nout = 0;
    if (!s)
        return -PS_E_NOMEM;
    int rc = 0;
    for (size_t i = 0; i < rp->nsites && rc == 0; i++) {
        const replay_site_t *rs = &rp->sites[i];
        if (!rs->allocations && !rs->failed)
            continue;
        run_site_t *x = &s[n];
        rc = callsite_cut(sym, rp, rs->stack_id, &x->ips, &x->depth);
        if (rc == 0)
            rc = sitediff_key(sym, x->ips, x->depth, match, &x->key);
        if (rc < 0)
            break;
        x->v[SD_ALLOCATIONS] = rs->allocations;
        x->v[SD_BYTES] = rs->bytes;
        x->v[SD_PEAK] = rs->peak_bytes;
        x->v[SD_LEAKED] = rs->live_bytes;
        n++;
    }
    if (rc < 0) {
        run_sites_free(s, n);
        return rc;
    }
    qsort(s, n, sizeof(*s), run_site_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && strcmp(s[m - 1].key, s[i].key) == 0) {
            for (int k = 0; k < SD_NMETRICS; k++)
                s[m - 1].v[k] += s[i].v[k];
            free(s[i].key);
        } else {
            s[m++] = s[i];
        }
    }
    *out = s;
    *nout = m;
    return 0;
}

/* ---- classification ---------------------------------------------------------------------- */

bool sitediff_grew(uint64_t base, uint64_t new_value, uint64_t pct)
{
    if (new_value <= base)
        return false;
    /* new - base > base * pct / 100, in long double: no overflow for any uint64_t */
    return (long double)(new_value - base) * 100.0L > (long double)base * (long double)pct;
}

const char *sitediff_ratio(char *buf, size_t n, uint64_t base, uint64_t new_value)
{
    if (!base)
        return NULL;
    snprintf(buf, n, "%.4f", (double)((long double)new_value / (long double)base));
    return buf;
}

static enum sitediff_status sitediff_classify(const sitediff_site_t *s, const sitediff_opts_t *o)
{
    bool up = false, down = false, bytes_changed = false;
    bool sig_up[SD_NMETRICS], sig_down[SD_NMETRICS];
    for (int k = 0; k < SD_NMETRICS; k++) {
        uint64_t a = s->v[0][k], b = s->v[1][k];
        sig_up[k] = sitediff_grew(a, b, o->threshold_pct);
        sig_down[k] =
            a > b && (long double)(a - b) * 100.0L > (long double)a * (long double)o->threshold_pct;
        if (k != SD_ALLOCATIONS) {
            uint64_t d = a > b ? a - b : b - a;
            if (d < o->min_bytes)
                sig_up[k] = sig_down[k] = false;
            bytes_changed |= sig_up[k] || sig_down[k];
        }
    }
    if (o->min_bytes && !bytes_changed)
        sig_up[SD_ALLOCATIONS] = sig_down[SD_ALLOCATIONS] = false;
    for (int k = 0; k < SD_NMETRICS; k++) {
        up |= sig_up[k];
        down |= sig_down[k];
    }
    if (!up && !down)
        return SD_UNCHANGED;
    if (!s->in[0])
        return SD_ADDED;
    if (!s->in[1])
        return SD_REMOVED;
    return up && down ? SD_MIXED : up ? SD_GROWN : SD_SHRUNK;
}

static uint64_t absdiff(const sitediff_site_t *s, int k)
{
    return s->v[0][k] > s->v[1][k] ? s->v[0][k] - s->v[1][k] : s->v[1][k] - s->v[0][k];
}

static int sitediff_order(const void *a, const void *b)
{
    const sitediff_site_t *x = a, *y = b;
    if (x->status != y->status)
        return x->status < y->status ? -1 : 1;
    static const int by[] = {SD_BYTES, SD_ALLOCATIONS, SD_PEAK, SD_LEAKED};
    for (size_t i = 0; i < sizeof by / sizeof by[0]; i++) {
        uint64_t dx = absdiff(x, by[i]), dy = absdiff(y, by[i]);
        if (dx != dy)
            return dx > dy ? -1 : 1;
    }
    return strcmp(x->key, y->key);
}

/* ---- the join ---------------------------------------------------------------------------- */

int sitediff_build(sitediff_t *out, const replay_t *const rp[2], symbols_t *const sym[2],
                   const sitediff_opts_t *o)
{
    memset(out, 0, sizeof(*out));
    run_site_t *r[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = run_sites(rp[i], sym[i], o->match, &r[i], &n[i]);
    if (rc == 0 && !(out->sites = calloc(n[0] + n[1] + 1, sizeof(*out->sites))))
        rc = -PS_E_NOMEM;
    size_t i = 0, j = 0;
    while (rc == 0 && (i < n[0] || j < n[1])) {
        int c = i == n[0] ? 1 : j == n[1] ? -1 : strcmp(r[0][i].key, r[1][j].key);
        sitediff_site_t *s = &out->sites[out->nsites++];
        run_site_t *src = c > 0 ? &r[1][j] : &r[0][i];
        if (c <= 0) {
            s->in[0] = true;
            memcpy(s->v[0], r[0][i].v, sizeof s->v[0]);
        }
        if (c >= 0) {
            s->in[1] = true;
            memcpy(s->v[1], r[1][j].v, sizeof s->v[1]);
            src = &r[1][j];
        }
        s->key = src->key; /* owned by the site from here */
        src->key = NULL;
        s->sym = sym[s->in[1]];
        s->ips = src->ips;
        s->depth = src->depth;
        s->status = sitediff_classify(s, o);
        out->count[s->status]++;
        i += c <= 0;
        j += c >= 0;
    }
    for (int k = 0; k < 2; k++)
        run_sites_free(r[k], n[k]);
    if (rc < 0)
        return rc;
    qsort(out->sites, out->nsites, sizeof(*out->sites), sitediff_order);
    for (int k = 0; k < 2; k++) {
        out->total[k][SD_ALLOCATIONS] = rp[k]->allocations;
        out->total[k][SD_BYTES] = rp[k]->bytes_allocated;
        out->total[k][SD_PEAK] = rp[k]->peak_bytes;
        out->total[k][SD_LEAKED] = rp[k]->live_bytes;
    }
    return 0;
}

void sitediff_free(sitediff_t *d)
{
    for (size_t i = 0; d->sites && i < d->nsites; i++)
        free(d->sites[i].key);
    free(d->sites);
    memset(d, 0, sizeof(*d));
}
