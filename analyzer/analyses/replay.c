/*
 * replay.c -- see replay.h.
 *
 * Layout: each thread's chunks are sorted by seq and read through one "stream" that holds a
 * private copy of its current chunk (reader_chunk_load's view dies at the next load), so
 * memory is threads x chunk size. Streams are merged by a binary min-heap on
 * (timestamp, release-before-allocation). Records without a place on the time axis (STACK,
 * MODULE) and samples (THREAD_START, RSS, END) are taken as they are read: their effect does
 * not depend on the merge order.
 *
 * Per-stack peak bytes in one pass: a global "peak epoch" is bumped whenever the live heap
 * reaches a new maximum. Before a stack's live bytes change, if the stack has not been touched
 * since the latest bump, its current live bytes are exactly its bytes at that peak and are
 * saved; at the end every stack not touched since the last bump saves its final value.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/replay.h"
#include "core/livetab.h"
#include "core/prefetch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perfshim/compiler.h"
#include "analyses/locks.h"
#include "perfshim/errors.h"
#include "perfshim/mix.h"
#include "analyses/misuse.h"
#include "core/safeout.h"
#include "core/reader.h"

/* ---- histograms ---------------------------------------------------------------------- */

static unsigned hist_bucket(uint64_t v)
{
    return v == 0 ? 0u : 64u - (unsigned)__builtin_clzll(v);
}

void replay_hist_add(replay_hist_t *h, uint64_t v)
{
    h->count[hist_bucket(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

void replay_hist_merge(replay_hist_t *into, const replay_hist_t *from)
{
    for (unsigned b = 0; b < REPLAY_HIST_BUCKETS; b++)
        into->count[b] += from->count[b];
    into->n += from->n;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t replay_hist_quantile(const replay_hist_t *h, double q)
{
    if (h->n == 0)
        return 0;
    /* rank of the quantile, 1-based, rounded up: p50 of 1..4 is the 2nd value */
    double want = q * (double)h->n;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < REPLAY_HIST_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= rank) {
            uint64_t hi = b == 0 ? 0 : b >= 64 ? UINT64_MAX : (1ull << b) - 1;
            return hi < h->max ? hi : h->max;
        }
    }
    return h->max;
}

/* ---- u32 -> index map (stack ids) ---------------------------------------------------- */

#define MAP_EMPTY UINT32_MAX

typedef struct u32map_s {
    uint32_t *keys, *vals;
    size_t cap, n; /* cap is a power of two, or 0 */
} u32map_t;

static size_t u32map_slot(uint32_t k, size_t cap)
{
    return (size_t)((k * 0x9e3779b1u) ^ (k >> 16)) & (cap - 1);
}

static uint32_t u32map_get(const u32map_t *m, uint32_t k)
{
    if (!m->cap)
        return MAP_EMPTY;
    for (size_t i = u32map_slot(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->vals[i] == MAP_EMPTY)
            return MAP_EMPTY;
        if (m->keys[i] == k)
            return m->vals[i];
    }
}

static int u32map_put(u32map_t *m, uint32_t k, uint32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        uint32_t *keys = malloc(cap * sizeof(*keys)), *vals = malloc(cap * sizeof(*vals));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return -PS_E_NOMEM;
        }
        memset(vals, 0xff, cap * sizeof(*vals));
        for (size_t j = 0; j < m->cap; j++) {
            if (m->vals[j] == MAP_EMPTY)
                continue;
            size_t i = u32map_slot(m->keys[j], cap);
            while (vals[i] != MAP_EMPTY)
                i = (i + 1) & (cap - 1);
            keys[i] = m->keys[j];
            vals[i] = m->vals[j];
        }
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    size_t i = u32map_slot(k, m->cap);
    while (m->vals[i] != MAP_EMPTY && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    if (m->vals[i] == MAP_EMPTY)
        m->n++;
    m->keys[i] = k;
    m->vals[i] = v;
    return 0;
}

static void u32map_free(u32map_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* ---- blocks: core/livetab.h ---------------------------------------------------------
 * One table holds the live blocks and, as "dead" entries, released ones: a release that finds
 * a dead entry is a double free (with the block's allocation site), and an allocation reuses
 * the entry in place. Its memory follows the peak of live blocks, not the number of events; a
 * double free is caught while its dead entry lasts (livetab.h). */

/* ---- per-thread streams -------------------------------------------------------------- */

enum { EV_RELEASE = 0, EV_ALLOC = 1, EV_FAILED = 2 };

typedef struct event_s {
    uint64_t ts, ptr, size;
    uint32_t stack;
    uint8_t kind;
    uint8_t fn; /* ps_alloc_fn */
} event_t;

typedef struct stream_s {
    uint32_t tid;
    size_t *chunks; /* chunk indices, by seq */
    size_t nchunks;
    chunk_view_t view;
    chunk_view_t ahead; /* stream_prefetch's cursor: a copy of view, a few records ahead */
    event_t pend[2];
    unsigned npend, ipend;
    bool done;
} stream_t;

/* A heap entry: the stream and the key of its current event, (ts << 1) | (not a release),
 * so that at equal timestamps releases come first. */
typedef struct heap_ent_s {
    uint64_t key;
    uint32_t stream;
} heap_ent_t;

typedef struct state_s {
    reader_t *r;
    replay_t *rp;
    u32map_t site_map, stack_map;
    size_t sites_cap, stacks_cap, modules_cap;
    livetab_t live; /* blocks by address */
    stream_t *streams;
    size_t nstreams;
    prefetch_t *pf;
    bool progress; /* a progress line on stderr (a terminal, a large trace) */
    char fatal[512]; /* the message of a PS_E_LIMIT from the prefetcher */
    int progress_shown; /* last percentage printed, -1 none */
    heap_ent_t *heap;
    size_t nheap;
    uint64_t peak_epoch;
    /* heaptrack's temporary allocation (see replay.h): the last event of the merged stream
     * was the allocation of (tmp_size, tmp_stack) */
    bool tmp_armed;
    uint64_t tmp_size;
    uint32_t tmp_stack;
    bool have_ts;
    misuse_t *misuse;
    uint64_t slice_lo, slice_hi; /* event_slice: the bounds of the latest event's slice */
    unsigned slice_cur;
} state_t;

static void state_partial(state_t *st, const char *fmt, ...) PS_PRINTF(2, 3);
static void state_partial(state_t *st, const char *fmt, ...)
{
    replay_t *rp = st->rp;
    rp->complete = false;
    if (rp->partial_reason[0])
        return; /* the first reason is the one that explains the rest */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp->partial_reason, sizeof(rp->partial_reason), fmt, ap);
    va_end(ap);
}

static void state_ts(state_t *st, uint64_t ts)
{
    replay_t *rp = st->rp;
    if (!st->have_ts || ts < rp->first_ts)
        rp->first_ts = ts;
    if (!st->have_ts || ts > rp->last_ts)
        rp->last_ts = ts;
    st->have_ts = true;
}

/* The timeline slice of timestamp ts (clamped to the first and the last). */
static unsigned state_slice(const state_t *st, uint64_t ts)
{
    const replay_t *rp = st->rp;
    if (ts <= rp->start_ns || !rp->slice_ns)
        return 0;
    uint64_t i = (ts - rp->start_ns) / rp->slice_ns;
    return i < REPLAY_SLICES ? (unsigned)i : REPLAY_SLICES - 1;
}

/* state_slice for the merged heap events, whose times mostly stay in one slice: the previous
 * event's slice while ts is within its bounds (no 64-bit division per event). */
static unsigned event_slice(state_t *st, uint64_t ts)
{
    if (ts >= st->slice_lo && ts < st->slice_hi)
        return st->slice_cur;
    unsigned i = state_slice(st, ts);
    const replay_t *rp = st->rp;
    if (ts > rp->start_ns && rp->slice_ns) {
        st->slice_cur = i;
        st->slice_lo = rp->start_ns + i * rp->slice_ns;
        st->slice_hi = i == REPLAY_SLICES - 1 ? UINT64_MAX : st->slice_lo + rp->slice_ns;
    }
    return i;
}

static int state_site(state_t *st, uint32_t stack_id, uint32_t *out)
{
    uint32_t i = u32map_get(&st->site_map, stack_id);
    if (i != MAP_EMPTY) {
        *out = i;
        return 0;
    }
    replay_t *rp = st->rp;
    if (rp->nsites == st->sites_cap) {
        size_t cap = st->sites_cap ? st->sites_cap * 2 : 256;
        replay_site_t *s = realloc(rp->sites, cap * sizeof(*s));
        if (!s)
            return -PS_E_NOMEM;
        rp->sites = s;
        st->sites_cap = cap;
    }
    i = (uint32_t)rp->nsites++;
    memset(&rp->sites[i], 0, sizeof(rp->sites[i]));
    rp->sites[i].stack_id = stack_id;
    *out = i;
    return u32map_put(&st->site_map, stack_id, i);
}

static int state_stack(state_t *st, const record_t *rec)
{
    if (u32map_get(&st->stack_map, rec->u.stack.id) != MAP_EMPTY)
        return 0; /* the first definition wins; the shim never redefines an id */
    replay_t *rp = st->rp;
    if (rp->nstacks == st->stacks_cap) {
        size_t cap = st->stacks_cap ? st->stacks_cap * 2 : 256;
        replay_stack_t *s = realloc(rp->stacks, cap * sizeof(*s));
        if (!s)
            return -PS_E_NOMEM;
        rp->stacks = s;
        st->stacks_cap = cap;
    }
    replay_stack_t *s = &rp->stacks[rp->nstacks];
    s->id = rec->u.stack.id;
    s->depth = rec->u.stack.depth;
    s->ips = malloc(s->depth * sizeof(uint64_t));
    if (!s->ips)
        return -PS_E_NOMEM;
    for (uint32_t i = 0; i < s->depth; i++)
        s->ips[i] = record_ip(rec, i);
    int rc = u32map_put(&st->stack_map, s->id, (uint32_t)rp->nstacks);
    rp->nstacks++;
    return rc;
}

static int state_module(state_t *st, const record_t *rec)
{
    replay_t *rp = st->rp;
    const char *path = rec->u.module.path;
    uint32_t plen = rec->u.module.path_len;
    for (size_t i = 0; i < rp->nmodules; i++)
        if (rp->modules[i].base == rec->u.module.base && strlen(rp->modules[i].path) == plen &&
            !memcmp(rp->modules[i].path, path, plen))
            return 0;
    if (rp->nmodules == st->modules_cap) {
        size_t cap = st->modules_cap ? st->modules_cap * 2 : 32;
        replay_module_t *m = realloc(rp->modules, cap * sizeof(*m));
        if (!m)
            return -PS_E_NOMEM;
        rp->modules = m;
        st->modules_cap = cap;
    }
    replay_module_t *m = &rp->modules[rp->nmodules];
    memset(m, 0, sizeof(*m));
    m->path = malloc(plen + 1);
    m->segs = malloc((rec->u.module.nseg ? rec->u.module.nseg : 1) * sizeof(ps_segment_t));
    if (!m->path || !m->segs) {
        free(m->path);
        free(m->segs);
        return -PS_E_NOMEM;
    }
    memcpy(m->path, path, plen);
    m->path[plen] = 0;
    m->base = rec->u.module.base;
    m->nseg = rec->u.module.nseg;
    for (uint32_t i = 0; i < m->nseg; i++)
        record_segment(rec, i, &m->segs[i]);
    m->buildid_len = rec->u.module.buildid_len; /* a u8 in the format: fits buildid[] */
    memcpy(m->buildid, rec->u.module.buildid, m->buildid_len);
    rp->nmodules++;
    return 0;
}

static void stream_take_alloc(stream_t *s, const ps_rec_alloc_t *a, uint8_t fn)
{
    s->pend[s->npend++] = (event_t){a->ts, a->ptr, a->size, a->stack,
                                    a->ptr ? EV_ALLOC : EV_FAILED, fn};
}

static int stream_take_free(state_t *st, stream_t *s, const ps_rec_free_t *f, uint8_t fn)
{
    (void)st;
    s->pend[s->npend++] = (event_t){f->ts, f->ptr, 0, f->stack, EV_RELEASE, fn};
    return 0;
}

/* The records that make most of a trace, decoded in place with view_next's checks (a record
 * this does not take goes through view_next). Returns 1 taken, 0 not, <0 out of memory. */
static int stream_take_fast(state_t *st, stream_t *s)
{
    chunk_view_t *v = &s->view;
    size_t left = v->size - v->pos;
    if (left < sizeof(ps_rec_hdr_t))
        return 0;
    const unsigned char *p = v->data + v->pos;
    ps_rec_hdr_t h;
    memcpy(&h, p, sizeof(h));
    if (h.len > left)
        return 0;
    if (h.type == PS_REC_ALLOC && h.len >= sizeof(ps_rec_alloc_t)) {
        ps_rec_alloc_t a;
        memcpy(&a, p, sizeof(a));
        v->pos += h.len;
        st->rp->records++;
        stream_take_alloc(s, &a, h.aux);
        return 1;
    }
    if (h.type == PS_REC_FREE && h.len >= sizeof(ps_rec_free_t)) {
        ps_rec_free_t f;
        memcpy(&f, p, sizeof(f));
        v->pos += h.len;
        st->rp->records++;
        int rc = stream_take_free(st, s, &f, h.aux);
        return rc < 0 ? rc : 1;
    }
    if (h.type == PS_REC_ALLOC_P && h.len > sizeof(h)) {
        ps_rec_alloc_t a;
        if (view_unpack_alloc(v, p, h.len, &a) != 0)
            return 0; /* view_next says what is wrong */
        v->pos += h.len;
        st->rp->records++;
        stream_take_alloc(s, &a, h.aux);
        return 1;
    }
    if (h.type == PS_REC_FREE_P && h.len > sizeof(h)) {
        ps_rec_free_t f;
        if (view_unpack_free(v, p, h.len, &f) != 0)
            return 0;
        v->pos += h.len;
        st->rp->records++;
        int rc = stream_take_free(st, s, &f, h.aux);
        return rc < 0 ? rc : 1;
    }
    return 0;
}

/* Block table prefetch: the addresses of the stream's next records, decoded by a second
 * cursor up to PREFETCH_BYTES ahead of the view (~20 packed records), have their table slots
 * loaded into the cache before their turn; a random probe of a large table costs a cache and
 * TLB miss, which this overlaps. The cursor only reads: what it cannot decode, it stops at. */
#define PREFETCH_BYTES 160

static void stream_prefetch(state_t *st, stream_t *s)
{
    if (!livetab_large(&st->live))
        return; /* the table is in the cache anyway */
    chunk_view_t *a = &s->ahead;
    const chunk_view_t *v = &s->view;
    /* a new chunk (its buffer may be the last one's: the index tells), or the view passed */
    if (a->data != v->data || a->index != v->index || a->size != v->size || a->pos < v->pos)
        *a = *v;
    while (a->pos < v->pos + PREFETCH_BYTES && a->size - a->pos >= sizeof(ps_rec_hdr_t)) {
        const unsigned char *p = a->data + a->pos;
        ps_rec_hdr_t h;
        memcpy(&h, p, sizeof(h));
        if (h.len < sizeof(h) || h.len > a->size - a->pos)
            return;
        /* only the address matters here: the time varints are skipped, not decoded */
        const unsigned char *q = p + sizeof(h), *e = p + h.len;
        unsigned skip = h.type == PS_REC_REALLOC_P ? 2 : 1;
        uint64_t d1, d2;
        if (h.type == PS_REC_ALLOC_P || h.type == PS_REC_FREE_P || h.type == PS_REC_REALLOC_P) {
            for (; skip && q < e; q++)
                skip -= !(*q & 0x80);
            if (skip || ps_uv_get(&q, e, &d1))
                return;
            a->ptr0 += ps_unzz(d1);
            livetab_prefetch(&st->live, a->ptr0);
            if (h.type == PS_REC_REALLOC_P) {
                if (ps_uv_get(&q, e, &d2))
                    return;
                a->ptr0 += ps_unzz(d2);
                livetab_prefetch(&st->live, a->ptr0);
            }
        }
        a->pos += h.len;
    }
}

/* Takes one decoded record of stream s; heap events become pending events. */
static int stream_take(state_t *st, stream_t *s, const record_t *rec)
{
    replay_t *rp = st->rp;
    rp->records++;
    if ((rec->type >= PS_REC_LOCK_WAIT && rec->type <= 0x3f) ||
        rec->type == PS_REC_THREAD_START || rec->type == PS_REC_THREAD_EXIT) {
        int rc = locks_take(&rp->locks, s->tid, rec);
        if (rc < 0)
            return rc;
    }
    switch (rec->type) {
    case PS_REC_THREAD_START:
        rp->threads++;
        state_ts(st, rec->u.thread.ts);
        return 0;
    case PS_REC_THREAD_EXIT:
        state_ts(st, rec->u.thread.ts);
        return 0;
    case PS_REC_MODULE:
        return state_module(st, rec);
    case PS_REC_STACK:
        return state_stack(st, rec);
    case PS_REC_RSS:
        state_ts(st, rec->u.rss.ts);
        if (rec->u.rss.rss_bytes > rp->slices[state_slice(st, rec->u.rss.ts)].rss_bytes)
            rp->slices[state_slice(st, rec->u.rss.ts)].rss_bytes = rec->u.rss.rss_bytes;
        if (!rp->have_rss || rec->u.rss.ts >= rp->final_rss_ts) {
            rp->final_rss_ts = rec->u.rss.ts;
            rp->final_rss_bytes = rec->u.rss.rss_bytes;
        }
        if (rec->u.rss.rss_bytes > rp->max_rss_bytes)
            rp->max_rss_bytes = rec->u.rss.rss_bytes;
        rp->have_rss = true;
        return 0;
    case PS_REC_END:
        state_ts(st, rec->u.end.ts);
        /* a failed exec resumes tracing after an END: the latest END counts everything */
        if (!rp->have_end || rec->u.end.ts >= rp->end.ts)
            rp->end = rec->u.end;
        rp->have_end = true;
        return 0;
    case PS_REC_CRASH:
        state_ts(st, rec->u.crash.ts);
        rp->crash_signal = rec->u.crash.signo;
        return 0;
    case PS_REC_ALLOC:
        stream_take_alloc(s, &rec->u.alloc, rec->aux);
        return 0;
    case PS_REC_FREE:
        return stream_take_free(st, s, &rec->u.free, rec->aux);
    case PS_REC_REALLOC: {
        const ps_rec_realloc_t *ra = &rec->u.realloc;
        if (ra->old_ptr && (ra->new_ptr || ra->size == 0))
            s->pend[s->npend++] = (event_t){ra->ts_before, ra->old_ptr, 0, ra->stack,
                                            EV_RELEASE, rec->aux};
        if (ra->new_ptr)
            s->pend[s->npend++] = (event_t){ra->ts, ra->new_ptr, ra->size, ra->stack,
                                            EV_ALLOC, rec->aux};
        else if (ra->size)
            s->pend[s->npend++] = (event_t){ra->ts, 0, ra->size, ra->stack, EV_FAILED,
                                            rec->aux};
        return 0;
    }
    default:
        return 0; /* MODMAP (the MODULE records carry everything), unknown, skippable */
    }
}

/* Loads the stream's next chunk into its private buffer. Returns 1 loaded, 0 no more
 * chunks, <0 out of memory. A chunk that fails to load marks the replay partial and is
 * skipped. */
static int stream_load(state_t *st, stream_t *s)
{
    for (;;) {
        char err[512];
        int rc = prefetch_next(st->pf, (size_t)(s - st->streams), &s->view, err, sizeof(err));
        if (rc == -PS_E_NOMEM)
            return rc;
        if (rc == -PS_E_LIMIT) { /* the memory budget: fatal, with its message */
            snprintf(st->fatal, sizeof(st->fatal), "%s", err);
            return rc;
        }
        if (rc < 0) {
            state_partial(st, "%s", err);
            continue;
        }
        if (rc == 1)
            st->rp->chunks++;
        return rc;
    }
}

/* Makes the stream's next event current (s->pend[s->ipend]) or marks it done. */
static int stream_fill(state_t *st, stream_t *s)
{
    if (s->ipend + 1 < s->npend) {
        s->ipend++;
        return 0;
    }
    s->npend = s->ipend = 0;
    while (!s->npend) {
        record_t rec;
        if (s->view.data) {
            stream_prefetch(st, s);
            int fast = stream_take_fast(st, s);
            if (fast < 0)
                return fast;
            if (fast)
                continue;
        }
        int rc = s->view.data ? view_next(st->r, &s->view, &rec) : 0;
        if (rc < 0) {
            state_partial(st, "%s", reader_error(st->r));
            rc = 0; /* the rest of this chunk is lost; go on with the next one */
        }
        if (rc == 0) {
            s->view.data = NULL;
            rc = stream_load(st, s);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                s->done = true;
                return 0;
            }
            continue;
        }
        if ((rc = stream_take(st, s, &rec)) < 0)
            return rc;
    }
    return 0;
}

/* ---- merge --------------------------------------------------------------------------- */

static uint64_t stream_key(const stream_t *s)
{
    const event_t *e = &s->pend[s->ipend];
    uint64_t ts = e->ts < (1ull << 63) ? e->ts : (1ull << 63) - 1;
    return ts << 1 | (e->kind != EV_RELEASE);
}

static bool heap_before(const heap_ent_t *x, const heap_ent_t *y)
{
    return x->key != y->key ? x->key < y->key : x->stream < y->stream; /* deterministic */
}

static void heap_down(state_t *st, size_t i)
{
    heap_ent_t *h = st->heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < st->nheap && heap_before(&h[l], &h[m]))
            m = l;
        if (r < st->nheap && heap_before(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        heap_ent_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void site_touch(const state_t *st, replay_site_t *site)
{
    if (site->peak_epoch_seen < st->peak_epoch) {
        site->peak_bytes = site->live_bytes;
        site->peak_epoch_seen = st->peak_epoch;
    }
}

static int event_release(state_t *st, const event_t *e)
{
    replay_t *rp = st->rp;
    livetab_blk_t bl, *l = &bl;
    int ls = livetab_find(&st->live, e->ptr, l);
    if (ls != LIVETAB_LIVE) {
        rp->unmatched_frees++;
        int rc = 0;
        if (ls == LIVETAB_DEAD) {
            rp->double_frees++;
            rc = misuse_double(st->misuse, rp->sites[l->site].stack_id, l->fn, e->stack, e->fn);
        } else if (!(rp->file_flags & PS_FILE_F_FORK_CHILD)) {
            rp->invalid_frees++;
            rc = misuse_invalid(st->misuse, e->stack, e->fn);
        }
        return rc;
    }
    replay_site_t *site = &rp->sites[l->site];
    if (st->tmp_armed && l->size == st->tmp_size && site->stack_id == st->tmp_stack) {
        site->temporary++; /* heaptrack compares (size, stack), not the address */
        rp->temporary++;
    }
    st->tmp_armed = false;
    int fa = ps_alloc_family(l->fn), ff = ps_alloc_family(e->fn);
    int rc = 0;
    if (fa != ff && fa != PS_FAM_UNKNOWN && ff != PS_FAM_UNKNOWN) {
        rp->mismatched_frees++;
        rc = misuse_mismatch(st->misuse, site->stack_id, l->fn, e->stack, e->fn);
    }
    if (rc < 0)
        return rc;
    site_touch(st, site);
    site->frees++;
    site->live_blocks--;
    site->live_bytes -= l->size;
    replay_hist_add(&site->lifetimes, e->ts >= l->ts ? e->ts - l->ts : 0);
    rp->frees++;
    rp->live_blocks--;
    rp->live_bytes -= l->size;
    replay_slice_t *sl = &rp->slices[event_slice(st, e->ts)];
    sl->frees++;
    sl->live_bytes = rp->live_bytes;
    livetab_kill(&st->live, e->ptr);
    return 0;
}

static int event_alloc(state_t *st, const event_t *e)
{
    replay_t *rp = st->rp;
    uint32_t si;
    int rc = state_site(st, e->stack, &si);
    if (rc < 0)
        return rc;
    if (e->kind == EV_FAILED) {
        rp->failed_allocations++;
        rp->sites[si].failed++;
        return 0;
    }
    livetab_blk_t ob, *old = &ob;
    if (livetab_find(&st->live, e->ptr, old) == LIVETAB_LIVE) {
        /* a release we never saw: forget the old block */
        rp->double_allocations++;
        replay_site_t *os = &rp->sites[old->site];
        site_touch(st, os);
        os->live_blocks--;
        os->live_bytes -= old->size;
        rp->live_blocks--;
        rp->live_bytes -= old->size;
    }
    livetab_blk_t l = {e->size, e->ts, si, e->fn}; /* a dead entry is reused in place */
    if ((rc = livetab_set(&st->live, e->ptr, &l)) < 0)
        return rc;
    replay_site_t *site = &rp->sites[si];
    st->tmp_armed = true;
    st->tmp_size = e->size;
    st->tmp_stack = site->stack_id;
    site_touch(st, site);
    site->allocations++;
    site->bytes += e->size;
    site->live_blocks++;
    site->live_bytes += e->size;
    replay_hist_add(&site->sizes, e->size);
    replay_hist_add(&rp->sizes, e->size);
    rp->allocations++;
    rp->bytes_allocated += e->size;
    rp->live_blocks++;
    rp->live_bytes += e->size;
    replay_slice_t *sl = &rp->slices[event_slice(st, e->ts)];
    sl->allocations++;
    sl->bytes_allocated += e->size;
    sl->live_bytes = rp->live_bytes;
    if (rp->live_bytes > sl->live_bytes_max)
        sl->live_bytes_max = rp->live_bytes;
    if (rp->live_bytes > rp->peak_bytes) {
        rp->peak_bytes = rp->live_bytes;
        rp->peak_time_ns = e->ts;
        st->peak_epoch++;
    }
    return 0;
}

/* "perfshim: reading TRACE: 45%" on one line, rewritten as it grows (erased at the end). */
static void replay_progress(state_t *st, size_t total_chunks)
{
    int pct = total_chunks ? (int)(st->rp->chunks * 100 / total_chunks) : 100;
    if (pct == st->progress_shown)
        return;
    st->progress_shown = pct;
    FILE *tty = safeout_raw_stderr(); /* our own \r, not escaped */
    fprintf(tty, "\rperfshim: reading %s: %d%%", reader_path(st->r), pct);
    fflush(tty);
}

static int replay_merge(state_t *st)
{
    int rc;
    st->heap = malloc((st->nstreams ? st->nstreams : 1) * sizeof(*st->heap));
    if (!st->heap)
        return -PS_E_NOMEM;
    for (size_t i = 0; i < st->nstreams; i++) {
        if ((rc = stream_fill(st, &st->streams[i])) < 0)
            return rc;
        if (!st->streams[i].done)
            st->heap[st->nheap++] = (heap_ent_t){stream_key(&st->streams[i]), (uint32_t)i};
    }
    for (size_t i = st->nheap / 2; i-- > 0;)
        heap_down(st, i);
    size_t total_chunks = reader_chunk_count(st->r);
    uint64_t n = 0;
    while (st->nheap) {
        if (PS_UNLIKELY(st->progress && (++n & 0xffff) == 0))
            replay_progress(st, total_chunks);
        stream_t *s = &st->streams[st->heap[0].stream];
        const event_t *e = &s->pend[s->ipend];
        state_ts(st, e->ts);
        if ((rc = e->kind == EV_RELEASE ? event_release(st, e) : event_alloc(st, e)) < 0)
            return rc;
        if ((rc = stream_fill(st, s)) < 0)
            return rc;
        if (s->done)
            st->heap[0] = st->heap[--st->nheap];
        else
            st->heap[0].key = stream_key(s);
        heap_down(st, 0);
    }
    return 0;
}

/* ---- streams from the index ---------------------------------------------------------- */

typedef struct chunk_key_s {
    uint32_t tid, seq;
    size_t index;
} chunk_key_t;

static int chunk_key_cmp(const void *a, const void *b)
{
    const chunk_key_t *x = a, *y = b;
    if (x->tid != y->tid)
        return x->tid < y->tid ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int replay_streams(state_t *st)
{
    size_t n = reader_chunk_count(st->r);
    if (n == 0)
        return 0;
    chunk_key_t *keys = malloc(n * sizeof(*keys));
    size_t *order = malloc(n * sizeof(*order));
    st->streams = calloc(n, sizeof(*st->streams)); /* at most one stream per chunk */
    if (!keys || !order || !st->streams) {
        free(keys);
        free(order);
        return -PS_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const chunk_info_t *c = reader_chunk(st->r, i);
        keys[i] = (chunk_key_t){c->h.tid, c->h.seq, i};
    }
    qsort(keys, n, sizeof(*keys), chunk_key_cmp);
    for (size_t i = 0; i < n; i++)
        order[i] = keys[i].index;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && keys[j].tid == keys[i].tid)
            j++;
        stream_t *s = &st->streams[st->nstreams++];
        s->tid = keys[i].tid;
        s->chunks = order + i; /* slices of one array; freed through streams[0] */
        s->nchunks = j - i;
        uint64_t expect = 0;
        for (size_t k = i; k < j; k++) {
            if (keys[k].seq > expect)
                st->rp->chunks_lost += keys[k].seq - expect;
            expect = (uint64_t)keys[k].seq + 1;
        }
        i = j;
    }
    free(keys);
    return 0;
}

/* ---- entry points -------------------------------------------------------------------- */

static char *replay_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* The slice width: the span from the start to the latest chunk end, in REPLAY_SLICES. */
static void replay_timeline_init(state_t *st)
{
    replay_t *rp = st->rp;
    uint64_t end = rp->start_ns;
    for (size_t i = 0; i < reader_chunk_count(st->r); i++) {
        const chunk_info_t *c = reader_chunk(st->r, i);
        if (c->h.t_last > end)
            end = c->h.t_last;
    }
    rp->slice_ns = (end - rp->start_ns) / REPLAY_SLICES + 1;
}

/* Slices without events carry the live heap of the slice before. */
static void replay_timeline_fill(replay_t *rp)
{
    uint64_t live = 0;
    for (unsigned i = 0; i < REPLAY_SLICES; i++) {
        replay_slice_t *sl = &rp->slices[i];
        if (!sl->allocations && !sl->frees)
            sl->live_bytes = live;
        if (live > sl->live_bytes_max) /* the level the slice starts at */
            sl->live_bytes_max = live;
        if (sl->live_bytes > sl->live_bytes_max)
            sl->live_bytes_max = sl->live_bytes;
        live = sl->live_bytes;
    }
}

static int replay_body(state_t *st, const char *path, char *err, size_t errlen)
{
    replay_t *rp = st->rp;
    int rc = reader_open(&st->r, path);
    if (rc < 0) {
        snprintf(err, errlen, "%s", st->r ? reader_error(st->r) : ps_strerror(rc));
        return rc;
    }
    const trace_info_t *ti = reader_info(st->r);
    rp->exe = replay_strdup(ti->exe);
    rp->cmdline = replay_strdup(ti->cmdline);
    if (!rp->exe || !rp->cmdline)
        return -PS_E_NOMEM;
    rp->pid = ti->pid;
    rp->file_flags = ti->flags;
    rp->start_ns = ti->start_mono_ns;
    if ((rc = misuse_new(&st->misuse)) < 0)
        return rc;
    rp->complete = true;
    if (reader_index_status(st->r) < 0)
        state_partial(st, "%s", reader_index_error(st->r));
    if ((rc = replay_streams(st)) < 0)
        return rc;
    replay_timeline_init(st);
    size_t **chunks = malloc((st->nstreams ? st->nstreams : 1) * sizeof(*chunks));
    size_t *nchunks = malloc((st->nstreams ? st->nstreams : 1) * sizeof(*nchunks));
    if (chunks && nchunks) {
        for (size_t i = 0; i < st->nstreams; i++) {
            chunks[i] = st->streams[i].chunks;
            nchunks[i] = st->streams[i].nchunks;
        }
        rc = prefetch_open(&st->pf, st->r, st->nstreams, chunks, nchunks);
    } else {
        rc = -PS_E_NOMEM;
    }
    free(chunks);
    free(nchunks);
    /* a progress line only where someone watches and waits: a terminal and > 64 MiB */
    st->progress = isatty(STDERR_FILENO) && reader_file_size(st->r) > (64u << 20);
    st->progress_shown = -1;
    if (rc == 0)
        rc = replay_merge(st);
    if (st->progress_shown >= 0)
        fputs("\r\033[K", safeout_raw_stderr());
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < rp->nsites; i++)
        site_touch(st, &rp->sites[i]);
    replay_timeline_fill(rp);
    misuse_take(st->misuse, &rp->errors, &rp->nerrors);
    if (!rp->have_end && rp->crash_signal)
        state_partial(st, "%s: the process died of signal %" PRIu32 " (CRASH record)", path,
                      rp->crash_signal);
    else if (!rp->have_end)
        state_partial(st, "%s: no END record: the process was still running or was killed "
                          "(the trace stops at its last written chunk)",
                      path);
    else if (rp->chunks_lost)
        state_partial(st, "%s: %" PRIu64 " chunks missing (gaps in the per-thread sequence)",
                      path, rp->chunks_lost);
    /* the time origin: the file header's start unless an event claims to be earlier */
    if (!rp->start_ns || (st->have_ts && rp->first_ts < rp->start_ns))
        rp->start_ns = rp->first_ts;
    rp->duration_ns = st->have_ts ? rp->last_ts - rp->start_ns : 0;
    rp->peak_time_ns = rp->peak_bytes ? rp->peak_time_ns - rp->start_ns : 0;
    if (rp->locks && !rp->locks->any) {
        locks_free(rp->locks);
        rp->locks = NULL;
    }
    if (rp->locks)
        rp->locks->partial = !rp->have_end && !rp->crash_signal; /* a crash wrote totals */
    return locks_finish(rp->locks, rp->pid, rp->start_ns, st->have_ts ? rp->last_ts : 0);
}

int replay_run(const char *path, replay_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    state_t *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err, errlen, "%s", ps_strerror(PS_E_NOMEM));
        return -PS_E_NOMEM;
    }
    st->rp = out;
    out->priv = st;
    int rc = replay_body(st, path, err, errlen);
    if (rc == -PS_E_NOMEM)
        snprintf(err, errlen, "%s: %s", path, ps_strerror(rc));
    else if (rc == -PS_E_LIMIT)
        snprintf(err, errlen, "%s", st->fatal);
    /* what the report needs later is the stack map; the rest goes now */
    prefetch_close(st->pf);
    st->pf = NULL;
    reader_close(st->r);
    st->r = NULL;
    if (st->nstreams)
        free(st->streams[0].chunks);
    free(st->streams);
    st->streams = NULL;
    free(st->heap);
    st->heap = NULL;
    livetab_free(&st->live);
    u32map_free(&st->site_map);
    misuse_free(st->misuse);
    st->misuse = NULL;
    if (rc < 0)
        replay_free(out);
    return rc;
}

const replay_stack_t *replay_stack(const replay_t *rp, uint32_t id)
{
    const state_t *st = rp->priv;
    uint32_t i = st ? u32map_get(&st->stack_map, id) : MAP_EMPTY;
    return i == MAP_EMPTY ? NULL : &rp->stacks[i];
}

void replay_free(replay_t *rp)
{
    state_t *st = rp->priv;
    if (st) {
        u32map_free(&st->stack_map);
        u32map_free(&st->site_map);
        free(st);
    }
    for (size_t i = 0; i < rp->nstacks; i++)
        free(rp->stacks[i].ips);
    for (size_t i = 0; i < rp->nmodules; i++) {
        free(rp->modules[i].path);
        free(rp->modules[i].segs);
    }
    free(rp->stacks);
    free(rp->modules);
    free(rp->sites);
    free(rp->errors);
    free(rp->exe);
    free(rp->cmdline);
    locks_free(rp->locks);
    memset(rp, 0, sizeof(*rp));
}
