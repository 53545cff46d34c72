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

/* Looks ptr up: LIVETAB_LIVE (all of *b), LIVETAB_DEAD (b->site, b->fn) or LIVETAB_ABSENT. */
int livetab_find(livetab_t *t, uint64_t ptr, livetab_blk_t *b);

/* Makes ptr a live block with *b, whatever it was (absent, dead, or live: replaced).
 * Returns 0, or -PS_E_NOMEM (then only livetab_free is valid). */
int livetab_set(livetab_t *t, uint64_t ptr, const livetab_blk_t *b);

/* A live block released: its entry stays, dead. No effect unless ptr is live. */
void livetab_kill(livetab_t *t, uint64_t ptr);

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
