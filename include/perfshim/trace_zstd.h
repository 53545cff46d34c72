/*
 * trace_zstd.h -- how a columnar chunk body (trace_cols.h) becomes its zstd frame: the one
 * definition the shim's writer (preload/writer.c) and scripts/trace-bytes.c (which must
 * re-encode a trace to its exact size) both use.
 *
 * Contract: header-only, static inline; calls only libzstd (the caller links it) and memcpy.
 * ps_cols_zstd_params() sets a compression context's parameters as the writer does for a
 * level; ps_cols_compress() compresses one body with a context so set. Neither allocates
 * beyond what zstd does in the context (the writer gives its contexts the shim's own
 * allocator). Async-signal-safe as far as zstd's streaming compression into a given buffer is.
 *
 * Each column but an empty one goes in zstd blocks of its own (a flush ends a block): each
 * gets its own entropy tables, which a column's values share (3% smaller on churn, 8% on
 * kvstore than one block for all; format 2's small columns too: 0.8% smaller on churn than
 * with those of up to 64 bytes merged with the next).
 */
#ifndef PERFSHIM_TRACE_ZSTD_H
#define PERFSHIM_TRACE_ZSTD_H

#include <stdint.h>
#include <string.h>
#ifndef ZSTD_STATIC_LINKING_ONLY
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_stableInBuffer, ZSTD_c_stableOutBuffer */
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

/* One zstd frame of the columnar body src[0, len) into dst (cap bytes). col_bytes, when not
 * NULL, gets added what each column's flush put in the frame ([PS_COL_N]: the frame's end).
 * Returns the frame's size or a zstd error code (ZSTD_isError). */
static inline size_t ps_cols_compress(ZSTD_CCtx *c, unsigned char *dst, size_t cap,
                                      const unsigned char *src, size_t len,
                                      double col_bytes[PS_COL_N + 1])
{
    ps_cols_hdr_t hd;
    memcpy(&hd, src, sizeof hd);
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    ZSTD_CCtx_setPledgedSrcSize(c, len);
    ZSTD_outBuffer ob = {dst, cap, 0};
    ZSTD_inBuffer ib = {src, 0, 0}; /* one for the frame (stable): each column adds to its size */
    size_t end = sizeof hd;
    for (unsigned i = 0; i <= PS_COL_N; i++) {
        if (i < PS_COL_N) {
            end += hd.col_len[i];
            if (hd.col_len[i] == 0 && i + 1 < PS_COL_N)
                continue;
        }
        if (i == PS_COL_N)
            end = len;
        ib.size = end;
        const ZSTD_EndDirective how = i == PS_COL_N ? ZSTD_e_end : ZSTD_e_flush;
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
            col_bytes[i] += (double)(ob.pos - p0);
    }
    return ob.pos;
}

#endif /* PERFSHIM_TRACE_ZSTD_H */
