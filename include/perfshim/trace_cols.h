/*
 * trace_cols.h -- columnar chunk bodies (PS_CHUNK_F_COLUMNS, trace format version 3).
 *
 * Contract: header-only, static inline, no calls but memcpy/memmove/memset (depends on
 * trace_format.h); used by the shim's writer (preload/writer.c: ps_cols_encode on every full
 * buffer) and the analyzer's reader (analyzer/core/reader.c: ps_cols_decode when a chunk has
 * the flag), round-trip tested by tests/unit/trace_cols.c. Async-signal-safe (pure
 * computation on caller-owned state): the crash flush encodes through here too. The decoder
 * takes untrusted bytes: it never reads outside its input nor writes outside its output, and
 * returns -1 for anything malformed.
 *
 * A columnar body holds the records of one chunk, in their order, as columns (docs/trace-
 * format.md "Columnar chunks"): one byte per record (op: which kind, the function), then the
 * heap records' timestamps, pointers, sizes, stacks and alignments each in its own column of
 * LEB128 varints, and every other record as it is, in an "other" column. zstd then sees
 * regular data: a column of sizes, a column of small time deltas. Pointers are coded against
 * what the chunk has seen: a FREE names the allocation of the chunk it releases by its age
 * (allocations ago), an ALLOC that got back a block the chunk freed (the allocator's per-size
 * free list: glibc's tcache) names it by its place in a per-size-class list of freed blocks.
 * The rest are deltas. Timestamps of heap records are kept in units of 2^q ns (q in the body
 * header); every other record keeps its exact bytes. Each chunk decodes on its own.
 *
 *   ps_cols_encode(enc, src, len, out, cap, q, &info) -> body length, 0: keep src as it is
 *   ps_cols_xlen(in, n)                               -> the records' length, 0: malformed
 *   ps_cols_decode(dec, in, n, out, xlen)             -> 0 (out holds the fixed records), -1
 */
#ifndef PERFSHIM_TRACE_COLS_H
#define PERFSHIM_TRACE_COLS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "perfshim/trace_format.h"

#define PS_COLS_FORMAT 1u
#define PS_COLS_WINDOW 4096u /* allocations a FREE can name by age (a power of two) */
#define PS_COLS_HASH 4096u   /* the encoder's table of recent allocations (a power of two) */
#define PS_COLS_DEPTH 8u     /* freed blocks remembered per size class (glibc's tcache: 7) */
#define PS_COLS_NCLASS 320u
#define PS_COLS_FWINDOW 1024u /* frees an ALLOC can name by age (a power of two) */
#define PS_COLS_Q_MAX 20u    /* coarsest time unit: 2^20 ns */

/* op byte: bits 5-6 the kind, bits 0-4 the function (aux), bit 7: ALLOC: an align follows in
 * the align column; FREE: PS_FREE_F_CROSS_THREAD. 0: the next record of the other column. */
enum { PS_COLS_OTHER = 0, PS_COLS_ALLOC = 1, PS_COLS_FREE = 2, PS_COLS_REALLOC = 3 };
#define PS_COLS_OP(kind, fn, bit7) ((unsigned char)((kind) << 5 | (fn) | ((bit7) ? 0x80 : 0)))

enum { PS_COL_OP, PS_COL_TS, PS_COL_PTR, PS_COL_SIZE, PS_COL_STACK, PS_COL_ALIGN, PS_COL_OTHER,
       PS_COL_N };

/* Body header: format, q, 2 reserved bytes (0), xlen (bytes of the records it decodes to),
 * then each column's length; the columns follow in that order. */
typedef struct ps_cols_hdr_s {
    uint8_t format; /* PS_COLS_FORMAT */
    uint8_t q;      /* heap records' timestamps in units of 2^q ns */
    uint16_t reserved;
    uint32_t xlen;
    uint32_t col_len[PS_COL_N];
} ps_cols_hdr_t; /* 36 bytes */

/* glibc's chunk sizes up to 4 KiB (16-byte steps, 32 the smallest), then powers of two. */
static inline unsigned ps_cols_class(uint64_t size)
{
    if (size <= 4072) {
        unsigned c = (unsigned)((size + 23) >> 4);
        return c < 2 ? 2 : c;
    }
    return 256u + (unsigned)(63 - __builtin_clzll(size));
}

/* Freed blocks of one size class, the latest last; valid in the chunk numbered gen. */
typedef struct ps_cols_lifo_s {
    uint32_t gen, n;
    uint64_t ptr[PS_COLS_DEPTH];
} ps_cols_lifo_t;

/* Finds ptr in l (from the latest), takes it out and returns 1 + its place, or 0. */
static inline unsigned ps_cols_lifo_take(ps_cols_lifo_t *l, uint32_t gen, uint64_t ptr)
{
    if (l->gen != gen)
        return 0;
    for (unsigned i = 0; i < l->n; i++) {
        unsigned k = l->n - 1 - i;
        if (l->ptr[k] == ptr) {
            memmove(&l->ptr[k], &l->ptr[k + 1], (l->n - 1 - k) * sizeof l->ptr[0]);
            l->n--;
            return i + 1;
        }
    }
    return 0;
}

/* The decoder's side of ps_cols_lifo_take: the i-th latest (1-based), taken out; 0 if none. */
static inline int ps_cols_lifo_get(ps_cols_lifo_t *l, uint32_t gen, unsigned i, uint64_t *ptr)
{
    if (l->gen != gen || i == 0 || i > l->n)
        return -1;
    unsigned k = l->n - i;
    *ptr = l->ptr[k];
    for (; k + 1 < l->n; k++) /* at most 7 moves: no memmove call (most take the latest) */
        l->ptr[k] = l->ptr[k + 1];
    l->n--;
    return 0;
}

static inline void ps_cols_lifo_push(ps_cols_lifo_t *l, uint32_t gen, uint64_t ptr)
{
    if (l->gen != gen) {
        l->gen = gen;
        l->n = 0;
    }
    if (l->n == PS_COLS_DEPTH) {
        memmove(&l->ptr[0], &l->ptr[1], (PS_COLS_DEPTH - 1) * sizeof l->ptr[0]);
        l->n--;
    }
    l->ptr[l->n++] = ptr;
}

/* ---- encoder ------------------------------------------------------------------------------ */

typedef struct ps_cols_slot_s {
    uint64_t ptr;
    uint64_t idx1; /* 1 + the allocation's number (counted over every chunk) */
    uint64_t size;
} ps_cols_slot_t;

/* The encoder's state: zero it once; it may be reused for any number of chunks (of any
 * threads: nothing carries from one chunk to the next). ~140 KiB. */
typedef struct ps_cols_enc_s {
    ps_cols_slot_t hash[PS_COLS_HASH];
    struct {
        uint64_t ptr, fseq1; /* 1 + the free's number */
    } fhash[PS_COLS_FWINDOW];
    ps_cols_lifo_t lifo[PS_COLS_NCLASS];
    uint64_t nalloc, nfree; /* allocations and frees numbered so far */
    uint32_t gen;           /* chunks encoded (the lists' validity) */
} ps_cols_enc_t;

/* What the encoder found, for the chunk header. */
typedef struct ps_cols_info_s {
    uint32_t nevents;
    int heap_only; /* every record an ALLOC or FREE (no REALLOC, nothing else) */
    uint64_t t_first, t_last; /* as decoded (heap records' in units of 2^q ns) */
} ps_cols_info_t;

static inline uint32_t ps_cols_hash(uint64_t ptr)
{
    return (uint32_t)(((ptr >> 4) * 0x9e3779b97f4a7c15ull) >> 52) & (PS_COLS_HASH - 1);
}

/* Where the allocator's next block would start if it split it off right after the last one:
 * its pointer plus glibc's chunk for its size (the size, 8 bytes of header, 16-byte steps). */
static inline uint64_t ps_cols_next(uint64_t ptr, uint64_t size)
{
    uint64_t c = (size + 8 + 15) & ~(uint64_t)15;
    return ptr + (c < 32 ? 32 : c);
}

/* Room ps_cols_encode needs in out for len bytes of records: never more than this. */
static inline size_t ps_cols_bound(size_t len)
{
    return sizeof(ps_cols_hdr_t) + len + len / 4 + 64;
}

/* The state is ready for a chunk at nalloc (its first allocation's number). */
static inline void ps_cols_enc_chunk(ps_cols_enc_t *e)
{
    e->gen++;
    if (e->gen == 0)
        e->gen = 1;
}

/* Which column kind a record goes to: the heap records of the fixed length and an aux the
 * op byte holds; everything else is copied as it is. */
static inline unsigned ps_cols_kind(ps_rec_hdr_t h)
{
    if (h.type == PS_REC_ALLOC && h.len == sizeof(ps_rec_alloc_t) && h.aux < 32)
        return PS_COLS_ALLOC;
    if (h.type == PS_REC_FREE && h.len == sizeof(ps_rec_free_t) && (h.aux & 0x60) == 0)
        return PS_COLS_FREE;
    if (h.type == PS_REC_REALLOC && h.len == sizeof(ps_rec_realloc_t) && h.aux < 32)
        return PS_COLS_REALLOC;
    return PS_COLS_OTHER;
}

/* Encodes the records src[0, len) as a columnar body into out (cap bytes, at least
 * ps_cols_bound(len)); info gets the chunk header's counts. Returns the body's length, or 0
 * when the records do not end at len (a torn tail: the caller keeps them as they are), there
 * are none (a body decodes to at least one record) or cap is too small. Records of a type or length it does not code go in the other column. */
static inline size_t ps_cols_encode(ps_cols_enc_t *e, const unsigned char *src, size_t len,
                                    unsigned char *out, size_t cap, unsigned q,
                                    ps_cols_info_t *info)
{
    memset(info, 0, sizeof *info);
    if (len == 0 || q > PS_COLS_Q_MAX || cap < ps_cols_bound(len) || len > UINT32_MAX)
        return 0;
    /* pass 1: each column's room (a record's varints never take more than 1.25 times its
     * length) */
    size_t n_rec = 0, n[4] = {0, 0, 0, 0}, other = 0, pos = 0;
    while (pos + sizeof(ps_rec_hdr_t) <= len) {
        ps_rec_hdr_t h;
        memcpy(&h, src + pos, sizeof h);
        if (h.len < sizeof h || h.len > len - pos)
            break;
        n_rec++;
        unsigned k = ps_cols_kind(h);
        n[k]++;
        if (k == PS_COLS_OTHER)
            other += h.len;
        pos += h.len;
    }
    if (pos != len)
        return 0;
    ps_cols_enc_chunk(e);
    const uint32_t gen = e->gen;
    const uint64_t base = e->nalloc, fbase = e->nfree;
    const size_t na = n[PS_COLS_ALLOC], nf = n[PS_COLS_FREE], nr = n[PS_COLS_REALLOC];
    unsigned char *col[PS_COL_N], *c0[PS_COL_N];
    const size_t room[PS_COL_N] = {n_rec,
                                   10 * (na + nf) + 20 * nr,
                                   11 * (na + nf) + 21 * nr,
                                   10 * (na + nr),
                                   5 * (na + nf + nr),
                                   10 * na,
                                   other};
    unsigned char *p = out + sizeof(ps_cols_hdr_t);
    for (unsigned i = 0; i < PS_COL_N; i++) {
        c0[i] = col[i] = p;
        p += room[i];
    }
    uint64_t last_tq = 0, last_ptr = 0, pred = 0;
    for (pos = 0; pos < len;) {
        ps_rec_hdr_t h;
        memcpy(&h, src + pos, sizeof h);
        const unsigned char *r = src + pos;
        pos += h.len;
        if (ps_rec_is_event(h.type))
            info->nevents++;
        uint64_t t = 0;
        int timed = 0;
        const unsigned kind = ps_cols_kind(h);
        if (kind == PS_COLS_ALLOC) {
            ps_rec_alloc_t a;
            memcpy(&a, r, sizeof a);
            *col[PS_COL_OP]++ = PS_COLS_OP(PS_COLS_ALLOC, h.aux, a.align != 0);
            uint64_t tq = a.ts >> q;
            col[PS_COL_TS] = ps_uv_put(col[PS_COL_TS], ps_zz(tq - last_tq));
            last_tq = tq;
            t = tq << q, timed = 1;
            unsigned hit = ps_cols_lifo_take(&e->lifo[ps_cols_class(a.size)], gen, a.ptr);
            if (hit) {
                *col[PS_COL_PTR]++ = (unsigned char)hit;
            } else {
                const uint32_t fh = ps_cols_hash(a.ptr) & (PS_COLS_FWINDOW - 1);
                uint64_t fage = e->nfree + 1 - e->fhash[fh].fseq1; /* 1: the latest free */
                if (e->fhash[fh].ptr == a.ptr && e->fhash[fh].fseq1 > fbase &&
                    fage <= PS_COLS_FWINDOW && a.ptr) {
                    col[PS_COL_PTR] = ps_uv_put(col[PS_COL_PTR], PS_COLS_DEPTH + fage);
                } else {
                    *col[PS_COL_PTR]++ = 0;
                    col[PS_COL_PTR] = ps_uv_put(col[PS_COL_PTR], ps_zz(a.ptr - pred));
                }
                pred = ps_cols_next(a.ptr, a.size);
            }
            last_ptr = a.ptr;
            col[PS_COL_SIZE] = ps_uv_put(col[PS_COL_SIZE], a.size);
            col[PS_COL_STACK] = ps_uv_put(col[PS_COL_STACK], a.stack);
            if (a.align)
                col[PS_COL_ALIGN] = ps_uv_put(col[PS_COL_ALIGN], a.align);
            if (a.ptr) {
                ps_cols_slot_t *s = &e->hash[ps_cols_hash(a.ptr)];
                s->ptr = a.ptr;
                s->idx1 = ++e->nalloc;
                s->size = a.size;
            }
        } else if (kind == PS_COLS_FREE) {
            ps_rec_free_t f;
            memcpy(&f, r, sizeof f);
            *col[PS_COL_OP]++ = PS_COLS_OP(PS_COLS_FREE, h.aux & 0x1f, h.aux & 0x80);
            uint64_t tq = f.ts >> q;
            col[PS_COL_TS] = ps_uv_put(col[PS_COL_TS], ps_zz(tq - last_tq));
            last_tq = tq;
            t = tq << q, timed = 1;
            const ps_cols_slot_t *s = &e->hash[ps_cols_hash(f.ptr)];
            uint64_t age = e->nalloc + 1 - s->idx1; /* 1: the latest allocation */
            if (s->ptr == f.ptr && s->idx1 > base && age <= PS_COLS_WINDOW) {
                col[PS_COL_PTR] = ps_uv_put(col[PS_COL_PTR], age);
                ps_cols_lifo_push(&e->lifo[ps_cols_class(s->size)], gen, f.ptr);
            } else {
                *col[PS_COL_PTR]++ = 0;
                col[PS_COL_PTR] = ps_uv_put(col[PS_COL_PTR], ps_zz(f.ptr - last_ptr));
            }
            last_ptr = f.ptr;
            e->fhash[ps_cols_hash(f.ptr) & (PS_COLS_FWINDOW - 1)].ptr = f.ptr;
            e->fhash[ps_cols_hash(f.ptr) & (PS_COLS_FWINDOW - 1)].fseq1 = ++e->nfree;
            col[PS_COL_STACK] = ps_uv_put(col[PS_COL_STACK], f.stack);
        } else if (kind == PS_COLS_REALLOC) {
            ps_rec_realloc_t a;
            memcpy(&a, r, sizeof a);
            *col[PS_COL_OP]++ = PS_COLS_OP(PS_COLS_REALLOC, h.aux, 0);
            uint64_t tq0 = a.ts_before >> q, tq = a.ts >> q;
            col[PS_COL_TS] = ps_uv_put(col[PS_COL_TS], ps_zz(tq0 - last_tq));
            col[PS_COL_TS] = ps_uv_put(col[PS_COL_TS], ps_zz(tq - tq0));
            last_tq = tq;
            t = tq << q, timed = 1;
            col[PS_COL_PTR] = ps_uv_put(col[PS_COL_PTR], ps_zz(a.old_ptr - last_ptr));
            col[PS_COL_PTR] = ps_uv_put(col[PS_COL_PTR], ps_zz(a.new_ptr - a.old_ptr));
            last_ptr = a.new_ptr ? a.new_ptr : a.old_ptr;
            col[PS_COL_SIZE] = ps_uv_put(col[PS_COL_SIZE], a.size);
            col[PS_COL_STACK] = ps_uv_put(col[PS_COL_STACK], a.stack);
            if (a.new_ptr) {
                ps_cols_slot_t *s = &e->hash[ps_cols_hash(a.new_ptr)];
                s->ptr = a.new_ptr;
                s->idx1 = ++e->nalloc;
                s->size = a.size;
            }
        } else {
            *col[PS_COL_OP]++ = 0;
            memcpy(col[PS_COL_OTHER], r, h.len);
            col[PS_COL_OTHER] += h.len;
            const unsigned ts_off = ps_rec_ts_offset(h.type);
            if (ts_off && h.len >= ts_off + 8) {
                memcpy(&t, r + ts_off, sizeof t);
                timed = 1;
            }
        }
        if (timed) {
            if (!info->t_first)
                info->t_first = t;
            info->t_last = t;
        }
    }
    info->heap_only = nr == 0 && n[PS_COLS_OTHER] == 0;
    ps_cols_hdr_t hd = {.format = PS_COLS_FORMAT, .q = (uint8_t)q, .xlen = (uint32_t)len};
    p = out + sizeof hd;
    for (unsigned i = 0; i < PS_COL_N; i++) {
        size_t cl = (size_t)(col[i] - c0[i]);
        hd.col_len[i] = (uint32_t)cl;
        memmove(p, c0[i], cl);
        p += cl;
    }
    memcpy(out, &hd, sizeof hd);
    return (size_t)(p - out);
}

/* ---- decoder ------------------------------------------------------------------------------ */

/* The decoder's state: needs no initialization (uninitialized memory will do); reusable for
 * any number of chunks. ~100 KiB. */
typedef struct ps_cols_dec_s {
    struct {
        uint64_t ptr, size;
    } ring[PS_COLS_WINDOW];
    uint64_t fring[PS_COLS_FWINDOW];
    ps_cols_lifo_t lifo[PS_COLS_NCLASS];
} ps_cols_dec_t;

/* The length of the records a body of n bytes decodes to (its header's xlen, at most
 * PERFSHIM_MAX_CHUNK_USIZE), 0 when the header is malformed. */
static inline uint32_t ps_cols_xlen(const unsigned char *in, size_t n)
{
    ps_cols_hdr_t hd;
    if (n < sizeof hd)
        return 0;
    memcpy(&hd, in, sizeof hd);
    uint64_t sum = 0;
    for (unsigned i = 0; i < PS_COL_N; i++)
        sum += hd.col_len[i];
    if (hd.format != PS_COLS_FORMAT || hd.q > PS_COLS_Q_MAX || hd.reserved ||
        sum != n - sizeof hd || hd.xlen > PERFSHIM_MAX_CHUNK_USIZE)
        return 0;
    return hd.xlen;
}

/* Decodes the body in[0, n) into out (exactly xlen = ps_cols_xlen(in, n) bytes): the fixed
 * records it stands for. Returns 0, or -1 when it is malformed (out partly written). */
static inline int ps_cols_decode(ps_cols_dec_t *d, const unsigned char *in, size_t n,
                                 unsigned char *out, size_t xlen)
{
    ps_cols_hdr_t hd;
    if (ps_cols_xlen(in, n) != xlen || xlen == 0)
        return -1;
    memcpy(&hd, in, sizeof hd);
    const unsigned char *c[PS_COL_N], *ce[PS_COL_N];
    const unsigned char *p = in + sizeof hd;
    for (unsigned i = 0; i < PS_COL_N; i++) {
        c[i] = p;
        p += hd.col_len[i];
        ce[i] = p;
    }
    const uint32_t gen = 1; /* the lists start empty: the state may be uninitialized memory */
    for (unsigned i = 0; i < PS_COLS_NCLASS; i++)
        d->lifo[i].gen = gen, d->lifo[i].n = 0;
    const unsigned q = hd.q;
    uint64_t last_tq = 0, last_ptr = 0, nalloc = 0, nfree = 0, pred = 0;
    unsigned char *o = out, *oe = out + xlen;
    const unsigned char *ops = c[PS_COL_OP], *ops_end = ce[PS_COL_OP];
    for (; ops < ops_end; ops++) {
        const unsigned op = *ops, kind = (op >> 5) & 3, fn = op & 0x1f;
        uint64_t v, w;
        switch (kind) {
        case PS_COLS_ALLOC: {
            ps_rec_alloc_t a = {.h = {PS_REC_ALLOC, (uint8_t)fn, sizeof(ps_rec_alloc_t)}};
            uint64_t size, stack, align = 0;
            if ((size_t)(oe - o) < sizeof a || ps_uv_get(&c[PS_COL_TS], ce[PS_COL_TS], &v) ||
                ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w) ||
                ps_uv_get(&c[PS_COL_SIZE], ce[PS_COL_SIZE], &size) ||
                ps_uv_get(&c[PS_COL_STACK], ce[PS_COL_STACK], &stack) || stack > UINT32_MAX ||
                ((op & 0x80) && ps_uv_get(&c[PS_COL_ALIGN], ce[PS_COL_ALIGN], &align)))
                return -1;
            last_tq += ps_unzz(v);
            a.ts = last_tq << q;
            if (w == 0) {
                if (ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w))
                    return -1;
                a.ptr = pred + ps_unzz(w);
                pred = ps_cols_next(a.ptr, size);
            } else if (w > PS_COLS_DEPTH) {
                w -= PS_COLS_DEPTH;
                if (w > nfree || w > PS_COLS_FWINDOW)
                    return -1;
                a.ptr = d->fring[(nfree - w) & (PS_COLS_FWINDOW - 1)];
                pred = ps_cols_next(a.ptr, size);
            } else if (ps_cols_lifo_get(&d->lifo[ps_cols_class(size)], gen, (unsigned)w,
                                        &a.ptr)) {
                return -1;
            }
            last_ptr = a.ptr;
            a.size = size;
            a.stack = (uint32_t)stack;
            a.align = align;
            if (a.ptr) {
                d->ring[nalloc & (PS_COLS_WINDOW - 1)].ptr = a.ptr;
                d->ring[nalloc & (PS_COLS_WINDOW - 1)].size = size;
                nalloc++;
            }
            memcpy(o, &a, sizeof a);
            o += sizeof a;
            break;
        }
        case PS_COLS_FREE: {
            ps_rec_free_t f = {.h = {PS_REC_FREE, (uint8_t)(fn | (op & 0x80)),
                                     sizeof(ps_rec_free_t)}};
            uint64_t stack;
            if ((size_t)(oe - o) < sizeof f || ps_uv_get(&c[PS_COL_TS], ce[PS_COL_TS], &v) ||
                ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w) ||
                ps_uv_get(&c[PS_COL_STACK], ce[PS_COL_STACK], &stack) || stack > UINT32_MAX)
                return -1;
            last_tq += ps_unzz(v);
            f.ts = last_tq << q;
            if (w == 0) {
                if (ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w))
                    return -1;
                f.ptr = last_ptr + ps_unzz(w);
            } else {
                if (w > nalloc || w > PS_COLS_WINDOW)
                    return -1;
                uint64_t i = (nalloc - w) & (PS_COLS_WINDOW - 1);
                f.ptr = d->ring[i].ptr;
                ps_cols_lifo_push(&d->lifo[ps_cols_class(d->ring[i].size)], gen, f.ptr);
            }
            last_ptr = f.ptr;
            d->fring[nfree++ & (PS_COLS_FWINDOW - 1)] = f.ptr;
            f.stack = (uint32_t)stack;
            memcpy(o, &f, sizeof f);
            o += sizeof f;
            break;
        }
        case PS_COLS_REALLOC: {
            ps_rec_realloc_t a = {.h = {PS_REC_REALLOC, (uint8_t)fn, sizeof(ps_rec_realloc_t)}};
            uint64_t v2, w2, size, stack;
            if ((op & 0x80) || (size_t)(oe - o) < sizeof a ||
                ps_uv_get(&c[PS_COL_TS], ce[PS_COL_TS], &v) ||
                ps_uv_get(&c[PS_COL_TS], ce[PS_COL_TS], &v2) ||
                ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w) ||
                ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w2) ||
                ps_uv_get(&c[PS_COL_SIZE], ce[PS_COL_SIZE], &size) ||
                ps_uv_get(&c[PS_COL_STACK], ce[PS_COL_STACK], &stack) || stack > UINT32_MAX)
                return -1;
            last_tq += ps_unzz(v);
            a.ts_before = last_tq << q;
            last_tq += ps_unzz(v2);
            a.ts = last_tq << q;
            a.old_ptr = last_ptr + ps_unzz(w);
            a.new_ptr = a.old_ptr + ps_unzz(w2);
            last_ptr = a.new_ptr ? a.new_ptr : a.old_ptr;
            a.size = size;
            a.stack = (uint32_t)stack;
            if (a.new_ptr) {
                d->ring[nalloc & (PS_COLS_WINDOW - 1)].ptr = a.new_ptr;
                d->ring[nalloc & (PS_COLS_WINDOW - 1)].size = size;
                nalloc++;
            }
            memcpy(o, &a, sizeof a);
            o += sizeof a;
            break;
        }
        default: { /* PS_COLS_OTHER: op 0 only */
            ps_rec_hdr_t h;
            if (op != 0 || (size_t)(ce[PS_COL_OTHER] - c[PS_COL_OTHER]) < sizeof h)
                return -1;
            memcpy(&h, c[PS_COL_OTHER], sizeof h);
            if (h.len < sizeof h || h.len > (size_t)(ce[PS_COL_OTHER] - c[PS_COL_OTHER]) ||
                h.len > (size_t)(oe - o))
                return -1;
            memcpy(o, c[PS_COL_OTHER], h.len);
            c[PS_COL_OTHER] += h.len;
            o += h.len;
            break;
        }
        }
    }
    for (unsigned i = 1; i < PS_COL_N; i++)
        if (c[i] != ce[i])
            return -1;
    return o == oe ? 0 : -1;
}

#endif /* PERFSHIM_TRACE_COLS_H */
