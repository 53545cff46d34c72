/*
 * livetab.h -- the replay's table of heap blocks by address: the live blocks, and released
 * ("dead") ones kept for a while so that a second release is recognised as a double free.
 *
 * Contract: single-threaded; a zeroed livetab_t is an empty table (livetab_free releases it).
 * Each block is an address (never 0) with its requested size, allocation time (ns, exact),
 * site index and allocation function; a dead block keeps its site and function only. Sizes,
 * times and site indices of any value are kept exactly.
 *
 * Cost: 12 or 16 bytes per entry in one array, ordered linear probing (entries in the order
 * of a 43-bit permutation of the address, so a lookup stops at the first greater key and a
 * rebuild is one sequential merge). The permutation keeps each aligned group of 128 bytes of
 * addresses together and in order (livetab_perm43) and scatters the groups: blocks that an
 * allocator carves side by side share a home slot and lie in adjacent slots, a cache line for
 * several of them. An entry holds the address shifted by the allocator's
 * 16-byte alignment (< 2^47) and the block's function, site, size and time since the table's
 * origin (the first allocation's time). A small array (below LIVETAB_SMALL_SLOTS, 1 MiB,
 * where memory does not matter) has 16-byte entries of fixed widths (function 5 bits, site
 * 18, size 18 up to 256 KiB - 3, time 44 bits, 4.9 hours): the inline find/set/kill are
 * specialized for them (constant shifts and masks, no layout statistics). A larger one has
 * widths the table chooses at each rebuild from what it has seen (livetab.c): 12 bytes while
 * the functions, sites and sizes are small and the trace short enough (e.g. 2 + 4 + 9 bits
 * and 38 bits of time, 4.6 minutes), else the 16-byte widths, for good. What does not fit (an
 * unaligned or high address, a larger value) goes to a side table of 32-byte entries; a block that
 * fits costs no side entry, and many that do not make a rebuild for wider fields. The array holds
 * at most 1.4 x the peak number of live blocks (or LIVETAB_MIN_SLOTS): at most 17 (12-byte entries)
 * or 23 bytes (16) per live block at the peak, dead entries included, plus the side table
 * (with a size hint: or 1.25 x the hinted blocks, livetab_hint). An array
 * of 4 MiB and more lives in 64 GiB of address space reserved once (MAP_NORESERVE: only the pages
 * it reaches count), on 2 MiB boundaries with MADV_HUGEPAGE (random probes: far fewer TLB misses),
 * and is rebuilt in place: no second array. (Where the reservation fails, a rebuild copies into a
 * new array.)
 *
 * Dead entries: a released block's entry stays, dead, until its address is allocated again
 * (the entry is reused in place) or until the next rebuild that lacks room for it. A rebuild
 * happens when an allocation of a new address would fill the array past 90%; it sizes the
 * array to 1.4 x the peak of live blocks and keeps the dead entries when live + dead entries
 * fill at most 80% of it, else drops them all (a rebuild for wider fields keeps them). So a double
 * free is recognised while its dead entry lasts: always in a table that never rebuilt (up to
 * LIVETAB_MIN_SLOTS * 0.9 distinct addresses), and in a larger one until the heap has seen about
 * 0.25 x its peak in new addresses since the release.
 *
 * livetab_find() looks an address up; livetab_set() and livetab_kill() act on the address of
 * the latest livetab_find() without a second probe (another address works, at a probe's cost).
 */
#ifndef PERFSHIM_LIVETAB_H
#define PERFSHIM_LIVETAB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "perfshim/compiler.h"

#define LIVETAB_MIN_SLOTS 4096 /* 64 KiB: a small trace never rebuilds */
/* Arrays of fewer slots (up to 4 MiB, where memory does not matter) use the fixed 16-byte
 * layout, whose fast paths have constant shifts and masks; larger ones the variable one. */
#define LIVETAB_SMALL_SLOTS (1u << 16)

enum livetab_state { LIVETAB_ABSENT = 0, LIVETAB_LIVE = 1, LIVETAB_DEAD = 2 };

/* A block's data, unpacked. */
typedef struct livetab_blk_s {
    uint64_t size, ts; /* dead blocks: 0 */
    uint32_t site;
    uint8_t fn;
} livetab_blk_t;

typedef struct livetab_side_s livetab_side_t; /* side table entry (livetab.c) */

/* The entry layout in use (livetab.c chooses it at each rebuild; see livetab.c). */
typedef struct livetab_layout_s {
    unsigned stride;                     /* bytes per entry: 12 or 16 */
    unsigned pbits;                      /* payload bits below the key: 53 or 85 */
    unsigned w_ts, w_size, w_site, w_fn; /* field widths, from the bottom; sum = pbits */
} livetab_layout_t;

/* The 12-byte layout's fields as masks and shifts (livetab.c derives them from t->lay at
 * each change of layout): its inline paths read these, no width arithmetic per event. The
 * payload is the low 53 bits of an entry's first 8 bytes; the key the top 43 bits of its last
 * 8 (bytes 4..12). */
typedef struct livetab_f12_s {
    uint64_t m_ts, m_size, m_site, m_fn;   /* field masks (at bit 0) */
    unsigned sh_size, sh_site, sh_fn;      /* field shifts (ts at 0) */
    uint64_t sz_dead, sz_side;             /* the size field's reserved values */
    uint64_t keep_dead;                    /* a kill keeps these bits (key, fn, site) */
    /* the fused paths' (livetab_put12, livetab_take12): 1 << sh_* (a field packed by a
     * multiply, not a shift by a count in cl), the size field where it lies (its mask, its two
     * reserved values: tested in place, shifted down only for a live block's size) */
    uint64_t mul_size, mul_site, mul_fn;
    uint64_t size_at, side_at, dead_at;
} livetab_f12_t;

typedef struct livetab_s {
    unsigned char *slots; /* nslots entries of lay.stride bytes, see livetab.c */
    size_t nslots;        /* array length: home slots + a tail where runs may spill */
    size_t nhome;         /* home slots: a key's first slot is in [0, nhome) */
    size_t used, limit;   /* entries in the array; a rebuild when one more would pass limit */
    unsigned tail_shift;  /* the tail is 2^tail_shift times its usual length (runs spilled) */
    livetab_layout_t lay;
    livetab_f12_t f12; /* lay's masks and shifts when lay.stride == 12 */
    uint64_t t0; /* time origin (first allocation), valid when have_t0 */
    int have_t0;
    livetab_side_t *side; /* power-of-two open addressing, linear probing, by address */
    size_t side_cap, side_n;
    uint64_t live, dead, peak_live;             /* blocks, side table's included */
    uint64_t rebuilds, dead_dropped, relayouts; /* relayouts: rebuilds for a layout */
    /* what the next layout must hold: the sites, functions and times seen, each ORed
     * together (a bit length is all a layout takes from them: the OR's is the largest
     * value's, an OR into memory a block, no compare); the largest size of the entries in the
     * array; allocations by the bit length of their size (size 0 counted with the 1-bit ones:
     * livetab_size_bucket); blocks whose data went to the side table since the last rebuild */
    uint64_t or_site, or_fn, max_size_arr, or_dts, size_bits[65], misfits;
    void *resv_map;           /* the reserved address space (livetab.c), or NULL */
    unsigned char *resv_base; /* its 2 MiB-aligned start: slots once the array is large */
    int resv_failed;
    int wide_for_good;  /* a large table that chose 16-byte entries keeps them */
    size_t small_slots; /* arrays below it: 16-byte entries (0: LIVETAB_SMALL_SLOTS) */
    uint64_t hint;      /* livetab_hint: live blocks the table is expected to hold */
    void *prefault;     /* livetab_prefault's thread (livetab.c), or NULL */
    /* the latest livetab_find: its address, state, and where (slot, or side index) */
    uint64_t last_ptr, last_key;
    size_t last_pos;
    int last_state, last_in_side;
} livetab_t;

/* ---- the entry layout (livetab.c describes it), here for the inline fast paths ------- */

#define LIVETAB_KEY_BITS 43
#define LIVETAB_KEY_MASK ((1ull << LIVETAB_KEY_BITS) - 1)
#define LIVETAB_KEY_SHIFT (64 - LIVETAB_KEY_BITS) /* key's place in the top 64 bits */

typedef unsigned __int128 livetab_u128;

/* The 16-byte layout: a small table's, and a large one's whose values outgrew 12 bytes. The
 * fast paths below are specialized for it (its widths are constants there). */
static const livetab_layout_t livetab_wide_lay = {16, 85, 44, 18, 18, 5};

/* A block's address fits an entry: 16-byte aligned, below 2^47, not 0. */
static PS_ALWAYS_INLINE int livetab_ptr_fits(uint64_t ptr)
{
    /* one test for the three: ptr - 16 rotated right by 4 is below 2^43 - 1 exactly when
     * ptr is in [16, 2^47) with its low 4 bits clear (set ones rotate to the top; 0 wraps) */
    uint64_t x = ptr - 16;
    return (x >> 4 | x << 60) < LIVETAB_KEY_MASK;
}

/* The key of a block at ptr is livetab_perm43(ptr >> 4): its low LIVETAB_GROUP_BITS bits as
 * they are, so that the 8 16-byte units of an aligned 128-byte group have consecutive keys
 * (one home slot: a group's blocks lie in adjacent slots, in address order); the group's
 * number (the other 40 bits) through multiplicative (Fibonacci) hashing, a bijection (odd
 * multiplier) whose high bits, which choose the home slot, depend on every bit of it. So the
 * key is a bijection on 43 bits, 0 only for 0. (An xorshift after the product, which mixed
 * the high bits into the low ones, moves no home: it went, 4 instructions a probe.)
 * (Measured on kvstore 1 M keys, cachegrind with a 4 MiB last level: 16% fewer data misses
 * than hashing every unit apart; groups of 256 bytes and more make longer runs to scan and
 * shift, and cost more than they save: 512 bytes was slower than none.) */
#define LIVETAB_GROUP_BITS 3
#define LIVETAB_GROUP_MASK ((1ull << LIVETAB_GROUP_BITS) - 1)

static PS_ALWAYS_INLINE uint64_t livetab_perm43(uint64_t x)
{
    /* (x with its group bits clear) x C is (group number x C) << GROUP_BITS */
    return ((x & ~LIVETAB_GROUP_MASK) * 0x9e3779b97f4a7c15ull &
            (LIVETAB_KEY_MASK & ~LIVETAB_GROUP_MASK)) |
           (x & LIVETAB_GROUP_MASK);
}

static inline size_t livetab_home(uint64_t key, size_t nhome)
{
    return (size_t)(((unsigned __int128)(key << LIVETAB_KEY_SHIFT) * nhome) >> 64);
}

/* livetab_perm43(x) << LIVETAB_KEY_SHIFT (the key where an entry's top 64 bits hold it, as the
 * probes compare it), in fewer steps: the product by the multiplier shifted up drops the bits
 * above 43 itself, no mask (the group's bits below it are 0: a multiple of 8 times it). */
static PS_ALWAYS_INLINE uint64_t livetab_kw43(uint64_t x)
{
    return (x & ~LIVETAB_GROUP_MASK) * (0x9e3779b97f4a7c15ull << LIVETAB_KEY_SHIFT) |
           (x & LIVETAB_GROUP_MASK) << LIVETAB_KEY_SHIFT;
}

/* livetab_home of the key whose livetab_kw43 is kw. */
static PS_ALWAYS_INLINE size_t livetab_home_kw(uint64_t kw, size_t nhome)
{
    return (size_t)(((unsigned __int128)kw * nhome) >> 64);
}

static PS_ALWAYS_INLINE uint64_t livetab_ld64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The top 64 bits of entry i (its key in the top 43; 0: an empty slot). */
static PS_ALWAYS_INLINE uint64_t livetab_kw(const unsigned char *slots, const livetab_layout_t *l,
                                            size_t i)
{
    return livetab_ld64(slots + i * l->stride + l->stride - 8);
}

static PS_ALWAYS_INLINE livetab_u128 livetab_ent_load(const unsigned char *e,
                                                      const livetab_layout_t *l)
{
    uint64_t lo = livetab_ld64(e), hi;
    if (l->stride == 16) {
        hi = livetab_ld64(e + 8);
    } else {
        uint32_t h32;
        memcpy(&h32, e + 8, sizeof h32);
        hi = h32;
    }
    return (livetab_u128)hi << 64 | lo;
}

static PS_ALWAYS_INLINE void livetab_ent_store(unsigned char *e, const livetab_layout_t *l,
                                               livetab_u128 v)
{
    uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);
    memcpy(e, &lo, sizeof lo);
    if (l->stride == 16) {
        memcpy(e + 8, &hi, sizeof hi);
    } else {
        uint32_t h32 = (uint32_t)hi;
        memcpy(e + 8, &h32, sizeof h32);
    }
}

static PS_ALWAYS_INLINE uint64_t livetab_mask(unsigned w)
{
    return w >= 64 ? ~0ull : (1ull << w) - 1;
}

/* The size field's two reserved values: a dead entry, a block whose data is in the side
 * table. */
static PS_ALWAYS_INLINE uint64_t livetab_sz_dead(const livetab_layout_t *l)
{
    return livetab_mask(l->w_size);
}

static PS_ALWAYS_INLINE uint64_t livetab_sz_side(const livetab_layout_t *l)
{
    return livetab_mask(l->w_size) - 1;
}

/* (ts and size lie in the low 64 bits in both layouts: w_ts + w_size <= 62) */
static PS_ALWAYS_INLINE uint64_t livetab_v_size(livetab_u128 v, const livetab_layout_t *l)
{
    return ((uint64_t)v >> l->w_ts) & livetab_mask(l->w_size);
}

static PS_ALWAYS_INLINE void livetab_v_unpack(livetab_u128 v, const livetab_layout_t *l,
                                              uint64_t t0, livetab_blk_t *b)
{
    uint64_t sz = livetab_v_size(v, l);
    unsigned sh = l->w_ts + l->w_size;
    if (l->stride == 12) { /* the payload lies in the low 53 bits */
        uint64_t lo = (uint64_t)v;
        b->site = (uint32_t)((lo >> sh) & livetab_mask(l->w_site));
        b->fn = (uint8_t)((lo >> (sh + l->w_site)) & livetab_mask(l->w_fn));
    } else {
        b->site = (uint32_t)((uint64_t)(v >> sh) & livetab_mask(l->w_site));
        b->fn = (uint8_t)((uint64_t)(v >> (sh + l->w_site)) & livetab_mask(l->w_fn));
    }
    int dead = sz == livetab_sz_dead(l);
    b->size = dead ? 0 : sz;
    b->ts = dead ? 0 : t0 + ((uint64_t)v & livetab_mask(l->w_ts));
}

static PS_ALWAYS_INLINE livetab_u128 livetab_v_pack(const livetab_layout_t *l, uint64_t key,
                                                    uint64_t fn, uint64_t site, uint64_t size,
                                                    uint64_t dts)
{
    unsigned sh = l->w_ts + l->w_size;
    if (l->stride == 12)
        return (livetab_u128)key << l->pbits |
               (fn << (sh + l->w_site) | site << sh | size << l->w_ts | dts);
    return (livetab_u128)key << l->pbits | (livetab_u128)fn << (sh + l->w_site) |
           (livetab_u128)site << sh | (livetab_u128)size << l->w_ts | dts;
}

/* The block's data fits an entry (the address aside). */
static PS_ALWAYS_INLINE int livetab_blk_fits_l(const livetab_t *t, const livetab_blk_t *b,
                                               const livetab_layout_t *l)
{
    return b->size < livetab_sz_side(l) && b->site <= livetab_mask(l->w_site) &&
           b->fn <= livetab_mask(l->w_fn) && b->ts >= t->t0 &&
           b->ts - t->t0 <= livetab_mask(l->w_ts);
}

static PS_ALWAYS_INLINE void livetab_count_set(livetab_t *t, int was)
{
    if (was == LIVETAB_DEAD)
        t->dead--;
    if (was != LIVETAB_LIVE)
        t->live++;
    if (t->live > t->peak_live)
        t->peak_live = t->live;
}

static inline int livetab_blk_fits(const livetab_t *t, const livetab_blk_t *b)
{
    return livetab_blk_fits_l(t, b, &t->lay);
}

/* livetab_t.size_bits' bucket of a size: its bit length, 1 for 0 (the layouts tell apart
 * lengths above 2 only: no test of 0). */
static PS_ALWAYS_INLINE unsigned livetab_size_bucket(uint64_t size)
{
    return 64 - (unsigned)__builtin_clzll(size | 1);
}

/* What the next layout must hold (livetab_set's data, fitting or not; values that no layout
 * holds, past the 16-byte entry's widths, do not count). */
static PS_ALWAYS_INLINE void livetab_note(livetab_t *t, const livetab_blk_t *b)
{
    if (b->site < (1u << 18))
        t->or_site |= b->site;
    if (b->fn < 32)
        t->or_fn |= b->fn;
    if (b->ts >= t->t0 && b->ts - t->t0 < (1ull << 44))
        t->or_dts |= b->ts - t->t0;
    t->size_bits[livetab_size_bucket(b->size)]++;
}

/* livetab_note for a block the 12-byte layout holds (its values within the widths: no range
 * tests), dts its time since t0; and the largest size an array entry holds. */
static PS_ALWAYS_INLINE void livetab_note_fit(livetab_t *t, const livetab_blk_t *b, uint64_t dts)
{
    t->or_site |= b->site;
    t->or_fn |= b->fn;
    t->or_dts |= dts;
    t->size_bits[livetab_size_bucket(b->size)]++;
    if (b->size > t->max_size_arr)
        t->max_size_arr = b->size;
}

/* The general paths (livetab.c); the inline functions below take the common cases. */
int livetab_find_slow(livetab_t *t, uint64_t ptr, livetab_blk_t *b);
int livetab_set_slow(livetab_t *t, uint64_t ptr, const livetab_blk_t *b);
void livetab_kill_slow(livetab_t *t, uint64_t ptr);

/* ---- the 16-byte layout's fast paths, on 64-bit halves ---------------------------------
 * An entry's low word: time (44 bits), size (18), the site's low 2 bits; its high word (the
 * one the probe reads): the site's other 16 bits, the function (5), the key (43). The same
 * bits as livetab_v_pack(&livetab_wide_lay, ...) and livetab_v_unpack, without 128-bit shifts
 * (GCC makes ~20 instructions of a constant 128-bit pack), and the probe's high word reused. */
#define LIVETAB_W_SZ_DEAD ((1ull << 18) - 1)
#define LIVETAB_W_SZ_SIDE ((1ull << 18) - 2)

static PS_ALWAYS_INLINE uint64_t livetab_w_size(uint64_t lo)
{
    return (lo >> 44) & LIVETAB_W_SZ_DEAD;
}

/* A block's data fits a 16-byte entry (the time origin set: a 16-byte array exists). */
static PS_ALWAYS_INLINE int livetab_w_fits(const livetab_t *t, const livetab_blk_t *b)
{
    /* (ts < t0 wraps: its bits above 44 are set) site < 2^18, fn < 2^5 and dts < 2^44 in one
     * shift: each moved to where its limit is bit 18 */
    return ((uint64_t)b->site | (uint64_t)b->fn << 13 | (b->ts - t->t0) >> 26) >> 18 == 0 &&
           b->size < LIVETAB_W_SZ_SIDE;
}

static PS_ALWAYS_INLINE int livetab_find_w(livetab_t *t, uint64_t ptr, livetab_blk_t *b)
{
    /* livetab_ptr_fits in one test: ptr - 16 rotated right by 4 is below 2^43 - 1 exactly
     * when ptr is 16-byte aligned (else low bits rotate to the top), not 0 (wraps) and below
     * 2^47; and it is (ptr >> 4) - 1 then */
    const uint64_t r = (ptr - 16) >> 4 | (ptr - 16) << 60;
    if (PS_UNLIKELY(r >= LIVETAB_KEY_MASK))
        return livetab_find_slow(t, ptr, b);
    uint64_t key = livetab_perm43(r + 1), kw = key << LIVETAB_KEY_SHIFT;
    size_t i = livetab_home(key, t->nhome), n = t->nslots;
    const unsigned char *s = t->slots;
    uint64_t k = 0;
    /* while the slot holds a smaller key (an empty slot, 0, stops: 0 - 1 wraps) */
    while (i < n && (k = livetab_ld64(s + i * 16 + 8)) - 1 < kw - 1)
        i++;
    int hit = i < n && k >> LIVETAB_KEY_SHIFT == key;
    uint64_t lo = 0, sz = 0;
    if (hit) {
        lo = livetab_ld64(s + i * 16);
        sz = livetab_w_size(lo);
        if (PS_UNLIKELY(sz == LIVETAB_W_SZ_SIDE))
            return livetab_find_slow(t, ptr, b);
    }
    t->last_ptr = ptr;
    t->last_in_side = 0;
    t->last_key = key;
    t->last_pos = i;
    if (!hit)
        return t->last_state = LIVETAB_ABSENT;
    int dead = sz == LIVETAB_W_SZ_DEAD;
    if (b) {
        b->site = (uint32_t)((lo >> 62 | k << 2) & ((1u << 18) - 1));
        b->fn = (uint8_t)((k >> 16) & 31);
        b->size = dead ? 0 : sz;
        b->ts = dead ? 0 : t->t0 + (lo & ((1ull << 44) - 1));
    }
    return t->last_state = dead ? LIVETAB_DEAD : LIVETAB_LIVE;
}

/* ---- the 12-byte layout (a large table's usual one), with t->f12's masks --------------- */

#define LIVETAB_P12_BITS 53 /* payload bits of a 12-byte entry */

/* The array's bytes are followed by this many zeros, never written (livetab.c): the slot past
 * the last reads as empty, which stops the fused 12-byte paths' probes without a bound test
 * an entry (kvstore 300000 750000: the main thread's instructions -1.2%). */
#define LIVETAB_END_PAD 16
#define LIVETAB_P12_MASK ((1ull << LIVETAB_P12_BITS) - 1)

/* livetab_find for 12-byte entries (t->lay.stride == 12 or an empty table, stride 0). */
static PS_ALWAYS_INLINE int livetab_find12(livetab_t *t, uint64_t ptr, livetab_blk_t *b)
{
    if (!livetab_ptr_fits(ptr) || !t->nslots)
        return livetab_find_slow(t, ptr, b);
    const livetab_f12_t *f = &t->f12;
    uint64_t key = livetab_perm43(ptr >> 4), kw = key << LIVETAB_KEY_SHIFT;
    size_t i = livetab_home(key, t->nhome), n = t->nslots;
    const unsigned char *kp = t->slots + 4;
    uint64_t k = 0;
    while (i < n && (k = livetab_ld64(kp + i * 12)) - 1 < kw - 1)
        i++;
    int hit = i < n && k >> LIVETAB_KEY_SHIFT == key;
    uint64_t lo = 0, sz = 0;
    if (hit) {
        lo = livetab_ld64(t->slots + i * 12);
        sz = (lo >> f->sh_size) & f->m_size;
        if (sz == f->sz_side)
            return livetab_find_slow(t, ptr, b);
    }
    t->last_ptr = ptr;
    t->last_in_side = 0;
    t->last_key = key;
    t->last_pos = i;
    if (!hit)
        return t->last_state = LIVETAB_ABSENT;
    int dead = sz == f->sz_dead;
    if (b) {
        b->site = (uint32_t)((lo >> f->sh_site) & f->m_site);
        b->fn = (uint8_t)((lo >> f->sh_fn) & f->m_fn);
        b->size = dead ? 0 : sz;
        b->ts = dead ? 0 : t->t0 + (lo & f->m_ts);
    }
    return t->last_state = dead ? LIVETAB_DEAD : LIVETAB_LIVE;
}

/* Looks ptr up: LIVETAB_LIVE (all of *b), LIVETAB_DEAD (b->site, b->fn) or LIVETAB_ABSENT.
 * Inline for an address that fits, in the array (the side table: livetab_find_slow); always
 * inlined (GCC kept a call: 10 instructions more per event).
 * (The layout's test is hoisted out of the inline paths: each is specialized for the 16-byte
 * layout, constants, and the 12-byte one, t->f12.) */
static PS_ALWAYS_INLINE int livetab_find(livetab_t *t, uint64_t ptr, livetab_blk_t *b)
{
    if (PS_LIKELY(t->lay.stride == 16))
        return livetab_find_w(t, ptr, b);
    return livetab_find12(t, ptr, b);
}

/* An insertion shifts a run of at most this many entries inline (a longer one: the general
 * path, livetab.c, which finds the entry again and moves the run with memmove: ~900
 * instructions; kvstore 300000 750000 took it 9,600 times at 16, the main thread's
 * instructions 895.5 -> 888.2 M at 64). */
#define LIVETAB_SHIFT_INLINE 64

/* livetab_set for the 16-byte layout, on 64-bit halves. */
static PS_ALWAYS_INLINE int livetab_set_w(livetab_t *t, uint64_t ptr, const livetab_blk_t *b)
{
    if (t->last_ptr == ptr && t->last_state >= LIVETAB_ABSENT && !t->last_in_side &&
        livetab_w_fits(t, b)) {
        size_t i = t->last_pos;
        unsigned char *e = t->slots + i * 16;
        if (t->last_state == LIVETAB_ABSENT) {
            /* a new entry at i: the run from i up to the next empty slot moves up by one */
            size_t j = i, n = t->nslots;
            if (t->used >= t->limit)
                return livetab_set_slow(t, ptr, b); /* a rebuild first */
            while (j < n && j - i < LIVETAB_SHIFT_INLINE && livetab_ld64(t->slots + j * 16 + 8))
                j++;
            if (j == n || j - i == LIVETAB_SHIFT_INLINE)
                return livetab_set_slow(t, ptr, b);
            for (unsigned char *d = t->slots + j * 16; d > e; d -= 16)
                memcpy(d, d - 16, 16);
            t->used++;
        } else if (livetab_w_size(livetab_ld64(e)) == LIVETAB_W_SZ_SIDE) {
            return livetab_set_slow(t, ptr, b);
        }
        const uint64_t site = b->site;
        const uint64_t lo = (b->ts - t->t0) | b->size << 44 | site << 62;
        const uint64_t hi = site >> 2 | (uint64_t)b->fn << 16 | t->last_key << LIVETAB_KEY_SHIFT;
        memcpy(e, &lo, sizeof lo);
        memcpy(e + 8, &hi, sizeof hi);
        livetab_count_set(t, t->last_state);
        t->last_state = -1;
        return 0;
    }
    return livetab_set_slow(t, ptr, b);
}

/* livetab_set for 12-byte entries (with livetab_note's bookkeeping for a block that fits:
 * its site, function and time are within the 16-byte widths, no tests for them). */
static PS_ALWAYS_INLINE int livetab_set12(livetab_t *t, uint64_t ptr, const livetab_blk_t *b)
{
    const livetab_f12_t *f = &t->f12;
    uint64_t dts = b->ts - t->t0;
    /* (f12 is all zeros unless the array has 12-byte entries: sz_side 0 sends the rest to
     * the general path; dts wraps when ts < t0) */
    if (t->last_ptr == ptr && t->last_state >= LIVETAB_ABSENT && !t->last_in_side &&
        b->size < f->sz_side && b->site <= f->m_site && b->fn <= f->m_fn && dts <= f->m_ts) {
        size_t i = t->last_pos;
        unsigned char *e = t->slots + i * 12;
        if (t->last_state == LIVETAB_ABSENT) {
            size_t j = i, n = t->nslots;
            if (t->used >= t->limit)
                return livetab_set_slow(t, ptr, b); /* a rebuild first */
            while (j < n && j - i < LIVETAB_SHIFT_INLINE && livetab_ld64(t->slots + j * 12 + 4))
                j++;
            if (j == n || j - i == LIVETAB_SHIFT_INLINE)
                return livetab_set_slow(t, ptr, b);
            for (unsigned char *d = t->slots + j * 12; d > e; d -= 12) {
                uint64_t a = livetab_ld64(d - 12);
                uint32_t c;
                memcpy(&c, d - 4, sizeof c);
                memcpy(d, &a, sizeof a);
                memcpy(d + 8, &c, sizeof c);
            }
            t->used++;
        } else if (((livetab_ld64(e) >> f->sh_size) & f->m_size) == f->sz_side) {
            return livetab_set_slow(t, ptr, b);
        }
        livetab_note_fit(t, b, dts);
        uint64_t key = t->last_key;
        uint64_t lo = key << LIVETAB_P12_BITS | (uint64_t)b->fn << f->sh_fn |
                      (uint64_t)b->site << f->sh_site | b->size << f->sh_size | dts;
        uint32_t hi = (uint32_t)(key >> (64 - LIVETAB_P12_BITS));
        memcpy(e, &lo, sizeof lo);
        memcpy(e + 8, &hi, sizeof hi);
        livetab_count_set(t, t->last_state);
        t->last_state = -1;
        return 0;
    }
    return livetab_set_slow(t, ptr, b);
}

/* Makes ptr a live block with *b, whatever it was (absent, dead, or live: replaced).
 * Returns 0, or -PS_E_NOMEM (then only livetab_free is valid). Inline when the latest
 * livetab_find looked ptr up in the array and *b fits it: its entry reused in place, or a
 * new one where the table has room without a rebuild and the run to shift is short. */
static inline int livetab_set(livetab_t *t, uint64_t ptr, const livetab_blk_t *b)
{
    if (PS_LIKELY(t->lay.stride == 16))
        return livetab_set_w(t, ptr, b);
    return livetab_set12(t, ptr, b);
}

/* A live block released: its entry stays, dead. No effect unless ptr is live. Inline when
 * the latest livetab_find found it live in the array. */
static PS_ALWAYS_INLINE void livetab_kill_l(livetab_t *t, uint64_t ptr, const livetab_layout_t *l)
{
    if (t->last_ptr == ptr && t->last_state == LIVETAB_LIVE && !t->last_in_side) {
        unsigned char *e = t->slots + t->last_pos * l->stride;
        uint64_t lo = livetab_ld64(e); /* ts and size: in the first 8 bytes */
        if (livetab_v_size(lo, l) != livetab_sz_side(l)) {
            /* key, site and fn stay; size becomes the mark, ts 0 */
            lo = (lo & ~livetab_mask(l->w_ts + l->w_size)) | livetab_sz_dead(l) << l->w_ts;
            memcpy(e, &lo, sizeof lo);
            t->live--;
            uint64_t dead = t->dead + 1;
            PS_IN_REG(dead); /* (as livetab_take12's) */
            t->dead = dead;
            t->last_state = LIVETAB_DEAD;
            return;
        }
    }
    livetab_kill_slow(t, ptr);
}

/* livetab_kill_l for 12-byte entries. */
static PS_ALWAYS_INLINE void livetab_kill12(livetab_t *t, uint64_t ptr)
{
    if (t->last_ptr == ptr && t->last_state == LIVETAB_LIVE && !t->last_in_side) {
        const livetab_f12_t *f = &t->f12;
        unsigned char *e = t->slots + t->last_pos * 12;
        uint64_t lo = livetab_ld64(e);
        if (((lo >> f->sh_size) & f->m_size) != f->sz_side) {
            lo = (lo & f->keep_dead) | f->sz_dead << f->sh_size;
            memcpy(e, &lo, sizeof lo);
            t->live--;
            uint64_t dead = t->dead + 1;
            PS_IN_REG(dead); /* (as livetab_take12's) */
            t->dead = dead;
            t->last_state = LIVETAB_DEAD;
            return;
        }
    }
    livetab_kill_slow(t, ptr);
}

static inline void livetab_kill(livetab_t *t, uint64_t ptr)
{
    if (PS_LIKELY(t->lay.stride == 16))
        livetab_kill_l(t, ptr, &livetab_wide_lay);
    else
        livetab_kill12(t, ptr);
}

/* ---- a lookup and its change in one probe ------------------------------------------------ */

/* (the fused 12-byte paths' answer: the general path takes it) */
#define LIVETAB_GENERAL (-1000)

/* livetab_put for 12-byte entries (the large tables' usual layout): the probe, the entry's
 * old state and its change in one pass, as livetab_find12 then livetab_set12 do them. Returns
 * LIVETAB_GENERAL where the general path must take it (an address or data that does not fit,
 * a side entry, a rebuild due, a long run to shift). (t->f12 is all zeros unless the array has
 * 12-byte entries: sz_side 0 sends every block to the general path.) */
static PS_ALWAYS_INLINE int livetab_put12(livetab_t *t, uint64_t ptr, const livetab_blk_t *b,
                                          livetab_blk_t *old)
{
    const livetab_f12_t *f = &t->f12;
    const uint64_t dts = b->ts - t->t0;
    const uint64_t r = (ptr - 16) >> 4 | (ptr - 16) << 60; /* as livetab_ptr_fits */
    if (!(r < LIVETAB_KEY_MASK) ||
        !(b->size < f->sz_side && b->site <= f->m_site && b->fn <= f->m_fn && dts <= f->m_ts))
        return LIVETAB_GENERAL;
    /* the key where the probe compares it (as livetab_put's 16-byte path); r + 1 is ptr >> 4 */
    const uint64_t kw = livetab_kw43(r + 1);
    size_t i = livetab_home_kw(kw, t->nhome);
    const size_t n = t->nslots;
    if (i >= n) /* (a home is below nhome, below nslots: no test for it) */
        __builtin_unreachable();
    unsigned char *s = t->slots;
    uint64_t k;
    /* (slot n reads as empty: LIVETAB_END_PAD; a key is not 0, so no hit there) */
    while ((k = livetab_ld64(s + i * 12 + 4)) - 1 < kw - 1)
        i++;
    int was = LIVETAB_ABSENT;
    unsigned char *e = s + i * 12;
    if ((k ^ kw) >> LIVETAB_KEY_SHIFT == 0) {
        const uint64_t lo = livetab_ld64(e), szf = lo & f->size_at;
        if (PS_UNLIKELY(szf == f->side_at))
            return LIVETAB_GENERAL;
        if (szf == f->dead_at) {
            was = LIVETAB_DEAD;
        } else {
            was = LIVETAB_LIVE;
            old->site = (uint32_t)((lo >> f->sh_site) & f->m_site);
            old->fn = (uint8_t)((lo >> f->sh_fn) & f->m_fn);
            old->size = szf >> f->sh_size;
            old->ts = t->t0 + (lo & f->m_ts);
        }
    } else { /* a new entry at i: the run up to the next empty slot moves up by one */
        size_t j = i;
        if (t->used >= t->limit)
            return LIVETAB_GENERAL; /* a rebuild first */
        /* (slot n reads as empty: j stops there at the latest) */
        while (j - i < LIVETAB_SHIFT_INLINE && livetab_ld64(s + j * 12 + 4))
            j++;
        if (j >= n || j - i == LIVETAB_SHIFT_INLINE)
            return LIVETAB_GENERAL;
        for (unsigned char *d = s + j * 12; d > e; d -= 12) {
            uint64_t a = livetab_ld64(d - 12);
            uint32_t c;
            memcpy(&c, d - 4, sizeof c);
            memcpy(d, &a, sizeof a);
            memcpy(d + 8, &c, sizeof c);
        }
        t->used++;
    }
    livetab_note_fit(t, b, dts);
    /* (the key's low 11 bits at the top of lo, key << 53, and the rest in hi, key >> 11: kw
     * is key << 21) */
    const uint64_t lo = kw << 32 | (uint64_t)b->fn * f->mul_fn |
                        (uint64_t)b->site * f->mul_site | b->size * f->mul_size | dts;
    const uint32_t hi = (uint32_t)(kw >> 32);
    memcpy(e, &lo, sizeof lo);
    memcpy(e + 8, &hi, sizeof hi);
    livetab_count_set(t, was);
    t->last_state = -1; /* (the latest find's state is gone) */
    return was;
}

/* livetab_take for 12-byte entries: LIVETAB_GENERAL where the general path must take it (an address
 * that does not fit, a side entry, an empty table). */
static PS_ALWAYS_INLINE int livetab_take12(livetab_t *t, uint64_t ptr, livetab_blk_t *b)
{
    const livetab_f12_t *f = &t->f12;
    const uint64_t r = (ptr - 16) >> 4 | (ptr - 16) << 60; /* as livetab_ptr_fits */
    if (!(r < LIVETAB_KEY_MASK) || !f->sz_side)
        return LIVETAB_GENERAL;
    const uint64_t kw = livetab_kw43(r + 1); /* (as livetab_put12) */
    size_t i = livetab_home_kw(kw, t->nhome);
    const size_t n = t->nslots;
    if (i >= n) /* (a home is below nhome, below nslots: no test for it) */
        __builtin_unreachable();
    unsigned char *s = t->slots;
    uint64_t k;
    /* (slot n reads as empty: LIVETAB_END_PAD; a key is not 0, so no hit there) */
    while ((k = livetab_ld64(s + i * 12 + 4)) - 1 < kw - 1)
        i++;
    if ((k ^ kw) >> LIVETAB_KEY_SHIFT != 0) {
        t->last_state = -1;
        return LIVETAB_ABSENT;
    }
    unsigned char *e = s + i * 12;
    uint64_t lo = livetab_ld64(e);
    const uint64_t szf = lo & f->size_at;
    if (PS_UNLIKELY(szf == f->side_at))
        return LIVETAB_GENERAL;
    b->site = (uint32_t)((lo >> f->sh_site) & f->m_site);
    b->fn = (uint8_t)((lo >> f->sh_fn) & f->m_fn);
    t->last_state = -1; /* (the latest find's state is gone) */
    if (szf == f->dead_at) {
        b->size = b->ts = 0;
        return LIVETAB_DEAD;
    }
    b->size = szf >> f->sh_size;
    b->ts = t->t0 + (lo & f->m_ts);
    /* key, site and fn stay; size becomes the mark, ts 0 */
    lo = (lo & f->keep_dead) | f->dead_at;
    memcpy(e, &lo, sizeof lo);
    t->live--;
    uint64_t dead = t->dead + 1;
    PS_IN_REG(dead); /* (not one vector add for the neighbours: a store-forwarding stall) */
    t->dead = dead;
    return LIVETAB_LIVE;
}

/* livetab_put's and livetab_take's general paths (a find, then a set or a kill), out of line
 * and on copies of the inline callers' blocks: a block whose address reaches a call lives on
 * the caller's stack, its fields stored and loaded again on the fast paths too. */
int livetab_put_general(livetab_t *t, uint64_t ptr, const livetab_blk_t *b, livetab_blk_t *old);
int livetab_take_general(livetab_t *t, uint64_t ptr, livetab_blk_t *b);

/* The latest livetab_find's state forgotten (livetab_put_fast, livetab_take_fast). */
static inline void livetab_forget(livetab_t *t)
{
    t->last_state = -1;
}

/* livetab_put's inline paths: LIVETAB_GENERAL where livetab_put_general must take it (a
 * caller that can make the block again elsewhere, the replay from its event, calls it itself:
 * nothing of *b held across the probe for it). The 16-byte paths leave the latest
 * livetab_find's state (last_state) as it was: a caller must call livetab_forget before a
 * livetab_set or livetab_kill that could take that state for the address's (the replay:
 * after each batch; its general paths find first). */
static PS_ALWAYS_INLINE int livetab_put_fast(livetab_t *t, uint64_t ptr, const livetab_blk_t *b,
                                             livetab_blk_t *old)
{
    if (PS_LIKELY(t->lay.stride == 16)) {
        const uint64_t r = (ptr - 16) >> 4 | (ptr - 16) << 60; /* as livetab_find_w */
        if (PS_LIKELY(r < LIVETAB_KEY_MASK && livetab_w_fits(t, b))) {
            /* (the key compared where it is in kw: (k ^ kw) >> KEY_SHIFT, no shifts of both) */
            const uint64_t kw = livetab_kw43(r + 1);
            size_t i = livetab_home_kw(kw, t->nhome), n = t->nslots;
            if (i >= n) /* (a home is below nhome, below nslots: no test for it) */
                __builtin_unreachable();
            unsigned char *s = t->slots;
            uint64_t k = 0;
            while (i < n && (k = livetab_ld64(s + i * 16 + 8)) - 1 < kw - 1)
                i++;
            int was = LIVETAB_ABSENT;
            unsigned char *e = s + i * 16;
            if (i < n && (k ^ kw) >> LIVETAB_KEY_SHIFT == 0) {
                const uint64_t lo = livetab_ld64(e), sz = livetab_w_size(lo);
                if (PS_UNLIKELY(sz == LIVETAB_W_SZ_SIDE))
                    return LIVETAB_GENERAL;
                if (sz == LIVETAB_W_SZ_DEAD) {
                    was = LIVETAB_DEAD;
                } else {
                    was = LIVETAB_LIVE;
                    old->site = (uint32_t)((lo >> 62 | k << 2) & ((1u << 18) - 1));
                    old->fn = (uint8_t)((k >> 16) & 31);
                    old->size = sz;
                    old->ts = t->t0 + (lo & ((1ull << 44) - 1));
                }
            } else { /* a new entry at i: the run up to the next empty slot moves up by one */
                size_t j = i;
                if (t->used >= t->limit)
                    return LIVETAB_GENERAL; /* a rebuild first */
                while (j < n && j - i < LIVETAB_SHIFT_INLINE && livetab_ld64(s + j * 16 + 8))
                    j++;
                if (j == n || j - i == LIVETAB_SHIFT_INLINE)
                    return LIVETAB_GENERAL;
                for (unsigned char *d = s + j * 16; d > e; d -= 16)
                    memcpy(d, d - 16, 16);
                t->used++;
            }
            const uint64_t site = b->site;
            const uint64_t lo = (b->ts - t->t0) | b->size << 44 | site << 62;
            const uint64_t hi = site >> 2 | (uint64_t)b->fn << 16 | kw;
            memcpy(e, &lo, sizeof lo);
            memcpy(e + 8, &hi, sizeof hi);
            livetab_count_set(t, was);
            return was; /* (the find's state left: livetab_put_fast) */
        }
        return LIVETAB_GENERAL;
    }
    return livetab_put12(t, ptr, b, old);
}

/* An allocation of ptr with *b: livetab_find then livetab_set in one probe. Returns the state
 * ptr had (LIVETAB_LIVE: *old holds the replaced block's data; otherwise *old is not set), or
 * -PS_E_NOMEM (then only livetab_free is valid). Inline in one probe, for the 16-byte layout
 * and the 12-byte one (livetab_put12), when the address and *b fit and the entry is in the
 * array (reused, or new with a short run to shift and no rebuild due); else a find and a set
 * (each probes): livetab_put_fast, then livetab_put_general. */
static PS_ALWAYS_INLINE int livetab_put(livetab_t *t, uint64_t ptr, const livetab_blk_t *b,
                                        livetab_blk_t *old)
{
    int was = livetab_put_fast(t, ptr, b, old);
    if (PS_LIKELY(was != LIVETAB_GENERAL)) {
        t->last_state = -1; /* (the latest find's state is gone) */
        return was;
    }
    /* on copies: the caller's blocks stay in registers (livetab_put_general) */
    livetab_blk_t c = *b, o = {0, 0, 0, 0};
    was = livetab_put_general(t, ptr, &c, &o);
    *old = o;
    return was;
}

/* livetab_take's inline paths: LIVETAB_GENERAL where livetab_take_general must take it. As
 * livetab_put_fast, the 16-byte paths leave the latest livetab_find's state (last_state) as
 * it was: a caller that calls them must call livetab_forget before a livetab_set or
 * livetab_kill that could take that state for the address's (the replay: after each batch;
 * its general paths find first). */
static PS_ALWAYS_INLINE int livetab_take_fast(livetab_t *t, uint64_t ptr, livetab_blk_t *b)
{
    if (PS_LIKELY(t->lay.stride == 16)) {
        const uint64_t r = (ptr - 16) >> 4 | (ptr - 16) << 60; /* as livetab_find_w */
        if (PS_LIKELY(r < LIVETAB_KEY_MASK)) {
            /* (the key compared where it is in kw: (k ^ kw) >> KEY_SHIFT, no shifts of both) */
            const uint64_t kw = livetab_kw43(r + 1);
            size_t i = livetab_home_kw(kw, t->nhome), n = t->nslots;
            if (i >= n) /* (a home is below nhome, below nslots: no test for it) */
                __builtin_unreachable();
            unsigned char *s = t->slots;
            uint64_t k = 0;
            while (i < n && (k = livetab_ld64(s + i * 16 + 8)) - 1 < kw - 1)
                i++;
            if (i < n && (k ^ kw) >> LIVETAB_KEY_SHIFT == 0) {
                unsigned char *e = s + i * 16;
                uint64_t lo = livetab_ld64(e);
                const uint64_t sz = livetab_w_size(lo);
                /* (a live block's size is below both marks: one test for the usual case) */
                if (PS_UNLIKELY(sz >= LIVETAB_W_SZ_SIDE) && sz == LIVETAB_W_SZ_DEAD) {
                    b->site = (uint32_t)((lo >> 62 | k << 2) & ((1u << 18) - 1));
                    b->fn = (uint8_t)((k >> 16) & 31);
                    b->size = b->ts = 0;
                    return LIVETAB_DEAD;
                }
                if (PS_LIKELY(sz != LIVETAB_W_SZ_SIDE)) {
                    b->site = (uint32_t)((lo >> 62 | k << 2) & ((1u << 18) - 1));
                    b->fn = (uint8_t)((k >> 16) & 31);
                    b->size = sz;
                    b->ts = t->t0 + (lo & ((1ull << 44) - 1));
                    /* key, site and fn stay; size becomes the mark, ts 0 */
                    lo = (lo & ~((1ull << 62) - 1)) | LIVETAB_W_SZ_DEAD << 44;
                    memcpy(e, &lo, sizeof lo);
                    t->live--;
                    uint64_t dead = t->dead + 1;
                    PS_IN_REG(dead); /* (not one vector add for the neighbours: 3 for 2) */
                    t->dead = dead;
                    return LIVETAB_LIVE;
                }
            } else {
                return LIVETAB_ABSENT;
            }
        }
        return LIVETAB_GENERAL;
    }
    return livetab_take12(t, ptr, b);
}

/* A release of ptr: livetab_find then, if it is live, livetab_kill in one probe. Returns the
 * state ptr had: LIVETAB_LIVE (all of *b; the block is dead now), LIVETAB_DEAD (b->site,
 * b->fn) or LIVETAB_ABSENT. Inline in one probe for both layouts (livetab_take12) where the
 * address fits and the entry is not a side entry's marker (livetab_take_fast). */
static PS_ALWAYS_INLINE int livetab_take(livetab_t *t, uint64_t ptr, livetab_blk_t *b)
{
    int was = livetab_take_fast(t, ptr, b);
    if (PS_LIKELY(was != LIVETAB_GENERAL)) {
        t->last_state = -1; /* (the latest find's state is gone) */
        return was;
    }
    livetab_blk_t c = {0, 0, 0, 0}; /* (a copy: as livetab_put's) */
    was = livetab_take_general(t, ptr, &c);
    *b = c;
    return was;
}

/* The entries from a home on that the prefetches below cover (the lines of the first and the
 * last). kvstore 1 M keys (12-byte entries, 8 M events): of the lookups that find their key
 * (releases, dead entries reused), 6.7% read a line past the first three entries' lines and
 * 0.8% past the first five's; of the insertions (their scan to the next empty slot), 7.6% and
 * 4.6%; for 1.5 and 1.88 lines prefetched an event. Five: the report's pass thread ~5% less
 * cpu time (medians of 30 interleaved runs; four: ~1%). */
#define LIVETAB_PF_ENTRIES 5

/* Starts loading ptr's first slot into the cache (a hint: no effect on the contents). A
 * reader that knows the next addresses a few events ahead hides the memory latency. Always
 * inlined (the replay's prefetch hook is this and nothing else: one call less per event);
 * (GCC 12 drops a call to an inline function that does nothing but prefetch, as if it were
 * pure: an inline, not always-inlined, version compiled to nothing) */
static PS_ALWAYS_INLINE void livetab_prefetch(const livetab_t *t, uint64_t ptr)
{
    if (livetab_ptr_fits(ptr) && t->nslots) {
        const unsigned char *e =
            t->slots + livetab_home(livetab_perm43(ptr >> 4), t->nhome) * t->lay.stride;
        __builtin_prefetch(e);
        /* the next line where the run's first LIVETAB_PF_ENTRIES entries reach it (the same
         * line: the second prefetch merges with the first's fill, no second line fetched) */
        __builtin_prefetch(e + LIVETAB_PF_ENTRIES * t->lay.stride - 1);
    }
}

/* livetab_prefetch in two steps, for a reader that computes the places of a batch at once
 * and prefetches them one at a time later (livetab_prefetch_entry): the home entries of n
 * addresses (seldom the entry before one: below), the first at ptr and each `step` bytes after the one before (a field of an array
 * of structs), into out. An address that does not fit (a failed allocation's 0) gets a home of
 * no use but in the array, or none without one (slots NULL, nhome 0); a place computed before
 * a rebuild prefetches lines of no use: never a fault. The table's fields are read once (the
 * stores to out may alias them for the compiler, which loaded them again for each address). */
static PS_ALWAYS_INLINE void livetab_home_entries(const livetab_t *t, const uint64_t *ptr,
                                                  size_t step, size_t n, const unsigned char **out)
{
    const unsigned char *const slots = t->slots;
    const size_t nhome = t->nhome, stride = t->lay.stride;
    const unsigned char *p = (const unsigned char *)ptr;
    /* livetab_kw43(a >> 4) without the group's bits (the low LIVETAB_GROUP_BITS of the key, the
     * last 4 + LIVETAB_GROUP_BITS bits of a above its alignment), near enough for a prefetch:
     * they add less than 2^24 to the 64-bit key word, which moves a home by one slot at most, for
     * about one address in 2^(43 - log2 nhome) (66 of 50 M random ones for 3.7 M home slots);
     * the product of a with them clear by the multiplier 4 bits lower is the word itself (two
     * instructions, not five) */
    const uint64_t group = ((uint64_t)LIVETAB_GROUP_MASK + 1) << 4;
    for (size_t i = 0; i < n; i++, p += step) {
        uint64_t a;
        memcpy(&a, p, sizeof a);
        const uint64_t kw = (a & ~(group - 1)) * (0x9e3779b97f4a7c15ull << (LIVETAB_KEY_SHIFT - 4));
        out[i] = slots + livetab_home_kw(kw, nhome) * stride;
    }
}

static PS_ALWAYS_INLINE void livetab_prefetch_entry(const livetab_t *t, const unsigned char *e)
{
    __builtin_prefetch(e);
    __builtin_prefetch(e + LIVETAB_PF_ENTRIES * t->lay.stride - 1); /* (as livetab_prefetch) */
}

/* The array is larger than a core's cache (1 MiB and more): prefetching pays. */
static inline int livetab_large(const livetab_t *t)
{
    return t->nslots >= (1u << 16);
}

/* A hint (no effect on the contents): the table will hold about n live blocks at its peak.
 * The rebuild that makes the first large array (LIVETAB_SMALL_SLOTS slots and more) gives it
 * n + n / LIVETAB_HINT_ROOM slots at once (if that is more than it would), instead of growing
 * there through rebuilds: the array then fills to 80% at n blocks (the inserts of new
 * addresses shift short runs: ~3 entries on average up to n, against ~18 between a grown
 * table's rebuilds at 71% and 90%), and takes less memory than the 1.4 x a grown table
 * ends at. Past n, it grows as without the hint. */
#define LIVETAB_HINT_ROOM 4
void livetab_hint(livetab_t *t, uint64_t n);

/* After livetab_hint, where a second core may do it: the pages of the array the hint will
 * make are faulted in (zeroed by the kernel) on a thread of its own, while the caller goes on
 * (the first rebuild to a large array writes all over it: ~10-50 ms of page faults on the
 * caller's thread otherwise, for 3 M blocks). The pages count in the RSS as the array would
 * make them count anyway. No effect without a hint of a large array, or where the reservation
 * or the thread fails; livetab_free waits for the thread. */
void livetab_prefault(livetab_t *t);

/* Bytes held by the table (array and side table). */
size_t livetab_bytes(const livetab_t *t);

void livetab_free(livetab_t *t);

#endif /* PERFSHIM_LIVETAB_H */
