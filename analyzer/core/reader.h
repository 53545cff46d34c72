/*
 * reader.h -- reads a perfshim trace: file header, chunk index, decoded records.
 *
 * Contract: the trace is untrusted input. Every length and count is checked against the
 * bounds in trace_format.h and against the bytes actually present; no allocation is sized by
 * an unchecked field. Not thread-safe, except reader_chunk_decompress(), which other threads
 * may call concurrently with the reader's owner (until reader_close). Functions return 0 / 1 as
 * documented, or a negative PS_E_* (errors.h); on error reader_error() holds one line that
 * names the file offset, e.g. "trace.ps: offset 1234: chunk 7: bad checksum".
 *
 * Use:
 *   reader_open(&r, path)            -> validates the file header, builds the chunk index
 *                                        (reads only chunk headers). A file cut inside a chunk
 *                                        or with a corrupt chunk header is indexed up to the
 *                                        last good chunk; reader_index_status() says why it
 *                                        stopped (0 = clean end of file).
 *   reader_chunk_count / reader_chunk  -> the index, in file order.
 *   reader_chunk_load(r, i, &view)   -> decompresses chunk i (frame checksum verified);
 *                                        the view stays valid until the next load on r.
 *   view_next(&view, &rec)           -> 1 and the next decoded record, 0 at the end of the
 *                                        chunk, <0 if a record is malformed.
 */
#ifndef PERFSHIM_READER_H
#define PERFSHIM_READER_H

#include <stddef.h>
#include <stdint.h>

#include "perfshim/trace_format.h"
#include "perfshim/trace_pack.h"

typedef struct reader_s reader_t;

typedef struct trace_info_s {
    uint32_t version, pid, ppid, clock_id, page_size;
    uint32_t flags; /* PS_FILE_F_* */
    uint64_t start_realtime_ns, start_mono_ns;
    char *exe;       /* NUL-terminated copy */
    char *cmdline;   /* args joined by single spaces, NUL-terminated */
    uint64_t header_len;
    /* sampled mode (PS_FILE_F_SAMPLED): the mean bytes between samples and the seed; 0 in a
     * full trace */
    uint64_t sample_bytes, sample_seed;
} trace_info_t;

typedef struct chunk_info_s {
    uint64_t offset; /* of the chunk header in the file */
    ps_chunk_header_t h;
} chunk_info_t;

/* A decoded record. Pointers point into the loaded chunk (valid until the next load). */
typedef struct record_s {
    uint8_t type, aux;
    uint16_t len;
    uint64_t offset_in_chunk;
    union {
        struct { uint32_t tid; uint64_t ts; const char *name; uint32_t name_len; } thread;
        struct { uint32_t epoch, count; uint64_t ts; } modmap;
        struct {
            uint32_t epoch, nseg, buildid_len, path_len;
            uint64_t base;
            const unsigned char *segs; /* nseg x ps_segment_t, unaligned: use record_segment */
            const unsigned char *buildid;
            const char *path;          /* not NUL-terminated: path_len bytes */
        } module;
        struct { uint32_t id, depth; const unsigned char *ips; /* unaligned: record_ip */ } stack;
        ps_rec_alloc_t alloc;     /* copied out: aligned */
        ps_rec_free_t free;
        ps_rec_realloc_t realloc;
        ps_rec_rss_t rss;
        ps_rec_alloc_cost_t alloc_cost;
        ps_rec_end_t end;
        ps_rec_crash_t crash;
        ps_rec_leak_scan_t leak_scan;
        ps_rec_leak_t leak;
        struct { uint64_t ts; const char *text; uint32_t len; } leak_supp; /* not NUL-ended */
        struct {
            uint64_t ts;
            uint32_t n;
            const unsigned char *blocks; /* n x ps_leak_block_t, unaligned: use record_leak_block */
        } leak_blocks;
        ps_rec_snapshot_t snapshot;
        ps_rec_snapshot_site_t snapshot_site;
        ps_rec_lock_wait_t lock_wait;
        ps_rec_lock_site_t lock_site;
        ps_rec_lock_init_t lock_init;
        ps_rec_lock_edge_t lock_edge;
        ps_rec_lock_info_t lock_info;
        ps_rec_lock_thread_t lock_thread;
        ps_rec_lock_alloc_t lock_alloc;
    } u;
} record_t;

typedef struct chunk_view_s {
    const unsigned char *data;
    size_t size, pos;
    uint32_t index;    /* chunk index */
    uint32_t tid;      /* the chunk's thread (its header's) */
    ps_pack_state_t pk; /* packed records' state (trace_pack.h), 0 at the chunk's start */
} chunk_view_t;

int reader_open(reader_t **out, const char *path);
/* On reader_open failure *out is still set (so the message can be read) unless out of memory;
 * call reader_close on it. */
const char *reader_error(const reader_t *r);
void reader_close(reader_t *r);
const trace_info_t *reader_info(const reader_t *r);
const char *reader_path(const reader_t *r);
uint64_t reader_file_size(const reader_t *r);

size_t reader_chunk_count(const reader_t *r);
const chunk_info_t *reader_chunk(const reader_t *r, size_t i);
/* Why indexing stopped: 0 clean end of file, PS_E_TRUNCATED (cut inside a chunk),
 * PS_E_CORRUPT (bad chunk header); reader_error() then says where. */
int reader_index_status(const reader_t *r);
/* The message of a non-zero reader_index_status(), kept apart from reader_error() (which
 * later loads overwrite); "" when the index is clean. */
const char *reader_index_error(const reader_t *r);

int reader_chunk_load(reader_t *r, size_t i, chunk_view_t *view);

/* Buffers and zstd context of one decompressing thread; zero-initialize, free with
 * chunk_buf_free. */
/* A read-ahead window for reader_chunk_decompress(_cols): the file's bytes [off, off + len)
 * in buf, read READER_READAHEAD bytes at a time once chunks come in the file's order (a chunk
 * that starts a little after the one before ended), so that the chunks in a window take one pread
 * together; others are read alone. Zeroed: empty. The caller's (one per thread); released by
 * chunk_ra_free. */
#define READER_READAHEAD (128u << 10)
typedef struct chunk_ra_s {
    unsigned char *buf; /* READER_READAHEAD bytes, or NULL */
    size_t len;
    uint64_t off, next; /* next: where the latest chunk read ended */
} chunk_ra_t;
void chunk_ra_free(chunk_ra_t *ra);

typedef struct chunk_buf_s {
    unsigned char *cbuf, *ubuf; /* compressed frame, records */
    size_t cbuf_cap, ubuf_cap;
    struct ZSTD_DCtx_s *dctx;
    chunk_ra_t *ra; /* NULL: each chunk's frame read alone */
} chunk_buf_t;
/* reader_chunk_load into the caller's buffers; the error line goes to err instead of
 * reader_error(). Thread-safe. */
int reader_chunk_decompress(const reader_t *r, size_t i, chunk_buf_t *cb, chunk_view_t *view,
                            char *err, size_t errlen);
/* reader_chunk_decompress, with a columnar chunk's body (PS_CHUNK_F_COLUMNS, its header
 * checked) offered to hook first: hook(arg, c, body, n, xlen, dec) returns 0 when it took
 * the chunk's records itself (the view is then empty: size 0, data not NULL, ubuf not used),
 * else the body is decoded as ever. dec: the columns' decoder state (ps_cols_dec_t), the
 * hook's to use. hook NULL: reader_chunk_decompress. */
typedef int (*reader_cols_hook_t)(void *arg, const chunk_info_t *c, const unsigned char *body,
                                  size_t n, size_t xlen, void *dec);
int reader_chunk_decompress_cols(const reader_t *r, size_t i, chunk_buf_t *cb,
                                 chunk_view_t *view, char *err, size_t errlen,
                                 reader_cols_hook_t hook, void *arg);
void chunk_buf_free(chunk_buf_t *cb);
int view_next(reader_t *r, chunk_view_t *view, record_t *rec);

uint64_t record_ip(const record_t *rec, uint32_t i);
void record_segment(const record_t *rec, uint32_t i, ps_segment_t *out);
/* Entry i of a LEAK_BLOCKS record (zeros when out of range). */
void record_leak_block(const record_t *rec, uint32_t i, ps_leak_block_t *out);
const char *record_type_name(uint8_t type);
const char *alloc_fn_name(uint8_t fn);
const char *lock_kind_name(uint8_t kind); /* "mutex", ... or "unknown" */
const char *lock_op_name(uint16_t op);

#endif /* PERFSHIM_READER_H */
