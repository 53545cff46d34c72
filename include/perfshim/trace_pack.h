/*
 * trace_pack.h -- packing and unpacking of trace records, side by side.
 *
 * Contract: header-only, static inline, no calls but memcpy/memset (depends on trace_format.h);
 * used by the shim (preload/shim.h: every fixed record through ps_pack_fixed; writer.c: the
 * packed forms) and the analyzer's reader (analyzer/core/reader.c: every record), and round-
 * trip tested for every record type by tests/unit/trace_pack.c. The unpackers take untrusted
 * bytes: they never read outside [p, p + len) and return -1 for a record that is too short or
 * malformed; that len fits in the bytes present (a record running past its chunk) is the
 * reader's check (view_next). Async-signal-safe (pure computation): the shim's crash flush
 * packs through here.
 *
 *   ps_pack_fixed / ps_unpack_fixed -> a fixed record (the struct is the wire format)
 *   ps_pack_{alloc,free,realloc}_p / ps_unpack_{alloc,free,realloc}_p
 *                                  -> the packed heap records against a ps_pack_state_t
 */
#ifndef PERFSHIM_TRACE_PACK_H
#define PERFSHIM_TRACE_PACK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "perfshim/trace_format.h"

/* The shortest record a reader accepts, per type (PS_RECORD_TYPES' min len). */
enum ps_rec_min_len {
#define PS_X(NAME, val, str, T, size, min, member, dec, cls) PS_REC_MIN_##NAME = min,
    PS_RECORD_TYPES(PS_X)
#undef PS_X
};

/* A fixed record: the struct, header included, is what goes into the stream. Returns its
 * length (rec's h.len, at least the struct's size when written by the shim). */
static inline uint32_t ps_pack_fixed(unsigned char *dst, const void *rec, size_t size)
{
    memcpy(dst, rec, size);
    return (uint32_t)size;
}

/* Copies a fixed record of len bytes into *out (size bytes): -1 when len < min (truncated).
 * A longer record (a later version's) is cut to size; a shorter one (>= min: an older
 * version's) reads 0 in the fields it lacks. */
static inline int ps_unpack_fixed(const unsigned char *p, uint32_t len, uint32_t min, void *out,
                                  size_t size)
{
    if (len < min)
        return -1;
    if (len >= size) {
        memcpy(out, p, size);
    } else {
        memset(out, 0, size);
        memcpy(out, p, len);
    }
    return 0;
}
/* Typed form: PS_UNPACK(LEAK_SCAN, p, len, &rec) */
#define PS_UNPACK(NAME, p, len, out) ps_unpack_fixed(p, len, PS_REC_MIN_##NAME, out, sizeof *(out))

/* ---- packed heap records (trace_format.h "Packed records") ------------------------------- */

/* Per-chunk state: 0 at a chunk's first record, advanced only by packed records. */
typedef struct ps_pack_state_s {
    uint64_t ts0, ptr0;
} ps_pack_state_t;

/* Largest packed record: the header and six varints. */
#define PS_PACK_MAX (sizeof(ps_rec_hdr_t) + 6 * PS_VARINT_MAX)

/* The packed record's header, byte by byte (a ps_rec_hdr_t built and copied costs the writer
 * ~10 instructions a record more: partial-register merges). */
static inline uint32_t p_pack_end(unsigned char *out, unsigned char *q, uint8_t type, uint8_t aux)
{
    uint16_t len = (uint16_t)(q - out);
    out[offsetof(ps_rec_hdr_t, type)] = type;
    out[offsetof(ps_rec_hdr_t, aux)] = aux;
    memcpy(out + offsetof(ps_rec_hdr_t, len), &len, sizeof len);
    return (uint32_t)(q - out);
}

/* Each ps_pack_*_p writes the packed form of the fixed record into out (PS_PACK_MAX bytes)
 * against st and returns its length; st is not changed: a writer that keeps the packed form
 * (it is shorter) then calls ps_pack_state_set with the record's new (ts0, ptr0). */
static inline uint32_t ps_pack_alloc_p(const ps_pack_state_t *st, const ps_rec_alloc_t *a,
                                       unsigned char *out)
{
    unsigned char *q = out + sizeof(ps_rec_hdr_t);
    q = ps_uv_put(q, ps_zz(a->ts - st->ts0));
    q = ps_uv_put(q, ps_zz(a->ptr - st->ptr0));
    q = ps_uv_put(q, a->size);
    q = ps_uv_put(q, a->stack);
    q = ps_uv_put(q, a->align);
    return p_pack_end(out, q, PS_REC_ALLOC_P, a->h.aux);
}

static inline uint32_t ps_pack_free_p(const ps_pack_state_t *st, const ps_rec_free_t *f,
                                      unsigned char *out)
{
    unsigned char *q = out + sizeof(ps_rec_hdr_t);
    q = ps_uv_put(q, ps_zz(f->ts - st->ts0));
    q = ps_uv_put(q, ps_zz(f->ptr - st->ptr0));
    q = ps_uv_put(q, f->stack);
    return p_pack_end(out, q, PS_REC_FREE_P, f->h.aux);
}

static inline uint32_t ps_pack_realloc_p(const ps_pack_state_t *st, const ps_rec_realloc_t *r,
                                         unsigned char *out)
{
    unsigned char *q = out + sizeof(ps_rec_hdr_t);
    q = ps_uv_put(q, ps_zz(r->ts_before - st->ts0));
    q = ps_uv_put(q, r->ts - r->ts_before);
    q = ps_uv_put(q, ps_zz(r->old_ptr - st->ptr0));
    q = ps_uv_put(q, ps_zz(r->new_ptr - r->old_ptr));
    q = ps_uv_put(q, r->size);
    q = ps_uv_put(q, r->stack);
    return p_pack_end(out, q, PS_REC_REALLOC_P, r->h.aux);
}

static inline void ps_pack_state_set(ps_pack_state_t *st, uint64_t ts, uint64_t ptr)
{
    st->ts0 = ts;
    st->ptr0 = ptr;
}

/* Each ps_unpack_*_p decodes the packed record p (len bytes, header included) into the fixed
 * record it stands for (h.type the fixed type, h.len its size) and advances st. Returns 0, or
 * -1 when a varint is malformed or runs past len (st unchanged). */
static inline int ps_unpack_alloc_p(ps_pack_state_t *st, const unsigned char *p, uint32_t len,
                                    ps_rec_alloc_t *a)
{
    const unsigned char *q = p + sizeof(ps_rec_hdr_t), *end = p + len;
    uint64_t dts, dptr, size, stack, align;
    if (len < sizeof(ps_rec_hdr_t) || ps_uv_get(&q, end, &dts) || ps_uv_get(&q, end, &dptr) ||
        ps_uv_get(&q, end, &size) || ps_uv_get(&q, end, &stack) || ps_uv_get(&q, end, &align) ||
        stack > UINT32_MAX)
        return -1;
    *a = (ps_rec_alloc_t){.h = {PS_REC_ALLOC, p[1], sizeof(ps_rec_alloc_t)},
                          .stack = (uint32_t)stack,
                          .ts = st->ts0 + ps_unzz(dts),
                          .ptr = st->ptr0 + ps_unzz(dptr),
                          .size = size,
                          .align = align};
    ps_pack_state_set(st, a->ts, a->ptr);
    return 0;
}

static inline int ps_unpack_free_p(ps_pack_state_t *st, const unsigned char *p, uint32_t len,
                                   ps_rec_free_t *f)
{
    const unsigned char *q = p + sizeof(ps_rec_hdr_t), *end = p + len;
    uint64_t dts, dptr, stack;
    if (len < sizeof(ps_rec_hdr_t) || ps_uv_get(&q, end, &dts) || ps_uv_get(&q, end, &dptr) ||
        ps_uv_get(&q, end, &stack) || stack > UINT32_MAX)
        return -1;
    *f = (ps_rec_free_t){.h = {PS_REC_FREE, p[1], sizeof(ps_rec_free_t)},
                         .stack = (uint32_t)stack,
                         .ts = st->ts0 + ps_unzz(dts),
                         .ptr = st->ptr0 + ps_unzz(dptr)};
    ps_pack_state_set(st, f->ts, f->ptr);
    return 0;
}

static inline int ps_unpack_realloc_p(ps_pack_state_t *st, const unsigned char *p, uint32_t len,
                                      ps_rec_realloc_t *r)
{
    const unsigned char *q = p + sizeof(ps_rec_hdr_t), *end = p + len;
    uint64_t dts0, dts, dold, dnew, size, stack;
    if (len < sizeof(ps_rec_hdr_t) || ps_uv_get(&q, end, &dts0) || ps_uv_get(&q, end, &dts) ||
        ps_uv_get(&q, end, &dold) || ps_uv_get(&q, end, &dnew) || ps_uv_get(&q, end, &size) ||
        ps_uv_get(&q, end, &stack) || stack > UINT32_MAX)
        return -1;
    r->h = (ps_rec_hdr_t){PS_REC_REALLOC, p[1], sizeof(ps_rec_realloc_t)};
    r->stack = (uint32_t)stack;
    r->ts_before = st->ts0 + ps_unzz(dts0);
    r->ts = r->ts_before + dts;
    r->old_ptr = st->ptr0 + ps_unzz(dold);
    r->new_ptr = r->old_ptr + ps_unzz(dnew);
    r->size = size;
    ps_pack_state_set(st, r->ts, r->new_ptr);
    return 0;
}

#endif /* PERFSHIM_TRACE_PACK_H */
