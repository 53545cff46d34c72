/*
 * trace_zstd.h -- how a columnar chunk body (trace_cols.h) becomes its zstd frame: the one
 * definition the shim's writer (preload/writer.c) and scripts/trace-bytes.c (which must
 * re-encode a trace to its exact size) both use.
 *
 * Contract: header-only, static inline; calls only libzstd (the caller links it) and memcpy.
 * ps_cols_zstd_params() sets a compression context's parameters as the writer does for a
 * level; ps_cols_compress() compresses one body with a context so set (and its zstate).
 * Neither allocates beyond what zstd does in the context (the writer gives its contexts the
 * shim's own allocator). Async-signal-safe as far as zstd's streaming compression into a given buffer is.
 *
 * Each column but an empty one goes in zstd blocks of its own (a flush ends a block): each
 * gets its own entropy tables, which a column's values share (3% smaller on churn, 8% on
 * kvstore than one block for all; format 2's small columns too: 0.8% smaller on churn than
 * with those of up to 64 bytes merged with the next).
 *
 * A body of PS_COLS_SPLIT_MIN bytes or more is several frames, concatenated (one
 * ZSTD_decompressDCtx call decodes them all): each run of columns of one kind, searched (the
 * streaming API, as one frame was) or literals only (ZSTD_compressSequences with a block
 * delimiter per column and no sequence: zstd's Huffman literals, no match search). Matches
 * cost ~40 instructions a byte in churn's head columns (short LZ sequences in a small
 * alphabet, each to be found and coded) and save nothing there, while in cxx_service's size,
 * stack and FREE heads they halve the bytes: which columns go without them is learnt per
 * context (ps_cols_zstate_t) on every PS_COLS_PROBE_EVERY-th body (and again when a column left
 * without them grows 1/8 past what it took searched). Issue 18, churn_bench 2
 * 200000 12: the writer's zstd 68.7 -> 50.4 instructions an event, the trace 2.2% smaller.
 */
#ifndef PERFSHIM_TRACE_ZSTD_H
#define PERFSHIM_TRACE_ZSTD_H

#include <stdint.h>
#include <string.h>
#ifndef ZSTD_STATIC_LINKING_ONLY
#define ZSTD_STATIC_LINKING_ONLY /* the stable buffers, ZSTD_compressSequences, ZSTD_frameHeaderSize */
#endif
#include <zstd.h>
#include <zstd_errors.h>

#include "perfshim/trace_cols.h"

/* zstd's shortest match at level 1 (its default there: 5 for small inputs). A chunk is <= 1 MiB.
 * In the columns (heads, sizes, ranks: short random strings over small alphabets) most 5- and
 * 6-byte matches cost more as sequences than their bytes do as literals, and looking for them
 * costs time: churn 0.7% and cxx_service 0.6% fewer bytes, 3% and 6% fewer instructions in
 * zstd (issue 18, scripts/trace-bytes). Other levels keep their own (level 2 with it:
 * cxx_service 1% larger). */
#define PS_COLS_ZSTD_MIN_MATCH 7

/* The writer's parameters: level `level`, a checksum in every frame, and the shortest match
 * min_match (0: the level's own; the writer gives PS_COLS_ZSTD_MIN_MATCH at level 1 only). */
static inline void ps_cols_zstd_params(ZSTD_CCtx *c, int level, int min_match)
{
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_stableInBuffer, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_stableOutBuffer, 1);
    if (min_match)
        ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, min_match);
}

/* The columns [i0, i1) of the body src[0, len) (hd its header, i0 == 0: the header too) as
 * one zstd frame into dst (cap bytes), each non-empty column in blocks of its own (a flush
 * ends a block). col_bytes as ps_cols_compress's. Returns the frame's size or a zstd error. */
static inline size_t ps_cols_frame_lz(ZSTD_CCtx *c, unsigned char *dst, size_t cap,
                                      const unsigned char *src, size_t len,
                                      const ps_cols_hdr_t *hd, unsigned i0, unsigned i1,
                                      double col_bytes[PS_COL_N + 1])
{
    /* the frame's bytes: src[start, fend) (the header with column 0, the tail with the last) */
    size_t start = sizeof *hd;
    for (unsigned i = 0; i < i0; i++)
        start += hd->col_len[i];
    size_t fend = start;
    for (unsigned i = i0; i < i1; i++)
        fend += hd->col_len[i];
    if (i0 == 0)
        start = 0;
    if (i1 == PS_COL_N)
        fend = len;
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    ZSTD_CCtx_setPledgedSrcSize(c, fend - start);
    ZSTD_outBuffer ob = {dst, cap, 0};
    /* one input for the frame (stable): each column adds to its size */
    ZSTD_inBuffer ib = {src + start, 0, 0};
    size_t end = i0 == 0 ? sizeof *hd : 0;
    for (unsigned i = i0; i <= i1; i++) {
        if (i < i1) {
            end += hd->col_len[i];
            if (hd->col_len[i] == 0 && i + 1 < i1)
                continue;
        }
        if (i == i1)
            end = fend - start;
        ib.size = end;
        const ZSTD_EndDirective how = i == i1 ? ZSTD_e_end : ZSTD_e_flush;
        const size_t p0 = ob.pos;
        size_t left;
        do {
            const size_t before = ob.pos;
            left = ZSTD_compressStream2(c, &ob, &ib, how);
            if (ZSTD_isError(left))
                return left;
            if (left && ob.pos == before && ob.pos == ob.size)
                return (size_t)-ZSTD_error_dstSize_tooSmall;
        } while (left);
        if (col_bytes)
            col_bytes[i == i1 ? PS_COL_N : i] += (double)(ob.pos - p0);
    }
    return ob.pos;
}

/* The literals-only frame: src[0, n), whose blocks end at the ends[0..nends) (increasing, the
 * last n; none more than ZSTD_BLOCKSIZE_MAX after the one before), as one zstd frame of
 * blocks without sequences (zstd's Huffman literals, or raw, or RLE): no match search. seq:
 * room for nends (not on the stack: app threads with 16 KiB stacks compress too). */
#define PS_COLS_LIT_BLOCKS 48u
static inline size_t ps_cols_frame_lit(ZSTD_CCtx *c, unsigned char *dst, size_t cap,
                                       const unsigned char *src, size_t n, const size_t *ends,
                                       unsigned nends, ZSTD_Sequence *seq)
{
    size_t at = 0;
    for (unsigned k = 0; k < nends; k++) {
        seq[k] = (ZSTD_Sequence){0, (unsigned)(ends[k] - at), 0, 0};
        at = ends[k];
    }
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    ZSTD_CCtx_setParameter(c, ZSTD_c_blockDelimiters, ZSTD_sf_explicitBlockDelimiters);
    ZSTD_CCtx_setParameter(c, ZSTD_c_literalCompressionMode, ZSTD_ps_enable);
    const size_t r = ZSTD_compressSequences(c, dst, cap, seq, nends, src, n);
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    ZSTD_CCtx_setParameter(c, ZSTD_c_blockDelimiters, ZSTD_sf_noBlockDelimiters);
    ZSTD_CCtx_setParameter(c, ZSTD_c_literalCompressionMode, ZSTD_ps_auto);
    return r;
}

/* Adds to ends[] the block ends of one more span [at, to) (blocks of at most
 * ZSTD_BLOCKSIZE_MAX); returns the new count, or PS_COLS_LIT_BLOCKS + 1 when they do not fit. */
static inline unsigned ps_cols_lit_ends(size_t *ends, unsigned nends, size_t at, size_t to)
{
    while (at < to) {
        if (nends >= PS_COLS_LIT_BLOCKS)
            return PS_COLS_LIT_BLOCKS + 1;
        at = to - at > ZSTD_BLOCKSIZE_MAX ? at + ZSTD_BLOCKSIZE_MAX : to;
        ends[nends++] = at;
    }
    return nends;
}

/* col_bytes of a literals-only frame f[0, n) (ps_cols_frame_lit): each block's bytes to its
 * column (bcol, ne blocks), the frame's header and checksum to [PS_COL_N]. */
static inline void ps_cols_lit_account(const unsigned char *f, size_t n, const unsigned char *bcol,
                                       unsigned ne, double col_bytes[PS_COL_N + 1])
{
    size_t at = ZSTD_frameHeaderSize(f, n);
    if (ZSTD_isError(at))
        at = n; /* (not a frame ps_cols_frame_lit made: all of it to the rest) */
    col_bytes[PS_COL_N] += (double)at;
    for (unsigned k = 0; k < ne && at + 3 <= n; k++) {
        const uint32_t bh = f[at] | (uint32_t)f[at + 1] << 8 | (uint32_t)f[at + 2] << 16;
        const size_t b = 3 + (((bh >> 1) & 3) == 1 ? 1 : bh >> 3);
        col_bytes[bcol[k]] += (double)b;
        at += b;
    }
    col_bytes[PS_COL_N] += (double)(n - at); /* the checksum */
}

/* Which columns a writer's context stores as literals only (ps_cols_compress): learnt from
 * its bodies every PS_COLS_PROBE_EVERY-th one. Zero it once. The fields before `ends` are the
 * choice (the writer shares them between its contexts), the rest ps_cols_compress's room. */
typedef struct ps_cols_zstate_s {
    uint32_t bodies; /* large bodies compressed (0 again: the next one probes) */
    uint32_t lit;    /* bit i: column i without match search */
    uint32_t ratio[PS_COL_N]; /* bytes a raw byte of column i took searched at the probe, x 2^16 */
    /* ps_cols_compress's room (off the stack) */
    size_t ends[PS_COLS_LIT_BLOCKS];
    ZSTD_Sequence seq[PS_COLS_LIT_BLOCKS];
    unsigned char bcol[PS_COLS_LIT_BLOCKS]; /* each block's column */
    double cb[PS_COL_N + 1], m[PS_COL_N + 1];
} ps_cols_zstate_t;

#define PS_COLS_SPLIT_MIN (32u << 10) /* shorter bodies: one frame, every column searched */
#define PS_COLS_PROBE_EVERY 32u
#define PS_COLS_LIT_MIN 1024u /* a column probed for literals only: at least this long */

/* The probe: what each column of hd would take as literals only, against what it took in
 * the frame just made (m[i]); sets zs->lit. scratch (cap bytes) for the trials. */
static inline void ps_cols_probe(ZSTD_CCtx *c, ps_cols_zstate_t *zs, unsigned char *scratch,
                                 size_t cap, const unsigned char *src, const ps_cols_hdr_t *hd,
                                 const double m[PS_COL_N + 1])
{
    uint32_t lit = 0;
    size_t at = sizeof *hd;
    for (unsigned i = 0; i < PS_COL_N; at += hd->col_len[i], i++) {
        const size_t cl = hd->col_len[i];
        size_t *const ends = zs->ends;
        const unsigned ne = ps_cols_lit_ends(ends, 0, 0, cl);
        /* (a short column stays searched: what it takes tells little of the next bodies',
         * and its search costs little) */
        if (cl < PS_COLS_LIT_MIN || ne > PS_COLS_LIT_BLOCKS || ZSTD_compressBound(cl) > cap)
            continue;
        const size_t n = ps_cols_frame_lit(c, scratch, cap, src + at, cl, ends, ne, zs->seq);
        if (ZSTD_isError(n))
            continue;
        /* its blocks (not the frame's header and checksum: a literals-only column shares its
         * frame with its neighbours of the kind) against its blocks searched; a tie goes to
         * literals (no search) */
        double *const b = zs->cb;
        memset(b, 0, sizeof zs->cb);
        memset(zs->bcol, (int)i, ne);
        ps_cols_lit_account(scratch, n, zs->bcol, ne, b);
        if (b[i] <= m[i])
            lit |= 1u << i;
        zs->ratio[i] = (uint32_t)(m[i] * 65536 / (double)cl);
    }
    zs->lit = lit;
}

/* The columnar body src[0, len) as zstd frames into dst (cap bytes), concatenated (a reader
 * decompresses them as one: ZSTD_decompressDCtx). With zs NULL, or a body shorter than
 * PS_COLS_SPLIT_MIN: one frame, each non-empty column in blocks of its own. Else each run of
 * columns of one kind (zs->lit) is a frame: literals-only blocks (no match search: the
 * columns where zstd's matches do not pay, e.g. heads, ranks and sizes of a heap of mixed
 * sizes: churn's) or searched ones; every PS_COLS_PROBE_EVERY-th body is one searched frame
 * and learns zs->lit again. col_bytes, when not NULL, gets added what each column's blocks
 * took ([PS_COL_N]: the rest, frame headers and checksums; a literals-only run counts as its
 * first column's). Returns the frames' size or a zstd error code (ZSTD_isError). */
static inline size_t ps_cols_compress(ZSTD_CCtx *c, ps_cols_zstate_t *zs, unsigned char *dst,
                                      size_t cap, const unsigned char *src, size_t len,
                                      double col_bytes[PS_COL_N + 1])
{
    ps_cols_hdr_t hd;
    memcpy(&hd, src, sizeof hd);
    if (!zs || len < PS_COLS_SPLIT_MIN)
        return ps_cols_frame_lz(c, dst, cap, src, len, &hd, 0, PS_COL_N, col_bytes);
    if (zs->bodies++ % PS_COLS_PROBE_EVERY == 0) {
        double *const m = zs->m;
        memset(m, 0, sizeof zs->m);
        const size_t n = ps_cols_frame_lz(c, dst, cap, src, len, &hd, 0, PS_COL_N, m);
        if (ZSTD_isError(n))
            return n;
        ps_cols_probe(c, zs, dst + n, cap - n, src, &hd, m);
        if (col_bytes)
            for (unsigned i = 0; i <= PS_COL_N; i++)
                col_bytes[i] += m[i];
        return n;
    }
    double *const cb = zs->cb; /* each column's bytes (col_bytes) */
    memset(cb, 0, sizeof zs->cb);
    size_t out = 0, at = 0; /* at: where column i starts (the header goes with column 0) */
    for (unsigned i = 0; i < PS_COL_N;) {
        /* a run: the columns of the kind of its first non-empty one (empty ones join any) */
        int l = -1;
        unsigned j = i;
        size_t to = at, *const ends = zs->ends;
        unsigned char *const bcol = zs->bcol;
        unsigned ne = 0;
        for (; j < PS_COL_N; j++) {
            const size_t e = to + (j == 0 ? sizeof hd : 0) + hd.col_len[j];
            if (e != to) {
                const int lj = (int)((zs->lit >> j) & 1);
                if (l >= 0 && lj != l)
                    break;
                l = lj;
            }
            if (l == 1) {
                const unsigned ne0 = ne;
                ne = ps_cols_lit_ends(ends, ne, to, e);
                for (unsigned k = ne0; k < ne && k < PS_COLS_LIT_BLOCKS; k++)
                    bcol[k] = (unsigned char)j;
            }
            to = e;
        }
        if (j == PS_COL_N)
            to = len;
        size_t n = 0;
        if (to == at) {
            /* nothing in the run */
        } else if (l != 1 || ne > PS_COLS_LIT_BLOCKS) {
            n = ps_cols_frame_lz(c, dst + out, cap - out, src, len, &hd, i, j, cb);
        } else {
            if (ends[ne - 1] < to) /* (the body's tail past its columns: none) */
                ends[ne - 1] = to;
            for (unsigned k = 0; k < ne; k++)
                ends[k] -= at;
            n = ps_cols_frame_lit(c, dst + out, cap - out, src + at, to - at, ends, ne, zs->seq);
            if (!ZSTD_isError(n))
                ps_cols_lit_account(dst + out, n, bcol, ne, cb);
        }
        if (ZSTD_isError(n)) /* (frames' headers past the room of one): one frame, as before */
            return ps_cols_frame_lz(c, dst, cap, src, len, &hd, 0, PS_COL_N, col_bytes);
        out += n;
        at = to;
        i = j;
    }
    /* a literals-only column that now takes 1/8 more than it did searched at the probe (the
     * program's allocations changed their pattern): this body probes, made again */
    for (unsigned i = 0; i < PS_COL_N; i++) {
        if ((zs->lit >> i & 1) && cb[i] > 64 + 1.125 / 65536 * zs->ratio[i] * hd.col_len[i]) {
            zs->bodies = 0;
            return ps_cols_compress(c, zs, dst, cap, src, len, col_bytes);
        }
    }
    if (col_bytes)
        for (unsigned i = 0; i <= PS_COL_N; i++)
            col_bytes[i] += cb[i];
    return out;
}

#endif /* PERFSHIM_TRACE_ZSTD_H */
