/*
 * scripts/trace-bytes.c -- where a trace's bytes go (issue 18), built and run by
 * scripts/trace-bytes. Reads a trace, decodes every columnar chunk (any body format) to its
 * records, encodes them again with this tree's encoder (include/perfshim/trace_cols.h) and
 * compresses them as preload/writer.c does (a zstd block per column, each column's bytes of
 * the frame counted apart), checks the round trip, and prints per column: its bytes before
 * zstd, after, its order-0 entropy in each chunk (what a per-chunk byte-wise entropy coder
 * without zstd's overheads would reach) and under the whole file's histogram (a table fixed
 * in advance, none in the chunks), in bytes per event. Other chunks (the shim's own stream,
 * packed records) are counted as they are.
 *
 * What-ifs, from the environment: Q = the time unit (log2 ns; the writer's is 6), K = merge
 * K consecutive columnar chunks of the file into one (as larger buffers, or state carried
 * from chunk to chunk, would), LEVEL = zstd level (1), MINMATCH = zstd's shortest match (7,
 * the writer's at level 1; 0: zstd's own).
 * Usage: trace-bytes TRACE
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "perfshim/trace_cols.h"
#include "perfshim/trace_format.h"
#include "perfshim/trace_zstd.h"

static const char *const names[PS_COL_N] = {"op",   "ahead", "fhead", "tsx",    "fref",
                                            "aref", "ptr",   "size",  "sizeh",  "stack",
                                            "fstack", "align", "other"};
static double zbytes[PS_COL_N + 1], raw[PS_COL_N], ent[PS_COL_N];
static double akind[4], fkind[16];
static double gcnt[PS_COL_N][256]; /* the whole file's histograms (a static table's cost) */

static long env_int(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? atol(v) : def;
}

/* Counts a body's columns: raw bytes, order-0 entropy, the heads' pointer codes. */
static void count_columns(const unsigned char *body)
{
    ps_cols_hdr_t hd;
    memcpy(&hd, body, sizeof hd);
    const unsigned char *p = body + sizeof hd;
    for (unsigned i = 0; i < PS_COL_N; p += hd.col_len[i], i++) {
        double cnt[256] = {0}, h = 0;
        for (uint32_t j = 0; j < hd.col_len[i]; j++)
            cnt[p[j]]++;
        for (int b = 0; b < 256; b++) {
            if (cnt[b])
                h -= cnt[b] * log2(cnt[b] / hd.col_len[i]);
            gcnt[i][b] += cnt[b];
        }
        raw[i] += hd.col_len[i];
        ent[i] += h / 8;
        for (uint32_t j = 0; j < hd.col_len[i]; j++) {
            if (i == PS_COL_AHEAD)
                akind[(p[j] >> 4) & 3]++;
            else if (i == PS_COL_FHEAD)
                fkind[p[j] >> 4]++;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: trace-bytes TRACE (env Q, K, LEVEL, MINMATCH)\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END))
        return perror(argv[1]), 1;
    const long flen = ftell(f);
    unsigned char *file = malloc((size_t)flen);
    rewind(f);
    if (!file || fread(file, 1, (size_t)flen, f) != (size_t)flen)
        return perror(argv[1]), 1;
    fclose(f);
    ps_file_header_t fh;
    if (flen < (long)sizeof fh || (memcpy(&fh, file, sizeof fh), 0) ||
        memcmp(fh.magic, PERFSHIM_FILE_MAGIC, 4) || fh.header_len > (uint32_t)flen) {
        fprintf(stderr, "trace-bytes: %s: not a perfshim trace (no file header)\n", argv[1]);
        return 1;
    }
    const long q = env_int("Q", -1), k = env_int("K", 1), mm = env_int("MINMATCH", PS_COLS_ZSTD_MIN_MATCH);
    const size_t big = (size_t)(k < 1 ? 1 : k) * PERFSHIM_MAX_CHUNK_USIZE;
    unsigned char *u = malloc(PERFSHIM_MAX_CHUNK_USIZE), *acc = malloc(big), *x = malloc(big);
    unsigned char *e = malloc(ps_cols_bound(big)), *z = malloc(ZSTD_compressBound(ps_cols_bound(big)));
    static ps_cols_enc_t enc;
    static ps_cols_dec_t dec;
    static ps_cols_zstate_t zs; /* (one context's choice of literals-only columns, as a writer's) */
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ps_cols_zstd_params(cc, (int)env_int("LEVEL", 1), (int)mm);
    double events = 0, other = 0, colfile = 0, written = 0;
    size_t accn = 0, pos = fh.header_len;
    long nacc = 0, nin = 0, nout = 0;
    unsigned qq = 6;
    while (pos + sizeof(ps_chunk_header_t) <= (size_t)flen) {
        ps_chunk_header_t ch;
        memcpy(&ch, file + pos, sizeof ch);
        if (ch.magic != PERFSHIM_CHUNK_MAGIC || pos + ch.header_len + ch.csize > (size_t)flen)
            break;
        const size_t next = pos + ch.header_len + ch.csize;
        events += ch.nevents;
        if (!(ch.flags & PS_CHUNK_F_COLUMNS)) {
            other += (double)(next - pos);
        } else {
            colfile += (double)(next - pos);
            nin++;
            size_t un = ZSTD_decompressDCtx(dc, u, PERFSHIM_MAX_CHUNK_USIZE,
                                            file + pos + ch.header_len, ch.csize);
            uint32_t xl = ZSTD_isError(un) ? 0 : ps_cols_xlen(u, un);
            if (!xl || ps_cols_decode(&dec, u, un, acc + accn, xl)) {
                fprintf(stderr, "trace-bytes: chunk at %zu does not decode\n", pos);
                return 1;
            }
            qq = q >= 0 ? (unsigned)q : u[1];
            accn += xl;
            nacc++;
        }
        pos = next;
        ps_chunk_header_t nx = {0};
        if (pos + sizeof nx <= (size_t)flen)
            memcpy(&nx, file + pos, sizeof nx);
        const int more = nx.magic == PERFSHIM_CHUNK_MAGIC && (nx.flags & PS_CHUNK_F_COLUMNS);
        if (!accn || (nacc < k && more))
            continue;
        ps_cols_info_t info;
        size_t el = ps_cols_encode(&enc, acc, accn, e, ps_cols_bound(accn), qq, &info);
        if (!el || ps_cols_decode(&dec, e, el, x, accn)) {
            fprintf(stderr, "trace-bytes: no round trip (chunk before %zu)\n", pos);
            return 1;
        }
        if (q < 0 && memcmp(x, acc, accn)) { /* (a coarser Q rounds the times) */
            fprintf(stderr, "trace-bytes: round trip differs (chunk before %zu)\n", pos);
            return 1;
        }
        count_columns(e);
        const size_t zl = ps_cols_compress(cc, &zs, z, ZSTD_compressBound(el), e, el, zbytes);
        if (ZSTD_isError(zl)) {
            fprintf(stderr, "trace-bytes: zstd: %s\n", ZSTD_getErrorName(zl));
            return 1;
        }
        written += (double)(sizeof(ps_chunk_header_t) + zl);
        nout++;
        accn = 0, nacc = 0;
    }
    if (pos != (size_t)flen)
        fprintf(stderr, "trace-bytes: %s: the chunks end at byte %zu of %ld (the rest is not counted)\n",
                argv[1], pos, flen);
    if (events < 1)
        events = 1;
    const double total = fh.header_len + other + written;
    char qs[24] = "as recorded";
    if (q >= 0)
        snprintf(qs, sizeof qs, "%ld", q);
    printf("%s: %ld bytes, %.0f events, %.4f bytes per event; file header %u, other chunks "
           "%.0f, columnar chunks %.0f (%ld)\n",
           argv[1], flen, events, flen / events, fh.header_len, other, colfile, nin);
    printf("this tree's encoder (Q %s, K %ld, zstd level %ld, min match %ld): %.0f bytes, "
           "%.4f bytes per event, %ld columnar chunks\n",
           qs, k, env_int("LEVEL", 1), mm,
           total, total / events, nout);
    printf("  %-9s %12s %12s %9s %9s %9s\n", "column", "before zstd", "after", "B/event",
           "order-0", "static");
    double s0 = 0, s1 = 0, s2 = 0;
    for (unsigned i = 0; i < PS_COL_N; i++) {
        double g = 0; /* order 0 under the whole file's histogram: no table in the chunks */
        for (int b = 0; b < 256; b++)
            if (gcnt[i][b])
                g -= gcnt[i][b] * log2(gcnt[i][b] / raw[i]) / 8;
        printf("  %-9s %12.0f %12.0f %9.4f %9.4f %9.4f\n", names[i], raw[i], zbytes[i],
               zbytes[i] / events, ent[i] / events, g / events);
        s0 += zbytes[i], s1 += ent[i], s2 += g;
    }
    const double hdrs = zbytes[PS_COL_N] + (double)nout * sizeof(ps_chunk_header_t);
    printf("  %-9s %12s %12.0f %9.4f\n", "headers", "", hdrs, hdrs / events);
    printf("  %-9s %12s %12.0f %9.4f %9.4f %9.4f\n", "columns", "", s0, s0 / events,
           s1 / events, s2 / events);
    printf("ALLOC pointers: explicit %.0f, size class' latest %.0f, aref %.0f, next %.0f\n",
           akind[0], akind[1], akind[2], akind[3]);
    printf("FREE pointers: explicit %.0f, rank 0..13 %.0f, rank >= 14 %.0f\n", fkind[0],
           raw[PS_COL_FHEAD] - fkind[0] - fkind[15], fkind[15]);
    return 0;
}
