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

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/prefetch.h"
#include "core/safeout.h"
#include "perfshim/compiler.h"
#include "perfshim/errors.h"

typedef struct stream_s {
    uint32_t tid;
    size_t *chunks; /* chunk indices, by seq */
    size_t nchunks;
    chunk_view_t view;
    chunk_view_t ahead; /* stream_prefetch's cursor: a copy of view, a few records ahead */
    pass_event_t pend[2];
    unsigned npend, ipend;
    bool done;
} stream_t;

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

static void stream_take_alloc(stream_t *s, const ps_rec_alloc_t *a, uint8_t fn)
{
    s->pend[s->npend++] = (pass_event_t){a->ts,
                                         a->ptr,
                                         a->size,
                                         a->stack,
                                         a->ptr ? PASS_EV_ALLOC : PASS_EV_FAILED,
                                         fn,
                                         a->align ? (uint8_t)__builtin_ctzll(a->align) : 0,
                                         0,
                                         s->tid};
}

static void stream_take_free(stream_t *s, const ps_rec_free_t *f, uint8_t fn)
{
    s->pend[s->npend++] =
        (pass_event_t){f->ts, f->ptr, 0, f->stack, PASS_EV_RELEASE, fn, 0, 0, s->tid};
}

/* The records that make most of a trace, decoded in place with view_next's checks (a record
 * this does not take goes through view_next). Returns 1 taken, 0 not. */
static int stream_take_fast(pass_t *P, stream_t *s)
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
            s->pend[s->npend++] = (pass_event_t){ra->ts_before, ra->old_ptr, 0, ra->stack,
                                                 PASS_EV_RELEASE, rec->aux, 0,
                                                 ra->new_ptr != 0, s->tid};
        if (ra->new_ptr)
            s->pend[s->npend++] = (pass_event_t){ra->ts, ra->new_ptr, ra->size, ra->stack,
                                                 PASS_EV_ALLOC, rec->aux, 0, 0, s->tid};
        else if (ra->size)
            s->pend[s->npend++] = (pass_event_t){ra->ts, 0, ra->size, ra->stack,
                                                 PASS_EV_FAILED, rec->aux, 0, 0, s->tid};
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
        if (P->pf_sink) /* a hint only: asked per chunk, not per record */
            P->pf_on = P->pf_sink->ops->prefetch_on(P->pf_sink->state) != 0;
        return rc;
    }
}

/* Makes the stream's next event current (s->pend[s->ipend]) or marks it done. */
/* Address prefetch (pass_ops_t.prefetch): the addresses of the stream's next records,
 * decoded by a second cursor up to PREFETCH_BYTES ahead of the view (~20 packed records), are
 * handed to the sink before their turn, so a random probe of its large table (a cache and TLB
 * miss) overlaps the work before it. The cursor only reads: what it cannot decode, it stops at. */
#define PREFETCH_BYTES 160

static void stream_prefetch(pass_t *P, stream_t *s)
{
    pass_sink_t *k = P->pf_sink;
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
            a->pk.ptr0 += ps_unzz(d1);
            k->ops->prefetch(k->state, a->pk.ptr0);
            if (h.type == PS_REC_REALLOC_P) {
                if (ps_uv_get(&q, e, &d2))
                    return;
                a->pk.ptr0 += ps_unzz(d2);
                k->ops->prefetch(k->state, a->pk.ptr0);
            }
        }
        a->pos += h.len;
    }
}

static int stream_fill(pass_t *P, stream_t *s)
{
    if (s->ipend + 1 < s->npend) {
        s->ipend++;
        return 0;
    }
    s->npend = s->ipend = 0;
    while (!s->npend) {
        record_t rec;
        if (s->view.data && P->pf_on)
            stream_prefetch(P, s);
        if (s->view.data && stream_take_fast(P, s))
            continue;
        int rc = s->view.data ? view_next(P->r, &s->view, &rec) : 0;
        if (rc < 0) {
            tracemodel_partial(P->m, "%s", reader_error(P->r));
            rc = 0; /* the rest of this chunk is lost; go on with the next one */
        }
        if (rc == 0) {
            s->view.data = NULL;
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
    }
    return 0;
}

/* stream_fill with its common case inline: the next pending event, or one heap record that
 * stream_take_fast decodes (anything else: stream_fill, which starts the same way). */
static inline int stream_next(pass_t *P, stream_t *s)
{
    if (s->ipend + 1 < s->npend) {
        s->ipend++;
        return 0;
    }
    if (PS_LIKELY(s->view.data != NULL)) {
        s->npend = s->ipend = 0;
        if (P->pf_on)
            stream_prefetch(P, s);
        if (stream_take_fast(P, s))
            return 0;
    }
    return stream_fill(P, s);
}

/* ---- merge --------------------------------------------------------------------------- */

static uint64_t stream_key(const stream_t *s)
{
    const pass_event_t *e = &s->pend[s->ipend];
    uint64_t ts = e->ts < (1ull << 63) ? e->ts : (1ull << 63) - 1;
    return ts << 1 | (e->kind != PASS_EV_RELEASE);
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
    /* one analysis with events (the common case): called directly, no list */
    int (*on_event)(void *, const pass_event_t *) = P->nev == 1 ? P->ev_sinks[0]->ops->on_event
                                                                : NULL;
    void *ev_state = P->nev == 1 ? P->ev_sinks[0]->state : NULL;
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
            if (PS_UNLIKELY(P->progress && (++n & 0xffff) == 0))
                pass_progress(P, total_chunks);
            const pass_event_t *e = &s->pend[s->ipend];
            tracemodel_ts(P->m, e->ts);
            if (on_event) {
                if ((rc = on_event(ev_state, e)) < 0)
                    return rc;
            } else {
                for (size_t i = 0; i < P->nev; i++)
                    if ((rc = P->ev_sinks[i]->ops->on_event(P->ev_sinks[i]->state, e)) < 0)
                        return rc;
            }
            if ((rc = stream_next(P, s)) < 0)
                return rc;
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

/* No analysis wants the heap events: each stream alone, its events only timed. */
static int pass_streams_in_turn(pass_t *P)
{
    size_t total_chunks = reader_chunk_count(P->r);
    uint64_t n = 0;
    for (size_t i = 0; i < P->nstreams; i++) {
        stream_t *s = &P->streams[i];
        for (;;) {
            int rc = stream_fill(P, s);
            if (rc < 0)
                return rc;
            if (s->done)
                break;
            tracemodel_ts(P->m, s->pend[s->ipend].ts);
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
    m->start_ns = ti->start_mono_ns;
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
    size_t **chunks = malloc((P->nstreams ? P->nstreams : 1) * sizeof(*chunks));
    size_t *nchunks = malloc((P->nstreams ? P->nstreams : 1) * sizeof(*nchunks));
    if (chunks && nchunks) {
        for (size_t i = 0; i < P->nstreams; i++) {
            chunks[i] = P->streams[i].chunks;
            nchunks[i] = P->streams[i].nchunks;
        }
        rc = prefetch_open(&P->pf, P->r, P->nstreams, chunks, nchunks);
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
