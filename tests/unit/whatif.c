/*
 * tests/unit/whatif.c -- the allocator what-if's op file (analyzer/analyses/whatif.c) from a
 * synthetic trace of two threads whose every op is known: kinds by function (aligned with its
 * alignment), a realloc as one REALLOC with the old size, realloc(NULL, n) a MALLOC and
 * realloc(p, 0) a FREE, a release of another thread's block waiting for its allocating op, ids
 * reused only by the thread that released them (realloc(p, 0) then realloc(NULL, n): a FREE
 * and a MALLOC, not one realloc), unknown releases and failed allocations
 * skipped and counted, the changes of thread counted, the recorded RSS (recorder taken out)
 * and the live heap's peak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyses/whatif.h"
#include "core/pass.h"
#include "perfshim/replay_ops.h"
#include "synth.h"
#include "test.h"

static char path[256], ops_path[300];

static void cleanup(void)
{
    unlink(path);
    unlink(ops_path);
}

static void chunk(synth_buf_t *f, synth_buf_t *r, uint32_t tid, uint64_t t0, uint64_t t1)
{
    ps_chunk_header_t h = {.tid = tid, .seq = 0, .nevents = 1, .t_first = t0, .t_last = t1};
    synth_chunk(f, r, &h, 1);
    synth_buf_free(r);
}

static void write_trace(void)
{
    if (path[0])
        return; /* written once */
    synth_buf_t f = {0}, a = {0}, b = {0}, s = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 1000, "/x", "x", 2);
    /* thread 10 */
    synth_alloc(&a, PS_FN_MALLOC, 0, 1010, 0x100, 100, 0);         /* op0 MALLOC id0 */
    synth_alloc(&a, PS_FN_POSIX_MEMALIGN, 0, 1020, 0x200, 64, 64); /* op1 ALIGNED id1 */
    synth_realloc(&a, 0, 1028, 1030, 0x100, 0x300, 200);           /* op2 REALLOC id0->id2 */
    synth_free(&a, 1060, 0x300);                                   /* op3 FREE id2 */
    synth_alloc(&a, PS_FN_MALLOC, 0, 1070, 0x400, 8, 0);           /* op4 MALLOC id2 again */
    /* thread 20 */
    synth_free(&b, 1040, 0x200);                                /* op0 FREE id1, waits */
    synth_free(&b, 1050, 0x999);                                /* unknown: skipped */
    synth_realloc(&b, 0, 1055, 1055, 0, 0x500, 32);             /* op1 MALLOC id3 */
    synth_realloc(&b, 0, 1065, 1066, 0x500, 0, 0);              /* op2 FREE id3 */
    synth_realloc(&b, 0, 1067, 1067, 0, 0x600, 16);             /* op3 MALLOC id3: not one
                                                                 * realloc with op2 */
    synth_alloc(&b, PS_FN_MALLOC, 0, 1080, 0, 1ull << 40, 0);   /* failed: skipped */
    synth_rss(&s, 1045, 10000, 3000);
    synth_rss(&s, 1075, 9000, 2000);
    ps_rec_end_t e = {.ts = 1090};
    synth_end(&s, &e);
    chunk(&f, &a, 10, 1010, 1070);
    chunk(&f, &b, 20, 1040, 1080);
    ps_chunk_header_t h = {.tid = 0, .flags = PS_CHUNK_F_INTERNAL, .t_first = 1045, .t_last = 1090};
    synth_chunk(&f, &s, &h, 1);
    synth_buf_free(&s);
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/pswhatif.%d.trace", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    snprintf(ops_path, sizeof ops_path, "%s.ops", path);
    atexit(cleanup);
    synth_save(&f, path);
    synth_buf_free(&f);
}

TEST(op_file_of_two_threads)
{
    write_trace();
    whatif_t w = {.path = ops_path};
    tracemodel_t m = {0};
    pass_sink_t sink = {&whatif_ops, &w, NULL};
    char err[512];
    int rc = pass_run(path, &m, &sink, 1, err, sizeof err);
    whatif_ops.free(sink.state, &w);
    if (rc < 0)
        fprintf(stderr, "%s / %s\n", err, w.err);
    assert_u64_eq(rc, 0);
    tracemodel_free(&m);
    expect_u64_eq(w.threads, 2);
    expect_u64_eq(w.ops, 9);
    expect_u64_eq(w.blocks, 4);
    expect_u64_eq(w.allocations, 5);
    expect_u64_eq(w.reallocs, 1);
    expect_u64_eq(w.frees, 3);
    expect_u64_eq(w.waits, 1);
    expect_u64_eq(w.switches, 4);
    expect_u64_eq(w.skipped_releases, 1);
    expect_u64_eq(w.skipped_failed, 1);
    expect_u64_eq(w.bytes_allocated, 100 + 64 + 200 + 32 + 16 + 8);
    expect_u64_eq(w.heap_peak_bytes, 264);
    expect_u64_eq(w.heap_end_bytes, 8 + 16);
    expect_true(w.have_rss);
    expect_u64_eq(w.rss_samples, 2);
    expect_u64_eq(w.rss_peak_bytes, 7000);
    expect_u64_eq(w.rss_peak_total_bytes, 10000);
    expect_u64_eq(w.rss_end_bytes, 7000);
    assert_true(w.thread != NULL);
    expect_u64_eq(w.thread[0].tid, 10);
    expect_u64_eq(w.thread[0].ops, 5);
    expect_u64_eq(w.thread[0].waits, 0);
    expect_u64_eq(w.thread[0].switches, 2); /* to thread 10 at 1060 and 1070 */
    expect_u64_eq(w.thread[1].tid, 20);
    expect_u64_eq(w.thread[1].ops, 4);
    expect_u64_eq(w.thread[1].waits, 1);
    expect_u64_eq(w.thread[1].switches, 2); /* to thread 20 at 1040 and 1065 */
    free(w.thread);

    /* the file itself */
    FILE *fp = fopen(ops_path, "rb");
    assert_true(fp != NULL);
    ps_ops_header_t h;
    ps_ops_thread_t t[2];
    ps_op_t op[9];
    assert_true(fread(&h, sizeof h, 1, fp) == 1 && fread(t, sizeof t[0], 2, fp) == 2);
    assert_true(fread(op, sizeof op[0], 9, fp) == 9);
    fclose(fp);
    expect_true(memcmp(h.magic, PS_OPS_MAGIC, 4) == 0);
    expect_u64_eq(h.version, PS_OPS_VERSION);
    expect_u64_eq(h.nthreads, 2);
    expect_u64_eq(h.nblocks, 4);
    expect_u64_eq(h.nops, 9);
    expect_u64_eq(t[0].tid, 10);
    expect_u64_eq(t[0].count, 5);
    expect_u64_eq(t[0].offset, sizeof h + 2 * sizeof t[0]);
    expect_u64_eq(t[1].tid, 20);
    expect_u64_eq(t[1].count, 4);
    expect_u64_eq(t[1].offset, t[0].offset + 5 * sizeof(ps_op_t));
    static const struct {
        uint8_t kind, align_log2;
        uint32_t id, id2, wait_thread;
        uint64_t size, old_size, wait_op;
    } want[9] = {
        {PS_OP_MALLOC, 0, 0, 0, PS_OPS_NO_WAIT, 100, 0, 0},
        {PS_OP_ALIGNED, 6, 1, 0, PS_OPS_NO_WAIT, 64, 0, 0},
        {PS_OP_REALLOC, 0, 0, 2, PS_OPS_NO_WAIT, 200, 100, 0},
        {PS_OP_FREE, 0, 2, 0, PS_OPS_NO_WAIT, 0, 0, 0},
        {PS_OP_MALLOC, 0, 2, 0, PS_OPS_NO_WAIT, 8, 0, 0}, /* id2: released by its thread */
        {PS_OP_FREE, 0, 1, 0, 0, 0, 0, 2},                /* after thread 0's op 1 */
        {PS_OP_MALLOC, 0, 3, 0, PS_OPS_NO_WAIT, 32, 0, 0}, /* not id1: another thread's */
        {PS_OP_FREE, 0, 3, 0, PS_OPS_NO_WAIT, 0, 0, 0},
        {PS_OP_MALLOC, 0, 3, 0, PS_OPS_NO_WAIT, 16, 0, 0},
    };
    for (int i = 0; i < 9; i++) {
        expect_u64_eq(op[i].kind, want[i].kind);
        expect_u64_eq(op[i].align_log2, want[i].align_log2);
        expect_u64_eq(op[i].id, want[i].id);
        expect_u64_eq(op[i].id2, want[i].id2);
        expect_u64_eq(op[i].wait_thread, want[i].wait_thread);
        expect_u64_eq(op[i].size, want[i].size);
        expect_u64_eq(op[i].old_size, want[i].old_size);
        if (want[i].wait_thread != PS_OPS_NO_WAIT)
            expect_u64_eq(op[i].wait_op, want[i].wait_op);
    }
}

/* --order=recorded: an op whose predecessor among the ops is another thread's waits for it;
 * the waits chain every op (A0 A1 A2 | B0 | A3 | B1 B2 B3 | A4 in the merged order). */
TEST(op_file_in_recorded_order)
{
    write_trace();
    whatif_t w = {.path = ops_path, .recorded_order = true};
    tracemodel_t m = {0};
    pass_sink_t sink = {&whatif_ops, &w, NULL};
    char err[512];
    int rc = pass_run(path, &m, &sink, 1, err, sizeof err);
    whatif_ops.free(sink.state, &w);
    assert_u64_eq(rc, 0);
    tracemodel_free(&m);
    free(w.thread);
    expect_u64_eq(w.waits, 4);
    FILE *fp = fopen(ops_path, "rb");
    assert_true(fp != NULL);
    ps_op_t op[9];
    assert_true(fseek(fp, sizeof(ps_ops_header_t) + 2 * sizeof(ps_ops_thread_t), SEEK_SET) == 0);
    assert_true(fread(op, sizeof op[0], 9, fp) == 9);
    fclose(fp);
    /* thread 10: ops 0..4; thread 20: ops 5..8 */
    static const uint32_t wt[9] = {PS_OPS_NO_WAIT, PS_OPS_NO_WAIT, PS_OPS_NO_WAIT, 1,
                                   1, 0, PS_OPS_NO_WAIT, 0, PS_OPS_NO_WAIT};
    static const uint64_t wo[9] = {0, 0, 0, 2, 4, 3, 0, 4, 0};
    for (int i = 0; i < 9; i++) {
        expect_u64_eq(op[i].wait_thread, wt[i]);
        if (wt[i] != PS_OPS_NO_WAIT)
            expect_u64_eq(op[i].wait_op, wo[i]);
    }
}

TEST_MAIN(TEST_ENTRY(op_file_of_two_threads), TEST_ENTRY(op_file_in_recorded_order))
