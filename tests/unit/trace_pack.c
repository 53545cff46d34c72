/*
 * tests/unit/trace_pack.c -- pack/unpack round trips of every record type of PS_RECORD_TYPES
 * (include/perfshim/trace_pack.h), through the header's functions and through the analyzer's
 * reader (a synthetic chunk holding one record of each type), with the bounds: a record
 * shorter than its type's fixed part and a packed record whose varints run past its len are
 * rejected; a record whose len runs past its chunk is rejected; a longer fixed record
 * (a later version's) decodes with its extra bytes skipped.
 *
 * The loops run over the X-macro list itself, so a type added to it is covered here without
 * an edit (its decoder must be one the reader knows, or the build fails).
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
#include "perfshim/trace_format.h"
#include "perfshim/trace_pack.h"
#include "synth.h"
#include "test.h"

/* ---- the list as data ------------------------------------------------------------------ */

typedef struct type_s {
    uint8_t type;
    const char *name, *dec;
    size_t size, min;
    int cls;
} type_t;

static const type_t types[] = {
#define PS_X(NAME, val, str, T, size, min, member, dec, cls)                                   \
    {val, str, #dec, size, min, PS_RC_##cls},
    PS_RECORD_TYPES(PS_X)
#undef PS_X
};
#define NTYPES (sizeof types / sizeof types[0])

/* Deterministic pseudo-random bytes (xorshift64). */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static void rnd_fill(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)rnd();
}

/* A valid record of type t (its fixed size; the variable parts empty or minimal) in buf;
 * returns its length. Packed types are packed from a random fixed record against st, whose
 * fixed form goes to *fixed. */
static uint32_t make_record(const type_t *t, unsigned char *buf, ps_pack_state_t *st,
                            unsigned char *fixed)
{
    rnd_fill(buf, t->size);
    ps_rec_hdr_t h = {t->type, (uint8_t)rnd(), (uint16_t)t->size};
    uint32_t len = (uint32_t)t->size;
    switch (t->type) {
    case PS_REC_THREAD_START:
    case PS_REC_THREAD_EXIT:
        memcpy(buf + t->size, "worker", 6); /* a name of 6 bytes */
        len += 6;
        break;
    case PS_REC_MODULE: /* no segments, no build-id, a path of 4 bytes */
        memset(buf + offsetof(ps_rec_module_t, nseg), 0, 4);
        memcpy(buf + offsetof(ps_rec_module_t, path_len), &(uint16_t){4}, 2);
        memcpy(buf + t->size, "/bin", 4);
        len += 4;
        break;
    case PS_REC_STACK: { /* id >= 1, depth 2 */
        uint32_t id = 7, depth = 2;
        memcpy(buf + offsetof(ps_rec_stack_t, id), &id, 4);
        memcpy(buf + offsetof(ps_rec_stack_t, depth), &depth, 4);
        rnd_fill(buf + t->size, 16);
        len += 16;
        break;
    }
    case PS_REC_LEAK:
        h.aux = PS_LEAK_INDIRECT;
        break;
    case PS_REC_LEAK_SUPP:
        memcpy(buf + t->size, "leak:foo", 8);
        len += 8;
        break;
    case PS_REC_LEAK_BLOCKS: /* two random entries */
        memcpy(buf + offsetof(ps_rec_leak_blocks_t, n), &(uint32_t){2}, 4);
        rnd_fill(buf + t->size, 2 * sizeof(ps_leak_block_t));
        len += 2 * sizeof(ps_leak_block_t);
        break;
    case PS_REC_ALLOC_P:
    case PS_REC_FREE_P:
    case PS_REC_REALLOC_P: {
        uint8_t ft = t->type == PS_REC_ALLOC_P  ? PS_REC_ALLOC
                     : t->type == PS_REC_FREE_P ? PS_REC_FREE
                                                : PS_REC_REALLOC;
        rnd_fill(fixed, t->size);
        ps_rec_hdr_t fh = {ft, h.aux, (uint16_t)t->size};
        memcpy(fixed, &fh, sizeof fh);
        uint32_t stack = (uint32_t)rnd();
        memcpy(fixed + 4, &stack, 4); /* stack is the u32 after the header in all three */
        if (ft == PS_REC_ALLOC)
            len = ps_pack_alloc_p(st, (const ps_rec_alloc_t *)(const void *)fixed, buf);
        else if (ft == PS_REC_FREE)
            len = ps_pack_free_p(st, (const ps_rec_free_t *)(const void *)fixed, buf);
        else
            len = ps_pack_realloc_p(st, (const ps_rec_realloc_t *)(const void *)fixed, buf);
        return len;
    }
    }
    h.len = (uint16_t)len;
    memcpy(buf, &h, sizeof h);
    return len;
}

/* The bytes of rec's fixed form that a COPY type must give back unchanged. */
static const void *rec_fixed(const record_t *rec)
{
    return &rec->u;
}

/* ---- files ----------------------------------------------------------------------------- */

static char tmp_path[4200];

static void tmp_cleanup(void)
{
    if (tmp_path[0])
        unlink(tmp_path);
}

static reader_t *open_chunk(const synth_buf_t *recs)
{
    synth_buf_t f = {0};
    synth_file_begin(&f, PERFSHIM_TRACE_VERSION, 1, 5000, "/x", "x", 2);
    ps_chunk_header_t h = {.tid = 1, .nevents = 1, .t_first = 1, .t_last = 2};
    synth_chunk(&f, recs, &h, 1);
    if (!tmp_path[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_path, sizeof tmp_path, "%s/pspack.%d.trace", base && *base ? base : "/tmp",
                 (int)getpid());
        atexit(tmp_cleanup);
    }
    synth_save(&f, tmp_path);
    synth_buf_free(&f);
    reader_t *r;
    if (reader_open(&r, tmp_path) != 0) {
        fprintf(stderr, "%s\n", r ? reader_error(r) : "reader_open");
        exit(99);
    }
    return r;
}

/* ---- tests ----------------------------------------------------------------------------- */

/* The generated tables agree with the list: names unique, the classes' event/timestamp
 * answers, the size of every fixed part. */
TEST(table_is_consistent)
{
    for (size_t i = 0; i < NTYPES; i++) {
        const type_t *t = &types[i];
        expect_str_eq(record_type_name(t->type), t->name);
        for (size_t j = 0; j < i; j++)
            expect_true(strcmp(types[j].name, t->name) != 0 && types[j].type != t->type);
        expect_u64_eq(ps_rec_is_event(t->type), t->cls == PS_RC_EVENT);
        unsigned off = ps_rec_ts_offset(t->type);
        if (t->cls == PS_RC_EVENT || t->cls == PS_RC_TIMED)
            expect_true(off >= 8 && off + 8 <= t->size);
        else
            expect_u64_eq(off, 0);
        expect_true(t->min >= sizeof(ps_rec_hdr_t) && t->min <= t->size);
        /* shorter than the fixed part only where the format says so: LEAK_SCAN of older
         * shims (112 bytes) and the packed forms (varints) */
        if (t->type == PS_REC_LEAK_SCAN)
            expect_u64_eq(t->min, PS_LEAK_SCAN_V1_SIZE);
        else if (t->cls == PS_RC_PACKED)
            expect_u64_eq(t->min, sizeof(ps_rec_hdr_t));
        else
            expect_u64_eq(t->min, t->size);
    }
    expect_u64_eq(ps_rec_ts_offset(PS_REC_REALLOC), offsetof(ps_rec_realloc_t, ts));
    expect_u64_eq(ps_rec_is_event(0x3e), 1); /* the lock range, known or not */
    expect_u64_eq(ps_rec_is_event(0x99), 0);
    expect_u64_eq(ps_rec_ts_offset(0x99), 0);
}

/* Fixed parts: ps_pack_fixed then ps_unpack_fixed gives the same bytes; one byte short is
 * rejected; a longer record (a later version's) decodes to its fixed part. */
TEST(fixed_round_trip_and_bounds)
{
    for (size_t i = 0; i < NTYPES; i++) {
        const type_t *t = &types[i];
        if (t->cls == PS_RC_PACKED)
            continue;
        unsigned char rec[512], wire[600], back[512];
        rnd_fill(rec, t->size);
        assert_u64_eq(ps_pack_fixed(wire, rec, t->size), t->size);
        memset(back, 0x5a, sizeof back);
        expect_u64_eq(ps_unpack_fixed(wire, (uint32_t)t->size, (uint32_t)t->min, back, t->size),
                      0);
        expect_true(memcmp(rec, back, t->size) == 0);
        /* truncated */
        expect_true(ps_unpack_fixed(wire, (uint32_t)t->min - 1, (uint32_t)t->min, back,
                                    t->size) == -1);
        /* longer: the fixed part, the rest ignored */
        rnd_fill(wire + t->size, 32);
        expect_u64_eq(
            ps_unpack_fixed(wire, (uint32_t)t->size + 32, (uint32_t)t->min, back, t->size), 0);
        expect_true(memcmp(rec, back, t->size) == 0);
        /* older, shorter (min < size: LEAK_SCAN's 112 bytes): the rest reads 0 */
        if (t->min < t->size) {
            expect_u64_eq(
                ps_unpack_fixed(wire, (uint32_t)t->min, (uint32_t)t->min, back, t->size), 0);
            expect_true(memcmp(rec, back, t->min) == 0);
            for (size_t k = t->min; k < t->size; k++)
                expect_u64_eq(back[k], 0);
        }
    }
}

/* Packed heap records: a long random sequence (deltas of every sign and size, equal and
 * wrapping values) packed against one state and unpacked against another comes back
 * exactly, and both states agree after each record. */
TEST(packed_round_trip)
{
    ps_pack_state_t ws = {0, 0}, rs = {0, 0};
    for (int i = 0; i < 20000; i++) {
        unsigned char buf[PS_PACK_MAX];
        int kind = (int)(rnd() % 3);
        uint64_t big = rnd(), small = rnd() % 300;
        uint64_t v = (i & 3) == 0 ? big : (i & 3) == 1 ? ws.ts0 + small : ws.ptr0 - small;
        if (kind == 0) {
            ps_rec_alloc_t a = {.h = {PS_REC_ALLOC, (uint8_t)(1 + i % 30), sizeof a},
                                .stack = (uint32_t)rnd(), .ts = v, .ptr = rnd() & ~7ull,
                                .size = i & 1 ? small : big, .align = i % 5 ? 0 : 64}, b;
            uint32_t n = ps_pack_alloc_p(&ws, &a, buf);
            assert_true(n <= PS_PACK_MAX);
            ps_pack_state_set(&ws, a.ts, a.ptr);
            assert_u64_eq(ps_unpack_alloc_p(&rs, buf, n, &b), 0);
            expect_true(memcmp(&a, &b, sizeof a) == 0);
        } else if (kind == 1) {
            ps_rec_free_t a = {.h = {PS_REC_FREE, (uint8_t)(1 + i % 30), sizeof a},
                               .stack = i & 1 ? 0 : (uint32_t)rnd(), .ts = v, .ptr = big}, b;
            uint32_t n = ps_pack_free_p(&ws, &a, buf);
            ps_pack_state_set(&ws, a.ts, a.ptr);
            assert_u64_eq(ps_unpack_free_p(&rs, buf, n, &b), 0);
            expect_true(memcmp(&a, &b, sizeof a) == 0);
        } else {
            ps_rec_realloc_t a = {.h = {PS_REC_REALLOC, PS_FN_REALLOC, sizeof a},
                                  .stack = (uint32_t)rnd(), .ts_before = v, .ts = v + small,
                                  .old_ptr = i & 1 ? 0 : rnd(), .new_ptr = i % 3 ? rnd() : 0,
                                  .size = small}, b;
            uint32_t n = ps_pack_realloc_p(&ws, &a, buf);
            ps_pack_state_set(&ws, a.ts, a.new_ptr);
            assert_u64_eq(ps_unpack_realloc_p(&rs, buf, n, &b), 0);
            expect_true(memcmp(&a, &b, sizeof a) == 0);
        }
        expect_true(ws.ts0 == rs.ts0 && ws.ptr0 == rs.ptr0);
    }
}

/* The packed bytes are the format's (docs/trace-format.md "Packed records"), byte for byte:
 * zigzag LEB128 deltas against the chunk state, then the plain varints. */
TEST(packed_bytes_are_the_format)
{
    ps_pack_state_t st = {0, 0};
    unsigned char b[PS_PACK_MAX];
    ps_rec_alloc_t a = {.h = {PS_REC_ALLOC, PS_FN_MALLOC, sizeof a}, .stack = 1, .ts = 1000,
                        .ptr = 0x5000, .size = 32, .align = 0};
    static const unsigned char wa[] = {0x13, 1, 12, 0, 0xd0, 0x0f, 0x80, 0xc0, 0x02, 0x20, 1, 0};
    assert_u64_eq(ps_pack_alloc_p(&st, &a, b), sizeof wa);
    expect_true(memcmp(b, wa, sizeof wa) == 0);
    ps_pack_state_set(&st, a.ts, a.ptr);
    /* ts - 1 and ptr - 16 from there: zz(-1) = 1, zz(-16) = 31 */
    ps_rec_free_t f = {.h = {PS_REC_FREE, PS_FN_FREE, sizeof f}, .stack = 0, .ts = 999,
                       .ptr = 0x4ff0};
    static const unsigned char wf[] = {0x14, 10, 7, 0, 1, 31, 0};
    assert_u64_eq(ps_pack_free_p(&st, &f, b), sizeof wf);
    expect_true(memcmp(b, wf, sizeof wf) == 0);
    ps_pack_state_set(&st, f.ts, f.ptr);
    ps_rec_realloc_t r = {.h = {PS_REC_REALLOC, PS_FN_REALLOC, sizeof r}, .stack = 300,
                          .ts_before = 1001, .ts = 1003, .old_ptr = 0x4ff0, .new_ptr = 0x5010,
                          .size = 128};
    /* zz(2)=4, 2, zz(0)=0, zz(0x20)=0x40, 128 = 0x80 0x01, 300 = 0xac 0x02 */
    static const unsigned char wr[] = {0x15, 3, 12, 0, 4, 2, 0, 0x40, 0x80, 0x01, 0xac, 0x02};
    assert_u64_eq(ps_pack_realloc_p(&st, &r, b), sizeof wr);
    expect_true(memcmp(b, wr, sizeof wr) == 0);
}

/* Every cut of a packed record (len short of its varints) is rejected, leaving the state
 * alone; so is a varint of 11 bytes, and a stack id above 32 bits. */
TEST(packed_bounds)
{
    ps_pack_state_t st = {1000, 0x5000};
    const ps_pack_state_t st0 = st;
    unsigned char buf[PS_PACK_MAX];
    ps_rec_realloc_t r = {.h = {PS_REC_REALLOC, PS_FN_REALLOC, sizeof r}, .stack = 0xfffffff0u,
                          .ts_before = 1, .ts = 1ull << 60, .old_ptr = 0x7fff00000000ull,
                          .new_ptr = 8, .size = 1ull << 40}, rr;
    uint32_t n = ps_pack_realloc_p(&st, &r, buf);
    for (uint32_t cut = 0; cut < n; cut++) {
        expect_true(ps_unpack_realloc_p(&st, buf, cut, &rr) == -1);
        expect_true(st.ts0 == st0.ts0 && st.ptr0 == st0.ptr0);
    }
    ps_rec_alloc_t a = {.h = {PS_REC_ALLOC, PS_FN_MALLOC, sizeof a}, .ts = 5, .ptr = 6}, aa;
    n = ps_pack_alloc_p(&st, &a, buf);
    for (uint32_t cut = 0; cut < n; cut++)
        expect_true(ps_unpack_alloc_p(&st, buf, cut, &aa) == -1);
    ps_rec_free_t f = {.h = {PS_REC_FREE, PS_FN_FREE, sizeof f}, .ts = 5, .ptr = 6}, ff;
    n = ps_pack_free_p(&st, &f, buf);
    for (uint32_t cut = 0; cut < n; cut++)
        expect_true(ps_unpack_free_p(&st, buf, cut, &ff) == -1);
    expect_true(st.ts0 == st0.ts0 && st.ptr0 == st0.ptr0);

    unsigned char bad[20] = {PS_REC_FREE_P, PS_FN_FREE, 20, 0};
    memset(bad + 4, 0x80, 10); /* a varint of 11 bytes */
    bad[14] = 0x01;
    expect_true(ps_unpack_free_p(&st, bad, 20, &ff) == -1);
    /* stack = 2^32 */
    unsigned char *q = bad + 4;
    q = ps_uv_put(q, 0);
    q = ps_uv_put(q, 0);
    q = ps_uv_put(q, 1ull << 32);
    expect_true(ps_unpack_free_p(&st, bad, (uint32_t)(q - bad), &ff) == -1);
}

/* The byte-at-a-time varint decoder, the reference for ps_uv_get's word-at-a-time path. */
static int uv_ref(const unsigned char *q, const unsigned char *end, uint64_t *v, size_t *len)
{
    uint64_t r = 0;
    for (unsigned i = 0; i < PS_VARINT_MAX && q + i < end; i++) {
        unsigned char b = q[i];
        if (i == 9 && b > 1)
            return -1;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            *len = i + 1;
            return 0;
        }
    }
    return -1;
}

/* ps_uv_get against the reference: every length 1..10 (values at and around each length's
 * bounds and random ones), followed by random bytes or by the buffer's end, every cut of it,
 * and random byte strings (overlong and 11-byte ones included). */
TEST(varint_every_length)
{
    unsigned char buf[32];
    for (unsigned bits = 0; bits <= 64; bits++) {
        for (int k = 0; k < 64; k++) {
            uint64_t v = bits == 0 ? 0 : bits == 64 ? rnd() | 1ull << 63 :
                         (rnd() & ((1ull << bits) - 1)) | 1ull << (bits - 1);
            if (k == 1 && bits)
                v = bits == 64 ? ~0ull : (1ull << bits) - 1;
            rnd_fill(buf, sizeof buf);
            size_t n = (size_t)(ps_uv_put(buf, v) - buf);
            for (size_t avail = 0; avail <= n + 12; avail++) {
                const unsigned char *q = buf;
                uint64_t got = 0, want = 0;
                size_t wl = 0;
                int rw = uv_ref(buf, buf + avail, &want, &wl);
                int rg = ps_uv_get(&q, buf + avail, &got);
                expect_true(rg == rw);
                expect_true(rg == (avail >= n ? 0 : -1));
                if (!rg && !rw) {
                    expect_u64_eq(got, v);
                    expect_u64_eq((uint64_t)(q - buf), wl);
                }
            }
        }
    }
    for (int k = 0; k < 200000; k++) {
        rnd_fill(buf, sizeof buf);
        for (size_t i = 0; i < 11; i++) /* long runs of continuation bytes */
            if (rnd() & 1)
                buf[i] |= 0x80;
        size_t avail = (size_t)(rnd() % 16);
        const unsigned char *q = buf;
        uint64_t got = 0, want = 0;
        size_t wl = 0;
        int rw = uv_ref(buf, buf + avail, &want, &wl);
        expect_true(ps_uv_get(&q, buf + avail, &got) == rw);
        if (!rw) {
            expect_u64_eq(got, want);
            expect_u64_eq((uint64_t)(q - buf), wl);
        }
    }
}

/* One record of every type in one chunk, read back through the reader: each decodes to what
 * was written (packed ones to their fixed record), in order. */
TEST(reader_round_trip_every_type)
{
    static unsigned char want[NTYPES][600];
    static uint32_t wlen[NTYPES];
    synth_buf_t recs = {0};
    ps_pack_state_t st = {0, 0};
    for (size_t i = 0; i < NTYPES; i++) {
        unsigned char buf[600];
        wlen[i] = make_record(&types[i], buf, &st, want[i]);
        if (types[i].cls == PS_RC_PACKED) {
            const unsigned char *f = want[i];
            uint64_t ts, ptr;
            if (types[i].type == PS_REC_REALLOC_P) {
                memcpy(&ts, f + offsetof(ps_rec_realloc_t, ts), 8);
                memcpy(&ptr, f + offsetof(ps_rec_realloc_t, new_ptr), 8);
            } else {
                memcpy(&ts, f + 8, 8);
                memcpy(&ptr, f + 16, 8);
            }
            ps_pack_state_set(&st, ts, ptr);
        } else {
            memcpy(want[i], buf, wlen[i]);
        }
        synth_put(&recs, buf, wlen[i]);
    }
    reader_t *r = open_chunk(&recs);
    chunk_view_t v;
    record_t rec;
    assert_u64_eq(reader_chunk_load(r, 0, &v), 0);
    for (size_t i = 0; i < NTYPES; i++) {
        const type_t *t = &types[i];
        int rc = view_next(r, &v, &rec);
        if (rc != 1)
            fprintf(stderr, "%s: %s\n", t->name, reader_error(r));
        assert_u64_eq(rc, 1);
        const unsigned char *w = want[i];
        if (!strcmp(t->dec, "COPY") || !strcmp(t->dec, "LEAK")) {
            expect_u64_eq(rec.type, t->type);
            expect_true(memcmp(rec_fixed(&rec), w, t->size) == 0);
        } else if (t->cls == PS_RC_PACKED) {
            expect_u64_eq(rec.type, w[0]); /* the fixed type */
            expect_true(memcmp(rec_fixed(&rec), w, t->size) == 0);
        } else if (!strcmp(t->dec, "THREAD")) {
            uint32_t tid;
            uint64_t ts;
            memcpy(&tid, w + 4, 4);
            memcpy(&ts, w + 8, 8);
            expect_u64_eq(rec.u.thread.tid, tid);
            expect_u64_eq(rec.u.thread.ts, ts);
            expect_u64_eq(rec.u.thread.name_len, 6);
            expect_true(memcmp(rec.u.thread.name, "worker", 6) == 0);
        } else if (!strcmp(t->dec, "MODMAP")) {
            ps_rec_modmap_t m;
            memcpy(&m, w, sizeof m);
            expect_u64_eq(rec.u.modmap.epoch, m.epoch);
            expect_u64_eq(rec.u.modmap.ts, m.ts);
            expect_u64_eq(rec.u.modmap.count, m.count);
        } else if (!strcmp(t->dec, "MODULE")) {
            ps_rec_module_t m;
            memcpy(&m, w, sizeof m);
            expect_u64_eq(rec.u.module.epoch, m.epoch);
            expect_u64_eq(rec.u.module.base, m.base);
            expect_u64_eq(rec.u.module.nseg, 0);
            expect_u64_eq(rec.u.module.path_len, 4);
            expect_true(memcmp(rec.u.module.path, "/bin", 4) == 0);
        } else if (!strcmp(t->dec, "STACK")) {
            uint64_t ip1;
            memcpy(&ip1, w + 24, 8);
            expect_u64_eq(rec.u.stack.id, 7);
            expect_u64_eq(rec.u.stack.depth, 2);
            expect_u64_eq(record_ip(&rec, 1), ip1);
        } else if (!strcmp(t->dec, "LEAK_SUPP")) {
            uint64_t ts;
            memcpy(&ts, w + 8, 8);
            expect_u64_eq(rec.u.leak_supp.ts, ts);
            expect_u64_eq(rec.u.leak_supp.len, 8);
            expect_true(memcmp(rec.u.leak_supp.text, "leak:foo", 8) == 0);
        } else if (!strcmp(t->dec, "LEAK_BLOCKS")) {
            uint64_t ts;
            memcpy(&ts, w + offsetof(ps_rec_leak_blocks_t, ts), 8);
            expect_u64_eq(rec.u.leak_blocks.ts, ts);
            expect_u64_eq(rec.u.leak_blocks.n, 2);
            ps_leak_block_t b;
            record_leak_block(&rec, 1, &b);
            expect_true(memcmp(&b, w + t->size + sizeof b, sizeof b) == 0);
            record_leak_block(&rec, 2, &b); /* past the end: zeros */
            expect_u64_eq(b.ptr, 0);
        } else {
            fprintf(stderr, "decoder %s of %s has no check here\n", t->dec, t->name);
            expect_true(0);
        }
    }
    expect_u64_eq(view_next(r, &v, &rec), 0);
    reader_close(r);
    synth_buf_free(&recs);
}

/* Through the reader, every type with one byte less than its min len is corrupt ("too short"
 * or "malformed"), and a record whose len runs past the chunk too. */
TEST(reader_rejects_truncated_and_oversized)
{
    for (size_t i = 0; i < NTYPES; i++) {
        const type_t *t = &types[i];
        synth_buf_t recs = {0};
        unsigned char buf[600];
        ps_pack_state_t st = {0, 0};
        unsigned char fixed[600];
        uint32_t len = make_record(t, buf, &st, fixed);
        /* cut: the packed ones one byte short of their varints, the others of their min */
        uint32_t cut = t->cls == PS_RC_PACKED ? len - 1 : (uint32_t)t->min - 1;
        if (cut < sizeof(ps_rec_hdr_t))
            continue;
        ps_rec_hdr_t h;
        memcpy(&h, buf, sizeof h);
        h.len = (uint16_t)cut;
        memcpy(buf, &h, sizeof h);
        synth_put(&recs, buf, cut);
        reader_t *r = open_chunk(&recs);
        chunk_view_t v;
        record_t rec;
        assert_u64_eq(reader_chunk_load(r, 0, &v), 0);
        int rc = view_next(r, &v, &rec);
        if (rc != -PS_E_CORRUPT)
            fprintf(stderr, "%s cut to %u: rc %d\n", t->name, cut, rc);
        expect_true(rc == -PS_E_CORRUPT);
        expect_true(strstr(reader_error(r), "too short") || strstr(reader_error(r), "malformed"));
        reader_close(r);
        synth_buf_free(&recs);

        /* oversized: len claims 8 bytes more than the chunk holds */
        len = make_record(t, buf, &st, fixed);
        memcpy(&h, buf, sizeof h);
        h.len = (uint16_t)(len + 8);
        memcpy(buf, &h, sizeof h);
        synth_put(&recs, buf, len);
        r = open_chunk(&recs);
        assert_u64_eq(reader_chunk_load(r, 0, &v), 0);
        expect_true(view_next(r, &v, &rec) == -PS_E_CORRUPT);
        expect_true(strstr(reader_error(r), "runs past the end of the chunk") != NULL);
        reader_close(r);
        synth_buf_free(&recs);
    }
}

/* PS_LOCK_COUNTERS makes LOCK_SITE's struct: its order is the format (docs/trace-format.md
 * lists the counters in this order), so a reordered or changed list fails here even though
 * the record's size stays 464. */
TEST(lock_counters_are_the_record_layout)
{
    char names[512] = "";
    unsigned i = 0;
#define PS_X(name, merge)                                                                      \
    expect_u64_eq(offsetof(ps_rec_lock_site_t, name), 32 + 8 * i);                             \
    strcat(names, i++ ? ", " #name : #name);
    PS_LOCK_COUNTERS(PS_X)
#undef PS_X
    expect_str_eq(names, "acquisitions, contended, owner_changes, trylock_fail, timeouts, "
                         "errors, rd_acquisitions, wait_ns, wait_max_ns, hold_ns, hold_max_ns, "
                         "allocs_held, signals, broadcasts");
    expect_u64_eq(offsetof(ps_rec_lock_site_t, wait_hist), 32 + 8 * i);
}

TEST_MAIN(TEST_ENTRY(table_is_consistent), TEST_ENTRY(lock_counters_are_the_record_layout), TEST_ENTRY(fixed_round_trip_and_bounds),
          TEST_ENTRY(packed_round_trip), TEST_ENTRY(packed_bytes_are_the_format),
          TEST_ENTRY(packed_bounds), TEST_ENTRY(varint_every_length),
          TEST_ENTRY(reader_round_trip_every_type),
          TEST_ENTRY(reader_rejects_truncated_and_oversized))
