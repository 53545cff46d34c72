/*
 * leaks.c -- see leaks.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/leaks.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analyses/callsite.h"
#include "analyses/leakaddr.h"
#include "perfshim/errors.h"
#include "core/reader.h"

const char *leaks_kind_name(int kind)
{
    switch (kind) {
    case PS_LEAK_DEFINITE: return "definite";
    case PS_LEAK_INDIRECT: return "indirect";
    case PS_LEAK_REACHABLE: return "reachable";
    }
    return "unknown";
}

static int ips_cmp(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb)
{
    uint32_t n = na < nb ? na : nb;
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return na < nb ? -1 : na > nb;
}

static int group_key_cmp(const void *pa, const void *pb)
{
    const leak_group_t *a = pa, *b = pb;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->inherited != b->inherited)
        return a->inherited ? 1 : -1;
    int c = ips_cmp(a->ips, a->depth, b->ips, b->depth);
    return c ? c : ips_cmp(a->holder_ips, a->holder_depth, b->holder_ips, b->holder_depth);
}

static int group_rank_cmp(const void *pa, const void *pb)
{
    const leak_group_t *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    if (a->blocks != b->blocks)
        return a->blocks > b->blocks ? -1 : 1;
    return group_key_cmp(pa, pb);
}

/* ---- snapshots ----------------------------------------------------------------------- */

typedef struct snap_ent_s {
    const uint64_t *ips;
    uint32_t depth, seq;
    uint64_t blocks, bytes;
} snap_ent_t;

static int snap_cmp(const void *pa, const void *pb)
{
    const snap_ent_t *a = pa, *b = pb;
    int c = ips_cmp(a->ips, a->depth, b->ips, b->depth);
    return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

static int growth_cmp(const void *pa, const void *pb)
{
    const leak_growth_t *a = pa, *b = pb;
    uint64_t ga = a->last_bytes - a->first_bytes, gb = b->last_bytes - b->first_bytes;
    if (ga != gb)
        return ga > gb ? -1 : 1;
    return ips_cmp(a->ips, a->depth, b->ips, b->depth);
}

static int leaks_growth(leaks_t *L, snap_ent_t *e, size_t n)
{
    uint32_t ns = L->nsnapshots;
    if (ns < 2 || !n)
        return 0;
    qsort(e, n, sizeof(*e), snap_cmp);
    uint64_t *series = calloc(ns, sizeof(*series));
    L->growth = calloc(n, sizeof(*L->growth));
    if (!series || !L->growth) {
        free(series);
        return -PS_E_NOMEM;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        memset(series, 0, ns * sizeof(*series));
        uint64_t last_blocks = 0;
        for (; j < n && !ips_cmp(e[j].ips, e[j].depth, e[i].ips, e[i].depth); j++) {
            series[e[j].seq] += e[j].bytes;
            if (e[j].seq == ns - 1)
                last_blocks += e[j].blocks;
        }
        bool grows = series[ns - 1] > series[0];
        for (uint32_t k = 1; k < ns && grows; k++)
            grows = series[k] >= series[k - 1];
        if (grows)
            L->growth[L->ngrowth++] =
                (leak_growth_t){e[i].ips, e[i].depth, series[0], series[ns - 1], last_blocks};
        i = j;
    }
    free(series);
    qsort(L->growth, L->ngrowth, sizeof(*L->growth), growth_cmp);
    return 0;
}

/* ---- loading ------------------------------------------------------------------------- */

/* What the pass collects: the records with their stack ids; the call sites are cut after the
 * pass (leaks_resolve), when symbols are open. */
typedef struct raw_leak_s {
    leak_group_t g;
    uint32_t stack, holder;
} raw_leak_t;

typedef struct raw_snap_s {
    snap_ent_t e;
    uint32_t stack;
} raw_snap_t;

typedef struct raw_s {
    raw_leak_t *g;
    size_t n, cap;
    raw_snap_t *s;
    size_t ns, scap;
} raw_t;

int leaks_begin(leaks_t *L)
{
    memset(L, 0, sizeof(*L));
    L->priv = calloc(1, sizeof(raw_t));
    return L->priv ? 0 : -PS_E_NOMEM;
}

int leaks_record(leaks_t *L, const record_t *rec)
{
    raw_t *raw = L->priv;
    switch (rec->type) {
    case PS_REC_LEAK_SCAN: {
        /* the exit scan over on-demand ones; else the latest */
        const ps_rec_leak_scan_t *n = &rec->u.leak_scan;
        L->by_address |= (n->flags & PS_LEAK_F_BY_ADDRESS) != 0;
        bool n_exit = !(n->flags & PS_LEAK_F_ON_DEMAND);
        bool c_exit = L->have_scan && !(L->scan.flags & PS_LEAK_F_ON_DEMAND);
        if (!L->have_scan || (n_exit && !c_exit) || (n_exit == c_exit && n->ts >= L->scan.ts))
            L->scan = *n;
        L->nscans++;
        L->have_scan = true;
        return 0;
    }
    case PS_REC_LEAK: {
        if (raw->n == raw->cap) {
            size_t cap = raw->cap ? raw->cap * 2 : 64;
            raw_leak_t *g = realloc(raw->g, cap * sizeof(*g));
            if (!g)
                return -PS_E_NOMEM;
            raw->g = g;
            raw->cap = cap;
        }
        raw_leak_t *r = &raw->g[raw->n++];
        memset(r, 0, sizeof(*r));
        leak_group_t *g = &r->g;
        g->kind = rec->aux;
        g->blocks = rec->u.leak.blocks;
        g->bytes = rec->u.leak.bytes;
        g->possible_blocks = rec->u.leak.possible_blocks;
        g->inherited = (rec->u.leak.flags & PS_LEAK_REC_F_INHERITED) != 0;
        g->ts = rec->u.leak.ts;
        g->held_by = -1;
        r->stack = rec->u.leak.stack;
        r->holder = rec->u.leak.holder;
        return 0;
    }
    case PS_REC_LEAK_SUPP:
        free(L->suppressions);
        L->suppressions = malloc(rec->u.leak_supp.len + 1);
        if (!L->suppressions)
            return -PS_E_NOMEM;
        memcpy(L->suppressions, rec->u.leak_supp.text, rec->u.leak_supp.len);
        L->suppressions[rec->u.leak_supp.len] = 0;
        return 0;
    case PS_REC_SNAPSHOT:
        L->by_address |= (rec->aux & PS_SNAPSHOT_F_BY_REPLAY) != 0;
        if (rec->u.snapshot.seq < 100000 && rec->u.snapshot.seq + 1 > L->nsnapshots)
            L->nsnapshots = rec->u.snapshot.seq + 1;
        return 0;
    case PS_REC_SNAPSHOT_SITE: {
        if (rec->u.snapshot_site.seq >= 100000)
            return 0; /* not from this shim: a bound on the series we allocate */
        if (raw->ns == raw->scap) {
            size_t cap = raw->scap ? raw->scap * 2 : 256;
            raw_snap_t *sn = realloc(raw->s, cap * sizeof(*sn));
            if (!sn)
                return -PS_E_NOMEM;
            raw->s = sn;
            raw->scap = cap;
        }
        raw_snap_t *sn = &raw->s[raw->ns++];
        memset(sn, 0, sizeof(*sn));
        sn->e.seq = rec->u.snapshot_site.seq;
        sn->e.blocks = rec->u.snapshot_site.blocks;
        sn->e.bytes = rec->u.snapshot_site.bytes;
        sn->stack = rec->u.snapshot_site.stack;
        return 0;
    }
    }
    return 0;
}

static void raw_free(raw_t *raw)
{
    if (!raw)
        return;
    free(raw->g);
    free(raw->s);
    free(raw);
}

/* The groups from what the pass collected: call sites cut (symbolization), the chosen scan's
 * groups only, equal call sites merged, ranked, holders named. */
static int leaks_groups(leaks_t *L, raw_t *raw, const replay_t *rp, symbols_t *sym)
{
    int rc;
    size_t n = 0;
    leak_group_t *g = calloc(raw->n ? raw->n : 1, sizeof(*g));
    if (!g)
        return -PS_E_NOMEM;
    for (size_t i = 0; i < raw->n; i++) {
        if (L->nscans > 1 && raw->g[i].g.ts != L->scan.ts)
            continue; /* the chosen scan's groups only */
        g[n] = raw->g[i].g;
        if ((rc = callsite_cut(sym, rp, raw->g[i].stack, &g[n].ips, &g[n].depth)) < 0 ||
            (g[n].kind == PS_LEAK_INDIRECT &&
             (rc = callsite_cut(sym, rp, raw->g[i].holder, &g[n].holder_ips,
                                &g[n].holder_depth)) < 0)) {
            free(g);
            return rc;
        }
        n++;
    }
    if (!n) {
        free(g);
        return 0;
    }
    /* merge equal call sites, then rank */
    qsort(g, n, sizeof(*g), group_key_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && !group_key_cmp(&g[m - 1], &g[i])) {
            g[m - 1].blocks += g[i].blocks;
            g[m - 1].bytes += g[i].bytes;
            g[m - 1].possible_blocks += g[i].possible_blocks;
        } else {
            g[m++] = g[i];
        }
    }
    qsort(g, m, sizeof(*g), group_rank_cmp);
    for (size_t i = 0; i < m; i++) {
        leak_group_t *x = &g[i];
        if (x->kind != PS_LEAK_INDIRECT)
            continue;
        for (size_t k = 0; k < m && x->held_by < 0; k++)
            if (g[k].kind == PS_LEAK_DEFINITE &&
                !ips_cmp(g[k].ips, g[k].depth, x->holder_ips, x->holder_depth))
                x->held_by = (long)k;
    }
    L->groups = g;
    L->ngroups = m;
    return 0;
}

static int leaks_take(void *arg, const record_t *rec)
{
    return leaks_record(arg, rec);
}

int leaks_resolve(leaks_t *L, const replay_t *rp, symbols_t *sym)
{
    raw_t *raw = L->priv;
    if (!raw)
        return 0; /* resolved already, or never collected */
    /* the groups and snapshot sites the replay attributed (verdicts by address) */
    int rc = leakaddr_each(rp->leakaddr, leaks_take, L);
    const char *note = L->have_scan ? leakaddr_note(rp->leakaddr, L->scan.ts) : NULL;
    uint64_t inherited; /* the shim cannot count them: the replay did */
    if (L->have_scan && (L->scan.flags & PS_LEAK_F_BY_ADDRESS) && !L->scan.inherited_blocks &&
        leakaddr_inherited(rp->leakaddr, L->scan.ts, &inherited))
        L->scan.inherited_blocks = inherited;
    if (rc >= 0 && note && !(L->attribution_note = strdup(note)))
        rc = -PS_E_NOMEM;
    const char *snote = leakaddr_snapshot_note(rp->leakaddr);
    if (rc >= 0 && snote && !(L->snapshot_note = strdup(snote)))
        rc = -PS_E_NOMEM;
    if (rc >= 0)
        rc = leaks_groups(L, raw, rp, sym);
    snap_ent_t *e = NULL;
    if (rc >= 0 && raw->ns) {
        e = malloc(raw->ns * sizeof(*e));
        if (!e)
            rc = -PS_E_NOMEM;
        for (size_t i = 0; e && i < raw->ns && rc >= 0; i++) {
            e[i] = raw->s[i].e;
            rc = callsite_cut(sym, rp, raw->s[i].stack, &e[i].ips, &e[i].depth);
        }
    }
    if (rc >= 0)
        rc = leaks_growth(L, e, raw->ns);
    free(e);
    raw_free(raw);
    L->priv = NULL;
    return rc < 0 ? rc : 0;
}

void leaks_suppress_held(leaks_t *L)
{
    for (size_t i = 0; i < L->ngroups; i++) {
        leak_group_t *g = &L->groups[i];
        if (g->kind == PS_LEAK_INDIRECT && g->held_by >= 0 && !g->suppressed &&
            L->groups[g->held_by].suppressed)
            g->suppressed = true;
    }
}

void leaks_free(leaks_t *L)
{
    raw_free(L->priv);
    free(L->groups);
    free(L->suppressions);
    free(L->growth);
    free(L->attribution_note);
    free(L->snapshot_note);
    memset(L, 0, sizeof(*L));
}

