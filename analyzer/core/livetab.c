/*
 * livetab.c -- see livetab.h.
 *
 * An entry is two words, w[0] = key << 21 | fn << 16 | site >> 2 and
 * w[1] = (site & 3) << 62 | size << 44 | (ts - t0), where key = perm43(ptr >> 4) (a bijection
 * on 43 bits, never 0 for a block: w[0] == 0 is an empty slot). A size field of SZ_DEAD marks
 * a dead entry (its ts field is 0); SZ_SIDE says the block's data is in the side table.
 *
 * Ordered linear probing (Amble and Knuth): a key's home slot is (key * nhome) >> 43, which
 * grows with the key, and the entries lie in key order, each at or after its home with no
 * empty slot in between; a lookup scans from the home while the keys are smaller. An insertion
 * shifts the run from its place to the next empty slot by one. Runs never wrap: the array has
 * a tail after the home slots; one that would spill past it makes a rebuild with a longer tail.
 * A rebuild reads the old array in order and writes each kept entry at max(its new home, the
 * slot after the previous one): one sequential pass, no probing. Once the array is large it
 * lives in a reserved range of address space and is rebuilt in place (inplace()): no second
 * array, so the peak RSS is the array's own size.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/livetab.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "perfshim/compiler.h"
#include "perfshim/errors.h"
#include "perfshim/mix.h"

/* The layout's names (livetab.h) under the short ones this file uses. */
#define KEY_BITS LIVETAB_KEY_BITS
#define KEY_MASK LIVETAB_KEY_MASK
#define KEY_SHIFT LIVETAB_KEY_SHIFT
#define TS_BITS LIVETAB_TS_BITS
#define SZ_DEAD LIVETAB_SZ_DEAD
#define SZ_SIDE LIVETAB_SZ_SIDE
#define ptr_fits livetab_ptr_fits
#define perm43 livetab_perm43
#define home livetab_home
#define ent_key livetab_ent_key
#define ent_size livetab_ent_size
#define ent_unpack livetab_ent_unpack
#define ent_pack livetab_ent_pack
#define blk_fits livetab_blk_fits

struct livetab_side_s {
    uint64_t ptr; /* 0: empty */
    uint64_t size, ts;
    uint32_t site;
    uint8_t fn, dead;
};

/* ---- packing ------------------------------------------------------------------------- */

/* ---- memory -------------------------------------------------------------------------- */

#define HUGE_MIN (4u << 20)
#define HUGE_ALIGN (2u << 20)

/* A zeroed array of n entries: calloc, or for HUGE_MIN bytes and more an mmap on a 2 MiB
 * boundary with transparent huge pages asked for. */
static uint64_t (*arr_alloc(size_t n))[2]
{
    size_t bytes = n * 16;
    if (bytes < HUGE_MIN)
        return calloc(n, 16);
    size_t len = (bytes + HUGE_ALIGN - 1) & ~(size_t)(HUGE_ALIGN - 1);
    unsigned char *m = mmap(NULL, len + HUGE_ALIGN, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    size_t head = (size_t)(-(uintptr_t)m & (HUGE_ALIGN - 1));
    if (head)
        munmap(m, head);
    if (HUGE_ALIGN - head)
        munmap(m + head + len, HUGE_ALIGN - head);
#ifdef MADV_HUGEPAGE
    madvise(m + head, len, MADV_HUGEPAGE); /* a hint: without it, 4 KiB pages */
#endif
    return (uint64_t(*)[2])(void *)(m + head);
}

static void arr_free(uint64_t (*a)[2], size_t n)
{
    size_t bytes = n * 16;
    if (bytes < HUGE_MIN)
        free(a);
    else if (a)
        munmap(a, (bytes + HUGE_ALIGN - 1) & ~(size_t)(HUGE_ALIGN - 1));
}

/* ---- side table ---------------------------------------------------------------------- */

static size_t side_slot(uint64_t ptr, size_t cap)
{
    return (size_t)ps_mix64(ptr) & (cap - 1);
}

static livetab_side_t *side_find(const livetab_t *t, uint64_t ptr)
{
    if (!t->side_cap || !ptr)
        return NULL;
    for (size_t i = side_slot(ptr, t->side_cap);; i = (i + 1) & (t->side_cap - 1)) {
        if (t->side[i].ptr == ptr)
            return &t->side[i];
        if (!t->side[i].ptr)
            return NULL;
    }
}

static int side_resize(livetab_t *t, size_t cap, bool drop_dead)
{
    livetab_side_t *s = calloc(cap, sizeof(*s));
    if (!s)
        return -PS_E_NOMEM;
    size_t n = 0;
    for (size_t j = 0; j < t->side_cap; j++) {
        const livetab_side_t *o = &t->side[j];
        if (!o->ptr || (drop_dead && o->dead))
            continue;
        size_t i = side_slot(o->ptr, cap);
        while (s[i].ptr)
            i = (i + 1) & (cap - 1);
        s[i] = *o;
        n++;
    }
    free(t->side);
    t->side = s;
    t->side_cap = cap;
    t->side_n = n;
    return 0;
}

/* Sets ptr's side entry (new or existing) to a live *b. */
static int side_put(livetab_t *t, uint64_t ptr, const livetab_blk_t *b)
{
    livetab_side_t *e = side_find(t, ptr);
    if (!e) {
        if ((t->side_n + 1) * 2 > t->side_cap) {
            int rc = side_resize(t, t->side_cap ? t->side_cap * 2 : 64, false);
            if (rc < 0)
                return rc;
        }
        size_t i = side_slot(ptr, t->side_cap);
        while (t->side[i].ptr)
            i = (i + 1) & (t->side_cap - 1);
        e = &t->side[i];
        t->side_n++;
    }
    *e = (livetab_side_t){ptr, b->size, b->ts, b->site, b->fn, 0};
    return 0;
}

/* Removes ptr's side entry (backward-shift deletion: no tombstones). */
static void side_del(livetab_t *t, uint64_t ptr)
{
    livetab_side_t *e = side_find(t, ptr);
    if (!e)
        return;
    size_t mask = t->side_cap - 1, i = (size_t)(e - t->side);
    for (size_t j = (i + 1) & mask; t->side[j].ptr; j = (j + 1) & mask) {
        size_t h = side_slot(t->side[j].ptr, t->side_cap);
        /* j's entry may move to the hole at i when its home is not in (i, j] */
        if (((j - h) & mask) >= ((j - i) & mask)) {
            t->side[i] = t->side[j];
            i = j;
        }
    }
    t->side[i].ptr = 0;
    t->side_n--;
}

/* ---- the array ----------------------------------------------------------------------- */

/* The inverse of perm43 (a marker's address, to reach its side entry in a rebuild). */
static uint64_t unxorshift43(uint64_t y, unsigned s)
{
    uint64_t x = y;
    for (unsigned k = s; k < KEY_BITS; k += s)
        x = y ^ (x >> s);
    return x;
}

static uint64_t inv_odd(uint64_t c)
{
    uint64_t x = c; /* Newton: each step doubles the correct low bits (3 to start) */
    for (int k = 0; k < 5; k++)
        x *= 2 - c * x;
    return x;
}

static uint64_t unperm43(uint64_t x)
{
    x = unxorshift43(x, 22);
    return (x * inv_odd(0x9e3779b97f4a7c15ull)) & KEY_MASK;
}

/* The address space the array grows into in place once it is large: reserved once
 * (MAP_NORESERVE: pages are touched, and count, only as the array reaches them). */
#define RESV_BYTES (64ull << 30)

static bool resv_get(livetab_t *t)
{
    if (t->resv_map)
        return true;
    if (t->resv_failed)
        return false;
    unsigned char *m = mmap(NULL, RESV_BYTES + HUGE_ALIGN, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) { /* RLIMIT_AS, strict overcommit: a copy per rebuild instead */
        t->resv_failed = 1;
        return false;
    }
    t->resv_map = m;
    t->resv_base = (uint64_t(*)[2])(void *)(m + (-(uintptr_t)m & (HUGE_ALIGN - 1)));
#ifdef MADV_HUGEPAGE
    madvise(t->resv_base, RESV_BYTES, MADV_HUGEPAGE);
#endif
    return true;
}

/* A rebuild drops this entry (no room for dead ones): a dead entry, or the marker of a side
 * entry that is dead or already gone (the side table is purged first). */
static bool drops(const livetab_t *t, const uint64_t *o)
{
    uint64_t sz = ent_size(o);
    if (sz == SZ_DEAD)
        return true;
    if (sz != SZ_SIDE)
        return false;
    const livetab_side_t *e = side_find(t, unperm43(ent_key(o)) << 4);
    return !e || e->dead;
}

/* The rebuild in place, in the reservation: [0, t->nslots) becomes [0, nslots), nslots >=
 * t->nslots, the slots beyond zero. The kept entries are first packed, in order, against the
 * end, then placed from the start: every entry moves left in the second pass, so nothing is
 * overwritten. Returns 0, or 1 when they spill past nslots: all of them are then still in
 * [0, nslots), in order, and a retry with a longer tail starts over. */
static int inplace(livetab_t *t, size_t nhome, size_t nslots, bool keep_dead, size_t *used,
                   uint64_t *dropped)
{
    uint64_t(*s)[2] = t->slots;
    size_t w = nslots;
    for (size_t j = nslots; j-- > 0;) {
        if (!s[j][0])
            continue;
        uint64_t e0 = s[j][0], e1 = s[j][1];
        s[j][0] = s[j][1] = 0;
        if (!keep_dead && drops(t, (uint64_t[2]){e0, e1})) {
            *dropped += ent_size((uint64_t[2]){e0, e1}) == SZ_DEAD;
            continue;
        }
        w--;
        s[w][0] = e0;
        s[w][1] = e1;
    }
    size_t cur = 0, n = 0;
    for (size_t r = w; r < nslots; r++) {
        size_t h = home(s[r][0] >> KEY_SHIFT, nhome), i = cur > h ? cur : h;
        if (i > r)
            return 1;
        if (i != r) {
            s[i][0] = s[r][0];
            s[i][1] = s[r][1];
            s[r][0] = s[r][1] = 0;
        }
        cur = i + 1;
        n++;
    }
    *used = n;
    return 0;
}

/* Rebuilds the array for peak live blocks (see livetab.h) with a tail 2^tail_shift times its
 * usual length (phys / 128, at least 64 slots): in place once the array is in the
 * reservation, else into a new array (the first one of HUGE_MIN bytes or more goes to the
 * reservation). */
static int rebuild(livetab_t *t, uint64_t peak, unsigned tail_shift)
{
    size_t phys = (size_t)(peak + peak / 2);
    if (phys < LIVETAB_MIN_SLOTS)
        phys = LIVETAB_MIN_SLOTS;
    size_t tail0 = phys / 128 > 64 ? phys / 128 : 64, nhome = phys - tail0;
    bool keep_dead = t->used <= nhome / 4 * 3;
    size_t used = 0;
    uint64_t dropped = 0;
    if (t->slots && t->slots == t->resv_base) {
        if (!keep_dead && t->side_cap) { /* the side table first: it may fail, cleanly */
            size_t before = t->side_n;
            int rc = side_resize(t, t->side_cap, true);
            if (rc < 0)
                return rc;
            dropped += before - t->side_n;
        }
        for (;; tail_shift++) {
            size_t nslots = nhome + (tail0 << tail_shift);
            if (nslots > RESV_BYTES / 16)
                return -PS_E_NOMEM;
            if (nslots < t->nslots)
                nslots = t->nslots;
            int sp = inplace(t, nhome, nslots, keep_dead, &used, &dropped);
            t->nslots = nslots; /* entries may lie anywhere in it now */
            if (sp == 0)
                break;
        }
    } else {
        for (;; tail_shift++) {
            size_t nslots = nhome + (tail0 << tail_shift);
            bool to_resv = nslots * 16 >= HUGE_MIN && nslots <= RESV_BYTES / 16 && resv_get(t);
            uint64_t(*s)[2] = to_resv ? t->resv_base : arr_alloc(nslots);
            if (!s)
                return -PS_E_NOMEM;
            size_t cur = 0;
            bool spilled = false;
            used = 0;
            dropped = 0;
            for (size_t j = 0; j < t->nslots; j++) {
                const uint64_t *o = t->slots[j];
                if (!o[0])
                    continue;
                if (!keep_dead && drops(t, o)) {
                    dropped += ent_size(o) == SZ_DEAD;
                    continue; /* a marker's side entry is counted below */
                }
                size_t h = home(ent_key(o), nhome), i = cur > h ? cur : h;
                if (i >= nslots) {
                    spilled = true;
                    break;
                }
                s[i][0] = o[0];
                s[i][1] = o[1];
                cur = i + 1;
                used++;
            }
            bool oom = false;
            if (!spilled && !keep_dead && t->side_cap) {
                size_t before = t->side_n;
                oom = side_resize(t, t->side_cap, true) < 0;
                dropped += before - t->side_n;
            }
            if (spilled || oom) {
                if (to_resv)
                    memset(s, 0, cur * sizeof(*s));
                else
                    arr_free(s, nslots);
                if (oom)
                    return -PS_E_NOMEM;
                continue;
            }
            arr_free(t->slots, t->nslots);
            t->slots = s;
            t->nslots = nslots;
            break;
        }
    }
    t->nhome = nhome;
    t->tail_shift = tail_shift;
    t->used = used;
    t->limit = nhome / 10 * 9;
    t->rebuilds++;
    t->dead -= dropped;
    t->dead_dropped += dropped;
    t->last_state = -1;
    return 0;
}

static int first_alloc(livetab_t *t, const livetab_blk_t *b)
{
    if (!t->have_t0) {
        t->t0 = b->ts;
        t->have_t0 = 1;
    }
    if (!t->nslots)
        return rebuild(t, 0, 0);
    return 0;
}

/* ---- entry points -------------------------------------------------------------------- */

static int side_state(const livetab_side_t *e, livetab_blk_t *b)
{
    if (b) {
        b->size = e->dead ? 0 : e->size;
        b->ts = e->dead ? 0 : e->ts;
        b->site = e->site;
        b->fn = e->fn;
    }
    return e->dead ? LIVETAB_DEAD : LIVETAB_LIVE;
}

int livetab_find_slow(livetab_t *t, uint64_t ptr, livetab_blk_t *b)
{
    t->last_ptr = ptr;
    if (PS_UNLIKELY(!ptr_fits(ptr))) {
        livetab_side_t *e = side_find(t, ptr);
        t->last_in_side = 1;
        t->last_pos = e ? (size_t)(e - t->side) : 0;
        return t->last_state = e ? side_state(e, b) : LIVETAB_ABSENT;
    }
    t->last_in_side = 0;
    if (PS_UNLIKELY(!t->nslots)) {
        t->last_pos = 0;
        return t->last_state = LIVETAB_ABSENT;
    }
    uint64_t key = perm43(ptr >> 4), kw = key << KEY_SHIFT;
    size_t i = home(key, t->nhome), n = t->nslots;
    t->last_key = key;
    /* while the slot holds a smaller key (an empty slot, w[0] == 0, stops: 0 - 1 wraps) */
    while (i < n && t->slots[i][0] - 1 < kw - 1)
        i++;
    t->last_pos = i;
    if (i == n || ent_key(t->slots[i]) != key)
        return t->last_state = LIVETAB_ABSENT;
    const uint64_t *e = t->slots[i];
    uint64_t sz = ent_size(e);
    if (PS_UNLIKELY(sz == SZ_SIDE)) {
        livetab_side_t *se = side_find(t, ptr);
        return t->last_state = side_state(se, b); /* a marker always has its side entry */
    }
    if (sz == SZ_DEAD) {
        if (b)
            ent_unpack(e, t->t0, b);
        return t->last_state = LIVETAB_DEAD;
    }
    if (b)
        ent_unpack(e, t->t0, b);
    return t->last_state = LIVETAB_LIVE;
}

/* Makes the latest find's state current for ptr. */
static void refind(livetab_t *t, uint64_t ptr)
{
    if (t->last_ptr != ptr || t->last_state < 0)
        livetab_find_slow(t, ptr, NULL);
}

int livetab_set_slow(livetab_t *t, uint64_t ptr, const livetab_blk_t *b)
{
    int rc;
    if ((rc = first_alloc(t, b)) < 0)
        return rc;
    refind(t, ptr);
    int was = t->last_state;
    if (PS_UNLIKELY(t->last_in_side)) { /* an address that does not fit: side table only */
        if ((rc = side_put(t, ptr, b)) < 0)
            return rc;
        livetab_count_set(t, was);
        t->last_state = -1;
        return 0;
    }
    bool fits = blk_fits(t, b);
    uint64_t key = t->last_key; /* refind's, for this ptr */
    if (was != LIVETAB_ABSENT) { /* the address's entry, reused in place */
        uint64_t *e = t->slots[t->last_pos];
        bool had_side = ent_size(e) == SZ_SIDE;
        if (fits) {
            ent_pack(e, key, b->fn, b->site, b->size, b->ts - t->t0);
            if (had_side)
                side_del(t, ptr);
        } else {
            if ((rc = side_put(t, ptr, b)) < 0)
                return rc;
            ent_pack(e, key, 0, 0, SZ_SIDE, 0);
        }
        livetab_count_set(t, was);
        t->last_state = -1;
        return 0;
    }
    /* a new entry at last_pos, shifting the run up to the next empty slot */
    size_t i = t->last_pos, j = i;
    while (j < t->nslots && t->slots[j][0])
        j++;
    if (t->used + 1 > t->limit || j == t->nslots) {
        uint64_t peak = t->live + 1 > t->peak_live ? t->live + 1 : t->peak_live;
        unsigned ts = t->tail_shift + (j == t->nslots && t->used + 1 <= t->limit);
        if ((rc = rebuild(t, peak, ts)) < 0)
            return rc;
        livetab_find_slow(t, ptr, NULL);
        i = j = t->last_pos;
        while (j < t->nslots && t->slots[j][0])
            j++;
        if (j == t->nslots) { /* cannot happen after a rebuild at < 90% load; be safe */
            if ((rc = rebuild(t, peak, ts + 1)) < 0)
                return rc;
            return livetab_set_slow(t, ptr, b);
        }
    }
    if (!fits && (rc = side_put(t, ptr, b)) < 0)
        return rc;
    for (size_t k = j; k > i; k--) { /* runs are short: no memmove call */
        t->slots[k][0] = t->slots[k - 1][0];
        t->slots[k][1] = t->slots[k - 1][1];
    }
    if (fits)
        ent_pack(t->slots[i], key, b->fn, b->site, b->size, b->ts - t->t0);
    else
        ent_pack(t->slots[i], key, 0, 0, SZ_SIDE, 0);
    t->used++;
    livetab_count_set(t, LIVETAB_ABSENT);
    t->last_state = -1;
    return 0;
}

void livetab_kill_slow(livetab_t *t, uint64_t ptr)
{
    refind(t, ptr);
    if (t->last_state != LIVETAB_LIVE)
        return;
    if (t->last_in_side) {
        t->side[t->last_pos].dead = 1;
    } else {
        uint64_t *e = t->slots[t->last_pos];
        if (ent_size(e) == SZ_SIDE)
            side_find(t, ptr)->dead = 1;
        else /* site and fn stay; size becomes the mark, ts 0 */
            e[1] = (e[1] & (3ull << 62)) | SZ_DEAD << TS_BITS;
    }
    t->live--;
    t->dead++;
    t->last_state = LIVETAB_DEAD;
}

void livetab_prefetch(const livetab_t *t, uint64_t ptr)
{
    if (ptr_fits(ptr) && t->nslots) {
        const uint64_t *e = t->slots[home(perm43(ptr >> 4), t->nhome)];
        __builtin_prefetch(e);
        __builtin_prefetch(e + 8); /* a run may go on into the next line */
    }
}

size_t livetab_bytes(const livetab_t *t)
{
    return t->nslots * sizeof(t->slots[0]) + t->side_cap * sizeof(livetab_side_t);
}

void livetab_free(livetab_t *t)
{
    if (t->slots != t->resv_base)
        arr_free(t->slots, t->nslots);
    if (t->resv_map)
        munmap(t->resv_map, RESV_BYTES + HUGE_ALIGN);
    free(t->side);
    memset(t, 0, sizeof(*t));
}
