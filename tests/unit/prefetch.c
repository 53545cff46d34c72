/*
 * tests/unit/prefetch.c -- the prefetcher's memory budget (analyzer/prefetch.c): chunks
 * fetched ahead are dropped when a chunk the consumer needs does not fit, and fetched again,
 * the right ones, when their stream's turn comes; chunks in use beyond the budget fail with
 * PS_E_LIMIT, naming PERFSHIM_MAX_MEMORY_MB; whatever the order, each stream gets exactly its
 * chunks, in order; up to PREFETCH_AHEAD chunks of a stream are fetched ahead; a digest runs
 * on the worker (on the caller's thread without one) and comes out with its chunk.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perfshim/errors.h"
#include "prefetch.h"
#include "reader.h"
#include "synth.h"
#include "test.h"

#define NS 7 /* streams, one chunk of ~4 MiB each */

static char path[4200], path2[4200], path3[4200]; /* the tests' traces, removed at exit */

static void cleanup(void)
{
    unlink(path);
    unlink(path2);
    unlink(path3);
}

/* Writes f (then freed) to a new file named after name in $TMPDIR, its path into out. */
static void save_trace(synth_buf_t *f, char *out, size_t cap, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, cap, "%s/%s.%d.trace", tmp && *tmp ? tmp : "/tmp", name, (int)getpid());
    synth_save(f, out);
    static int registered;
    if (!registered++)
        atexit(cleanup);
    synth_buf_free(f);
}

/* Into f, chunk i of stream (tid, seq): an alloc of ptr i + 1, then skippable padding up to
 * about pad bytes (0: none). */
static void padded_chunk(synth_buf_t *f, uint32_t i, size_t pad, uint32_t tid, uint32_t seq)
{
    static unsigned char zero[65532];
    synth_buf_t r = {0};
    synth_alloc(&r, PS_FN_MALLOC, 0, 1000 + i, i + 1, 8, 0);
    while (r.n + 65532 <= pad) {
        ps_rec_hdr_t h = synth_hdr(PS_REC_SKIPPABLE_FIRST, 0, 65532);
        synth_put(&r, &h, sizeof h);
        synth_put(&r, zero, sizeof zero - sizeof h);
    }
    ps_chunk_header_t h = {.tid = tid, .seq = seq, .nevents = 1};
    synth_chunk(f, &r, &h, 1);
    synth_buf_free(&r);
}

/* A trace of one stream (tid 100) of n chunks (padded_chunk's, padded up to pad), saved under
 * name into out. */
static void one_stream_trace(char *out, size_t cap, const char *name, uint32_t n, size_t pad)
{
    synth_buf_t f = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    for (uint32_t i = 0; i < n; i++)
        padded_chunk(&f, i, pad, 100, i);
    save_trace(&f, out, cap, name);
}

/* Opens file, n chunks of one stream (at most 32), and a prefetcher over them; exits 99 when
 * it cannot. */
static void open_one_stream(const char *file, size_t n, const prefetch_digest_t *dg,
                            reader_t **r, prefetch_t **p)
{
    static size_t idx[32], nn;
    size_t *chunks = idx;
    if (n > 32 || reader_open(r, file) != 0 || reader_chunk_count(*r) != n)
        exit(99);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    nn = n;
    if (prefetch_open(p, *r, 1, &chunks, &nn, dg) != 0)
        exit(99);
}

/* Chunk i: stream 100 + i's first, padded up to ~PERFSHIM_MAX_CHUNK_USIZE. */
static void make_trace(void)
{
    synth_buf_t f = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    for (uint32_t i = 0; i < NS; i++)
        padded_chunk(&f, i, PERFSHIM_MAX_CHUNK_USIZE, 100 + i, 0);
    save_trace(&f, path, sizeof path, "psprefetch");
}

typedef struct run_s {
    reader_t *r;
    prefetch_t *p;
    size_t idx[NS], *chunks[NS], n[NS];
} run_t;

static void run_open(run_t *u, const char *budget_mb)
{
    if (!path[0])
        make_trace();
    setenv("PERFSHIM_MAX_MEMORY_MB", budget_mb, 1);
    memset(u, 0, sizeof *u);
    if (reader_open(&u->r, path) != 0 || reader_chunk_count(u->r) != NS)
        exit(99);
    for (size_t i = 0; i < NS; i++) {
        u->idx[i] = i;
        u->chunks[i] = &u->idx[i];
        u->n[i] = 1;
    }
    if (prefetch_open(&u->p, u->r, NS, u->chunks, u->n, NULL) != 0)
        exit(99);
}

static void run_close(run_t *u)
{
    prefetch_close(u->p);
    reader_close(u->r);
}

/* Takes stream s's chunk: 1 and it is chunk s (its alloc has ptr s + 1), or the error. */
static int take(run_t *u, size_t s, char *err, size_t errlen)
{
    chunk_view_t v;
    int rc = prefetch_next(u->p, s, &v, err, errlen);
    if (rc != 1)
        return rc;
    record_t rec;
    if (view_next(u->r, &v, &rec) != 1 || rec.type != PS_REC_ALLOC ||
        rec.u.alloc.ptr != s + 1 || v.index != s)
        return -1000;
    return 1;
}

TEST(ahead_chunks_dropped_and_fetched_again)
{
    /* 26 MiB: the worker fetches streams 0..2 ahead at once (half the budget: 3 x 4 MiB);
     * the consumer then takes 3..6, which do not fit beside them: some are dropped. Then
     * 3..6 end (freed) and 0..2 must still come, each its own chunk. */
    run_t u;
    char err[512];
    run_open(&u, "26");
    usleep(300 * 1000); /* let the worker fetch ahead */
    for (size_t s = 3; s < NS; s++)
        expect_u64_eq(take(&u, s, err, sizeof err), 1);
    for (size_t s = 3; s < NS; s++)
        expect_u64_eq(take(&u, s, err, sizeof err), 0); /* ended: its chunk is freed */
    for (size_t s = 0; s < 3; s++) {
        expect_u64_eq(take(&u, s, err, sizeof err), 1);
        expect_u64_eq(take(&u, s, err, sizeof err), 0);
    }
    run_close(&u);
}

TEST(limit_when_chunks_in_use_do_not_fit)
{
    run_t u;
    char err[512] = "";
    run_open(&u, "16"); /* 4 chunks of ~4 MiB in use at once fit, not 5 */
    int rc = 0;
    size_t s;
    for (s = 0; s < NS && (rc = take(&u, s, err, sizeof err)) == 1; s++)
        ;
    expect_true(rc == -PS_E_LIMIT);
    expect_u64_eq(s, 4);
    expect_true(strstr(err, "PERFSHIM_MAX_MEMORY_MB") != NULL);
    expect_true(strstr(err, "more than 16 MiB") != NULL);
    run_close(&u);
}

TEST(inline_mode_same_results)
{
    setenv("PERFSHIM_NO_PREFETCH", "1", 1);
    run_t u;
    char err[512];
    run_open(&u, "16");
    for (size_t s = 0; s < 4; s++)
        expect_u64_eq(take(&u, s, err, sizeof err), 1);
    expect_true(take(&u, 4, err, sizeof err) == -PS_E_LIMIT);
    run_close(&u);
    run_open(&u, "32");
    for (size_t s = 0; s < NS; s++)
        expect_u64_eq(take(&u, s, err, sizeof err), 1);
    run_close(&u);
    unsetenv("PERFSHIM_NO_PREFETCH");
}

/* One stream of 20 small chunks (chunk i: an alloc of ptr i + 1). */
TEST(several_chunks_ahead_in_order)
{
    one_stream_trace(path2, sizeof path2, "psprefetch2", 20, 0);
    setenv("PERFSHIM_MAX_MEMORY_MB", "64", 1);
    reader_t *r;
    prefetch_t *p;
    open_one_stream(path2, 20, NULL, &r, &p);
    /* the worker fills the ring ahead (one chunk at a time before: at most 1) */
    for (int w = 0; w < 200 && prefetch_ahead(p, 0) < PREFETCH_AHEAD; w++)
        usleep(10 * 1000);
    expect_u64_eq(prefetch_ahead(p, 0), PREFETCH_AHEAD);
    char err[512];
    for (size_t i = 0; i < 20; i++) {
        chunk_view_t v;
        record_t rec;
        expect_u64_eq(prefetch_next(p, 0, &v, err, sizeof err), 1);
        expect_true(view_next(r, &v, &rec) == 1 && rec.type == PS_REC_ALLOC &&
                    rec.u.alloc.ptr == i + 1 && v.index == i);
        expect_true(prefetch_ahead(p, 0) <= PREFETCH_AHEAD);
    }
    chunk_view_t v;
    expect_u64_eq(prefetch_next(p, 0, &v, err, sizeof err), 0);
    prefetch_close(p);
    reader_close(r);
}

/* Large chunks go fewer ahead: a stream holds at most 1 MiB (prefetch.c PF_AHEAD_BYTES)
 * beyond its first chunk ahead, so chunks of ~600 KiB go 1 or 2 ahead, not PREFETCH_AHEAD
 * (the kvstore report's peak RSS: seven 1 MiB chunks ahead made it 62-64 MB). */
TEST(large_chunks_fewer_ahead)
{
    one_stream_trace(path3, sizeof path3, "psprefetch3", 12, 600u << 10);
    setenv("PERFSHIM_MAX_MEMORY_MB", "64", 1);
    reader_t *r;
    prefetch_t *p;
    open_one_stream(path3, 12, NULL, &r, &p);
    for (int w = 0; w < 200 && prefetch_ahead(p, 0) < 1; w++)
        usleep(10 * 1000);
    usleep(300 * 1000); /* the worker fetches what it wants, then waits */
    size_t ahead = prefetch_ahead(p, 0);
    expect_true(ahead >= 1 && ahead <= 2);
    char err[512];
    for (size_t i = 0; i < 12; i++) {
        chunk_view_t v;
        record_t rec;
        expect_u64_eq(prefetch_next(p, 0, &v, err, sizeof err), 1);
        expect_true(view_next(r, &v, &rec) == 1 && rec.type == PS_REC_ALLOC &&
                    rec.u.alloc.ptr == i + 1);
        expect_true(prefetch_ahead(p, 0) <= 2);
    }
    prefetch_close(p);
    reader_close(r);
}

/* A digest that notes the chunk (its alloc's ptr) and the thread it ran on. */
typedef struct dg_s {
    uint64_t ptr;
    pthread_t th;
} dg_t;

static void dg_digest(const chunk_view_t *view, void **aux, size_t *bytes)
{
    dg_t *d = *aux ? *aux : malloc(sizeof(dg_t));
    if (!d)
        return;
    const unsigned char *p = view->data;
    ps_rec_alloc_t a;
    d->ptr = 0;
    if (view->size >= sizeof a && p[0] == PS_REC_ALLOC) {
        memcpy(&a, p, sizeof a);
        d->ptr = a.ptr;
    }
    d->th = pthread_self();
    *aux = d;
    *bytes = sizeof *d;
}

static const prefetch_digest_t dg_ops = {dg_digest, free, NULL};

TEST(digest_made_on_the_worker_and_handed_out_with_its_chunk)
{
    if (!path2[0])
        exit(99); /* several_chunks_ahead_in_order wrote the 20-chunk trace */
    setenv("PERFSHIM_MAX_MEMORY_MB", "64", 1);
    for (int mode = 0; mode < 2; mode++) {
        if (mode)
            setenv("PERFSHIM_NO_PREFETCH", "1", 1);
        reader_t *r;
        prefetch_t *p;
        open_one_stream(path2, 20, &dg_ops, &r, &p);
        char err[512];
        for (size_t i = 0; i < 20; i++) {
            chunk_view_t v;
            expect_u64_eq(prefetch_next(p, 0, &v, err, sizeof err), 1);
            const dg_t *d = prefetch_aux(p, 0);
            expect_true(d != NULL);
            if (!d)
                continue;
            expect_u64_eq(d->ptr, i + 1);
            /* threaded: the worker's thread; inline: this one */
            expect_true(!pthread_equal(d->th, pthread_self()) == !mode);
        }
        chunk_view_t v;
        expect_u64_eq(prefetch_next(p, 0, &v, err, sizeof err), 0);
        prefetch_close(p);
        reader_close(r);
        unsetenv("PERFSHIM_NO_PREFETCH");
    }
}

TEST_MAIN(TEST_ENTRY(several_chunks_ahead_in_order), TEST_ENTRY(large_chunks_fewer_ahead),
          TEST_ENTRY(digest_made_on_the_worker_and_handed_out_with_its_chunk), TEST_ENTRY(ahead_chunks_dropped_and_fetched_again),
          TEST_ENTRY(limit_when_chunks_in_use_do_not_fit), TEST_ENTRY(inline_mode_same_results))
