/*
 * tests/unit/trace_cols.c -- columnar chunk bodies (include/perfshim/trace_cols.h): encode ->
 * decode round trips of chunks with every heap record form (tcache-like reuse, frees of
 * blocks the chunk allocated and of blocks it did not, reallocs that move, fail, free and act
 * as malloc, aligned allocations, cross-thread frees) and other records in between, through
 * one encoder and one decoder state for many chunks (the decoder's state starts as garbage);
 * timestamps kept exactly at q = 0 and in 2^q ns units above; a torn tail is left to the
 * caller; every cut and many byte flips of a body are rejected or decode within bounds; a
 * columnar chunk read through the analyzer's reader gives back the fixed records; and the
 * writer's compression (trace_zstd.h: frames of searched or literals-only columns) gives
 * back every body.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/reader.h"
#include "perfshim/errors.h"
#include "perfshim/trace_cols.h"
#include "perfshim/trace_format.h"
#include "perfshim/trace_zstd.h"
#include "synth.h"
#include "test.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A churn-like thread: a window of live blocks, a freed block's pointer reused by the next
 * allocation of its size class most of the time, and now and then anything else. */
static void make_records(synth_buf_t *b, size_t n, uint64_t *ts)
{
    uint64_t live[64] = {0}, lsize[64] = {0}, freed[4] = {0};
    uint64_t top = 0x5555000000ull + (rnd() & 0xfff0);
    for (size_t i = 0; i < n; i++) {
        *ts += rnd() % 300;
        unsigned k = (unsigned)(rnd() & 63), r = (unsigned)(rnd() % 100);
        if (r < 3) { /* something else in between */
            if (r == 0)
                synth_rss(b, *ts, rnd(), rnd() & 0xffff);
            else if (r == 1)
                synth_thread(b, PS_REC_THREAD_START, (uint32_t)rnd(), *ts, "w");
            else
                synth_raw(b, 0xe5, (uint16_t)(4 + rnd() % 40));
        } else if (r < 8) { /* realloc: moves, grows in place, acts as malloc or free, fails */
            ps_rec_realloc_t a = {.h = {PS_REC_REALLOC, r & 1 ? PS_FN_REALLOC : PS_FN_REALLOCARRAY,
                                        sizeof a},
                                  .stack = (uint32_t)(rnd() % 5),
                                  .ts_before = *ts,
                                  .ts = *ts + rnd() % 50,
                                  .old_ptr = live[k],
                                  .size = rnd() % 5000};
            a.new_ptr = r == 5 ? 0 : r == 6 ? live[k] : top;
            top += 4096;
            *ts = a.ts;
            synth_put(b, &a, sizeof a);
            live[k] = a.new_ptr, lsize[k] = a.size;
        } else if (live[k]) {
            ps_rec_free_t f = {.h = {PS_REC_FREE, (uint8_t)(PS_FN_FREE | (r & 0x80 ? 0 : r < 12 ? 0x80 : 0)),
                                     sizeof f},
                               .stack = r < 20 ? (uint32_t)r : 0,
                               .ts = *ts,
                               .ptr = live[k]};
            synth_put(b, &f, sizeof f);
            freed[rnd() & 3] = live[k];
            live[k] = 0;
            (void)lsize;
        } else {
            uint64_t size = 16 + (rnd() & 1023), align = r == 9 ? 64 : 0;
            uint64_t ptr = r < 60 && freed[rnd() & 3] ? freed[rnd() & 3] : top;
            if (r == 10)
                ptr = 0; /* failed */
            if (ptr == top)
                top = ps_cols_next(top, size);
            ps_rec_alloc_t a = {.h = {PS_REC_ALLOC, align ? PS_FN_ALIGNED_ALLOC : PS_FN_MALLOC,
                                      sizeof a},
                                .stack = 3,
                                .ts = *ts,
                                .ptr = ptr,
                                .size = size,
                                .align = align};
            synth_put(b, &a, sizeof a);
            live[k] = ptr, lsize[k] = size;
        }
    }
}

/* Decoded records must equal src's, heap records' timestamps rounded down to 2^q ns. */
static void expect_same(const unsigned char *src, const unsigned char *got, size_t len, unsigned q)
{
    for (size_t pos = 0; pos < len;) {
        ps_rec_hdr_t h;
        memcpy(&h, src + pos, sizeof h);
        unsigned char want[1 << 16];
        memcpy(want, src + pos, h.len);
        if (h.type == PS_REC_ALLOC || h.type == PS_REC_FREE) {
            uint64_t ts;
            memcpy(&ts, want + 8, 8);
            ts = ts >> q << q;
            memcpy(want + 8, &ts, 8);
        } else if (h.type == PS_REC_REALLOC) {
            uint64_t t0, t;
            memcpy(&t0, want + 8, 8);
            memcpy(&t, want + 16, 8);
            t0 = t0 >> q << q, t = t >> q << q;
            memcpy(want + 8, &t0, 8);
            memcpy(want + 16, &t, 8);
        }
        if (memcmp(want, got + pos, h.len) != 0) {
            fprintf(stderr, "record type 0x%02x at +%zu differs\n", h.type, pos);
            expect_true(0);
            return;
        }
        pos += h.len;
    }
}

TEST(round_trip_many_chunks)
{
    static ps_cols_enc_t enc;
    ps_cols_dec_t *dec = malloc(sizeof *dec);
    assert_true(dec != NULL);
    memset(dec, 0xa5, sizeof *dec); /* the decoder needs no initialization */
    uint64_t ts = 1000000;
    size_t heap = 0, body = 0;
    for (unsigned c = 0; c < 40; c++) {
        synth_buf_t b = {0};
        make_records(&b, 50 + rnd() % 3000, &ts);
        unsigned q = c < 20 ? 0 : c % 12;
        size_t cap = ps_cols_bound(b.n);
        unsigned char *out = malloc(cap), *x = malloc(b.n);
        ps_cols_info_t info;
        size_t n = ps_cols_encode(&enc, b.p, b.n, out, cap, q, &info);
        assert_true(n > 0);
        expect_u64_le(n, cap);
        expect_u64_eq(ps_cols_xlen(out, n), b.n);
        assert_u64_eq(ps_cols_decode(dec, out, n, x, b.n), 0);
        expect_same(b.p, x, b.n, q);
        expect_true(info.nevents > 0);
        expect_true(info.t_first <= info.t_last);
        heap += b.n, body += n;
        free(out);
        free(x);
        synth_buf_free(&b);
    }
    expect_u64_le(body * 3, heap); /* before zstd already a third or less */
    free(dec);
}

/* Exactly the tcache pattern (free, then an allocation of the same class gets it back): every
 * pointer but the first is coded in its record's head byte (FREE: rank 0 among the live,
 * ALLOC: its class' latest freed block), none in the ptr, fref or aref columns. */
TEST(tcache_reuse_is_one_byte)
{
    static ps_cols_enc_t enc;
    static ps_cols_dec_t dec;
    synth_buf_t b = {0};
    uint64_t p = 0x7f0000001000ull;
    synth_alloc(&b, PS_FN_MALLOC, 1, 10, p, 100, 0);
    for (unsigned i = 0; i < 1000; i++) {
        synth_free(&b, 20 + 20 * i, p);
        synth_alloc(&b, PS_FN_MALLOC, 1, 30 + 20 * i, p, 100, 0);
    }
    static unsigned char out[1 << 18], x[1 << 17]; /* out: ps_cols_bound(b.n) */
    ps_cols_info_t info;
    size_t n = ps_cols_encode(&enc, b.p, b.n, out, sizeof out, 0, &info);
    assert_true(n > 0);
    ps_cols_hdr_t hd;
    memcpy(&hd, out, sizeof hd);
    expect_u64_eq(hd.format, PS_COLS_FORMAT);
    expect_u64_le(hd.col_len[PS_COL_PTR], 11);
    expect_u64_eq(hd.col_len[PS_COL_FREF] + hd.col_len[PS_COL_AREF], 0);
    expect_u64_eq(hd.col_len[PS_COL_AHEAD], 1001);
    expect_u64_eq(hd.col_len[PS_COL_FHEAD], 1000);
    expect_u64_eq(info.nevents, 2001);
    expect_u64_eq(info.t_first, 10);
    expect_true(info.heap_only);
    assert_u64_eq(ps_cols_decode(&dec, out, n, x, b.n), 0);
    expect_true(memcmp(x, b.p, b.n) == 0);
    synth_buf_free(&b);
}

/* Live sets larger than a head byte's ranks and than a rank byte (frees in random order and
 * oldest first, of up to 600 blocks), reallocs of live blocks, allocations that get back
 * blocks freed hundreds of frees ago, misaligned pointers, failed allocations: round trips. */
TEST(large_ranks_and_old_frees_round_trip)
{
    static ps_cols_enc_t enc;
    static ps_cols_dec_t dec;
    for (unsigned pass = 0; pass < 3; pass++) {
        synth_buf_t b = {0};
        uint64_t live[600], freed[1100], ts = 100, top = 0x7f0000000000ull + pass * 8;
        unsigned nl = 0, nfreed = 0;
        for (unsigned i = 0; i < 600; i++) {
            uint64_t size = 16 + rnd() % 2000;
            synth_alloc(&b, PS_FN_MALLOC, 1, ts += 3, top, size, 0);
            live[nl++] = top;
            top = ps_cols_next(top, size) + (pass == 2 ? 8 : 0);
        }
        while (nl) {
            unsigned k = pass == 1 ? 0 : (unsigned)(rnd() % nl); /* pass 1: oldest first */
            if (rnd() % 7 == 0) {
                ps_rec_realloc_t r = {.h = {PS_REC_REALLOC, PS_FN_REALLOC, sizeof r},
                                      .stack = 2, .ts_before = ts += 5, .ts = ts += 40,
                                      .old_ptr = live[k], .new_ptr = top, .size = 5000};
                synth_put(&b, &r, sizeof r);
                top += 8192;
            } else {
                synth_free(&b, ts += 1000, live[k]); /* deltas past a head's nibble */
            }
            freed[nfreed++ % 1100] = live[k];
            memmove(&live[k], &live[k + 1], (nl - 1 - k) * sizeof live[0]);
            nl--;
        }
        for (unsigned i = 0; i < 300; i++) /* blocks freed 1..600 frees ago, a failure */
            synth_alloc(&b, PS_FN_MALLOC, 3, ts += 2, i == 7 ? 0 : freed[(nfreed - 1 - rnd() % 590) % 1100], 4000 + i, 0);
        size_t cap = ps_cols_bound(b.n);
        unsigned char *out = malloc(cap), *x = malloc(b.n);
        ps_cols_info_t info;
        size_t n = ps_cols_encode(&enc, b.p, b.n, out, cap, 0, &info);
        assert_true(n > 0);
        ps_cols_hdr_t hd;
        memcpy(&hd, out, sizeof hd);
        expect_true(hd.col_len[PS_COL_FREF] > 0);
        expect_true(hd.col_len[PS_COL_AREF] > 0);
        assert_u64_eq(ps_cols_decode(&dec, out, n, x, b.n), 0);
        expect_same(b.p, x, b.n, 0);
        free(out);
        free(x);
        synth_buf_free(&b);
    }
}

/* Chunks of more allocations than the window (PS_COLS_WINDOW), one encoder for all of them:
 * frees of the allocations just inside and just outside the window, of ones long gone from it,
 * of random live ones and again of freed ones, and chunks smaller than the one before (the
 * encoder's live set from the last chunk is stale): round trips. */
TEST(window_edges_round_trip)
{
    static ps_cols_enc_t enc;
    static ps_cols_dec_t dec;
    static uint64_t ptrs[12000];
    const unsigned sizes[] = {9000, 5000, 300, 4097, 11000};
    for (unsigned c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        synth_buf_t b = {0};
        uint64_t ts = 1000, top = 0x7f0000000000ull + ((uint64_t)c << 32);
        unsigned na = 0;
        while (na < sizes[c]) {
            ptrs[na] = top;
            synth_alloc(&b, PS_FN_MALLOC, 1, ts += 7, top, 48, 0);
            top += 64, na++;
            const unsigned r = (unsigned)(rnd() % 8);
            unsigned k = na; /* none */
            if (r == 0 && na > PS_COLS_WINDOW - 2)
                k = na - PS_COLS_WINDOW + 1 - (unsigned)(rnd() % 3); /* at the edge */
            else if (r == 1)
                k = (unsigned)(rnd() % na); /* anywhere: maybe freed already */
            else if (r < 5)
                k = na - 1 - (unsigned)(rnd() % (na < 64 ? na : 64)); /* recent */
            if (k < na)
                synth_free(&b, ts += 3, ptrs[k]);
        }
        size_t cap = ps_cols_bound(b.n);
        unsigned char *out = malloc(cap), *x = malloc(b.n);
        ps_cols_info_t info;
        size_t n = ps_cols_encode(&enc, b.p, b.n, out, cap, 0, &info);
        assert_true(n > 0);
        assert_u64_eq(ps_cols_decode(&dec, out, n, x, b.n), 0);
        expect_same(b.p, x, b.n, 0);
        free(out);
        free(x);
        synth_buf_free(&b);
    }
}

/* A small chunk of every heap record form (and one other record), for format 1 fixtures. */
static size_t v1_records(unsigned char *b)
{
    size_t n = 0;
    uint64_t ts = 1000, top = 0x55550000ull, live[8] = {0};
    for (unsigned i = 0; i < 24; i++) {
        unsigned k = i % 8;
        ts += 70 + (i * 37) % 200;
        if (i == 11) {
            ps_rec_realloc_t r = {.h = {PS_REC_REALLOC, PS_FN_REALLOC, sizeof r}, .stack = 2,
                                  .ts_before = ts, .ts = ts + 90, .old_ptr = live[3],
                                  .new_ptr = top, .size = 3000};
            live[3] = top, top += 4096, ts += 90;
            memcpy(b + n, &r, sizeof r), n += sizeof r;
        } else if (i == 17) {
            ps_rec_rss_t r = {.h = {PS_REC_RSS, 0, sizeof r}, .ts = ts, .rss_bytes = 123456,
                              .shim_bytes = 789};
            memcpy(b + n, &r, sizeof r), n += sizeof r;
        } else if (live[k]) {
            ps_rec_free_t f = {.h = {PS_REC_FREE, PS_FN_FREE, sizeof f}, .stack = 0, .ts = ts,
                               .ptr = live[k]};
            memcpy(b + n, &f, sizeof f), n += sizeof f;
            live[k] = 0;
        } else {
            uint64_t size = 16 + (i * 97) % 500;
            ps_rec_alloc_t a = {.h = {PS_REC_ALLOC, i == 6 ? PS_FN_ALIGNED_ALLOC : PS_FN_MALLOC,
                                      sizeof a},
                                .stack = 1 + i % 3, .ts = ts, .ptr = top, .size = size,
                                .align = i == 6 ? 64 : 0};
            live[k] = top, top = ps_cols_next(top, size);
            memcpy(b + n, &a, sizeof a), n += sizeof a;
        }
    }
    return n;
}

/* A format 1 body (the first columnar traces: encoded by the format 1 encoder from
 * v1_records(), q = 6) still decodes to those records. */
/* 832 bytes of records */
static const unsigned char v1_body[210] = {
    1,6,0,0,64,3,0,0,24,0,0,0,24,0,0,0,45,0,0,0,
    25,0,0,0,23,0,0,0,1,0,0,0,32,0,0,0,33,33,33,33,
    33,33,166,33,74,74,74,99,74,74,74,74,33,0,33,74,33,33,33,33,
    32,4,4,6,6,8,4,4,4,8,6,4,2,4,4,6,8,8,6,6,
    6,8,2,4,0,128,128,168,213,10,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,8,7,6,192,3,192,24,5,4,3,2,0,128,64,0,0,
    3,0,0,0,0,0,0,0,0,16,113,210,1,179,2,148,3,245,3,98,
    195,1,184,23,68,134,2,200,3,53,150,1,247,1,1,2,3,1,2,3,
    1,2,0,0,0,2,0,0,0,0,2,1,0,3,1,2,3,64,32,0,
    32,0,0,0,0,0,171,15,0,0,0,0,0,0,64,226,1,0,0,0,
    0,0,21,3,0,0,0,0,0,0,
};

TEST(format1_bodies_still_decode)
{
    static ps_cols_dec_t dec;
    static unsigned char want[8192], x[8192];
    size_t n = v1_records(want);
    assert_u64_eq(ps_cols_xlen(v1_body, sizeof v1_body), n);
    assert_u64_eq(ps_cols_decode(&dec, v1_body, sizeof v1_body, x, n), 0);
    expect_same(want, x, n, 6);
    static unsigned char m[sizeof v1_body];
    for (size_t cut = 0; cut < sizeof v1_body; cut++)
        expect_u64_eq(ps_cols_xlen(v1_body, cut), 0);
    unsigned bad = 0;
    for (unsigned i = 0; i < 2000; i++) {
        memcpy(m, v1_body, sizeof m);
        m[36 + rnd() % (sizeof m - 36)] ^= (unsigned char)(1 + rnd() % 255);
        if (ps_cols_decode(&dec, m, sizeof m, x, n) != 0)
            bad++;
    }
    expect_true(bad > 0);
}

TEST(torn_tail_is_left_alone)
{
    static ps_cols_enc_t enc;
    synth_buf_t b = {0};
    synth_alloc(&b, PS_FN_MALLOC, 1, 10, 0x1000, 100, 0);
    synth_put(&b, "\x10\x01", 2);
    unsigned char out[4096];
    ps_cols_info_t info;
    expect_u64_eq(ps_cols_encode(&enc, b.p, b.n, out, sizeof out, 0, &info), 0);
    expect_u64_eq(ps_cols_encode(&enc, b.p, b.n - 2, out, 10, 0, &info), 0); /* no room */
    expect_u64_eq(ps_cols_encode(&enc, b.p, 0, out, sizeof out, 0, &info), 0); /* nothing */
    synth_buf_free(&b);
}

/* Cuts and byte flips: the decoder fails or stays inside its buffers (run under ASan/valgrind
 * by `make check` configurations that have them). */
TEST(malformed_bodies_are_rejected)
{
    static ps_cols_enc_t enc;
    static ps_cols_dec_t dec;
    synth_buf_t b = {0};
    uint64_t ts = 5;
    make_records(&b, 400, &ts);
    size_t cap = ps_cols_bound(b.n);
    unsigned char *out = malloc(cap), *x = malloc(b.n), *m = malloc(cap);
    ps_cols_info_t info;
    size_t n = ps_cols_encode(&enc, b.p, b.n, out, cap, 3, &info);
    assert_true(n > sizeof(ps_cols_hdr_t));
    for (size_t cut = 0; cut < n; cut++) /* a cut body's lengths no longer add up */
        expect_u64_eq(ps_cols_xlen(out, cut), 0);
    expect_true(ps_cols_decode(&dec, out, n, x, b.n - 1) != 0); /* wrong xlen */
    unsigned bad = 0;
    for (unsigned i = 0; i < 3000; i++) {
        memcpy(m, out, n);
        size_t at = sizeof(ps_cols_hdr_t) + rnd() % (n - sizeof(ps_cols_hdr_t));
        m[at] ^= (unsigned char)(1 + rnd() % 255);
        uint32_t xl = ps_cols_xlen(m, n);
        if (xl == b.n && ps_cols_decode(&dec, m, n, x, xl) != 0)
            bad++;
    }
    expect_true(bad > 0);
    memcpy(m, out, n);
    m[0] = PS_COLS_FORMAT + 1;
    expect_u64_eq(ps_cols_xlen(m, n), 0);
    free(out);
    free(x);
    free(m);
    synth_buf_free(&b);
}

/* ps_cols_decode2_heap's callbacks: each record written where ps_cols_decode writes it. */
typedef struct heap_out_s {
    unsigned char *x;
    size_t o, n, cap; /* bytes written, records, x's size */
    int bad;          /* a record out of order or past x */
} heap_out_t;

static void heap_put(heap_out_t *h, size_t i, const void *rec, size_t len)
{
    if (i != h->n++ || h->o + len > h->cap) {
        h->bad = 1;
        return;
    }
    memcpy(h->x + h->o, rec, len);
    h->o += len;
}

static void heap_alloc(void *ctx, size_t i, const ps_rec_alloc_t *a)
{
    heap_put(ctx, i, a, sizeof *a);
}

static void heap_free(void *ctx, size_t i, const ps_rec_free_t *f)
{
    heap_put(ctx, i, f, sizeof *f);
}

/* Decodes body[0, n) both ways (one decoder state each): both accept it and give the same
 * records, or ps_cols_decode2_heap rejects it (-1 returned); never a different record. */
static int heap_decode(ps_cols_dec_t *dec, const unsigned char *body, size_t n, size_t xlen,
                       unsigned char *x, size_t cap)
{
    heap_out_t h = {x, 0, 0, cap, 0};
    if (ps_cols_decode2_heap(dec, body, n, xlen, heap_alloc, heap_free, &h) != 0)
        return -1;
    expect_true(!h.bad);
    expect_u64_eq(h.o, xlen);
    expect_u64_eq(h.n, ps_cols_nrec(body));
    return 0;
}

/* ALLOC and FREE records only (heap-only chunks): decoded straight to records through
 * ps_cols_decode2_heap as ps_cols_decode decodes them, chunk after chunk with one state each;
 * a chunk with a REALLOC or another record, a format 1 body, an empty one, a cut one, one with
 * the wrong xlen, and flipped bytes: rejected (ps_cols_decode then says which), never decoded
 * otherwise. */
TEST(heap_only_bodies_decode_straight)
{
    static ps_cols_enc_t enc;
    ps_cols_dec_t *d1 = malloc(sizeof *d1), *d2 = malloc(sizeof *d2);
    assert_true(d1 && d2);
    memset(d1, 0x5a, sizeof *d1);
    memset(d2, 0xc3, sizeof *d2);
    uint64_t ts = 777;
    unsigned heap_only = 0;
    for (unsigned c = 0; c < 30; c++) {
        synth_buf_t all = {0}, b = {0};
        /* (c 28: more allocations than 2 x PS_COLS_WINDOW, the decoder's general steps) */
        make_records(&all, c == 28 ? 20000 : 20 + rnd() % 2500, &ts);
        size_t nalloc = 0;
        for (size_t pos = 0; pos < all.n;) { /* keep its ALLOC and FREE records (c odd: all) */
            ps_rec_hdr_t h;
            memcpy(&h, all.p + pos, sizeof h);
            if ((c & 1) || h.type == PS_REC_ALLOC || h.type == PS_REC_FREE)
                synth_put(&b, all.p + pos, h.len);
            nalloc += h.type == PS_REC_ALLOC;
            pos += h.len;
        }
        if (c == 28)
            expect_true(nalloc > 2 * PS_COLS_WINDOW);
        unsigned q = c % 7;
        size_t cap = ps_cols_bound(b.n);
        unsigned char *out = malloc(cap), *x1 = malloc(b.n), *x2 = malloc(b.n);
        ps_cols_info_t info;
        size_t n = ps_cols_encode(&enc, b.p, b.n, out, cap, q, &info);
        assert_true(n > 0);
        assert_u64_eq(ps_cols_decode(d1, out, n, x1, b.n), 0);
        int rc = heap_decode(d2, out, n, b.n, x2, b.n);
        expect_u64_eq(rc == 0, info.heap_only != 0); /* c odd: the others make it -1 */
        if (rc == 0) {
            heap_only++;
            expect_true(memcmp(x1, x2, b.n) == 0);
            expect_same(b.p, x2, b.n, q);
            expect_true(heap_decode(d2, out, n, b.n - 1, x2, b.n) != 0); /* wrong xlen */
            for (size_t cut = 0; cut < n; cut += 1 + cut / 8) /* cut: rejected */
                expect_true(heap_decode(d2, out, cut, b.n, x2, b.n) != 0);
            unsigned char *m = malloc(n);
            for (unsigned i = 0; i < 300; i++) { /* flips: both reject or both agree */
                memcpy(m, out, n);
                m[sizeof(ps_cols_hdr_t) + rnd() % (n - sizeof(ps_cols_hdr_t))] ^=
                    (unsigned char)(1 + rnd() % 255);
                if (ps_cols_xlen(m, n) != b.n)
                    continue;
                int r1 = ps_cols_decode(d1, m, n, x1, b.n);
                if (heap_decode(d2, m, n, b.n, x2, b.n) == 0) {
                    expect_u64_eq(r1, 0);
                    expect_true(memcmp(x1, x2, b.n) == 0);
                }
            }
            free(m);
        }
        free(out);
        free(x1);
        free(x2);
        synth_buf_free(&all);
        synth_buf_free(&b);
    }
    expect_u64_eq(heap_only, 15);
    /* an empty body (no records: ps_cols_xlen 0) */
    unsigned char empty[sizeof(ps_cols_hdr_t)] = {PS_COLS_FORMAT}, x[64];
    expect_true(heap_decode(d2, empty, sizeof empty, 0, x, sizeof x) != 0);
    expect_true(ps_cols_decode(d1, empty, sizeof empty, x, 0) != 0);
    /* format 1: ps_cols_decode only */
    static unsigned char v1_want[8192], v1_x[8192];
    size_t n1 = v1_records(v1_want);
    expect_true(heap_decode(d2, v1_body, sizeof v1_body, n1, v1_x, sizeof v1_x) != 0);
    expect_u64_eq(ps_cols_decode(d1, v1_body, sizeof v1_body, v1_x, n1), 0);
    free(d1);
    free(d2);
}

/* Heap-only bodies with what ps_cols_dec2_heap_run's blocks take apart from their common steps:
 * longer stacks (2 and 3 bytes, in both stack columns), sizes whose size >> 8 needs 2 bytes,
 * aligns, failed allocations, frees of pointers the chunk did not allocate, hundreds of live
 * blocks (ranks past the fixed move and past the FREF escape), long gaps (TSX): decoded as
 * ps_cols_decode decodes them; and every column's length moved by a few bytes to another
 * (the lengths still add up, so the cursors meet a column's end where the blocks do not look):
 * rejected, or decoded as ps_cols_decode does (under valgrind: never a read past the body). */
TEST(heap_only_blocks_take_every_record)
{
    static ps_cols_enc_t enc;
    ps_cols_dec_t *d1 = malloc(sizeof *d1), *d2 = malloc(sizeof *d2);
    assert_true(d1 && d2);
    memset(d1, 0x77, sizeof *d1);
    memset(d2, 0x99, sizeof *d2);
    uint64_t ts = 12345;
    for (unsigned c = 0; c < 6; c++) {
        synth_buf_t b = {0};
        uint64_t live[512] = {0}, top = 0x7000000000ull;
        const unsigned nlive = c & 1 ? 512 : 40;
        for (unsigned i = 0; i < 6000; i++) {
            const unsigned k = (unsigned)(rnd() % nlive), r = (unsigned)(rnd() % 100);
            ts += r < 2 ? rnd() % 100000000 : rnd() % 200;
            const uint32_t stack = r < 10 ? (uint32_t)(rnd() % 3000000) : (uint32_t)(rnd() % 100);
            if (live[k] || r < 4) {
                ps_rec_free_t f = {.h = {PS_REC_FREE, PS_FN_FREE | (r & 1 ? 0x80 : 0), sizeof f},
                                   .stack = stack,
                                   .ts = ts,
                                   .ptr = live[k] ? live[k] : 0x9000000000ull + rnd() % 100000};
                synth_put(&b, &f, sizeof f);
                live[k] = 0;
            } else {
                const uint64_t size = r < 15 ? 40000 + rnd() % 100000 : 16 + rnd() % 2000;
                const uint64_t align = r == 20 ? 4096 : 0;
                ps_rec_alloc_t a = {.h = {PS_REC_ALLOC,
                                          align ? PS_FN_ALIGNED_ALLOC : PS_FN_MALLOC, sizeof a},
                                    .stack = stack,
                                    .ts = ts,
                                    .ptr = r == 21 ? 0 : top,
                                    .size = size,
                                    .align = align};
                if (a.ptr)
                    top = ps_cols_next(top, size) + (r < 30 ? 64 : 0);
                synth_put(&b, &a, sizeof a);
                live[k] = a.ptr;
            }
        }
        const unsigned q = c % 3;
        size_t cap = ps_cols_bound(b.n);
        unsigned char *out = malloc(cap), *x1 = malloc(b.n), *x2 = malloc(b.n);
        ps_cols_info_t info;
        size_t n = ps_cols_encode(&enc, b.p, b.n, out, cap, q, &info);
        assert_true(n > 0 && info.heap_only);
        assert_u64_eq(ps_cols_decode(d1, out, n, x1, b.n), 0);
        assert_u64_eq(heap_decode(d2, out, n, b.n, x2, b.n), 0);
        expect_true(memcmp(x1, x2, b.n) == 0);
        expect_same(b.p, x2, b.n, q);
        unsigned char *m = malloc(n); /* exactly the body: valgrind sees a read past it */
        unsigned moved = 0, both = 0;
        for (unsigned from = 1; from < PS_COL_N; from++)
            for (unsigned to = 1; to < PS_COL_N; to++)
                for (uint32_t by = 1; by <= 3 && from != to; by++) {
                    ps_cols_hdr_t h;
                    memcpy(m, out, n);
                    memcpy(&h, m, sizeof h);
                    if (h.col_len[from] < by)
                        continue;
                    h.col_len[from] -= by, h.col_len[to] += by;
                    memcpy(m, &h, sizeof h);
                    moved++;
                    int r1 = ps_cols_decode(d1, m, n, x1, b.n);
                    if (heap_decode(d2, m, n, b.n, x2, b.n) == 0) {
                        both++;
                        expect_u64_eq(r1, 0);
                        expect_true(memcmp(x1, x2, b.n) == 0);
                    }
                }
        expect_true(moved > 100);
        (void)both;
        free(m);
        free(out);
        free(x1);
        free(x2);
        synth_buf_free(&b);
    }
    free(d1);
    free(d2);
}

static char tmp_path[256];
static void tmp_cleanup(void)
{
    unlink(tmp_path);
}

/* A trace with one columnar chunk (and one v1 chunk of the same thread after it) reads back
 * the fixed records through reader_chunk_load and view_next. */
TEST(reader_reads_columnar_chunks)
{
    static ps_cols_enc_t enc;
    synth_buf_t recs = {0}, f = {0};
    uint64_t ts = 1000;
    make_records(&recs, 2000, &ts);
    size_t cap = ps_cols_bound(recs.n);
    unsigned char *out = malloc(cap);
    ps_cols_info_t info;
    size_t n = ps_cols_encode(&enc, recs.p, recs.n, out, cap, 6, &info);
    assert_true(n > 0);
    synth_buf_t body = {0};
    synth_put(&body, out, n);
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 5000, "/x", "x", 2);
    ps_chunk_header_t h = {.tid = 1, .nevents = info.nevents, .t_first = info.t_first,
                           .t_last = info.t_last, .flags = PS_CHUNK_F_COLUMNS};
    synth_chunk(&f, &body, &h, 1);
    synth_buf_t plain = {0};
    synth_alloc(&plain, PS_FN_MALLOC, 2, ts + 1, 0x1230, 7, 0);
    ps_chunk_header_t h2 = {.tid = 1, .seq = 1, .nevents = 1, .t_first = ts + 1, .t_last = ts + 1};
    synth_chunk(&f, &plain, &h2, 1);
    snprintf(tmp_path, sizeof tmp_path, "%s/pscols.%d.trace",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    atexit(tmp_cleanup);
    synth_save(&f, tmp_path);
    reader_t *r;
    assert_u64_eq(reader_open(&r, tmp_path), 0);
    assert_u64_eq(reader_chunk_count(r), 2);
    chunk_view_t v;
    record_t rec;
    assert_u64_eq(reader_chunk_load(r, 0, &v), 0);
    expect_u64_eq(v.size, recs.n);
    expect_same(recs.p, v.data, recs.n, 6);
    size_t nrec = 0;
    int rc;
    while ((rc = view_next(r, &v, &rec)) > 0)
        nrec++;
    expect_u64_eq(rc, 0);
    expect_true(nrec > 0);
    assert_u64_eq(reader_chunk_load(r, 1, &v), 0);
    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_ALLOC);
    expect_u64_eq(rec.u.alloc.ptr, 0x1230);
    reader_close(r);
    free(out);
    synth_buf_free(&recs);
    synth_buf_free(&plain);
    synth_buf_free(&body);
    synth_buf_free(&f);
}

/* ps_cols_compress with a zstate: bodies of 32 KiB and more as several frames (columns
 * searched or literals only), learnt on probes; the program's pattern changing (a phase of
 * allocations only, then churn again) makes a body probe again. Every output decompresses,
 * as one, to its body, and col_bytes adds up to its size. */
TEST(split_frames_round_trip)
{
    static ps_cols_enc_t enc;
    static ps_cols_zstate_t zs;
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_DCtx *d = ZSTD_createDCtx();
    assert_true(c != NULL && d != NULL);
    ps_cols_zstd_params(c, 1, PS_COLS_ZSTD_MIN_MATCH);
    uint64_t ts = 1000000;
    unsigned split = 0, lit = 0, reprobe = 0;
    for (unsigned k = 0; k < 80; k++) {
        synth_buf_t b = {0};
        if ((k / 10) % 2 == 0) {
            make_records(&b, k % 10 == 9 ? 200 : 30000, &ts); /* (and a short one) */
        } else { /* allocations only, one size: op, heads and sizes a single value */
            for (unsigned i = 0; i < 20000; i++) {
                ps_rec_alloc_t a = {.h = {PS_REC_ALLOC, PS_FN_MALLOC, sizeof a},
                                    .stack = 3,
                                    .ts = ts += 64,
                                    .ptr = 0x7000000000ull + 48ull * (k * 20000ull + i),
                                    .size = 40};
                synth_put(&b, &a, sizeof a);
            }
        }
        size_t cap = ps_cols_bound(b.n);
        unsigned char *body = malloc(cap), *x = malloc(cap);
        ps_cols_info_t info;
        size_t n = ps_cols_encode(&enc, b.p, b.n, body, cap, 6, &info);
        assert_true(n > 0);
        const size_t zcap = ZSTD_compressBound(n) + 1024;
        unsigned char *z = malloc(zcap);
        double cb[PS_COL_N + 1] = {0}, sum = 0;
        const uint32_t b0 = zs.bodies;
        size_t zn = ps_cols_compress(c, &zs, z, zcap, body, n, cb);
        /* (a literals-only column grown past its probe's: made again as a probe) */
        reprobe += n >= PS_COLS_SPLIT_MIN && b0 % PS_COLS_PROBE_EVERY && zs.bodies == 1;
        assert_true(!ZSTD_isError(zn));
        for (unsigned i = 0; i <= PS_COL_N; i++)
            sum += cb[i];
        expect_u64_eq((uint64_t)sum, zn);
        const size_t first = ZSTD_findFrameCompressedSize(z, zn);
        assert_true(!ZSTD_isError(first));
        split += first < zn;
        lit |= zs.lit;
        size_t got = ZSTD_decompressDCtx(d, x, cap, z, zn);
        assert_u64_eq(got, n);
        expect_true(memcmp(x, body, n) == 0);
        if (n < PS_COLS_SPLIT_MIN)
            expect_u64_eq(first, zn); /* a short body: one frame */
        free(body);
        free(x);
        free(z);
        synth_buf_free(&b);
    }
    expect_true(split > 10); /* most bodies between probes are split */
    expect_true(lit != 0);
    expect_true(reprobe > 0);
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
}

TEST_MAIN(TEST_ENTRY(round_trip_many_chunks), TEST_ENTRY(tcache_reuse_is_one_byte),
          TEST_ENTRY(large_ranks_and_old_frees_round_trip), TEST_ENTRY(window_edges_round_trip),
          TEST_ENTRY(format1_bodies_still_decode),
          TEST_ENTRY(torn_tail_is_left_alone), TEST_ENTRY(malformed_bodies_are_rejected),
          TEST_ENTRY(heap_only_bodies_decode_straight),
          TEST_ENTRY(heap_only_blocks_take_every_record),
          TEST_ENTRY(reader_reads_columnar_chunks), TEST_ENTRY(split_frames_round_trip))
