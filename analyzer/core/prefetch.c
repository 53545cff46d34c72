/*
 * prefetch.c -- see prefetch.h.
 *
 * Each stream has a ring of PF_RING slots: `cur`, held by the consumer, and up to PF_RING - 1
 * after it that the worker fills with the stream's next chunks, in order. The worker serves
 * the stream the consumer waits on first, else any stream with a free slot, round robin; then
 * it sleeps. One mutex and two condition variables; the lock is never held while
 * decompressing. Hand-offs are batched: the consumer wakes a sleeping worker only when the
 * stream it reads has half its ring free (or it waits, or the worker stopped on the memory
 * budget), and the worker wakes the consumer only when it waits, and then with PF_WAKE_READY
 * chunks of its stream ready (or all it will get: the stream's last, the worker idle). So a
 * stream read at the worker's pace costs about two wake-ups per PF_RING / 2 chunks, not two
 * per chunk, whichever side is the faster.
 *
 * Memory: `held` counts the bytes of every slot's buffer. A slot's buffer is freed as soon as
 * the consumer is done with it, so held is what is in use plus what is fetched ahead. A fetch
 * is admitted only within the budget: one ahead of the consumer within half of it, the one
 * the consumer waits for within all of it, after dropping the chunks fetched ahead for other
 * streams (they are fetched again when their turn comes). When even that does not fit, the
 * chunks the consumer holds at once exceed the budget, and the fetch fails with PS_E_LIMIT.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/prefetch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perfshim/errors.h"

#define PF_ERR 512
#define PF_BUDGET_MB_DEFAULT 512u
#define PF_BUDGET_MB_MIN 16u /* room for a few of the largest chunks */
_Static_assert(((size_t)PF_BUDGET_MB_MIN << 20) >= 2 * (size_t)PERFSHIM_MAX_CHUNK_USIZE,
               "the smallest budget holds a chunk in use and one ahead");

typedef struct pslot_s {
    unsigned char *ubuf;
    size_t ubuf_cap;
    size_t grow; /* bytes added to `held` for this fill before it ran */
    chunk_view_t view;
    void *aux; /* the digest's result (prefetch_digest_t) */
    size_t aux_bytes;
    int rc;
    char err[PF_ERR];
} pslot_t;

#define PF_RING (PREFETCH_AHEAD + 1) /* slots per stream: the consumer's and those ahead */
/* A consumer waiting for its stream's next chunk is woken when this many are ready (or no more
 * will be, or the worker has nothing else to do), half a ring: on an 8 M-event churn trace
 * (3,932 chunks) the consumer caught up with the worker ~3,300 times, each a sleep, a wake-up
 * and on 2 cores often a preemption of the worker; ~1,500 with this. */
#define PF_WAKE_READY (PF_RING / 2)

/* Released slots' buffers kept for the next fills (mu): a chunk's decompressed buffer and the
 * digest's arrays (grown by doubling, ~5 reallocs a chunk, each buffer a fresh mmap's page
 * faults) are reused instead of allocated again for every chunk. Two sets of at most
 * PF_SPARE_MAX bytes each, and more, up to a ring's worth (the consumer releases up to half a
 * ring between two of the worker's turns), while all of them stay within PF_SPARE_SMALL bytes;
 * outside the budget (`held` counts the slots' buffers). */
#define PF_SPARES PF_RING
#define PF_SPARE_MAX ((size_t)16 << 20)
#define PF_SPARE_SMALL ((size_t)4 << 20)

typedef struct pspare_s {
    unsigned char *ubuf;
    size_t ubuf_cap;
    void *aux;
    size_t aux_bytes;
} pspare_t;

typedef struct pstream_s {
    size_t *chunks;
    size_t nchunks, next; /* next: the next chunk to fetch */
    pslot_t slot[PF_RING];
    int cur;         /* the consumer's slot, -1 before the first */
    unsigned nready; /* slots after cur holding fetched chunks, in order */
    bool busy;       /* the worker is filling the slot after those */
} pstream_t;

/* What one decompressing thread owns. */
typedef struct pworker_s {
    unsigned char *cbuf;
    size_t cbuf_cap;
    struct ZSTD_DCtx_s *dctx;
    chunk_ra_t ra; /* its read-ahead window (chunks in the file's order: a pread a window) */
} pworker_t;

struct prefetch_s {
    const reader_t *r;
    pstream_t *s;
    size_t n, rr;
    size_t waiting; /* the stream the consumer waits on, SIZE_MAX: none */
    size_t budget, held; /* bytes: the limit, and the slots' buffers now (mu) */
    bool threaded, stop;
    bool idle;    /* the worker sleeps on `work` (mu) */
    bool blocked; /* ... and a stream wanted a chunk that the budget did not admit */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t work, ready;
    pworker_t worker, inline_worker;
    const prefetch_digest_t *digest;
    pspare_t spare[PF_SPARES];
    unsigned nspare;
    size_t spare_bytes; /* their buffers' bytes */
};

/* The slot k places after the consumer's (k = 1: the next chunk's). */
static pslot_t *pf_slot(pstream_t *s, unsigned k)
{
    unsigned base = s->cur < 0 ? PF_RING - 1 : (unsigned)s->cur;
    return &s->slot[(base + k) % PF_RING];
}

/* pf_fetch's hook (reader_cols_hook_t): the digest's digest_cols into the slot. */
typedef struct pf_cols_arg_s {
    const prefetch_t *p;
    pslot_t *sl;
    bool taken; /* digest_cols made the digest */
} pf_cols_arg_t;

static int pf_cols(void *arg, const chunk_info_t *c, const unsigned char *body, size_t n,
                   size_t xlen, void *dec)
{
    pf_cols_arg_t *a = arg;
    int rc = a->p->digest->digest_cols(c, body, n, xlen, dec, &a->sl->aux, &a->sl->aux_bytes);
    a->taken = rc == 0;
    return rc;
}

/* Decompresses chunk ci into slot sl with w's buffers; the digest's, a columnar chunk's
 * straight from its body where it can. */
static void pf_fetch(const prefetch_t *p, pworker_t *w, pslot_t *sl, size_t ci)
{
    chunk_buf_t cb = {.cbuf = w->cbuf, .ubuf = sl->ubuf, .cbuf_cap = w->cbuf_cap,
                      .ubuf_cap = sl->ubuf_cap, .dctx = w->dctx, .ra = &w->ra};
    pf_cols_arg_t arg = {p, sl, false};
    const bool cols = p->digest && p->digest->digest_cols;
    sl->err[0] = 0;
    sl->rc = reader_chunk_decompress_cols(p->r, ci, &cb, &sl->view, sl->err, sizeof(sl->err),
                                          cols ? pf_cols : NULL, &arg);
    w->cbuf = cb.cbuf;
    w->cbuf_cap = cb.cbuf_cap;
    w->dctx = cb.dctx;
    sl->ubuf = cb.ubuf;
    sl->ubuf_cap = cb.ubuf_cap;
    if (p->digest && sl->rc == 0 && !arg.taken)
        p->digest->digest(&sl->view, &sl->aux, &sl->aux_bytes);
}

/* A stream's chunks fetched ahead hold at most this much (decompressed bytes and digests)
 * beyond the first one ahead: 64 KiB chunks (the shim's default buffer) still go PF_RING - 1
 * ahead, a trace of 1 MiB chunks (PERFSHIM_BUFFER_KB=1024) one: seven ahead there made the
 * kvstore report's peak RSS 52.7 -> 62-64 MB, one 55.1 MB. */
#define PF_AHEAD_BYTES ((size_t)1 << 20)

static bool pf_wants(const pstream_t *s)
{
    if (s->nready >= PF_RING - 1 || s->busy || s->next >= s->nchunks)
        return false;
    size_t held = 0;
    for (unsigned k = 1; k <= s->nready; k++) {
        const pslot_t *sl = pf_slot((pstream_t *)s, k);
        held += sl->ubuf_cap + sl->aux_bytes;
    }
    return s->nready == 0 || held < PF_AHEAD_BYTES;
}

/* mu held. Frees the slot's buffer (the consumer is done with it, or it was fetched ahead
 * and is dropped). */
static void pf_release(prefetch_t *p, pslot_t *sl)
{
    size_t bytes = sl->ubuf_cap + sl->aux_bytes;
    p->held -= bytes;
    if (p->nspare < PF_SPARES && (sl->ubuf || sl->aux) && bytes <= PF_SPARE_MAX &&
        (p->nspare < 2 || p->spare_bytes + bytes <= PF_SPARE_SMALL)) { /* kept for a next fill */
        p->spare[p->nspare++] = (pspare_t){sl->ubuf, sl->ubuf_cap, sl->aux, sl->aux_bytes};
        p->spare_bytes += bytes;
        sl->aux = NULL;
        sl->ubuf = NULL;
    }
    free(sl->ubuf);
    sl->ubuf = NULL;
    sl->ubuf_cap = 0;
    sl->view.data = NULL;
    if (sl->aux)
        p->digest->free_aux(sl->aux);
    sl->aux = NULL;
    sl->aux_bytes = 0;
}

/* mu held. Gives an empty slot (released, about to be filled) a spare set of buffers; after
 * pf_admit, and before the fill's cap0 is taken, so that pf_settle counts them as its growth. */
static void pf_take_spare(prefetch_t *p, pslot_t *sl)
{
    if (!p->nspare || sl->ubuf || sl->aux)
        return;
    pspare_t *sp = &p->spare[--p->nspare];
    p->spare_bytes -= sp->ubuf_cap + sp->aux_bytes;
    sl->ubuf = sp->ubuf;
    sl->ubuf_cap = sp->ubuf_cap;
    sl->aux = sp->aux;
    sl->aux_bytes = sp->aux_bytes;
}

/* mu held. Admits filling sl with chunk ci if the buffers stay within `limit`; reserves the
 * growth. */
static bool pf_admit(prefetch_t *p, pslot_t *sl, size_t ci, size_t limit)
{
    size_t need = reader_chunk(p->r, ci)->h.usize;
    if (p->digest) /* the digest's estimate: 4 times the chunk (decoded events) */
        need *= 5;
    size_t have = sl->ubuf_cap + sl->aux_bytes;
    sl->grow = need > have ? need - have : 0;
    if (p->held + sl->grow > limit)
        return false;
    p->held += sl->grow;
    return true;
}

/* mu held. After pf_fetch: the buffer's real growth replaces the reservation. */
static void pf_settle(prefetch_t *p, pslot_t *sl, size_t cap_before)
{
    p->held = p->held - sl->grow + (sl->ubuf_cap + sl->aux_bytes - cap_before);
    sl->grow = 0;
}

/* mu held. The consumer needs stream s's next chunk ci in sl: drops other streams' chunks
 * fetched ahead until it fits; else fills sl with the PS_E_LIMIT error. Returns whether it
 * may be fetched. */
static bool pf_admit_demand(prefetch_t *p, pstream_t *s, pslot_t *sl, size_t ci)
{
    if (pf_admit(p, sl, ci, p->budget))
        return true;
    for (size_t i = 0; i < p->n; i++) {
        pstream_t *o = &p->s[i];
        while (o != s && o->nready) { /* the latest fetched first */
            pf_release(p, pf_slot(o, o->nready));
            o->nready--;
            o->next--; /* fetched again when the consumer gets there */
            if (pf_admit(p, sl, ci, p->budget))
                return true;
        }
    }
    sl->grow = 0;
    memset(&sl->view, 0, sizeof(sl->view));
    sl->rc = -PS_E_LIMIT;
    snprintf(sl->err, sizeof(sl->err),
             "%s: chunk %zu: the trace needs more than %zu MiB of decompressed chunks in memory "
             "at once (%zu threads' streams); PERFSHIM_MAX_MEMORY_MB raises the limit",
             reader_path(p->r), ci, p->budget >> 20, p->n);
    return false;
}

static void *pf_main(void *arg)
{
    prefetch_t *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        pstream_t *s = NULL;
        bool demand = false, blocked = false;
        if (p->waiting != SIZE_MAX) {
            pstream_t *w = &p->s[p->waiting];
            const bool wants = pf_wants(w);
            if (wants && !w->nready) { /* the chunk the consumer waits for */
                s = w;
                demand = true;
            } else if (wants && w->nready < PF_WAKE_READY &&
                       pf_admit(p, pf_slot(w, w->nready + 1), w->chunks[w->next],
                                p->budget / 2)) { /* the ones it is woken with */
                s = w;
            } else if (w->nready) { /* before anything else: what it has */
                pthread_cond_signal(&p->ready);
            }
        }
        for (size_t k = 0; !s && k < p->n; k++) {
            size_t i = (p->rr + k) % p->n;
            pstream_t *c = &p->s[i];
            if (!pf_wants(c))
                continue;
            if (pf_admit(p, pf_slot(c, c->nready + 1), c->chunks[c->next], p->budget / 2)) {
                s = c;
                p->rr = i + 1;
            } else {
                blocked = true;
            }
        }
        if (!s) {
            p->idle = true;
            p->blocked = blocked;
            pthread_cond_wait(&p->work, &p->mu);
            p->idle = false;
            continue;
        }
        s->busy = true;
        size_t ci = s->chunks[s->next++];
        pslot_t *sl = pf_slot(s, s->nready + 1);
        bool ok = !demand || pf_admit_demand(p, s, sl, ci);
        size_t cap0 = sl->ubuf_cap + sl->aux_bytes;
        if (ok)
            pf_take_spare(p, sl);
        pthread_mutex_unlock(&p->mu);
        if (ok)
            pf_fetch(p, &p->worker, sl, ci);
        pthread_mutex_lock(&p->mu);
        if (ok)
            pf_settle(p, sl, cap0);
        s->busy = false;
        s->nready++;
        if (p->waiting != SIZE_MAX &&
            (p->s[p->waiting].nready >= PF_WAKE_READY || !pf_wants(&p->s[p->waiting])))
            pthread_cond_signal(&p->ready);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

bool prefetch_second_core(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN) > 1 && !getenv("PERFSHIM_NO_PREFETCH");
}

int prefetch_open(prefetch_t **out, const reader_t *r, size_t nstreams,
                  size_t *const *chunks, const size_t *nchunks, const prefetch_digest_t *digest)
{
    *out = NULL;
    prefetch_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->s = calloc(nstreams ? nstreams : 1, sizeof(*p->s)))) {
        free(p);
        return -PS_E_NOMEM;
    }
    p->r = r;
    p->n = nstreams;
    p->digest = digest;
    p->waiting = SIZE_MAX;
    unsigned long mb = PF_BUDGET_MB_DEFAULT;
    const char *env = getenv("PERFSHIM_MAX_MEMORY_MB");
    if (env && *env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        if (!*end && v >= PF_BUDGET_MB_MIN && v <= (1ul << 20)) {
            mb = v;
        } else {
            static int warned;
            if (!warned++)
                fprintf(stderr,
                        "perfshim: warning: PERFSHIM_MAX_MEMORY_MB=%s is not a number of MiB "
                        "in %u..1048576; using %u\n",
                        env, PF_BUDGET_MB_MIN, PF_BUDGET_MB_DEFAULT);
        }
    }
    p->budget = (size_t)mb << 20;
    for (size_t i = 0; i < nstreams; i++)
        p->s[i] = (pstream_t){.chunks = chunks[i], .nchunks = nchunks[i], .cur = -1};
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->ready, NULL);
    if (nstreams > 0 && prefetch_second_core())
        p->threaded = pthread_create(&p->th, NULL, pf_main, p) == 0;
    *out = p;
    return 0;
}

int prefetch_next(prefetch_t *p, size_t si, chunk_view_t *view, char *err, size_t errlen)
{
    pstream_t *s = &p->s[si];
    memset(view, 0, sizeof(*view));
    if (!p->threaded) {
        if (s->cur >= 0)
            pf_release(p, &s->slot[s->cur]); /* the consumer is done with it */
        if (s->next >= s->nchunks)
            return 0;
        s->cur = 0;
        pslot_t *sl = &s->slot[0];
        size_t ci = s->chunks[s->next++], cap0 = sl->ubuf_cap + sl->aux_bytes;
        if (pf_admit_demand(p, s, sl, ci)) {
            pf_take_spare(p, sl);
            pf_fetch(p, &p->inline_worker, sl, ci);
            pf_settle(p, sl, cap0);
        }
    } else {
        pthread_mutex_lock(&p->mu);
        if (s->cur >= 0)
            pf_release(p, &s->slot[s->cur]); /* the consumer is done with it */
        while (!s->nready && (s->busy || s->next < s->nchunks)) {
            p->waiting = si;
            if (p->idle)
                pthread_cond_signal(&p->work);
            pthread_cond_wait(&p->ready, &p->mu);
        }
        p->waiting = SIZE_MAX;
        if (!s->nready) {
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
        s->cur = (int)(pf_slot(s, 1) - s->slot);
        s->nready--;
        /* the worker sleeps: wake it when half of this ring is free, or when the budget
         * stopped it (the buffer just freed may let it go on) */
        if (p->idle && (p->blocked || (s->nready < PF_RING / 2 && s->next < s->nchunks)))
            pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->mu);
    }
    pslot_t *sl = &s->slot[s->cur];
    if (sl->rc < 0) {
        snprintf(err, errlen, "%s", sl->err);
        return sl->rc;
    }
    *view = sl->view;
    return 1;
}

const void *prefetch_aux(prefetch_t *p, size_t s)
{
    pstream_t *st = &p->s[s];
    return st->cur >= 0 ? st->slot[st->cur].aux : NULL;
}

size_t prefetch_ahead(prefetch_t *p, size_t s)
{
    if (!p->threaded)
        return 0;
    pthread_mutex_lock(&p->mu);
    size_t n = p->s[s].nready;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void pf_worker_free(pworker_t *w)
{
    chunk_buf_t cb = {.cbuf = w->cbuf, .dctx = w->dctx};
    chunk_buf_free(&cb);
    chunk_ra_free(&w->ra);
}

void prefetch_close(prefetch_t *p)
{
    if (!p)
        return;
    if (p->threaded) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->ready);
    for (size_t i = 0; i < p->n; i++)
        for (int k = 0; k < PF_RING; k++) {
            free(p->s[i].slot[k].ubuf);
            if (p->s[i].slot[k].aux)
                p->digest->free_aux(p->s[i].slot[k].aux);
        }
    for (unsigned k = 0; k < p->nspare; k++) {
        free(p->spare[k].ubuf);
        if (p->spare[k].aux)
            p->digest->free_aux(p->spare[k].aux);
    }
    pf_worker_free(&p->worker);
    pf_worker_free(&p->inline_worker);
    free(p->s);
    free(p);
}
