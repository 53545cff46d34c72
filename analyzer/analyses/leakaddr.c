/*
 * leakaddr.c -- see leakaddr.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/leakaddr.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/intern.h"
#include "perfshim/errors.h"

#define NO_SITE UINT32_MAX

/* A record waiting for the replay to reach its ts: a scan by address with its entries, or a
 * snapshot marker. */
typedef struct pend_s {
    bool is_scan;
    uint32_t tid;
    uint64_t ts;
    ps_rec_leak_scan_t scan;
    ps_rec_snapshot_t snap;
    ps_leak_block_t *e; /* the scan's entries, numbered as in the trace */
    size_t n, cap;
} pend_t;

/* An answered scan: its ts, the blocks it found inherited, the line when its totals differ
 * (empty when not). */
typedef struct note_s {
    uint64_t ts, inherited;
    char text[320];
} note_t;

struct leakaddr_s {
    pend_t *p;
    size_t np, capp;
    ps_rec_leak_t *leaks;
    size_t nleaks, capl;
    ps_rec_snapshot_site_t *sites;
    size_t nsites, caps;
    note_t *notes;
    size_t nnotes, capn;
    char snap_note[256]; /* the first snapshot whose totals differ from the replay's */
    uint64_t due;
};

static void due_update(leakaddr_t *la)
{
    la->due = UINT64_MAX;
    for (size_t i = 0; i < la->np; i++)
        if (la->p[i].ts < la->due)
            la->due = la->p[i].ts;
}

uint64_t leakaddr_due(const leakaddr_t *la)
{
    return la ? la->due : UINT64_MAX;
}

static pend_t *pend_new(leakaddr_t *la)
{
    if (grow_array((void **)&la->p, &la->capp, la->np + 1, sizeof(*la->p), 8))
        return NULL;
    pend_t *p = &la->p[la->np++];
    memset(p, 0, sizeof(*p));
    return p;
}

int leakaddr_record(leakaddr_t **lap, uint32_t tid, const record_t *rec)
{
    bool scan = rec->type == PS_REC_LEAK_SCAN && (rec->u.leak_scan.flags & PS_LEAK_F_BY_ADDRESS);
    bool snap = rec->type == PS_REC_SNAPSHOT && (rec->aux & PS_SNAPSHOT_F_BY_REPLAY);
    if (rec->type == PS_REC_LEAK_BLOCKS) {
        leakaddr_t *la = *lap;
        /* its scan: the latest pending one of the same ts, of its thread first */
        pend_t *p = NULL;
        for (size_t i = la ? la->np : 0; i-- > 0 && !(p && p->tid == tid);)
            if (la->p[i].is_scan && la->p[i].ts == rec->u.leak_blocks.ts &&
                (!p || la->p[i].tid == tid))
                p = &la->p[i];
        if (!p)
            return 0; /* no scan waits for it: nothing to attribute it to */
        uint32_t n = rec->u.leak_blocks.n;
        if (grow_array((void **)&p->e, &p->cap, p->n + n, sizeof(*p->e), 256))
            return -PS_E_NOMEM;
        for (uint32_t i = 0; i < n; i++)
            record_leak_block(rec, i, &p->e[p->n++]);
        return 0;
    }
    if (!scan && !snap)
        return 0;
    if (!*lap) {
        if (!(*lap = calloc(1, sizeof(**lap))))
            return -PS_E_NOMEM;
        (*lap)->due = UINT64_MAX;
    }
    leakaddr_t *la = *lap;
    pend_t *p = pend_new(la);
    if (!p)
        return -PS_E_NOMEM;
    p->is_scan = scan;
    p->tid = tid;
    if (scan) {
        p->scan = rec->u.leak_scan;
        p->ts = p->scan.ts;
    } else {
        p->snap = rec->u.snapshot;
        p->ts = p->snap.ts;
    }
    if (p->ts < la->due)
        la->due = p->ts;
    return 0;
}

/* ---- a scan's groups ------------------------------------------------------------------- */

typedef struct group_s {
    uint32_t kind, stack, holder, inherited;
    uint64_t blocks, bytes, possible;
} group_t;

/* The groups in the order first met: their (kind, stack, holder, inherited) keys interned
 * (core/intern.h), t[index] the group. */
typedef struct groups_s {
    intern_t keys;
    group_t *t;
    size_t cap;
} groups_t;

static group_t *group_get(groups_t *G, uint32_t kind, uint32_t stack, uint32_t holder,
                          uint32_t inherited)
{
    const uint32_t key[4] = {kind, stack, holder, inherited};
    bool added;
    long i = intern_get(&G->keys, key, sizeof key, &added);
    if (i < 0 || grow_array((void **)&G->t, &G->cap, (size_t)i + 1, sizeof(*G->t), 64))
        return NULL;
    if (added)
        G->t[i] = (group_t){kind, stack, holder, inherited, 0, 0, 0};
    return &G->t[i];
}

typedef struct ptr_ix_s {
    uint64_t ptr;
    uint32_t ix;
} ptr_ix_t;

static int ptr_ix_cmp(const void *pa, const void *pb)
{
    const ptr_ix_t *a = pa, *b = pb;
    if (a->ptr != b->ptr)
        return a->ptr < b->ptr ? -1 : 1;
    return (a->ix > b->ix) - (a->ix < b->ix);
}

/* The holders in the end: for each INDIRECT verdict (an entry that is the latest of its ptr),
 * the entry its holder chain ends at -- its holder's entry, through the later entries that
 * replaced it, until a block that is not INDIRECT (the DEFINITE leader) or one that holds
 * itself -- or NO_SITE when the chain leaves the entries or loops. Each entry is walked once
 * (the chains share their ends: res[] remembers them), so a hostile trace costs O(n).
 * res[] and state[] have n elements; state[] starts at 0. */
static void holders_resolve(const ps_leak_block_t *e, const uint32_t *latest, size_t n,
                            uint32_t *res, uint8_t *state, uint32_t *path)
{
    enum { TODO = 0, ON_PATH = 1, DONE = 2 };
    for (size_t i = 0; i < n; i++) {
        if (latest[i] != i || e[i].kind != PS_LEAK_INDIRECT || state[i] == DONE)
            continue;
        size_t np = 0;
        uint32_t end = NO_SITE, j = (uint32_t)i;
        for (;;) { /* j: an INDIRECT verdict not resolved yet */
            state[j] = ON_PATH;
            path[np++] = j;
            uint32_t h = e[j].holder;
            if (h == j || h >= n) {
                end = h == j ? j : NO_SITE;
                break;
            }
            uint32_t k = latest[h];
            if (e[k].kind != PS_LEAK_INDIRECT || e[k].holder == k) {
                end = k;
                break;
            }
            if (state[k] == DONE) {
                end = res[k];
                break;
            }
            if (state[k] == ON_PATH) { /* a loop: no definite block holds these */
                end = NO_SITE;
                break;
            }
            j = k;
        }
        while (np)
            res[path[--np]] = end, state[path[np]] = DONE;
    }
}

typedef struct tally_s {
    uint64_t blocks, bytes;
} tally_t;

static int leak_put(leakaddr_t *la, const group_t *g, uint64_t ts)
{
    if (grow_array((void **)&la->leaks, &la->capl, la->nleaks + 1, sizeof(*la->leaks), 64))
        return -PS_E_NOMEM;
    la->leaks[la->nleaks++] = (ps_rec_leak_t){
        .h = {PS_REC_LEAK, (uint8_t)g->kind, sizeof(ps_rec_leak_t)},
        .stack = g->stack,
        .ts = ts,
        .holder = g->holder,
        .flags = g->inherited ? PS_LEAK_REC_F_INHERITED : 0,
        .blocks = g->blocks,
        .bytes = g->bytes,
        .possible_blocks = g->possible};
    return 0;
}

/* The scan's result: its inherited blocks, and the line when the attributed totals differ
 * from the scan's. */
static int scan_note(leakaddr_t *la, const ps_rec_leak_scan_t *s, const tally_t *att,
                     uint64_t possible, uint64_t inherited)
{
    static const char *const names[4] = {"", "definite", "indirect", "reachable"};
    const uint64_t sb[4] = {0, s->definite_blocks, s->indirect_blocks, s->reachable_blocks};
    const uint64_t sy[4] = {0, s->definite_bytes, s->indirect_bytes, s->reachable_bytes};
    char buf[320];
    size_t len = 0;
    buf[0] = 0;
    for (unsigned k = 1; k <= 3; k++)
        if (att[k].blocks != sb[k] || att[k].bytes != sy[k])
            len += (size_t)snprintf(buf + len, len < sizeof buf ? sizeof buf - len : 0,
                                    "%s%s %" PRIu64 " blocks %" PRIu64 " bytes (scan: %" PRIu64
                                    ", %" PRIu64 ")",
                                    len ? ", " : "", names[k], att[k].blocks, att[k].bytes,
                                    sb[k], sy[k]);
    if (possible != s->possible_blocks && len < sizeof buf)
        len += (size_t)snprintf(buf + len, sizeof buf - len,
                                "%spossible %" PRIu64 " blocks (scan: %" PRIu64 ")",
                                len ? ", " : "", possible, s->possible_blocks);
    if (grow_array((void **)&la->notes, &la->capn, la->nnotes + 1, sizeof(*la->notes), 4))
        return -PS_E_NOMEM;
    note_t *nt = &la->notes[la->nnotes++];
    nt->ts = s->ts;
    nt->inherited = inherited;
    snprintf(nt->text, sizeof nt->text, "%s", buf);
    return 0;
}

static int answer_scan(leakaddr_t *la, pend_t *p, const leakaddr_view_t *v)
{
    const ps_rec_leak_scan_t *s = &p->scan;
    if (s->flags & (PS_LEAK_F_ABORTED | PS_LEAK_F_TURNED_OFF))
        return 0; /* nothing classified: no groups (as the shim wrote them) */
    size_t n = p->n;
    const ps_leak_block_t *e = p->e;
    int rc = -PS_E_NOMEM;
    ptr_ix_t *ord = malloc((n ? n : 1) * sizeof(*ord));
    uint32_t *latest = malloc((n ? n : 1) * sizeof(*latest));
    uint32_t *esite = malloc((n ? n : 1) * sizeof(*esite));
    uint64_t *esize = malloc((n ? n : 1) * sizeof(*esize));
    uint32_t *hres = malloc((n ? n : 1) * sizeof(*hres)), *hpath = malloc((n ? n : 1) * sizeof(*hpath));
    uint8_t *hstate = calloc(n ? n : 1, 1);
    /* per site: listed DEFINITE and INDIRECT blocks and bytes, listed REACHABLE (possible) */
    tally_t *leaked = calloc(v->nsites ? v->nsites : 1, sizeof(*leaked));
    uint64_t *rposs = calloc(v->nsites ? v->nsites : 1, sizeof(*rposs));
    groups_t G = {0};
    if (!ord || !latest || !esite || !esize || !hres || !hpath || !hstate || !leaked || !rposs)
        goto out;
    /* the last entry of each ptr is its verdict */
    for (size_t i = 0; i < n; i++)
        ord[i] = (ptr_ix_t){e[i].ptr, (uint32_t)i};
    qsort(ord, n, sizeof(*ord), ptr_ix_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && ord[j + 1].ptr == ord[i].ptr)
            j++;
        for (size_t k = i; k <= j; k++)
            latest[ord[k].ix] = ord[j].ix;
        i = j + 1;
    }
    free(ord);
    ord = NULL;
    holders_resolve(e, latest, n, hres, hstate, hpath);
    free(hpath);
    hpath = NULL;
    for (size_t i = 0; i < n; i++) {
        esite[i] = NO_SITE;
        esize[i] = 0;
        if (latest[i] == i && !v->find(v->ctx, e[i].ptr, &esite[i], &esize[i]))
            esite[i] = NO_SITE;
    }
    tally_t att[4] = {{0, 0}};
    uint64_t inh_blocks[4] = {0}, possible = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned k = e[i].kind;
        if (latest[i] != i || k < PS_LEAK_DEFINITE || k > PS_LEAK_REACHABLE)
            continue;
        bool inh = esite[i] == NO_SITE;
        uint32_t stack = 0, hstack = 0;
        uint64_t blocks_ignored;
        if (!inh)
            v->site(v->ctx, esite[i], &stack, &blocks_ignored, &blocks_ignored);
        if (k == PS_LEAK_INDIRECT) {
            uint32_t h = hres[i];
            if (h != NO_SITE && esite[h] != NO_SITE)
                v->site(v->ctx, esite[h], &hstack, &blocks_ignored, &blocks_ignored);
        }
        bool poss = k != PS_LEAK_DEFINITE && (e[i].flags & PS_LEAK_BLOCK_F_POSSIBLE);
        possible += poss;
        if (!inh && k == PS_LEAK_REACHABLE) { /* in its site's reachable group, below */
            rposs[esite[i]] += poss;
            continue;
        }
        group_t *g = group_get(&G, k, stack, hstack, inh);
        if (!g)
            goto out;
        g->blocks++;
        g->possible += poss;
        if (inh) {
            inh_blocks[k]++;
            continue;
        }
        g->bytes += esize[i];
        leaked[esite[i]].blocks++;
        leaked[esite[i]].bytes += esize[i];
        att[k].blocks++;
        att[k].bytes += esize[i];
    }
    /* every other block live now: reachable, per site */
    for (size_t i = 0; i < v->nsites; i++) {
        uint32_t stack;
        uint64_t lb, ly;
        v->site(v->ctx, i, &stack, &lb, &ly);
        uint64_t rb = lb > leaked[i].blocks ? lb - leaked[i].blocks : 0;
        uint64_t ry = ly > leaked[i].bytes ? ly - leaked[i].bytes : 0;
        if (!rb)
            continue;
        group_t *g = group_get(&G, PS_LEAK_REACHABLE, stack, 0, 0);
        if (!g)
            goto out;
        g->blocks += rb;
        g->bytes += ry;
        g->possible += rposs[i];
        att[PS_LEAK_REACHABLE].blocks += rb;
        att[PS_LEAK_REACHABLE].bytes += ry;
    }
    /* a fork child: the reachable blocks the scan counted beyond the replay's were inherited */
    if (v->fork_child) {
        uint64_t have = att[PS_LEAK_REACHABLE].blocks + inh_blocks[PS_LEAK_REACHABLE];
        if (s->reachable_blocks > have) {
            group_t *g = group_get(&G, PS_LEAK_REACHABLE, 0, 0, 1);
            if (!g)
                goto out;
            g->blocks += s->reachable_blocks - have;
            inh_blocks[PS_LEAK_REACHABLE] += s->reachable_blocks - have;
        }
    }
    /* the inherited groups' bytes: the scan's of their kind less what the replay attributed,
     * split by blocks */
    const uint64_t sy[4] = {0, s->definite_bytes, s->indirect_bytes, s->reachable_bytes};
    for (unsigned k = 1; k <= 3; k++) {
        if (!inh_blocks[k])
            continue;
        uint64_t rem = sy[k] > att[k].bytes ? sy[k] - att[k].bytes : 0, left = rem;
        uint64_t seen = 0;
        for (size_t i = 0; i < G.keys.n; i++) {
            group_t *g = &G.t[i];
            if (!g->inherited || g->kind != k)
                continue;
            seen += g->blocks;
            uint64_t share = seen == inh_blocks[k]
                                 ? left
                                 : (uint64_t)((unsigned __int128)rem * g->blocks / inh_blocks[k]);
            share = share < left ? share : left;
            g->bytes = share;
            left -= share;
        }
        att[k].blocks += inh_blocks[k];
        att[k].bytes += rem;
    }
    for (size_t i = 0; i < G.keys.n; i++)
        if (G.t[i].blocks && (rc = leak_put(la, &G.t[i], s->ts)) < 0)
            goto out;
    rc = scan_note(la, s, att, possible,
                   inh_blocks[PS_LEAK_DEFINITE] + inh_blocks[PS_LEAK_INDIRECT] +
                       inh_blocks[PS_LEAK_REACHABLE]);
out:
    free(ord);
    free(latest);
    free(esite);
    free(esize);
    free(hres);
    free(hpath);
    free(hstate);
    free(leaked);
    free(rposs);
    free(G.t);
    intern_free(&G.keys);
    return rc;
}

static int answer_snapshot(leakaddr_t *la, const pend_t *p, const leakaddr_view_t *v)
{
    uint64_t tb = 0, ty = 0;
    for (size_t i = 0; i < v->nsites; i++) {
        uint32_t stack;
        uint64_t lb, ly;
        v->site(v->ctx, i, &stack, &lb, &ly);
        tb += lb;
        ty += ly;
        if (!lb)
            continue;
        if (grow_array((void **)&la->sites, &la->caps, la->nsites + 1, sizeof(*la->sites), 256))
            return -PS_E_NOMEM;
        la->sites[la->nsites++] = (ps_rec_snapshot_site_t){
            .h = {PS_REC_SNAPSHOT_SITE, 0, sizeof(ps_rec_snapshot_site_t)},
            .seq = p->snap.seq,
            .ts = p->ts,
            .stack = stack,
            .blocks = lb,
            .bytes = ly};
    }
    if ((tb != p->snap.live_blocks || ty != p->snap.live_bytes) && !la->snap_note[0])
        snprintf(la->snap_note, sizeof la->snap_note,
                 "snapshot %" PRIu32 ": the replay holds %" PRIu64 " blocks, %" PRIu64
                 " bytes at its ts, the shim counted %" PRIu64 ", %" PRIu64,
                 p->snap.seq, tb, ty, p->snap.live_blocks, p->snap.live_bytes);
    return 0;
}

const char *leakaddr_snapshot_note(const leakaddr_t *la)
{
    return la && la->snap_note[0] ? la->snap_note : NULL;
}

int leakaddr_answer(leakaddr_t *la, uint64_t before, const leakaddr_view_t *v)
{
    if (!la)
        return 0;
    int rc = 0;
    /* in ts order (then as they came): each pending one due before `before` */
    while (rc == 0 && la->due < before) {
        size_t k = la->np;
        for (size_t i = 0; i < la->np; i++)
            if (la->p[i].ts == la->due) {
                k = i;
                break;
            }
        pend_t p = la->p[k];
        memmove(&la->p[k], &la->p[k + 1], (la->np - k - 1) * sizeof(*la->p));
        la->np--;
        rc = p.is_scan ? answer_scan(la, &p, v) : answer_snapshot(la, &p, v);
        free(p.e);
        due_update(la);
    }
    return rc;
}

int leakaddr_each(const leakaddr_t *la, int (*fn)(void *arg, const record_t *rec), void *arg)
{
    if (!la)
        return 0;
    record_t r;
    int rc = 0;
    for (size_t i = 0; i < la->nleaks && rc >= 0; i++) {
        memset(&r, 0, sizeof r);
        r.type = PS_REC_LEAK;
        r.aux = la->leaks[i].h.aux;
        r.len = sizeof(ps_rec_leak_t);
        r.u.leak = la->leaks[i];
        rc = fn(arg, &r);
    }
    for (size_t i = 0; i < la->nsites && rc >= 0; i++) {
        memset(&r, 0, sizeof r);
        r.type = PS_REC_SNAPSHOT_SITE;
        r.len = sizeof(ps_rec_snapshot_site_t);
        r.u.snapshot_site = la->sites[i];
        rc = fn(arg, &r);
    }
    return rc;
}

const char *leakaddr_note(const leakaddr_t *la, uint64_t ts)
{
    for (size_t i = 0; la && i < la->nnotes; i++)
        if (la->notes[i].ts == ts)
            return la->notes[i].text[0] ? la->notes[i].text : NULL;
    return NULL;
}

int leakaddr_inherited(const leakaddr_t *la, uint64_t ts, uint64_t *blocks)
{
    for (size_t i = 0; la && i < la->nnotes; i++)
        if (la->notes[i].ts == ts) {
            *blocks = la->notes[i].inherited;
            return 1;
        }
    return 0;
}

void leakaddr_free(leakaddr_t *la)
{
    if (!la)
        return;
    for (size_t i = 0; i < la->np; i++)
        free(la->p[i].e);
    free(la->p);
    free(la->leaks);
    free(la->sites);
    free(la->notes);
    free(la);
}
