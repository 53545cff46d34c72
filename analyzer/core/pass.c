/*
 * pass.c -- see pass.h.
 *
 * Layout (moved from replay.c, semantics unchanged): each thread's chunks are sorted by seq
 * and read through one "stream" that holds its current chunk (prefetch.h), so memory is
 * threads x chunk size. Streams are merged by a binary min-heap on (timestamp,
 * release-before-allocation). Records without a place on the time axis (STACK, MODULE) and
 * samples (THREAD_START, RSS, END, lock and leak records) are handed on as they are read:
 * their effect does not depend on the merge order.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/pass.h"
#include "core/grow.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/prefetch.h"
#include "core/safeout.h"
#include "perfshim/compiler.h"
#include "perfshim/errors.h"
#include "perfshim/trace_cols.h"

/* Each stream decodes its heap records into a ring of events ahead of the merge, in batches
 * (refilled when at most PASS_RING / 2 are left), each record once. A record that is not a
 * heap event (or does not decode) stops a batch: it is taken when the ring is empty, so the
 * analyses see every stream's records and events in the stream's order. The addresses
 * decoded are handed to the prefetching sink then, PASS_RING / 2 to PASS_RING events before
 * their turn. */
#define PASS_RING 32 /* a power of two */
#define ANALYSIS_EV_MAX 8 /* analyses with events called from a local table (more: the list) */

/* A chunk decoded on the prefetcher's worker (the second core, prefetch_digest_t): its runs of
 * consecutive heap records that stream_take_fast takes, as events (tid: the chunk's, the
 * stream's; set on the worker, so the main thread only reads these lines), each run with the view's
 * position before and after it and the packed state after it. The stream takes a run's
 * events when its view reaches the run's start (so everything between runs still goes
 * through view_next, in order, with the same checks). */
typedef struct dig_run_s {
    uint32_t start, end; /* view positions */
    uint32_t ev0, nev;   /* its events: ev[ev0 .. ev0 + nev) */
    ps_pack_state_t pk;  /* the packed state at `end` */
    bool grows;          /* its events' times never go down (else: not known) */
} dig_run_t;

typedef struct digest_s {
    dig_run_t *runs;
    pass_event_t *ev;
    size_t nruns, nev, cap_runs, cap_ev;
} digest_t;

typedef struct stream_s {
    uint32_t tid;
    size_t *chunks; /* chunk indices, by seq */
    size_t nchunks;
    chunk_view_t view;
    const digest_t *dig; /* the current chunk's, or NULL */
    size_t dig_run;      /* the next run */
    /* A digest run's events, handed to the analyses where the digest holds them (no copy):
     * the stream's next span_n events, taken only while the ring is empty (n == 0); the view
     * stands past the run already. */
    const pass_event_t *span;
    size_t span_n;
    const pass_event_t *span_pf; /* its first event not handed to the prefetching sink yet */
    bool span_grows; /* the span's times never go down (dig_run_t.grows): a batch's last
                      * event is its latest, no test per event (pass_merge) */
    pass_event_t ev[PASS_RING]; /* decoded events: ev[(head + i) % PASS_RING], i < n */
    unsigned head, n;
    bool done;
} stream_t;

/* The stream's current event (span_n > 0 or n > 0). */
static inline const pass_event_t *stream_cur(const stream_t *s)
{
    return s->span_n ? s->span : &s->ev[s->head];
}

static inline pass_event_t *stream_push(stream_t *s)
{
    return &s->ev[(s->head + s->n++) & (PASS_RING - 1)];
}

/* A heap entry: the stream and the key of its current event, (ts << 1) | (not a release),
 * so that at equal timestamps releases come first. */
typedef struct heap_ent_s {
    uint64_t key;
    uint32_t stream;
} heap_ent_t;

typedef struct pass_s {
    reader_t *r;
    tracemodel_t *m;
    pass_sink_t **rec_sinks, **ev_sinks; /* the sinks with on_record / on_event */
    size_t nrec, nev;
    stream_t *streams;
    size_t nstreams;
    prefetch_t *pf;
    bool progress;      /* a progress line on stderr (a terminal, a large trace) */
    char fatal[512];    /* the message of a PS_E_LIMIT from the prefetcher */
    int progress_shown; /* last percentage printed, -1 none */
    heap_ent_t *heap;
    size_t nheap;
    pass_sink_t *pf_sink; /* the sink that asks for addresses ahead (ops->prefetch), or NULL */
    bool pf_on;           /* its prefetch_on, asked again at each chunk a stream loads */
} pass_t;

/* ---- per-thread streams -------------------------------------------------------------- */

/* The pass's event of an ALLOC record (a failed one: ptr 0) of thread tid, aux its record's
 * aux bits (the function), and of a FREE (aux: the function and the flags); every decoder of
 * heap records makes its events with these. */
static PS_ALWAYS_INLINE pass_event_t pass_ev_alloc(uint64_t ts, uint64_t ptr, uint64_t size,
                                                   uint32_t stack, uint8_t aux, uint64_t align,
                                                   uint32_t tid)
{
    return (pass_event_t){ts,  ptr, size, stack, ptr ? PASS_EV_ALLOC : PASS_EV_FAILED,
                          aux, 0,   tid,  PASS_ALIGN_LOG2(align), 0};
}

static PS_ALWAYS_INLINE pass_event_t pass_ev_free(uint64_t ts, uint64_t ptr, uint32_t stack,
                                                  uint8_t aux, uint32_t tid)
{
    return (pass_event_t){ts, ptr, 0, stack, PASS_EV_RELEASE, aux & PS_ALLOC_FN_MASK,
                          aux & ~PS_ALLOC_FN_MASK, tid, 0, 0};
}

static inline void stream_take_alloc(stream_t *s, const ps_rec_alloc_t *a, uint8_t fn)
{
    *stream_push(s) = pass_ev_alloc(a->ts, a->ptr, a->size, a->stack, fn, a->align, s->tid);
}

static inline void stream_take_free(stream_t *s, const ps_rec_free_t *f, uint8_t fn)
{
    *stream_push(s) = pass_ev_free(f->ts, f->ptr, f->stack, fn, s->tid);
}

/* The records that make most of a trace, decoded in place with view_next's checks (a record
 * this does not take goes through view_next). Returns 1 taken, 0 not. */
static inline int stream_take_fast(pass_t *P, stream_t *s)
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
        P->m->records++;
        stream_take_alloc(s, &a, h.aux);
        return 1;
    }
    if (h.type == PS_REC_FREE && h.len >= sizeof(ps_rec_free_t)) {
        ps_rec_free_t f;
        memcpy(&f, p, sizeof(f));
        v->pos += h.len;
        P->m->records++;
        stream_take_free(s, &f, h.aux);
        return 1;
    }
    if (h.type == PS_REC_ALLOC_P && h.len > sizeof(h)) {
        ps_rec_alloc_t a;
        if (ps_unpack_alloc_p(&v->pk, p, h.len, &a) != 0)
            return 0; /* view_next says what is wrong */
        v->pos += h.len;
        P->m->records++;
        stream_take_alloc(s, &a, h.aux);
        return 1;
    }
    if (h.type == PS_REC_FREE_P && h.len > sizeof(h)) {
        ps_rec_free_t f;
        if (ps_unpack_free_p(&v->pk, p, h.len, &f) != 0)
            return 0;
        v->pos += h.len;
        P->m->records++;
        stream_take_free(s, &f, h.aux);
        return 1;
    }
    return 0;
}

/* ---- the digest: heap records decoded on the worker ---------------------------------- */

static int digest_grow(void **a, size_t *cap, size_t need, size_t elem)
{
    return grow_array(a, cap, need, elem, 256);
}

static PS_ALWAYS_INLINE uint64_t dig_ld64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static PS_ALWAYS_INLINE uint32_t dig_ld32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* prefetch_digest_t.digest: the runs of a chunk, decoded as stream_take_fast decodes them. It
 * stops at what it cannot step over (a bad length): the stream's own decoding says why. Out
 * of memory: fewer runs (the stream decodes the rest itself). */
static void pass_digest(const chunk_view_t *view, void **aux, size_t *bytes)
{
    digest_t *d = *aux;
    if (!d && !(d = calloc(1, sizeof(*d))))
        return;
    *aux = d;
    d->nruns = d->nev = 0;
    ps_pack_state_t pk = {0};
    const uint32_t tid = view->tid; /* the stream's (its chunks are its thread's) */
    const unsigned char *data = view->data;
    size_t pos = view->pos, size = view->size;
    dig_run_t *run = NULL;
    /* events are written in place (the array grown ahead, a block of them at a time); a run's
     * end and packed state are set when it ends */
    pass_event_t *ev = d->ev;
    size_t nev = 0, cap = d->cap_ev;
    while (size - pos >= sizeof(ps_rec_hdr_t) && pos < UINT32_MAX - 65536) {
        const unsigned char *p = data + pos;
        ps_rec_hdr_t h;
        memcpy(&h, p, sizeof(h));
        if (h.len < sizeof(h) || h.len > size - pos)
            break;
        if (PS_UNLIKELY(nev == cap)) {
            d->nev = nev;
            if (digest_grow((void **)&d->ev, &d->cap_ev, nev + 1, sizeof(*ev)))
                break;
            ev = d->ev;
            cap = d->cap_ev;
        }
        pass_event_t *e = &ev[nev];
        int ok = 0;
        if (h.type == PS_REC_ALLOC_P) {
            ps_rec_alloc_t a;
            if ((ok = ps_unpack_alloc_p(&pk, p, h.len, &a) == 0))
                *e = pass_ev_alloc(a.ts, a.ptr, a.size, a.stack, h.aux, a.align, tid);
        } else if (h.type == PS_REC_FREE_P) {
            ps_rec_free_t f;
            if ((ok = ps_unpack_free_p(&pk, p, h.len, &f) == 0))
                *e = pass_ev_free(f.ts, f.ptr, f.stack, h.aux, tid);
        } else if (h.type == PS_REC_ALLOC && h.len >= sizeof(ps_rec_alloc_t)) {
            /* each field loaded from the record (a copy of the record on the stack, read
             * back at other offsets, stalled on store forwarding: ~70% of this function's
             * time in perf samples) */
            *e = pass_ev_alloc(dig_ld64(p + offsetof(ps_rec_alloc_t, ts)),
                               dig_ld64(p + offsetof(ps_rec_alloc_t, ptr)),
                               dig_ld64(p + offsetof(ps_rec_alloc_t, size)),
                               dig_ld32(p + offsetof(ps_rec_alloc_t, stack)), h.aux,
                               dig_ld64(p + offsetof(ps_rec_alloc_t, align)), tid);
            ok = 1;
        } else if (h.type == PS_REC_FREE && h.len >= sizeof(ps_rec_free_t)) {
            *e = pass_ev_free(dig_ld64(p + offsetof(ps_rec_free_t, ts)),
                              dig_ld64(p + offsetof(ps_rec_free_t, ptr)),
                              dig_ld32(p + offsetof(ps_rec_free_t, stack)), h.aux, tid);
            ok = 1;
        } else if (h.type == PS_REC_REALLOC_P) {
            ps_rec_realloc_t ra; /* not in a run; the state goes on past it */
            if (run) { /* the run ends before it, with the state before it */
                run->end = (uint32_t)pos;
                run->nev = (uint32_t)(nev - run->ev0);
                run->pk = pk;
                run = NULL;
            }
            if (ps_unpack_realloc_p(&pk, p, h.len, &ra) != 0)
                break;
        }
        if (ok) {
            if (!run) {
                if (digest_grow((void **)&d->runs, &d->cap_runs, d->nruns + 1, sizeof(*run)))
                    break;
                run = &d->runs[d->nruns++];
                *run = (dig_run_t){(uint32_t)pos, 0, (uint32_t)nev, 0, pk, false};
            }
            nev++;
            pos += h.len;
            continue;
        }
        if (run) { /* the run ends before this record */
            run->end = (uint32_t)pos;
            run->nev = (uint32_t)(nev - run->ev0);
            run->pk = pk;
            run = NULL;
        }
        /* a packed record that does not decode stops here; any other is stepped over */
        if (h.type == PS_REC_ALLOC_P || h.type == PS_REC_FREE_P)
            break;
        pos += h.len;
    }
    if (run) { /* the last run ends where the loop stopped (its events all decoded) */
        run->end = (uint32_t)pos;
        run->nev = (uint32_t)(nev - run->ev0);
        run->pk = pk;
    }
    d->nev = nev;
    *bytes = sizeof(*d) + d->cap_runs * sizeof(*d->runs) + d->cap_ev * sizeof(*d->ev);
}

/* pass_digest_cols' output: the chunk's events, in the digest's array grown ahead. */
typedef struct dig_cols_s {
    pass_event_t *ev;
    uint32_t tid;
    /* the latest event's time, how many times went down: the run's dig_run_t.grows, tested
     * here on the worker, the times in registers, so that the pass's thread need not (a
     * compare an event there: 4.6 M instructions on a churn of 800,000 events, 1.5 M here) */
    uint64_t prev, down;
} dig_cols_t;

/* pass_ev_alloc's and pass_ev_free's events stored as five 8-byte words (the fields from
 * stack to flags in one, from tid to realloc_moves and the padding after in another: not
 * seven stores of 1 to 4 bytes); the fields are theirs (the padding written 0). */
_Static_assert(offsetof(pass_event_t, stack) == 24 && offsetof(pass_event_t, kind) == 28 &&
                   offsetof(pass_event_t, fn) == 29 && offsetof(pass_event_t, flags) == 30 &&
                   offsetof(pass_event_t, tid) == 32 &&
                   offsetof(pass_event_t, align_log2) == 36 &&
                   offsetof(pass_event_t, realloc_moves) == 37 && sizeof(pass_event_t) == 40,
               "dig_cols_put's words");

static PS_ALWAYS_INLINE void dig_cols_put(pass_event_t *e, uint64_t ts, uint64_t ptr,
                                          uint64_t size, uint64_t w3, uint64_t w4)
{
    unsigned char *p = (unsigned char *)e;
    memcpy(p, &ts, 8);
    memcpy(p + 8, &ptr, 8);
    memcpy(p + 16, &size, 8);
    memcpy(p + 24, &w3, 8);
    memcpy(p + 32, &w4, 8);
}

static PS_ALWAYS_INLINE void dig_cols_alloc(void *ctx, size_t i, const ps_rec_alloc_t *a)
{
    dig_cols_t *k = ctx;
    k->down += a->ts < k->prev;
    k->prev = a->ts;
    const uint64_t kind = a->ptr ? PASS_EV_ALLOC : PASS_EV_FAILED;
    dig_cols_put(&k->ev[i], a->ts, a->ptr, a->size,
                 a->stack | kind << 32 | (uint64_t)a->h.aux << 40,
                 k->tid | (uint64_t)PASS_ALIGN_LOG2(a->align) << 32);
}

/* A FREE's aux as the bits of its event's fn and flags in the word dig_cols_put stores at
 * stack (fn: its PS_ALLOC_FN_MASK bits, flags: the others; kind PASS_EV_RELEASE, 0): one
 * load, not the masks and shifts. */
#define DIG_FREE_HI(a)                                                                          \
    ((uint64_t)((a) & PS_ALLOC_FN_MASK) << 40 | (uint64_t)((a) & 0xffu & ~PS_ALLOC_FN_MASK) << 48 | \
     (uint64_t)PASS_EV_RELEASE << 32)
#define DIG_FREE_HI4(a) DIG_FREE_HI(a), DIG_FREE_HI((a) + 1), DIG_FREE_HI((a) + 2), DIG_FREE_HI((a) + 3)
#define DIG_FREE_HI16(a) DIG_FREE_HI4(a), DIG_FREE_HI4((a) + 4), DIG_FREE_HI4((a) + 8), DIG_FREE_HI4((a) + 12)
#define DIG_FREE_HI64(a)                                                                        \
    DIG_FREE_HI16(a), DIG_FREE_HI16((a) + 16), DIG_FREE_HI16((a) + 32), DIG_FREE_HI16((a) + 48)
static const uint64_t dig_free_hi[256] = {DIG_FREE_HI64(0u), DIG_FREE_HI64(64u),
                                          DIG_FREE_HI64(128u), DIG_FREE_HI64(192u)};

static PS_ALWAYS_INLINE void dig_cols_free(void *ctx, size_t i, const ps_rec_free_t *f)
{
    dig_cols_t *k = ctx;
    k->down += f->ts < k->prev;
    k->prev = f->ts;
    dig_cols_put(&k->ev[i], f->ts, f->ptr, 0, f->stack | dig_free_hi[f->h.aux], k->tid);
}

/* prefetch_digest_t.digest_cols: a columnar chunk of ALLOC and FREE records only
 * (PS_CHUNK_F_HEAP_ONLY, format 2) decoded straight into the digest's events, as pass_digest
 * makes them from its decoded records (ps_cols_decode2_heap: the fixed records are not written
 * and parsed again; ~113 instructions an event on churn, callgrind, zstd's ~27 before it).
 * One run, [0, 0) of the empty view that the chunk's records stand for. -1 (pass_digest
 * then): another chunk, one that does not decode this way, out of memory. */
static int pass_digest_cols(const chunk_info_t *c, const unsigned char *body, size_t n,
                            size_t xlen, void *dec, void **aux, size_t *bytes)
{
    if (!(c->h.flags & PS_CHUNK_F_HEAP_ONLY) || n < sizeof(ps_cols_hdr_t) ||
        body[0] != PS_COLS_FORMAT)
        return -1;
    digest_t *d = *aux;
    if (!d && !(d = calloc(1, sizeof(*d))))
        return -1;
    *aux = d;
    d->nruns = d->nev = 0;
    const size_t nrec = ps_cols_nrec(body); /* < n */
    if (!nrec || digest_grow((void **)&d->ev, &d->cap_ev, nrec, sizeof(*d->ev)) ||
        digest_grow((void **)&d->runs, &d->cap_runs, 1, sizeof(*d->runs)))
        return -1;
    dig_cols_t k = {d->ev, c->h.tid, 0, 0};
    if (ps_cols_decode2_heap(dec, body, n, xlen, dig_cols_alloc, dig_cols_free, &k))
        return -1;
    d->runs[0] = (dig_run_t){0, 0, 0, (uint32_t)nrec, {0}, k.down == 0};
    d->nruns = 1;
    d->nev = nrec;
    *bytes = sizeof(*d) + d->cap_runs * sizeof(*d->runs) + d->cap_ev * sizeof(*d->ev);
    return 0;
}

static void pass_digest_free(void *aux)
{
    digest_t *d = aux;
    free(d->runs);
    free(d->ev);
    free(d);
}

static const prefetch_digest_t pass_digest_ops = {pass_digest, pass_digest_free,
                                                   pass_digest_cols};

/* Takes one decoded record of stream s: the model's part, the analyses' records; heap events
 * become pending events. */
static int stream_take(pass_t *P, stream_t *s, const record_t *rec)
{
    tracemodel_t *m = P->m;
    int rc = 0;
    m->records++;
    switch (rec->type) {
    case PS_REC_ALLOC:
        stream_take_alloc(s, &rec->u.alloc, rec->aux);
        return 0;
    case PS_REC_FREE:
        stream_take_free(s, &rec->u.free, rec->aux);
        return 0;
    case PS_REC_REALLOC: {
        const ps_rec_realloc_t *ra = &rec->u.realloc;
        if (ra->old_ptr && (ra->new_ptr || ra->size == 0))
            *stream_push(s) = (pass_event_t){.ts = ra->ts_before,
                                             .ptr = ra->old_ptr,
                                             .stack = ra->stack,
                                             .kind = PASS_EV_RELEASE,
                                             .fn = rec->aux,
                                             .tid = s->tid,
                                             .realloc_moves = ra->new_ptr != 0};
        if (ra->new_ptr)
            *stream_push(s) = (pass_event_t){ra->ts, ra->new_ptr, ra->size, ra->stack,
                                             PASS_EV_ALLOC, rec->aux, 0, s->tid, 0, 0};
        else if (ra->size)
            *stream_push(s) = (pass_event_t){ra->ts, 0, ra->size, ra->stack, PASS_EV_FAILED,
                                             rec->aux, 0, s->tid, 0, 0};
        return 0;
    }
    case PS_REC_THREAD_START:
        m->threads++;
        tracemodel_ts(m, rec->u.thread.ts);
        break;
    case PS_REC_THREAD_EXIT:
        tracemodel_ts(m, rec->u.thread.ts);
        break;
    case PS_REC_MODULE:
        rc = tracemodel_add_module(m, rec);
        break;
    case PS_REC_STACK:
        rc = tracemodel_add_stack(m, rec);
        break;
    case PS_REC_RSS:
        tracemodel_ts(m, rec->u.rss.ts);
        break;
    case PS_REC_END:
        tracemodel_ts(m, rec->u.end.ts);
        /* a failed exec resumes tracing after an END: the latest END counts everything */
        if (!m->have_end || rec->u.end.ts >= m->end.ts)
            m->end = rec->u.end;
        m->have_end = true;
        break;
    case PS_REC_CRASH:
        tracemodel_ts(m, rec->u.crash.ts);
        m->crash_signal = rec->u.crash.signo;
        break;
    default:
        break; /* MODMAP (the MODULE records carry everything), unknown, skippable */
    }
    for (size_t i = 0; i < P->nrec && rc >= 0; i++)
        rc = P->rec_sinks[i]->ops->on_record(P->rec_sinks[i]->state, s->tid, rec);
    return rc;
}

/* Loads the stream's next chunk. Returns 1 loaded, 0 no more chunks, <0 out of memory or
 * over the memory budget. A chunk that fails to load marks the model partial and is
 * skipped. */
static int stream_load(pass_t *P, stream_t *s)
{
    for (;;) {
        char err[512];
        int rc = prefetch_next(P->pf, (size_t)(s - P->streams), &s->view, err, sizeof(err));
        if (rc == -PS_E_NOMEM)
            return rc;
        if (rc == -PS_E_LIMIT) { /* the memory budget: fatal, with its message */
            snprintf(P->fatal, sizeof(P->fatal), "%s", err);
            return rc;
        }
        if (rc < 0) {
            tracemodel_partial(P->m, "%s", err);
            continue;
        }
        if (rc == 1)
            P->m->chunks++;
        s->dig = rc == 1 ? prefetch_aux(P->pf, (size_t)(s - P->streams)) : NULL;
        s->dig_run = 0;
        if (P->pf_sink) /* a hint only: asked per chunk, not per record */
            P->pf_on = P->pf_sink->ops->prefetch_on(P->pf_sink->state) != 0;
        return rc;
    }
}

/* The events ahead of a span's current one whose addresses the prefetching sink gets (as the
 * ring's are, PASS_RING / 2 to PASS_RING events before their turn). */
#define PASS_SPAN_AHEAD (PASS_RING / 2)

/* While the prefetching sink wants addresses (pass_t.pf_on), a span's events go to the
 * analyses in batches of at most this many (<= PASS_BATCH_MAX; else PASS_BATCH_MAX), each
 * batch's addresses handed to the prefetching sink before the one before is taken. The heap
 * replay prefetches them one with each event of that batch (replay_prefetch: a burst of all
 * of them at once, 128 lines for a batch of 64, stalled the pass thread at the prefetch
 * instructions when it did that: ~25% of its cpu-clock samples on kvstore 1M keys); 64, not
 * 16 or 32, since: fewer calls (callgrind, kvstore 300k keys: the pass thread's instructions
 * 936 M -> 915 M for 2.4 M events at 32, 937.0 M -> 926.5 M from 32 to 64), the blocks asked
 * for ~4 us ahead (~120 lines, 8 KiB of the core's 48 KiB level 1). */
#define PASS_SPAN_BATCH 64
_Static_assert(PASS_SPAN_BATCH <= PASS_BATCH_MAX, "a span's batch is an analysis's batch");

/* Hands the span's addresses up to `limit` (excluded) to the prefetching sink, each once. */
static inline void stream_span_pf(pass_t *P, stream_t *s, const pass_event_t *limit)
{
    const pass_event_t *end = s->span + s->span_n;
    limit = limit < end ? limit : end;
    if (s->span_pf < limit) {
        P->pf_sink->ops->prefetch(P->pf_sink->state, s->span_pf, (size_t)(limit - s->span_pf));
        s->span_pf = limit;
    }
}

/* With the ring empty and the view at a digest run's start: the run's events become the
 * stream's span (their tid set by the digest) and the view moves past
 * the run. Returns 1 when it made a span. */
static int stream_take_span(pass_t *P, stream_t *s)
{
    const digest_t *d = s->dig;
    chunk_view_t *v = &s->view;
    while (s->dig_run < d->nruns && d->runs[s->dig_run].start < v->pos)
        s->dig_run++; /* behind the view (cannot happen: runs start where the view stops) */
    if (s->n || s->dig_run >= d->nruns || d->runs[s->dig_run].start != v->pos)
        return 0;
    const dig_run_t *r = &d->runs[s->dig_run];
    /* the digest is this stream's until its next chunk is loaded: its events are ours (their
     * tid set by the digest: the chunk's, which is the stream's) */
    const pass_event_t *ev = d->ev + r->ev0;
    s->span = ev;
    s->span_n = r->nev;
    s->span_grows = r->grows;
    P->m->records += r->nev;
    v->pos = r->end;
    v->pk = r->pk;
    s->dig_run++;
    s->span_pf = ev;
    if (P->pf_on)
        stream_span_pf(P, s, ev + PASS_SPAN_AHEAD + 1);
    return r->nev > 0;
}

/* Decodes the stream's next heap records into the ring while it has room for a record's
 * events (a realloc: two) and they are heap records stream_take_fast takes; the prefetching
 * sink gets their addresses (pass_ops_t.prefetch). A digest run at the view's position
 * stops it: the run becomes a span once the ring is empty. */
static inline void stream_decode(pass_t *P, stream_t *s)
{
    if (!s->view.data)
        return;
    if (s->dig) {
        const digest_t *d = s->dig;
        if (!s->n && stream_take_span(P, s))
            return;
        if (s->dig_run < d->nruns && d->runs[s->dig_run].start == s->view.pos)
            return; /* the ring's events first */
    }
    if (P->pf_on) {
        pass_sink_t *k = P->pf_sink;
        while (s->n <= PASS_RING - 2) {
            unsigned n0 = s->n;
            if (!stream_take_fast(P, s))
                break;
            k->ops->prefetch(k->state, &s->ev[(s->head + n0) & (PASS_RING - 1)], 1);
        }
        return;
    }
    while (s->n <= PASS_RING - 2 && stream_take_fast(P, s))
        ;
}

/* The ring is empty: fills it, taking the records before the next heap event (and loading
 * chunks), or marks the stream done. */
static int stream_fill(pass_t *P, stream_t *s)
{
    s->head = 0;
    while (!s->n && !s->span_n) {
        record_t rec;
        stream_decode(P, s);
        if (s->n || s->span_n)
            break;
        int rc = s->view.data ? view_next(P->r, &s->view, &rec) : 0;
        if (rc < 0) {
            tracemodel_partial(P->m, "%s", reader_error(P->r));
            rc = 0; /* the rest of this chunk is lost; go on with the next one */
        }
        if (rc == 0) {
            s->view.data = NULL;
            s->dig = NULL;
            rc = stream_load(P, s);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                s->done = true;
                return 0;
            }
            continue;
        }
        if ((rc = stream_take(P, s, &rec)) < 0)
            return rc;
        if (s->n) { /* a realloc: its events first, then more of the batch */
            if (P->pf_on) /* (head is 0: the ring was empty) */
                P->pf_sink->ops->prefetch(P->pf_sink->state, s->ev, s->n);
            stream_decode(P, s);
        }
    }
    return 0;
}

/* Makes the stream's next event current (stream_cur) or marks it done: the ring's next, a
 * batch decoded when it runs low, stream_fill when it is empty. */
static inline int stream_next(pass_t *P, stream_t *s)
{
    if (s->span_n) {
        s->span++;
        if (--s->span_n) {
            if (PS_UNLIKELY(P->pf_on))
                stream_span_pf(P, s, s->span + PASS_SPAN_AHEAD + 1);
            return 0;
        }
        s->head = 0;
    } else {
        s->head = (s->head + 1) & (PASS_RING - 1);
        s->n--;
        if (s->n > PASS_RING / 2)
            return 0;
    }
    stream_decode(P, s);
    return s->n || s->span_n ? 0 : stream_fill(P, s);
}

/* ---- merge --------------------------------------------------------------------------- */

/* An event's place in the merged order: its time, a release before anything else at the same
 * time (a block freed and reused within one tick). */
static PS_ALWAYS_INLINE uint64_t event_key(const pass_event_t *e)
{
    uint64_t ts = e->ts < (1ull << 63) ? e->ts : (1ull << 63) - 1;
    return ts << 1 | (e->kind != PASS_EV_RELEASE);
}

static uint64_t stream_key(const stream_t *s)
{
    return event_key(stream_cur(s));
}

static bool heap_before(const heap_ent_t *x, const heap_ent_t *y)
{
    return x->key != y->key ? x->key < y->key : x->stream < y->stream; /* deterministic */
}

static void heap_down(pass_t *P, size_t i)
{
    heap_ent_t *h = P->heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < P->nheap && heap_before(&h[l], &h[m]))
            m = l;
        if (r < P->nheap && heap_before(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        heap_ent_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* "perfshim: reading TRACE: 45%" on one line, rewritten as it grows (erased at the end). */
static void pass_progress(pass_t *P, size_t total_chunks)
{
    int pct = total_chunks ? (int)(P->m->chunks * 100 / total_chunks) : 100;
    if (pct == P->progress_shown)
        return;
    P->progress_shown = pct;
    FILE *tty = safeout_raw_stderr(); /* our own \r, not escaped */
    fprintf(tty, "\rperfshim: reading %s: %d%%", reader_path(P->r), pct);
    fflush(tty);
}

static int pass_merge(pass_t *P)
{
    int rc;
    P->heap = malloc((P->nstreams ? P->nstreams : 1) * sizeof(*P->heap));
    if (!P->heap)
        return -PS_E_NOMEM;
    for (size_t i = 0; i < P->nstreams; i++) {
        if ((rc = stream_fill(P, &P->streams[i])) < 0)
            return rc;
        if (!P->streams[i].done)
            P->heap[P->nheap++] = (heap_ent_t){stream_key(&P->streams[i]), (uint32_t)i};
    }
    for (size_t i = P->nheap / 2; i-- > 0;)
        heap_down(P, i);
    size_t total_chunks = reader_chunk_count(P->r);
    uint64_t n = 0;
    /* the analyses with events, called directly (no list walk per event) */
    int (*ev_fn[ANALYSIS_EV_MAX])(void *, const pass_event_t *);
    void *ev_st[ANALYSIS_EV_MAX];
    size_t nev = P->nev;
    for (size_t i = 0; i < nev && i < ANALYSIS_EV_MAX; i++) {
        ev_fn[i] = P->ev_sinks[i]->ops->on_event;
        ev_st[i] = P->ev_sinks[i]->state;
    }
    tracemodel_t *m = P->m;
    /* every analysis with events takes batches: a span's events go in batches */
    int (*evs_fn[ANALYSIS_EV_MAX])(void *, const pass_event_t *, size_t);
    bool batches = nev <= ANALYSIS_EV_MAX;
    for (size_t i = 0; i < nev && batches; i++)
        if (!(evs_fn[i] = P->ev_sinks[i]->ops->on_events))
            batches = false;
    while (P->nheap) {
        heap_ent_t *top = &P->heap[0];
        stream_t *s = &P->streams[top->stream];
        /* the top stream's events go on while they stay before the next stream's (the heap's
         * order unchanged: heap_down would leave it in place) */
        heap_ent_t next = {UINT64_MAX, UINT32_MAX};
        if (P->nheap > 1)
            next = P->heap[1];
        if (P->nheap > 2 && heap_before(&P->heap[2], &next))
            next = P->heap[2];
        for (;;) {
            if (s->span_n && nev <= ANALYSIS_EV_MAX) {
                /* a span: its events in a row while they stay before the next stream's */
                const pass_event_t *e = s->span, *end = e + s->span_n;
                bool tie = top->stream < next.stream, alone = P->nheap == 1;
                /* an event before this time is before the next stream's for sure (its key,
                 * 2 ts + 1 at most, is below next.key): no key to make for it */
                const uint64_t ts_sure = alone ? UINT64_MAX : next.key >> 1;
                uint64_t lo = e->ts, hi = e->ts;
                /* in batches of at most PASS_SPAN_BATCH while prefetching, else
                 * PASS_BATCH_MAX (fewer calls: a small table has nothing to wait for) */
                const size_t bmax = P->pf_on ? PASS_SPAN_BATCH : PASS_BATCH_MAX;
                while (batches && e < end) {
                    size_t max = (size_t)(end - e);
                    max = max < bmax ? max : bmax;
                    const pass_event_t *x = e, *stop = e + max;
                    /* first as if the batch's times grow (the usual case): one compare an
                     * event, then the latest (the greatest) against ts_sure once; else the
                     * batch again, each event tested, from the bounds before it */
                    const uint64_t lo0 = lo, hi0 = hi;
                    if (s->span_grows) { /* (the latest: the batch's last) */
                        x = stop;
                        hi = stop[-1].ts;
                    }
                    for (; stop - x >= 4; x += 4) { /* (four at a time: one loop test) */
                        const uint64_t t0 = x[0].ts, t1 = x[1].ts, t2 = x[2].ts, t3 = x[3].ts;
                        if (PS_UNLIKELY(t0 < hi || t1 < t0 || t2 < t1 || t3 < t2))
                            break;
                        hi = t3;
                    }
                    for (; x < stop && PS_LIKELY(x->ts >= hi); x++)
                        hi = x->ts;
                    if (PS_LIKELY(x == stop) && (PS_LIKELY(hi < ts_sure) || alone))
                        goto batch;
                    x = e;
                    lo = lo0;
                    hi = hi0;
                    for (; x < stop; x++) {
                        if (PS_UNLIKELY(x->ts >= ts_sure) && !alone) {
                            uint64_t key = event_key(x);
                            if (key > next.key || (key == next.key && !tie))
                                break;
                        }
                        /* (a stream's times mostly grow: one compare for both bounds) */
                        if (PS_UNLIKELY(x->ts < hi))
                            lo = x->ts < lo ? x->ts : lo;
                        else
                            hi = x->ts;
                    }
                batch:;
                    const size_t k = (size_t)(x - e);
                    if (!k)
                        break;
                    if (PS_UNLIKELY(P->pf_on)) /* up to the next batch's blocks */
                        stream_span_pf(P, s, e + 2 * k);
                    for (size_t i = 0; i < nev; i++)
                        if (PS_UNLIKELY((rc = evs_fn[i](ev_st[i], e, k)) < 0))
                            return rc;
                    e += k;
                    if (k < max)
                        break; /* the next stream's turn */
                }
                for (; e < end && !batches; e++) {
                    if (!alone) {
                        uint64_t key = event_key(e);
                        if (key > next.key || (key == next.key && !tie))
                            break;
                    }
                    lo = e->ts < lo ? e->ts : lo;
                    hi = e->ts > hi ? e->ts : hi;
                    for (size_t i = 0; i < nev; i++)
                        if (PS_UNLIKELY((rc = ev_fn[i](ev_st[i], e)) < 0))
                            return rc;
                    if (PS_UNLIKELY(P->pf_on))
                        stream_span_pf(P, s, e + PASS_SPAN_AHEAD + 2);
                }
                size_t taken = (size_t)(e - s->span);
                if (taken) {
                    tracemodel_ts(m, lo);
                    tracemodel_ts(m, hi);
                }
                if (PS_UNLIKELY(P->progress) && ((n + taken) >> 16) != (n >> 16))
                    pass_progress(P, total_chunks);
                n += taken;
                s->span = e;
                s->span_n = (size_t)(end - e);
                if (!s->span_n) { /* the span is done: the stream's next event */
                    s->head = 0;
                    stream_decode(P, s);
                    if (!s->n && !s->span_n && (rc = stream_fill(P, s)) < 0)
                        return rc;
                }
            } else {
                if (PS_UNLIKELY(P->progress && (++n & 0xffff) == 0))
                    pass_progress(P, total_chunks);
                const pass_event_t *e = stream_cur(s);
                tracemodel_ts(m, e->ts);
                if (batches) {
                    for (size_t i = 0; i < nev; i++)
                        if ((rc = evs_fn[i](ev_st[i], e, 1)) < 0)
                            return rc;
                } else if (nev == 1) {
                    if ((rc = ev_fn[0](ev_st[0], e)) < 0)
                        return rc;
                } else {
                    for (size_t i = 0; i < nev; i++)
                        if ((rc = P->ev_sinks[i]->ops->on_event(P->ev_sinks[i]->state, e)) < 0)
                            return rc;
                }
                if ((rc = stream_next(P, s)) < 0)
                    return rc;
            }
            if (s->done) {
                P->heap[0] = P->heap[--P->nheap];
                heap_down(P, 0);
                break;
            }
            top->key = stream_key(s);
            if (P->nheap > 1 && !heap_before(top, &next)) {
                heap_down(P, 0);
                break;
            }
        }
    }
    return 0;
}

/* No analysis wants the heap events, so only their times matter (the model's time range):
 * the packed allocations and frees that make most of a trace are run through here, checked
 * as stream_take_fast checks them (ps_unpack_*_p) but built into no event. Stops at the
 * first other record (or one that does not decode: stream_fill takes it and says why), and
 * at a chunk's end. */
static void stream_skim(pass_t *P, stream_t *s)
{
    chunk_view_t *v = &s->view;
    const unsigned char *d = v->data;
    size_t pos = v->pos, size = v->size;
    uint64_t nrec = 0;
    tracemodel_t *m = P->m;
    uint64_t lo = m->first_ts, hi = m->last_ts;
    bool have = m->have_ts;
    while (size - pos >= sizeof(ps_rec_hdr_t)) {
        const unsigned char *p = d + pos;
        ps_rec_hdr_t h;
        memcpy(&h, p, sizeof(h));
        if (h.len > size - pos || h.len <= sizeof(h))
            break;
        uint64_t ts;
        if (h.type == PS_REC_ALLOC_P) {
            ps_rec_alloc_t a;
            if (ps_unpack_alloc_p(&v->pk, p, h.len, &a) != 0)
                break;
            ts = a.ts;
        } else if (h.type == PS_REC_FREE_P) {
            ps_rec_free_t f;
            if (ps_unpack_free_p(&v->pk, p, h.len, &f) != 0)
                break;
            ts = f.ts;
        } else {
            break;
        }
        pos += h.len;
        nrec++;
        if (!have || ts < lo)
            lo = ts;
        if (!have || ts > hi)
            hi = ts;
        have = true;
    }
    v->pos = pos;
    m->records += nrec;
    m->first_ts = lo;
    m->last_ts = hi;
    m->have_ts = have;
}

/* No analysis wants the heap events: each stream alone, its events only timed. */
static int pass_streams_in_turn(pass_t *P)
{
    size_t total_chunks = reader_chunk_count(P->r);
    uint64_t n = 0;
    for (size_t i = 0; i < P->nstreams; i++) {
        stream_t *s = &P->streams[i];
        for (;;) {
            if (!s->n) {
                if (s->view.data)
                    stream_skim(P, s);
                int rc = stream_fill(P, s);
                if (rc < 0)
                    return rc;
                if (s->done)
                    break;
            }
            tracemodel_ts(P->m, stream_cur(s)->ts);
            s->head = (s->head + 1) & (PASS_RING - 1);
            s->n--;
            if (PS_UNLIKELY(P->progress && (++n & 0xffff) == 0))
                pass_progress(P, total_chunks);
        }
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

static int pass_make_streams(pass_t *P)
{
    size_t n = reader_chunk_count(P->r);
    if (n == 0)
        return 0;
    chunk_key_t *keys = malloc(n * sizeof(*keys));
    size_t *order = malloc(n * sizeof(*order));
    P->streams = calloc(n, sizeof(*P->streams)); /* at most one stream per chunk */
    if (!keys || !order || !P->streams) {
        free(keys);
        free(order);
        return -PS_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const chunk_info_t *c = reader_chunk(P->r, i);
        keys[i] = (chunk_key_t){c->h.tid, c->h.seq, i};
    }
    qsort(keys, n, sizeof(*keys), chunk_key_cmp);
    for (size_t i = 0; i < n; i++)
        order[i] = keys[i].index;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && keys[j].tid == keys[i].tid)
            j++;
        stream_t *s = &P->streams[P->nstreams++];
        s->tid = keys[i].tid;
        s->chunks = order + i; /* slices of one array; freed through streams[0] */
        s->nchunks = j - i;
        uint64_t expect = 0;
        for (size_t k = i; k < j; k++) {
            if (keys[k].seq > expect)
                P->m->chunks_lost += keys[k].seq - expect;
            expect = (uint64_t)keys[k].seq + 1;
        }
        i = j;
    }
    free(keys);
    return 0;
}

/* No analysis wants the heap events: the chunks whose header says they hold nothing else
 * (PS_CHUNK_F_HEAP_ONLY) leave the streams unread, as stream_skim would have counted them:
 * their records (nevents, one event each), their time range (records of a chunk are in time
 * order: t_first and t_last are the first and the last), the chunk itself. */
static void pass_skip_heap_only(pass_t *P)
{
    tracemodel_t *m = P->m;
    for (size_t i = 0; i < P->nstreams; i++) {
        stream_t *s = &P->streams[i];
        size_t k = 0;
        for (size_t j = 0; j < s->nchunks; j++) {
            const chunk_info_t *c = reader_chunk(P->r, s->chunks[j]);
            if (!(c->h.flags & PS_CHUNK_F_HEAP_ONLY) || !c->h.nevents) {
                s->chunks[k++] = s->chunks[j];
                continue;
            }
            m->chunks++;
            m->records += c->h.nevents;
            tracemodel_ts(m, c->h.t_first);
            tracemodel_ts(m, c->h.t_last);
        }
        s->nchunks = k;
    }
}

/* ---- the live set's size, read ahead --------------------------------------------------- */

/* The shim's own stream holds a leak scan's and the snapshots' counts of live blocks, at its
 * end: the last few of its chunks (at most PASS_HINT_CHUNKS, PASS_HINT_BYTES decompressed)
 * are read before the pass for them. */
#define PASS_HINT_CHUNKS 4
#define PASS_HINT_BYTES (1u << 20)

/* The live blocks the trace says it ended with (0: it does not say): the largest count of a
 * leak scan (less the blocks a fork child inherited, which are not in its trace) or of a
 * live-set snapshot in the shim stream's last chunks, at most the events its chunk headers
 * count (a count that no event stands for makes no memory). A hint only: a chunk that does
 * not read is skipped (the pass reads it again and says so). */
static uint64_t pass_live_hint(pass_t *P)
{
    uint64_t hint = 0, events = 0;
    size_t seen = 0, bytes = 0;
    chunk_buf_t cb = {0};
    char err[256];
    for (size_t i = reader_chunk_count(P->r); i-- > 0 && seen < PASS_HINT_CHUNKS;) {
        const chunk_info_t *c = reader_chunk(P->r, i);
        if ((!(c->h.flags & PS_CHUNK_F_INTERNAL) && c->h.tid) ||
            (c->h.flags & PS_CHUNK_F_HEAP_ONLY))
            continue; /* (the shim's stream: flagged, tid 0) */
        if ((bytes += c->h.usize) > PASS_HINT_BYTES)
            break;
        seen++;
        chunk_view_t v;
        if (reader_chunk_decompress(P->r, i, &cb, &v, err, sizeof(err)) < 0)
            continue;
        record_t rec;
        while (view_next(P->r, &v, &rec) > 0) {
            const ps_rec_leak_scan_t *ls = &rec.u.leak_scan;
            uint64_t n = 0;
            if (rec.type == PS_REC_LEAK_SCAN && ls->blocks >= ls->inherited_blocks)
                n = ls->blocks - ls->inherited_blocks;
            else if (rec.type == PS_REC_SNAPSHOT)
                n = rec.u.snapshot.live_blocks;
            hint = n > hint ? n : hint;
        }
    }
    chunk_buf_free(&cb);
    for (size_t i = 0; i < reader_chunk_count(P->r) && events < hint; i++)
        events += reader_chunk(P->r, i)->h.nevents;
    return hint < events ? hint : events;
}

/* ---- entry point --------------------------------------------------------------------- */

static char *pass_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static int pass_body(pass_t *P, const char *path, pass_sink_t *sinks, size_t nsinks, char *err,
                     size_t errlen)
{
    tracemodel_t *m = P->m;
    int rc = reader_open(&P->r, path);
    if (rc < 0) {
        snprintf(err, errlen, "%s", P->r ? reader_error(P->r) : ps_strerror(rc));
        return rc;
    }
    const trace_info_t *ti = reader_info(P->r);
    m->exe = pass_strdup(ti->exe);
    m->cmdline = pass_strdup(ti->cmdline);
    if (!m->exe || !m->cmdline)
        return -PS_E_NOMEM;
    m->pid = ti->pid;
    m->file_flags = ti->flags;
    m->sample_bytes = ti->sample_bytes;
    m->start_ns = ti->start_mono_ns;
    m->start_realtime_ns = ti->start_realtime_ns;
    m->complete = true;
    if (reader_index_status(P->r) < 0)
        tracemodel_partial(m, "%s", reader_index_error(P->r));
    if ((rc = pass_make_streams(P)) < 0)
        return rc;
    m->span_end_ns = m->start_ns;
    for (size_t i = 0; i < reader_chunk_count(P->r); i++) {
        const chunk_info_t *c = reader_chunk(P->r, i);
        if (c->h.t_last > m->span_end_ns)
            m->span_end_ns = c->h.t_last;
    }
    P->rec_sinks = calloc(nsinks ? nsinks : 1, sizeof(*P->rec_sinks));
    P->ev_sinks = calloc(nsinks ? nsinks : 1, sizeof(*P->ev_sinks));
    if (!P->rec_sinks || !P->ev_sinks)
        return -PS_E_NOMEM;
    bool heap = false; /* an analysis of heap events (the replay): the hint is for it */
    for (size_t i = 0; i < nsinks; i++)
        heap |= sinks[i].ops->on_event != NULL;
    if (heap)
        m->live_hint = pass_live_hint(P);
    for (size_t i = 0; i < nsinks; i++) {
        if ((rc = sinks[i].ops->init(sinks[i].result, &sinks[i].state, m)) < 0)
            return rc;
        if (sinks[i].ops->on_record)
            P->rec_sinks[P->nrec++] = &sinks[i];
        if (sinks[i].ops->on_event)
            P->ev_sinks[P->nev++] = &sinks[i];
        if (sinks[i].ops->prefetch && sinks[i].ops->prefetch_on && !P->pf_sink)
            P->pf_sink = &sinks[i];
    }
    if (!P->nev)
        pass_skip_heap_only(P);
    size_t **chunks = malloc((P->nstreams ? P->nstreams : 1) * sizeof(*chunks));
    size_t *nchunks = malloc((P->nstreams ? P->nstreams : 1) * sizeof(*nchunks));
    if (chunks && nchunks) {
        for (size_t i = 0; i < P->nstreams; i++) {
            chunks[i] = P->streams[i].chunks;
            nchunks[i] = P->streams[i].nchunks;
        }
        /* the worker decodes heap records too when an analysis wants them */
        rc = prefetch_open(&P->pf, P->r, P->nstreams, chunks, nchunks,
                           P->nev ? &pass_digest_ops : NULL);
    } else {
        rc = -PS_E_NOMEM;
    }
    free(chunks);
    free(nchunks);
    /* a progress line only where someone watches and waits: a terminal and > 64 MiB */
    P->progress = isatty(STDERR_FILENO) && reader_file_size(P->r) > (64u << 20);
    P->progress_shown = -1;
    if (rc == 0)
        rc = P->nev ? pass_merge(P) : pass_streams_in_turn(P);
    if (P->progress_shown >= 0)
        fputs("\r\033[K", safeout_raw_stderr());
    if (rc < 0)
        return rc;
    if (!m->have_end && m->crash_signal)
        tracemodel_partial(m, "%s: the process died of signal %" PRIu32 " (CRASH record)", path,
                           m->crash_signal);
    else if (!m->have_end)
        tracemodel_partial(m, "%s: no END record: the process was still running or was killed "
                              "(the trace stops at its last written chunk)",
                           path);
    else if (m->chunks_lost)
        tracemodel_partial(m, "%s: %" PRIu64 " chunks missing (gaps in the per-thread sequence)",
                           path, m->chunks_lost);
    /* the time origin: the file header's start unless an event claims to be earlier */
    if (!m->start_ns || (m->have_ts && m->first_ts < m->start_ns))
        m->start_ns = m->first_ts;
    m->duration_ns = m->have_ts ? m->last_ts - m->start_ns : 0;
    for (size_t i = 0; i < nsinks; i++)
        if ((rc = sinks[i].ops->finish(sinks[i].state, m)) < 0)
            return rc;
    return 0;
}

int pass_run(const char *path, tracemodel_t *m, pass_sink_t *sinks, size_t nsinks, char *err,
             size_t errlen)
{
    pass_t *P = calloc(1, sizeof(*P));
    if (!P) {
        snprintf(err, errlen, "%s", ps_strerror(PS_E_NOMEM));
        return -PS_E_NOMEM;
    }
    P->m = m;
    if (errlen)
        err[0] = 0;
    int rc = pass_body(P, path, sinks, nsinks, err, errlen);
    if (rc == -PS_E_LIMIT && P->fatal[0])
        snprintf(err, errlen, "%s", P->fatal);
    else if (rc == -PS_E_NOMEM || (rc < 0 && !err[0]))
        snprintf(err, errlen, "%s: %s", path, ps_strerror(rc));
    prefetch_close(P->pf);
    reader_close(P->r);
    if (P->nstreams)
        free(P->streams[0].chunks);
    free(P->streams);
    free(P->heap);
    free(P->rec_sinks);
    free(P->ev_sinks);
    free(P);
    return rc;
}
