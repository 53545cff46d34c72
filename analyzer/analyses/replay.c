/*
 * replay.c -- see replay.h.
 *
 * The pass (core/pass.c) reads the trace and merges the threads' heap events by time; this
 * file applies them to the live set in that order.
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

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyses/leakaddr.h"
#include "analyses/locks.h"
#include "analyses/misuse.h"
#include "core/livetab.h"
#include "core/prefetch.h"
#include "core/symbols.h"
#include "core/u32map.h"
#include "perfshim/compiler.h"
#include "perfshim/errors.h"
#include "perfshim/mix.h"
#include "perfshim/sampling.h"

/* ---- blocks: core/livetab.h ---------------------------------------------------------
 * One table holds the live blocks and, as "dead" entries, released ones: a release that finds
 * a dead entry is a double free (with the block's allocation site), and an allocation reuses
 * the entry in place. Its memory follows the peak of live blocks, not the number of events; a
 * double free is caught while its dead entry lasts (livetab.h). */

/* ---- the replay's state ------------------------------------------------------------- */

/* No site (state_t.tmp_site): a site index is below the sites' count, which their memory
 * keeps far below 2^32 - 1 (1248 bytes a site). */
#define REPLAY_NO_SITE UINT32_MAX

/* replay_prefetch keeps the places of at most this many blocks for replay_events to
 * prefetch, one with each event (more: at once). */
#define REPLAY_PF_MAX 64 /* (pass.c's PASS_SPAN_BATCH) */

/* The hot-site cache's entries (state_t.hot), a power of two. */
#define REPLAY_HOT_N 64

/* An allocation's stack and thread, and its site and block table value (site_placement). */
typedef struct replay_hot_s {
    uint32_t stack, tid, si, v;
} replay_hot_t;

/* The hot-site cache's entry for (stack, tid): dense stack ids, each thread's apart. An empty
 * entry j holds tid 0 and stack j + 1, which is another entry's: no allocation matches it. */
static PS_ALWAYS_INLINE size_t replay_hot_slot(uint32_t stack, uint32_t tid)
{
    return (stack + tid * 31u) & (REPLAY_HOT_N - 1);
}

/* The pass's heap events (core/pass.h), under the replay's names. */
typedef pass_event_t event_t;
enum { EV_RELEASE = PASS_EV_RELEASE, EV_ALLOC = PASS_EV_ALLOC, EV_FAILED = PASS_EV_FAILED };

typedef struct state_s {
    replay_t *rp;
    u32map_t site_map; /* stack id -> site index, for ids >= SITE_DIRECT_MAX */
    uint32_t *site_of; /* stack id -> site index + 1 (0: none yet), ids < site_of_n */
    size_t site_of_n;
    size_t sites_cap;
    livetab_t live; /* blocks by address */
    uint64_t peak_epoch;
    /* heaptrack's temporary allocation (see replay.h): the last event of the merged stream
     * was the allocation of tmp_size bytes at site tmp_site (REPLAY_NO_SITE: not an
     * allocation; a site is a stack) */
    uint64_t tmp_size;
    uint32_t tmp_site;
    misuse_t *misuse; /* the misuse analysis's (rp->misuse), NULL when not selected */
    /* the timeline's slice the latest events went to (event_window): its bounds [slice_lo,
     * slice_hi), the summary's counts when they came into it (its counts are the summary's
     * since, added when they leave it: slice_leave), the most live bytes after an allocation
     * there; an event in [slice_lo, slice_lo + win_w) is in it with no scan or snapshot to
     * answer first (la_due), 0: to be made again */
    uint64_t slice_lo, slice_hi, win_w;
    unsigned slice_cur;
    uint64_t slice_allocs0, slice_frees0, slice_bytes0, slice_max;
    /* sampled traces (replay.h): N, and the estimates of the summary and the slices */
    bool sampled;     /* sample_n > 0 (one test per event, not a double compare) */
    /* the families a function value may be of (ps_alloc_family): 1 << its family, all for
     * PS_FAM_UNKNOWN; a release mismatches its allocation where they have none in common */
    uint8_t fams[256];
    double sample_n;
    double est_live_bytes, est_live_blocks, est_peak, est_allocations, est_frees, est_bytes;
    double est_temporary;
    uint64_t est_peak_ts, est_peak_epoch;
    double est_sl_allocs[REPLAY_SLICES], est_sl_frees[REPLAY_SLICES], est_sl_bytes[REPLAY_SLICES];
    double est_sl_live[REPLAY_SLICES], est_sl_live_max[REPLAY_SLICES];
    bool est_sl_seen[REPLAY_SLICES];
    /* the home entries of replay_prefetch's latest addresses, not prefetched yet:
     * replay_events prefetches one with each event it takes (pf[pf_i .. pf_n)) */
    const unsigned char *pf[REPLAY_PF_MAX]; /* (livetab_home_entries) */
    unsigned pf_i, pf_n;
    /* leakaddr_due(rp->leakaddr): an event after it first answers what waits (leakaddr.h) */
    uint64_t la_due;
    /* The allocating thread (traces whose FREE records do not say whether they cross threads,
     * no PS_FILE_F_CROSS_FREES: by_thread): the block table's site field holds a "placement"
     * index, one per (site, allocating thread) met, instead of the site index; pl[] gives
     * both back. A site's latest placement is cached (pl_last, pl_last_tid); the others are
     * in pl_map (open addressing on (site, tid), 0: empty, else placement + 1). No byte more
     * per block: placements are few (sites x the threads that allocate there). */
    bool by_thread;
    struct { uint32_t site, tid; } *pl;
    size_t npl, pl_cap;
    uint32_t *pl_last, *pl_last_tid; /* per site: placement + 1 (0: none yet), its tid */
    size_t pl_last_n;
    uint64_t *pl_key;
    uint32_t *pl_val;
    size_t pl_map_cap, pl_map_n;
    /* the latest allocation's stack and thread (hot_tid: UINT64_MAX before any), its site and
     * block table value (the site, or its placement where by_thread); behind it, those of the
     * latest allocations' stacks and threads, direct-mapped (replay_hot_slot). (The
     * latest one alone missed at every allocation of kvstore, which alternates stacks; churn
     * finds it there.) */
    uint64_t hot_tid;
    uint32_t hot_stack, hot_si, hot_v;
    replay_hot_t hot[REPLAY_HOT_N];
} state_t;

/* The site index of a block table entry's site field. */
static PS_ALWAYS_INLINE uint32_t entry_site(const state_t *st, uint32_t v)
{
    return PS_UNLIKELY(st->by_thread) ? st->pl[v].site : v;
}

/* entry_site where the caller knows by_thread (replay_events' loops: one for each case). */
static PS_ALWAYS_INLINE uint32_t entry_site_in(const state_t *st, uint32_t v, bool by_thread)
{
    return by_thread ? st->pl[v].site : v;
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

/* The merged heap events' slices. Their times mostly stay in one slice: a slice's counts and
 * live bytes are not kept per event but from the summary's (rp->allocations, frees,
 * bytes_allocated, live_bytes), whose growth while the events stay in the slice is the
 * slice's; slice_leave adds it when they leave (and at replay_end). An allocation compares
 * the live bytes with the slice's most (st->slice_max) only. */
static void slice_leave(state_t *st)
{
    replay_t *rp = st->rp;
    replay_slice_t *sl = &rp->slices[st->slice_cur];
    uint64_t allocs = rp->allocations - st->slice_allocs0, frees = rp->frees - st->slice_frees0;
    sl->allocations += allocs;
    sl->frees += frees;
    sl->bytes_allocated += rp->bytes_allocated - st->slice_bytes0;
    if (allocs || frees) /* (the live bytes change with counted events only) */
        sl->live_bytes = rp->live_bytes;
    if (st->slice_max > sl->live_bytes_max)
        sl->live_bytes_max = st->slice_max;
    st->slice_allocs0 = rp->allocations;
    st->slice_frees0 = rp->frees;
    st->slice_bytes0 = rp->bytes_allocated;
}

/* ts's slice (state_slice) becomes the current one, with its bounds. */
static PS_NOINLINE void event_slice_move(state_t *st, uint64_t ts)
{
    const replay_t *rp = st->rp;
    unsigned i = state_slice(st, ts);
    if (i != st->slice_cur) {
        slice_leave(st);
        st->slice_cur = i;
        st->slice_max = rp->slices[i].live_bytes_max;
    }
    /* slice 0 from time 0 (state_slice: ts <= start_ns too), the last one to the end; (i x
     * slice_ns is at most ts - start_ns: no overflow; an end past 2^64: no time is beyond) */
    uint64_t lo = i ? rp->start_ns + i * rp->slice_ns : 0, base = i ? lo : rp->start_ns;
    uint64_t hi = base + rp->slice_ns;
    if (!rp->slice_ns || i == REPLAY_SLICES - 1 || hi < base)
        hi = UINT64_MAX;
    st->slice_lo = lo;
    st->slice_hi = hi;
}

/* Stack ids are interned in order by the shim, so they are small and dense: those below
 * SITE_DIRECT_MAX index an array (grown to the largest seen, at most 4 MiB), the rest (a
 * hostile or odd trace) go through the hash map. */
#define SITE_DIRECT_MAX (1u << 20)

static int state_site_new(state_t *st, uint32_t stack_id, uint32_t *out)
{
    replay_t *rp = st->rp;
    if (rp->nsites == st->sites_cap) {
        size_t cap = st->sites_cap ? st->sites_cap * 2 : 256;
        replay_site_t *s = realloc(rp->sites, cap * sizeof(*s));
        if (!s)
            return -PS_E_NOMEM;
        rp->sites = s;
        st->sites_cap = cap;
    }
    uint32_t i = (uint32_t)rp->nsites;
    if (stack_id < SITE_DIRECT_MAX) {
        if (stack_id >= st->site_of_n) {
            size_t n = st->site_of_n ? st->site_of_n : 256;
            while (n <= stack_id)
                n *= 2;
            uint32_t *a = realloc(st->site_of, n * sizeof(*a));
            if (!a)
                return -PS_E_NOMEM;
            memset(a + st->site_of_n, 0, (n - st->site_of_n) * sizeof(*a));
            st->site_of = a;
            st->site_of_n = n;
        }
        st->site_of[stack_id] = i + 1;
    } else {
        int rc = u32map_put(&st->site_map, stack_id, i);
        if (rc < 0)
            return rc;
    }
    rp->nsites++;
    memset(&rp->sites[i], 0, sizeof(rp->sites[i]));
    rp->sites[i].stack_id = stack_id;
    *out = i;
    return 0;
}

static inline int state_site(state_t *st, uint32_t stack_id, uint32_t *out)
{
    if (PS_LIKELY(stack_id < st->site_of_n) && st->site_of[stack_id]) {
        *out = st->site_of[stack_id] - 1;
        return 0;
    }
    if (stack_id >= SITE_DIRECT_MAX) {
        uint32_t i = u32map_get(&st->site_map, stack_id);
        if (i != U32MAP_NONE) {
            *out = i;
            return 0;
        }
    }
    return state_site_new(st, stack_id, out);
}

/* ---- placements: (site, allocating thread) -------------------------------------------- */

static PS_NOINLINE int placement_slow(state_t *st, uint32_t si, uint32_t tid, uint32_t *out)
{
    if (si >= st->pl_last_n) {
        size_t n = st->pl_last_n ? st->pl_last_n : 256;
        while (n <= si)
            n *= 2;
        uint32_t *a = realloc(st->pl_last, n * sizeof(*a));
        if (!a)
            return -PS_E_NOMEM;
        st->pl_last = a;
        uint32_t *b = realloc(st->pl_last_tid, n * sizeof(*b));
        if (!b)
            return -PS_E_NOMEM;
        st->pl_last_tid = b;
        memset(a + st->pl_last_n, 0, (n - st->pl_last_n) * sizeof(*a));
        memset(b + st->pl_last_n, 0, (n - st->pl_last_n) * sizeof(*b));
        st->pl_last_n = n;
    }
    uint64_t key = (uint64_t)si << 32 | tid;
    if ((st->pl_map_n + 1) * 2 > st->pl_map_cap) { /* at most half full */
        size_t cap = st->pl_map_cap ? st->pl_map_cap * 2 : 1024;
        uint64_t *k = calloc(cap, sizeof(*k));
        uint32_t *v = calloc(cap, sizeof(*v));
        if (!k || !v) {
            free(k);
            free(v);
            return -PS_E_NOMEM;
        }
        for (size_t i = 0; i < st->pl_map_cap; i++) {
            if (!st->pl_val[i])
                continue;
            size_t j = ps_mix64(st->pl_key[i]) & (cap - 1);
            while (v[j])
                j = (j + 1) & (cap - 1);
            k[j] = st->pl_key[i];
            v[j] = st->pl_val[i];
        }
        free(st->pl_key);
        free(st->pl_val);
        st->pl_key = k;
        st->pl_val = v;
        st->pl_map_cap = cap;
    }
    size_t j = ps_mix64(key) & (st->pl_map_cap - 1);
    while (st->pl_val[j] && st->pl_key[j] != key)
        j = (j + 1) & (st->pl_map_cap - 1);
    if (!st->pl_val[j]) {
        if (st->npl >= UINT32_MAX - 1)
            return -PS_E_NOMEM;
        if (st->npl == st->pl_cap) {
            size_t cap = st->pl_cap ? st->pl_cap * 2 : 256;
            void *q = realloc(st->pl, cap * sizeof(*st->pl));
            if (!q)
                return -PS_E_NOMEM;
            st->pl = q;
            st->pl_cap = cap;
        }
        st->pl[st->npl].site = si;
        st->pl[st->npl].tid = tid;
        st->pl_key[j] = key;
        st->pl_val[j] = (uint32_t)++st->npl;
        st->pl_map_n++;
    }
    st->pl_last[si] = st->pl_val[j];
    st->pl_last_tid[si] = tid;
    *out = st->pl_val[j] - 1;
    return 0;
}

/* The placement of an allocation of site si by thread tid. */
static inline int placement(state_t *st, uint32_t si, uint32_t tid, uint32_t *out)
{
    if (PS_LIKELY(si < st->pl_last_n) && st->pl_last[si] && st->pl_last_tid[si] == tid) {
        *out = st->pl_last[si] - 1;
        return 0;
    }
    return placement_slow(st, si, tid, out);
}

/* The site of an allocation of e's stack (not a failed one: no placement) and the block
 * table's site field for it (the site, or its placement where by_thread), kept in h (e's
 * entry of st->hot) and st->hot_* (the latest): an allocation of the same stack and thread
 * finds them there. */
static PS_NOINLINE int site_placement(state_t *st, const pass_event_t *e, replay_hot_t *h,
                                      uint32_t *v)
{
    uint32_t si;
    int rc = state_site(st, e->stack, &si);
    if (rc < 0)
        return rc;
    *v = si;
    if (st->by_thread && (rc = placement(st, si, e->tid, v)) < 0)
        return rc;
    *h = (replay_hot_t){e->stack, e->tid, si, *v};
    st->hot_tid = e->tid;
    st->hot_stack = e->stack;
    st->hot_si = si;
    st->hot_v = *v;
    return 0;
}

static void placements_free(state_t *st)
{
    free(st->pl);
    free(st->pl_last);
    free(st->pl_last_tid);
    free(st->pl_key);
    free(st->pl_val);
    st->pl = NULL;
    st->pl_last = st->pl_last_tid = st->pl_val = NULL;
    st->pl_key = NULL;
    st->npl = st->pl_cap = st->pl_last_n = st->pl_map_cap = st->pl_map_n = 0;
}

/* ---- sampled traces: the estimates (replay.h) ----------------------------------------- */

/* 1/p(s): the allocations one sample of s bytes stands for (trace_format.h: the shim counts
 * s + 1 bytes down for it). */
static double est_count(const state_t *st, uint64_t size)
{
    return 1.0 / ps_sample_p(size, st->sample_n);
}

static void est_touch(const state_t *st, replay_site_t *site)
{
    if (site->est_peak_epoch_seen < st->est_peak_epoch) {
        site->est_peak_bytes = site->est_live_bytes;
        site->est_peak_epoch_seen = st->est_peak_epoch;
    }
}

/* A sampled block of `size` bytes of `site` leaves (released: counted as frees) */
static PS_NOINLINE void est_release(state_t *st, replay_site_t *site, uint64_t size,
                                    uint64_t ts, bool released, bool temporary)
{
    double c = est_count(st, size), b = c * (double)size;
    est_touch(st, site);
    site->est_live_blocks -= c;
    site->est_live_bytes -= b;
    st->est_live_blocks -= c;
    st->est_live_bytes -= b;
    if (temporary) {
        site->est_temporary += c;
        st->est_temporary += c;
    }
    if (released) {
        site->est_frees += c;
        st->est_frees += c;
        unsigned i = state_slice(st, ts);
        st->est_sl_frees[i] += c;
        st->est_sl_live[i] = st->est_live_bytes;
        st->est_sl_seen[i] = true;
    }
}

static PS_NOINLINE void est_alloc(state_t *st, replay_site_t *site, uint64_t size, uint64_t ts)
{
    double c = est_count(st, size), b = c * (double)size;
    est_touch(st, site);
    site->est_allocations += c;
    site->est_bytes += b;
    site->est_live_blocks += c;
    site->est_live_bytes += b;
    st->est_allocations += c;
    st->est_bytes += b;
    st->est_live_blocks += c;
    st->est_live_bytes += b;
    unsigned i = state_slice(st, ts);
    st->est_sl_allocs[i] += c;
    st->est_sl_bytes[i] += b;
    st->est_sl_live[i] = st->est_live_bytes;
    st->est_sl_seen[i] = true;
    if (st->est_live_bytes > st->est_sl_live_max[i])
        st->est_sl_live_max[i] = st->est_live_bytes;
    if (st->est_live_bytes > st->est_peak) {
        st->est_peak = st->est_live_bytes;
        st->est_peak_ts = ts;
        st->est_peak_epoch++;
    }
}

static uint64_t est_round(double v)
{
    return v <= 0 ? 0 : v >= 1.8e19 ? UINT64_MAX : (uint64_t)(v + 0.5);
}

/* Scales a histogram of n values to about `to` values (each bucket by to / n). */
static void est_hist(replay_hist_t *h, double to)
{
    if (!h->n)
        return;
    double f = to / (double)h->n;
    uint64_t n = 0;
    for (unsigned b = 0; b < REPLAY_HIST_BUCKETS; b++) {
        h->count[b] = est_round((double)h->count[b] * f);
        n += h->count[b];
    }
    h->n = n;
}

/* replay_end: the estimates replace the sampled counts (replay.h). */
static void est_finish(state_t *st)
{
    replay_t *rp = st->rp;
    rp->samples = rp->allocations;
    rp->sample_frees = rp->frees;
    for (size_t i = 0; i < rp->nsites; i++) {
        replay_site_t *s = &rp->sites[i];
        est_touch(st, s);
        est_hist(&s->sizes, s->est_allocations);
        est_hist(&s->lifetimes, s->est_frees);
        s->allocations = est_round(s->est_allocations);
        s->bytes = est_round(s->est_bytes);
        s->frees = est_round(s->est_frees);
        s->live_blocks = est_round(s->est_live_blocks);
        s->live_bytes = est_round(s->est_live_bytes);
        s->peak_bytes = est_round(s->est_peak_bytes);
        s->temporary = est_round(s->est_temporary);
    }
    est_hist(&rp->sizes, st->est_allocations);
    rp->allocations = est_round(st->est_allocations);
    rp->frees = est_round(st->est_frees);
    rp->bytes_allocated = est_round(st->est_bytes);
    rp->live_blocks = est_round(st->est_live_blocks);
    rp->live_bytes = est_round(st->est_live_bytes);
    rp->temporary = est_round(st->est_temporary);
    rp->peak_bytes = est_round(st->est_peak);
    rp->peak_time_ns = st->est_peak_ts;
    for (unsigned i = 0; i < REPLAY_SLICES; i++) {
        replay_slice_t *sl = &rp->slices[i];
        sl->allocations = est_round(st->est_sl_allocs[i]);
        sl->frees = est_round(st->est_sl_frees[i]);
        sl->bytes_allocated = est_round(st->est_sl_bytes[i]);
        sl->live_bytes = st->est_sl_seen[i] ? est_round(st->est_sl_live[i]) : 0;
        sl->live_bytes_max = est_round(st->est_sl_live_max[i]);
    }
}

/* ---- heap events, in the merged order ------------------------------------------------ */

/* A site's live blocks while the replay runs: its allocations less its frees, less the blocks
 * a double allocation forgot (the only change live_blocks itself takes, below 0 mod 2^64);
 * an allocation and a release count neither blocks nor the histograms' n (site_end). */
static uint64_t site_blocks(const replay_site_t *s)
{
    return s->allocations - s->frees + s->live_blocks;
}

/* At replay_end: the counts the events left out (site_blocks). */
static void site_end(replay_site_t *s)
{
    s->live_blocks = site_blocks(s);
    s->sizes.n = s->allocations;
    s->lifetimes.n = s->frees;
}

static void site_touch(const state_t *st, replay_site_t *site)
{
    if (site->peak_epoch_seen < st->peak_epoch) {
        site->peak_bytes = site->live_bytes;
        site->peak_epoch_seen = st->peak_epoch;
    }
}

/* (sampled and by_thread: st's, constants in each of replay_events' loops; out: the event's
 * result, its live bytes written here from the register that has them) */
static PS_ALWAYS_INLINE int event_release(state_t *st, replay_t *rp, const event_t *e,
                                          replay_evres_t *out, const bool sampled,
                                          const bool by_thread)
{
    livetab_blk_t bl, *l = &bl;
    int ls = livetab_take_fast(&st->live, e->ptr, l); /* a live block: dead from here on */
    if (PS_UNLIKELY(ls == LIVETAB_GENERAL)) {
        livetab_blk_t c = {0, 0, 0, 0}; /* (a copy: as livetab_take's) */
        ls = livetab_take_general(&st->live, e->ptr, &c);
        *l = c;
    }
    if (ls != LIVETAB_LIVE) {
        rp->unmatched_frees++;
        int rc = 0;
        if (ls == LIVETAB_DEAD) {
            rp->double_frees++;
            const replay_site_t *ds = &rp->sites[entry_site_in(st, l->site, by_thread)];
            rc = misuse_double(st->misuse, ds->stack_id, l->fn, e->stack, e->fn);
        } else if (!(rp->file_flags & PS_FILE_F_FORK_CHILD)) {
            rp->invalid_frees++;
            rc = misuse_invalid(st->misuse, e->stack, e->fn);
        }
        out->live_bytes = rp->live_bytes;
        out->freed = false;
        return rc;
    }
    const uint32_t si = entry_site_in(st, l->site, by_thread);
    replay_site_t *site = &rp->sites[si];
    /* (the take's block is in registers: livetab_take_general's copy) */
    out->released.size = l->size;
    out->released.alloc_ts = l->ts;
    out->released.stack_id = site->stack_id;
    out->released.alloc_fn = l->fn;
    out->released.cross_thread = by_thread && st->pl[l->site].tid != e->tid;
    out->freed = true;
    bool tmp = l->size == st->tmp_size && si == st->tmp_site;
    if (tmp) {
        site->temporary++; /* heaptrack compares (size, stack), not the address */
        rp->temporary++;
    }
    st->tmp_site = REPLAY_NO_SITE;
    if (PS_UNLIKELY(sampled))
        est_release(st, site, l->size, e->ts, true, tmp);
    int rc = 0;
    if (PS_UNLIKELY(!(st->fams[l->fn] & st->fams[e->fn]))) {
        rp->mismatched_frees++;
        rc = misuse_mismatch(st->misuse, site->stack_id, l->fn, e->stack, e->fn);
    }
    if (rc < 0)
        return rc;
    site_touch(st, site);
    site->frees++; /* (its lifetimes' n and live blocks: from frees, at the end: site_end) */
    site->live_bytes -= l->size;
    if (PS_LIKELY(e->ts > l->ts)) /* (one compare for the order and for 0) */
        replay_hist_put_nz(&site->lifetimes, e->ts - l->ts);
    else
        replay_hist_put(&site->lifetimes, 0);
    rp->frees++;
    /* (the new live bytes made in a register: GCC's vectorizer made the two neighbours' changes
     * one 16-byte load, add and store, with ten instructions to build the operands) */
    uint64_t live = rp->live_bytes - l->size;
    PS_IN_REG(live);
    rp->live_bytes = live; /* (rp->live_blocks: replay_live_blocks, after the batch) */
    out->live_bytes = live;
    return 0;
}

static PS_ALWAYS_INLINE int event_alloc(state_t *st, replay_t *rp, const event_t *e,
                                        replay_evres_t *out, const bool sampled,
                                        const bool by_thread)
{
    uint32_t si, v;
    int rc;
    if (PS_UNLIKELY(e->kind == EV_FAILED)) {
        if ((rc = state_site(st, e->stack, &si)) < 0)
            return rc;
        rp->failed_allocations++;
        rp->sites[si].failed++;
        out->live_bytes = rp->live_bytes;
        out->freed = false;
        return 0;
    }
    if (PS_LIKELY(e->tid == st->hot_tid && e->stack == st->hot_stack)) {
        v = st->hot_v; /* (the latest allocation's stack and thread) */
    } else {
        /* st->hot, inline (kvstore's allocations alternate three stacks: a function out of
         * line for this was ~34 instructions an allocation there, ~3 M calls for 1 M keys) */
        replay_hot_t *h = &st->hot[replay_hot_slot(e->stack, e->tid)];
        if (PS_LIKELY(e->stack == h->stack && e->tid == h->tid)) {
            st->hot_tid = e->tid;
            st->hot_stack = e->stack;
            st->hot_si = h->si;
            st->hot_v = v = h->v;
        } else if ((rc = site_placement(st, e, h, &v)) < 0) {
            return rc;
        }
    }
    livetab_blk_t ob = {0, 0, 0, 0}, *old = &ob; /* (set where the address was live) */
    livetab_blk_t l = {e->size, e->ts, v, e->fn}; /* a dead entry is reused in place */
    rc = livetab_put_fast(&st->live, e->ptr, &l, old);
    if (PS_UNLIKELY(rc == LIVETAB_GENERAL)) {
        /* (the block made again from the event and the state: nothing of it held across the
         * probe for this path; v is st->hot_v, site_placement's too) */
        livetab_blk_t c = {e->size, e->ts, st->hot_v, e->fn}, o = {0, 0, 0, 0};
        rc = livetab_put_general(&st->live, e->ptr, &c, &o);
        *old = o;
    }
    if (rc < 0)
        return rc;
    if (PS_UNLIKELY(rc == LIVETAB_LIVE)) {
        /* a release we never saw: forget the old block */
        rp->double_allocations++;
        replay_site_t *os = &rp->sites[entry_site_in(st, old->site, by_thread)];
        site_touch(st, os);
        os->live_blocks--; /* (its blocks less its allocations and frees: site_blocks) */
        os->live_bytes -= old->size;
        rp->live_bytes -= old->size;
        if (PS_UNLIKELY(sampled))
            est_release(st, os, old->size, e->ts, false, false);
    }
    si = st->hot_si; /* (the latest, set above too: a load, not kept across the put) */
    replay_site_t *site = &rp->sites[si];
    st->tmp_size = e->size;
    st->tmp_site = si;
    site_touch(st, site);
    site->allocations++;
    site->bytes += e->size;
    site->live_bytes += e->size;
    replay_hist_put(&site->sizes, e->size); /* rp->sizes: their sum, at the end */
    rp->allocations++;
    rp->bytes_allocated += e->size;
    rp->live_bytes += e->size;
    out->live_bytes = rp->live_bytes;
    out->freed = false;
    if (rp->live_bytes > st->slice_max) {
        st->slice_max = rp->live_bytes;
        /* (the peak is at least any slice's most: a new peak is a new most too) */
        if (rp->live_bytes > rp->peak_bytes) {
            rp->peak_bytes = rp->live_bytes;
            rp->peak_time_ns = e->ts;
            st->peak_epoch++;
        }
    }
    if (PS_UNLIKELY(sampled))
        est_alloc(st, site, e->size, e->ts);
    return 0;
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

/* ---- leak verdicts by address, snapshot markers (leakaddr.h) ------------------------- */

static int la_find(void *ctx, uint64_t ptr, uint32_t *site, uint64_t *size)
{
    state_t *st = ctx;
    livetab_blk_t b;
    if (livetab_find(&st->live, ptr, &b) != LIVETAB_LIVE)
        return 0;
    *site = entry_site(st, b.site);
    *size = b.size;
    return 1;
}

static void la_site(void *ctx, size_t i, uint32_t *stack, uint64_t *blocks, uint64_t *bytes)
{
    const replay_site_t *s = &((state_t *)ctx)->rp->sites[i];
    *stack = s->stack_id;
    *blocks = site_blocks(s);
    *bytes = s->live_bytes;
}

/* Answers what waits for a ts before `before` from the block table as it stands. */
static PS_NOINLINE int la_answer(state_t *st, uint64_t before)
{
    replay_t *rp = st->rp;
    leakaddr_view_t v = {la_find, st, rp->nsites, la_site,
                         (rp->file_flags & PS_FILE_F_FORK_CHILD) != 0};
    int rc = leakaddr_answer(rp->leakaddr, before, &v);
    st->la_due = leakaddr_due(rp->leakaddr);
    return rc;
}

/* Before a heap event at ts: a scan or snapshot before it answered (la_answer), its slice the
 * current one (event_slice_move), and the window of the events that need neither (the slice up
 * to la_due): replay_events' one compare per event for both. */
static PS_NOINLINE int event_window(state_t *st, uint64_t ts)
{
    if (ts > st->la_due) {
        int rc = la_answer(st, ts);
        if (rc < 0)
            return rc;
    }
    event_slice_move(st, ts);
    uint64_t end = st->la_due < st->slice_hi ? st->la_due + 1 : st->slice_hi;
    st->win_w = end > st->slice_lo ? end - st->slice_lo : 0;
    return 0;
}

/* ---- the analysis ------------------------------------------------------------------- */

int replay_begin(replay_t *rp, void **state, const tracemodel_t *m)
{
    state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return -PS_E_NOMEM;
    st->rp = rp;
    rp->evres = rp->evres_buf; /* (the pressure analysis may point it at its own) */
    st->misuse = rp->misuse; /* the misuse analysis comes first in the table */
    st->la_due = UINT64_MAX;
    st->hot_tid = UINT64_MAX; /* (no thread's: no allocation yet) */
    for (uint32_t j = 0; j < REPLAY_HOT_N; j++) /* empty: another entry's (stack, tid) */
        st->hot[j] = (replay_hot_t){j + 1, 0, 0, 0};
    st->tmp_site = REPLAY_NO_SITE;
    /* the allocating thread, where the trace's frees do not say whether they cross threads */
    st->by_thread = !(m->file_flags & PS_FILE_F_CROSS_FREES);
    *state = st;
    rp->file_flags = m->file_flags;
    rp->sample_bytes = m->sample_bytes;
    st->sample_n = (double)m->sample_bytes;
    st->sampled = st->sample_n > 0;
    for (unsigned fn = 0; fn < 256; fn++) {
        int f = ps_alloc_family((uint8_t)fn);
        st->fams[fn] = f == PS_FAM_UNKNOWN ? 0xff : (uint8_t)(1u << f);
    }
    replay_timeline_init(rp, m);
    livetab_hint(&st->live, m->live_hint);
    if (prefetch_second_core()) /* the large array's page faults on the second core */
        livetab_prefault(&st->live);
    return 0;
}

void replay_timeline_init(replay_t *rp, const tracemodel_t *m)
{
    /* the timeline: the span from the header's start to the latest chunk end */
    rp->start_ns = m->start_ns;
    rp->slice_ns = (m->span_end_ns - m->start_ns) / REPLAY_SLICES + 1;
}

/* The slice of ts: state_slice without the state. */
static unsigned timeline_slice(const replay_t *rp, uint64_t ts)
{
    if (ts <= rp->start_ns || !rp->slice_ns)
        return 0;
    uint64_t i = (ts - rp->start_ns) / rp->slice_ns;
    return i < REPLAY_SLICES ? (unsigned)i : REPLAY_SLICES - 1;
}

void replay_timeline_wait(replay_t *rp, uint64_t end, uint64_t wait)
{
    uint64_t start = wait < end ? end - wait : 0;
    unsigned a = timeline_slice(rp, start), b = timeline_slice(rp, end);
    uint64_t left = wait;
    for (unsigned i = a; i < b; i++) { /* the whole slices' parts; the last gets the rest */
        uint64_t lo = rp->start_ns + i * rp->slice_ns, hi = lo + rp->slice_ns;
        uint64_t part = hi - (start > lo ? start : lo);
        part = part < left ? part : left;
        rp->slices[i].lock_wait_ns += part;
        left -= part;
    }
    rp->slices[b].lock_wait_ns += left;
}

uint64_t replay_cost_steady(const ps_rec_alloc_cost_t *c)
{
    uint64_t timed = 0;
    for (unsigned b = 0; b < PS_COST_BUCKETS; b++)
        timed += c->hist[b];
    if (!c->sampled || !c->calls || timed != c->sampled)
        return c->ns;
    unsigned med = 0;
    for (uint64_t seen = 0; med < PS_COST_BUCKETS; med++) {
        seen += c->hist[med];
        if (seen * 2 >= timed)
            break;
    }
    unsigned cut = med + 6 > REPLAY_COST_OUTLIER_LOG2 ? med + 6 : REPLAY_COST_OUTLIER_LOG2;
    double total = (double)c->ns * (double)c->sampled / (double)c->calls; /* the timed ns */
    /* the kept calls' bounds and their buckets' midpoints (bucket 0: [0, 2)) */
    double out = 0, lo = 0, kept = 0, hi = 2.0 * c->hist[0], mid = c->hist[0];
    for (unsigned b = 0; b < PS_COST_BUCKETS; b++) {
        double edge = b ? (double)(1ull << b) : 0.0;
        if (b >= cut)
            out += (double)c->hist[b] * 1.5 * edge;
        else {
            lo += (double)c->hist[b] * edge;
            hi += b ? (double)c->hist[b] * 2 * edge : 0.0;
            mid += b ? (double)c->hist[b] * 1.5 * edge : 0.0;
            kept += c->hist[b];
        }
    }
    if (out == 0 || kept == 0)
        return c->ns;
    /* the last bucket is open (>= 2^23 ns: a preemption may last 50 ms): with calls there, the
     * outliers' time is unknown and the kept calls' is their buckets' midpoints */
    double in = c->hist[PS_COST_BUCKETS - 1] && cut < PS_COST_BUCKETS ? mid : total - out;
    in = in < lo ? lo : in > hi ? hi : in;
    return (uint64_t)(in / kept * (double)c->calls + 0.5); /* per kept call, x every call */
}

uint64_t replay_cost_typical(const ps_rec_alloc_cost_t *c)
{
    uint64_t timed = 0;
    for (unsigned b = 0; b < PS_COST_BUCKETS; b++)
        timed += c->hist[b];
    if (!c->sampled || !c->calls || timed != c->sampled)
        return c->ns;
    double half = (double)timed / 2.0, seen = 0;
    for (unsigned b = 0; b < PS_COST_BUCKETS; b++) {
        if (!c->hist[b] || seen + c->hist[b] < half) {
            seen += c->hist[b];
            continue;
        }
        double lo = b ? (double)(1ull << b) : 0.0, hi = 2.0 * (double)(1ull << b);
        double med = lo + (hi - lo) * (half - seen) / (double)c->hist[b];
        return (uint64_t)(med * (double)c->calls + 0.5);
    }
    return c->ns;
}

static int record_alloc_cost(state_t *st, const record_t *rec)
{
    replay_t *rp = st->rp;
    const ps_rec_alloc_cost_t *c = &rec->u.alloc_cost;
    uint64_t steady = replay_cost_steady(c);
    rp->have_alloc_cost = true;
    if (rec->aux != PS_COST_ALLOC) {
        rp->release_ns += c->ns;
        rp->release_ns_calls += c->calls;
        rp->release_ns_steady += steady;
        rp->release_ns_typical += replay_cost_typical(c);
        return 0;
    }
    rp->alloc_ns += c->ns;
    rp->alloc_ns_calls += c->calls;
    rp->alloc_ns_steady += steady;
    uint64_t typical = replay_cost_typical(c);
    rp->alloc_ns_typical += typical;
    uint32_t i;
    int rc = state_site(st, c->stack, &i);
    if (rc < 0)
        return rc;
    rp->sites[i].alloc_ns += c->ns;
    rp->sites[i].alloc_ns_calls += c->calls;
    rp->sites[i].alloc_ns_steady += steady;
    rp->sites[i].alloc_ns_typical += typical;
    return 0;
}

int replay_record(void *state, uint32_t tid, const record_t *rec)
{
    if (rec->type == PS_REC_ALLOC_COST)
        return record_alloc_cost(state, rec);
    if (rec->type == PS_REC_LEAK_SCAN || rec->type == PS_REC_LEAK_BLOCKS ||
        rec->type == PS_REC_SNAPSHOT) {
        state_t *st = state;
        int rc = leakaddr_record(&st->rp->leakaddr, tid, rec);
        st->la_due = leakaddr_due(st->rp->leakaddr);
        st->win_w = 0; /* (the window again: event_window) */
        return rc;
    }
    if (rec->type != PS_REC_RSS)
        return 0;
    state_t *st = state;
    replay_t *rp = st->rp;
    replay_slice_t *sl = &rp->slices[state_slice(st, rec->u.rss.ts)];
    if (rec->u.rss.rss_bytes > sl->rss_bytes) {
        sl->rss_bytes = rec->u.rss.rss_bytes;
        sl->rss_recorder_bytes = rec->u.rss.shim_bytes;
    }
    if (!rp->have_rss || rec->u.rss.ts >= rp->final_rss_ts) {
        rp->final_rss_ts = rec->u.rss.ts;
        rp->final_rss_bytes = rec->u.rss.rss_bytes;
        rp->final_shim_bytes = rec->u.rss.shim_bytes;
    }
    if (rec->u.rss.rss_bytes > rp->max_rss_bytes) {
        rp->max_rss_bytes = rec->u.rss.rss_bytes;
        rp->max_rss_shim_bytes = rec->u.rss.shim_bytes;
    }
    rp->have_rss = true;
    return 0;
}

/* replay_events for a trace sampled or not, by_thread or not (constants in each copy: no test
 * of them per event) */
static PS_ALWAYS_INLINE int events_run(state_t *st, const pass_event_t *ev, size_t n,
                                       replay_evres_t *out, const bool sampled,
                                       const bool by_thread, const bool pf)
{
    /* (st->rp once: the block table's stores, bytes, may alias it, so GCC loaded it again
     * after each event's) */
    replay_t *const rp = st->rp;
    /* (counted down: GCC spilled an end pointer, a load and a compare an event; a count is
     * one subtraction in memory) */
    for (const event_t *e = ev; n; n--, e++, out++) {
        /* a scan or snapshot to answer before this event, or another slice */
        if (PS_UNLIKELY(e->ts - st->slice_lo >= st->win_w)) {
            int rc = event_window(st, e->ts);
            if (rc < 0)
                return rc;
        }
        if (pf) /* a block of an event ahead (replay_prefetch) */
            livetab_prefetch_entry(&st->live, st->pf[st->pf_i++]);
        /* (each writes out->live_bytes and out->freed) */
        int rc = e->kind == EV_RELEASE ? event_release(st, rp, e, out, sampled, by_thread)
                                       : event_alloc(st, rp, e, out, sampled, by_thread);
        if (PS_UNLIKELY(rc < 0))
            return rc;
    }
    return 0;
}

/* (the events with a block to prefetch first, then the others: no prefetch test per event; a
 * small table has none, replay_prefetch_on) */
static PS_ALWAYS_INLINE int events_in(state_t *st, const pass_event_t *ev, size_t n,
                                      const bool sampled, const bool by_thread)
{
    replay_evres_t *out = st->rp->evres;
    size_t k = st->pf_n - st->pf_i; /* (pf_i <= pf_n) */
    if (PS_UNLIKELY(k)) {
        k = k < n ? k : n;
        int rc = events_run(st, ev, k, out, sampled, by_thread, true);
        if (rc < 0)
            return rc;
        ev += k;
        out += k;
        n -= k;
    }
    return events_run(st, ev, n, out, sampled, by_thread, false);
}

/* The summary's live blocks (not counted per event): the allocations less the frees, less the
 * blocks double allocations forgot. Made after each batch (the symbol warming reads it between
 * batches, analysis.c) and at replay_end. */
static void replay_live_blocks(replay_t *rp)
{
    rp->live_blocks = rp->allocations - rp->frees - rp->double_allocations;
}

static PS_NOINLINE int events_sampled(state_t *st, const pass_event_t *ev, size_t n)
{
    return events_in(st, ev, n, true, st->by_thread);
}

int replay_events(void *state, const pass_event_t *ev, size_t n)
{
    state_t *st = state;
    int rc = PS_UNLIKELY(st->sampled) ? events_sampled(st, ev, n)
             : st->by_thread          ? events_in(st, ev, n, false, true)
                                      : events_in(st, ev, n, false, false);
    livetab_forget(&st->live); /* (livetab_put_fast and livetab_take_fast left it) */
    replay_live_blocks(st->rp);
    return rc;
}

int replay_event(void *state, const pass_event_t *e)
{
    return replay_events(state, e, 1);
}

int replay_prefetch_on(void *state)
{
    return livetab_large(&((state_t *)state)->live);
}

/* The blocks are prefetched one with each event replay_events takes next, not all at once:
 * the pass hands over the next batch's addresses (PASS_SPAN_BATCH events) before it hands
 * over a batch, and a burst of their lines (two a block at most) filled the core's line fill
 * buffers and stalled it at the prefetch instructions (kvstore 1 M keys, batches of 16:
 * ~11% of the pass thread's cpu-clock samples in replay_prefetch). Their home entries are
 * computed here, at once (livetab_home_entries); what the events did not take yet goes at once
 * with the next call. */
void replay_prefetch(void *state, const pass_event_t *ev, size_t n)
{
    state_t *st = state;
    const livetab_t *t = &st->live;
    while (st->pf_i < st->pf_n)
        livetab_prefetch_entry(t, st->pf[st->pf_i++]);
    size_t now = n > REPLAY_PF_MAX ? n - REPLAY_PF_MAX : 0; /* (the nearest ones) */
    for (size_t i = 0; i < now; i++)
        livetab_prefetch(t, ev[i].ptr); /* (0, a failed allocation's: none) */
    livetab_home_entries(t, &ev[now].ptr, sizeof(*ev), n - now, st->pf);
    st->pf_i = 0;
    st->pf_n = (unsigned)(n - now);
}

int replay_end(void *state, const tracemodel_t *m)
{
    state_t *st = state;
    replay_t *rp = st->rp;
    int rc = la_answer(st, UINT64_MAX); /* what waits for a ts after the last event */
    if (rc < 0)
        return rc;
    slice_leave(st); /* (the current slice's counts) */
    replay_live_blocks(rp);
    for (size_t i = 0; i < rp->nsites; i++) {
        site_end(&rp->sites[i]);
        site_touch(st, &rp->sites[i]);
        replay_hist_merge(&rp->sizes, &rp->sites[i].sizes); /* (before est_finish scales) */
    }
    if (st->sample_n > 0)
        est_finish(st);
    replay_timeline_fill(rp);
    rp->peak_time_ns = rp->peak_bytes ? rp->peak_time_ns - m->start_ns : 0;
    /* what the report needs later is the sites; the live set goes now */
    livetab_free(&st->live);
    u32map_free(&st->site_map);
    free(st->site_of);
    st->site_of = NULL;
    st->site_of_n = 0;
    placements_free(st);
    return 0;
}

void replay_state_free(void *state)
{
    state_t *st = state;
    if (!st)
        return;
    livetab_free(&st->live);
    u32map_free(&st->site_map);
    free(st->site_of);
    placements_free(st);
    free(st);
}

void replay_set_model(replay_t *rp, tracemodel_t *m)
{
    rp->model = m;
    rp->exe = m->exe;
    rp->cmdline = m->cmdline;
    rp->pid = m->pid;
    rp->file_flags = m->file_flags;
    rp->sample_bytes = m->sample_bytes;
    rp->start_ns = m->start_ns;
    rp->first_ts = m->first_ts;
    rp->last_ts = m->last_ts;
    rp->duration_ns = m->duration_ns;
    rp->threads = m->threads;
    rp->crash_signal = m->crash_signal;
    rp->have_end = m->have_end;
    rp->end = m->end;
    rp->chunks = m->chunks;
    rp->chunks_lost = m->chunks_lost;
    rp->records = m->records;
    rp->complete = m->complete;
    memcpy(rp->partial_reason, m->partial_reason, sizeof(rp->partial_reason));
    rp->stacks = m->stacks;
    rp->nstacks = m->nstacks;
    rp->modules = m->modules;
    rp->nmodules = m->nmodules;
}

const replay_stack_t *replay_stack(const replay_t *rp, uint32_t id)
{
    return rp->model ? tracemodel_stack(rp->model, id) : NULL;
}

void replay_free(replay_t *rp)
{
    symwarm_free(rp->symwarm);
    leakaddr_free(rp->leakaddr);
    if (rp->model) {
        tracemodel_free(rp->model);
        free(rp->model);
    }
    free(rp->sites);
    free(rp->errors);
    locks_free(rp->locks);
    memset(rp, 0, sizeof(*rp));
}
