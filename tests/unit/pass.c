/*
 * tests/unit/pass.c -- the pass's stream merge (analyzer/core/pass.c) on synthetic traces:
 * heap events of all threads in timestamp order; at equal timestamps a release before an
 * allocation whatever the threads; a thread's chunks read in seq order even when the file
 * holds them out of order; a chunk missing from a thread's sequence counted and the trace
 * marked partial; with no analysis that wants events, no merge, every record still handed on
 * and the time range still exact (chunks flagged heap-only counted from their headers, not
 * read); the ring of decoded events (and the worker's digest of them)
 * keeps a stream's records and events in order and hands addresses to prefetch before their
 * events; the live blocks a leak scan counted reach the analyses' init as the table's size
 * hint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/pass.h"
#include "perfshim/errors.h"
#include "perfshim/trace_cols.h"
#include "perfshim/trace_pack.h"
#include "synth.h"
#include "test.h"

/* ---- a recording analysis ------------------------------------------------------------ */

typedef struct got_s {
    pass_event_t ev[64];
    size_t nev;
    uint32_t rec_tid[64];
    uint8_t rec_type[64];
    uint64_t rec_ts[64]; /* THREAD_START / EXIT ts */
    size_t nrec;
    int inits, finishes;
} got_t;

static int g_init(void *result, void **state, const tracemodel_t *m)
{
    (void)m;
    *state = result;
    ((got_t *)result)->inits++;
    return 0;
}

static int g_record(void *state, uint32_t tid, const record_t *rec)
{
    got_t *g = state;
    if (g->nrec < 64) {
        g->rec_tid[g->nrec] = tid;
        g->rec_type[g->nrec] = rec->type;
        g->rec_ts[g->nrec] = rec->type == PS_REC_THREAD_START || rec->type == PS_REC_THREAD_EXIT
                                 ? rec->u.thread.ts
                                 : 0;
        g->nrec++;
    }
    return 0;
}

static int g_event(void *state, const pass_event_t *e)
{
    got_t *g = state;
    if (g->nev < 64)
        g->ev[g->nev++] = *e;
    return 0;
}

static int g_finish(void *state, const tracemodel_t *m)
{
    (void)m;
    ((got_t *)state)->finishes++;
    return 0;
}

static void g_free(void *state, void *result)
{
    (void)state;
    (void)result;
}

static const pass_ops_t ops_events = {.name = "test", .init = g_init, .on_record = g_record,
                                      .on_event = g_event, .finish = g_finish, .free = g_free};
static const pass_ops_t ops_records = {.name = "test", .init = g_init, .on_record = g_record,
                                       .finish = g_finish, .free = g_free};

/* ---- traces -------------------------------------------------------------------------- */

static char path[4200];

static void cleanup(void)
{
    if (path[0])
        unlink(path);
}

static void write_file(const synth_buf_t *f)
{
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/pspass.%d.trace", tmp && *tmp ? tmp : "/tmp",
                 (int)getpid());
        atexit(cleanup);
    }
    synth_save(f, path);
}

static void chunk(synth_buf_t *f, synth_buf_t *r, uint32_t tid, uint32_t seq, uint64_t t0,
                  uint64_t t1)
{
    ps_chunk_header_t h = {.tid = tid, .seq = seq, .nevents = 1, .t_first = t0, .t_last = t1};
    synth_chunk(f, r, &h, 1);
    synth_buf_free(r);
}

/* The shim's stream (tid 0) with the END record at ts. */
static void end_chunk(synth_buf_t *f, uint64_t ts)
{
    synth_buf_t r = {0};
    ps_rec_end_t e = {.ts = ts};
    synth_end(&r, &e);
    chunk(f, &r, 0, 0, ts, ts);
}

static int run(const pass_ops_t *ops, got_t *g, tracemodel_t *m)
{
    memset(g, 0, sizeof *g);
    memset(m, 0, sizeof *m);
    pass_sink_t sink = {ops, g, NULL};
    char err[512];
    int rc = pass_run(path, m, &sink, 1, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "pass_run: %s\n", err);
    return rc;
}

/* ---- tests --------------------------------------------------------------------------- */

/* Two threads, interleaved in time, each in its own chunk: one order by time. */
TEST(merge_orders_threads_by_time)
{
    synth_buf_t f = {0}, a = {0}, b = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    synth_thread(&a, PS_REC_THREAD_START, 10, 1001, "a");
    synth_alloc(&a, PS_FN_MALLOC, 0, 1010, 0x100, 8, 0);
    synth_alloc(&a, PS_FN_MALLOC, 0, 1030, 0x300, 8, 0);
    synth_free(&a, 1050, 0x100);
    synth_thread(&b, PS_REC_THREAD_START, 20, 1002, "b");
    synth_alloc(&b, PS_FN_MALLOC, 0, 1020, 0x200, 8, 0);
    synth_free(&b, 1040, 0x200);
    synth_alloc(&b, PS_FN_MALLOC, 0, 1060, 0x600, 8, 0);
    chunk(&f, &a, 10, 0, 1001, 1050);
    chunk(&f, &b, 20, 0, 1002, 1060);
    end_chunk(&f, 1070);
    write_file(&f);
    synth_buf_free(&f);
    got_t g;
    tracemodel_t m;
    assert_u64_eq(run(&ops_events, &g, &m), 0);
    expect_u64_eq(g.inits, 1);
    expect_u64_eq(g.finishes, 1);
    static const uint64_t ts[] = {1010, 1020, 1030, 1040, 1050, 1060};
    static const uint64_t ptr[] = {0x100, 0x200, 0x300, 0x200, 0x100, 0x600};
    assert_u64_eq(g.nev, 6);
    for (size_t i = 0; i < 6; i++) {
        expect_u64_eq(g.ev[i].ts, ts[i]);
        expect_u64_eq(g.ev[i].ptr, ptr[i]);
    }
    expect_u64_eq(g.ev[3].kind, PASS_EV_RELEASE);
    expect_true(m.complete);
    expect_u64_eq(m.threads, 2);
    expect_u64_eq(m.first_ts, 1001);
    expect_u64_eq(m.last_ts, 1070);
    expect_u64_eq(m.chunks, 3);
    expect_u64_eq(m.records, 9);
    tracemodel_free(&m);
}

/* At one timestamp: thread 10 (the first stream) allocates, thread 20 frees, and a realloc
 * of thread 10 releases at ts_before == ts: every release comes first. */
TEST(merge_equal_timestamps_release_first)
{
    synth_buf_t f = {0}, a = {0}, b = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    synth_alloc(&a, PS_FN_MALLOC, 0, 1005, 0x500, 8, 0);
    synth_alloc(&a, PS_FN_MALLOC, 0, 1100, 0x100, 8, 0);
    synth_realloc(&a, 0, 1200, 1200, 0x100, 0x900, 32);
    synth_alloc(&b, PS_FN_MALLOC, 0, 1006, 0x200, 8, 0);
    synth_free(&b, 1100, 0x200);
    synth_free(&b, 1200, 0x500);
    chunk(&f, &a, 10, 0, 1005, 1200);
    chunk(&f, &b, 20, 0, 1006, 1200);
    end_chunk(&f, 1300);
    write_file(&f);
    synth_buf_free(&f);
    got_t g;
    tracemodel_t m;
    assert_u64_eq(run(&ops_events, &g, &m), 0);
    assert_u64_eq(g.nev, 7);
    /* 1100: b's free (stream 2) before a's malloc (stream 1) */
    expect_u64_eq(g.ev[2].ts, 1100);
    expect_u64_eq(g.ev[2].kind, PASS_EV_RELEASE);
    expect_u64_eq(g.ev[2].ptr, 0x200);
    expect_u64_eq(g.ev[3].kind, PASS_EV_ALLOC);
    expect_u64_eq(g.ev[3].ptr, 0x100);
    /* 1200: both releases (a's realloc old side first: the lower stream), then the new side */
    expect_u64_eq(g.ev[4].kind, PASS_EV_RELEASE);
    expect_u64_eq(g.ev[4].ptr, 0x100);
    expect_u64_eq(g.ev[5].kind, PASS_EV_RELEASE);
    expect_u64_eq(g.ev[5].ptr, 0x500);
    expect_u64_eq(g.ev[6].kind, PASS_EV_ALLOC);
    expect_u64_eq(g.ev[6].ptr, 0x900);
    expect_u64_eq(g.ev[6].size, 32);
    tracemodel_free(&m);
}

/* Thread 10's chunks are in the file as seq 2, 0, 1 (the writer and the thread itself both
 * write chunks): read in seq order, so its events and records stay in its own order. */
TEST(merge_reads_chunks_in_seq_order)
{
    synth_buf_t f = {0}, c[3] = {{0}};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    for (uint32_t s = 0; s < 3; s++) {
        synth_thread(&c[s], PS_REC_THREAD_START, 10, 1000 + 100 * s, "a"); /* a marker */
        synth_alloc(&c[s], PS_FN_MALLOC, 0, 1010 + 100 * s, 0x100 + s, 8, 0);
        synth_alloc(&c[s], PS_FN_MALLOC, 0, 1020 + 100 * s, 0x200 + s, 8, 0);
    }
    chunk(&f, &c[2], 10, 2, 1200, 1220);
    chunk(&f, &c[0], 10, 0, 1000, 1020);
    chunk(&f, &c[1], 10, 1, 1100, 1120);
    end_chunk(&f, 1300);
    write_file(&f);
    synth_buf_free(&f);
    got_t g;
    tracemodel_t m;
    assert_u64_eq(run(&ops_events, &g, &m), 0);
    assert_u64_eq(g.nev, 6);
    for (size_t i = 1; i < g.nev; i++)
        expect_true(g.ev[i - 1].ts < g.ev[i].ts);
    size_t k = 0;
    for (size_t i = 0; i < g.nrec; i++)
        if (g.rec_type[i] == PS_REC_THREAD_START)
            expect_u64_eq(g.rec_ts[i], 1000 + 100 * k++);
    expect_u64_eq(k, 3);
    expect_true(m.complete);
    expect_u64_eq(m.chunks_lost, 0);
    tracemodel_free(&m);
}

/* Thread 10 has seq 0 and 2: one chunk lost, counted, the trace partial (and says why); the
 * events of the chunks that are there all arrive, in order. */
TEST(merge_counts_a_lost_chunk)
{
    synth_buf_t f = {0}, c0 = {0}, c2 = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    synth_alloc(&c0, PS_FN_MALLOC, 0, 1010, 0x100, 8, 0);
    synth_alloc(&c2, PS_FN_MALLOC, 0, 1210, 0x300, 8, 0);
    chunk(&f, &c0, 10, 0, 1010, 1010);
    chunk(&f, &c2, 10, 2, 1210, 1210);
    end_chunk(&f, 1300);
    write_file(&f);
    synth_buf_free(&f);
    got_t g;
    tracemodel_t m;
    assert_u64_eq(run(&ops_events, &g, &m), 0);
    assert_u64_eq(g.nev, 2);
    expect_u64_eq(g.ev[0].ts, 1010);
    expect_u64_eq(g.ev[1].ts, 1210);
    expect_u64_eq(m.chunks_lost, 1);
    expect_true(!m.complete);
    expect_true(strstr(m.partial_reason, "1 chunks missing") != NULL);
    tracemodel_free(&m);
}

/* No analysis wants heap events: no merge, but every other record reaches on_record (each
 * thread's in its order) and the time range still covers the heap events. */
TEST(no_merge_without_event_analyses)
{
    synth_buf_t f = {0}, a = {0}, b = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    synth_thread(&a, PS_REC_THREAD_START, 10, 1001, "a");
    synth_alloc(&a, PS_FN_MALLOC, 0, 1500, 0x100, 8, 0);
    synth_thread(&a, PS_REC_THREAD_EXIT, 10, 1600, "a");
    synth_thread(&b, PS_REC_THREAD_START, 20, 1002, "b");
    synth_free(&b, 1700, 0x100);
    chunk(&f, &a, 10, 0, 1001, 1600);
    chunk(&f, &b, 20, 0, 1002, 1700);
    end_chunk(&f, 1650);
    write_file(&f);
    synth_buf_free(&f);
    got_t g;
    tracemodel_t m;
    assert_u64_eq(run(&ops_records, &g, &m), 0);
    expect_u64_eq(g.nev, 0);
    assert_u64_eq(g.nrec, 4); /* END, a's START and EXIT, b's START */
    size_t ia = 0;
    for (size_t i = 0; i < g.nrec; i++)
        if (g.rec_tid[i] == 10)
            expect_u64_eq(g.rec_type[i], ia++ ? PS_REC_THREAD_EXIT : PS_REC_THREAD_START);
    expect_u64_eq(ia, 2);
    expect_u64_eq(m.first_ts, 1001);
    expect_u64_eq(m.last_ts, 1700); /* b's free: a heap event, timed though not merged */
    expect_u64_eq(m.duration_ns, 700);
    expect_true(m.complete);
    tracemodel_free(&m);
}

/* A chunk flagged PS_CHUNK_F_HEAP_ONLY: a pass without event analyses counts it from its
 * header (records, time range, the chunk) and does not read it (here it holds a THREAD_START,
 * which would reach on_record); a pass with them reads it as any chunk. */
TEST(heap_only_chunk_skipped_without_event_analyses)
{
    synth_buf_t f = {0}, a = {0}, b = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    synth_thread(&a, PS_REC_THREAD_START, 10, 1001, "a");
    chunk(&f, &a, 10, 0, 1001, 1001);
    synth_thread(&b, PS_REC_THREAD_START, 10, 1100, "a"); /* not what the flag allows */
    synth_alloc(&b, PS_FN_MALLOC, 0, 1200, 0x100, 8, 0);
    ps_chunk_header_t h = {.tid = 10, .seq = 1, .flags = PS_CHUNK_F_HEAP_ONLY, .nevents = 5,
                           .t_first = 1100, .t_last = 1900};
    synth_chunk(&f, &b, &h, 1);
    synth_buf_free(&b);
    end_chunk(&f, 1300);
    write_file(&f);
    synth_buf_free(&f);
    got_t g;
    tracemodel_t m;
    assert_u64_eq(run(&ops_records, &g, &m), 0);
    expect_u64_eq(g.nrec, 2); /* END and the first START: the flagged chunk unread */
    expect_u64_eq(m.chunks, 3);
    expect_u64_eq(m.records, 5 + 2); /* its nevents, plus the other chunks' one record each */
    expect_u64_eq(m.first_ts, 1001);
    expect_u64_eq(m.last_ts, 1900);
    tracemodel_free(&m);
    assert_u64_eq(run(&ops_events, &g, &m), 0);
    expect_u64_eq(g.nev, 1); /* read: the allocation, */
    expect_u64_eq(g.nrec, 3); /* and both STARTs */
    expect_u64_eq(m.last_ts, 1300);
    tracemodel_free(&m);
}

/* ---- columnar heap-only chunks decoded straight into events ----------------------------- */

static pass_event_t big_ev[8192];
static size_t big_nev, big_nrec;

static int b_event(void *state, const pass_event_t *e)
{
    (void)state;
    if (big_nev < 8192)
        big_ev[big_nev++] = *e;
    return 0;
}

static int b_record(void *state, uint32_t tid, const record_t *rec)
{
    (void)state, (void)tid, (void)rec;
    big_nrec++;
    return 0;
}

static const pass_ops_t ops_big = {.name = "test", .init = g_init, .on_record = b_record,
                                   .on_event = b_event, .finish = g_finish, .free = g_free};

/* Thread 10's chunk seq of records recs: columnar (flagged as the writer flags it; lie: heap-
 * only whatever it holds) or as it is. */
static void cols_chunk_tid(synth_buf_t *f, const synth_buf_t *recs, uint32_t tid, uint32_t seq,
                           int columnar, int lie);

static void cols_chunk(synth_buf_t *f, const synth_buf_t *recs, uint32_t seq, int columnar,
                       int lie)
{
    cols_chunk_tid(f, recs, 10, seq, columnar, lie);
}

/* cols_chunk for thread tid. */
static void cols_chunk_tid(synth_buf_t *f, const synth_buf_t *recs, uint32_t tid, uint32_t seq,
                           int columnar, int lie)
{
    static ps_cols_enc_t enc;
    size_t cap = ps_cols_bound(recs->n);
    unsigned char *out = malloc(cap);
    ps_cols_info_t info;
    size_t n = out ? ps_cols_encode(&enc, recs->p, recs->n, out, cap, 0, &info) : 0;
    if (!n)
        exit(99);
    ps_chunk_header_t h = {.tid = tid, .seq = seq, .nevents = info.nevents,
                           .t_first = info.t_first, .t_last = info.t_last};
    if (columnar) {
        synth_buf_t body = {0};
        synth_put(&body, out, n);
        h.flags = PS_CHUNK_F_COLUMNS | (info.heap_only || lie ? PS_CHUNK_F_HEAP_ONLY : 0);
        synth_chunk(f, &body, &h, 1);
        synth_buf_free(&body);
    } else {
        synth_chunk(f, recs, &h, 1);
    }
    free(out);
}

/* A trace of thread 10's chunks (heap-only ones, one with a THREAD_START, one flagged heap-
 * only with a REALLOC in it: decoded as any other) as columnar chunks or as fixed records
 * (failed and aligned allocations, reused blocks): a pass with an event analysis sees the same events, records and model
 * either way, with the prefetch worker and without. */
static size_t cols_run(int columnar, pass_event_t *ev, size_t *nrec, tracemodel_t *m)
{
    synth_buf_t f = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    uint64_t ts = 2000, live[16] = {0}, top = 0x7f0000001000ull;
    for (uint32_t seq = 0; seq < 6; seq++) {
        synth_buf_t r = {0};
        if (seq == 2)
            synth_thread(&r, PS_REC_THREAD_START, 10, ts, "a");
        for (unsigned i = 0; i < 300 + 97 * seq; i++) {
            unsigned k = (i * 7 + seq) & 15;
            ts += 1 + (i * 13) % 40;
            if (seq == 3 && i == 50) {
                synth_realloc(&r, 2, ts, ts + 1, live[k], top, 99);
                live[k] = top, top += 256, ts++;
            } else if (live[k]) {
                synth_free(&r, ts, live[k]);
                live[k] = 0;
            } else {
                live[k] = i % 5 ? top - 256 * (i % 3) : 0; /* reuse, failures */
                synth_alloc(&r, PS_FN_MALLOC, 1 + i % 4, ts, live[k], 1 + i % 700,
                            i % 11 ? 0 : 64);
                if (live[k] == top)
                    top += 256;
            }
        }
        cols_chunk(&f, &r, seq, columnar, seq == 3);
        synth_buf_free(&r);
    }
    end_chunk(&f, ts + 1);
    write_file(&f);
    synth_buf_free(&f);
    got_t g;
    big_nev = big_nrec = 0;
    memset(m, 0, sizeof *m);
    pass_sink_t sink = {&ops_big, &g, NULL};
    char err[512];
    expect_u64_eq(pass_run(path, m, &sink, 1, err, sizeof err), 0);
    memcpy(ev, big_ev, big_nev * sizeof *ev);
    *nrec = big_nrec;
    return big_nev;
}

TEST(heap_only_columnar_chunks_give_the_same_events)
{
    static pass_event_t e0[8192], e1[8192];
    for (int single = 0; single < 2; single++) {
        if (single)
            setenv("PERFSHIM_NO_PREFETCH", "1", 1);
        size_t r0, r1;
        tracemodel_t m0, m1;
        size_t n0 = cols_run(0, e0, &r0, &m0), n1 = cols_run(1, e1, &r1, &m1);
        expect_true(n0 > 2000);
        assert_u64_eq(n1, n0);
        size_t differ = 0;
        for (size_t i = 0; i < n0; i++) { /* field by field (not the padding) */
            const pass_event_t *a = &e0[i], *b = &e1[i];
            if (a->ts != b->ts || a->ptr != b->ptr || a->size != b->size ||
                a->stack != b->stack || a->kind != b->kind || a->fn != b->fn ||
                a->flags != b->flags || a->tid != b->tid || a->align_log2 != b->align_log2 ||
                a->realloc_moves != b->realloc_moves) {
                if (!differ++)
                    fprintf(stderr, "event %zu: ts %llu/%llu ptr %llx/%llx size %llu/%llu\n",
                            i, (unsigned long long)a->ts, (unsigned long long)b->ts,
                            (unsigned long long)a->ptr, (unsigned long long)b->ptr,
                            (unsigned long long)a->size, (unsigned long long)b->size);
            }
        }
        expect_u64_eq(differ, 0);
        expect_u64_eq(r1, r0);
        expect_u64_eq(m1.records, m0.records);
        expect_u64_eq(m1.chunks, m0.chunks);
        expect_u64_eq(m1.first_ts, m0.first_ts);
        expect_u64_eq(m1.last_ts, m0.last_ts);
        expect_true(m1.complete && m0.complete);
        tracemodel_free(&m0);
        tracemodel_free(&m1);
    }
    unsetenv("PERFSHIM_NO_PREFETCH");
}

/* ---- spans of two threads merged at equal times, in batches ---------------------------- */

static pass_event_t bt_ev[8192];
static size_t bt_nev;

static int bt_events(void *state, const pass_event_t *ev, size_t n)
{
    (void)state;
    for (size_t i = 0; i < n && bt_nev < 8192; i++)
        bt_ev[bt_nev++] = ev[i];
    return 0;
}

static const pass_ops_t ops_big_batches = {"test", g_init, b_record, b_event, g_finish, g_free,
                                           NULL, NULL, bt_events};

/* Threads 10 and 20 in columnar chunks (their events in spans), on one coarse clock: many
 * events of both at one time, allocations and releases. The spans' batches (on_events, whose
 * loop takes an event without its key while its time is surely before the other stream's next)
 * keep the order the events go in one by one (on_event: every event's key compared), and it is
 * the merged order: from one thread to the other, by time, a release first at one time. */
TEST(batches_merge_spans_at_equal_times)
{
    synth_buf_t f = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    for (uint32_t t = 0; t < 2; t++) {
        uint64_t ts = 2000, live[8] = {0}, top = 0x7f0000001000ull + (uint64_t)t * 0x100000;
        for (uint32_t seq = 0; seq < 4; seq++) {
            synth_buf_t r = {0};
            for (unsigned i = 0; i < 200 + 61 * seq + 13 * t; i++) {
                unsigned k = (i * 5 + seq + t) & 7;
                ts += (i * (7 + t)) % 3 == 0; /* runs of one time, of both threads */
                if (live[k]) {
                    synth_free(&r, ts, live[k]);
                    live[k] = 0;
                } else {
                    live[k] = top, top += 64;
                    synth_alloc(&r, PS_FN_MALLOC, 1 + t, ts, live[k], 8 + i % 100, 0);
                }
            }
            cols_chunk_tid(&f, &r, 10 + 10 * t, seq, 1, 0);
            synth_buf_free(&r);
        }
    }
    end_chunk(&f, 100000);
    write_file(&f);
    synth_buf_free(&f);
    char err[512];
    got_t g;
    tracemodel_t m;
    big_nev = bt_nev = big_nrec = 0;
    memset(&m, 0, sizeof m);
    pass_sink_t one = {&ops_big, &g, NULL};
    expect_u64_eq(pass_run(path, &m, &one, 1, err, sizeof err), 0);
    tracemodel_free(&m);
    memset(&m, 0, sizeof m);
    pass_sink_t batch = {&ops_big_batches, &g, NULL};
    expect_u64_eq(pass_run(path, &m, &batch, 1, err, sizeof err), 0);
    tracemodel_free(&m);
    expect_true(big_nev > 1500);
    assert_u64_eq(bt_nev, big_nev);
    size_t differ = 0, unordered = 0, ties = 0;
    for (size_t i = 0; i < big_nev; i++) {
        const pass_event_t *a = &big_ev[i], *b = &bt_ev[i];
        differ += a->ts != b->ts || a->ptr != b->ptr || a->kind != b->kind || a->tid != b->tid;
        if (i) {
            const pass_event_t *p = &bt_ev[i - 1];
            /* (a stream's own events stay in its order: from one stream to the other) */
            unordered += p->tid != b->tid &&
                         (p->ts > b->ts || (p->ts == b->ts && p->kind != PASS_EV_RELEASE &&
                                            b->kind == PASS_EV_RELEASE));
            ties += p->ts == b->ts && p->tid != b->tid;
        }
    }
    expect_u64_eq(differ, 0);
    expect_u64_eq(unordered, 0);
    expect_true(ties > 100); /* (the two threads do meet at one time) */
}

/* One thread's columnar span whose times go down and up (a clock that stepped back): the
 * trace's time range (the model's first and last times) is its least and its greatest time
 * whether the span goes in batches (whose loop tests the greatest first) or event by event. */
TEST(batches_time_range_of_unsorted_spans)
{
    static const uint64_t ts[] = {5000, 4000, 6000, 1500, 7000, 3000, 6999, 1400, 1401};
    synth_buf_t f = {0}, r = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    for (unsigned i = 0; i < sizeof ts / sizeof ts[0]; i++)
        synth_alloc(&r, PS_FN_MALLOC, 1, ts[i], 0x7f0000001000ull + 64 * i, 8, 0);
    cols_chunk_tid(&f, &r, 10, 0, 1, 0);
    synth_buf_free(&r);
    end_chunk(&f, 6500);
    write_file(&f);
    synth_buf_free(&f);
    char err[512];
    got_t g;
    tracemodel_t m1, m2;
    memset(&m1, 0, sizeof m1);
    memset(&m2, 0, sizeof m2);
    big_nev = bt_nev = 0;
    pass_sink_t one = {&ops_big, &g, NULL}, batch = {&ops_big_batches, &g, NULL};
    expect_u64_eq(pass_run(path, &m1, &one, 1, err, sizeof err), 0);
    expect_u64_eq(pass_run(path, &m2, &batch, 1, err, sizeof err), 0);
    expect_u64_eq(big_nev, 9);
    expect_u64_eq(bt_nev, 9);
    expect_u64_eq(m1.last_ts, 7000);
    expect_u64_eq(m2.last_ts, 7000);
    expect_u64_eq(m1.first_ts, 1400);
    expect_u64_eq(m2.first_ts, 1400);
    tracemodel_free(&m1);
    tracemodel_free(&m2);
}

/* A file that is no trace: a negative code and one line. */
TEST(not_a_trace)
{
    synth_buf_t f = {0};
    synth_put(&f, "hello, world\n", 13);
    write_file(&f);
    synth_buf_free(&f);
    tracemodel_t m = {0};
    static got_t g;
    pass_sink_t sink = {&ops_events, &g, NULL};
    char err[512];
    expect_true(pass_run(path, &m, &sink, 1, err, sizeof err) < 0);
    expect_true(err[0] != 0 && strchr(err, '\n') == NULL);
    tracemodel_free(&m);
}

/* ---- the decoded-event ring: order, records between events, prefetch ahead ---------- */

#define RING_N 150 /* heap records of one thread: several rings' worth */

typedef struct ring_got_s {
    uint64_t ev_ptr[2 * RING_N];
    uint32_t ev_tid[2 * RING_N];
    size_t nev;
    uint64_t pf[2 * RING_N];
    size_t npf, pf_seen_at[2 * RING_N]; /* prefetches done when event i came */
    size_t rss_at[4], nrss;             /* events delivered when each RSS record came */
    size_t batch_max;                   /* the largest batch (on_events) */
} ring_got_t;

static int r_init(void *result, void **state, const tracemodel_t *m)
{
    (void)m;
    *state = result;
    return 0;
}
static int r_record(void *state, uint32_t tid, const record_t *rec)
{
    ring_got_t *g = state;
    (void)tid;
    if (rec->type == PS_REC_RSS && g->nrss < 4)
        g->rss_at[g->nrss++] = g->nev;
    return 0;
}
static int r_event(void *state, const pass_event_t *e)
{
    ring_got_t *g = state;
    if (g->nev < 2 * RING_N) {
        g->pf_seen_at[g->nev] = g->npf;
        g->ev_tid[g->nev] = e->tid;
        g->ev_ptr[g->nev++] = e->ptr;
    }
    return 0;
}
static int r_finish(void *state, const tracemodel_t *m)
{
    (void)state;
    (void)m;
    return 0;
}
static int r_pf_on(void *state)
{
    (void)state;
    return 1;
}
static void r_pf(void *state, const pass_event_t *ev, size_t n)
{
    ring_got_t *g = state;
    for (size_t i = 0; i < n; i++) /* (a failed allocation's 0: none, as the replay skips it) */
        if (ev[i].ptr && g->npf < 2 * RING_N)
            g->pf[g->npf++] = ev[i].ptr;
}
static const pass_ops_t ops_ring = {.name = "ring", .init = r_init, .on_record = r_record,
                                    .on_event = r_event, .finish = r_finish, .free = g_free,
                                    .prefetch_on = r_pf_on, .prefetch = r_pf};
static int r_events(void *state, const pass_event_t *ev, size_t n)
{
    ring_got_t *g = state;
    g->batch_max = n > g->batch_max ? n : g->batch_max;
    for (size_t i = 0; i < n; i++)
        r_event(state, &ev[i]);
    return 0;
}
/* the same with batches (pass_ops_t.on_events) */
static const pass_ops_t ops_ring_batch = {"ring", r_init, r_record, r_event, r_finish,
                                          g_free, r_pf_on, r_pf,   r_events};

/* One thread's RING_N packed and fixed heap records (a realloc at 31, the ring's edge, and a
 * packed one at 90: the worker's digest steps over it, pass.c), RSS
 * records at 40 and 41 and at 120: every event in the stream's order, each record after the
 * events before it and before those after it, each address handed to prefetch once, in
 * order, and before its event (several events ahead once the ring has filled). */
static void ring_order(const pass_ops_t *ops)
{
    synth_buf_t f = {0}, a = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    ps_pack_state_t pk = {0};
    uint64_t want[2 * RING_N];
    size_t nwant = 0, rss_want[3], nrss = 0;
    for (uint64_t i = 0; i < RING_N; i++) {
        uint64_t ts = 2000 + i, ptr = 0x10000 + 64 * i;
        if (i == 40 || i == 41 || i == 120) {
            synth_rss(&a, ts, 4096, 0);
            rss_want[nrss++] = nwant;
        }
        if (i == 90) { /* packed: the packed state goes on past it */
            ps_rec_realloc_t ra = {.h = {.aux = PS_FN_REALLOC}, .ts_before = ts, .ts = ts,
                                   .old_ptr = want[nwant - 1], .new_ptr = ptr, .size = 24};
            unsigned char buf[64];
            uint32_t n = ps_pack_realloc_p(&pk, &ra, buf);
            synth_put(&a, buf, n);
            ps_pack_state_set(&pk, ra.ts, ra.new_ptr);
            want[nwant] = want[nwant - 1];
            want[nwant + 1] = ptr;
            nwant += 2;
        } else if (i == 31) {
            synth_realloc(&a, 0, ts, ts, want[nwant - 1], ptr, 24);
            want[nwant] = want[nwant - 1];
            want[nwant + 1] = ptr;
            nwant += 2;
        } else if (i % 3 == 2) {
            ps_rec_free_t fr = {.ts = ts, .ptr = want[nwant - 1]};
            unsigned char buf[64];
            uint32_t n = ps_pack_free_p(&pk, &fr, buf);
            synth_put(&a, buf, n);
            ps_pack_state_set(&pk, fr.ts, fr.ptr);
            want[nwant] = want[nwant - 1];
            nwant++;
        } else if (i % 3 == 1) {
            ps_rec_alloc_t al = {.h = {.aux = PS_FN_MALLOC}, .ts = ts, .ptr = ptr, .size = 8};
            unsigned char buf[64];
            uint32_t n = ps_pack_alloc_p(&pk, &al, buf);
            synth_put(&a, buf, n);
            ps_pack_state_set(&pk, al.ts, al.ptr);
            want[nwant++] = ptr;
        } else {
            synth_alloc(&a, PS_FN_MALLOC, 0, ts, ptr, 8, 0);
            want[nwant++] = ptr;
        }
    }
    chunk(&f, &a, 7, 0, 2000, 2000 + RING_N);
    end_chunk(&f, 9000);
    write_file(&f);
    synth_buf_free(&f);
    static ring_got_t g;
    memset(&g, 0, sizeof(g));
    tracemodel_t m = {0};
    pass_sink_t sink = {ops, &g, NULL};
    char err[512];
    expect_u64_eq(pass_run(path, &m, &sink, 1, err, sizeof err), 0);
    expect_u64_eq(g.nev, nwant);
    expect_u64_eq(g.npf, nwant);
    size_t ahead_max = 0;
    for (size_t i = 0; i < nwant && i < g.nev; i++) {
        expect_u64_eq(g.ev_ptr[i], want[i]);
        expect_u64_eq(g.ev_tid[i], 7); /* the stream's, whichever path decoded it */
        expect_u64_eq(g.pf[i], want[i]);
        expect_true(g.pf_seen_at[i] > i); /* prefetched before its event */
        if (g.pf_seen_at[i] - i > ahead_max)
            ahead_max = g.pf_seen_at[i] - i;
    }
    expect_true(ahead_max >= 8);
    expect_u64_eq(g.nrss, 3);
    for (size_t i = 0; i < 3; i++)
        expect_u64_eq(g.rss_at[i], rss_want[i]);
    if (ops->on_events) /* the digest's runs went in batches, within the limit */
        expect_true(g.batch_max > 1 && g.batch_max <= PASS_BATCH_MAX);
    tracemodel_free(&m);
}

TEST(ring_keeps_stream_order_and_prefetches_ahead)
{
    ring_order(&ops_ring);
}

/* The same through on_events: batches keep the order, records between them, prefetches. */
TEST(batches_keep_stream_order_and_prefetch_ahead)
{
    ring_order(&ops_ring_batch);
}

/* The live blocks a trace says it ended with reach the analyses' init (tracemodel_t.live_hint,
 * the replay's table size hint) when one wants events: a leak scan's blocks less the
 * inherited ones, in the shim's stream, at most the events the chunk headers count. */
static void hint_trace(uint64_t blocks, uint64_t inherited, uint32_t nevents)
{
    synth_buf_t f = {0}, a = {0}, s = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    synth_alloc(&a, PS_FN_MALLOC, 0, 1500, 0x100, 8, 0);
    synth_alloc(&a, PS_FN_MALLOC, 0, 1501, 0x200, 8, 0);
    ps_chunk_header_t h = {.tid = 10, .nevents = nevents, .t_first = 1500, .t_last = 1501};
    synth_chunk(&f, &a, &h, 1);
    ps_rec_leak_scan_t ls = {.h = synth_hdr(PS_REC_LEAK_SCAN, 0, sizeof ls),
                             .ts = 1600,
                             .blocks = blocks,
                             .inherited_blocks = inherited};
    synth_put(&s, &ls, sizeof ls);
    ps_rec_end_t e = {.ts = 1700};
    synth_end(&s, &e);
    h = (ps_chunk_header_t){.flags = PS_CHUNK_F_INTERNAL, .t_first = 1600, .t_last = 1700};
    synth_chunk(&f, &s, &h, 1);
    write_file(&f);
    synth_buf_free(&f);
    synth_buf_free(&a);
    synth_buf_free(&s);
}

TEST(live_hint_from_the_leak_scan)
{
    got_t g;
    tracemodel_t m;
    hint_trace(5, 1, 10);
    assert_u64_eq(run(&ops_events, &g, &m), 0);
    expect_u64_eq(m.live_hint, 4);
    expect_u64_eq(g.nev, 2);
    tracemodel_free(&m);
    assert_u64_eq(run(&ops_records, &g, &m), 0); /* no replay: not read */
    expect_u64_eq(m.live_hint, 0);
    tracemodel_free(&m);
    hint_trace(1000000, 0, 2); /* more than the trace's events */
    assert_u64_eq(run(&ops_events, &g, &m), 0);
    expect_u64_eq(m.live_hint, 2);
    tracemodel_free(&m);
}

int main(void)
{
    static const test_case tests[] = {
        TEST_ENTRY(merge_orders_threads_by_time),
        TEST_ENTRY(merge_equal_timestamps_release_first),
        TEST_ENTRY(merge_reads_chunks_in_seq_order),
        TEST_ENTRY(merge_counts_a_lost_chunk),
        TEST_ENTRY(no_merge_without_event_analyses),
        TEST_ENTRY(heap_only_chunk_skipped_without_event_analyses),
        TEST_ENTRY(not_a_trace), TEST_ENTRY(heap_only_columnar_chunks_give_the_same_events),
        TEST_ENTRY(ring_keeps_stream_order_and_prefetches_ahead),
        TEST_ENTRY(batches_keep_stream_order_and_prefetch_ahead),
        TEST_ENTRY(live_hint_from_the_leak_scan),
        TEST_ENTRY(batches_merge_spans_at_equal_times),
        TEST_ENTRY(batches_time_range_of_unsorted_spans),
    };
    return test_run(tests, sizeof tests / sizeof tests[0]);
}
