/*
 * reader.c -- the perfshim trace reader (see reader.h for the contract).
 *
 * The file is read with pread(2), not mmap: a trace may be read while the shim is still
 * appending to it, or be cut short underneath us, and a read past the end of a mapping that
 * shrank is a SIGBUS, while a short pread is an ordinary error we can report.
 *
 * Every field that comes from the file is untrusted: lengths and counts are checked against
 * the bounds in trace_format.h and against the bytes present before they are used, and no
 * allocation is sized by a field that has not been bounded first.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "core/infile.h"
#include "perfshim/compiler.h"
#include "perfshim/errors.h"
#include "perfshim/trace_cols.h"

#define READER_ERR_MAX 1024

/* A chunk's zstd frame can never be larger than this and still decompress to at most
 * PERFSHIM_MAX_CHUNK_USIZE bytes: it bounds the compressed-input buffer. */
#define READER_MAX_CSIZE ((uint64_t)ZSTD_COMPRESSBOUND(PERFSHIM_MAX_CHUNK_USIZE))

struct reader_s {
    char *path;
    int fd;
    uint64_t size; /* file size at open time: later growth is ignored */
    trace_info_t info;

    chunk_info_t *chunks;
    size_t nchunks, chunks_cap;
    int index_status;
    char index_err[READER_ERR_MAX];

    chunk_buf_t cb; /* of reader_chunk_load */

    char err[READER_ERR_MAX];
};

/* ---- errors -------------------------------------------------------------------------- */

/* Formats "PATH: " + the message into r->err and returns err, so error paths read
 * `return reader_fail(r, PS_E_CORRUPT, ...)`. */
static int reader_fail(reader_t *r, int err, const char *fmt, ...) PS_PRINTF(3, 4);
static int reader_fail(reader_t *r, int err, const char *fmt, ...)
{
    int n = snprintf(r->err, sizeof(r->err), "%s: ", r->path);
    if (n < 0 || (size_t)n >= sizeof(r->err))
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

/* ---- file access --------------------------------------------------------------------- */

/* Reads exactly n bytes at off. Returns 0, PS_E_TRUNCATED if the file ends first (it shrank
 * since we measured it), or PS_E_IO with errno kept. */
static int reader_pread(const reader_t *r, void *buf, size_t n, uint64_t off)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = pread(r->fd, p, n, (off_t)off);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -PS_E_IO;
        }
        if (got == 0)
            return -PS_E_TRUNCATED;
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

/* Grows *buf to at least n bytes (never shrinks). n is always bounded by the caller. */
static int reader_reserve(unsigned char **buf, size_t *cap, size_t n)
{
    if (n <= *cap && *buf)
        return 0;
    size_t want = n ? n : 1;
    unsigned char *p = realloc(*buf, want);
    if (!p)
        return -PS_E_NOMEM;
    *buf = p;
    *cap = want;
    return 0;
}

static uint32_t rd_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t rd_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint16_t rd_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* ---- file header --------------------------------------------------------------------- */

/* "a\0b\0c\0" -> "a b c": drop the terminating NULs, then each separator becomes a space. */
static char *reader_join_cmdline(const unsigned char *p, size_t n)
{
    while (n > 0 && p[n - 1] == '\0')
        n--;
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        s[i] = p[i] ? (char)p[i] : ' ';
    s[n] = '\0';
    return s;
}

/* PS_FILE_F_HEADER_SUM: the last 4 of the header_len bytes (<= the file size) are the FNV-1a
 * 32 of those before them. Hashed piecewise: header_len is bounded only by the file size. */
static int reader_check_header_sum(reader_t *r, uint32_t header_len)
{
    unsigned char buf[4096];
    uint32_t h = PS_FNV1A32_INIT, want;
    for (uint32_t off = 0, n; off < header_len - 4; off += n) {
        n = header_len - 4 - off < sizeof(buf) ? header_len - 4 - off : (uint32_t)sizeof(buf);
        int rc = reader_pread(r, buf, n, off);
        if (rc == -PS_E_IO)
            return reader_fail(r, rc, "%s", strerror(errno));
        if (rc < 0)
            return reader_fail(r, rc, "file shrank while being opened");
        h = ps_fnv1a32_more(h, buf, n);
    }
    int rc = reader_pread(r, buf, 4, header_len - 4);
    if (rc < 0)
        return reader_fail(r, rc, "file shrank while being opened");
    want = rd_u32(buf);
    if (h != want)
        return reader_fail(r, -PS_E_CORRUPT,
                           "offset %u: corrupt file header (bad header checksum %08x, computed "
                           "%08x)",
                           header_len - 4, want, h);
    return 0;
}

static int reader_parse_header(reader_t *r)
{
    unsigned char fixed[sizeof(ps_file_header_t)];
    size_t have = r->size < sizeof(fixed) ? (size_t)r->size : sizeof(fixed);
    int rc = reader_pread(r, fixed, have, 0);
    if (rc == -PS_E_IO)
        return reader_fail(r, -PS_E_IO, "%s", strerror(errno));
    if (rc < 0)
        return reader_fail(r, -PS_E_TRUNCATED, "file shrank while being opened");

    if (have < 4 || memcmp(fixed, PERFSHIM_FILE_MAGIC, 4) != 0)
        return reader_fail(r, -PS_E_NOT_TRACE, "not a perfshim trace");
    if (have >= 8) {
        /* The version is checked before anything else so that a newer writer's header,
         * whatever its layout, gets the clear message and not "corrupt". */
        uint32_t version = rd_u32(fixed + offsetof(ps_file_header_t, version));
        if (version > PERFSHIM_TRACE_VERSION)
            return reader_fail(r, -PS_E_VERSION,
                               "offset 4: file header: trace format version %u is newer than "
                               "this perfshim (supports %u)",
                               version, PERFSHIM_TRACE_VERSION);
        if (version == 0)
            return reader_fail(r, -PS_E_CORRUPT,
                               "offset 4: corrupt file header (bad version 0)");
    }
    if (have < sizeof(fixed))
        return reader_fail(r, -PS_E_TRUNCATED,
                           "offset 0: truncated file header (file is cut short)");

    ps_file_header_t h;
    memcpy(&h, fixed, sizeof(h));
    /* Version 1 is the only layout so far; later versions add `if (h.version >= N)`. */
    if (h.header_len < sizeof(h))
        return reader_fail(r, -PS_E_CORRUPT,
                           "offset 8: corrupt file header (header_len %u < %zu)",
                           h.header_len, sizeof(h));
    if (h.header_len > r->size)
        return reader_fail(r, -PS_E_TRUNCATED,
                           "offset 8: truncated file header (header_len %u > file size %" PRIu64
                           ")",
                           h.header_len, r->size);
    if (h.exe_len > PERFSHIM_MAX_PATH)
        return reader_fail(r, -PS_E_CORRUPT, "offset 48: corrupt file header (exe_len %u > %u)",
                           h.exe_len, PERFSHIM_MAX_PATH);
    if (h.cmdline_len > PERFSHIM_MAX_CMDLINE)
        return reader_fail(r, -PS_E_CORRUPT,
                           "offset 52: corrupt file header (cmdline_len %u > %u)", h.cmdline_len,
                           PERFSHIM_MAX_CMDLINE);
    size_t vlen = (size_t)h.exe_len + h.cmdline_len; /* both bounded above: no overflow */
    const size_t sumlen = (h.flags & PS_FILE_F_HEADER_SUM) ? sizeof(uint32_t) : 0;
    if (sizeof(h) + vlen + sumlen > h.header_len)
        return reader_fail(r, -PS_E_CORRUPT,
                           "offset 8: corrupt file header (exe_len %u + cmdline_len %u%s do not "
                           "fit in header_len %u)",
                           h.exe_len, h.cmdline_len, sumlen ? " + checksum" : "", h.header_len);
    if (!sumlen && sizeof(h) + vlen != h.header_len)
        /* every writer before the checksum wrote exactly this: more is a flipped flag or
         * length, which no checksum would catch */
        return reader_fail(r, -PS_E_CORRUPT,
                           "offset 8: corrupt file header (header_len %u != 56 + exe_len %u + "
                           "cmdline_len %u, and no header checksum)",
                           h.header_len, h.exe_len, h.cmdline_len);
    if (sumlen && (rc = reader_check_header_sum(r, h.header_len)) < 0)
        return rc;
    ps_file_sampling_t fs = {0};
    if (h.flags & PS_FILE_F_SAMPLED) { /* version 2: sampled mode's block after the cmdline */
        if (!sumlen || h.version < 2 || sizeof(h) + vlen + sizeof(fs) + sumlen > h.header_len)
            return reader_fail(r, -PS_E_CORRUPT,
                               "offset 12: corrupt file header (the sampled flag needs version "
                               "2, the checksum and 16 bytes for its parameters)");
        if ((rc = reader_pread(r, &fs, sizeof(fs), sizeof(h) + vlen)) < 0)
            return reader_fail(r, rc, "file shrank while being opened");
        if (fs.mean_bytes == 0)
            return reader_fail(r, -PS_E_CORRUPT,
                               "offset %zu: corrupt file header (sampled with a mean of 0 bytes)",
                               sizeof(h) + vlen);
    }

    unsigned char *var = malloc(vlen ? vlen : 1);
    if (!var)
        return reader_fail(r, -PS_E_NOMEM, "%s", ps_strerror(PS_E_NOMEM));
    rc = reader_pread(r, var, vlen, sizeof(h));
    if (rc < 0) {
        free(var);
        if (rc == -PS_E_IO)
            return reader_fail(r, rc, "%s", strerror(errno));
        return reader_fail(r, rc, "file shrank while being opened");
    }
    trace_info_t *ti = &r->info;
    ti->exe = malloc((size_t)h.exe_len + 1);
    ti->cmdline = reader_join_cmdline(var + h.exe_len, h.cmdline_len);
    if (!ti->exe || !ti->cmdline) {
        free(var);
        return reader_fail(r, -PS_E_NOMEM, "%s", ps_strerror(PS_E_NOMEM));
    }
    memcpy(ti->exe, var, h.exe_len);
    ti->exe[h.exe_len] = '\0';
    free(var);

    ti->version = h.version;
    ti->pid = h.pid;
    ti->ppid = h.ppid;
    ti->flags = h.flags;
    ti->clock_id = h.clock_id;
    ti->page_size = h.page_size;
    ti->start_realtime_ns = h.start_realtime_ns;
    ti->start_mono_ns = h.start_mono_ns;
    ti->header_len = h.header_len;
    ti->sample_bytes = fs.mean_bytes;
    ti->sample_seed = fs.seed;
    return 0;
}

/* ---- chunk index --------------------------------------------------------------------- */

/* Records why indexing stopped at off; the message is kept apart from r->err, which later
 * loads overwrite. */
static int reader_index_stop(reader_t *r, int err, uint64_t off, const char *what)
{
    reader_fail(r, err, "offset %" PRIu64 ": %s", off, what);
    memcpy(r->index_err, r->err, sizeof(r->index_err));
    r->index_status = err;
    return err;
}

static int reader_index_add(reader_t *r, uint64_t off, const ps_chunk_header_t *h)
{
    if (r->nchunks == r->chunks_cap) {
        size_t cap = r->chunks_cap ? r->chunks_cap * 2 : 64;
        chunk_info_t *c = realloc(r->chunks, cap * sizeof(*c));
        if (!c)
            return -PS_E_NOMEM;
        r->chunks = c;
        r->chunks_cap = cap;
    }
    r->chunks[r->nchunks].offset = off;
    r->chunks[r->nchunks].h = *h;
    r->nchunks++;
    return 0;
}

/* The index walk reads the file this many bytes at a time (the headers of ~15 churn chunks
 * each: one pread each instead of one a chunk) */
#define READER_INDEX_BLOCK (64u << 10)

/* The header bytes [off, off + have) for the index walk: from blk (the file's bytes
 * [*blk_off, *blk_off + *blk_len)), read again from off when they are not all there; a
 * block that cannot be read whole (the file shrank) leaves the exact read of the header to
 * decide, as without the block. After a chunk of more than a quarter block (span: the
 * chunk before, header and frame) the header alone is read: large chunks are not read
 * through for their headers. */
static int reader_index_read(const reader_t *r, unsigned char *blk, uint64_t *blk_off,
                             size_t *blk_len, unsigned char *raw, size_t have, uint64_t off,
                             uint64_t span)
{
    if (off < *blk_off || off + have > *blk_off + *blk_len) {
        uint64_t left = r->size - off;
        size_t n = left < READER_INDEX_BLOCK ? (size_t)left : READER_INDEX_BLOCK;
        *blk_len = 0;
        if (!blk || span > READER_INDEX_BLOCK / 4 || reader_pread(r, blk, n, off) < 0)
            return reader_pread(r, raw, have, off);
        *blk_off = off;
        *blk_len = n;
    }
    memcpy(raw, blk + (off - *blk_off), have);
    return 0;
}

/* Walks the chunk headers from the end of the file header. Returns 0 when it stopped for a
 * reason recorded in index_status (a cut or corrupt chunk is not fatal to the file), or a
 * negative PS_E_* for a failure of the reader itself (memory, I/O). */
static int reader_build_index(reader_t *r)
{
    uint64_t off = r->info.header_len;
    char why[160];
    unsigned char *blk = malloc(READER_INDEX_BLOCK); /* NULL: a pread a header */
    uint64_t blk_off = 0, span = 0; /* span: the latest chunk's bytes */
    size_t blk_len = 0;
    int ret = 0;

    while (off < r->size) {
        unsigned char raw[sizeof(ps_chunk_header_t)];
        uint64_t left = r->size - off;
        size_t have = left < sizeof(raw) ? (size_t)left : sizeof(raw);
        int rc = reader_index_read(r, blk, &blk_off, &blk_len, raw, have, off, span);
        if (rc == -PS_E_IO) {
            ret = reader_fail(r, rc, "offset %" PRIu64 ": %s", off, strerror(errno));
            break;
        }
        if (rc < 0) { /* the file shrank under us: same as a cut */
            reader_index_stop(r, -PS_E_TRUNCATED, off, "truncated chunk (file is cut short)");
            break;
        }

        /* Garbage after the last chunk is corrupt; a header whose magic is right but which
         * is cut short is the normal tail of a killed process. */
        if (have >= 4 && rd_u32(raw) != PERFSHIM_CHUNK_MAGIC) {
            reader_index_stop(r, -PS_E_CORRUPT, off,
                              memcmp(raw, PERFSHIM_FILE_MAGIC, 4) == 0
                                  ? "corrupt chunk header (bad magic: a second trace's file "
                                    "header starts here: concatenated traces)"
                                  : "corrupt chunk header (bad magic)");
            break;
        }
        if (have < sizeof(raw)) {
            reader_index_stop(r, -PS_E_TRUNCATED, off, "truncated chunk (file is cut short)");
            break;
        }

        ps_chunk_header_t h;
        memcpy(&h, raw, sizeof(h));
        const char *bad = NULL;
        if (h.checksum != ps_fnv1a32(raw, offsetof(ps_chunk_header_t, checksum))) {
            bad = "bad checksum";
        } else if (h.header_len < sizeof(h)) {
            snprintf(why, sizeof(why), "header_len %u < %zu", (unsigned)h.header_len,
                     sizeof(h));
            bad = why;
        } else if (h.usize > PERFSHIM_MAX_CHUNK_USIZE) {
            snprintf(why, sizeof(why), "usize %u > %u", h.usize, PERFSHIM_MAX_CHUNK_USIZE);
            bad = why;
        } else if (h.csize == 0) {
            bad = "csize 0";
        } else if (h.csize > READER_MAX_CSIZE) {
            snprintf(why, sizeof(why), "csize %u > %" PRIu64, h.csize, READER_MAX_CSIZE);
            bad = why;
        }
        if (bad) {
            char msg[200];
            snprintf(msg, sizeof(msg), "corrupt chunk header (%s)", bad);
            reader_index_stop(r, -PS_E_CORRUPT, off, msg);
            break;
        }
        /* 64-bit sums of 16- and 32-bit fields: no overflow. */
        uint64_t end = off + h.header_len + h.csize;
        if (end > r->size) {
            reader_index_stop(r, -PS_E_TRUNCATED, off, "truncated chunk (file is cut short)");
            break;
        }
        rc = reader_index_add(r, off, &h);
        if (rc < 0) {
            ret = reader_fail(r, rc, "%s", ps_strerror(rc));
            break;
        }
        span = end - off;
        off = end;
    }
    free(blk);
    return ret;
}

/* ---- open / close -------------------------------------------------------------------- */

int reader_open(reader_t **out, const char *path)
{
    *out = NULL;
    reader_t *r = calloc(1, sizeof(*r));
    if (!r)
        return -PS_E_NOMEM;
    r->fd = -1;
    r->path = strdup(path);
    if (!r->path) {
        free(r);
        return -PS_E_NOMEM;
    }
    *out = r;

    r->fd = infile_open(path, r->err, sizeof(r->err)); /* a regular file, never blocks */
    if (r->fd < 0)
        return -PS_E_OPEN; /* missing, unreadable, or not a regular file: err says which */
    struct stat st;
    if (fstat(r->fd, &st) != 0)
        return reader_fail(r, -PS_E_OPEN, "%s", strerror(errno));
    r->size = (uint64_t)st.st_size;

    int rc = reader_parse_header(r);
    if (rc < 0)
        return rc;
    rc = reader_build_index(r);
    if (rc < 0)
        return rc;
    if (r->index_status < 0)
        memcpy(r->err, r->index_err, sizeof(r->err));
    return 0;
}

void reader_close(reader_t *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    chunk_buf_free(&r->cb);
    free(r->chunks);
    free(r->info.exe);
    free(r->info.cmdline);
    free(r->path);
    free(r);
}

const char *reader_error(const reader_t *r)
{
    return r ? r->err : ps_strerror(PS_E_NOMEM);
}

const char *reader_index_error(const reader_t *r)
{
    return r->index_err;
}

const trace_info_t *reader_info(const reader_t *r)
{
    return &r->info;
}

const char *reader_path(const reader_t *r)
{
    return r->path;
}

uint64_t reader_file_size(const reader_t *r)
{
    return r->size;
}

size_t reader_chunk_count(const reader_t *r)
{
    return r->nchunks;
}

const chunk_info_t *reader_chunk(const reader_t *r, size_t i)
{
    return i < r->nchunks ? &r->chunks[i] : NULL;
}

int reader_index_status(const reader_t *r)
{
    return r->index_status;
}

/* ---- chunks -------------------------------------------------------------------------- */

/* Formats "PATH: offset O: chunk I: " + the message into err; returns code. */
static int chunk_fail(const reader_t *r, size_t i, char *err, size_t errlen, int code,
                      const char *fmt, ...) PS_PRINTF(6, 7);
static int chunk_fail(const reader_t *r, size_t i, char *err, size_t errlen, int code,
                      const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s: offset %" PRIu64 ": chunk %zu: ", r->path,
                     r->chunks[i].offset, i);
    if (n < 0 || (size_t)n >= errlen)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

/* Chunk frame [foff, foff + csize) (inside the file as indexed): from cb's read-ahead
 * window, else read into frame. Returns the frame's bytes, NULL with *rc set if unreadable. */
static const unsigned char *chunk_frame(const reader_t *r, chunk_buf_t *cb, unsigned char *frame,
                                        size_t csize, uint64_t foff, int *rc)
{
    chunk_ra_t *ra = cb->ra;
    if (ra) {
        if (foff >= ra->off && csize <= ra->len && foff - ra->off <= ra->len - csize) {
            ra->next = foff + csize;
            return ra->buf + (foff - ra->off);
        }
        uint64_t left = r->size > foff ? r->size - foff : 0;
        size_t n = left < READER_READAHEAD ? (size_t)left : READER_READAHEAD;
        /* in the file's order: at most a few headers and chunks (other threads') after the
         * latest chunk read */
        const int seq = foff >= ra->next && foff - ra->next <= READER_READAHEAD / 8;
        ra->next = foff + csize;
        ra->len = 0;
        if (seq && n > csize && (ra->buf || (ra->buf = malloc(READER_READAHEAD)))) {
            if (reader_pread(r, ra->buf, n, foff) == 0) { /* (a file that shrank: alone) */
                ra->off = foff;
                ra->len = n;
                return ra->buf;
            }
        }
    }
    if ((*rc = reader_pread(r, frame, csize, foff)) < 0)
        return NULL;
    return frame;
}

void chunk_ra_free(chunk_ra_t *ra)
{
    free(ra->buf);
    memset(ra, 0, sizeof(*ra));
}

int reader_chunk_decompress(const reader_t *r, size_t i, chunk_buf_t *cb, chunk_view_t *view,
                            char *err, size_t errlen)
{
    return reader_chunk_decompress_cols(r, i, cb, view, err, errlen, NULL, NULL);
}

int reader_chunk_decompress_cols(const reader_t *r, size_t i, chunk_buf_t *cb,
                                 chunk_view_t *view, char *err, size_t errlen,
                                 reader_cols_hook_t hook, void *arg)
{
    memset(view, 0, sizeof(*view));
    if (i >= r->nchunks) {
        snprintf(err, errlen, "%s: chunk %zu: no such chunk (%zu indexed)", r->path, i,
                 r->nchunks);
        return -PS_E_INVAL;
    }
    const chunk_info_t *c = &r->chunks[i];
    /* Both bounded when the index was built (READER_MAX_CSIZE, PERFSHIM_MAX_CHUNK_USIZE). */
    size_t csize = c->h.csize, usize = c->h.usize;
    /* A columnar chunk (PS_CHUNK_F_COLUMNS) decompresses into cbuf after the frame, behind
     * the columns' decoder state (cbuf is the decompressing thread's: prefetch keeps it), and
     * decodes into ubuf. */
    const int cols = (c->h.flags & PS_CHUNK_F_COLUMNS) != 0;
    const size_t dec_off = cols ? sizeof(ps_cols_dec_t) : 0;
    const size_t cneed = dec_off + csize + (cols ? usize : 0);

    if (reader_reserve(&cb->cbuf, &cb->cbuf_cap, cneed) < 0 ||
        (!cols && reader_reserve(&cb->ubuf, &cb->ubuf_cap, usize) < 0))
        return chunk_fail(r, i, err, errlen, -PS_E_NOMEM, "%s", ps_strerror(PS_E_NOMEM));
    unsigned char *frame = cb->cbuf + dec_off;
    int rc = 0;
    const unsigned char *src = chunk_frame(r, cb, frame, csize, c->offset + c->h.header_len, &rc);
    if (rc == -PS_E_IO)
        return chunk_fail(r, i, err, errlen, rc, "%s", strerror(errno));
    if (rc < 0)
        return chunk_fail(r, i, err, errlen, rc, "truncated chunk (file shrank)");
    if (!cb->dctx && !(cb->dctx = ZSTD_createDCtx()))
        return chunk_fail(r, i, err, errlen, -PS_E_NOMEM, "%s", ps_strerror(PS_E_NOMEM));
    /* dstCapacity is exactly usize: a frame that would decompress to more fails inside zstd
     * instead of writing past the buffer, whatever its content-size field claims. */
    unsigned char *udst = cols ? frame + csize : cb->ubuf;
    size_t got = ZSTD_decompressDCtx(cb->dctx, udst, usize, src, csize);
    if (ZSTD_isError(got)) {
        if (ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation)
            return chunk_fail(r, i, err, errlen, -PS_E_NOMEM, "%s", ps_strerror(PS_E_NOMEM));
        return chunk_fail(r, i, err, errlen, -PS_E_CORRUPT, "bad zstd frame (%s)",
                          ZSTD_getErrorName(got));
    }
    if (got != usize)
        return chunk_fail(r, i, err, errlen, -PS_E_CORRUPT,
                          "decompressed to %zu bytes, header says usize %zu", got, usize);
    size_t size = usize;
    if (cols) {
        size = ps_cols_xlen(udst, usize); /* at most PERFSHIM_MAX_CHUNK_USIZE */
        if (!size)
            return chunk_fail(r, i, err, errlen, -PS_E_CORRUPT, "bad columnar chunk header");
        if (hook && hook(arg, c, udst, usize, size, cb->cbuf) == 0) {
            view->data = udst; /* not NULL: a chunk (whose records the hook took) */
            view->index = (uint32_t)i;
            view->tid = c->h.tid;
            return 0;
        }
        if (reader_reserve(&cb->ubuf, &cb->ubuf_cap, size) < 0)
            return chunk_fail(r, i, err, errlen, -PS_E_NOMEM, "%s", ps_strerror(PS_E_NOMEM));
        udst = cb->cbuf + dec_off + csize; /* (cbuf did not move) */
        if (ps_cols_decode((ps_cols_dec_t *)(void *)cb->cbuf, udst, usize, cb->ubuf, size) != 0)
            return chunk_fail(r, i, err, errlen, -PS_E_CORRUPT, "malformed columnar chunk");
    }
    view->data = cb->ubuf;
    view->size = size;
    view->pos = 0;
    view->index = (uint32_t)i;
    view->tid = c->h.tid;
    return 0;
}

void chunk_buf_free(chunk_buf_t *cb)
{
    ZSTD_freeDCtx(cb->dctx);
    free(cb->cbuf);
    free(cb->ubuf);
    memset(cb, 0, sizeof(*cb));
}

int reader_chunk_load(reader_t *r, size_t i, chunk_view_t *view)
{
    return reader_chunk_decompress(r, i, &r->cb, view, r->err, sizeof(r->err));
}


/* ---- records ------------------------------------------------------------------------- */

static int view_fail(reader_t *r, const chunk_view_t *view, const char *fmt, ...) PS_PRINTF(3, 4);
static int view_fail(reader_t *r, const chunk_view_t *view, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    uint64_t off = view->index < r->nchunks ? r->chunks[view->index].offset : 0;
    return reader_fail(r, -PS_E_CORRUPT, "offset %" PRIu64 ": chunk %u: record at +%zu: %s", off,
                       view->index, view->pos, msg);
}

/* Checks the per-type minimum length; the fixed part of a record may grow in a later version,
 * so a longer record is fine and the extra bytes are skipped. */
#define VIEW_NEED(min)                                                                         \
    do {                                                                                       \
        if (len < (min))                                                                       \
            return view_fail(r, view, "%s record too short (len %u < %u)",                     \
                             record_type_name(rec->type), (unsigned)len, (unsigned)(min));     \
    } while (0)

/* ---- decoders of PS_RECORD_TYPES' decoder column ----------------------------------------
 * Each takes the whole record p (len bytes, at least its type's min len), fills rec->u and
 * returns 0, or view_fail()'s code. COPY is the fixed part copied out (trace_pack.h). */

static int dec_thread(reader_t *r, chunk_view_t *view, const unsigned char *p, uint32_t len,
                      record_t *rec)
{
    if (len - sizeof(ps_rec_thread_t) > 15)
        return view_fail(r, view, "thread name of %zu bytes (max 15)",
                         len - sizeof(ps_rec_thread_t));
    rec->u.thread.tid = rd_u32(p + offsetof(ps_rec_thread_t, tid));
    rec->u.thread.ts = rd_u64(p + offsetof(ps_rec_thread_t, ts));
    rec->u.thread.name = (const char *)p + sizeof(ps_rec_thread_t);
    rec->u.thread.name_len = len - (uint32_t)sizeof(ps_rec_thread_t);
    return 0;
}

static int dec_modmap(reader_t *r, chunk_view_t *view, const unsigned char *p, uint32_t len,
                      record_t *rec)
{
    (void)r, (void)view, (void)len;
    rec->u.modmap.epoch = rd_u32(p + offsetof(ps_rec_modmap_t, epoch));
    rec->u.modmap.ts = rd_u64(p + offsetof(ps_rec_modmap_t, ts));
    rec->u.modmap.count = rd_u32(p + offsetof(ps_rec_modmap_t, count));
    return 0;
}

static int dec_module(reader_t *r, chunk_view_t *view, const unsigned char *p, uint32_t len,
                      record_t *rec)
{
    uint32_t nseg = rd_u16(p + offsetof(ps_rec_module_t, nseg));
    uint32_t blen = p[offsetof(ps_rec_module_t, buildid_len)];
    uint32_t plen = rd_u16(p + offsetof(ps_rec_module_t, path_len));
    if (plen > PERFSHIM_MAX_PATH)
        return view_fail(r, view, "module path_len %u > %u", plen, PERFSHIM_MAX_PATH);
    uint64_t want = sizeof(ps_rec_module_t) + (uint64_t)nseg * sizeof(ps_segment_t) + blen + plen;
    if (want != len)
        return view_fail(r, view,
                         "module lengths do not add up (24 + %u segments + %u build-id + "
                         "%u path != len %u)",
                         nseg, blen, plen, (unsigned)len);
    const unsigned char *q = p + sizeof(ps_rec_module_t);
    rec->u.module.epoch = rd_u32(p + offsetof(ps_rec_module_t, epoch));
    rec->u.module.base = rd_u64(p + offsetof(ps_rec_module_t, base));
    rec->u.module.nseg = nseg;
    rec->u.module.buildid_len = blen;
    rec->u.module.path_len = plen;
    rec->u.module.segs = q;
    rec->u.module.buildid = q + (size_t)nseg * sizeof(ps_segment_t);
    rec->u.module.path = (const char *)rec->u.module.buildid + blen;
    return 0;
}

static int dec_stack(reader_t *r, chunk_view_t *view, const unsigned char *p, uint32_t len,
                     record_t *rec)
{
    uint32_t id = rd_u32(p + offsetof(ps_rec_stack_t, id));
    uint32_t depth = rd_u32(p + offsetof(ps_rec_stack_t, depth));
    if (id == 0)
        return view_fail(r, view, "stack id 0");
    if (depth < 1 || depth > PERFSHIM_MAX_DEPTH)
        return view_fail(r, view, "stack depth %u out of range 1..%u", depth, PERFSHIM_MAX_DEPTH);
    if (sizeof(ps_rec_stack_t) + (size_t)depth * 8 != len)
        return view_fail(r, view, "stack of depth %u needs len %zu, not %u", depth,
                         sizeof(ps_rec_stack_t) + (size_t)depth * 8, (unsigned)len);
    rec->u.stack.id = id;
    rec->u.stack.depth = depth;
    rec->u.stack.ips = p + sizeof(ps_rec_stack_t);
    return 0;
}

/* packed heap records come out as the fixed ones they stand for */
#define DEC_PACKED_FN(kind, FIXED)                                                             \
    static int dec_##kind##_p(reader_t *r, chunk_view_t *view, const unsigned char *p,         \
                              uint32_t len, record_t *rec)                                     \
    {                                                                                          \
        if (ps_unpack_##kind##_p(&view->pk, p, len, &rec->u.kind) != 0)                        \
            return view_fail(r, view, "malformed packed " #kind " record");                    \
        rec->type = FIXED;                                                                     \
        return 0;                                                                              \
    }
DEC_PACKED_FN(alloc, PS_REC_ALLOC)
DEC_PACKED_FN(free, PS_REC_FREE)
DEC_PACKED_FN(realloc, PS_REC_REALLOC)
#undef DEC_PACKED_FN

static int dec_leak(reader_t *r, chunk_view_t *view, const unsigned char *p, uint32_t len,
                    record_t *rec)
{
    (void)PS_UNPACK(LEAK, p, len, &rec->u.leak);
    if (rec->aux < PS_LEAK_DEFINITE || rec->aux > PS_LEAK_REACHABLE)
        return view_fail(r, view, "leak record of unknown kind %u", (unsigned)rec->aux);
    return 0;
}

static int dec_leak_supp(reader_t *r, chunk_view_t *view, const unsigned char *p, uint32_t len,
                         record_t *rec)
{
    (void)r, (void)view;
    rec->u.leak_supp.ts = rd_u64(p + offsetof(ps_rec_leak_supp_t, ts));
    rec->u.leak_supp.text = (const char *)p + sizeof(ps_rec_leak_supp_t);
    rec->u.leak_supp.len = len - (uint32_t)sizeof(ps_rec_leak_supp_t);
    return 0;
}

static int dec_leak_blocks(reader_t *r, chunk_view_t *view, const unsigned char *p,
                           uint32_t len, record_t *rec)
{
    const uint32_t n = rd_u32(p + offsetof(ps_rec_leak_blocks_t, n));
    if (n > PS_LEAK_BLOCKS_MAX || len != sizeof(ps_rec_leak_blocks_t) + (uint64_t)n * sizeof(ps_leak_block_t))
        return view_fail(r, view, "leak_blocks record of %u entries in %u bytes", (unsigned)n,
                         (unsigned)len);
    rec->u.leak_blocks.ts = rd_u64(p + offsetof(ps_rec_leak_blocks_t, ts));
    rec->u.leak_blocks.n = n;
    rec->u.leak_blocks.blocks = p + sizeof(ps_rec_leak_blocks_t);
    return 0;
}

/* The decoder column's names, as calls. */
#define DEC_COPY(NAME, member) (PS_UNPACK(NAME, p, len, &rec->u.member), 0)
#define DEC_THREAD(NAME, member) dec_thread(r, view, p, len, rec)
#define DEC_MODMAP(NAME, member) dec_modmap(r, view, p, len, rec)
#define DEC_MODULE(NAME, member) dec_module(r, view, p, len, rec)
#define DEC_STACK(NAME, member) dec_stack(r, view, p, len, rec)
#define DEC_ALLOC_P(NAME, member) dec_alloc_p(r, view, p, len, rec)
#define DEC_FREE_P(NAME, member) dec_free_p(r, view, p, len, rec)
#define DEC_REALLOC_P(NAME, member) dec_realloc_p(r, view, p, len, rec)
#define DEC_LEAK(NAME, member) dec_leak(r, view, p, len, rec)
#define DEC_LEAK_SUPP(NAME, member) dec_leak_supp(r, view, p, len, rec)
#define DEC_LEAK_BLOCKS(NAME, member) dec_leak_blocks(r, view, p, len, rec)

int view_next(reader_t *r, chunk_view_t *view, record_t *rec)
{
    if (view->pos >= view->size)
        return 0;
    size_t left = view->size - view->pos;
    if (left < sizeof(ps_rec_hdr_t))
        return view_fail(r, view, "truncated record header (%zu bytes left)", left);
    const unsigned char *p = view->data + view->pos;
    ps_rec_hdr_t h;
    memcpy(&h, p, sizeof(h));
    const uint32_t len = h.len;
    if (len < sizeof(h))
        return view_fail(r, view, "bad record length %u", (unsigned)len);
    if (len > left)
        return view_fail(r, view, "record length %u runs past the end of the chunk (%zu left)",
                         (unsigned)len, left);

    rec->type = h.type;
    rec->aux = h.aux;
    rec->len = h.len;
    rec->offset_in_chunk = view->pos;

    int rc = 0;
    switch (h.type) {
#define PS_X(NAME, val, str, T, size, min, member, dec, cls)                                   \
    case val:                                                                                  \
        VIEW_NEED(min);                                                                        \
        rc = DEC_##dec(NAME, member);                                                          \
        break;
        PS_RECORD_TYPES(PS_X)
#undef PS_X
    default:
        break; /* unknown or skippable: the caller skips it by its len */
    }
    if (rc < 0)
        return rc;
    view->pos += len;
    return 1;
}

uint64_t record_ip(const record_t *rec, uint32_t i)
{
    if (rec->type != PS_REC_STACK || i >= rec->u.stack.depth)
        return 0;
    return rd_u64(rec->u.stack.ips + (size_t)i * 8);
}

void record_leak_block(const record_t *rec, uint32_t i, ps_leak_block_t *out)
{
    memset(out, 0, sizeof *out);
    if (rec->type != PS_REC_LEAK_BLOCKS || i >= rec->u.leak_blocks.n)
        return;
    memcpy(out, rec->u.leak_blocks.blocks + (size_t)i * sizeof *out, sizeof *out);
}

void record_segment(const record_t *rec, uint32_t i, ps_segment_t *out)
{
    if (rec->type != PS_REC_MODULE || i >= rec->u.module.nseg) {
        memset(out, 0, sizeof(*out));
        return;
    }
    memcpy(out, rec->u.module.segs + (size_t)i * sizeof(ps_segment_t), sizeof(*out));
}

/* The name column of a list: X(NAME, value, "name", ...) -> case value: return "name". The
 * lists are in trace_format.h. */
#define NAME_CASE(NAME, val, str, ...)                                                         \
    case val:                                                                                  \
        return str;

const char *record_type_name(uint8_t type)
{
    switch (type) { PS_RECORD_TYPES(NAME_CASE) }
    return "unknown";
}

const char *alloc_fn_name(uint8_t fn)
{
    switch (fn) { PS_ALLOC_FN_LIST(NAME_CASE) }
    return "?";
}

const char *lock_kind_name(uint8_t kind)
{
    switch (kind) { PS_LOCK_KIND_LIST(NAME_CASE) }
    return "unknown";
}

const char *lock_op_name(uint16_t op)
{
    switch (op) { PS_LOCK_OP_LIST(NAME_CASE) }
    return "?";
}
