/*
 * pressure.c -- see pressure.h.
 *
 * State, all small: per thread (by tid) a ring of its latest k + 1 allocations (address,
 * time, sequence number) that answers "temporary" and "within K" for a block released now,
 * and the old side of a realloc in flight (a growth chain's step); a map (thread, site) ->
 * the size that thread last released from that site (same-size cycles); the LOCK_ALLOC
 * records, merged at the end. No address table: a released block's size, time, site and
 * allocation function come from the replay (replay_t.evres), which sees each event (or
 * batch of events) just before this analysis does.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/pressure.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "analyses/replay.h"
#include "core/prefetch.h"
#include "core/u32map.h"
#include "perfshim/compiler.h"
#include "perfshim/errors.h"
#include "perfshim/mix.h"

typedef struct ring_s {
    uint64_t ptr, ts;
} ring_t;

#define STEPS_KEPT 8 /* a thread's latest realloc steps whose blocks a next step continues */

typedef struct thr_s {
    uint32_t tid;
    uint64_t nalloc; /* its allocations so far (realloc's new side included) */
    /* its latest allocations in order, the newest at ring[pos - 1], the k + 1 latest from
     * ring[pos - k - 1] (zero before its first ones: ring[0..k] is zero at first); at the
     * end (cap entries), the latest k + 1 are moved to the front: no wrap test, one store
     * per allocation, a block's place a constant distance back. cap: k + 1 + RING_FIRST (or
     * k + 1) at first, pstate_t.ring_cap after RING_GROW_AT allocations (a thread that
     * allocates little keeps a small ring) */
    ring_t *ring;
    size_t pos, cap;
    uint64_t last_ts; /* its latest allocation's time */
    bool unsorted;    /* an allocation's time was below the one before (ring_find) */
    bool re_pending; /* its latest event released a realloc's old block */
    bool re_cont;    /* that block was made by one of its latest STEPS_KEPT steps */
    uint64_t re_old_size;
    ring_t steps[STEPS_KEPT]; /* the blocks its latest steps made (ptr, ts), at nsteps % 8 */
    unsigned nsteps;
} thr_t;

/* A site's first releasing thread + 1 (thr, 0: none yet), and the size that thread last
 * released there + 1 (size; 0: none); the other threads' sizes: the ss_ map. */
typedef struct ssx_s {
    uint64_t size;
    uint32_t thr;
} ssx_t;

typedef struct lockalloc_s {
    uint32_t stack, lock_stack;
    uint64_t lock, count, bytes;
} lockalloc_t;

/* allocations between two moves of a ring's latest k + 1 to its front (at least; k + 1 when
 * larger): a ring of 73 entries (1.1 KiB) a thread with the default k; RING_FIRST (or k + 1)
 * before its thread's RING_GROW_AT-th allocation (18 entries, 288 bytes) */
#define RING_SPAN 64
#define FAST_WAIT_MAX 64
#define FAST_MIN_RUN 8
#define RING_FIRST 8
#define RING_GROW_AT 1024
#define THR_SCAN_MAX 256 /* other threads' rings searched for a block released across */

/* The analysis runs on a thread of its own (the pass's thread hands it the events, copied,
 * and the replay's results for them, which the replay wrote in the block, a block at a time:
 * pq_aim) where it has a core of its own: three CPUs or more (the pass's thread, the chunk
 * decoder's, this one). On two, the blocks run on the pass's thread, which then does ~50
 * instructions an event more but no hand-off: the copied events' lines crossing cores, the
 * wake-ups, and the thread taking the decoder's core. Measured on 2 cores, interleaved
 * (tenth session): kvstore 1 M keys 0.67 -> 0.57 s wall (median of 10 pairs), churn
 * 8 M events 0.39 -> 0.36 s. Started at the first full block (a small trace never starts
 * it); PERFSHIM_PRESSURE_THREAD=1 or 0 starts it or not whatever the CPUs (tests: both ways
 * give the same results; PERFSHIM_NO_PREFETCH: never). Results are the same: one thread takes
 * every event, in order. */
#define PQ_EVENTS 512 /* events per block */
#define PQ_BLOCKS 16  /* blocks in the ring (640 KiB) */
/* A sleeping thread is woken when this many blocks wait (fewer wake-ups: it runs faster than
 * the pass, so it sleeps between most blocks; each wake-up on 2 cores also tends to preempt
 * the pass's thread). Three quarters of the ring: on an 8 M-event churn trace ~1,200 sleeps
 * instead of ~1,700 with 4 of 8 blocks of 1,024, the same memory. */
#define PQ_WAKE 12
/* A full ring: the pass's thread waits until this many blocks are free again (woken once, not
 * at every block taken: the thread would fill the one free slot and wait again). */
#define PQ_ROOM 4

_Static_assert(PQ_EVENTS >= 2 * PASS_BATCH_MAX, "a block takes at least a batch");
_Static_assert(sizeof(pass_event_t) == sizeof(replay_evres_t), "one stride (run_fast)");

typedef struct pq_block_s {
    size_t n;
    pass_event_t ev[PQ_EVENTS];
    replay_evres_t res[PQ_EVENTS];
} pq_block_t;


/* The latest events' window (pressure_run): [lo, hi), the window's times, w its index
 * (SIZE_MAX: none yet); its sums are added to P->windows when the events leave it and at a
 * block's end: no division and no store to the windows per event. */
typedef struct wacc_s {
    uint64_t lo, hi;
    size_t w;
} wacc_t;

typedef struct pstate_s {
    pressure_t *P;
    replay_t *rp;
    bool cross_from_flag; /* the FREE records say whether they cross threads (else: the replay) */
    uint64_t start_ns;
    size_t sites_cap;
    uint32_t *site_of; /* stack id -> site index + 1, ids < site_of_n */
    size_t site_of_n;
    u32map_t site_map; /* the other ids */
    thr_t *thr;
    size_t nthr, thr_cap;
    u32map_t thr_map;
    size_t thr_last;
    uint64_t *ss_key, *ss_val; /* (thread index << 32 | stack id) -> size + 1; val 0: empty */
    size_t ss_cap, ss_n;
    lockalloc_t *la;
    size_t nla, la_cap;
    uint64_t *live_end; /* per window: the live heap after its last event (has_ev) */
    bool *has_ev;
    wacc_t win;      /* the latest events' window (pressure_run), its sums added to P->windows */
    ssx_t *ssx;      /* per site: its first releasing thread and what it last released */
    size_t ring_cap; /* the threads' rings (thr_t.ring): their size, k + 1 + RING_SPAN or more */
    /* after a run_fast try that took fewer than FAST_MIN_RUN events (a realloc chain's events,
     * sites or threads that alternate: a try costs about as much as that many events save),
     * the next events are not tried, FAST_WAIT_MAX at most (fast_skip: how many more;
     * fast_wait: how many after the next such try) */
    unsigned fast_skip, fast_wait;
    /* a run_fast try stopped early at another site of its thread (sites that alternate:
     * kvstore's node, key and value): from then on run_fast goes on across sites (its multi
     * copies), and is tried after a change of site too (not before: churn's one-site loop
     * keeps its site's counts in locals, as it was) */
    bool fast_multi;
    /* the hand-off (PQ_EVENTS): the ring, the block the pass's thread fills; the blocks
     * handed over (counted by the pass's thread only) and taken (by the analysis's thread
     * only): a single-producer single-consumer ring, no lock (a mutex and conditions, taken at
     * every block and at each wake-up, were contended: ~1,700 blocking futex waits, most of a
     * report's voluntary context switches, on an 8 M-event churn). A side that waits says so
     * (pq_sleeping: the analysis's thread, for blocks; pq_waiting: the pass's thread, for room)
     * before it looks at the other side's count a last time, and sleeps on a futex word whose
     * value it read before that (pq_wake; pq_done); the other side moves the word, then looks
     * at the flag (all sequentially consistent: one of the two sees the other's store), so no
     * wake-up is lost. err: the first error of a block run there. */
    pq_block_t *pq;
    pq_block_t *pq_cur;
    _Atomic uint32_t pq_put, pq_done, pq_wake; /* (counts modulo 2^32: at most PQ_BLOCKS apart) */
    pthread_t pq_th;
    bool pq_threaded, pq_tried;
    /* once the first full block ran here (no thread for it): each batch is run as the pass
     * hands it over, its events where they are and the replay's results in pq_cur->res (not
     * copied into the block: ~4.4 instructions an event on churn) */
    bool pq_direct;
    /* pressure_run's latest event's thread (run_tid, UINT64_MAX: none; its index run_ti) and
     * site (run_id, UINT64_MAX: none; its index run_si), and whether it changed them: the next
     * call goes on from there (a call a batch, pq_direct: its first event taken as the one
     * before left it, not looked up again) */
    uint64_t run_tid, run_id;
    size_t run_ti, run_si;
    bool run_switched;
    _Atomic bool pq_stop, pq_sleeping, pq_waiting;
    _Atomic int pq_err;
} pstate_t;

static bool is_realloc(uint8_t fn)
{
    return fn == PS_FN_REALLOC || fn == PS_FN_REALLOCARRAY;
}

size_t pressure_window(const pressure_t *p, uint64_t start_ns, uint64_t ts)
{
    if (ts <= start_ns || !p->window_ns || !p->nwindows)
        return 0;
    uint64_t i = (ts - start_ns) / p->window_ns;
    return i < p->nwindows ? (size_t)i : p->nwindows - 1;
}

void pressure_peaks(pressure_t *p)
{
    p->npeak_windows = 0;
    for (size_t i = 0; i < p->nwindows; i++) {
        uint64_t a = p->windows[i].allocations;
        if (!a)
            continue;
        size_t j = p->npeak_windows;
        while (j > 0 && p->windows[p->peak_windows[j - 1]].allocations < a)
            j--;
        if (j >= PRESSURE_PEAK_WINDOWS)
            continue;
        size_t n = p->npeak_windows < PRESSURE_PEAK_WINDOWS ? p->npeak_windows
                                                            : PRESSURE_PEAK_WINDOWS - 1;
        memmove(&p->peak_windows[j + 1], &p->peak_windows[j], (n - j) * sizeof(size_t));
        p->peak_windows[j] = i;
        if (p->npeak_windows < PRESSURE_PEAK_WINDOWS)
            p->npeak_windows++;
    }
    p->peak_window = p->npeak_windows ? p->peak_windows[0] : 0;
}

void pressure_free(pressure_t *p)
{
    if (!p)
        return;
    free(p->windows);
    free(p->sites);
    free(p);
}

/* ---- sites and threads -------------------------------------------------------------- */

#define SITE_DIRECT_MAX (1u << 20)

static pressure_site_t *site_get_slow(pstate_t *S, uint32_t id);

/* The site of stack id, made at its first use (NULL: out of memory). */
static inline pressure_site_t *site_get(pstate_t *S, uint32_t id)
{
    if (PS_LIKELY(id < S->site_of_n) && S->site_of[id])
        return &S->P->sites[S->site_of[id] - 1];
    return site_get_slow(S, id);
}

static PS_NOINLINE pressure_site_t *site_get_slow(pstate_t *S, uint32_t id)
{
    pressure_t *P = S->P;
    if (id >= SITE_DIRECT_MAX) {
        uint32_t i = u32map_get(&S->site_map, id);
        if (i != U32MAP_NONE)
            return &P->sites[i];
    }
    if (P->nsites == S->sites_cap) {
        size_t cap = S->sites_cap ? S->sites_cap * 2 : 64;
        pressure_site_t *v = realloc(P->sites, cap * sizeof(*v));
        if (v)
            P->sites = v;
        ssx_t *x = realloc(S->ssx, cap * sizeof(*x));
        if (x)
            S->ssx = x;
        if (!v || !x)
            return NULL;
        S->sites_cap = cap;
    }
    uint32_t i = (uint32_t)P->nsites;
    if (id < SITE_DIRECT_MAX) {
        if (id >= S->site_of_n) {
            size_t n = S->site_of_n ? S->site_of_n : 256;
            while (n <= id)
                n *= 2;
            uint32_t *a = realloc(S->site_of, n * sizeof(*a));
            if (!a)
                return NULL;
            memset(a + S->site_of_n, 0, (n - S->site_of_n) * sizeof(*a));
            S->site_of = a;
            S->site_of_n = n;
        }
        S->site_of[id] = i + 1;
    } else if (u32map_put(&S->site_map, id, i) < 0) {
        return NULL;
    }
    S->ssx[P->nsites] = (ssx_t){0, 0};
    pressure_site_t *s = &P->sites[P->nsites++];
    memset(s, 0, sizeof(*s));
    s->stack_id = id;
    s->size_min = UINT32_MAX;
    return s;
}

static thr_t *thr_get(pstate_t *S, uint32_t tid)
{
    if (S->thr_last < S->nthr && S->thr[S->thr_last].tid == tid)
        return &S->thr[S->thr_last];
    uint32_t i = u32map_get(&S->thr_map, tid);
    if (i == U32MAP_NONE) {
        if (S->nthr == S->thr_cap) {
            size_t cap = S->thr_cap ? S->thr_cap * 2 : 16;
            thr_t *v = realloc(S->thr, cap * sizeof(*v));
            if (!v)
                return NULL;
            S->thr = v;
            S->thr_cap = cap;
        }
        thr_t *t = &S->thr[S->nthr];
        memset(t, 0, sizeof(*t));
        t->tid = tid;
        t->pos = (size_t)S->P->k + 1;
        /* (k + 1 + the larger of RING_FIRST and k + 1: a move per k + 1 allocations at most) */
        t->cap = t->pos + (t->pos > RING_FIRST ? t->pos : RING_FIRST);
        if (t->cap > S->ring_cap)
            t->cap = S->ring_cap;
        if (!(t->ring = calloc(t->cap, sizeof(ring_t))))
            return NULL;
        i = (uint32_t)S->nthr;
        if (u32map_put(&S->thr_map, tid, i) < 0) {
            free(t->ring);
            return NULL;
        }
        S->nthr++;
    }
    S->thr_last = i;
    return &S->thr[i];
}

/* ---- (thread, site) -> size last released ------------------------------------------- */

/* The slot of key in a table of cap (a power of two) keys and values. */
static size_t ss_find(const uint64_t *keys, const uint64_t *vals, size_t cap, uint64_t key)
{
    size_t m = cap - 1, i = (size_t)ps_mix64(key) & m;
    while (vals[i] && keys[i] != key)
        i = (i + 1) & m;
    return i;
}

static size_t ss_slot(const pstate_t *S, uint64_t key)
{
    return ss_find(S->ss_key, S->ss_val, S->ss_cap, key);
}

static uint64_t ss_get(const pstate_t *S, uint64_t key)
{
    return S->ss_cap ? S->ss_val[ss_slot(S, key)] : 0;
}

static int ss_put(pstate_t *S, uint64_t key, uint64_t val)
{
    if ((S->ss_n + 1) * 4 > S->ss_cap * 3) {
        /* the new arrays in locals, not a copy of *S: the pass's thread writes the hand-off
         * fields of *S meanwhile (this runs on the analysis's own thread) */
        size_t cap = S->ss_cap ? S->ss_cap * 2 : 256;
        uint64_t *keys = calloc(cap, sizeof(uint64_t)), *vals = calloc(cap, sizeof(uint64_t));
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return -PS_E_NOMEM;
        }
        for (size_t i = 0; i < S->ss_cap; i++)
            if (S->ss_val[i]) {
                size_t j = ss_find(keys, vals, cap, S->ss_key[i]);
                keys[j] = S->ss_key[i];
                vals[j] = S->ss_val[i];
            }
        free(S->ss_key);
        free(S->ss_val);
        S->ss_key = keys;
        S->ss_val = vals;
        S->ss_cap = cap;
    }
    size_t i = ss_slot(S, key);
    if (!S->ss_val[i])
        S->ss_n++;
    S->ss_key[i] = key;
    S->ss_val[i] = val;
    return 0;
}

/* ---- the events ---------------------------------------------------------------------- */

/* How many allocations of its thread followed the block (ptr, allocated at ts) in t's
 * latest k + 1, newest first: 1 found (*others set), 0 not there (more than k, or another
 * thread's). */
static PS_ALWAYS_INLINE int ring_scan_at(const ring_t *top, uint64_t nalloc, uint64_t k1,
                                         uint64_t ptr, uint64_t ts, uint64_t *others)
{
    /* the latest n, newest first: top[-1] down */
    const uint64_t n = nalloc < k1 ? nalloc : k1;
    for (uint64_t d = 0; d < n; d++)
        if (top[-1 - (ptrdiff_t)d].ptr == ptr && top[-1 - (ptrdiff_t)d].ts == ts) {
            *others = d;
            return 1;
        }
    return 0;
}

static int ring_scan(const pstate_t *S, const thr_t *t, uint64_t ptr, uint64_t ts, uint64_t *others)
{
    return ring_scan_at(t->ring + t->pos, t->nalloc, (uint64_t)S->P->k + 1, ptr, ts, others);
}

/* Room for the next allocation of t's ring: its latest k + 1 moved to the front when full.
 * Returns the slot. */
static PS_NOINLINE ring_t *ring_wrap(const pstate_t *S, thr_t *t)
{
    const size_t k1 = (size_t)S->P->k + 1;
    ring_t *v = NULL;
    if (t->cap < S->ring_cap && t->nalloc >= RING_GROW_AT &&
        (v = malloc(S->ring_cap * sizeof(ring_t)))) { /* (else: the small one, wrapped) */
        memcpy(v, t->ring + t->pos - k1, k1 * sizeof(ring_t));
        free(t->ring);
        t->ring = v;
        t->cap = S->ring_cap;
    } else {
        memmove(t->ring, t->ring + t->pos - k1, k1 * sizeof(ring_t));
    }
    t->pos = k1;
    return t->ring + k1;
}

/* ring_scan, after a test that rules most blocks out: with times in allocation order (the
 * common case), a block allocated before the oldest of the latest k + 1 is not there (most
 * releases, on a churn). Before k + 1 allocations that slot is one not written yet (time 0:
 * the test lets every block through to the scan). */
static inline int ring_find(const pstate_t *S, const thr_t *t, uint64_t ptr, uint64_t ts,
                            uint64_t *others)
{
    if (!t->unsorted && ts < t->ring[t->pos - S->P->k - 1].ts)
        return 0;
    return ring_scan(S, t, ptr, ts, others);
}

/* A window's share of the latest events: added to window w (allocations a, bytes b, releases
 * rl, bytes died young dy; the live heap: the most, max, and after the latest, last). */
static PS_NOINLINE void window_add(pstate_t *S, size_t w, uint64_t a, uint64_t b, uint64_t rl,
                                   uint64_t dy, uint64_t max, uint64_t last)
{
    pressure_window_t *win = &S->P->windows[w];
    win->allocations += a;
    win->bytes += b;
    win->releases += rl;
    win->bytes_died_young += dy;
    if (max > win->live_bytes_max)
        win->live_bytes_max = max;
    S->live_end[w] = last;
    S->has_ev[w] = true;
}

/* An event at ts outside the window of acc (its sums added first, by the caller): acc moves
 * to ts's window; when ts is at or before the start (or there are no window times), to
 * window 0 with an empty range [0, 0), so that the next event, outside it, adds this one's
 * sums there alone and moves acc again (the windows' sums add up: a window's sums added in
 * pieces are the same). */
static PS_NOINLINE void wacc_move(pstate_t *S, wacc_t *acc, uint64_t ts)
{
    const pressure_t *P = S->P;
    size_t w = pressure_window(P, S->start_ns, ts);
    acc->w = w;
    if (ts > S->start_ns && P->window_ns) {
        acc->lo = S->start_ns + w * P->window_ns;
        acc->hi = w == P->nwindows - 1 ? UINT64_MAX : acc->lo + P->window_ns;
    } else {
        acc->lo = acc->hi = 0;
    }
}

/* A realloc's new side after its old side (t->re_pending): a growth chain's step. */
static PS_NOINLINE void realloc_step(thr_t *t, pressure_site_t *s, const pass_event_t *e)
{
    s->realloc_steps++;
    s->realloc_bytes_copied += t->re_old_size;
    if (!t->re_cont)
        s->realloc_chains++;
    t->steps[t->nsteps++ % STEPS_KEPT] = (ring_t){e->ptr, e->ts};
    if (e->size > s->realloc_final_max)
        s->realloc_final_max = e->size;
}

/* A realloc's old side, released by t: whether that block was made by one of its latest
 * steps (t->re_cont). */
static PS_NOINLINE void realloc_release(thr_t *t, const pass_event_t *e, const replay_released_t *b)
{
    for (unsigned j = 0; is_realloc(b->alloc_fn) && j < STEPS_KEPT; j++)
        if (t->steps[j].ptr == e->ptr && t->steps[j].ts == b->alloc_ts)
            t->re_cont = true;
}

/* The release's allocating thread's allocations since, when its own thread's ring does not
 * have it (a release that crossed threads, or may have): the other threads' rings. */
static PS_NOINLINE int ring_find_others(const pstate_t *S, const thr_t *t, uint64_t ptr,
                                        uint64_t ts, uint64_t *others)
{
    int found = 0;
    for (size_t i = 0; i < S->nthr && i < THR_SCAN_MAX && !found; i++)
        if (&S->thr[i] != t)
            found = ring_find(S, &S->thr[i], ptr, ts, others);
    return found;
}

/* GCC's straight-line vectorizer packs pairs of the loop's counters (an allocation's count and
 * bytes, a ring entry's address and time) into vector registers: five instructions for two
 * adds or stores (callgrind, churn: 4 fewer instructions per event without it). */
#if defined(__GNUC__) && !defined(__clang__)
#define PRESSURE_NO_SLP __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define PRESSURE_NO_SLP
#endif

/* The sums of the window's latest events (pressure_run's; run_fast adds to them and to its
 * site what it counts): allocations, bytes, releases, bytes died young; the live heap, the
 * most and after the latest event. */
typedef struct wsum_s {
    uint64_t allocs, bytes, rels, died, max, last;
} wsum_t;

/* The common case, events of one thread and one site in one window (a churn's), from e until
 * the first that is not (another thread, site or window, a realloc, a failed allocation, a
 * release that crossed threads, one whose (thread, site) size has no entry here yet, an
 * allocation's time below its thread's latest); returns that event, or end: pressure_run
 * takes it. Counts exactly as pressure_run would, with the thread's and the site's state in
 * locals: no store per event but the ring's and the size's. ssp: the size t last released
 * from s + 1 (ssx_t.size, or the ss_ map's entry; own: it may be written; else a zero). The
 * flags (own, from_flag, multi) are constants in each copy (run_fast). multi: also across
 * sites of t's (below), the site's counts stored at each event (kvstore, 300 k keys: the
 * analysis's instructions 213 -> 173 M, the report's main thread's 833 -> 793 M). */
static PS_ALWAYS_INLINE const pass_event_t *
run_fast_t(const pstate_t *S, thr_t *t, pressure_site_t *s, uint64_t *ssp, uint32_t id,
           uint64_t lo, uint64_t width, const pass_event_t *e, const replay_evres_t *r,
           const pass_event_t *end, wsum_t *io, const bool own, const bool from_flag,
           const bool multi)
{
    const uint64_t short_ns = S->P->short_ns, k1 = (uint64_t)S->P->k + 1;
    const uint32_t tid = t->tid;
    ring_t *ring_end = t->ring + t->cap;
    ring_t *p = t->ring + t->pos, *p0 = p; /* the next allocation's slot; where it began */
    uint64_t na = 0;                       /* allocations before the latest ring_wrap */
    /* an allocation's time is at least ts_min, its thread's latest allocation's and the
     * window's start (one test for both; then the latest allocation's, at least lo) */
    uint64_t ts_min = t->last_ts > lo ? t->last_ts : lo;
    const uint64_t hi = lo + width; /* (lo + width: at most UINT64_MAX, acc's hi) */
    uint64_t nb = 0, nd = 0, nshort = 0, ntemp = 0, nwithin = 0, nunfreed = 0;
    uint64_t w_max = io->max;
    /* the site's smallest size and the size t last released from it + 1, in locals (the
     * ring's stores may alias them: GCC read both again at each allocation), stored at the
     * end (*ssp only where own: else nothing writes it) */
    uint32_t size_min = s->size_min;
    uint64_t last_sz = *ssp;
    /* r[i] is e[i]'s result: one pointer moves, r is at a constant distance from it (the two
     * arrays have the same stride; a block's, or the pass's batch and rp->evres) */
    const ptrdiff_t roff = (const char *)r - (const char *)e;
#define RES(e) ((const replay_evres_t *)(const void *)((const char *)(e) + roff))
    const pass_event_t *const e0 = e;
    /* multi: the run goes on at another site (nid) named already whose first releasing thread
     * is t or none yet (kvstore's node, key and value, one after the other), its counts added
     * to the site at each event, as pressure_run does (not in locals: a flush at each change
     * of site cost more); sown: t's size there in *ssp (else none: its releases stop the run).
     * Else the run stops at another site. */
    const uint32_t tkey = (uint32_t)(t - S->thr) + 1;
    bool sown = own;
    uint64_t no_sz = 0;
#define SITE_TO(nid)                                                                               \
    if (PS_UNLIKELY((nid) != id)) {                                                                \
        uint32_t si1, xt;                                                                          \
        if (!multi || (nid) >= S->site_of_n || !(si1 = S->site_of[(nid)]) ||                       \
            ((xt = S->ssx[si1 - 1].thr) != tkey && xt))                                            \
            break;                                                                                 \
        s = &S->P->sites[si1 - 1];                                                                 \
        sown = xt != 0;                                                                            \
        ssp = sown ? &S->ssx[si1 - 1].size : &no_sz;                                               \
        id = (nid);                                                                                \
    }
    for (; e < end; e++) {
        if (e->tid != tid)
            break;
        const unsigned kind = e->kind;
        const uint64_t ts = e->ts;
        if (kind == PASS_EV_ALLOC) {
            if (multi)
                SITE_TO(e->stack)
            /* (the one-site test as before in the others: one instruction fewer on churn) */
            if ((!multi && e->stack != id) || ts < ts_min || ts >= hi || is_realloc(e->fn))
                break;
            const uint64_t size = e->size, live = RES(e)->live_bytes;
            const uint64_t last = multi ? *ssp : last_sz;
            nb += size;
            if (multi) {
                s->allocations++;
                s->bytes += size;
                if (size < s->size_min)
                    s->size_min = (uint32_t)size;
            } else if (PS_UNLIKELY(size < size_min)) { /* (then below UINT32_MAX) */
                size_min = (uint32_t)size;
            }
            if (PS_UNLIKELY(last == size + 1) && last)
                s->same_size_cycles++;
            ts_min = ts;
            if (PS_UNLIKELY(p == ring_end)) {
                na += (uint64_t)(p - p0);
                t->pos = (size_t)(p - t->ring);
                p = p0 = ring_wrap(S, t);
                ring_end = t->ring + t->cap; /* (a ring that grew moved) */
            }
            *p++ = (ring_t){e->ptr, ts};
            if (live > w_max)
                w_max = live;
        } else if (kind == PASS_EV_RELEASE) {
            const replay_evres_t *rr = RES(e);
            if (!rr->freed) {
                nunfreed++; /* (its thread's re_pending: false, below) */
                continue;
            }
            const replay_released_t *b = &rr->released;
            const bool cross =
                from_flag ? (e->flags & PS_FREE_F_CROSS_THREAD) != 0 : b->cross_thread;
            if (multi)
                SITE_TO(b->stack_id)
            if (!sown || (!multi && b->stack_id != id) || ts - lo >= width || is_realloc(e->fn) ||
                cross)
                break;
            const uint64_t size = b->size, ats = b->alloc_ts, live = rr->live_bytes;
            /* short-lived: ts - ats <= short_ns, or ts before ats (a lifetime of 0: the
             * difference wraps, above ts) */
            const uint64_t life = ts - ats;
            if (life <= short_ns || life > ts) {
                if (multi) {
                    s->short_lived++;
                    s->short_lived_bytes += size;
                } else {
                    nshort++;
                }
                nd += size;
            }
            uint64_t others;
            if (PS_UNLIKELY(ats >= p[-(ptrdiff_t)k1].ts) &&
                ring_scan_at(p, t->nalloc + na + (uint64_t)(p - p0), k1, e->ptr, ats, &others)) {
                if (multi) {
                    s->temporary += others == 0;
                    s->within_k++;
                } else {
                    ntemp += others == 0;
                    nwithin++; /* (others < k + 1: the scan's) */
                }
            }
            if (multi) {
                s->releases++;
                *ssp = size + 1;
            } else {
                last_sz = size + 1;
            }
            if (live > w_max)
                w_max = live;
        } else {
            break; /* failed: it leaves re_pending as it is */
        }
    }
#undef SITE_TO
    if (!multi) {
        s->size_min = size_min;
        if (own)
            *ssp = last_sz;
    }
    na += (uint64_t)(p - p0);
    const uint64_t ne = (uint64_t)(e - e0);
    if (ne) {
        t->re_pending = false;
        /* the live heap after the latest counted event (not an unfreed release) */
        for (const pass_event_t *q = e; q-- > e0;)
            if (q->kind == PASS_EV_ALLOC || RES(q)->freed) {
                io->last = RES(q)->live_bytes;
                break;
            }
    }
#undef RES
    t->nalloc += na;
    t->pos = (size_t)(p - t->ring);
    if (na)
        t->last_ts = ts_min; /* (the latest allocation's: ts_min moved to it) */
    const uint64_t nr = ne - na - nunfreed;
    if (!multi) {
        s->short_lived += nshort;
        s->temporary += ntemp;
        s->within_k += nwithin;
        s->allocations += na;
        s->bytes += nb;
        s->releases += nr;
        s->short_lived_bytes += nd;
    }
    io->allocs += na;
    io->bytes += nb;
    io->rels += nr;
    io->died += nd;
    io->max = w_max;
    return e;
}

/* run_fast_t for a thread with its times in order (else: none, pressure_run takes each
 * event), own or not, the cross-thread flag from the FREE records or the replay. */
static PS_NOINLINE PRESSURE_NO_SLP const pass_event_t *
run_fast(const pstate_t *S, thr_t *t, pressure_site_t *s, uint64_t *ssp, bool own, uint32_t id,
         uint64_t lo, uint64_t width, const pass_event_t *e, const replay_evres_t *r,
         const pass_event_t *end, wsum_t *io)
{
    if (t->unsorted)
        return e;
#define RF(o, f, m) run_fast_t(S, t, s, ssp, id, lo, width, e, r, end, io, o, f, m)
    if (S->fast_multi) {
        if (S->cross_from_flag)
            return own ? RF(true, true, true) : RF(false, true, true);
        return own ? RF(true, false, true) : RF(false, false, true);
    }
    if (S->cross_from_flag)
        return own ? RF(true, true, false) : RF(false, true, false);
    return own ? RF(true, false, false) : RF(false, false, false);
#undef RF
}

/* Events ev[0..n) with the replay's results r[0..n) (what the replay did with each: the
 * released block's size, time, site and function, the live heap after it). The state the
 * loop reads per event is held in locals (the sites' stores would make the compiler load it
 * again), read again after a call that may move it (a new site or thread). The largest size
 * of a site is not counted here: the replay's histogram of its sizes has it (pressure_end). */
PRESSURE_NO_SLP static int pressure_run(pstate_t *S, const pass_event_t *ev,
                                        const replay_evres_t *r, size_t n)
{
    pressure_t *P = S->P;
    const uint64_t short_ns = P->short_ns;
    const bool have_cross = P->have_cross_thread;
    const bool from_flag = S->cross_from_flag;
    const size_t kk = P->k;
    wacc_t acc = S->win;
    /* the window [w_lo, w_lo + w_width): one unsigned test for both ends */
    uint64_t w_lo = acc.lo, w_width = acc.hi - acc.lo;
    /* the window's sums, in locals (no flag for "an event was counted": each counts as one
     * allocation or one release) */
    uint64_t w_allocs = 0, w_bytes = 0, w_rels = 0, w_died = 0, w_max = 0, w_last = 0;
#define WACC_FLUSH(w)                                                                              \
    do {                                                                                           \
        if (w_allocs | w_rels)                                                                     \
            window_add(S, (w), w_allocs, w_bytes, w_rels, w_died, w_max, w_last);                  \
        w_allocs = w_bytes = w_rels = w_died = w_max = 0;                                          \
    } while (0)
    /* the latest event's thread (a new one may move S->thr: looked up again), the call
     * before's at first */
    thr_t *t = S->run_tid != UINT64_MAX ? &S->thr[S->run_ti] : NULL;
    uint32_t tkey = t ? (uint32_t)S->run_ti + 1 : 0; /* its index + 1 (ssx_t.thr's value) */
    uint64_t tid = t ? S->run_tid : UINT64_MAX;      /* its tid (none yet: no event's) */
    uint64_t last_id = S->run_id; /* the latest event's site: stack id, and its site, */
    pressure_site_t *s = last_id != UINT64_MAX ? &P->sites[S->run_si] : NULL; /* and ssx */
    ssx_t *x = s ? &S->ssx[S->run_si] : NULL; /* entry (pointers, read again from S and P
                                               * when the site changes, as a new site may
                                               * move them) */
    int rc = 0;
#define SITE_SWITCH(id)                                                                            \
    if (PS_UNLIKELY((id) != last_id)) { /* (a churn's events: one site after the other) */         \
        size_t si;                                                                                 \
        if (PS_LIKELY((id) < S->site_of_n) && S->site_of[(id)]) {                                  \
            si = S->site_of[(id)] - 1;                                                             \
        } else {                                                                                   \
            const pressure_site_t *ns = site_get_slow(S, (id));                                    \
            if (!ns) {                                                                             \
                rc = -PS_E_NOMEM;                                                                  \
                s = NULL;                                                                          \
                break;                                                                             \
            }                                                                                      \
            si = (size_t)(ns - P->sites);                                                          \
        }                                                                                          \
        s = &P->sites[si];                                                                         \
        x = &S->ssx[si];                                                                           \
        last_id = (id);                                                                            \
        switched = true;                                                                           \
    }
#define WINDOW_AT(ts)                                                                              \
    if (PS_UNLIKELY((ts) - w_lo >= w_width)) { /* [lo, hi) of acc: it moves */                     \
        WACC_FLUSH(acc.w);                                                                         \
        wacc_move(S, &acc, (ts));                                                                  \
        w_lo = acc.lo;                                                                             \
        w_width = acc.hi - acc.lo;                                                                 \
    }                                                                                              \
    {                                                                                              \
        const uint64_t live = r->live_bytes;                                                       \
        if (live > w_max)                                                                          \
            w_max = live;                                                                          \
        w_last = live;                                                                             \
    }
    const pass_event_t *const ev_end = ev + n;
    static uint64_t no_size; /* (run_fast's ssp without an entry: stays 0) */
    bool switched = S->run_switched; /* the latest event changed the thread or the site */
    for (const pass_event_t *e = ev; e < ev_end; e++, r++) {
        if (S->fast_skip) {
            S->fast_skip--;
        } else if ((!switched || S->fast_multi) && x) {
            /* the same thread and site as the event before: the run (x: a site named
             * already; releases of no live block, first in a block, name none) */
            uint64_t *ssp = &no_size;
            bool own = false;
            if (x->thr == tkey) {
                ssp = &x->size;
                own = true;
            } else if (x->thr && S->ss_cap) {
                size_t i = ss_slot(S, (uint64_t)(tkey - 1) << 32 | last_id);
                if (S->ss_val[i]) {
                    ssp = &S->ss_val[i];
                    own = true;
                }
            }
            wsum_t F = {w_allocs, w_bytes, w_rels, w_died, w_max, w_last};
            const pass_event_t *stop =
                run_fast(S, t, s, ssp, own, (uint32_t)last_id, w_lo, w_width, e, r, ev_end, &F);
            w_allocs = F.allocs;
            w_bytes = F.bytes;
            w_rels = F.rels;
            w_died = F.died;
            w_max = F.max;
            w_last = F.last;
            if (stop - e < FAST_MIN_RUN) { /* few taken: wait 1, 2, 4 .. FAST_WAIT_MAX events */
                if (!S->fast_multi && stop < ev_end && stop->tid == tid) {
                    const replay_evres_t *rs = r + (stop - e);
                    const uint64_t nid = stop->kind == PASS_EV_ALLOC ? stop->stack
                                         : stop->kind == PASS_EV_RELEASE && rs->freed
                                             ? rs->released.stack_id
                                             : last_id;
                    if (nid != last_id)
                        S->fast_multi = true;
                }
                S->fast_wait = S->fast_wait ? S->fast_wait * 2 : 1;
                if (S->fast_wait > FAST_WAIT_MAX)
                    S->fast_wait = FAST_WAIT_MAX;
                S->fast_skip = S->fast_wait;
            } else {
                S->fast_wait = 0;
            }
            r += stop - e;
            e = stop;
            if (e == ev_end)
                break;
        }
        switched = false;
        const unsigned kind = e->kind;
        if (PS_UNLIKELY(e->tid != tid)) {
            if (kind == PASS_EV_FAILED)
                continue;
            if (!(t = thr_get(S, e->tid))) {
                rc = -PS_E_NOMEM;
                break;
            }
            tkey = (uint32_t)(t - S->thr) + 1;
            tid = e->tid;
            switched = true;
        }
        if (kind == PASS_EV_ALLOC) {
            const uint32_t id = e->stack;
            SITE_SWITCH(id)
            const uint64_t ts = e->ts;
            WINDOW_AT(ts)
            const uint64_t size = e->size;
            s->allocations++; /* (P's totals: the sites' sums, pressure_end) */
            s->bytes += size;
            w_allocs++;
            w_bytes += size;
            if (size < s->size_min) /* (then below UINT32_MAX) */
                s->size_min = (uint32_t)size;
            if (PS_UNLIKELY(is_realloc(e->fn))) {
                if (t->re_pending)
                    realloc_step(t, s, e);
            } else { /* the size this thread last released from this site */
                uint64_t last = x->thr == tkey ? x->size
                                : x->thr       ? ss_get(S, (uint64_t)(tkey - 1) << 32 | id)
                                               : 0;
                if (last - 1 == size && last)
                    s->same_size_cycles++;
            }
            t->re_pending = false;
            if (ts < t->last_ts)
                t->unsorted = true;
            t->last_ts = ts;
            ring_t *slot = PS_LIKELY(t->pos < t->cap) ? t->ring + t->pos : ring_wrap(S, t);
            *slot = (ring_t){e->ptr, ts};
            t->pos++;
            t->nalloc++;
        } else if (kind == PASS_EV_RELEASE) {
            if (!r->freed) { /* not a live block's release: nothing freed */
                t->re_pending = false;
                continue;
            }
            const replay_released_t *b = &r->released;
            const uint32_t id = b->stack_id;
            SITE_SWITCH(id)
            const uint64_t ts = e->ts;
            WINDOW_AT(ts)
            const uint64_t size = b->size, ats = b->alloc_ts;
            s->releases++;
            w_rels++;
            /* short-lived: ts - ats <= short_ns, or ts before ats (a lifetime of 0) */
            uint64_t lim;
            if (__builtin_add_overflow(ats, short_ns, &lim))
                lim = UINT64_MAX;
            if (ts <= lim) {
                s->short_lived++;
                s->short_lived_bytes += size;
                w_died += size;
            }
            const bool re = is_realloc(e->fn);
            /* the FREE record's flag, else the replay's allocating thread (free and delete,
             * not realloc, as the flag) */
            const bool cross = from_flag ? (e->flags & PS_FREE_F_CROSS_THREAD) != 0
                                         : b->cross_thread && !re;
            if (cross)
                s->cross_thread_frees++;
            /* its thread's allocations since: the releasing thread's ring, else (a release
             * that crossed threads, or may have) the others' */
            uint64_t others;
            int found = 0;
            if (!cross)
                found = ring_find(S, t, e->ptr, ats, &others);
            if (!found && (cross || !have_cross))
                found = ring_find_others(S, t, e->ptr, ats, &others);
            if (found) {
                if (others == 0)
                    s->temporary++;
                if (others <= kk)
                    s->within_k++;
            }
            t->re_pending = re;    /* (re_old_size and re_cont are read only after it) */
            if (PS_UNLIKELY(re)) { /* a realloc's old side: not a release the app made */
                t->re_old_size = size;
                t->re_cont = false;
                realloc_release(t, e, b);
            } else if (PS_LIKELY(x->thr == tkey)) {
                x->size = size + 1;
            } else if (!x->thr) {
                x->thr = tkey;
                x->size = size + 1;
            } else if ((rc = ss_put(S, (uint64_t)(tkey - 1) << 32 | id, size + 1)) < 0) {
                break;
            }
        }
    }
    WACC_FLUSH(acc.w);
#undef SITE_SWITCH
#undef WINDOW_AT
#undef WACC_FLUSH
    S->win = acc;
    const bool keep = rc >= 0 && t && s;
    S->run_tid = keep ? tid : UINT64_MAX;
    S->run_ti = keep ? (size_t)(t - S->thr) : 0;
    S->run_id = keep ? last_id : UINT64_MAX;
    S->run_si = keep ? (size_t)(s - P->sites) : 0;
    S->run_switched = keep ? switched : true;
    return rc;
}

/* ---- the hand-off: blocks of events to the analysis's thread ------------------------- */

/* Waits while *w holds v (or until woken, or spuriously: the callers look again). */
static void pq_futex_wait(_Atomic uint32_t *w, uint32_t v)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void pq_futex_wake(_Atomic uint32_t *w)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* The analysis's thread is woken (after pq_wake moved): pq_put moved, or the end. */
static void pq_wake_up(pstate_t *S)
{
    atomic_fetch_add(&S->pq_wake, 1);
    pq_futex_wake(&S->pq_wake);
}

static void *pq_main(void *arg)
{
    pstate_t *S = arg;
    uint32_t done = atomic_load_explicit(&S->pq_done, memory_order_relaxed);
    for (;;) {
        if (atomic_load_explicit(&S->pq_put, memory_order_acquire) == done) {
            if (atomic_load(&S->pq_stop)) {
                if (atomic_load(&S->pq_put) == done)
                    break; /* stopped, and every block taken */
                continue;
            }
            const uint32_t seq = atomic_load(&S->pq_wake);
            atomic_store(&S->pq_sleeping, true);
            if (atomic_load(&S->pq_put) == done && !atomic_load(&S->pq_stop))
                pq_futex_wait(&S->pq_wake, seq);
            atomic_store(&S->pq_sleeping, false);
            continue;
        }
        pq_block_t *b = &S->pq[done % PQ_BLOCKS];
        /* after an error: the rest is dropped */
        int rc = atomic_load_explicit(&S->pq_err, memory_order_relaxed) == 0
                     ? pressure_run(S, b->ev, b->res, b->n)
                     : 0;
        if (rc < 0 && atomic_load_explicit(&S->pq_err, memory_order_relaxed) == 0)
            atomic_store(&S->pq_err, rc);
        atomic_store(&S->pq_done, ++done); /* (the block is the pass's thread's again) */
        if (atomic_load(&S->pq_waiting) &&
            (uint32_t)(atomic_load(&S->pq_put) - done) <= PQ_BLOCKS - PQ_ROOM &&
            atomic_exchange(&S->pq_waiting, false))
            pq_futex_wake(&S->pq_done);
    }
    return NULL;
}

/* Starts the analysis's thread (the first full block): true, or false (fewer than three
 * CPUs, no thread, PERFSHIM_NO_PREFETCH; PERFSHIM_PRESSURE_THREAD: above): the blocks run on
 * the pass's thread. */
static bool pq_start(pstate_t *S)
{
    const char *env = getenv("PERFSHIM_PRESSURE_THREAD");
    bool want = env && (*env == '0' || *env == '1') ? *env == '1'
                                                    : sysconf(_SC_NPROCESSORS_ONLN) > 2;
    return want && prefetch_second_core() && pthread_create(&S->pq_th, NULL, pq_main, S) == 0;
}

/* Hands the full (or last) block over, or runs it here without the thread. Returns 0 or the
 * first error of a block. */
static int pq_flush(pstate_t *S)
{
    pq_block_t *b = S->pq_cur;
    if (!b->n)
        return 0;
    if (!S->pq_tried && b->n > PQ_EVENTS - PASS_BATCH_MAX) { /* the first full block: the
                                                                 * thread */
        S->pq_tried = true;
        S->pq_threaded = pq_start(S);
    }
    if (!S->pq_threaded) {
        int rc = pressure_run(S, b->ev, b->res, b->n);
        b->n = 0;
        S->pq_direct = S->pq_tried;
        return rc;
    }
    const uint32_t put = atomic_load_explicit(&S->pq_put, memory_order_relaxed) + 1;
    atomic_store(&S->pq_put, put); /* (the block is the analysis's thread's now) */
    if (atomic_load(&S->pq_sleeping) && (uint32_t)(put - atomic_load(&S->pq_done)) >= PQ_WAKE &&
        atomic_exchange(&S->pq_sleeping, false))
        pq_wake_up(S);
    /* the ring is full (the next slot's block is still the analysis's thread's): until
     * PQ_ROOM blocks are free */
    if ((uint32_t)(put - atomic_load(&S->pq_done)) >= PQ_BLOCKS) {
        for (;;) {
            atomic_store(&S->pq_waiting, true);
            const uint32_t done = atomic_load(&S->pq_done);
            if ((uint32_t)(put - done) <= PQ_BLOCKS - PQ_ROOM)
                break;
            pq_futex_wait(&S->pq_done, done);
        }
        atomic_store(&S->pq_waiting, false);
    }
    int rc = atomic_load_explicit(&S->pq_err, memory_order_relaxed);
    S->pq_cur = &S->pq[put % PQ_BLOCKS];
    S->pq_cur->n = 0;
    return rc;
}

/* Every block handed over is done, the thread gone. Returns its first error, or 0. */
static int pq_finish(pstate_t *S)
{
    if (!S->pq_threaded)
        return 0;
    atomic_store(&S->pq_stop, true);
    pq_wake_up(S);
    pthread_join(S->pq_th, NULL);
    S->pq_threaded = false;
    return S->pq_err;
}

/* The replay writes the results of the next batch (at most PASS_BATCH_MAX events) where
 * they go in the block being filled, after its events: no copy (the block has room for a
 * batch: pressure_events hands it over before it has less). */
static void pq_aim(pstate_t *S)
{
    S->rp->evres = S->pq_cur->res + S->pq_cur->n;
}

int pressure_events(void *state, const pass_event_t *ev, size_t n)
{
    pstate_t *S = state;
    pq_block_t *b = S->pq_cur;
    if (S->pq_direct) /* (the replay's results in b->res: pq_aim with b->n 0, rp->evres stays) */
        return pressure_run(S, ev, b->res, n);
    /* the replay's results for these events are in b->res from b->n already (pq_aim: the
     * replay took this batch just before, into rp->evres) */
    memcpy(b->ev + b->n, ev, n * sizeof(*ev));
    b->n += n;
    if (b->n > PQ_EVENTS - PASS_BATCH_MAX) { /* no room for another batch: handed over */
        int rc = pq_flush(S);
        pq_aim(S);
        return rc < 0 ? rc : 0;
    }
    S->rp->evres = b->res + b->n;
    return 0;
}

int pressure_event(void *state, const pass_event_t *e)
{
    return pressure_events(state, e, 1);
}

int pressure_record(void *state, uint32_t tid, const record_t *rec)
{
    (void)tid;
    pstate_t *S = state;
    pressure_t *P = S->P;
    if (rec->type == PS_REC_RSS) {
        pressure_window_t *w = &P->windows[pressure_window(P, S->start_ns, rec->u.rss.ts)];
        if (rec->u.rss.rss_bytes > w->rss_bytes) {
            w->rss_bytes = rec->u.rss.rss_bytes; /* and the recorder's part of that sample */
            w->recorder_bytes = rec->u.rss.shim_bytes < w->rss_bytes ? rec->u.rss.shim_bytes : 0;
        }
        if (rec->u.rss.shim_bytes)
            P->have_recorder_bytes = true;
    } else if (rec->type == PS_REC_LOCK_ALLOC) {
        const ps_rec_lock_alloc_t *r = &rec->u.lock_alloc;
        P->have_under_lock = true;
        if (S->nla == S->la_cap) {
            size_t cap = S->la_cap ? S->la_cap * 2 : 64;
            lockalloc_t *v = realloc(S->la, cap * sizeof(*v));
            if (!v)
                return -PS_E_NOMEM;
            S->la = v;
            S->la_cap = cap;
        }
        S->la[S->nla++] = (lockalloc_t){r->stack, r->lock_stack, r->lock, r->count, r->bytes};
    }
    return 0;
}

static int la_cmp(const void *a, const void *b)
{
    const lockalloc_t *x = a, *y = b;
    if (x->stack != y->stack)
        return x->stack < y->stack ? -1 : 1;
    if (x->lock != y->lock)
        return x->lock < y->lock ? -1 : 1;
    return x->lock_stack < y->lock_stack ? -1 : x->lock_stack > y->lock_stack;
}

/* The LOCK_ALLOC totals by (stack, lock, lock site): each site's count and bytes, and its
 * lock held most often (ties: the lower address). */
static int lock_allocs(pstate_t *S)
{
    pressure_t *P = S->P;
    if (S->nla)
        qsort(S->la, S->nla, sizeof(*S->la), la_cmp);
    uint64_t best = 0;
    for (size_t i = 0; i < S->nla;) {
        lockalloc_t g = S->la[i++];
        while (i < S->nla && S->la[i].stack == g.stack && S->la[i].lock == g.lock &&
               S->la[i].lock_stack == g.lock_stack) {
            g.count += S->la[i].count;
            g.bytes += S->la[i].bytes;
            i++;
        }
        pressure_site_t *s = site_get(S, g.stack);
        if (!s)
            return -PS_E_NOMEM;
        if (!s->under_lock)
            best = 0;
        s->under_lock += g.count;
        s->under_lock_bytes += g.bytes;
        P->under_lock += g.count;
        P->under_lock_bytes += g.bytes;
        if (g.lock && g.count > best) {
            best = g.count;
            s->under_lock_lock = g.lock;
            s->under_lock_site = g.lock_stack;
        }
    }
    return 0;
}

int pressure_end(void *state, const tracemodel_t *m)
{
    pstate_t *S = state;
    pressure_t *P = S->P;
    replay_t *rp = S->rp;
    int rc = pq_flush(S); /* the last block, then the thread's end */
    int rc2 = pq_finish(S);
    rp->evres = rp->evres_buf; /* (the blocks are freed with the state) */
    if (rc < 0 || (rc = rc2) < 0)
        return rc;
    P->duration_ns = m->duration_ns;
    P->peak_bytes = rp->peak_bytes;
    P->peak_time_ns = rp->peak_time_ns;
    /* windows without events hold the live heap of the one before */
    uint64_t live = 0;
    for (size_t i = 0; i < P->nwindows; i++) {
        pressure_window_t *w = &P->windows[i];
        if (live > w->live_bytes_max)
            w->live_bytes_max = live;
        if (S->has_ev[i])
            live = S->live_end[i];
    }
    pressure_peaks(P);
    /* the totals the events counted per site only */
    for (size_t i = 0; i < P->nsites; i++) {
        const pressure_site_t *s = &P->sites[i];
        P->allocations += s->allocations;
        P->bytes += s->bytes;
        P->releases += s->releases;
        P->short_lived += s->short_lived;
        P->short_lived_bytes += s->short_lived_bytes;
        P->temporary += s->temporary;
        P->within_k += s->within_k;
        P->same_size_cycles += s->same_size_cycles;
        P->cross_thread_frees += s->cross_thread_frees;
        P->realloc_steps += s->realloc_steps;
        P->realloc_chains += s->realloc_chains;
        P->realloc_bytes_copied += s->realloc_bytes_copied;
    }
    if ((rc = lock_allocs(S)) < 0)
        return rc;
    /* the replay's per-site facts: peak bytes, lifetimes */
    for (size_t i = 0; i < rp->nsites; i++) {
        const replay_site_t *r = &rp->sites[i];
        uint32_t id = r->stack_id;
        uint32_t k = id < S->site_of_n                ? S->site_of[id] - 1
                     : id >= SITE_DIRECT_MAX ? u32map_get(&S->site_map, id)
                                             : U32MAP_NONE;
        if (k == U32MAP_NONE || k >= P->nsites)
            continue;
        P->sites[k].peak_bytes = r->peak_bytes;
        /* the largest size it allocated: its sizes' histogram has it (the same allocations:
         * the replay's of the same stack id) */
        if (P->sites[k].allocations)
            P->sites[k].size_max = r->sizes.max < UINT32_MAX ? (uint32_t)r->sizes.max : UINT32_MAX;
        P->sites[k].lifetimes = r->lifetimes;
        P->sites[k].alloc_ns = r->alloc_ns; /* the shim's ALLOC_COST records, 0: none */
        P->sites[k].alloc_ns_calls = r->alloc_ns_calls;
    }
    P->alloc_ns = rp->alloc_ns;
    P->alloc_ns_calls = rp->alloc_ns_calls;
    P->have_alloc_ns = rp->alloc_ns_calls > 0;
    for (size_t i = 0; i < P->nsites; i++)
        if (P->sites[i].size_min > P->sites[i].size_max)
            P->sites[i].size_min = 0;
    return 0;
}

int pressure_begin(replay_t *rp, uint64_t short_ns, unsigned k, void **state,
                   const tracemodel_t *m)
{
    pstate_t *S = calloc(1, sizeof(*S));
    pressure_t *P = calloc(1, sizeof(*P));
    if (!S || !P) {
        free(S);
        free(P);
        return -PS_E_NOMEM;
    }
    *state = S;
    rp->pressure = P;
    S->P = P;
    S->rp = rp;
    S->start_ns = m->start_ns;
    P->short_ns = short_ns;
    P->k = k;
    P->nwindows = PRESSURE_WINDOWS;
    P->window_ns = (m->span_end_ns - m->start_ns) / PRESSURE_WINDOWS + 1;
    /* whether a free crossed threads: the FREE records' flag (PS_FILE_F_CROSS_FREES), else
     * the heap replay's allocating thread (replay_released_t.cross_thread): always known */
    S->cross_from_flag = (m->file_flags & PS_FILE_F_CROSS_FREES) != 0;
    P->have_cross_thread = true;
    P->windows = calloc(P->nwindows, sizeof(*P->windows));
    S->live_end = calloc(P->nwindows, sizeof(*S->live_end));
    S->has_ev = calloc(P->nwindows, sizeof(*S->has_ev));
    S->pq = malloc(PQ_BLOCKS * sizeof(*S->pq));
    if (!P->windows || !S->live_end || !S->has_ev || !S->pq)
        return -PS_E_NOMEM;
    S->pq_cur = &S->pq[0];
    S->pq_cur->n = 0;
    S->win.w = SIZE_MAX; /* no window yet */
    S->run_tid = S->run_id = UINT64_MAX;
    S->run_switched = true;
    S->ring_cap = (size_t)k + 1 + ((size_t)k + 1 > RING_SPAN ? (size_t)k + 1 : RING_SPAN);
    pq_aim(S);
    return 0;
}

void pressure_state_free(void *state)
{
    pstate_t *S = state;
    if (!S)
        return;
    pq_finish(S); /* (a pass that failed: what was handed over is run, then dropped) */
    free(S->pq);
    for (size_t i = 0; i < S->nthr; i++)
        free(S->thr[i].ring);
    free(S->thr);
    u32map_free(&S->thr_map);
    u32map_free(&S->site_map);
    free(S->site_of);
    free(S->ss_key);
    free(S->ss_val);
    free(S->ssx);
    free(S->la);
    free(S->live_end);
    free(S->has_ev);
    free(S);
}
