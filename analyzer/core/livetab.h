/*
 * livetab.h -- the replay's table of heap blocks by address: the live blocks, and released
 * ("dead") ones kept for a while so that a second release is recognised as a double free.
 *
 * Contract: single-threaded; a zeroed livetab_t is an empty table (livetab_free releases it).
 * Each block is an address (never 0) with its requested size, allocation time (ns, exact),
 * site index and allocation function; a dead block keeps its site and function only. Sizes,
 * times and site indices of any value are kept exactly.
 *
 * Cost: 16 bytes per entry in one array, ordered linear probing (entries in the order of a
 * 43-bit permutation of the address, so a lookup stops at the first greater key and a rebuild
 * is one sequential merge). An entry holds the address shifted by the allocator's 16-byte
 * alignment (< 2^47), the function (5 bits), the site (18 bits), the size (18 bits, up to
 * 256 KiB - 3) and the time since the table's origin (44 bits, 4.9 hours; the origin is the
 * first allocation's time). What does not fit (an unaligned or high address, a larger size or
 * site, a time before the origin or past 4.9 h) goes to a side table of 32-byte entries; a
 * block that fits costs no side entry. The array holds at most 1.5 x the peak number of live
 * blocks (or LIVETAB_MIN_SLOTS): at most 24 bytes per live block at the peak, dead entries
 * included, plus the side table. An array of 4 MiB and more lives in 64 GiB of address space
 * reserved once (MAP_NORESERVE: only the pages it reaches count), on 2 MiB boundaries with
 * MADV_HUGEPAGE (random probes: far fewer TLB misses), and is rebuilt in place: no second
 * array. (Where the reservation fails, a rebuild copies into a new array.)
 *
 * Dead entries: a released block's entry stays, dead, until its address is allocated again
 * (the entry is reused in place) or until the next rebuild that lacks room for it. A rebuild
 * happens when an allocation of a new address would fill the array past 90%; it sizes the
 * array to 1.5 x the peak of live blocks and keeps the dead entries when live + dead entries
 * fill at most 75% of it, else drops them all. So a double free is recognised while its dead
 * entry lasts: always in a table that never rebuilt (up to LIVETAB_MIN_SLOTS * 0.9 distinct
 * addresses), and in a larger one until the heap has seen about 0.35 x its peak in new
 * addresses since the release.
 *
 * livetab_find() looks an address up; livetab_set() and livetab_kill() act on the address of
 * the latest livetab_find() without a second probe (another address works, at a probe's cost).
 */
#ifndef PERFSHIM_LIVETAB_H
#define PERFSHIM_LIVETAB_H

#include <stddef.h>
#include <stdint.h>

#include "perfshim/compiler.h"

#define LIVETAB_MIN_SLOTS 4096 /* 64 KiB: a small trace never rebuilds */

enum livetab_state { LIVETAB_ABSENT = 0, LIVETAB_LIVE = 1, LIVETAB_DEAD = 2 };

/* A block's data, unpacked. */
typedef struct livetab_blk_s {
    uint64_t size, ts; /* dead blocks: 0 */
    uint32_t site;
    uint8_t fn;
} livetab_blk_t;

typedef struct livetab_side_s livetab_side_t; /* side table entry (livetab.c) */

typedef struct livetab_s {
    uint64_t (*slots)[2]; /* nslots entries of two words: key and fields, see livetab.c */
    size_t nslots;        /* array length: home slots + a tail where runs may spill */
    size_t nhome;         /* home slots: a key's first slot is in [0, nhome) */
    size_t used, limit;   /* entries in the array; a rebuild when one more would pass limit */
    unsigned tail_shift;  /* the tail is 2^tail_shift times its usual length (runs spilled) */
    uint64_t t0;          /* time origin (first allocation), valid when have_t0 */
    int have_t0;
    livetab_side_t *side; /* power-of-two open addressing, linear probing, by address */
    size_t side_cap, side_n;
    uint64_t live, dead, peak_live; /* blocks, side table's included */
    uint64_t rebuilds, dead_dropped;
    void *resv_map;               /* the reserved address space (livetab.c), or NULL */
    uint64_t (*resv_base)[2];     /* its 2 MiB-aligned start: slots once the array is large */
    int resv_failed;
    /* the latest livetab_find: its address, state, and where (slot, or side index) */
    uint64_t last_ptr, last_key;
    size_t last_pos;
    int last_state, last_in_side;
} livetab_t;

/* ---- the entry layout (livetab.c describes it), here for the inline fast paths ------- */

#define LIVETAB_KEY_BITS 43
#define LIVETAB_KEY_MASK ((1ull << LIVETAB_KEY_BITS) - 1)
#define LIVETAB_KEY_SHIFT (64 - LIVETAB_KEY_BITS) /* key's place in w[0] */
#define LIVETAB_FN_BITS 5
#define LIVETAB_SITE_BITS 18
#define LIVETAB_SIZE_BITS 18
#define LIVETAB_TS_BITS 44
#define LIVETAB_SZ_DEAD ((1ull << LIVETAB_SIZE_BITS) - 1)
#define LIVETAB_SZ_SIDE ((1ull << LIVETAB_SIZE_BITS) - 2)
#define LIVETAB_TS_MASK ((1ull << LIVETAB_TS_BITS) - 1)

/* A block's address fits an entry: 16-byte aligned, below 2^47, not 0. */
static inline int livetab_ptr_fits(uint64_t ptr)
{
    return ptr && !(ptr & 15) && ptr < (1ull << (LIVETAB_KEY_BITS + 4));
}

/* Multiplicative (Fibonacci) hashing: the high bits, which choose the home slot, depend on
 * every bit of the address; the xorshift makes it a bijection that also mixes the low bits. */
static inline uint64_t livetab_perm43(uint64_t x)
{
    x = (x * 0x9e3779b97f4a7c15ull) & LIVETAB_KEY_MASK;
    return x ^ (x >> 22);
}

static inline size_t livetab_home(uint64_t key, size_t nhome)
{
    return (size_t)(((unsigned __int128)(key << LIVETAB_KEY_SHIFT) * nhome) >> 64);
}

static inline uint64_t livetab_ent_key(const uint64_t *e)
{
    return e[0] >> LIVETAB_KEY_SHIFT;
}

static inline uint64_t livetab_ent_size(const uint64_t *e)
{
    return (e[1] >> LIVETAB_TS_BITS) & LIVETAB_SZ_DEAD;
}

static inline void livetab_ent_unpack(const uint64_t *e, uint64_t t0, livetab_blk_t *b)
{
    uint64_t sz = livetab_ent_size(e);
    b->fn = (uint8_t)((e[0] >> 16) & ((1u << LIVETAB_FN_BITS) - 1));
    b->site = (uint32_t)((e[0] & 0xffff) << 2 | e[1] >> 62);
    b->size = sz == LIVETAB_SZ_DEAD ? 0 : sz;
    b->ts = sz == LIVETAB_SZ_DEAD ? 0 : t0 + (e[1] & LIVETAB_TS_MASK);
}

static inline void livetab_ent_pack(uint64_t *e, uint64_t key, uint8_t fn, uint32_t site,
                                    uint64_t size, uint64_t dts)
{
    e[0] = key << LIVETAB_KEY_SHIFT | (uint64_t)fn << 16 | (uint64_t)site >> 2;
    e[1] = (uint64_t)(site & 3) << 62 | size << LIVETAB_TS_BITS | dts;
}

/* The block's data fits an entry (the address aside). */
static inline int livetab_blk_fits(const livetab_t *t, const livetab_blk_t *b)
{
    return b->size < LIVETAB_SZ_SIDE && b->site < (1u << LIVETAB_SITE_BITS) &&
           b->fn < (1u << LIVETAB_FN_BITS) && b->ts >= t->t0 && b->ts - t->t0 <= LIVETAB_TS_MASK;
}

static inline void livetab_count_set(livetab_t *t, int was)
{
    if (was == LIVETAB_DEAD)
        t->dead--;
    if (was != LIVETAB_LIVE)
        t->live++;
    if (t->live > t->peak_live)
        t->peak_live = t->live;
}

/* The general paths (livetab.c); the inline functions below take the common cases. */
int livetab_find_slow(livetab_t *t, uint64_t ptr, livetab_blk_t *b);
int livetab_set_slow(livetab_t *t, uint64_t ptr, const livetab_blk_t *b);
void livetab_kill_slow(livetab_t *t, uint64_t ptr);

/* Looks ptr up: LIVETAB_LIVE (all of *b), LIVETAB_DEAD (b->site, b->fn) or LIVETAB_ABSENT.
 * Inline for an address that fits, in the array (the side table: livetab_find_slow); always
 * inlined (GCC kept a call: 10 instructions more per event). */
static PS_ALWAYS_INLINE int livetab_find(livetab_t *t, uint64_t ptr, livetab_blk_t *b)
{
    if (!livetab_ptr_fits(ptr) || !t->nslots)
        return livetab_find_slow(t, ptr, b);
    uint64_t key = livetab_perm43(ptr >> 4), kw = key << LIVETAB_KEY_SHIFT;
    size_t i = livetab_home(key, t->nhome), n = t->nslots;
    /* while the slot holds a smaller key (an empty slot, w[0] == 0, stops: 0 - 1 wraps) */
    while (i < n && t->slots[i][0] - 1 < kw - 1)
        i++;
    const uint64_t *e = i < n ? t->slots[i] : NULL;
    uint64_t sz = e ? livetab_ent_size(e) : 0;
    if (e && livetab_ent_key(e) == key && sz == LIVETAB_SZ_SIDE)
        return livetab_find_slow(t, ptr, b);
    t->last_ptr = ptr;
    t->last_in_side = 0;
    t->last_key = key;
    t->last_pos = i;
    if (!e || livetab_ent_key(e) != key)
        return t->last_state = LIVETAB_ABSENT;
    if (b)
        livetab_ent_unpack(e, t->t0, b);
    return t->last_state = sz == LIVETAB_SZ_DEAD ? LIVETAB_DEAD : LIVETAB_LIVE;
}

/* Makes ptr a live block with *b, whatever it was (absent, dead, or live: replaced).
 * Returns 0, or -PS_E_NOMEM (then only livetab_free is valid). Inline when the latest
 * livetab_find found ptr's entry in the array and *b fits it. */
static inline int livetab_set(livetab_t *t, uint64_t ptr, const livetab_blk_t *b)
{
    if (t->last_ptr == ptr && t->last_state > LIVETAB_ABSENT && !t->last_in_side &&
        t->have_t0 && livetab_blk_fits(t, b)) {
        uint64_t *e = t->slots[t->last_pos];
        if (livetab_ent_size(e) != LIVETAB_SZ_SIDE) {
            livetab_ent_pack(e, t->last_key, b->fn, b->site, b->size, b->ts - t->t0);
            livetab_count_set(t, t->last_state);
            t->last_state = -1;
            return 0;
        }
    }
    return livetab_set_slow(t, ptr, b);
}

/* A live block released: its entry stays, dead. No effect unless ptr is live. Inline when
 * the latest livetab_find found it live in the array. */
static inline void livetab_kill(livetab_t *t, uint64_t ptr)
{
    if (t->last_ptr == ptr && t->last_state == LIVETAB_LIVE && !t->last_in_side) {
        uint64_t *e = t->slots[t->last_pos];
        if (livetab_ent_size(e) != LIVETAB_SZ_SIDE) {
            /* site and fn stay; size becomes the mark, ts 0 */
            e[1] = (e[1] & (3ull << 62)) | LIVETAB_SZ_DEAD << LIVETAB_TS_BITS;
            t->live--;
            t->dead++;
            t->last_state = LIVETAB_DEAD;
            return;
        }
    }
    livetab_kill_slow(t, ptr);
}

/* Starts loading ptr's first slot into the cache (a hint: no effect on the contents). A
 * reader that knows the next addresses a few events ahead hides the memory latency. */
void livetab_prefetch(const livetab_t *t, uint64_t ptr);

/* The array is larger than a core's cache (1 MiB and more): prefetching pays. */
static inline int livetab_large(const livetab_t *t)
{
    return t->nslots >= (1u << 16);
}

/* Bytes held by the table (array and side table). */
size_t livetab_bytes(const livetab_t *t);

void livetab_free(livetab_t *t);

#endif /* PERFSHIM_LIVETAB_H */
