/*
 * whatif.c -- see whatif.h.
 *
 * During the pass each op goes to a spool file next to the op file, in the merged order,
 * tagged with its thread index; at the end the op file is written from it: the header, the
 * thread table, then each thread's ops at its offset (one sequential read of the spool, ops
 * scattered through small per-thread buffers).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/whatif.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/u32map.h"
#include "perfshim/errors.h"
#include "perfshim/replay_ops.h"
#include "perfshim/trace_format.h"

/* A live block: its address, id, allocating thread, that thread's op index, size. */
typedef struct wblock_s {
    uint64_t ptr; /* 0: empty slot */
    uint64_t size;
    uint64_t op; /* index of the allocating op in its thread */
    uint32_t id, thread;
} wblock_t;

typedef struct wthread_s {
    uint32_t tid;
    uint64_t nops, waits, switches;
    uint32_t *free_ids; /* ids this thread released itself: reusable by it */
    size_t nfree, capfree;
    bool pending;       /* a realloc's release, waiting for its allocation */
    wblock_t pend;      /* the released block */
} wthread_t;

typedef struct spool_ent_s {
    uint32_t thread, pad;
    ps_op_t op;
} spool_ent_t;

typedef struct wstate_s {
    whatif_t *w;
    FILE *spool;
    char *spool_path;
    u32map_t tids; /* tid -> thread index */
    wthread_t *th;
    size_t nth, capth;
    wblock_t *tab; /* open addressing by address, power-of-two capacity */
    size_t cap, n;
    uint64_t live_bytes;
    uint32_t last_thread;
    bool any;
    uint32_t last_op_thread; /* the thread that emitted the latest op (recorded order) */
    bool any_op;
} wstate_t;

static int whatif_fail(wstate_t *s, int rc, const char *what)
{
    if (!s->w->err[0])
        snprintf(s->w->err, sizeof s->w->err, "%s: %s", what,
                 rc == -PS_E_IO ? strerror(errno) : ps_strerror(rc));
    return rc;
}

/* ---- the block table ----------------------------------------------------------------- */

static size_t tab_home(const wstate_t *s, uint64_t ptr)
{
    uint64_t h = (ptr >> 4) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 17) & (s->cap - 1);
}

static int tab_grow(wstate_t *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 4096;
    wblock_t *nt = calloc(ncap, sizeof(*nt));
    if (!nt)
        return -PS_E_NOMEM;
    wblock_t *old = s->tab;
    size_t ocap = s->cap;
    s->tab = nt;
    s->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].ptr)
            continue;
        size_t j = tab_home(s, old[i].ptr);
        while (nt[j].ptr)
            j = (j + 1) & (ncap - 1);
        nt[j] = old[i];
    }
    free(old);
    return 0;
}

/* The slot of ptr, or of where it would go. */
static size_t tab_find(const wstate_t *s, uint64_t ptr)
{
    size_t j = tab_home(s, ptr);
    while (s->tab[j].ptr && s->tab[j].ptr != ptr)
        j = (j + 1) & (s->cap - 1);
    return j;
}

/* Removes slot j (backward-shift deletion: no tombstones). */
static void tab_del(wstate_t *s, size_t j)
{
    size_t mask = s->cap - 1;
    s->tab[j].ptr = 0;
    s->n--;
    for (size_t k = (j + 1) & mask; s->tab[k].ptr; k = (k + 1) & mask) {
        size_t h = tab_home(s, s->tab[k].ptr);
        /* k's entry may move to j when j lies cyclically in [h, k) */
        if ((k > j && (h <= j || h > k)) || (k < j && h <= j && h > k)) {
            s->tab[j] = s->tab[k];
            s->tab[k].ptr = 0;
            j = k;
        }
    }
}

/* ---- threads, ids, ops ---------------------------------------------------------------- */

static int thread_of(wstate_t *s, uint32_t tid, uint32_t *idx)
{
    uint32_t v = u32map_get(&s->tids, tid);
    if (v != U32MAP_NONE) {
        *idx = v;
        return 0;
    }
    if (s->nth >= PS_OPS_MAX_THREADS)
        return -PS_E_LIMIT;
    if (s->nth == s->capth) {
        size_t nc = s->capth ? s->capth * 2 : 16;
        wthread_t *nt = realloc(s->th, nc * sizeof(*nt));
        if (!nt)
            return -PS_E_NOMEM;
        s->th = nt;
        s->capth = nc;
    }
    int rc = u32map_put(&s->tids, tid, (uint32_t)s->nth);
    if (rc < 0)
        return rc;
    memset(&s->th[s->nth], 0, sizeof(s->th[0]));
    s->th[s->nth].tid = tid;
    *idx = (uint32_t)s->nth++;
    return 0;
}

static int id_new(wstate_t *s, wthread_t *t, uint32_t *id)
{
    if (t->nfree) {
        *id = t->free_ids[--t->nfree];
        return 0;
    }
    if (s->w->blocks >= UINT32_MAX)
        return -PS_E_LIMIT;
    *id = (uint32_t)s->w->blocks++;
    return 0;
}

static int id_release(wthread_t *t, uint32_t id)
{
    if (t->nfree == t->capfree) {
        size_t nc = t->capfree ? t->capfree * 2 : 64;
        uint32_t *n = realloc(t->free_ids, nc * sizeof(*n));
        if (!n)
            return -PS_E_NOMEM;
        t->free_ids = n;
        t->capfree = nc;
    }
    t->free_ids[t->nfree++] = id;
    return 0;
}

/* Appends op to thread ti's ops (the spool). */
static int op_put(wstate_t *s, uint32_t ti, const ps_op_t *op)
{
    spool_ent_t e = {ti, 0, *op};
    /* the recorded order: each op after the op emitted just before it, when another thread
     * emitted that one (a chain through every op: it implies the op's own wait) */
    if (s->w->recorded_order && s->any_op && s->last_op_thread != ti) {
        e.op.wait_thread = s->last_op_thread;
        e.op.wait_op = s->th[s->last_op_thread].nops;
    }
    s->any_op = true;
    s->last_op_thread = ti;
    op = &e.op;
    if (fwrite(&e, sizeof e, 1, s->spool) != 1)
        return -PS_E_IO;
    s->th[ti].nops++;
    s->w->ops++;
    if (op->wait_thread != PS_OPS_NO_WAIT) {
        s->w->waits++;
        s->th[ti].waits++;
    }
    return 0;
}

/* The wait a release of block b by thread ti needs, into op; recycles b's id when ti
 * allocated it (after the op that uses it: the caller emits the op first). */
static void op_wait(ps_op_t *op, uint32_t ti, const wblock_t *b)
{
    op->wait_thread = PS_OPS_NO_WAIT;
    if (b->thread != ti) {
        op->wait_thread = b->thread;
        op->wait_op = b->op + 1;
    }
}

/* A realloc's release that no allocation followed (realloc(p, 0)): a FREE. */
static int pending_flush(wstate_t *s, uint32_t ti)
{
    wthread_t *t = &s->th[ti];
    if (!t->pending)
        return 0;
    t->pending = false;
    ps_op_t op = {.kind = PS_OP_FREE, .id = t->pend.id};
    op_wait(&op, ti, &t->pend);
    int rc = op_put(s, ti, &op);
    if (rc == 0 && t->pend.thread == ti)
        rc = id_release(t, t->pend.id);
    s->w->frees++;
    return rc;
}

static bool fn_is_realloc(uint8_t fn)
{
    return fn == PS_FN_REALLOC || fn == PS_FN_REALLOCARRAY;
}

static int whatif_alloc(wstate_t *s, uint32_t ti, const pass_event_t *e)
{
    wthread_t *t = &s->th[ti];
    int rc;
    if (t->pending && !fn_is_realloc(e->fn) && (rc = pending_flush(s, ti)) < 0)
        return rc;
    if ((s->n + 1) * 4 > s->cap * 3 && (rc = tab_grow(s)) < 0)
        return rc;
    size_t j = tab_find(s, e->ptr);
    if (s->tab[j].ptr) { /* allocated twice without a release: the older block stays live */
        s->live_bytes -= s->tab[j].size;
        tab_del(s, j);
        j = tab_find(s, e->ptr);
    }
    uint32_t id;
    if ((rc = id_new(s, t, &id)) < 0)
        return rc;
    ps_op_t op = {.kind = PS_OP_MALLOC, .id = id, .size = e->size, .wait_thread = PS_OPS_NO_WAIT};
    if (t->pending) { /* the realloc's allocation: one REALLOC op */
        t->pending = false;
        op.kind = PS_OP_REALLOC;
        op.id = t->pend.id;
        op.id2 = id;
        op.old_size = t->pend.size;
        op_wait(&op, ti, &t->pend);
        s->w->reallocs++;
    } else {
        switch (e->fn) {
        case PS_FN_CALLOC:
            op.kind = PS_OP_CALLOC;
            break;
        case PS_FN_POSIX_MEMALIGN:
        case PS_FN_ALIGNED_ALLOC:
        case PS_FN_MEMALIGN:
        case PS_FN_VALLOC:
        case PS_FN_PVALLOC:
        case PS_FN_NEW_ALIGNED:
        case PS_FN_NEW_ALIGNED_NOTHROW:
        case PS_FN_NEW_ARRAY_ALIGNED:
        case PS_FN_NEW_ARRAY_ALIGNED_NOTHROW:
            op.kind = PS_OP_ALIGNED;
            op.align_log2 = e->align_log2 >= 3 && e->align_log2 <= 30 ? e->align_log2 : 12;
            break;
        default:
            break;
        }
        s->w->allocations++;
    }
    uint64_t opidx = t->nops;
    if ((rc = op_put(s, ti, &op)) < 0)
        return rc;
    if (op.kind == PS_OP_REALLOC && t->pend.thread == ti && (rc = id_release(t, t->pend.id)) < 0)
        return rc;
    s->tab[j] = (wblock_t){e->ptr, e->size, opidx, id, ti};
    s->n++;
    s->live_bytes += e->size;
    s->w->bytes_allocated += e->size;
    if (s->live_bytes > s->w->heap_peak_bytes)
        s->w->heap_peak_bytes = s->live_bytes;
    return 0;
}

static int whatif_release(wstate_t *s, uint32_t ti, const pass_event_t *e)
{
    wthread_t *t = &s->th[ti];
    int rc;
    if ((rc = pending_flush(s, ti)) < 0)
        return rc;
    if (!s->cap) {
        s->w->skipped_releases++;
        return 0;
    }
    size_t j = tab_find(s, e->ptr);
    if (!s->tab[j].ptr) {
        s->w->skipped_releases++;
        return 0;
    }
    wblock_t b = s->tab[j];
    tab_del(s, j);
    s->live_bytes -= b.size;
    if (fn_is_realloc(e->fn) && e->realloc_moves) { /* its allocation follows on this thread */
        t->pending = true;
        t->pend = b;
        return 0;
    }
    ps_op_t op = {.kind = PS_OP_FREE, .id = b.id};
    op_wait(&op, ti, &b);
    if ((rc = op_put(s, ti, &op)) < 0)
        return rc;
    s->w->frees++;
    return b.thread == ti ? id_release(t, b.id) : 0;
}

/* ---- the pass's interface -------------------------------------------------------------- */

static int whatif_init(void *result, void **state, const tracemodel_t *m)
{
    (void)m;
    whatif_t *w = result;
    wstate_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -PS_E_NOMEM;
    *state = s;
    s->w = w;
    size_t n = strlen(w->path) + 8;
    if (!(s->spool_path = malloc(n)))
        return -PS_E_NOMEM;
    snprintf(s->spool_path, n, "%s.spool", w->path);
    if (!(s->spool = fopen(s->spool_path, "w+b")))
        return whatif_fail(s, -PS_E_IO, s->spool_path);
    return 0;
}

static int whatif_record(void *state, uint32_t tid, const record_t *rec)
{
    (void)tid;
    wstate_t *s = state;
    if (rec->type != PS_REC_RSS)
        return 0;
    whatif_t *w = s->w;
    uint64_t total = rec->u.rss.rss_bytes, shim = rec->u.rss.shim_bytes;
    uint64_t app = total > shim ? total - shim : 0;
    w->have_rss = true;
    w->rss_samples++;
    if (app > w->rss_peak_bytes)
        w->rss_peak_bytes = app;
    if (total > w->rss_peak_total_bytes)
        w->rss_peak_total_bytes = total;
    w->rss_end_bytes = app; /* the internal stream's samples come in their order */
    return 0;
}

static int whatif_event(void *state, const pass_event_t *e)
{
    wstate_t *s = state;
    uint32_t ti;
    int rc = thread_of(s, e->tid, &ti);
    if (rc < 0)
        return whatif_fail(s, rc, "threads");
    if (s->any && ti != s->last_thread && e->kind != PASS_EV_FAILED) {
        s->w->switches++;
        s->th[ti].switches++;
    }
    if (e->kind != PASS_EV_FAILED) {
        s->any = true;
        s->last_thread = ti;
    }
    switch (e->kind) {
    case PASS_EV_ALLOC:
        rc = whatif_alloc(s, ti, e);
        break;
    case PASS_EV_RELEASE:
        rc = whatif_release(s, ti, e);
        break;
    default:
        s->w->skipped_failed++;
        rc = 0;
    }
    return rc < 0 ? whatif_fail(s, rc, s->spool_path) : 0;
}

/* Writes a thread's buffered ops at its position in the op file. */
static int whatif_flush(FILE *o, const ps_op_t *ops, size_t *n, uint64_t *pos)
{
    if (fseeko(o, (off_t)*pos, SEEK_SET) != 0 || fwrite(ops, sizeof(*ops), *n, o) != *n)
        return -PS_E_IO;
    *pos += *n * sizeof(*ops);
    *n = 0;
    return 0;
}

/* Writes the op file from the spool. */
static int whatif_write(wstate_t *s)
{
    whatif_t *w = s->w;
    FILE *o = fopen(w->path, "wb");
    if (!o)
        return -PS_E_IO;
    int rc = 0;
    ps_ops_header_t h = {{0}, PS_OPS_VERSION, (uint32_t)s->nth, 0, w->blocks, w->ops};
    memcpy(h.magic, PS_OPS_MAGIC, 4);
    uint64_t off = sizeof h + s->nth * sizeof(ps_ops_thread_t);
    uint64_t *pos = calloc(s->nth ? s->nth : 1, sizeof(*pos));
    enum { BUF = 256 };
    ps_op_t *buf = calloc((s->nth ? s->nth : 1) * BUF, sizeof(*buf));
    size_t *nbuf = calloc(s->nth ? s->nth : 1, sizeof(*nbuf));
    if (!pos || !buf || !nbuf) {
        rc = -PS_E_NOMEM;
        goto out;
    }
    if (fwrite(&h, sizeof h, 1, o) != 1) {
        rc = -PS_E_IO;
        goto out;
    }
    for (size_t i = 0; i < s->nth; i++) {
        ps_ops_thread_t t = {off, s->th[i].nops, s->th[i].tid, 0};
        pos[i] = off;
        off += s->th[i].nops * sizeof(ps_op_t);
        if (fwrite(&t, sizeof t, 1, o) != 1) {
            rc = -PS_E_IO;
            goto out;
        }
    }
    if (fflush(s->spool) != 0 || fseek(s->spool, 0, SEEK_SET) != 0) {
        rc = -PS_E_IO;
        goto out;
    }
    spool_ent_t e;
    while (fread(&e, sizeof e, 1, s->spool) == 1) {
        if (e.thread >= s->nth) {
            rc = -PS_E_CORRUPT;
            goto out;
        }
        size_t i = e.thread;
        if (nbuf[i] == BUF && (rc = whatif_flush(o, buf + i * BUF, &nbuf[i], &pos[i])) < 0)
            goto out;
        buf[i * BUF + nbuf[i]++] = e.op;
    }
    for (size_t i = 0; i < s->nth; i++)
        if (nbuf[i] && (rc = whatif_flush(o, buf + i * BUF, &nbuf[i], &pos[i])) < 0)
            goto out;
    if (ferror(s->spool))
        rc = -PS_E_IO;
out:
    free(pos);
    free(buf);
    free(nbuf);
    if (fclose(o) != 0 && rc == 0)
        rc = -PS_E_IO;
    return rc;
}

static int whatif_finish(void *state, const tracemodel_t *m)
{
    wstate_t *s = state;
    int rc;
    for (size_t i = 0; i < s->nth; i++)
        if ((rc = pending_flush(s, (uint32_t)i)) < 0)
            return whatif_fail(s, rc, s->spool_path);
    whatif_t *w = s->w;
    w->threads = s->nth;
    w->heap_end_bytes = s->live_bytes;
    if (s->nth && !(w->thread = calloc(s->nth, sizeof(*w->thread))))
        return whatif_fail(s, -PS_E_NOMEM, "threads");
    for (size_t i = 0; i < s->nth; i++)
        w->thread[i] = (whatif_thread_t){s->th[i].tid, s->th[i].nops, s->th[i].waits,
                                         s->th[i].switches};
    w->duration_ns = m->have_ts && m->last_ts > m->first_ts ? m->last_ts - m->first_ts : 0;
    if ((rc = whatif_write(s)) < 0)
        return whatif_fail(s, rc, w->path);
    return 0;
}

static void whatif_free(void *state, void *result)
{
    (void)result;
    wstate_t *s = state;
    if (!s)
        return;
    if (s->spool) {
        fclose(s->spool);
        remove(s->spool_path);
    }
    free(s->spool_path);
    for (size_t i = 0; i < s->nth; i++)
        free(s->th[i].free_ids);
    free(s->th);
    free(s->tab);
    u32map_free(&s->tids);
    free(s);
}

const pass_ops_t whatif_ops = {"whatif",      whatif_init, whatif_record, whatif_event,
                               whatif_finish, whatif_free, NULL,          NULL,
                               NULL};
