/*
 * tests/unit/reader.c -- the trace reader (analyzer/reader.c) against synthetic traces, and
 * the `perfshim dump` line format built on it.
 *
 * A small writer below builds traces byte by byte (file header, records, zstd chunks with
 * their FNV-1a header checksum) so each test controls exactly what is in the file, including
 * the broken parts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "dump.h"
#include "perfshim/errors.h"
#include "perfshim/trace_format.h"
#include "reader.h"
#include "synth.h"
#include "test.h"

/* ---- the trace writer (tests/include/synth.h) with this file's fixed values ---------- */

static void rec_end(synth_buf_t *b, uint64_t ts)
{
    ps_rec_end_t e = {.ts = ts, .events = 5, .dropped = 1, .stacks = 2, .stacks_dropped = 3,
                      .chunks = 2, .threads = 1};
    synth_end(b, &e);
}

static void file_begin(synth_buf_t *f, uint32_t version, const char *exe, const char *cmdline,
                       size_t cmdline_len)
{
    synth_file_begin(f, version, 123, 5000, exe, cmdline, cmdline_len);
}

static void chunk_seal(ps_chunk_header_t *h)
{
    h->checksum = ps_fnv1a32(h, offsetof(ps_chunk_header_t, checksum));
}

/* Appends recs as one chunk; returns the chunk's file offset. */
static size_t file_chunk(synth_buf_t *f, const synth_buf_t *recs, uint32_t tid, uint32_t seq,
                         uint16_t flags)
{
    ps_chunk_header_t h = {.flags = flags, .tid = tid, .nevents = 3, .t_first = 1000,
                           .t_last = 2000, .seq = seq};
    return synth_chunk(f, recs, &h, 1);
}

/* ---- files --------------------------------------------------------------------------- */

static char tmp_dir[4096];
static char tmp_path[4200];

static void tmp_cleanup(void)
{
    unlink(tmp_path);
    rmdir(tmp_dir);
}

/* Makes the private temp directory once; tmp_path is the one trace file in it. */
static void tmp_init(void)
{
    if (!tmp_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof(tmp_dir), "%s/psreader.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmp_dir)) {
            perror("mkdtemp");
            exit(99);
        }
        snprintf(tmp_path, sizeof(tmp_path), "%s/t.trace", tmp_dir);
        atexit(tmp_cleanup);
    }
}

static const char *file_write(const synth_buf_t *f)
{
    tmp_init();
    FILE *fp = fopen(tmp_path, "wb");
    if (!fp || (f->n && fwrite(f->p, 1, f->n, fp) != f->n) || fclose(fp) != 0) {
        perror(tmp_path);
        exit(99);
    }
    return tmp_path;
}

/* Writes f to a file and opens it; *r is set even on failure (reader_open's contract). */
static int file_open(const synth_buf_t *f, reader_t **r)
{
    return reader_open(r, file_write(f));
}

static bool contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* The standard good trace: chunk 0 holds one of every record type of an app thread, chunk 1
 * the writer thread's RSS sample and END record. */
static void trace_good(synth_buf_t *f, size_t *off1)
{
    static const char cmd[] = "app\0a\0b"; /* 8 bytes with the final NUL */
    file_begin(f, PERFSHIM_TRACE_VERSION_FULL, "/path/app", cmd, sizeof(cmd));

    synth_buf_t r = {0};
    synth_thread(&r, PS_REC_THREAD_START, 123, 1000, "app");
    synth_modmap(&r, 0, 1001, 1);
    static const ps_segment_t segs[2] = {{0x0, 0x28000, 4, 0}, {0x28000, 0x155000, 5, 0}};
    static const unsigned char bid[4] = {0x01, 0x23, 0xab, 0xcd};
    synth_module(&r, 0, 0x7f0000001000ull, segs, 2, bid, 4, "/lib/libc.so.6");
    static const uint64_t ips[3] = {0x401136, 0x401200, 0x7f1234};
    synth_stack(&r, 1, 3, ips);
    synth_alloc(&r, PS_FN_MALLOC, 1, 1100, 0x5500000010ull, 32, 0);
    synth_free(&r, 1200, 0x5500000010ull);
    synth_realloc(&r, 2, 1300, 1301, 0, 0x5500000020ull, 64);
    synth_raw(&r, 0x99, 12);
    synth_thread(&r, PS_REC_THREAD_EXIT, 124, 1400, "worker");
    file_chunk(f, &r, 123, 0, 0);
    synth_buf_free(&r);

    synth_rss(&r, 1500, 1234567, 456);
    rec_end(&r, 2000);
    size_t o = file_chunk(f, &r, 125, 0, PS_CHUNK_F_INTERNAL);
    if (off1)
        *off1 = o;
    synth_buf_free(&r);
}

/* ---- tests --------------------------------------------------------------------------- */

TEST(good_trace_decodes_exactly)
{
    synth_buf_t f = {0};
    size_t off1;
    trace_good(&f, &off1);
    reader_t *r;
    int rc = file_open(&f, &r);
    assert_u64_eq(rc, 0);

    const trace_info_t *ti = reader_info(r);
    expect_u64_eq(ti->version, PERFSHIM_TRACE_VERSION_FULL);
    expect_u64_eq(ti->pid, 123);
    expect_u64_eq(ti->ppid, 1);
    expect_u64_eq(ti->start_realtime_ns, 1700000000000000000ull);
    expect_u64_eq(ti->start_mono_ns, 5000);
    expect_u64_eq(ti->clock_id, 1);
    expect_u64_eq(ti->page_size, 4096);
    expect_u64_eq(ti->header_len, 56 + 9 + 8);
    expect_str_eq(ti->exe, "/path/app");
    expect_str_eq(ti->cmdline, "app a b");
    expect_u64_eq(reader_file_size(r), f.n);
    expect_u64_eq(reader_index_status(r), 0);
    expect_str_eq(reader_index_error(r), "");

    assert_u64_eq(reader_chunk_count(r), 2);
    const chunk_info_t *c0 = reader_chunk(r, 0), *c1 = reader_chunk(r, 1);
    expect_u64_eq(c0->offset, 56 + 9 + 8);
    expect_u64_eq(c0->h.tid, 123);
    expect_u64_eq(c0->h.nevents, 3);
    expect_u64_eq(c0->h.t_first, 1000);
    expect_u64_eq(c1->offset, off1);
    expect_u64_eq(c1->h.tid, 125);
    expect_u64_eq(c1->h.flags, PS_CHUNK_F_INTERNAL);
    expect_true(reader_chunk(r, 2) == NULL);

    chunk_view_t v;
    record_t rec;
    assert_u64_eq(reader_chunk_load(r, 0, &v), 0);
    expect_u64_eq(v.size, c0->h.usize);

    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_THREAD_START);
    expect_u64_eq(rec.offset_in_chunk, 0);
    expect_u64_eq(rec.u.thread.tid, 123);
    expect_u64_eq(rec.u.thread.ts, 1000);
    assert_u64_eq(rec.u.thread.name_len, 3);
    expect_true(memcmp(rec.u.thread.name, "app", 3) == 0);

    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_MODMAP);
    expect_u64_eq(rec.offset_in_chunk, 19);
    expect_u64_eq(rec.u.modmap.epoch, 0);
    expect_u64_eq(rec.u.modmap.ts, 1001);
    expect_u64_eq(rec.u.modmap.count, 1);

    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_MODULE);
    expect_u64_eq(rec.len, 24 + 48 + 4 + 14);
    expect_u64_eq(rec.u.module.base, 0x7f0000001000ull);
    assert_u64_eq(rec.u.module.nseg, 2);
    ps_segment_t s;
    record_segment(&rec, 1, &s);
    expect_u64_eq(s.vaddr, 0x28000);
    expect_u64_eq(s.memsz, 0x155000);
    expect_u64_eq(s.flags, 5);
    record_segment(&rec, 2, &s); /* out of range: zeroed */
    expect_u64_eq(s.memsz, 0);
    assert_u64_eq(rec.u.module.buildid_len, 4);
    expect_u64_eq(rec.u.module.buildid[3], 0xcd);
    assert_u64_eq(rec.u.module.path_len, 14);
    expect_true(memcmp(rec.u.module.path, "/lib/libc.so.6", 14) == 0);

    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_STACK);
    expect_u64_eq(rec.u.stack.id, 1);
    assert_u64_eq(rec.u.stack.depth, 3);
    expect_u64_eq(record_ip(&rec, 0), 0x401136);
    expect_u64_eq(record_ip(&rec, 2), 0x7f1234);
    expect_u64_eq(record_ip(&rec, 3), 0);

    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_ALLOC);
    expect_u64_eq(rec.aux, PS_FN_MALLOC);
    expect_u64_eq(rec.u.alloc.stack, 1);
    expect_u64_eq(rec.u.alloc.ts, 1100);
    expect_u64_eq(rec.u.alloc.ptr, 0x5500000010ull);
    expect_u64_eq(rec.u.alloc.size, 32);
    expect_u64_eq(rec.u.alloc.align, 0);

    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_FREE);
    expect_u64_eq(rec.aux, PS_FN_FREE);
    expect_u64_eq(rec.u.free.ts, 1200);
    expect_u64_eq(rec.u.free.ptr, 0x5500000010ull);

    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_REALLOC);
    expect_u64_eq(rec.u.realloc.stack, 2);
    expect_u64_eq(rec.u.realloc.ts_before, 1300);
    expect_u64_eq(rec.u.realloc.ts, 1301);
    expect_u64_eq(rec.u.realloc.old_ptr, 0);
    expect_u64_eq(rec.u.realloc.new_ptr, 0x5500000020ull);
    expect_u64_eq(rec.u.realloc.size, 64);

    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, 0x99);
    expect_u64_eq(rec.len, 12);

    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_THREAD_EXIT);
    expect_u64_eq(rec.u.thread.tid, 124);
    assert_u64_eq(rec.u.thread.name_len, 6);
    expect_true(memcmp(rec.u.thread.name, "worker", 6) == 0);

    expect_u64_eq(view_next(r, &v, &rec), 0);
    expect_u64_eq(view_next(r, &v, &rec), 0); /* and stays at the end */

    assert_u64_eq(reader_chunk_load(r, 1, &v), 0);
    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_RSS);
    expect_u64_eq(rec.u.rss.ts, 1500);
    expect_u64_eq(rec.u.rss.rss_bytes, 1234567);
    expect_u64_eq(rec.u.rss.shim_bytes, 456);
    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_END);
    expect_u64_eq(rec.u.end.ts, 2000);
    expect_u64_eq(rec.u.end.events, 5);
    expect_u64_eq(rec.u.end.dropped, 1);
    expect_u64_eq(rec.u.end.stacks, 2);
    expect_u64_eq(rec.u.end.stacks_dropped, 3);
    expect_u64_eq(rec.u.end.chunks, 2);
    expect_u64_eq(rec.u.end.threads, 1);
    expect_u64_eq(view_next(r, &v, &rec), 0);

    expect_true(reader_chunk_load(r, 2, &v) == -PS_E_INVAL);
    reader_close(r);
    synth_buf_free(&f);
}

TEST(names)
{
    expect_str_eq(record_type_name(PS_REC_THREAD_START), "thread_start");
    expect_str_eq(record_type_name(PS_REC_THREAD_EXIT), "thread_exit");
    expect_str_eq(record_type_name(PS_REC_MODMAP), "modmap");
    expect_str_eq(record_type_name(PS_REC_MODULE), "module");
    expect_str_eq(record_type_name(PS_REC_STACK), "stack");
    expect_str_eq(record_type_name(PS_REC_ALLOC), "alloc");
    expect_str_eq(record_type_name(PS_REC_FREE), "free");
    expect_str_eq(record_type_name(PS_REC_REALLOC), "realloc");
    expect_str_eq(record_type_name(PS_REC_RSS), "rss");
    expect_str_eq(record_type_name(PS_REC_END), "end");
    expect_str_eq(record_type_name(PS_REC_LOCK_WAIT), "lock_wait");
    expect_str_eq(record_type_name(PS_REC_LOCK_SITE), "lock_site");
    expect_str_eq(record_type_name(PS_REC_LOCK_INIT), "lock_init");
    expect_str_eq(record_type_name(PS_REC_LOCK_EDGE), "lock_edge");
    expect_str_eq(record_type_name(PS_REC_LOCK_INFO), "lock_info");
    expect_str_eq(record_type_name(PS_REC_LOCK_THREAD), "lock_thread");
    expect_str_eq(record_type_name(0x3e), "unknown");
    expect_str_eq(lock_kind_name(PS_LOCK_RWLOCK), "rwlock");
    expect_str_eq(lock_kind_name(0), "unknown");
    expect_str_eq(lock_op_name(PS_LOCK_OP_TIMEDWRLOCK), "timedwrlock");
    expect_str_eq(alloc_fn_name(PS_FN_MALLOC), "malloc");
    expect_str_eq(alloc_fn_name(PS_FN_POSIX_MEMALIGN), "posix_memalign");
    expect_str_eq(alloc_fn_name(PS_FN_FREE), "free");
    expect_str_eq(alloc_fn_name(0), "?");
    expect_str_eq(alloc_fn_name(PS_FN_COUNT_), "?");
}

TEST(unknown_records_are_skipped_by_len)
{
    synth_buf_t f = {0}, r = {0};
    file_begin(&f, PERFSHIM_TRACE_VERSION, "", "", 0);
    synth_alloc(&r, PS_FN_CALLOC, 0, 1, 0x10, 8, 0);
    synth_raw(&r, 0x99, 12);
    synth_raw(&r, 0xe5, 4);   /* skippable range, header only */
    synth_raw(&r, 0x3e, 300); /* lock range, not assigned yet */
    synth_free(&r, 2, 0x10);
    file_chunk(&f, &r, 1, 0, 0);

    reader_t *rd;
    assert_u64_eq(file_open(&f, &rd), 0);
    chunk_view_t v;
    record_t rec;
    assert_u64_eq(reader_chunk_load(rd, 0, &v), 0);
    static const struct { uint8_t type; uint16_t len; uint64_t off; } want[] = {
        {PS_REC_ALLOC, 40, 0}, {0x99, 12, 40}, {0xe5, 4, 52}, {0x3e, 300, 56},
        {PS_REC_FREE, 24, 356},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_u64_eq(view_next(rd, &v, &rec), 1);
        expect_u64_eq(rec.type, want[i].type);
        expect_u64_eq(rec.len, want[i].len);
        expect_u64_eq(rec.offset_in_chunk, want[i].off);
    }
    expect_u64_eq(rec.u.free.ptr, 0x10);
    expect_u64_eq(view_next(rd, &v, &rec), 0);
    reader_close(rd);
    synth_buf_free(&f);
    synth_buf_free(&r);
}

/* A packed record: header (type, aux, len) and the given varints (zigzag already applied). */
static void put_packed(synth_buf_t *b, uint8_t type, uint8_t aux, const uint64_t *v, int n)
{
    unsigned char tmp[4 + 10 * PS_VARINT_MAX], *q = tmp + 4;
    for (int i = 0; i < n; i++)
        q = ps_uv_put(q, v[i]);
    ps_rec_hdr_t h = {type, aux, (uint16_t)(q - tmp)};
    memcpy(tmp, &h, sizeof h);
    synth_put(b, tmp, (size_t)(q - tmp));
}

/* Packed ALLOC/FREE/REALLOC decode to the fixed records they stand for, each against the
 * chunk's running (ts, ptr) state, which fixed records do not change. */
TEST(packed_records_decode)
{
    synth_buf_t f = {0}, r = {0};
    file_begin(&f, PERFSHIM_TRACE_VERSION, "", "", 0);
    uint64_t a[] = {ps_zz(1000), ps_zz(0x5000), 48, 7, 0};           /* ts 1000, ptr 0x5000 */
    put_packed(&r, PS_REC_ALLOC_P, PS_FN_MALLOC, a, 5);
    synth_alloc(&r, PS_FN_CALLOC, 3, 999999, 0x9999, 1, 0);         /* fixed: state unchanged */
    uint64_t fr[] = {ps_zz(25), ps_zz((uint64_t)-0x100), 0};        /* ts 1025, ptr 0x4f00 */
    put_packed(&r, PS_REC_FREE_P, PS_FN_FREE, fr, 3);
    uint64_t re[] = {ps_zz((uint64_t)-5), 10, ps_zz(0x100), ps_zz(0x2000), 96, 9}; /* 1020..1030 */
    put_packed(&r, PS_REC_REALLOC_P, PS_FN_REALLOC, re, 6);
    uint64_t a2[] = {ps_zz(1), ps_zz(8), 16, 7, 64};                /* ts 1031, ptr 0x7008 */
    put_packed(&r, PS_REC_ALLOC_P, PS_FN_ALIGNED_ALLOC, a2, 5);
    file_chunk(&f, &r, 1, 0, 0);
    reader_t *rd;
    assert_u64_eq(file_open(&f, &rd), 0);
    chunk_view_t v;
    record_t rec;
    assert_u64_eq(reader_chunk_load(rd, 0, &v), 0);
    assert_u64_eq(view_next(rd, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_ALLOC);
    expect_u64_eq(rec.aux, PS_FN_MALLOC);
    expect_u64_eq(rec.u.alloc.ts, 1000);
    expect_u64_eq(rec.u.alloc.ptr, 0x5000);
    expect_u64_eq(rec.u.alloc.size, 48);
    expect_u64_eq(rec.u.alloc.stack, 7);
    assert_u64_eq(view_next(rd, &v, &rec), 1);
    expect_u64_eq(rec.u.alloc.ptr, 0x9999);
    assert_u64_eq(view_next(rd, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_FREE);
    expect_u64_eq(rec.u.free.ts, 1025);
    expect_u64_eq(rec.u.free.ptr, 0x4f00);
    assert_u64_eq(view_next(rd, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_REALLOC);
    expect_u64_eq(rec.u.realloc.ts_before, 1020);
    expect_u64_eq(rec.u.realloc.ts, 1030);
    expect_u64_eq(rec.u.realloc.old_ptr, 0x5000);
    expect_u64_eq(rec.u.realloc.new_ptr, 0x7000);
    expect_u64_eq(rec.u.realloc.size, 96);
    expect_u64_eq(rec.u.realloc.stack, 9);
    assert_u64_eq(view_next(rd, &v, &rec), 1);
    expect_u64_eq(rec.aux, PS_FN_ALIGNED_ALLOC);
    expect_u64_eq(rec.u.alloc.ts, 1031);
    expect_u64_eq(rec.u.alloc.ptr, 0x7008);
    expect_u64_eq(rec.u.alloc.align, 64);
    expect_u64_eq(view_next(rd, &v, &rec), 0);
    reader_close(rd);
    synth_buf_free(&f);
    synth_buf_free(&r);
}

/* A varint longer than 10 bytes, or fields that run past the record, are corrupt. */
TEST(packed_record_malformed)
{
    for (int k = 0; k < 2; k++) {
        synth_buf_t f = {0}, r = {0};
        file_begin(&f, PERFSHIM_TRACE_VERSION, "", "", 0);
        unsigned char bad[16];
        ps_rec_hdr_t h = {PS_REC_ALLOC_P, PS_FN_MALLOC, k ? 6 : 16};
        memcpy(bad, &h, sizeof h);
        memset(bad + 4, 0xff, sizeof bad - 4); /* k=0: 12 continuation bytes; k=1: cut at 6 */
        synth_put(&r, bad, h.len);
        file_chunk(&f, &r, 1, 0, 0);
        reader_t *rd;
        assert_u64_eq(file_open(&f, &rd), 0);
        chunk_view_t v;
        record_t rec;
        assert_u64_eq(reader_chunk_load(rd, 0, &v), 0);
        expect_true(view_next(rd, &v, &rec) == -PS_E_CORRUPT);
        expect_true(contains(reader_error(rd), "malformed packed alloc record"));
        reader_close(rd);
        synth_buf_free(&f);
        synth_buf_free(&r);
    }
}

/* A lock record shorter than its fixed part is corrupt, not silently zero-filled. */
TEST(short_lock_record_is_rejected)
{
    synth_buf_t f = {0}, r = {0};
    file_begin(&f, PERFSHIM_TRACE_VERSION, "", "", 0);
    synth_raw(&r, PS_REC_LOCK_SITE, sizeof(ps_rec_lock_site_t) - 8);
    file_chunk(&f, &r, 1, 0, 0);
    reader_t *rd;
    assert_u64_eq(file_open(&f, &rd), 0);
    chunk_view_t v;
    record_t rec;
    assert_u64_eq(reader_chunk_load(rd, 0, &v), 0);
    expect_true(view_next(rd, &v, &rec) == -PS_E_CORRUPT);
    expect_true(strstr(reader_error(rd), "lock_site record too short") != NULL);
    reader_close(rd);
    synth_buf_free(&f);
    synth_buf_free(&r);
}

TEST(not_a_trace)
{
    static const char *const bodies[] = {"", "PS", "PSTX and more bytes", "root:x:0:0:root"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        synth_buf_t f = {0};
        synth_put(&f, bodies[i], strlen(bodies[i]));
        reader_t *r;
        int rc = file_open(&f, &r);
        expect_true(rc == -PS_E_NOT_TRACE);
        expect_true(contains(reader_error(r), "not a perfshim trace"));
        expect_true(contains(reader_error(r), tmp_path));
        reader_close(r);
        synth_buf_free(&f);
    }
    /* A good trace with its first byte changed. */
    synth_buf_t f = {0};
    trace_good(&f, NULL);
    f.p[0] = 'X';
    reader_t *r;
    expect_true(file_open(&f, &r) == -PS_E_NOT_TRACE);
    reader_close(r);
    synth_buf_free(&f);
}

TEST(newer_version_is_rejected)
{
    synth_buf_t f = {0};
    trace_good(&f, NULL);
    uint32_t v = PERFSHIM_TRACE_VERSION + 1;
    memcpy(f.p + offsetof(ps_file_header_t, version), &v, 4);
    reader_t *r;
    expect_true(file_open(&f, &r) == -PS_E_VERSION);
    char want[96];
    snprintf(want, sizeof want, "trace format version %u is newer than this perfshim (supports %u)",
             PERFSHIM_TRACE_VERSION + 1, PERFSHIM_TRACE_VERSION);
    expect_true(contains(reader_error(r), want));
    reader_close(r);
    synth_buf_free(&f);
}

TEST(missing_file)
{
    reader_t *r;
    expect_true(reader_open(&r, "/nonexistent/dir/x.trace") == -PS_E_OPEN);
    expect_true(contains(reader_error(r), "/nonexistent/dir/x.trace"));
    expect_true(contains(reader_error(r), strerror(ENOENT)));
    reader_close(r);
    expect_true(reader_open(&r, "/") == -PS_E_OPEN);
    reader_close(r);
}

/* Patches one u32 field of the file header of the good trace; returns reader_open's result. */
static int open_with_header_field(size_t field_off, uint32_t value)
{
    synth_buf_t f = {0};
    trace_good(&f, NULL);
    memcpy(f.p + field_off, &value, 4);
    reader_t *r;
    int rc = file_open(&f, &r);
    if (rc < 0 && !contains(reader_error(r), "offset"))
        test_fail_(0, "error without an offset: %s", reader_error(r));
    reader_close(r);
    synth_buf_free(&f);
    return rc;
}

TEST(bad_file_header)
{
    expect_true(open_with_header_field(offsetof(ps_file_header_t, version), 0) == -PS_E_CORRUPT);
    expect_true(open_with_header_field(offsetof(ps_file_header_t, header_len), 40) ==
                -PS_E_CORRUPT);
    expect_true(open_with_header_field(offsetof(ps_file_header_t, header_len), 1u << 30) ==
                -PS_E_TRUNCATED);
    expect_true(open_with_header_field(offsetof(ps_file_header_t, exe_len), 4097) ==
                -PS_E_CORRUPT);
    expect_true(open_with_header_field(offsetof(ps_file_header_t, cmdline_len), 65537) ==
                -PS_E_CORRUPT);
    /* Lengths within bounds that do not fit in header_len. */
    expect_true(open_with_header_field(offsetof(ps_file_header_t, exe_len), 100) ==
                -PS_E_CORRUPT);
    /* A file header cut short. */
    synth_buf_t f = {0};
    trace_good(&f, NULL);
    f.n = 30;
    reader_t *r;
    expect_true(file_open(&f, &r) == -PS_E_TRUNCATED);
    reader_close(r);
    synth_buf_free(&f);

    /* Over-long exe and cmdline that are really there: still refused by the bounds. */
    char *big = malloc(PERFSHIM_MAX_CMDLINE + 2);
    assert_true(big != NULL);
    memset(big, 'a', PERFSHIM_MAX_CMDLINE + 1);
    big[PERFSHIM_MAX_PATH + 1] = '\0';
    file_begin(&f, PERFSHIM_TRACE_VERSION, big, "", 0);
    expect_true(file_open(&f, &r) == -PS_E_CORRUPT);
    expect_true(contains(reader_error(r), "exe_len 4097 > 4096"));
    reader_close(r);
    synth_buf_free(&f);
    big[PERFSHIM_MAX_PATH + 1] = 'a';
    file_begin(&f, PERFSHIM_TRACE_VERSION, "", big, PERFSHIM_MAX_CMDLINE + 1);
    expect_true(file_open(&f, &r) == -PS_E_CORRUPT);
    expect_true(contains(reader_error(r), "cmdline_len 65537 > 65536"));
    reader_close(r);
    synth_buf_free(&f);
    /* At the bounds exactly: accepted. */
    big[PERFSHIM_MAX_PATH] = '\0';
    file_begin(&f, PERFSHIM_TRACE_VERSION, big, big, PERFSHIM_MAX_CMDLINE);
    expect_u64_eq(file_open(&f, &r), 0);
    expect_u64_eq(strlen(reader_info(r)->exe), PERFSHIM_MAX_PATH);
    reader_close(r);
    synth_buf_free(&f);
    free(big);
}

/* The standard good trace with a header checksum (what the writer writes now). */
static void trace_good_sum(synth_buf_t *f)
{
    synth_buf_t g = {0};
    trace_good(&g, NULL);
    ps_file_header_t h;
    memcpy(&h, g.p, sizeof(h));
    synth_put(f, g.p, h.header_len);
    synth_file_header_sum(f);
    synth_put(f, g.p + h.header_len, g.n - h.header_len);
    synth_buf_free(&g);
}

/* The good trace with sampled mode's header (version 2, PS_FILE_F_SAMPLED, N and the seed
 * after the command line, then the checksum); flags_clear / version override a field before
 * the checksum is made, room: how many of the 16 bytes are written. */
static void trace_sampled(synth_buf_t *f, uint64_t mean, uint32_t version, uint32_t flags_clear,
                          size_t room)
{
    synth_buf_t g = {0};
    trace_good(&g, NULL);
    ps_file_header_t h;
    memcpy(&h, g.p, sizeof(h));
    ps_file_sampling_t fs = {.mean_bytes = mean, .seed = 7};
    size_t start = f->n;
    synth_put(f, g.p, h.header_len);
    synth_put(f, &fs, room);
    ps_file_header_t nh = h;
    nh.version = version;
    nh.flags = (h.flags | PS_FILE_F_SAMPLED) & ~flags_clear;
    nh.header_len = h.header_len + (uint32_t)room;
    memcpy(f->p + start, &nh, sizeof(nh));
    if (!(flags_clear & PS_FILE_F_HEADER_SUM))
        synth_file_header_sum(f);
    synth_put(f, g.p + h.header_len, g.n - h.header_len);
    synth_buf_free(&g);
}

TEST(sampled_header)
{
    synth_buf_t f = {0};
    reader_t *r;
    trace_sampled(&f, 524288, 2, 0, sizeof(ps_file_sampling_t));
    assert_u64_eq(file_open(&f, &r), 0);
    expect_u64_eq(reader_info(r)->version, 2);
    expect_u64_eq(reader_info(r)->sample_bytes, 524288);
    expect_u64_eq(reader_info(r)->sample_seed, 7);
    expect_u64_eq(reader_chunk_count(r), 2);
    reader_close(r);
    synth_buf_free(&f);

    /* refused: the flag in a version 1 header, without room for the 16 bytes, a mean of 0 */
    static const struct {
        uint64_t mean;
        uint32_t version;
        size_t room;
        const char *why;
    } bad[] = {{524288, 1, 16, "the sampled flag needs version 2"},
               {524288, 2, 8, "the sampled flag needs version 2"},
               {0, 2, 16, "sampled with a mean of 0 bytes"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        trace_sampled(&f, bad[i].mean, bad[i].version, 0, bad[i].room);
        expect_true(file_open(&f, &r) == -PS_E_CORRUPT);
        expect_true(contains(reader_error(r), bad[i].why));
        reader_close(r);
        synth_buf_free(&f);
    }
    /* a full trace reads sample_bytes 0 */
    trace_good_sum(&f);
    assert_u64_eq(file_open(&f, &r), 0);
    expect_u64_eq(reader_info(r)->sample_bytes, 0);
    reader_close(r);
    synth_buf_free(&f);
}

TEST(header_checksum)
{
    synth_buf_t f = {0};
    trace_good_sum(&f);
    reader_t *r;
    assert_u64_eq(file_open(&f, &r), 0);
    expect_true(reader_info(r)->flags & PS_FILE_F_HEADER_SUM);
    expect_str_eq(reader_info(r)->exe, "/path/app");
    expect_u64_eq(reader_info(r)->header_len, 56 + 9 + 8 + 4);
    expect_u64_eq(reader_chunk_count(r), 2);
    expect_u64_eq(reader_index_status(r), 0);
    reader_close(r);

    /* Every byte of the header changed to every other value: refused, naming the header. */
    ps_file_header_t h;
    memcpy(&h, f.p, sizeof(h));
    unsigned missed = 0;
    for (uint32_t i = 0; i < h.header_len; i++)
        for (unsigned x = 1; x < 256; x++) {
            f.p[i] ^= (unsigned char)x;
            int rc = file_open(&f, &r);
            if (rc >= 0 || !(contains(reader_error(r), "file header") ||
                             contains(reader_error(r), "not a perfshim trace"))) {
                if (!missed++)
                    test_fail_(0, "byte %u ^ 0x%02x: rc %d, %s", i, x, rc, reader_error(r));
            }
            reader_close(r);
            f.p[i] ^= (unsigned char)x;
        }
    expect_u64_eq(missed, 0);
    synth_buf_free(&f);

    /* Without the flag (older writers) header_len must be exactly 56 + exe + cmdline: a
     * header that grew by 4 bytes without the flag is a flag flipped off. */
    trace_good_sum(&f);
    memcpy(&h, f.p, sizeof(h));
    h.flags &= ~PS_FILE_F_HEADER_SUM;
    memcpy(f.p, &h, sizeof(h));
    expect_true(file_open(&f, &r) == -PS_E_CORRUPT);
    expect_true(contains(reader_error(r), "no header checksum"));
    reader_close(r);
    synth_buf_free(&f);
    /* The flag on an old header: no room for the checksum. */
    trace_good(&f, NULL);
    memcpy(&h, f.p, sizeof(h));
    h.flags |= PS_FILE_F_HEADER_SUM;
    memcpy(f.p, &h, sizeof(h));
    expect_true(file_open(&f, &r) == -PS_E_CORRUPT);
    reader_close(r);
    synth_buf_free(&f);
}

TEST(cut_inside_second_chunk)
{
    synth_buf_t f = {0};
    size_t off1;
    trace_good(&f, &off1);
    char want[64];
    snprintf(want, sizeof(want), "offset %zu: truncated chunk (file is cut short)", off1);
    /* Cut in the frame, in the header, and right after the magic. */
    const size_t cuts[] = {off1 + 48 + (f.n - off1 - 48) / 2, f.n - 1, off1 + 20, off1 + 4,
                           off1 + 2};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        synth_buf_t g = {0};
        synth_put(&g, f.p, cuts[i]);
        reader_t *r;
        assert_u64_eq(file_open(&g, &r), 0);
        expect_u64_eq(reader_chunk_count(r), 1);
        expect_true(reader_index_status(r) == -PS_E_TRUNCATED);
        expect_true(contains(reader_index_error(r), want));
        expect_true(contains(reader_error(r), want));
        /* The chunk before the cut is whole and decodes. */
        chunk_view_t v;
        record_t rec;
        int n = 0, rc;
        expect_u64_eq(reader_chunk_load(r, 0, &v), 0);
        while ((rc = view_next(r, &v, &rec)) > 0)
            n++;
        expect_u64_eq(rc, 0);
        expect_u64_eq(n, 9);
        reader_close(r);
        synth_buf_free(&g);
    }
    synth_buf_free(&f);
}

/* Rewrites the second chunk's header with fix() and, if reseal, a correct checksum. */
static void check_bad_chunk_header(void (*fix)(ps_chunk_header_t *), bool reseal,
                                   const char *why, int line)
{
    synth_buf_t f = {0};
    size_t off1;
    trace_good(&f, &off1);
    ps_chunk_header_t h;
    memcpy(&h, f.p + off1, sizeof(h));
    fix(&h);
    if (reseal)
        chunk_seal(&h);
    memcpy(f.p + off1, &h, sizeof(h));
    reader_t *r;
    char want[128];
    snprintf(want, sizeof(want), "offset %zu: corrupt chunk header (%s", off1, why);
    if (file_open(&f, &r) != 0 || reader_chunk_count(r) != 1 ||
        reader_index_status(r) != -PS_E_CORRUPT || !contains(reader_index_error(r), want))
        test_fail_(0, "line %d: want 1 chunk and \"%s\", got: %s", line, want,
                   reader_error(r));
    reader_close(r);
    synth_buf_free(&f);
}

static void fix_checksum(ps_chunk_header_t *h) { h->checksum ^= 1; }
static void fix_tid(ps_chunk_header_t *h) { h->tid ^= 0x100; } /* not resealed */
static void fix_magic(ps_chunk_header_t *h) { h->magic = 0x12345678; }
static void fix_hlen(ps_chunk_header_t *h) { h->header_len = 40; }
static void fix_usize(ps_chunk_header_t *h) { h->usize = PERFSHIM_MAX_CHUNK_USIZE + 1; }
static void fix_csize0(ps_chunk_header_t *h) { h->csize = 0; }

TEST(corrupt_chunk_header)
{
    check_bad_chunk_header(fix_checksum, false, "bad checksum", __LINE__);
    check_bad_chunk_header(fix_tid, false, "bad checksum", __LINE__);
    check_bad_chunk_header(fix_magic, true, "bad magic", __LINE__);
    check_bad_chunk_header(fix_hlen, true, "header_len", __LINE__);
    check_bad_chunk_header(fix_usize, true, "usize", __LINE__);
    check_bad_chunk_header(fix_csize0, true, "csize 0", __LINE__);

    /* Trailing garbage after the last chunk is corrupt, not truncated. */
    synth_buf_t f = {0};
    trace_good(&f, NULL);
    size_t end = f.n;
    synth_put(&f, "garbage!", 8);
    reader_t *r;
    assert_u64_eq(file_open(&f, &r), 0);
    expect_u64_eq(reader_chunk_count(r), 2);
    expect_true(reader_index_status(r) == -PS_E_CORRUPT);
    char want[64];
    snprintf(want, sizeof(want), "offset %zu: corrupt chunk header (bad magic)", end);
    expect_true(contains(reader_index_error(r), want));
    reader_close(r);
    synth_buf_free(&f);

    /* Two traces concatenated: the second one's file header is named. */
    synth_buf_t g = {0};
    trace_good(&f, NULL);
    end = f.n;
    synth_put(&g, f.p, f.n);
    synth_put(&g, f.p, f.n);
    assert_u64_eq(file_open(&g, &r), 0);
    expect_u64_eq(reader_chunk_count(r), 2);
    expect_true(reader_index_status(r) == -PS_E_CORRUPT);
    snprintf(want, sizeof(want), "offset %zu: corrupt chunk header (bad magic: a second trace",
             end);
    expect_true(contains(reader_index_error(r), want));
    expect_true(contains(reader_index_error(r), "concatenated traces"));
    reader_close(r);
    synth_buf_free(&f);
    synth_buf_free(&g);
}

/* One chunk holding a good 40-byte alloc and then `bad`; the second view_next must fail
 * with an error naming the record at +40. */
static void check_bad_record(const synth_buf_t *bad, const char *why, int line)
{
    synth_buf_t f = {0}, recs = {0};
    file_begin(&f, PERFSHIM_TRACE_VERSION, "x", "", 0);
    synth_alloc(&recs, PS_FN_MALLOC, 0, 1, 0x10, 1, 0);
    synth_put(&recs, bad->p, bad->n);
    size_t off = file_chunk(&f, &recs, 1, 0, 0);
    reader_t *r;
    chunk_view_t v;
    record_t rec;
    char want[160];
    snprintf(want, sizeof(want), "offset %zu: chunk 0: record at +40: %s", off, why);
    int rc0 = file_open(&f, &r), rc1 = -1, rc2 = -1, rc3 = -1;
    if (rc0 == 0 && (rc1 = reader_chunk_load(r, 0, &v)) == 0) {
        rc2 = view_next(r, &v, &rec);
        rc3 = view_next(r, &v, &rec);
    }
    if (rc0 != 0 || rc1 != 0 || rc2 != 1 || rc3 != -PS_E_CORRUPT ||
        !contains(reader_error(r), want))
        test_fail_(0, "line %d: rc %d/%d/%d/%d, want \"%s\", got: %s", line, rc0, rc1, rc2, rc3,
                   want, reader_error(r));
    reader_close(r);
    synth_buf_free(&f);
    synth_buf_free(&recs);
}

TEST(malformed_records)
{
    synth_buf_t b = {0};
    uint64_t ips[257] = {0};

    synth_raw(&b, PS_REC_ALLOC, 3);
    b.n = 4; /* the header claims 3 bytes */
    check_bad_record(&b, "bad record length 3", __LINE__);
    synth_buf_free(&b);

    synth_raw(&b, 0x99, 0);
    check_bad_record(&b, "bad record length 0", __LINE__);
    synth_buf_free(&b);

    synth_raw(&b, 0x99, 100);
    b.n = 10;
    check_bad_record(&b, "record length 100 runs past the end", __LINE__);
    synth_buf_free(&b);

    synth_put(&b, "\x10\x01", 2);
    check_bad_record(&b, "truncated record header", __LINE__);
    synth_buf_free(&b);

    synth_stack(&b, 1, 0, ips);
    check_bad_record(&b, "stack depth 0", __LINE__);
    synth_buf_free(&b);

    synth_stack(&b, 1, 257, ips);
    check_bad_record(&b, "stack depth 257", __LINE__);
    synth_buf_free(&b);

    synth_stack(&b, 0, 2, ips);
    check_bad_record(&b, "stack id 0", __LINE__);
    synth_buf_free(&b);

    synth_stack(&b, 1, 2, ips);
    synth_put(&b, ips, 8); /* one ip more than depth says */
    b.p[2] += 8;
    check_bad_record(&b, "stack of depth 2 needs len 32", __LINE__);
    synth_buf_free(&b);

    static const ps_segment_t seg = {0, 0x1000, 5, 0};
    synth_module(&b, 0, 0, &seg, 1, NULL, 0, "/lib/x.so");
    b.p[offsetof(ps_rec_module_t, nseg)] = 2; /* says 2 segments, has 1 */
    check_bad_record(&b, "module lengths do not add up", __LINE__);
    synth_buf_free(&b);

    synth_module(&b, 0, 0, &seg, 1, NULL, 0, "/lib/x.so");
    b.p[offsetof(ps_rec_module_t, buildid_len)] = 1;
    check_bad_record(&b, "module lengths do not add up", __LINE__);
    synth_buf_free(&b);

    synth_module(&b, 0, 0, &seg, 1, NULL, 0, "/lib/x.so");
    b.p[offsetof(ps_rec_module_t, path_len)] -= 1; /* a byte left over after the path */
    check_bad_record(&b, "module lengths do not add up", __LINE__);
    synth_buf_free(&b);

    char longpath[4098];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    synth_module(&b, 0, 0, NULL, 0, NULL, 0, longpath);
    check_bad_record(&b, "module path_len 4097", __LINE__);
    synth_buf_free(&b);

    synth_raw(&b, PS_REC_MODULE, 20);
    check_bad_record(&b, "module record too short (len 20 < 24)", __LINE__);
    synth_buf_free(&b);

    synth_thread(&b, PS_REC_THREAD_START, 1, 1, "0123456789abcdef");
    check_bad_record(&b, "thread name of 16 bytes", __LINE__);
    synth_buf_free(&b);

    synth_raw(&b, PS_REC_ALLOC, 39);
    check_bad_record(&b, "alloc record too short (len 39 < 40)", __LINE__);
    synth_buf_free(&b);
    synth_raw(&b, PS_REC_FREE, 23);
    check_bad_record(&b, "free record too short", __LINE__);
    synth_buf_free(&b);
    synth_raw(&b, PS_REC_REALLOC, 47);
    check_bad_record(&b, "realloc record too short", __LINE__);
    synth_buf_free(&b);
    synth_raw(&b, PS_REC_RSS, 31);
    check_bad_record(&b, "rss record too short", __LINE__);
    synth_buf_free(&b);
    synth_raw(&b, PS_REC_END, 63);
    check_bad_record(&b, "end record too short", __LINE__);
    synth_buf_free(&b);
    synth_raw(&b, PS_REC_MODMAP, 23);
    check_bad_record(&b, "modmap record too short", __LINE__);
    synth_buf_free(&b);
    synth_raw(&b, PS_REC_STACK, 15);
    check_bad_record(&b, "stack record too short", __LINE__);
    synth_buf_free(&b);
}

TEST(longer_fixed_records_are_accepted)
{
    /* A later version may grow a fixed-size record: the known prefix is decoded and the
     * rest skipped. */
    synth_buf_t f = {0}, recs = {0};
    file_begin(&f, PERFSHIM_TRACE_VERSION, "x", "", 0);
    synth_alloc(&recs, PS_FN_MALLOC, 7, 1, 0x10, 99, 0);
    recs.p[2] = 48;
    synth_put(&recs, "12345678", 8);
    synth_free(&recs, 2, 0x10);
    file_chunk(&f, &recs, 1, 0, 0);
    reader_t *r;
    chunk_view_t v;
    record_t rec;
    assert_u64_eq(file_open(&f, &r), 0);
    assert_u64_eq(reader_chunk_load(r, 0, &v), 0);
    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.len, 48);
    expect_u64_eq(rec.u.alloc.size, 99);
    expect_u64_eq(rec.u.alloc.stack, 7);
    assert_u64_eq(view_next(r, &v, &rec), 1);
    expect_u64_eq(rec.type, PS_REC_FREE);
    expect_u64_eq(rec.offset_in_chunk, 48);
    reader_close(r);
    synth_buf_free(&f);
    synth_buf_free(&recs);
}

/* Loads chunk 1 of the good trace after patching it; returns the load's result. */
static int load_patched(size_t patch_at_frame, uint8_t xor_byte, int64_t usize_delta)
{
    synth_buf_t f = {0};
    size_t off1;
    trace_good(&f, &off1);
    f.p[off1 + 48 + patch_at_frame] ^= xor_byte;
    if (usize_delta) {
        ps_chunk_header_t h;
        memcpy(&h, f.p + off1, sizeof(h));
        h.usize = (uint32_t)((int64_t)h.usize + usize_delta);
        chunk_seal(&h);
        memcpy(f.p + off1, &h, sizeof(h));
    }
    reader_t *r;
    chunk_view_t v;
    int rc = file_open(&f, &r);
    if (rc == 0 && reader_chunk_count(r) == 2) {
        rc = reader_chunk_load(r, 1, &v);
        char want[64];
        snprintf(want, sizeof(want), "offset %zu: chunk 1: ", off1);
        if (rc < 0 && !contains(reader_error(r), want))
            test_fail_(0, "want \"%s\", got: %s", want, reader_error(r));
    } else {
        test_fail_(0, "open: %s", reader_error(r));
    }
    reader_close(r);
    synth_buf_free(&f);
    return rc;
}

TEST(corrupt_zstd_frame)
{
    expect_u64_eq(load_patched(0, 0, 0), 0);            /* control: unpatched loads */
    expect_true(load_patched(0, 0xff, 0) == -PS_E_CORRUPT); /* frame magic */
    expect_true(load_patched(0, 0, +1) == -PS_E_CORRUPT);  /* usize larger than content */
    expect_true(load_patched(0, 0, -1) == -PS_E_CORRUPT);  /* usize smaller than content */
    expect_true(load_patched(4, 0xc0, 0) < 0);           /* frame header descriptor */
}

/* A trace of n chunks (two threads' chunks mixed, records of varied lengths): the buffered
 * index walk and the read-ahead window (chunk_ra_t) give what a pread a chunk gives, chunks
 * taken in the file's order, backwards and skipping; after the file shrank under the
 * reader, the same chunks load and the same ones fail. */
TEST(read_ahead_same_bytes)
{
    synth_buf_t f = {0};
    file_begin(&f, PERFSHIM_TRACE_VERSION_FULL, "/path/app", "app", 4);
    const size_t n = 400;
    for (size_t c = 0; c < n; c++) {
        synth_buf_t r = {0};
        for (size_t k = 0; k < 1 + (c * 7919) % 300; k++)
            synth_alloc(&r, PS_FN_MALLOC, (uint32_t)(k % 5), 1000 + c * 1000 + k,
                        0x5500000010ull + 16 * (c * 300 + k), 16 + (k * 13) % 4000, 0);
        if (c % 3 == 0)
            synth_raw(&r, 0x99, (uint16_t)(8 + c % 200));
        file_chunk(&f, &r, c % 4 ? 123 : 124, (uint32_t)c, 0);
        synth_buf_free(&r);
    }
    for (int shrink = 0; shrink < 2; shrink++) {
        reader_t *r;
        assert_u64_eq(file_open(&f, &r), 0);
        assert_u64_eq(reader_chunk_count(r), n);
        expect_u64_eq(reader_index_status(r), 0);
        if (shrink) /* the file cut under the open reader, in chunk n / 2's frame */
            assert_u64_eq(truncate(tmp_path, (off_t)(reader_chunk(r, n / 2)->offset + 60)), 0);
        chunk_buf_t plain = {0}, ahead = {0};
        chunk_ra_t ra = {0};
        ahead.ra = &ra;
        char e1[256], e2[256];
        size_t order[3 * 400], m = 0, bad = 0, want_bad = 0;
        for (size_t i = 0; i < n; i++) /* the file's order, */
            order[m++] = i;
        for (size_t i = n; i-- > 0;) /* backwards, */
            order[m++] = i;
        for (size_t i = 0; i < n; i += 1 + i % 7) /* skipping */
            order[m++] = i;
        for (size_t k = 0; k < m; k++) {
            chunk_view_t v1, v2;
            want_bad += shrink && order[k] >= n / 2; /* chunk n / 2 and those after it */
            int rc1 = reader_chunk_decompress(r, order[k], &plain, &v1, e1, sizeof e1);
            int rc2 = reader_chunk_decompress(r, order[k], &ahead, &v2, e2, sizeof e2);
            expect_u64_eq(rc1, rc2);
            if (rc1 == 0 && rc2 == 0) {
                expect_u64_eq(v1.size, v2.size);
                expect_true(v1.size == v2.size && memcmp(v1.data, v2.data, v1.size) == 0);
            } else {
                bad++;
                expect_true(strcmp(e1, e2) == 0);
                expect_true(contains(e2, "truncated chunk (file shrank)"));
            }
        }
        expect_u64_eq(bad, want_bad);
        expect_true(ra.buf != NULL); /* (the window was used) */
        chunk_ra_free(&ra);
        chunk_buf_free(&plain);
        chunk_buf_free(&ahead);
        reader_close(r);
    }
    synth_buf_free(&f);
}

/* xorshift64: a fixed-seed generator so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Opens f and decodes all it can, checking every promise the reader makes about what it
 * returns. Returns true if the whole trace decoded without an error. */
static bool walk_all(const synth_buf_t *f)
{
    reader_t *r;
    int rc = file_open(f, &r);
    bool clean = rc == 0 && reader_index_status(r) == 0;
    if (rc < 0 || reader_index_status(r) < 0)
        expect_true(reader_error(r)[0] != '\0');
    if (rc < 0) {
        reader_close(r);
        return false;
    }
    for (size_t i = 0; i < reader_chunk_count(r); i++) {
        chunk_view_t v;
        record_t rec;
        expect_u64_le(reader_chunk(r, i)->h.usize, PERFSHIM_MAX_CHUNK_USIZE);
        if (reader_chunk_load(r, i, &v) < 0) {
            expect_true(reader_error(r)[0] != '\0');
            clean = false;
            continue;
        }
        while ((rc = view_next(r, &v, &rec)) > 0) {
            expect_u64_ge(rec.len, 4);
            expect_u64_le(rec.offset_in_chunk + rec.len, v.size);
            if (rec.type == PS_REC_STACK) {
                expect_u64_ge(rec.u.stack.depth, 1);
                expect_u64_le(rec.u.stack.depth, PERFSHIM_MAX_DEPTH);
                volatile uint64_t sink = record_ip(&rec, rec.u.stack.depth - 1);
                (void)sink;
            } else if (rec.type == PS_REC_MODULE) {
                expect_u64_le(rec.u.module.path_len, PERFSHIM_MAX_PATH);
                ps_segment_t s;
                for (uint32_t k = 0; k < rec.u.module.nseg; k++)
                    record_segment(&rec, k, &s);
                volatile char sink = rec.u.module.path_len ?
                                         rec.u.module.path[rec.u.module.path_len - 1] : 0;
                (void)sink;
            } else if (rec.type == PS_REC_THREAD_START || rec.type == PS_REC_THREAD_EXIT) {
                expect_u64_le(rec.u.thread.name_len, 15);
            }
        }
        if (rc < 0) {
            expect_true(rc == -PS_E_CORRUPT);
            expect_true(contains(reader_error(r), "record at +"));
            clean = false;
        }
    }
    reader_close(r);
    return clean;
}

TEST(bit_flips_never_crash)
{
    synth_buf_t good = {0};
    trace_good(&good, NULL);
    int clean = 0, broken = 0;
    /* Half the iterations flip bits anywhere in the file (mostly zstd and header damage);
     * the other half flip bits in the records before compression, which reaches the record
     * decoder with well-formed chunks. */
    for (int it = 0; it < 2000; it++) {
        synth_buf_t f = {0};
        if (it % 2 == 0) {
            synth_put(&f, good.p, good.n);
            int nflips = 1 + (int)(rng_next() % 4);
            for (int k = 0; k < nflips; k++) {
                uint64_t bit = rng_next() % (f.n * 8);
                f.p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            }
            if (rng_next() % 8 == 0)
                f.n = rng_next() % (f.n + 1); /* and sometimes a cut */
        } else {
            synth_buf_t recs = {0};
            static const char cmd[] = "app";
            file_begin(&f, PERFSHIM_TRACE_VERSION, "/app", cmd, sizeof(cmd));
            static const ps_segment_t segs[2] = {{0, 0x1000, 5, 0}, {0x1000, 0x2000, 6, 0}};
            static const uint64_t ips[4] = {1, 2, 3, 4};
            synth_thread(&recs, PS_REC_THREAD_START, 1, 1, "main");
            synth_modmap(&recs, 0, 2, 1);
            synth_module(&recs, 0, 0x400000, segs, 2, (const unsigned char *)"\x01\x02", 2, "");
            synth_stack(&recs, 1, 4, ips);
            synth_alloc(&recs, PS_FN_MALLOC, 1, 3, 0x10, 8, 0);
            synth_realloc(&recs, 1, 4, 5, 0x10, 0x20, 16);
            synth_free(&recs, 6, 0x20);
            rec_end(&recs, 7);
            int nflips = 1 + (int)(rng_next() % 3);
            for (int k = 0; k < nflips; k++) {
                uint64_t bit = rng_next() % (recs.n * 8);
                recs.p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            }
            file_chunk(&f, &recs, 1, 0, 0);
            synth_buf_free(&recs);
        }
        if (walk_all(&f))
            clean++;
        else
            broken++;
        synth_buf_free(&f);
    }
    /* Both outcomes must occur, or the fuzzing is not reaching the checks. */
    expect_u64_ge(clean, 50);
    expect_u64_ge(broken, 500);
    synth_buf_free(&good);
}

/* ---- perfshim dump ------------------------------------------------------------------- */

/* Runs dump_main on the file holding f in a child with stdout and stderr captured. Returns
 * the exit code; *out and *err are malloc'd NUL-terminated text. */
static int dump_run(const synth_buf_t *f, char **out, char **err)
{
    const char *path = f ? file_write(f) : "/nonexistent.trace";
    char opath[4300], epath[4300];
    tmp_init();
    snprintf(opath, sizeof(opath), "%s.out", tmp_path);
    snprintf(epath, sizeof(epath), "%s.err", tmp_path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        exit(99);
    if (pid == 0) {
        int o = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(99);
        char *argv[] = {(char *)"dump", (char *)path, NULL};
        int rc = dump_main(2, argv);
        fflush(NULL);
        _exit(rc);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        exit(99);
    const char *paths[2] = {opath, epath};
    char **bufs[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        FILE *fp = fopen(paths[i], "rb");
        if (!fp)
            exit(99);
        *bufs[i] = calloc(1, 1 << 16);
        size_t n = fread(*bufs[i], 1, (1 << 16) - 1, fp);
        (*bufs[i])[n] = '\0';
        fclose(fp);
        unlink(paths[i]);
    }
    return WEXITSTATUS(st);
}

TEST(dump_prints_every_record)
{
    synth_buf_t f = {0};
    size_t off1;
    trace_good(&f, &off1);
    char *out, *err;
    int rc = dump_run(&f, &out, &err);
    expect_u64_eq(rc, 0);
    expect_str_eq(err, "");
    char want[2048];
    ps_chunk_header_t h0, h1;
    memcpy(&h0, f.p + 73, sizeof(h0));
    memcpy(&h1, f.p + off1, sizeof(h1));
    snprintf(
        want, sizeof(want),
        "trace version=%u pid=123 ppid=1 exe=\"/path/app\" cmdline=\"app a b\" "
        "start_mono_ns=5000 start_realtime_ns=1700000000000000000 clock_id=1 page_size=4096\n"
        "chunk index=0 offset=73 tid=123 seq=0 events=3 csize=%u usize=%u t_first=1000 "
        "t_last=2000 flags=0x0\n"
        "thread_start tid=123 ts=1000 name=\"app\"\n"
        "modmap epoch=0 ts=1001 count=1\n"
        "module epoch=0 base=0x7f0000001000 build_id=0123abcd path=\"/lib/libc.so.6\" "
        "segs=0x0+0x28000:r--,0x28000+0x155000:r-x\n"
        "stack id=1 depth=3 ips=0x401136,0x401200,0x7f1234\n"
        "alloc fn=\"malloc\" ts=1100 ptr=0x5500000010 size=32 align=0 stack=1\n"
        "free fn=\"free\" ts=1200 ptr=0x5500000010\n"
        "realloc fn=\"realloc\" ts_before=1300 ts=1301 old=0x0 new=0x5500000020 size=64 stack=2\n"
        "unknown type=0x99 len=12\n"
        "thread_exit tid=124 ts=1400 name=\"worker\"\n"
        "chunk index=1 offset=%zu tid=125 seq=0 events=3 csize=%u usize=%u t_first=1000 "
        "t_last=2000 flags=0x1\n"
        "rss ts=1500 rss=1234567 shim=456\n"
        "end ts=2000 events=5 dropped=1 stacks=2 stacks_dropped=3 chunks=2 threads=1 chunks_inline=0 stacks_shallow=0\n",
        PERFSHIM_TRACE_VERSION_FULL, h0.csize, h0.usize, off1, h1.csize, h1.usize);
    expect_str_eq(out, want);
    free(out);
    free(err);
    synth_buf_free(&f);
}

TEST(dump_escapes_strings)
{
    synth_buf_t f = {0}, r = {0};
    static const char cmd[] = "a\"b\\c\x01\xff";
    file_begin(&f, PERFSHIM_TRACE_VERSION, "/x y", cmd, sizeof(cmd) - 1);
    synth_thread(&r, PS_REC_THREAD_START, 1, 1, "t\n\"");
    rec_end(&r, 2);
    file_chunk(&f, &r, 1, 0, 0);
    char *out, *err;
    expect_u64_eq(dump_run(&f, &out, &err), 0);
    expect_true(contains(out, "exe=\"/x y\" cmdline=\"a\\\"b\\\\c\\x01\\xff\" "));
    expect_true(contains(out, "thread_start tid=1 ts=1 name=\"t\\x0a\\\"\"\n"));
    free(out);
    free(err);
    synth_buf_free(&f);
    synth_buf_free(&r);
}

TEST(dump_exit_codes)
{
    char *out, *err;
    synth_buf_t f = {0};
    size_t off1;
    trace_good(&f, &off1);

    /* No end record: the first chunk only. */
    synth_buf_t g = {0};
    synth_put(&g, f.p, off1);
    expect_u64_eq(dump_run(&g, &out, &err), 1);
    expect_true(contains(out, "thread_exit tid=124"));
    expect_true(contains(err, ": no end record: the process did not finish cleanly (1 chunks "
                              "read)\n"));
    expect_true(!strncmp(err, "perfshim: ", 10));
    free(out);
    free(err);

    /* Cut inside the second chunk: records of the first, then the offset. */
    synth_put(&g, f.p + off1, 60);
    expect_u64_eq(dump_run(&g, &out, &err), 1);
    expect_true(contains(out, "thread_exit tid=124"));
    char want[96];
    snprintf(want, sizeof(want), ": offset %zu: truncated chunk (file is cut short)\n", off1);
    expect_true(contains(err, want));
    expect_true(strchr(err, '\n') == err + strlen(err) - 1); /* one line */
    free(out);
    free(err);
    synth_buf_free(&g);

    /* A bad record in the middle: the records before it are printed. */
    synth_buf_t r = {0};
    file_begin(&g, PERFSHIM_TRACE_VERSION, "x", "", 0);
    synth_alloc(&r, PS_FN_MALLOC, 0, 1, 0x10, 1, 0);
    synth_raw(&r, PS_REC_STACK, 16);
    rec_end(&r, 2);
    file_chunk(&g, &r, 1, 0, 0);
    expect_u64_eq(dump_run(&g, &out, &err), 1);
    expect_true(contains(out, "alloc fn=\"malloc\" ts=1 ptr=0x10 size=1 align=0 stack=0\n"));
    expect_true(!contains(out, "end ts="));
    expect_true(contains(err, ": chunk 0: record at +40: stack"));
    free(out);
    free(err);
    synth_buf_free(&g);
    synth_buf_free(&r);

    /* Not a trace, newer version, missing file: 2. */
    synth_put(&g, "hello world\n", 12);
    expect_u64_eq(dump_run(&g, &out, &err), 2);
    expect_true(contains(err, ": not a perfshim trace\n"));
    free(out);
    free(err);
    synth_buf_free(&g);

    uint32_t v = 9;
    memcpy(f.p + 4, &v, 4);
    expect_u64_eq(dump_run(&f, &out, &err), 2);
    expect_true(contains(err, "version 9 is newer"));
    free(out);
    free(err);

    expect_u64_eq(dump_run(NULL, &out, &err), 2);
    expect_true(contains(err, "perfshim: /nonexistent.trace: "));
    expect_str_eq(out, "");
    free(out);
    free(err);
    synth_buf_free(&f);
}

TEST_MAIN(TEST_ENTRY(good_trace_decodes_exactly), TEST_ENTRY(read_ahead_same_bytes), TEST_ENTRY(names), TEST_ENTRY(header_checksum),
          TEST_ENTRY(unknown_records_are_skipped_by_len),
          TEST_ENTRY(short_lock_record_is_rejected), TEST_ENTRY(packed_records_decode),
          TEST_ENTRY(packed_record_malformed), TEST_ENTRY(not_a_trace),
          TEST_ENTRY(newer_version_is_rejected), TEST_ENTRY(sampled_header), TEST_ENTRY(missing_file),
          TEST_ENTRY(bad_file_header), TEST_ENTRY(cut_inside_second_chunk),
          TEST_ENTRY(corrupt_chunk_header), TEST_ENTRY(malformed_records),
          TEST_ENTRY(longer_fixed_records_are_accepted), TEST_ENTRY(corrupt_zstd_frame),
          TEST_ENTRY(bit_flips_never_crash), TEST_ENTRY(dump_prints_every_record),
          TEST_ENTRY(dump_escapes_strings), TEST_ENTRY(dump_exit_codes))
