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
 * heap records' fields, each kind of value in a column of its own, and every other record as
 * it is, in an "other" column. zstd (preload/writer.c: a block of its own per column, so each
 * gets its own entropy tables) then sees regular data. Pointers are coded against what the
 * chunk has seen: a FREE names the allocation of the chunk it releases by its rank among the
 * chunk's allocations still live (0: the latest), an ALLOC that got back a block the chunk
 * freed (the allocator's per-size free list: glibc's tcache) names it by its place in a
 * per-size-class list of freed blocks, or by how many frees ago it was freed. The rest are
 * deltas. Timestamps of heap records are kept in units of 2^q ns (q in the body header);
 * every other record keeps its exact bytes. Each ALLOC and FREE has a head byte (its own
 * column) that packs what is usually small: its time delta, how its pointer is coded (and a
 * small rank), an ALLOC's size >> 8; so zstd's Huffman coder, which spends at least a bit on
 * a byte, codes their joint entropy (issue 18: churn 2.15 -> 1.76 bytes per event). Each
 * chunk decodes on its own. Format 2; format 1 bodies (the first columnar traces) still
 * decode.
 *
 *   ps_cols_encode(enc, src, len, out, cap, q, &info) -> body length, 0: keep src as it is
 *   ps_cols_xlen(in, n)                               -> the records' length, 0: malformed
 *   ps_cols_decode(dec, in, n, out, xlen)             -> 0 (out holds the fixed records), -1
 *   ps_cols_decode2_heap(dec, in, n, xlen, ...)       -> 0 (each record handed to a callback,
 *                                                        not written), -1: use ps_cols_decode
 */
#ifndef PERFSHIM_TRACE_COLS_H
#define PERFSHIM_TRACE_COLS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "perfshim/trace_format.h"

#define PS_COLS_FORMAT 2u    /* what the encoder writes; the decoder reads 1 and 2 */
#define PS_COLS_WINDOW 4096u /* the latest allocations a FREE can name (a power of two) */
#define PS_COLS_HASH 4096u   /* the encoder's table of recent allocations (a power of two) */
#define PS_COLS_DEPTH 8u     /* freed blocks remembered per size class (glibc's tcache: 7) */
#define PS_COLS_NCLASS 320u
#define PS_COLS_FWINDOW 1024u /* frees an ALLOC can name by age (a power of two) */
#define PS_COLS_FAGE_ESC (255u - PS_COLS_DEPTH) /* an ALLOC's byte 255: this age + a varint */
#define PS_COLS_RANK_ESC 255u /* a fref byte: a varint of ptr adds to the rank */
#define PS_COLS_Q_MAX 20u    /* coarsest time unit: 2^20 ns */

/* op byte: bits 5-6 the kind, bits 0-4 the function (aux), bit 7: ALLOC: an align follows in
 * the align column; FREE: PS_FREE_F_CROSS_THREAD. 0: the next record of the other column. */
enum { PS_COLS_OTHER = 0, PS_COLS_ALLOC = 1, PS_COLS_FREE = 2, PS_COLS_REALLOC = 3 };
#define PS_COLS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PS_COLS_LIKELY(x) __builtin_expect(!!(x), 1)
#define PS_COLS_OP(kind, fn, bit7) ((unsigned char)((kind) << 5 | (fn) | ((bit7) ? 0x80 : 0)))

/* Format 2's columns, in their order in the body. An ALLOC's head byte: bits 0-3 its time
 * delta (15: in tsx), bits 4-5 its pointer (0: explicit in ptr, 1: its size class' latest
 * freed block, 2: a byte in aref, 3: where the last split block ends), bits 6-7 size >> 8 (3:
 * in sizeh). A FREE's: bits 0-3 its time delta (15: in tsx), bits 4-7 its pointer (0:
 * explicit in ptr, 1..14: rank 0..13 among the live, 15: a byte in fref). */
enum {
    PS_COL_OP,     /* u8 per record */
    PS_COL_AHEAD,  /* u8 per ALLOC */
    PS_COL_FHEAD,  /* u8 per FREE */
    PS_COL_TSX,    /* varints: time deltas past the heads (zz(d - 15)), REALLOC's two (zz) */
    PS_COL_FREF,   /* u8: FREE: rank - 14 (255: + a varint in ptr); REALLOC: old's ref */
    PS_COL_AREF,   /* u8: 1..8 a size class' freed block, 9..254 a free 1..246 frees ago, 255:
                    * 247 + a varint in ptr (at most 1024) */
    PS_COL_PTR,    /* varints: explicit pointers (ps_cols_put_delta), ranks and ages past the
                    * bytes */
    PS_COL_SIZE,   /* u8 per ALLOC and REALLOC: size & 0xff */
    PS_COL_SIZEH,  /* varint: ALLOC: (size >> 8) - 3 when the head says 3; REALLOC: size >> 8 */
    PS_COL_STACK,  /* varint per ALLOC and REALLOC */
    PS_COL_FSTACK, /* varint per FREE */
    PS_COL_ALIGN,  /* varint per ALLOC with bit 7 */
    PS_COL_OTHER,  /* other records, whole */
    PS_COL_N
};

/* An explicit pointer delta d: varint zz(d >> 4) << 1, with 1 in bit 0 when d's low 4 bits
 * are not 0, then they follow as a byte (blocks are 16-byte aligned: 4 bits saved). */
static inline unsigned char *ps_cols_put_delta(unsigned char *p, uint64_t d)
{
    uint64_t v = ps_zz((uint64_t)((int64_t)d >> 4)) << 1;
    if (d & 15) {
        p = ps_uv_put(p, v | 1);
        *p++ = (unsigned char)(d & 15);
        return p;
    }
    return ps_uv_put(p, v);
}

static inline int ps_cols_get_delta(const unsigned char **p, const unsigned char *end,
                                    uint64_t *d)
{
    uint64_t v, lo = 0;
    if (ps_uv_get(p, end, &v))
        return -1;
    if (v & 1) {
        if (*p == end || **p > 15)
            return -1;
        lo = *(*p)++;
    }
    *d = ps_unzz(v >> 1) << 4 | lo;
    return 0;
}

/* Body header: format, q, 2 reserved bytes (0), xlen (bytes of the records it decodes to),
 * then each column's length; the columns follow in that order. */
typedef struct ps_cols_hdr_s {
    uint8_t format; /* PS_COLS_FORMAT */
    uint8_t q;      /* heap records' timestamps in units of 2^q ns */
    uint16_t reserved;
    uint32_t xlen;
    uint32_t col_len[PS_COL_N];
} ps_cols_hdr_t; /* 60 bytes */
_Static_assert(offsetof(ps_cols_hdr_t, q) == 1 && offsetof(ps_cols_hdr_t, col_len) == 8 &&
                   sizeof(ps_cols_hdr_t) == 8 + 4 * PS_COL_N, "ps_cols_dec_begin's layout");

/* glibc's chunk sizes up to 4 KiB (16-byte steps, 32 the smallest), then powers of two. */
static inline unsigned ps_cols_class(uint64_t size)
{
    if (PS_COLS_LIKELY(size <= 4072)) {
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

/* The encoder's: finds ptr in l (from the latest), takes it out and returns 1 + its place,
 * or 0. (The encoder empties its lists at each chunk, ps_cols_enc_chunk: no generation.) */
static inline __attribute__((always_inline)) unsigned ps_cols_lifo_take(ps_cols_lifo_t *l,
                                                                       uint64_t ptr)
{
    const unsigned n = l->n;
    if (n && l->ptr[n - 1] == ptr) { /* most take the latest */
        l->n = n - 1;
        return 1;
    }
    for (unsigned i = 1; i < n; i++) { /* (the latest was not it) */
        unsigned k = n - 1 - i;
        if (l->ptr[k] == ptr) {
            memmove(&l->ptr[k], &l->ptr[k + 1], i * sizeof l->ptr[0]);
            l->n = n - 1;
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

/* ps_cols_lifo_get and ps_cols_lifo_push for the decoders' lists, whose generation is always
 * PS_COLS_DEC_GEN (ps_cols_dec_begin sets every one): no generation test. */
static inline __attribute__((always_inline)) int ps_cols_dec_lifo_get(ps_cols_lifo_t *l, unsigned i,
                                                                      uint64_t *ptr)
{
    if (i - 1 >= l->n) /* (i == 0 wraps) */
        return -1;
    unsigned k = l->n - i;
    *ptr = l->ptr[k];
    for (; k + 1 < l->n; k++)
        l->ptr[k] = l->ptr[k + 1];
    l->n--;
    return 0;
}

/* The push of a freed block on its size class' list, the oldest dropped when full: the encoder's
 * and the decoder's (each side's list must move the same way). */
static inline __attribute__((always_inline)) void ps_cols_lifo_put(ps_cols_lifo_t *l, uint64_t ptr)
{
    if (l->n == PS_COLS_DEPTH) {
        memmove(&l->ptr[0], &l->ptr[1], (PS_COLS_DEPTH - 1) * sizeof l->ptr[0]);
        l->n--;
    }
    l->ptr[l->n++] = ptr;
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

/* A FREE whose rank is below this moves the entries after its own by one, always this many
 * (the size known in advance: no branch on it; ps_cols_live_shift). */
#define PS_COLS_CUT_FIXED 64u

/* The chunk's live allocations: their numbers (from 0 in the chunk) modulo 2^16, oldest
 * first, in v[head, head + n) of 2 x PS_COLS_WINDOW slots; only the latest PS_COLS_WINDOW
 * allocations (a ring holds their pointers: an entry's low bits are its slot, and its age,
 * under PS_COLS_WINDOW, is the latest's number minus it modulo 2^16). The decoder's; the
 * encoder keeps the same set as bits (ps_cols_enc_t's live) and counts a FREE's rank in them.
 * 16 bits an entry: a FREE's move of PS_COLS_CUT_FIXED entries is 128 bytes, 8 loads and 8
 * stores of 16 bytes written out (ps_cols_live_shift), not a memmove call of 256. */
typedef uint16_t ps_cols_lv_t;
_Static_assert(PS_COLS_WINDOW <= 0x8000u, "an entry's age modulo 2^16");
typedef struct ps_cols_live_s {
    uint32_t head, n;
    ps_cols_lv_t v[2 * PS_COLS_WINDOW + PS_COLS_CUT_FIXED]; /* (room for ps_cols_dec2_heap_run's
                                                             * fixed-size move past the end) */
} ps_cols_live_t;

/* The age of entry e for the allocation numbered seq (the chunk's latest or the next). */
static inline __attribute__((always_inline)) uint32_t ps_cols_live_age(uint32_t seq,
                                                                      ps_cols_lv_t e)
{
    return (uint16_t)(seq - e);
}

/* v[0, PS_COLS_CUT_FIXED) = v[1, PS_COLS_CUT_FIXED + 1): the entries after a cut one moved
 * down by one (those past the list moved too, never read). Every load before the stores: the
 * compiler writes it out in registers (a fixed-size memmove it would call). */
static inline __attribute__((always_inline)) void ps_cols_live_shift(ps_cols_lv_t *v)
{
    _Static_assert(PS_COLS_CUT_FIXED * sizeof(ps_cols_lv_t) == 128, "8 moves of 16 bytes");
#if defined(__GNUC__)
    /* eight variables, not an array: an array gcc also stores on the stack */
    typedef uint64_t v16_t __attribute__((vector_size(16)));
    v16_t a0, a1, a2, a3, a4, a5, a6, a7;
    const unsigned char *src = (const unsigned char *)(v + 1);
    unsigned char *dst = (unsigned char *)v;
    memcpy(&a0, src, 16), memcpy(&a1, src + 16, 16), memcpy(&a2, src + 32, 16);
    memcpy(&a3, src + 48, 16), memcpy(&a4, src + 64, 16), memcpy(&a5, src + 80, 16);
    memcpy(&a6, src + 96, 16), memcpy(&a7, src + 112, 16);
    memcpy(dst, &a0, 16), memcpy(dst + 16, &a1, 16), memcpy(dst + 32, &a2, 16);
    memcpy(dst + 48, &a3, 16), memcpy(dst + 64, &a4, 16), memcpy(dst + 80, &a5, 16);
    memcpy(dst + 96, &a6, 16), memcpy(dst + 112, &a7, 16);
#else
    memmove(v, v + 1, PS_COLS_CUT_FIXED * sizeof v[0]);
#endif
}

/* Allocation number seq (the chunk's latest) is live; those that leave the window go. */
static inline __attribute__((always_inline)) void ps_cols_live_add_small(ps_cols_live_t *l,
                                                                        uint32_t seq)
{
    /* a chunk of at most PS_COLS_WINDOW allocations: none leaves the window, and head + n
     * (at most the allocations so far) never reaches the end */
    l->v[l->head + l->n++] = (ps_cols_lv_t)seq;
}

static inline void ps_cols_live_add(ps_cols_live_t *l, uint32_t seq)
{
    if (l->n && ps_cols_live_age(seq, l->v[l->head]) >= PS_COLS_WINDOW) /* one a call at most: */
        l->head++, l->n--;                           /* seq - 1 was the latest before */
    if (l->head + l->n == 2 * PS_COLS_WINDOW) { /* n < PS_COLS_WINDOW: room after this */
        memmove(l->v, l->v + l->head, l->n * sizeof l->v[0]);
        l->head = 0;
    }
    l->v[l->head + l->n++] = (ps_cols_lv_t)seq;
}

/* Takes out entry i (from the oldest) of the list v[head, head + n), moving the fewer of
 * those on either side (the caller counts n down); returns the new head. */
static inline __attribute__((always_inline)) uint32_t ps_cols_live_cut(ps_cols_lv_t *lv,
                                                                      uint32_t head, uint32_t n,
                                                                      uint32_t i)
{
    ps_cols_lv_t *v = lv + head;
    const uint32_t after = n - 1 - i;
    if (after <= i) {
        if (after)
            memmove(v + i, v + i + 1, after * sizeof v[0]);
        return head;
    }
    if (i)
        memmove(v + 1, v, i * sizeof v[0]);
    return head + 1;
}

static inline __attribute__((always_inline)) void ps_cols_live_del(ps_cols_live_t *l, uint32_t i)
{
    l->head = ps_cols_live_cut(l->v, l->head, l->n, i);
    l->n--;
}

/* The bits set in m (the baseline x86-64 has no popcnt instruction: gcc would call libgcc). */
static inline unsigned ps_cols_popcount(uint64_t m)
{
#if defined(__POPCNT__)
    return (unsigned)__builtin_popcountll(m);
#else
    m -= (m >> 1) & 0x5555555555555555ull;
    m = (m & 0x3333333333333333ull) + ((m >> 2) & 0x3333333333333333ull);
    m = (m + (m >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((m * 0x0101010101010101ull) >> 56);
#endif
}

/* ---- encoder ------------------------------------------------------------------------------ */

typedef struct ps_cols_slot_s {
    uint64_t ptr;
    uint64_t idx1; /* 1 + the allocation's number (counted over every chunk) */
    ps_cols_lifo_t *lifo; /* its size class' list (ps_cols_class; a FREE pushes its block) */
} ps_cols_slot_t;

/* The encoder's state: zero it once; it may be reused for any number of chunks (of any
 * threads: nothing carries from one chunk to the next). ~135 KiB. */
typedef struct ps_cols_enc_s {
    ps_cols_slot_t hash[PS_COLS_HASH];
    struct {
        uint64_t ptr, fseq1; /* 1 + the free's number */
    } fhash[PS_COLS_FWINDOW];
    ps_cols_lifo_t lifo[PS_COLS_NCLASS]; /* emptied at each chunk (their gen unused) */
    /* the decoder's live list as a ring of bits: bit seq % PS_COLS_WINDOW is set while the
     * chunk's allocation seq (one of its latest PS_COLS_WINDOW; numbered over every chunk)
     * is live. An allocation sets
     * its bit (dropping the one that leaves the window: the same bit), a FREE's rank is the
     * count of bits set after its own up to the latest. No reset between chunks: the bits
     * between a chunk's allocation and its latest are all the chunk's own. */
    uint64_t live[PS_COLS_WINDOW / 64];
    uint64_t nalloc, nfree; /* allocations and frees numbered so far */
    uint32_t gen;           /* chunks encoded */
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

/* Column i's room in ps_cols_encode's out for len bytes of records: the most any kind of
 * record puts in that column per byte of its own, times len. An ALLOC (40 bytes) puts at most
 * 1 + 1 + 10 + 1 + 10 + 1 + 8 + 5 + 10 bytes in op, ahead, tsx, aref, ptr, size, sizeh, stack
 * and align (an escape in ptr is at most 2 bytes, an explicit pointer 9 + 1), a FREE (24)
 * 1 + 1 + 10 + 1 + 10 + 5 in op, fhead, tsx, fref, ptr, fstack, a REALLOC (48) 1 + 20 + 1 +
 * 20 + 1 + 8 + 5 in op, tsx, fref, ptr, size, sizeh, stack, any other record (>= 4 bytes) 1
 * in op and itself in other. The encoder writes every column in one pass over the records,
 * not knowing their counts before: ~3 x len in all, of which a chunk touches what it uses. */
static inline size_t ps_cols_room(unsigned i, size_t len)
{
    switch (i) {
    case PS_COL_OP:
        return len / 4;
    case PS_COL_FHEAD:
    case PS_COL_FREF:
        return len / 24;
    case PS_COL_TSX:
    case PS_COL_PTR:
        return 10 * len / 24;
    case PS_COL_SIZEH:
        return 8 * len / 40;
    case PS_COL_STACK:
        return 5 * len / 40;
    case PS_COL_FSTACK:
        return 5 * len / 24;
    case PS_COL_ALIGN:
        return 10 * len / 40;
    case PS_COL_OTHER:
        return len;
    default: /* AHEAD, AREF, SIZE */
        return len / 40;
    }
}

/* Room ps_cols_encode needs in out for len bytes of records: never more than this. */
static inline size_t ps_cols_bound(size_t len)
{
    size_t n = sizeof(ps_cols_hdr_t) + 64;
    for (unsigned i = 0; i < PS_COL_N; i++)
        n += ps_cols_room(i, len);
    return n;
}

/* The state is ready for a chunk at nalloc (its first allocation's number). */
static inline void ps_cols_enc_chunk(ps_cols_enc_t *e)
{
    e->gen++;
    if (e->gen == 0)
        e->gen = 1;
    for (unsigned i = 0; i < PS_COLS_NCLASS; i++)
        e->lifo[i].n = 0;
}

/* Which column kind a record goes to: the heap records of the fixed length and an aux the
 * op byte holds; everything else is copied as it is. */
static inline unsigned ps_cols_kind(ps_rec_hdr_t h)
{
    /* the header as a word: each test one mask and compare (ALLOC, REALLOC: aux < 32; FREE:
     * its bits 5 and 6 clear) */
    const uint32_t w = h.type | (uint32_t)h.aux << 8 | (uint32_t)h.len << 16;
    if ((w & 0xffffe0ffu) == ((uint32_t)sizeof(ps_rec_alloc_t) << 16 | PS_REC_ALLOC))
        return PS_COLS_ALLOC;
    if ((w & 0xffff60ffu) == ((uint32_t)sizeof(ps_rec_free_t) << 16 | PS_REC_FREE))
        return PS_COLS_FREE;
    if ((w & 0xffffe0ffu) == ((uint32_t)sizeof(ps_rec_realloc_t) << 16 | PS_REC_REALLOC))
        return PS_COLS_REALLOC;
    return PS_COLS_OTHER;
}

/* The encoder's side of a FREE's (or REALLOC's old pointer's) byte: 1 + the rank among the
 * live allocations of the chunk when ptr is one of them (taken out of the list, its block
 * pushed on its size class' list when push), else 0. *rank gets the rank. hi: the hash of
 * ptr (ps_cols_hash); nalloc: the allocations numbered so far (e's, not yet stored). */
static inline __attribute__((always_inline)) unsigned
ps_cols_enc_rank(ps_cols_enc_t *e, uint64_t ptr, uint32_t hi, uint64_t base, uint64_t nalloc,
                 int push, uint64_t *rank)
{
    const ps_cols_slot_t *s = &e->hash[hi];
    if (s->ptr != ptr || s->idx1 <= base) /* (a slot never written holds ptr 0, idx1 0) */
        return 0;
    /* seq and the latest, numbered over every chunk (nalloc >= idx1 > base): the ring's bits
     * are allocation numbers modulo PS_COLS_WINDOW */
    const uint64_t seq = s->idx1 - 1, latest = nalloc - 1;
    if (latest - seq >= PS_COLS_WINDOW)
        return 0; /* out of the window */
    uint64_t *w = &e->live[(seq >> 6) & (PS_COLS_WINDOW / 64 - 1)];
    const uint64_t bit = (uint64_t)1 << (seq & 63);
    if (!(*w & bit))
        return 0; /* freed already */
    const uint64_t a = *w & ~bit;
    *w = a;
    /* the bits set in (seq, latest] */
    const uint64_t d = latest - seq;
    uint64_t r;
    if (PS_COLS_LIKELY(d < 128)) {
        /* (churn's frees: 64% within 64 allocations of theirs, 87% within 128; a loop over
         * the words, 0, 1 or 2 times, mispredicted ~0.8 a free) the 128 bits from seq on,
         * out of seq's word and the next two (those past the latest masked off), counted up
         * to the latest: no branch */
        const unsigned o = (unsigned)(seq & 63);
        const uint64_t k = seq >> 6, all = ~(uint64_t)0;
        const uint64_t b = e->live[(k + 1) & (PS_COLS_WINDOW / 64 - 1)];
        const uint64_t c = e->live[(k + 2) & (PS_COLS_WINDOW / 64 - 1)];
        const uint64_t w0 = a >> o | (b << 1) << (63 - o); /* bit 0: seq's, clear */
        const uint64_t w1 = b >> o | (c << 1) << (63 - o);
        const unsigned d0 = d < 63 ? (unsigned)d : 63;
        const uint64_t m1 = d >= 64 ? all >> (127 - d) : 0;
        r = ps_cols_popcount(w0 & all >> (63 - d0)) + ps_cols_popcount(w1 & m1);
    } else {
        /* seq's word from seq up, the words after it, the latest's up to the latest
         * (those past it are older than the window) */
        uint64_t m = a & ~(bit - 1);
        r = 0;
        for (uint64_t at = seq >> 6; at != latest >> 6;) {
            r += ps_cols_popcount(m);
            m = e->live[++at & (PS_COLS_WINDOW / 64 - 1)];
        }
        r += ps_cols_popcount(m & (~(uint64_t)0 >> (63 - (latest & 63))));
    }
    *rank = r;
    if (push)
        ps_cols_lifo_put(s->lifo, ptr);
    return 1;
}

/* The time a record of kind k (ps_cols_kind) has in the chunk header's t_first and t_last:
 * a heap record's as decoded (in units of 2^q ns), another's exact; 0 if it has none. */
static inline uint64_t ps_cols_rec_time(const unsigned char *r, ps_rec_hdr_t h, unsigned k,
                                        unsigned q)
{
    uint64_t t = 0;
    if (k == PS_COLS_ALLOC)
        memcpy(&t, r + offsetof(ps_rec_alloc_t, ts), sizeof t);
    else if (k == PS_COLS_FREE)
        memcpy(&t, r + offsetof(ps_rec_free_t, ts), sizeof t);
    else if (k == PS_COLS_REALLOC)
        memcpy(&t, r + offsetof(ps_rec_realloc_t, ts), sizeof t);
    else if (ps_rec_ts_offset(h.type) && h.len >= ps_rec_ts_offset(h.type) + 8)
        memcpy(&t, r + ps_rec_ts_offset(h.type), sizeof t);
    else
        return 0;
    return k == PS_COLS_OTHER ? t : t >> q << q;
}

/* Encodes the records src[0, len) as a columnar body into out (cap bytes, at least
 * ps_cols_bound(len)); info gets the chunk header's counts. Returns the body's length, or 0
 * when the records do not end at len (a torn tail: the caller keeps them as they are), there
 * are none (a body decodes to at least one record) or cap is too small. Records of a type or
 * length it does not code go in the other column. One pass: each column is written in its
 * room (ps_cols_room), the columns are then moved together. The state e is left valid when
 * it returns 0 (the next chunk's lists are its own: ps_cols_enc_chunk). */
static inline size_t ps_cols_encode(ps_cols_enc_t *e, const unsigned char *src, size_t len,
                                    unsigned char *out, size_t cap, unsigned q,
                                    ps_cols_info_t *info)
{
    memset(info, 0, sizeof *info);
    if (len == 0 || q > PS_COLS_Q_MAX || cap < ps_cols_bound(len) || len > UINT32_MAX)
        return 0;
    ps_cols_enc_chunk(e);
    const uint64_t base = e->nalloc, fbase = e->nfree;
    uint64_t nalloc = base, nfree = fbase; /* e's, stored at the end (the columns' byte stores
                                            * may alias anything: locals stay in registers) */
    unsigned char *col[PS_COL_N], *c0[PS_COL_N];
    unsigned char *p = out + sizeof(ps_cols_hdr_t);
    for (unsigned i = 0; i < PS_COL_N; i++) {
        c0[i] = col[i] = p;
        p += ps_cols_room(i, len);
    }
    /* t_last: the last timed other record's, heap_at_t: the heap records before it (the last
     * timed record is a heap record's, last_tq, when there are more at the end) */
    uint64_t last_tq = 0, last_ptr = 0, pred = 0, t_last = 0;
    uint32_t nevents = 0, n_other = 0, heap_at_t = 0; /* nevents: other records' (heap
                                                       * records' after) */
    int heap_only = 1;
    const unsigned char *next = src, *const end = src + len;
    while ((size_t)(end - next) >= sizeof(ps_rec_hdr_t)) {
        ps_rec_hdr_t h;
        memcpy(&h, next, sizeof h);
        const unsigned kind = ps_cols_kind(h); /* a heap kind's h.len is known from here */
        const size_t rlen = kind == PS_COLS_ALLOC  ? sizeof(ps_rec_alloc_t)
                            : kind == PS_COLS_FREE ? sizeof(ps_rec_free_t)
                            : kind == PS_COLS_REALLOC ? sizeof(ps_rec_realloc_t)
                                                      : h.len; /* (constants for the heap) */
        if (rlen > (size_t)(end - next) || (kind == PS_COLS_OTHER && h.len < sizeof h))
            break;
        const unsigned char *r = next;
        next += rlen;
        if (kind == PS_COLS_ALLOC) {
            struct { /* the fields, each loaded where it is used (not the record copied) */
                uint32_t stack;
                uint64_t ts, ptr, size, align;
            } a;
            memcpy(&a.stack, r + offsetof(ps_rec_alloc_t, stack), sizeof a.stack);
            memcpy(&a.ts, r + offsetof(ps_rec_alloc_t, ts), sizeof a.ts);
            memcpy(&a.ptr, r + offsetof(ps_rec_alloc_t, ptr), sizeof a.ptr);
            memcpy(&a.size, r + offsetof(ps_rec_alloc_t, size), sizeof a.size);
            memcpy(&a.align, r + offsetof(ps_rec_alloc_t, align), sizeof a.align);
            *col[PS_COL_OP]++ = PS_COLS_OP(PS_COLS_ALLOC, h.aux, a.align != 0);
            uint64_t tq = a.ts >> q, dt = tq - last_tq;
            unsigned head = dt < 15 ? (unsigned)dt : 15;
            if (head == 15)
                col[PS_COL_TSX] = ps_uv_put(col[PS_COL_TSX], ps_zz(dt - 15));
            last_tq = tq;
            const uint32_t hi = ps_cols_hash(a.ptr);
            ps_cols_lifo_t *const cl = &e->lifo[ps_cols_class(a.size)];
            unsigned hit = ps_cols_lifo_take(cl, a.ptr);
            if (hit == 1) {
                head |= 1u << 4;
            } else if (hit) {
                head |= 2u << 4;
                *col[PS_COL_AREF]++ = (unsigned char)hit;
            } else {
                const uint32_t fh = hi & (PS_COLS_FWINDOW - 1);
                uint64_t fage = nfree + 1 - e->fhash[fh].fseq1; /* 1: the latest free */
                if (e->fhash[fh].ptr == a.ptr && e->fhash[fh].fseq1 > fbase &&
                    fage <= PS_COLS_FWINDOW && a.ptr) {
                    head |= 2u << 4;
                    if (fage < PS_COLS_FAGE_ESC) {
                        *col[PS_COL_AREF]++ = (unsigned char)(PS_COLS_DEPTH + fage);
                    } else {
                        *col[PS_COL_AREF]++ = 255;
                        col[PS_COL_PTR] = ps_uv_put(col[PS_COL_PTR], fage - PS_COLS_FAGE_ESC);
                    }
                } else if (a.ptr == pred && a.ptr) {
                    head |= 3u << 4;
                } else {
                    col[PS_COL_PTR] = ps_cols_put_delta(col[PS_COL_PTR], a.ptr - pred);
                }
                pred = ps_cols_next(a.ptr, a.size);
            }
            last_ptr = a.ptr;
            *col[PS_COL_SIZE]++ = (unsigned char)a.size;
            const uint64_t sh = a.size >> 8;
            if (PS_COLS_LIKELY(sh < 3 + 0x80)) {
                /* (a branch on sh < 3 mispredicted a third of churn's allocations) no
                 * branch: sh - 3 is stored as its one-byte varint either way and kept when sh
                 * >= 3 (this record's share of the column's room, ps_cols_room, has the
                 * byte; a byte past the column's end is overwritten or never copied) */
                head |= (unsigned)(sh < 3 ? sh : 3) << 6;
                *col[PS_COL_SIZEH] = (unsigned char)(sh - 3);
                col[PS_COL_SIZEH] += sh >= 3;
            } else {
                head |= 3u << 6;
                col[PS_COL_SIZEH] = ps_uv_put(col[PS_COL_SIZEH], sh - 3);
            }
            *col[PS_COL_AHEAD]++ = (unsigned char)head;
            col[PS_COL_STACK] = ps_uv_put(col[PS_COL_STACK], a.stack);
            if (a.align)
                col[PS_COL_ALIGN] = ps_uv_put(col[PS_COL_ALIGN], a.align);
            if (a.ptr) {
                ps_cols_slot_t *s = &e->hash[hi];
                s->ptr = a.ptr;
                const uint64_t li = nalloc++;
                s->idx1 = nalloc;
                s->lifo = cl;
                e->live[(li >> 6) & (PS_COLS_WINDOW / 64 - 1)] |= (uint64_t)1 << (li & 63);
            }
        } else if (kind == PS_COLS_FREE) {
            struct {
                uint32_t stack;
                uint64_t ts, ptr;
            } f;
            memcpy(&f.stack, r + offsetof(ps_rec_free_t, stack), sizeof f.stack);
            memcpy(&f.ts, r + offsetof(ps_rec_free_t, ts), sizeof f.ts);
            memcpy(&f.ptr, r + offsetof(ps_rec_free_t, ptr), sizeof f.ptr);
            *col[PS_COL_OP]++ = PS_COLS_OP(PS_COLS_FREE, h.aux & 0x1f, h.aux & 0x80);
            uint64_t tq = f.ts >> q, dt = tq - last_tq;
            unsigned head = dt < 15 ? (unsigned)dt : 15;
            if (head == 15)
                col[PS_COL_TSX] = ps_uv_put(col[PS_COL_TSX], ps_zz(dt - 15));
            last_tq = tq;
            const uint32_t hi = ps_cols_hash(f.ptr);
            uint64_t rank;
            if (ps_cols_enc_rank(e, f.ptr, hi, base, nalloc, 1, &rank)) {
                if (PS_COLS_LIKELY(rank < 14 + PS_COLS_RANK_ESC)) {
                    /* (a branch on rank < 14 mispredicted a fifth of churn's frees) no
                     * branch: the byte of fref is stored either way and kept when rank >= 14
                     * (this record's share of the room has it, as for sizeh above) */
                    head |= (unsigned)(rank < 14 ? rank + 1 : 15) << 4;
                    *col[PS_COL_FREF] = (unsigned char)(rank - 14);
                    col[PS_COL_FREF] += rank >= 14;
                } else {
                    head |= 15u << 4;
                    *col[PS_COL_FREF]++ = PS_COLS_RANK_ESC;
                    col[PS_COL_PTR] = ps_uv_put(col[PS_COL_PTR], rank - 14 - PS_COLS_RANK_ESC);
                }
            } else {
                col[PS_COL_PTR] = ps_cols_put_delta(col[PS_COL_PTR], f.ptr - last_ptr);
            }
            *col[PS_COL_FHEAD]++ = (unsigned char)head;
            last_ptr = f.ptr;
            e->fhash[hi & (PS_COLS_FWINDOW - 1)].ptr = f.ptr;
            e->fhash[hi & (PS_COLS_FWINDOW - 1)].fseq1 = ++nfree;
            col[PS_COL_FSTACK] = ps_uv_put(col[PS_COL_FSTACK], f.stack);
        } else if (kind == PS_COLS_REALLOC) {
            ps_rec_realloc_t a;
            memcpy(&a, r, sizeof a);
            *col[PS_COL_OP]++ = PS_COLS_OP(PS_COLS_REALLOC, h.aux, 0);
            heap_only = 0;
            uint64_t tq0 = a.ts_before >> q, tq = a.ts >> q;
            col[PS_COL_TSX] = ps_uv_put(col[PS_COL_TSX], ps_zz(tq0 - last_tq));
            col[PS_COL_TSX] = ps_uv_put(col[PS_COL_TSX], ps_zz(tq - tq0));
            last_tq = tq;
            uint64_t rank;
            if (ps_cols_enc_rank(e, a.old_ptr, ps_cols_hash(a.old_ptr), base, nalloc, 0,
                                 &rank)) {
                if (rank < PS_COLS_RANK_ESC - 1) {
                    *col[PS_COL_FREF]++ = (unsigned char)(rank + 1);
                } else {
                    *col[PS_COL_FREF]++ = PS_COLS_RANK_ESC;
                    col[PS_COL_PTR] = ps_uv_put(col[PS_COL_PTR], rank - (PS_COLS_RANK_ESC - 1));
                }
            } else {
                *col[PS_COL_FREF]++ = 0;
                col[PS_COL_PTR] = ps_cols_put_delta(col[PS_COL_PTR], a.old_ptr - last_ptr);
            }
            col[PS_COL_PTR] = ps_cols_put_delta(col[PS_COL_PTR], a.new_ptr - a.old_ptr);
            last_ptr = a.new_ptr ? a.new_ptr : a.old_ptr;
            *col[PS_COL_SIZE]++ = (unsigned char)a.size;
            col[PS_COL_SIZEH] = ps_uv_put(col[PS_COL_SIZEH], a.size >> 8);
            col[PS_COL_STACK] = ps_uv_put(col[PS_COL_STACK], a.stack);
            if (a.new_ptr) {
                ps_cols_slot_t *s = &e->hash[ps_cols_hash(a.new_ptr)];
                s->ptr = a.new_ptr;
                const uint64_t li = nalloc++;
                s->idx1 = nalloc;
                s->lifo = &e->lifo[ps_cols_class(a.size)];
                e->live[(li >> 6) & (PS_COLS_WINDOW / 64 - 1)] |= (uint64_t)1 << (li & 63);
            }
        } else {
            *col[PS_COL_OP]++ = 0;
            heap_only = 0;
            n_other++;
            if (ps_rec_is_event(h.type))
                nevents++;
            memcpy(col[PS_COL_OTHER], r, h.len);
            col[PS_COL_OTHER] += h.len;
            const unsigned ts_off = ps_rec_ts_offset(h.type);
            if (ts_off && h.len >= ts_off + 8) {
                memcpy(&t_last, r + ts_off, sizeof t_last);
                heap_at_t = (uint32_t)(col[PS_COL_OP] - c0[PS_COL_OP]) - n_other;
            }
        }
    }
    e->nalloc = nalloc;
    e->nfree = nfree;
    if (next != end)
        return 0;
    const uint32_t nheap = (uint32_t)(col[PS_COL_OP] - c0[PS_COL_OP]) - n_other;
    info->nevents = nevents + nheap;
    info->heap_only = heap_only;
    /* the first timed record's (not 0), found once here instead of tested at each record */
    for (size_t pos = 0; pos < len && !info->t_first;) {
        ps_rec_hdr_t h;
        memcpy(&h, src + pos, sizeof h);
        info->t_first = ps_cols_rec_time(src + pos, h, ps_cols_kind(h), q);
        pos += h.len;
    }
    info->t_last = nheap != heap_at_t ? last_tq << q : t_last;
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
 * any number of chunks. ~130 KiB. */
typedef struct ps_cols_dec_s {
    struct {
        uint64_t ptr;
        uint32_t cls; /* its size class (ps_cols_class): what a FREE of it needs */
    } ring[PS_COLS_WINDOW];
    uint64_t fring[1024]; /* format 1: PS_COLS1_FWINDOW; format 2: PS_COLS_FWINDOW */
    ps_cols_lifo_t lifo[PS_COLS_NCLASS];
    ps_cols_live_t live;
} ps_cols_dec_t;

/* The n-th allocation of the chunk (either format): its pointer and size class into the
 * ring. */
static inline __attribute__((always_inline)) void
ps_cols_ring_put(ps_cols_dec_t *d, uint64_t n, uint64_t ptr, unsigned cls)
{
    d->ring[n & (PS_COLS_WINDOW - 1)].ptr = ptr;
    d->ring[n & (PS_COLS_WINDOW - 1)].cls = cls;
}

/* The decoder's side of ps_cols_enc_rank: the pointer (and size class) of the live
 * allocation of that rank, taken out of the list; -1 if none. */
static inline __attribute__((always_inline)) int ps_cols_dec_rank(ps_cols_dec_t *d, uint64_t rank,
                                                                  uint64_t *ptr, unsigned *cls)
{
    ps_cols_live_t *l = &d->live;
    if (rank >= l->n)
        return -1;
    const uint32_t i = l->n - 1 - (uint32_t)rank;
    const uint32_t k = l->v[l->head + i] & (PS_COLS_WINDOW - 1);
    *ptr = d->ring[k].ptr;
    *cls = d->ring[k].cls;
    ps_cols_live_del(l, i);
    return 0;
}

/* The decoders' size-class lists are valid in this generation; ps_cols_dec_begin empties them. */
#define PS_COLS_DEC_GEN 1u

/* A decoder's start (either format: a header of hdsize bytes, its ncol column lengths at
 * offset 8, checked by ps_cols_xlen): the columns [c[i], ce[i]) and the size-class lists
 * emptied (the state may be uninitialized memory). -1 if the body is shorter than its header. */
static inline int ps_cols_dec_begin(ps_cols_dec_t *d, const unsigned char *in, size_t n,
                                    size_t hdsize, unsigned ncol, const unsigned char **c,
                                    const unsigned char **ce)
{
    if (n < hdsize)
        return -1;
    const unsigned char *p = in + hdsize;
    for (unsigned i = 0; i < ncol; i++) {
        uint32_t len;
        memcpy(&len, in + 8 + 4 * (size_t)i, sizeof len);
        c[i] = p;
        p += len;
        ce[i] = p;
    }
    for (unsigned i = 0; i < PS_COLS_NCLASS; i++)
        d->lifo[i].gen = PS_COLS_DEC_GEN, d->lifo[i].n = 0;
    return 0;
}

/* The decoders' copy of a record of the "other" column (kept as it is) to the output; -1 if
 * it is cut or does not fit. */
static inline int ps_cols_copy_other(const unsigned char **c, const unsigned char *ce,
                                     unsigned char **o, const unsigned char *oe)
{
    ps_rec_hdr_t h;
    if ((size_t)(ce - *c) < sizeof h)
        return -1;
    memcpy(&h, *c, sizeof h);
    if (h.len < sizeof h || h.len > (size_t)(ce - *c) || h.len > (size_t)(oe - *o))
        return -1;
    memcpy(*o, *c, h.len);
    *c += h.len;
    *o += h.len;
    return 0;
}

/* A decoder's end: every column (but the op column) read to its end and the output full. */
static inline int ps_cols_all_read(const unsigned char *const *c, const unsigned char *const *ce,
                                   unsigned n, const unsigned char *o, const unsigned char *oe)
{
    for (unsigned i = 1; i < n; i++)
        if (c[i] != ce[i])
            return -1;
    return o == oe ? 0 : -1;
}

/* A format 2 decoder's running state: the columns [c[i], ce[i]) and what the records coded
 * so far leave for the next (ps_cols_decode2 and ps_cols_decode2_heap share its steps). */
typedef struct ps_cols_st2_s {
    const unsigned char *c[PS_COL_N], *ce[PS_COL_N];
    uint64_t last_tq, last_ptr, pred;
    uint32_t nalloc, nfree;
    unsigned q;
} ps_cols_st2_t;

/* A format 2 decoder's start: the columns, the state emptied. -1 if the body is cut. */
static inline int ps_cols_st2_begin(ps_cols_dec_t *d, ps_cols_st2_t *s, const unsigned char *in,
                                    size_t n)
{
    if (ps_cols_dec_begin(d, in, n, sizeof(ps_cols_hdr_t), PS_COL_N, s->c, s->ce))
        return -1;
    d->live.head = d->live.n = 0;
    s->q = in[1]; /* the header's q */
    s->last_tq = s->last_ptr = s->pred = 0;
    s->nalloc = s->nfree = 0;
    return 0;
}

/* Format 2: a heap record's time from its head byte's low 4 bits (15: more in TSX), the
 * chunk's last time plus that many quanta; -1 if malformed. */
static inline __attribute__((always_inline)) int ps_cols_dec2_ts(ps_cols_st2_t *s, unsigned head,
                                                                 uint64_t *ts)
{
    uint64_t v = head & 15, w;
    if (v == 15) {
        if (ps_uv_get(&s->c[PS_COL_TSX], s->ce[PS_COL_TSX], &w))
            return -1;
        v += ps_unzz(w);
    }
    s->last_tq += v;
    *ts = s->last_tq << s->q;
    return 0;
}

/* An ALLOC's pointer by reference (its head's code 2): AREF's byte names a block freed
 * lately, by its age among the frees (above PS_COLS_DEPTH; 255: the age's rest in PTR), whose
 * address is reused and becomes the size-ordered prediction, or a rank on its size class'
 * list. -1 for a reference to nothing (a corrupt chunk). One copy for every decoder. */
static inline __attribute__((always_inline)) int
ps_cols_dec_aref(ps_cols_dec_t *d, const unsigned char **c, const unsigned char *const *ce,
                 uint64_t nfree, unsigned cls, uint64_t size, uint64_t *ptr, uint64_t *pred)
{
    if (c[PS_COL_AREF] == ce[PS_COL_AREF])
        return -1;
    const unsigned ref = *c[PS_COL_AREF]++;
    if (ref <= PS_COLS_DEPTH)
        return ps_cols_dec_lifo_get(&d->lifo[cls], ref, ptr);
    uint64_t age = ref - PS_COLS_DEPTH, w;
    if (ref == 255) {
        if (ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w) || w > PS_COLS_FWINDOW)
            return -1;
        age += w;
    }
    if (age > nfree || age > PS_COLS_FWINDOW)
        return -1;
    *ptr = d->fring[(nfree - age) & (PS_COLS_FWINDOW - 1)];
    *pred = ps_cols_next(*ptr, size);
    return 0;
}

/* Format 2: an ALLOC of op's record, all but its header into *a; -1 if malformed. counted
 * (a constant): the chunk's ALLOC heads and sizes were counted (one byte each in their
 * columns: no end test) and it has at most PS_COLS_WINDOW allocations (the live list never
 * drops one nor moves), ps_cols_decode2_heap. */
static inline __attribute__((always_inline)) int
ps_cols_dec2_alloc(ps_cols_dec_t *d, ps_cols_st2_t *s, unsigned op, ps_rec_alloc_t *a,
                   const int counted)
{
    const unsigned char **c = s->c, *const *ce = s->ce;
    uint64_t size, stack, align = 0, v, w;
    if ((!counted && (c[PS_COL_AHEAD] == ce[PS_COL_AHEAD] || c[PS_COL_SIZE] == ce[PS_COL_SIZE])) ||
        ps_uv_get(&c[PS_COL_STACK], ce[PS_COL_STACK], &stack) || stack > UINT32_MAX ||
        ((op & 0x80) && ps_uv_get(&c[PS_COL_ALIGN], ce[PS_COL_ALIGN], &align)))
        return -1;
    const unsigned head = *c[PS_COL_AHEAD]++;
    size = head >> 6;
    if (size == 3) {
        if (ps_uv_get(&c[PS_COL_SIZEH], ce[PS_COL_SIZEH], &v) || v >> 55)
            return -1;
        size += v;
    }
    size = size << 8 | *c[PS_COL_SIZE]++;
    if (ps_cols_dec2_ts(s, head, &a->ts))
        return -1;
    switch ((head >> 4) & 3) {
    case 0:
        if (ps_cols_get_delta(&c[PS_COL_PTR], ce[PS_COL_PTR], &w))
            return -1;
        a->ptr = s->pred + w;
        s->pred = ps_cols_next(a->ptr, size);
        break;
    case 1:
        if (ps_cols_dec_lifo_get(&d->lifo[ps_cols_class(size)], 1, &a->ptr))
            return -1;
        break;
    case 2:
        if (ps_cols_dec_aref(d, c, ce, s->nfree, ps_cols_class(size), size, &a->ptr, &s->pred))
            return -1;
        break;
    default:
        if (!s->pred)
            return -1;
        a->ptr = s->pred;
        s->pred = ps_cols_next(a->ptr, size);
        break;
    }
    s->last_ptr = a->ptr;
    a->size = size;
    a->stack = (uint32_t)stack;
    a->align = align;
    if (a->ptr) {
        ps_cols_ring_put(d, s->nalloc, a->ptr, ps_cols_class(size));
        if (counted)
            ps_cols_live_add_small(&d->live, s->nalloc++);
        else
            ps_cols_live_add(&d->live, s->nalloc++);
    }
    return 0;
}

/* Format 2: a FREE, all but its header into *f; -1 if malformed. counted (a constant): the
 * chunk's FREE heads were counted (no end test). */
static inline __attribute__((always_inline)) int
ps_cols_dec2_free(ps_cols_dec_t *d, ps_cols_st2_t *s, ps_rec_free_t *f, const int counted)
{
    const unsigned char **c = s->c, *const *ce = s->ce;
    uint64_t stack, w;
    if ((!counted && c[PS_COL_FHEAD] == ce[PS_COL_FHEAD]) ||
        ps_uv_get(&c[PS_COL_FSTACK], ce[PS_COL_FSTACK], &stack) || stack > UINT32_MAX)
        return -1;
    const unsigned head = *c[PS_COL_FHEAD]++;
    if (ps_cols_dec2_ts(s, head, &f->ts))
        return -1;
    unsigned ref = head >> 4;
    if (ref == 0) {
        if (ps_cols_get_delta(&c[PS_COL_PTR], ce[PS_COL_PTR], &w))
            return -1;
        f->ptr = s->last_ptr + w;
    } else {
        uint64_t rank = ref - 1;
        unsigned cls;
        if (ref == 15) {
            if (c[PS_COL_FREF] == ce[PS_COL_FREF])
                return -1;
            rank += *c[PS_COL_FREF]++;
            if (rank == 14 + PS_COLS_RANK_ESC) {
                if (ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w) || w >= PS_COLS_WINDOW)
                    return -1;
                rank += w;
            }
        }
        if (ps_cols_dec_rank(d, rank, &f->ptr, &cls))
            return -1;
        ps_cols_lifo_put(&d->lifo[cls], f->ptr);
    }
    s->last_ptr = f->ptr;
    d->fring[s->nfree++ & (PS_COLS_FWINDOW - 1)] = f->ptr;
    f->stack = (uint32_t)stack;
    return 0;
}

/* Decodes a format 2 body (its header checked by ps_cols_xlen) into out[0, xlen). */
static inline int ps_cols_decode2(ps_cols_dec_t *d, const unsigned char *in, size_t n,
                                  unsigned char *out, size_t xlen)
{
    ps_cols_st2_t s;
    if (ps_cols_st2_begin(d, &s, in, n))
        return -1;
    const unsigned char **c = s.c, *const *ce = s.ce;
    unsigned char *o = out, *oe = out + xlen;
    const unsigned char *ops = c[PS_COL_OP], *ops_end = ce[PS_COL_OP];
    for (; ops < ops_end; ops++) {
        const unsigned op = *ops, kind = (op >> 5) & 3, fn = op & 0x1f;
        uint64_t v, w;
        switch (kind) {
        case PS_COLS_ALLOC: {
            ps_rec_alloc_t a; /* every field set: no zeroing first */
            a.h = (ps_rec_hdr_t){PS_REC_ALLOC, (uint8_t)fn, sizeof(ps_rec_alloc_t)};
            if ((size_t)(oe - o) < sizeof a || ps_cols_dec2_alloc(d, &s, op, &a, 0))
                return -1;
            memcpy(o, &a, sizeof a);
            o += sizeof a;
            break;
        }
        case PS_COLS_FREE: {
            ps_rec_free_t f; /* every field set */
            f.h = (ps_rec_hdr_t){PS_REC_FREE, (uint8_t)(fn | (op & 0x80)), sizeof(ps_rec_free_t)};
            if ((size_t)(oe - o) < sizeof f || ps_cols_dec2_free(d, &s, &f, 0))
                return -1;
            memcpy(o, &f, sizeof f);
            o += sizeof f;
            break;
        }
        case PS_COLS_REALLOC: {
            ps_rec_realloc_t a = {.h = {PS_REC_REALLOC, (uint8_t)fn, sizeof(ps_rec_realloc_t)}};
            uint64_t v2, w2, size, stack;
            if ((op & 0x80) || (size_t)(oe - o) < sizeof a ||
                c[PS_COL_FREF] == ce[PS_COL_FREF] || c[PS_COL_SIZE] == ce[PS_COL_SIZE] ||
                ps_uv_get(&c[PS_COL_TSX], ce[PS_COL_TSX], &v) ||
                ps_uv_get(&c[PS_COL_TSX], ce[PS_COL_TSX], &v2) ||
                ps_uv_get(&c[PS_COL_SIZEH], ce[PS_COL_SIZEH], &size) || size >> 56 ||
                ps_uv_get(&c[PS_COL_STACK], ce[PS_COL_STACK], &stack) || stack > UINT32_MAX)
                return -1;
            size = size << 8 | *c[PS_COL_SIZE]++;
            s.last_tq += ps_unzz(v);
            a.ts_before = s.last_tq << s.q;
            s.last_tq += ps_unzz(v2);
            a.ts = s.last_tq << s.q;
            const unsigned ref = *c[PS_COL_FREF]++;
            if (ref == 0) {
                if (ps_cols_get_delta(&c[PS_COL_PTR], ce[PS_COL_PTR], &w))
                    return -1;
                a.old_ptr = s.last_ptr + w;
            } else {
                uint64_t rank = ref - 1;
                unsigned ocls;
                if (ref == PS_COLS_RANK_ESC) {
                    if (ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w) || w >= PS_COLS_WINDOW)
                        return -1;
                    rank += w;
                }
                if (ps_cols_dec_rank(d, rank, &a.old_ptr, &ocls))
                    return -1;
            }
            if (ps_cols_get_delta(&c[PS_COL_PTR], ce[PS_COL_PTR], &w2))
                return -1;
            a.new_ptr = a.old_ptr + w2;
            s.last_ptr = a.new_ptr ? a.new_ptr : a.old_ptr;
            a.size = size;
            a.stack = (uint32_t)stack;
            if (a.new_ptr) {
                ps_cols_ring_put(d, s.nalloc, a.new_ptr, ps_cols_class(size));
                ps_cols_live_add(&d->live, s.nalloc++);
            }
            memcpy(o, &a, sizeof a);
            o += sizeof a;
            break;
        }
        default: /* PS_COLS_OTHER: op 0 only */
            if (op != 0 || ps_cols_copy_other(&c[PS_COL_OTHER], ce[PS_COL_OTHER], &o, oe))
                return -1;
            break;
        }
    }
    return ps_cols_all_read(c, ce, PS_COL_N, o, oe);
}

/* ---- format 1 (traces written before body format 2, 2026-12-01): decoder only ---------------- */

enum { PS_COL1_OP, PS_COL1_TS, PS_COL1_PTR, PS_COL1_SIZE, PS_COL1_STACK, PS_COL1_ALIGN,
       PS_COL1_OTHER, PS_COL1_N };
#define PS_COLS1_FWINDOW 1024u /* frees an ALLOC can name by age */

typedef struct ps_cols_hdr1_s {
    uint8_t format; /* 1 */
    uint8_t q;
    uint16_t reserved;
    uint32_t xlen;
    uint32_t col_len[PS_COL1_N];
} ps_cols_hdr1_t; /* 36 bytes */
_Static_assert(offsetof(ps_cols_hdr1_t, q) == 1 && offsetof(ps_cols_hdr1_t, col_len) == 8 &&
                   sizeof(ps_cols_hdr1_t) == 8 + 4 * PS_COL1_N, "ps_cols_dec_begin's layout");

/* Decodes a format 1 body (its header checked by ps_cols_xlen). */
static inline int ps_cols_decode1(ps_cols_dec_t *d, const unsigned char *in, size_t n,
                                  unsigned char *out, size_t xlen)
{
    const unsigned char *c[PS_COL1_N], *ce[PS_COL1_N];
    if (ps_cols_dec_begin(d, in, n, sizeof(ps_cols_hdr1_t), PS_COL1_N, c, ce))
        return -1;
    const uint32_t gen = PS_COLS_DEC_GEN;
    const unsigned q = in[1]; /* the header's q */
    uint64_t last_tq = 0, last_ptr = 0, nalloc = 0, nfree = 0, pred = 0;
    unsigned char *o = out, *oe = out + xlen;
    const unsigned char *ops = c[PS_COL1_OP], *ops_end = ce[PS_COL1_OP];
    for (; ops < ops_end; ops++) {
        const unsigned op = *ops, kind = (op >> 5) & 3, fn = op & 0x1f;
        uint64_t v, w;
        switch (kind) {
        case PS_COLS_ALLOC: {
            ps_rec_alloc_t a = {.h = {PS_REC_ALLOC, (uint8_t)fn, sizeof(ps_rec_alloc_t)}};
            uint64_t size, stack, align = 0;
            if ((size_t)(oe - o) < sizeof a || ps_uv_get(&c[PS_COL1_TS], ce[PS_COL1_TS], &v) ||
                ps_uv_get(&c[PS_COL1_PTR], ce[PS_COL1_PTR], &w) ||
                ps_uv_get(&c[PS_COL1_SIZE], ce[PS_COL1_SIZE], &size) ||
                ps_uv_get(&c[PS_COL1_STACK], ce[PS_COL1_STACK], &stack) || stack > UINT32_MAX ||
                ((op & 0x80) && ps_uv_get(&c[PS_COL1_ALIGN], ce[PS_COL1_ALIGN], &align)))
                return -1;
            last_tq += ps_unzz(v);
            a.ts = last_tq << q;
            if (w == 0) {
                if (ps_uv_get(&c[PS_COL1_PTR], ce[PS_COL1_PTR], &w))
                    return -1;
                a.ptr = pred + ps_unzz(w);
                pred = ps_cols_next(a.ptr, size);
            } else if (w > PS_COLS_DEPTH) {
                w -= PS_COLS_DEPTH;
                if (w > nfree || w > PS_COLS1_FWINDOW)
                    return -1;
                a.ptr = d->fring[(nfree - w) & (PS_COLS1_FWINDOW - 1)];
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
                ps_cols_ring_put(d, nalloc, a.ptr, ps_cols_class(size));
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
            if ((size_t)(oe - o) < sizeof f || ps_uv_get(&c[PS_COL1_TS], ce[PS_COL1_TS], &v) ||
                ps_uv_get(&c[PS_COL1_PTR], ce[PS_COL1_PTR], &w) ||
                ps_uv_get(&c[PS_COL1_STACK], ce[PS_COL1_STACK], &stack) || stack > UINT32_MAX)
                return -1;
            last_tq += ps_unzz(v);
            f.ts = last_tq << q;
            if (w == 0) {
                if (ps_uv_get(&c[PS_COL1_PTR], ce[PS_COL1_PTR], &w))
                    return -1;
                f.ptr = last_ptr + ps_unzz(w);
            } else {
                if (w > nalloc || w > PS_COLS_WINDOW)
                    return -1;
                uint64_t i = (nalloc - w) & (PS_COLS_WINDOW - 1);
                f.ptr = d->ring[i].ptr;
                ps_cols_lifo_push(&d->lifo[d->ring[i].cls], gen, f.ptr);
            }
            last_ptr = f.ptr;
            d->fring[nfree++ & (PS_COLS1_FWINDOW - 1)] = f.ptr;
            f.stack = (uint32_t)stack;
            memcpy(o, &f, sizeof f);
            o += sizeof f;
            break;
        }
        case PS_COLS_REALLOC: {
            ps_rec_realloc_t a = {.h = {PS_REC_REALLOC, (uint8_t)fn, sizeof(ps_rec_realloc_t)}};
            uint64_t v2, w2, size, stack;
            if ((op & 0x80) || (size_t)(oe - o) < sizeof a ||
                ps_uv_get(&c[PS_COL1_TS], ce[PS_COL1_TS], &v) ||
                ps_uv_get(&c[PS_COL1_TS], ce[PS_COL1_TS], &v2) ||
                ps_uv_get(&c[PS_COL1_PTR], ce[PS_COL1_PTR], &w) ||
                ps_uv_get(&c[PS_COL1_PTR], ce[PS_COL1_PTR], &w2) ||
                ps_uv_get(&c[PS_COL1_SIZE], ce[PS_COL1_SIZE], &size) ||
                ps_uv_get(&c[PS_COL1_STACK], ce[PS_COL1_STACK], &stack) || stack > UINT32_MAX)
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
                ps_cols_ring_put(d, nalloc, a.new_ptr, ps_cols_class(size));
                nalloc++;
            }
            memcpy(o, &a, sizeof a);
            o += sizeof a;
            break;
        }
        default: /* PS_COLS_OTHER: op 0 only */
            if (op != 0 || ps_cols_copy_other(&c[PS_COL1_OTHER], ce[PS_COL1_OTHER], &o, oe))
                return -1;
            break;
        }
    }
    return ps_cols_all_read(c, ce, PS_COL1_N, o, oe);
}

/* ---- either format ------------------------------------------------------------------------ */

/* The length of the records a body of n bytes decodes to (its header's xlen, at most
 * PERFSHIM_MAX_CHUNK_USIZE), 0 when the header is malformed (or of an unknown format). */
static inline uint32_t ps_cols_xlen(const unsigned char *in, size_t n)
{
    uint32_t len[PS_COL_N];
    unsigned ncol;
    size_t hlen;
    if (n < 8)
        return 0;
    if (in[0] == PS_COLS_FORMAT)
        ncol = PS_COL_N, hlen = sizeof(ps_cols_hdr_t);
    else if (in[0] == 1)
        ncol = PS_COL1_N, hlen = sizeof(ps_cols_hdr1_t);
    else
        return 0;
    if (n < hlen)
        return 0;
    uint16_t reserved;
    uint32_t xlen;
    memcpy(&reserved, in + 2, 2);
    memcpy(&xlen, in + 4, 4);
    memcpy(len, in + 8, ncol * sizeof len[0]);
    uint64_t sum = 0;
    for (unsigned i = 0; i < ncol; i++)
        sum += len[i];
    if (in[1] > PS_COLS_Q_MAX || reserved || sum != n - hlen || xlen > PERFSHIM_MAX_CHUNK_USIZE)
        return 0;
    return xlen;
}

/* The records of a body that ps_cols_xlen accepted (its op column's length). */
static inline uint32_t ps_cols_nrec(const unsigned char *in)
{
    uint32_t len;
    memcpy(&len, in + 8, sizeof len);
    return len;
}

/* Decodes the body in[0, n) into out (exactly xlen = ps_cols_xlen(in, n) bytes): the fixed
 * records it stands for. Returns 0, or -1 when it is malformed (out partly written). */
static inline int ps_cols_decode(ps_cols_dec_t *d, const unsigned char *in, size_t n,
                                 unsigned char *out, size_t xlen)
{
    if (ps_cols_xlen(in, n) != xlen || xlen == 0)
        return -1;
    return in[0] == PS_COLS_FORMAT ? ps_cols_decode2(d, in, n, out, xlen)
                                   : ps_cols_decode1(d, in, n, out, xlen);
}

/* The records of a block of ps_cols_dec2_heap_run, at most. */
#define PS_COLS_BLOCK 256u

/* The heap run's time step (ps_cols_dec2_heap_run, ALLOC and FREE alike): the head's delta
 * in ns from the run's table dt (v << q for v < 16), and for 15 the rest from TSX (zigzag, in
 * units of 2^q). -1 for a TSX column read past its end. */
static inline __attribute__((always_inline)) int
ps_cols_ts_step(uint64_t *ts, const uint64_t *dt, unsigned head, const unsigned char **c,
                const unsigned char *const *ce, unsigned q)
{
    *ts += dt[head & 15];
    if (PS_COLS_UNLIKELY((head & 15) == 15)) {
        uint64_t w;
        if (ps_uv_get(&c[PS_COL_TSX], ce[PS_COL_TSX], &w))
            return -1;
        *ts += ps_unzz(w) << q;
    }
    return 0;
}

/* ps_cols_decode2_heap's records, in order: the steps of ps_cols_dec2_alloc and
 * ps_cols_dec2_free (the same checks, the same results), with the state the records use most
 * in locals (the column cursors, the times, the live list's ends: the stores of the callbacks
 * and of the lists would have the compiler load them again from *d and *s after each) and the
 * counted columns (heads, sizes) read without an end test. Written back at the end.
 *
 * In blocks of up to PS_COLS_BLOCK records, each block's end tests done once at its start:
 * its records read a byte each of STACK, FSTACK, SIZEH and FREF before knowing whether it is
 * theirs (a one-byte stack, size >> 8 or rank; read before the head says whether it is there),
 * so a block has at most as many records of a kind as the body has bytes after those
 * cursors: the reads stay in the body, past a column's end perhaps (into the next), which the
 * end's test of every column (ps_cols_all_read) rejects, as the steps before did at once; and
 * the live list needs no move and drops no entry when the block's allocations cannot make
 * one. A block takes every record; one whose stack or size >> 8 is longer than a byte (read to
 * its column's end) ends its block; the columns read only by the rarer records (TSX, PTR,
 * AREF, ALIGN) are read to their ends. The general steps (each read to its column's end) take
 * the records of a block cut to nothing near the body's end. */
static inline __attribute__((always_inline)) int
ps_cols_dec2_heap_run(ps_cols_dec_t *d, ps_cols_st2_t *s, const unsigned char *ops, size_t nops,
                      size_t nalloc_ops,
                      void (*on_alloc)(void *ctx, size_t i, const ps_rec_alloc_t *a),
                      void (*on_free)(void *ctx, size_t i, const ps_rec_free_t *f), void *ctx)
{
    const unsigned char **c = s->c, *const *ce = s->ce;
    const unsigned char *ah = c[PS_COL_AHEAD], *fh = c[PS_COL_FHEAD];
    /* an ALLOC's size byte at ah + szo (the two move together: one byte an ALLOC each) */
    const ptrdiff_t szo = c[PS_COL_SIZE] - ah;
    const unsigned char *st = c[PS_COL_STACK], *const st_end = ce[PS_COL_STACK];
    const unsigned char *fst = c[PS_COL_FSTACK], *const fst_end = ce[PS_COL_FSTACK];
    const unsigned char *sh = c[PS_COL_SIZEH], *const sh_end = ce[PS_COL_SIZEH];
    const unsigned char *fr = c[PS_COL_FREF], *const fr_end = ce[PS_COL_FREF];
    const unsigned char *const body_end = ce[PS_COL_N - 1];
    uint64_t last_ptr = s->last_ptr, pred = s->pred;
    uint32_t nalloc = s->nalloc, nfree = s->nfree;
    const unsigned q = s->q;
    /* the time in ns, last_tq << q: (t + v) << q is (t << q) + (v << q) modulo 2^64, which
     * the times are; a head's delta in ns from a table (no shift by q in the loop) */
    uint64_t ts = s->last_tq << q, dt[16];
    for (unsigned v = 0; v < 16; v++)
        dt[v] = (uint64_t)v << q;
    ps_cols_live_t *l = &d->live;
    ps_cols_lv_t *const lv = l->v;
    uint32_t lhead = l->head, ln = l->n;
    int rc = -1;
    size_t i = 0;
    while (i < nops) {
        /* ---- a block: its records' reads in the body, the live list's room ---- */
        size_t k = nops - i < PS_COLS_BLOCK ? nops - i : PS_COLS_BLOCK;
        /* the ALLOCs read STACK and SIZEH, the FREEs FSTACK and FREF: a cursor with at least
         * a byte for each of the records of its kind still to come (the chunk's: counted)
         * does not limit the block */
        const size_t left_a = nalloc_ops - (i - nfree), left_f = nops - nalloc_ops - nfree;
        size_t r0 = (size_t)(body_end - st), r1 = (size_t)(body_end - fst);
        size_t r2 = (size_t)(body_end - sh), r3 = (size_t)(body_end - fr);
        r0 = r0 >= left_a ? SIZE_MAX : r0, r2 = r2 >= left_a ? SIZE_MAX : r2;
        r1 = r1 >= left_f ? SIZE_MAX : r1, r3 = r3 >= left_f ? SIZE_MAX : r3;
        k = k < r0 ? k : r0;
        k = k < r1 ? k : r1;
        k = k < r2 ? k : r2;
        k = k < r3 ? k : r3;
        if (lhead + ln + k > 2 * PS_COLS_WINDOW) { /* ln <= PS_COLS_WINDOW: room after this */
            memmove(lv, lv + lhead, ln * sizeof lv[0]);
            lhead = 0;
        }
        /* whether an allocation of the block may drop the oldest entry (one that leaves the
         * window: the oldest only gets younger as the block's frees take entries out) */
        const int evict = ln && ps_cols_live_age(nalloc, lv[lhead]) + k > PS_COLS_WINDOW;
        /* the list from its oldest entry (lv + lhead: one register less in the loop); the
         * stacks at ah + sto and fh + fsto (the common steps move them together: two cursors
         * less) */
        ps_cols_lv_t *lb = lv + lhead;
        ptrdiff_t sto = st - ah, fsto = fst - fh;
        size_t end = i + k;
        for (; i < end; i++) {
            const unsigned op = ops[i], fn = op & 0x1f;
            uint64_t w;
            if (op & 0x20) { /* an ALLOC */
                ps_rec_alloc_t a;
                a.h = (ps_rec_hdr_t){PS_REC_ALLOC, (uint8_t)fn, sizeof(ps_rec_alloc_t)};
                const unsigned head = *ah, sb = *sh, stb = ah[sto];
                const unsigned hs = head >> 6, is3 = (head + 0x40) >> 8; /* hs == 3 */
                uint64_t size, stack = stb, align = 0;
                ah++;
                if (PS_COLS_LIKELY(!((stb | (sb & (0u - is3))) & 0x80))) {
                    /* a one-byte stack and size >> 8 (the size's selected by arithmetic: sizes
                     * around 768 B made a branch on the head a coin toss) */
                    size = hs + (sb & (0u - is3));
                    sh += is3;
                } else { /* longer: read to their columns' ends; the block ends after it */
                    const unsigned char *stp = ah - 1 + sto;
                    if (ps_uv_get(&stp, st_end, &stack) || stack > UINT32_MAX)
                        goto out;
                    sto = stp - ah;
                    size = hs;
                    if (is3) {
                        if (ps_uv_get(&sh, sh_end, &w) || w >> 55)
                            goto out;
                        size += w;
                    }
                    end = i + 1;
                }
                if (PS_COLS_UNLIKELY(op & 0x80) &&
                    ps_uv_get(&c[PS_COL_ALIGN], ce[PS_COL_ALIGN], &align))
                    goto out;
                size = size << 8 | ah[szo - 1];
                if (ps_cols_ts_step(&ts, dt, head, c, ce, q))
                    goto out;
                a.ts = ts;
                const unsigned cls = ps_cols_class(size);
                const unsigned code = (head >> 4) & 3;
                if (PS_COLS_LIKELY(code == 1)) { /* its size class' latest freed block */
                    ps_cols_lifo_t *const lf = &d->lifo[cls];
                    const uint32_t lfn = lf->n;
                    if (PS_COLS_UNLIKELY(lfn == 0))
                        goto out;
                    a.ptr = lf->ptr[lfn - 1];
                    lf->n = lfn - 1;
                } else if (code == 0) {
                    if (ps_cols_get_delta(&c[PS_COL_PTR], ce[PS_COL_PTR], &w))
                        goto out;
                    a.ptr = pred + w;
                    pred = ps_cols_next(a.ptr, size);
                } else if (code == 2) {
                    if (ps_cols_dec_aref(d, c, ce, nfree, cls, size, &a.ptr, &pred))
                        goto out;
                } else { /* where the last split block ends */
                    if (!pred)
                        goto out;
                    a.ptr = pred;
                    pred = ps_cols_next(a.ptr, size);
                }
                last_ptr = a.ptr;
                a.size = size;
                a.stack = (uint32_t)stack;
                a.align = align;
                /* (a size class' list holds no 0: only the blocks of the ring, a failed
                 * allocation's pointer is not put there) */
                if (PS_COLS_LIKELY(code == 1) || a.ptr != 0) {
                    ps_cols_ring_put(d, nalloc, a.ptr, cls);
                    if (PS_COLS_UNLIKELY(evict) && ln &&
                        ps_cols_live_age(nalloc, lb[0]) >= PS_COLS_WINDOW)
                        lb++, ln--;
                    lb[ln++] = (ps_cols_lv_t)nalloc++;
                }
                on_alloc(ctx, i, &a);
            } else { /* a FREE */
                ps_rec_free_t f;
                f.h = (ps_rec_hdr_t){PS_REC_FREE, (uint8_t)(fn | (op & 0x80)),
                                     sizeof(ps_rec_free_t)};
                const unsigned head = *fh, fb = *fr, stb = fh[fsto];
                uint64_t stack = stb;
                fh++;
                if (PS_COLS_UNLIKELY(stb & 0x80)) { /* a longer stack: the block ends after it */
                    const unsigned char *stp = fh - 1 + fsto;
                    if (ps_uv_get(&stp, fst_end, &stack) || stack > UINT32_MAX)
                        goto out;
                    fsto = stp - fh;
                    end = i + 1;
                }
                if (ps_cols_ts_step(&ts, dt, head, c, ce, q))
                    goto out;
                f.ts = ts;
                const unsigned ref = head >> 4;
                if (PS_COLS_UNLIKELY(ref == 0)) { /* explicit */
                    if (ps_cols_get_delta(&c[PS_COL_PTR], ce[PS_COL_PTR], &w))
                        goto out;
                    f.ptr = last_ptr + w;
                } else {
                    /* ref 15 (head >= 0xf0): rank 14 + a byte of FREF, selected by arithmetic
                     * (a coin toss; its escape, 255, the branch) */
                    const unsigned is15 = (head + 0x10) >> 8, fx = fb & (0u - is15);
                    uint32_t rank = ref - 1 + fx;
                    fr += is15;
                    if (PS_COLS_UNLIKELY(fx == PS_COLS_RANK_ESC)) {
                        if (ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w) || w >= PS_COLS_WINDOW)
                            goto out;
                        rank += (uint32_t)w;
                    }
                    /* ps_cols_dec_rank's steps */
                    if (rank >= ln)
                        goto out;
                    const uint32_t at = ln - 1 - rank;
                    const uint32_t slot = lb[at] & (PS_COLS_WINDOW - 1);
                    f.ptr = d->ring[slot].ptr;
                    const unsigned cls = d->ring[slot].cls;
                    /* most frees of a churn name one of the latest few dozen blocks, at a
                     * rank that varies from one to the next: those after it move down by
                     * one, always PS_COLS_CUT_FIXED entries (those past the list are not
                     * read), not the fewer side's (the choice and the length of the move
                     * were half of this loop's mispredicted branches, callgrind
                     * --branch-sim) */
                    if (PS_COLS_LIKELY(rank < PS_COLS_CUT_FIXED))
                        ps_cols_live_shift(lb + at);
                    else
                        lb += ps_cols_live_cut(lb, 0, ln, at);
                    ln--;
                    ps_cols_lifo_put(&d->lifo[cls], f.ptr);
                }
                last_ptr = f.ptr;
                d->fring[nfree++ & (PS_COLS_FWINDOW - 1)] = f.ptr;
                f.stack = (uint32_t)stack;
                on_free(ctx, i, &f);
            }
        }
        lhead = (uint32_t)(lb - lv);
        st = ah + sto, fst = fh + fsto;
        if (i == end && k)
            continue;
        /* ---- record i by the general steps (its columns' ends tested) ---- */
        if (st > st_end || fst > fst_end || sh > sh_end || fr > fr_end)
            goto out; /* a block read past a column's end */
        const unsigned op = ops[i], fn = op & 0x1f;
        uint64_t stack, v, w;
        if (op & 0x20) { /* an ALLOC (kind 1; the ops were counted: 1 or 2) */
            ps_rec_alloc_t a;
            a.h = (ps_rec_hdr_t){PS_REC_ALLOC, (uint8_t)fn, sizeof(ps_rec_alloc_t)};
            uint64_t size, align = 0;
            if (ps_uv_get(&st, st_end, &stack) || stack > UINT32_MAX ||
                ((op & 0x80) && ps_uv_get(&c[PS_COL_ALIGN], ce[PS_COL_ALIGN], &align)))
                goto out;
            const unsigned head = *ah++;
            size = head >> 6;
            if (size == 3) {
                if (ps_uv_get(&sh, sh_end, &v) || v >> 55)
                    goto out;
                size += v;
            }
            size = size << 8 | ah[szo - 1];
            v = head & 15;
            if (v == 15) {
                if (ps_uv_get(&c[PS_COL_TSX], ce[PS_COL_TSX], &w))
                    goto out;
                v += ps_unzz(w);
            }
            ts += v << q;
            a.ts = ts;
            const unsigned cls = ps_cols_class(size);
            switch ((head >> 4) & 3) {
            case 0:
                if (ps_cols_get_delta(&c[PS_COL_PTR], ce[PS_COL_PTR], &w))
                    goto out;
                a.ptr = pred + w;
                pred = ps_cols_next(a.ptr, size);
                break;
            case 1:
                if (ps_cols_dec_lifo_get(&d->lifo[cls], 1, &a.ptr))
                    goto out;
                break;
            case 2:
                if (ps_cols_dec_aref(d, c, ce, nfree, cls, size, &a.ptr, &pred))
                    goto out;
                break;
            default:
                if (!pred)
                    goto out;
                a.ptr = pred;
                pred = ps_cols_next(a.ptr, size);
                break;
            }
            last_ptr = a.ptr;
            a.size = size;
            a.stack = (uint32_t)stack;
            a.align = align;
            if (a.ptr) {
                ps_cols_ring_put(d, nalloc, a.ptr, cls);
                /* ps_cols_live_add's steps */
                if (ln && ps_cols_live_age(nalloc, lv[lhead]) >= PS_COLS_WINDOW)
                    lhead++, ln--;
                if (lhead + ln == 2 * PS_COLS_WINDOW) {
                    memmove(lv, lv + lhead, ln * sizeof lv[0]);
                    lhead = 0;
                }
                lv[lhead + ln++] = (ps_cols_lv_t)nalloc++;
            }
            on_alloc(ctx, i, &a);
        } else { /* a FREE */
            ps_rec_free_t f;
            f.h = (ps_rec_hdr_t){PS_REC_FREE, (uint8_t)(fn | (op & 0x80)), sizeof(ps_rec_free_t)};
            if (ps_uv_get(&fst, fst_end, &stack) || stack > UINT32_MAX)
                goto out;
            const unsigned head = *fh++;
            v = head & 15;
            if (v == 15) {
                if (ps_uv_get(&c[PS_COL_TSX], ce[PS_COL_TSX], &w))
                    goto out;
                v += ps_unzz(w);
            }
            ts += v << q;
            f.ts = ts;
            const unsigned ref = head >> 4;
            if (ref == 0) {
                if (ps_cols_get_delta(&c[PS_COL_PTR], ce[PS_COL_PTR], &w))
                    goto out;
                f.ptr = last_ptr + w;
            } else {
                uint64_t rank = ref - 1;
                if (ref == 15) {
                    if (fr == fr_end)
                        goto out;
                    rank += *fr++;
                    if (rank == 14 + PS_COLS_RANK_ESC) {
                        if (ps_uv_get(&c[PS_COL_PTR], ce[PS_COL_PTR], &w) || w >= PS_COLS_WINDOW)
                            goto out;
                        rank += w;
                    }
                }
                /* ps_cols_dec_rank's steps */
                if (rank >= ln)
                    goto out;
                const uint32_t at = ln - 1 - (uint32_t)rank;
                const uint32_t slot = lv[lhead + at] & (PS_COLS_WINDOW - 1);
                f.ptr = d->ring[slot].ptr;
                const unsigned cls = d->ring[slot].cls;
                lhead = ps_cols_live_cut(lv, lhead, ln, at);
                ln--;
                ps_cols_lifo_put(&d->lifo[cls], f.ptr);
            }
            last_ptr = f.ptr;
            d->fring[nfree++ & (PS_COLS_FWINDOW - 1)] = f.ptr;
            f.stack = (uint32_t)stack;
            on_free(ctx, i, &f);
        }
        i++;
    }
    rc = 0;
out:
    c[PS_COL_AHEAD] = ah, c[PS_COL_FHEAD] = fh, c[PS_COL_SIZE] = ah + szo;
    c[PS_COL_STACK] = st, c[PS_COL_FSTACK] = fst, c[PS_COL_SIZEH] = sh, c[PS_COL_FREF] = fr;
    s->last_tq = ts >> q, s->last_ptr = last_ptr, s->pred = pred; /* (last_tq's low bits) */
    s->nalloc = nalloc, s->nfree = nfree;
    l->head = lhead, l->n = ln;
    return rc ? rc : ps_cols_all_read(s->c, s->ce, PS_COL_N, NULL, NULL);
}

/* The records of a format 2 body when every one is an ALLOC or FREE (a chunk flagged
 * PS_CHUNK_F_HEAP_ONLY), decoded without writing them out: record i (in order, i < the
 * body's record count, ps_cols_nrec) goes to on_alloc(ctx, i, &rec) or on_free (the
 * record complete, its header too), as ps_cols_decode would have written it. Returns 0, or
 * -1 for a body that ps_cols_decode does not decode (malformed, the wrong xlen, format 1) or
 * that holds another record (a REALLOC, an "other" one): the caller decodes it with
 * ps_cols_decode then, which tells which (some records may have been handed out already). For
 * the analyzer's pass (analyzer/core/pass.c: the fixed records are not written and read again). */
static inline __attribute__((always_inline)) int
ps_cols_decode2_heap(ps_cols_dec_t *d, const unsigned char *in, size_t n, size_t xlen,
                     void (*on_alloc)(void *ctx, size_t i, const ps_rec_alloc_t *a),
                     void (*on_free)(void *ctx, size_t i, const ps_rec_free_t *f), void *ctx)
{
    ps_cols_st2_t s;
    if (ps_cols_xlen(in, n) != xlen || xlen == 0 || in[0] != PS_COLS_FORMAT ||
        ps_cols_st2_begin(d, &s, in, n))
        return -1;
    const unsigned char *ops = s.c[PS_COL_OP], *ops_end = s.ce[PS_COL_OP];
    /* Counted once: every op an ALLOC (kind 1: bits 5, 6 = 1, 0) or a FREE (0, 1), and the
     * ALLOC heads, the sizes and the FREE heads one byte a record each, as a body that decodes
     * has them (ps_cols_all_read): the records' steps test no column's end for them. */
    size_t nops = (size_t)(ops_end - ops), nalloc = 0, k = 0;
    uint64_t bad = 0;
    for (; k + 8 <= nops; k += 8) { /* 8 ops a step: bit 5 of each byte counted, bits 5 ^ 6 */
        uint64_t w;
        memcpy(&w, ops + k, sizeof w);
        const uint64_t b5 = (w >> 5) & 0x0101010101010101ull;
        bad |= ~(b5 ^ ((w >> 6) & 0x0101010101010101ull)) & 0x0101010101010101ull;
        nalloc += (b5 * 0x0101010101010101ull) >> 56;
    }
    for (; k < nops; k++) {
        const unsigned kind = (ops[k] >> 5) & 3;
        bad |= kind == PS_COLS_OTHER || kind == PS_COLS_REALLOC;
        nalloc += kind == PS_COLS_ALLOC;
    }
    if (bad || nalloc * sizeof(ps_rec_alloc_t) + (nops - nalloc) * sizeof(ps_rec_free_t) != xlen ||
        (size_t)(s.ce[PS_COL_AHEAD] - s.c[PS_COL_AHEAD]) != nalloc ||
        (size_t)(s.ce[PS_COL_SIZE] - s.c[PS_COL_SIZE]) != nalloc ||
        (size_t)(s.ce[PS_COL_FHEAD] - s.c[PS_COL_FHEAD]) != nops - nalloc)
        return -1;
    return ps_cols_dec2_heap_run(d, &s, ops, nops, nalloc, on_alloc, on_free, ctx);
}

#endif /* PERFSHIM_TRACE_COLS_H */
