/*
 * gen_synth -- writes tests/golden/synth.trace: a small synthetic trace with fixed addresses
 * and modules that do not exist on disk, so `perfshim report` output is deterministic.
 *
 * What it exercises (the expected totals are worked out by hand in report.sh's comments):
 * two threads whose chunks appear out of seq order in the file; a STACK defined in another
 * thread's stream, after the event that uses it; a stack whose top frame is in
 * libperfshim.so (cut, so it merges with another stack into one site); a realloc chain (in
 * place, moved, then realloc(p, 0)); a failed allocation; a free of an unknown address; a
 * cross-thread free at the same timestamp as an allocation of the same address (the release
 * must be applied first); RSS samples and END in an internal chunk.
 *
 * Usage: gen_synth OUTPUT
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim/trace_format.h"
#include "synth.h"

/* gen_synth's chunks: zstd level 3; t0..t1 the time range of the chunk's records. */
static void chunk(synth_buf_t *f, const synth_buf_t *recs, uint32_t tid, uint32_t seq,
                  uint16_t flags, uint32_t nevents, uint64_t t0, uint64_t t1)
{
    ps_chunk_header_t h = {.flags = flags, .tid = tid, .nevents = nevents, .t_first = t0,
                           .t_last = t1, .seq = seq};
    synth_chunk(f, recs, &h, 3);
}

static void module_rec(synth_buf_t *b, uint64_t base, uint64_t memsz, const char *path)
{
    static const unsigned char bid[4] = {0xde, 0xad, 0xbe, 0xef};
    ps_segment_t seg = {0, memsz, 5, 0};
    synth_module(b, 0, base, &seg, 1, bid, sizeof(bid), path);
}

#define T0 1000000u
#define SHIM 0x7f0000000000ull
#define LIBAPP 0x7f1000000000ull

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_synth OUTPUT\n");
        return 2;
    }
    synth_buf_t f = {0}, a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0}, in = {0};
    const char exe[] = "/opt/synth/bin/synth", cmd[] = "synth\0--golden";
    ps_file_header_t fh = {
        .magic = {'P', 'S', 'T', 'R'},
        .version = PERFSHIM_TRACE_VERSION,
        .header_len = (uint32_t)(sizeof(fh) + strlen(exe) + sizeof(cmd) - 1),
        .pid = 4242,
        .ppid = 1,
        .start_realtime_ns = 1700000000000000000ull,
        .start_mono_ns = T0,
        .clock_id = 1,
        .page_size = 4096,
        .exe_len = (uint32_t)strlen(exe),
        .cmdline_len = sizeof(cmd) - 1,
    };
    synth_put(&f, &fh, sizeof(fh));
    synth_put(&f, exe, strlen(exe));
    synth_put(&f, cmd, sizeof(cmd) - 1);

    /* thread A (tid 100), seq 0 */
    synth_thread(&a0, PS_REC_THREAD_START, 100, T0, "main");
    ps_rec_modmap_t mm = {synth_hdr(PS_REC_MODMAP, 0, sizeof(mm)), 0, T0, 2, 0};
    synth_put(&a0, &mm, sizeof(mm));
    module_rec(&a0, SHIM, 0x10000, "/nonexistent/libperfshim.so");
    module_rec(&a0, LIBAPP, 0x10000, "/nonexistent/libapp.so");
    const uint64_t s1[] = {0x401000, 0x402000, 0x403000};
    const uint64_t s2[] = {SHIM + 0x100, 0x401000, 0x402000, 0x403000}; /* = s1 once cut */
    const uint64_t s3[] = {LIBAPP + 0x1234, 0x402000, 0x403000};
    synth_stack(&a0, 1, 3, s1);
    synth_stack(&a0, 2, 4, s2);
    synth_stack(&a0, 3, 3, s3);
    synth_alloc(&a0, PS_FN_MALLOC, 1, T0 + 1000, 0x10000, 100, 0);
    synth_alloc(&a0, PS_FN_MALLOC, 2, T0 + 2000, 0x10100, 100, 0);
    synth_alloc(&a0, PS_FN_MALLOC, 1, T0 + 2500, 0x40000, 50, 0);
    synth_alloc(&a0, PS_FN_CALLOC, 3, T0 + 3000, 0x10200, 4000, 0);
    synth_free(&a0, T0 + 4000, 0x10000);
    synth_alloc(&a0, PS_FN_MALLOC, 4, T0 + 5000, 0x20000, 64, 0); /* stack 4: defined by B */
    synth_free(&a0, T0 + 5500, 0xdead0);                        /* unknown address */
    synth_alloc(&a0, PS_FN_MALLOC, 1, T0 + 6000, 0, 1ull << 40, 0); /* failed */
    /* thread A, seq 1 */
    synth_realloc(&a1, 5, T0 + 7000, T0 + 7100, 0, 0x30000, 16);          /* acts as malloc */
    synth_realloc(&a1, 5, T0 + 8000, T0 + 8100, 0x30000, 0x30000, 32);    /* in place */
    synth_realloc(&a1, 5, T0 + 9000, T0 + 9100, 0x30000, 0x31000, 1024);  /* moved: the peak */
    synth_alloc(&a1, PS_FN_MALLOC, 3, T0 + 10000, 0x40000, 8, 0); /* same ts as B's free of it */
    synth_realloc(&a1, 5, T0 + 11000, T0 + 11100, 0x31000, 0, 0);         /* realloc(p, 0) */
    synth_thread(&a1, PS_REC_THREAD_EXIT, 100, T0 + 12000, "main");
    /* thread B (tid 200), seq 0 */
    synth_thread(&b0, PS_REC_THREAD_START, 200, T0 + 500, "worker");
    const uint64_t s4[] = {0x404000, 0x405000}, s5[] = {0x406000, 0x403000};
    synth_stack(&b0, 4, 2, s4);
    synth_stack(&b0, 5, 2, s5);
    synth_alloc(&b0, PS_FN_MALLOC, 4, T0 + 3500, 0x50000, 300, 0);
    /* thread B, seq 1 */
    synth_free(&b1, T0 + 10000, 0x40000);
    synth_free(&b1, T0 + 10500, 0x10100); /* allocated by A */
    synth_thread(&b1, PS_REC_THREAD_EXIT, 200, T0 + 12000, "worker");
    /* the writer thread (tid 300): RSS samples and END */
    ps_rec_rss_t rss1 = {synth_hdr(PS_REC_RSS, 0, sizeof(rss1)), 0, T0 + 5000, 1u << 20, 4096};
    ps_rec_rss_t rss2 = {synth_hdr(PS_REC_RSS, 0, sizeof(rss2)), 0, T0 + 11500, 2u << 20, 4096};
    synth_put(&in, &rss1, sizeof(rss1));
    synth_put(&in, &rss2, sizeof(rss2));
    ps_rec_end_t end = {.h = synth_hdr(PS_REC_END, 0, sizeof(end)), .ts = T0 + 12500, .events = 18,
                        .stacks = 5, .chunks = 5, .threads = 2};
    synth_put(&in, &end, sizeof(end));

    chunk(&f, &a0, 100, 0, 0, 8, T0, T0 + 6000);
    chunk(&f, &b1, 200, 1, 0, 2, T0 + 10000, T0 + 12000); /* before B's seq 0 in the file */
    chunk(&f, &b0, 200, 0, 0, 1, T0 + 500, T0 + 3500);
    chunk(&f, &a1, 100, 1, 0, 5, T0 + 7000, T0 + 12000);
    chunk(&f, &in, 300, 0, PS_CHUNK_F_INTERNAL, 0, T0 + 5000, T0 + 12500);

    FILE *out = fopen(argv[1], "wb");
    if (!out || fwrite(f.p, 1, f.n, out) != f.n || fclose(out) != 0) {
        perror(argv[1]);
        return 1;
    }
    free(f.p);
    free(a0.p);
    free(a1.p);
    free(b0.p);
    free(b1.p);
    free(in.p);
    return 0;
}
