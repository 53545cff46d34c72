/*
 * hostile_gen -- writes traces made to hurt the analyzer (tests/integration/hostile.sh and
 * the trace_reader fuzz corpus):
 *   hostile_gen ctrl OUT          control bytes (ESC sequences, BEL, CR, a UTF-8 C1 CSI) in
 *                                 the exe path, the command line, a thread name and a module
 *                                 path; a leaked allocation, a leak scan and lock records, so
 *                                 report, locks, check and dump all print them
 *   hostile_gen module OUT PATH   a module named PATH (a FIFO in the test) with a leaked
 *                                 allocation whose stack is in it: symbolization opens it
 *   hostile_gen bomb OUT N [MIB]  the memory bomb: N threads, two chunks each, every chunk
 *                                 decompressing to PERFSHIM_MAX_CHUNK_USIZE or MIB (skippable
 *                                 padding) and holding an event at its start and one at its
 *                                 end, interleaved in time, so the replay needs every
 *                                 stream's chunk at once: N x 4 MiB claimed by ~1 KiB each
 * Every trace is complete (END record) and has a header checksum, like the writer's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim/trace_format.h"
#include "synth.h"

#define T0 1000000ull
#define BASE 0x7f1000000000ull

static int level = 19; /* zstd; the bomb's 4 MiB chunks use 1 (19 takes seconds each) */

static void chunk(synth_buf_t *f, const synth_buf_t *recs, uint32_t tid, uint32_t seq,
                  uint16_t flags, uint32_t nevents)
{
    ps_chunk_header_t h = {.flags = flags, .tid = tid, .nevents = nevents, .t_first = T0,
                           .t_last = T0 + 1000000, .seq = seq};
    synth_chunk(f, recs, &h, level);
}

static void end_chunk(synth_buf_t *f, uint64_t ts, uint64_t events, uint64_t chunks,
                      uint64_t threads, const synth_buf_t *before)
{
    synth_buf_t in = {0};
    if (before)
        synth_put(&in, before->p, before->n);
    ps_rec_end_t e = {.ts = ts, .events = events, .chunks = chunks, .threads = threads};
    synth_end(&in, &e);
    chunk(f, &in, 1, 0, PS_CHUNK_F_INTERNAL, 0);
    synth_buf_free(&in);
}

static void module_rec(synth_buf_t *b, const char *path)
{
    ps_segment_t seg = {0, 0x10000, 5, 0};
    synth_modmap(b, 0, T0 + 1, 1);
    synth_module(b, 0, BASE, &seg, 1, NULL, 0, path);
}

/* A leak scan naming stack 1 as one definite leak of 100 bytes. */
static void leak_recs(synth_buf_t *b, uint64_t ts)
{
    ps_rec_leak_scan_t s = {.h = synth_hdr(PS_REC_LEAK_SCAN, 0, sizeof(s)), .ts = ts,
                            .blocks = 1, .definite_blocks = 1, .definite_bytes = 100,
                            .groups = 1};
    synth_put(b, &s, sizeof(s));
    ps_rec_leak_t l = {.h = synth_hdr(PS_REC_LEAK, PS_LEAK_DEFINITE, sizeof(l)), .stack = 1,
                       .ts = ts, .blocks = 1, .bytes = 100};
    synth_put(b, &l, sizeof(l));
}

static int write_file(const char *out, const synth_buf_t *f)
{
    FILE *fp = fopen(out, "wb");
    if (!fp || fwrite(f->p, 1, f->n, fp) != f->n || fclose(fp) != 0) {
        perror(out);
        return 99;
    }
    return 0;
}

static int gen_ctrl(const char *out)
{
    static const char exe[] = "/tmp/\x1b[31mred\x1b]0;owned\x07\r\x7f\xc2\x9b" "2J";
    static const char cmd[] = "evil\0--\x1b[2J\0\x1b[H\x08\x0b\x0c";
    synth_buf_t f = {0}, r = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 77, T0, exe, cmd, sizeof(cmd));
    synth_file_header_sum(&f);
    synth_thread(&r, PS_REC_THREAD_START, 77, T0, "t\x1b[5m\x07x");
    module_rec(&r, "/nonexistent/\x1b[1mlib\x1b]2;t\x07.so");
    const uint64_t ips[2] = {BASE + 0x100, BASE + 0x200};
    synth_stack(&r, 1, 2, ips);
    synth_alloc(&r, PS_FN_MALLOC, 1, T0 + 10, 0x1000, 100, 0);
    ps_rec_lock_wait_t w = {.h = synth_hdr(PS_REC_LOCK_WAIT, PS_LOCK_MUTEX, sizeof(w)),
                            .stack = 1, .ts = T0 + 20, .lock = 0x5000, .wait_ns = 5000,
                            .holder_tid = 77, .holder_stack = 1, .op = PS_LOCK_OP_LOCK};
    synth_put(&r, &w, sizeof(w));
    ps_rec_lock_site_t ls = {.h = synth_hdr(PS_REC_LOCK_SITE, PS_LOCK_MUTEX, sizeof(ls)),
                             .stack = 1, .ts = T0 + 30, .lock = 0x5000, .tid = 77,
                             .acquisitions = 10, .contended = 1, .wait_ns = 5000,
                             .wait_max_ns = 5000, .hold_ns = 100, .hold_max_ns = 50};
    ls.wait_hist[13] = 1;
    ls.hold_hist[6] = 10;
    synth_put(&r, &ls, sizeof(ls));
    synth_thread(&r, PS_REC_THREAD_EXIT, 77, T0 + 40, "t\x1b[5m\x07x");
    chunk(&f, &r, 77, 0, 0, 3);
    synth_buf_free(&r);
    leak_recs(&r, T0 + 50);
    end_chunk(&f, T0 + 60, 3, 2, 1, &r);
    synth_buf_free(&r);
    int rc = write_file(out, &f);
    synth_buf_free(&f);
    return rc;
}

static int gen_module(const char *out, const char *path)
{
    synth_buf_t f = {0}, r = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 78, T0, "/bin/true", "true", 5);
    synth_file_header_sum(&f);
    synth_thread(&r, PS_REC_THREAD_START, 78, T0, "true");
    module_rec(&r, path);
    const uint64_t ips[1] = {BASE + 0x100};
    synth_stack(&r, 1, 1, ips);
    synth_alloc(&r, PS_FN_MALLOC, 1, T0 + 10, 0x1000, 100, 0);
    chunk(&f, &r, 78, 0, 0, 1);
    synth_buf_free(&r);
    leak_recs(&r, T0 + 50);
    end_chunk(&f, T0 + 60, 1, 2, 1, &r);
    synth_buf_free(&r);
    int rc = write_file(out, &f);
    synth_buf_free(&f);
    return rc;
}

/* Skippable records (0xe0, zero payload) up to `size` bytes in b. */
static void pad_to(synth_buf_t *b, size_t size)
{
    static unsigned char zero[65532];
    while (b->n + sizeof(ps_rec_hdr_t) <= size) {
        size_t len = size - b->n > 65532 ? 65532 : size - b->n;
        ps_rec_hdr_t h = synth_hdr(PS_REC_SKIPPABLE_FIRST, 0, len);
        synth_put(b, &h, sizeof(h));
        synth_put(b, zero, len - sizeof(h));
    }
}

static int gen_bomb(const char *out, unsigned n, size_t usize)
{
    synth_buf_t f = {0}, r = {0};
    level = 1;
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 79, T0, "/bin/bomb", "bomb", 5);
    synth_file_header_sum(&f);
    const size_t last = 64; /* room for the closing record(s) */
    for (unsigned t = 0; t < n; t++) {
        uint32_t tid = 1000 + t;
        for (uint32_t seq = 0; seq < 2; seq++) {
            /* stream t's events at times (4 seq + k) * n + t: every stream's chunk is
             * needed before any stream's next one */
            if (seq == 0)
                synth_thread(&r, PS_REC_THREAD_START, tid, T0, "bomb");
            synth_alloc(&r, PS_FN_MALLOC, 0, T0 + (4 * seq + 1) * n + t,
                        0x100000ull * (t + 1) + 16 * seq, 8, 0);
            pad_to(&r, usize - last);
            synth_free(&r, T0 + (4 * seq + 2) * n + t, 0x100000ull * (t + 1) + 16 * seq);
            chunk(&f, &r, tid, seq, 0, 2);
            synth_buf_free(&r);
        }
    }
    end_chunk(&f, T0 + 10ull * n, 4ull * n, 2ull * n + 1, n, NULL);
    int rc = write_file(out, &f);
    synth_buf_free(&f);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "ctrl"))
        return gen_ctrl(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "module"))
        return gen_module(argv[2], argv[3]);
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "bomb"))
        return gen_bomb(argv[2], (unsigned)strtoul(argv[3], NULL, 10),
                        argc == 5 ? strtoul(argv[4], NULL, 10) << 20 : PERFSHIM_MAX_CHUNK_USIZE);
    fprintf(stderr, "usage: hostile_gen ctrl OUT | module OUT PATH | bomb OUT N [MIB]\n");
    return 2;
}
