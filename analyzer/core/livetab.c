/*
 * livetab.c -- see livetab.h.
 *
 * An entry is a little-endian number of 96 bits (12 bytes) or 128 (16), from the top:
 * key (43 bits) = perm43(ptr >> 4) (a bijection on 43 bits, never 0 for a block: an all-zero
 * entry is an empty slot), then the payload: fn, site, size, ts - t0 (the bottom), of the
 * widths in t->lay. A size of all ones marks a dead entry (its ts field is 0), all ones - 1
 * says the block's data is in the side table. So the top 64 bits of an entry, at its last 8
 * bytes, hold the key in their top 43 bits whatever the layout: the lookup's scan reads them.
 *
 * Layouts (choose_layout, at each rebuild): an array below t->small_slots (LIVETAB_SMALL_SLOTS)
 * has the 16-byte layout (livetab_wide_lay), whose inline paths have constant widths and note
 * nothing for the layouts (livetab_note's cost per allocation); the rebuild that takes it to
 * LIVETAB_SMALL_SLOTS and more notes what its blocks hold (note_table: the sizes and times of
 * the live ones, the sites and functions of all; the largest size in the array, which the
 * 16-byte set does not keep either) and chooses as below, with the copy that a
 * rebuild out of a small array makes (16 to 12 bytes is never done in place). Then
 * 12 bytes (payload 53 bits) while what the table has
 * seen (values past the 16-byte widths aside: no layout holds them) fits with room: the widths of
 * the largest function, site and size (the size covering all but 1/1024 of the allocations and up
 * to 32 more) and twice the time since t0 (at least 2^30 ns), the spare bits going to time (up to
 * 44), then up to 3 each to size and site; else 16 bytes (payload 85 bits: fn 5, site 18, size 18,
 * time 44), and 16 from then on. A 12-byte layout's fields are never wider than the 16-byte one's,
 * and a new 12-byte layout holds every entry of the old one (its widths cover the largest values
 * set), so a rebuild converts every entry. A block that does not fit goes to the side table; when
 * that happened to more than 64 + used / 64 blocks since the last rebuild, the table rebuilds at
 * its size for a new layout.
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

#include <pthread.h>
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
#define ptr_fits livetab_ptr_fits
#define perm43 livetab_perm43
#define home livetab_home
#define blk_fits livetab_blk_fits
typedef livetab_u128 u128;
typedef livetab_layout_t layout_t;

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

/* A zeroed array of `bytes` and LIVETAB_END_PAD more (zeros, never written: an empty slot
 * past the last, livetab.h): calloc, or for HUGE_MIN bytes and more an mmap on a 2 MiB
 * boundary with transparent huge pages asked for. (The reservation has room past any array
 * it holds, never written either: nslots never shrinks there.) */
static unsigned char *arr_alloc(size_t bytes)
{
    bytes += LIVETAB_END_PAD;
    if (bytes < HUGE_MIN)
        return calloc(bytes ? bytes : 1, 1);
    size_t len = (bytes + HUGE_ALIGN - 1) & ~(size_t)(HUGE_ALIGN - 1);
    unsigned char *m =
        mmap(NULL, len + HUGE_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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
    return m + head;
}

static void arr_free(unsigned char *a, size_t bytes)
{
    bytes += LIVETAB_END_PAD;
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

static uint64_t inv_odd(uint64_t c)
{
    uint64_t x = c; /* Newton: each step doubles the correct low bits (3 to start) */
    for (int k = 0; k < 5; k++)
        x *= 2 - c * x;
    return x;
}

/* The inverse of perm43 (a marker's address, to reach its side entry in a rebuild). */
static uint64_t unperm43(uint64_t x)
{
    return ((x & ~LIVETAB_GROUP_MASK) * inv_odd(0x9e3779b97f4a7c15ull) &
            (KEY_MASK & ~LIVETAB_GROUP_MASK)) |
           (x & LIVETAB_GROUP_MASK);
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
    t->resv_base = m + (-(uintptr_t)m & (HUGE_ALIGN - 1));
#ifdef MADV_HUGEPAGE
    madvise(t->resv_base, RESV_BYTES, MADV_HUGEPAGE);
#endif
    return true;
}

/* ---- layouts ------------------------------------------------------------------------- */

static unsigned bitlen(uint64_t x)
{
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

static const layout_t WIDE = {16, 85, 44, 18, 18, 5};

/* A small table's 16-byte entries note nothing per event (livetab_note's cost): when it grows
 * into the variable layouts, what the first one must hold is taken from the blocks it has
 * then, live and dead, array and side table (sizes and times of the live ones). */
static void note_table(livetab_t *t)
{
    const layout_t *l = &t->lay;
    for (size_t i = 0; i < t->nslots; i++) {
        if (!livetab_kw(t->slots, l, i))
            continue;
        u128 v = livetab_ent_load(t->slots + i * l->stride, l);
        uint64_t sz = livetab_v_size(v, l);
        if (sz == livetab_sz_side(l))
            continue; /* below */
        livetab_blk_t b;
        livetab_v_unpack(v, l, t->t0, &b);
        if (sz == livetab_sz_dead(l)) {
            t->or_site |= b.site;
            t->or_fn |= b.fn;
        } else {
            livetab_note(t, &b);
            t->max_size_arr = b.size > t->max_size_arr ? b.size : t->max_size_arr;
        }
    }
    for (size_t j = 0; j < t->side_cap; j++) {
        const livetab_side_t *e = &t->side[j];
        if (!e->ptr)
            continue;
        livetab_blk_t b = {e->dead ? 0 : e->size, e->dead ? t->t0 : e->ts, e->site, e->fn};
        if (!e->dead)
            livetab_note(t, &b);
        else if (b.site < (1u << 18) && b.fn < 32) {
            t->or_site |= b.site;
            t->or_fn |= b.fn;
        }
    }
}

/* The layout for what the table has seen (see the top of this file). */
static layout_t choose_layout(livetab_t *t, size_t phys)
{
    size_t small = t->small_slots ? t->small_slots : LIVETAB_SMALL_SLOTS;
    if (t->wide_for_good || phys < small)
        return WIDE; /* a small table's fixed layout: constant shifts in the fast paths */
    /* a 16-byte array in the reservation is not rebuilt in place into 12-byte entries (an
     * entry could be written over one not yet read): it keeps them (only with a long tail) */
    if (t->lay.stride == 16 && t->slots && t->slots == t->resv_base) {
        t->wide_for_good = 1;
        return WIDE;
    }
    if (t->lay.stride == 16)
        note_table(t); /* a small table's, growing */
    unsigned w_fn = bitlen(t->or_fn), w_site = bitlen(t->or_site) + 1; /* room to double */
    w_fn = w_fn < 1 ? 1 : w_fn > 5 ? 5 : w_fn;
    w_site = w_site < 2 ? 2 : w_site > 18 ? 18 : w_site;
    /* sizes: all but 1/1024 of the allocations (and up to 32 more, at most 1/64), with room to
     * double (larger ones in the array move to the side table first: evict) */
    unsigned w_size = 2;
    uint64_t above = 0, nsizes = 0; /* (the allocations noted: not counted per allocation) */
    for (unsigned b = 64; b > w_size; b--)
        above += t->size_bits[b];
    for (unsigned b = 0; b <= 64; b++)
        nsizes += t->size_bits[b];
    while (w_size < 18 && above > nsizes / 1024 + (nsizes / 64 < 32 ? nsizes / 64 : 32)) {
        w_size++;
        above -= t->size_bits[w_size];
    }
    w_size = w_size + 1 > 18 ? 18 : w_size + 1;
    unsigned w_ts = bitlen(t->or_dts) + 2; /* room to run 4 times as long */
    w_ts = w_ts < 30 ? 30 : w_ts;
    if (w_fn + w_site + w_size + w_ts > 53) {
        t->wide_for_good = 1;
        return WIDE;
    }
    const layout_t *o = &t->lay; /* the one in use, when it holds all that: no conversion */
    if (o->stride == 12 && o->w_fn >= w_fn && o->w_site >= w_site && o->w_size >= w_size &&
        o->w_ts >= w_ts)
        return *o;
    unsigned spare = 53 - (w_fn + w_site + w_size + w_ts), k;
    k = 44 - w_ts < spare ? 44 - w_ts : spare;
    w_ts += k, spare -= k;
    /* then a little more room for sizes and sites (not all of it: a large size let in would
     * stay in the array, and its width in every later layout) */
    k = 18 - w_size < spare ? 18 - w_size : spare;
    k = k > 3 ? 3 : k;
    w_size += k, spare -= k;
    k = 18 - w_site < spare ? 18 - w_site : spare;
    k = k > 3 ? 3 : k;
    w_site += k, spare -= k;
    return (layout_t){12, 53 - spare, w_ts, w_size, w_site, w_fn};
}

/* t->f12: t->lay's masks and shifts for the 12-byte inline paths (livetab.h), after each
 * change of t->lay. */
static void lay_derive(livetab_t *t)
{
    const layout_t *l = &t->lay;
    livetab_f12_t *f = &t->f12;
    memset(f, 0, sizeof(*f));
    if (l->stride != 12) /* (12-byte layouts have 53 payload bits: choose_layout) */
        return;
    f->m_ts = livetab_mask(l->w_ts);
    f->m_size = livetab_mask(l->w_size);
    f->m_site = livetab_mask(l->w_site);
    f->m_fn = livetab_mask(l->w_fn);
    f->sh_size = l->w_ts;
    f->sh_site = l->w_ts + l->w_size;
    f->sh_fn = f->sh_site + l->w_site;
    f->sz_dead = livetab_sz_dead(l);
    f->sz_side = livetab_sz_side(l);
    f->keep_dead = ~livetab_mask(l->w_ts + l->w_size);
    f->mul_size = 1ull << f->sh_size;
    f->mul_site = 1ull << f->sh_site;
    f->mul_fn = 1ull << f->sh_fn;
    f->size_at = f->m_size << f->sh_size;
    f->side_at = f->sz_side << f->sh_size;
    f->dead_at = f->sz_dead << f->sh_size;
}

/* Entry v of layout `from` in layout `to` (which holds its values: see the top). */
static PS_ALWAYS_INLINE u128 convert_l(u128 v, const layout_t *from, const layout_t *to)
{
    uint64_t key = (uint64_t)(v >> from->pbits) & KEY_MASK, sz = livetab_v_size(v, from);
    livetab_blk_t b;
    livetab_v_unpack(v, from, 0, &b);
    if (sz == livetab_sz_side(from))
        return livetab_v_pack(to, key, 0, 0, livetab_sz_side(to), 0);
    if (sz == livetab_sz_dead(from))
        return livetab_v_pack(to, key, b.fn, b.site, livetab_sz_dead(to), 0);
    return livetab_v_pack(to, key, b.fn, b.site, b.size, b.ts);
}

/* (from a small table's 16-byte entries, the common case, with constant shifts) */
static u128 convert(u128 v, const layout_t *from, const layout_t *to)
{
    if (from->stride == 16)
        return convert_l(v, &livetab_wide_lay, to);
    return convert_l(v, from, to);
}

/* ---- the array ----------------------------------------------------------------------- */

static unsigned char *slot(const livetab_t *t, size_t i)
{
    return t->slots + i * t->lay.stride;
}

static uint64_t ent_key(const livetab_t *t, size_t i)
{
    return livetab_kw(t->slots, &t->lay, i) >> KEY_SHIFT;
}

/* An entry's bytes moved (or cleared) without a call: strides are 12 or 16. */
static inline void ent_copy(unsigned char *d, const unsigned char *src, size_t st)
{
    uint64_t a, b = 0;
    memcpy(&a, src, 8);
    if (st == 16)
        memcpy(&b, src + 8, 8);
    else
        memcpy(&b, src + 8, 4);
    memcpy(d, &a, 8);
    if (st == 16)
        memcpy(d + 8, &b, 8);
    else
        memcpy(d + 8, &b, 4);
}

static inline void ent_zero(unsigned char *d, size_t st)
{
    static const unsigned char z[16];
    ent_copy(d, z, st);
}

/* A rebuild drops this entry (no room for dead ones): a dead entry, or the marker of a side
 * entry that is dead or already gone (the side table is purged first). */
static bool drops(const livetab_t *t, u128 v)
{
    uint64_t sz = livetab_v_size(v, &t->lay);
    if (sz == livetab_sz_dead(&t->lay))
        return true;
    if (sz != livetab_sz_side(&t->lay))
        return false;
    uint64_t key = (uint64_t)(v >> t->lay.pbits) & KEY_MASK;
    const livetab_side_t *e = side_find(t, unperm43(key) << 4);
    return !e || e->dead;
}

/* The rebuild in place, in the reservation: [0, t->nslots) of t->lay becomes [0, nslots) of
 * *nl, nslots >= t->nslots and nl's stride >= t's, the bytes beyond zero. The kept entries are
 * first packed, in order, against the end (converted to nl), then placed from the start:
 * every entry moves left in the second pass, and in the first one an entry is read before
 * any write reaches it (the new array is at least as long), so nothing is overwritten.
 * Returns 0, or 1 when they spill past nslots: all of them are then in nl, in order, in
 * [0, nslots), and t->lay is nl: a retry with a longer tail starts over. */
static int inplace(livetab_t *t, const layout_t *nl, size_t nhome, size_t nslots, bool keep_dead,
                   size_t *used, uint64_t *dropped)
{
    unsigned char *s = t->slots;
    const layout_t ol = t->lay;
    size_t w = nslots, ns = nl->stride;
    bool same = !memcmp(&ol, nl, sizeof ol);
    for (size_t j = t->nslots; j-- > 0;) {
        if (!livetab_kw(s, &ol, j))
            continue;
        u128 v = livetab_ent_load(s + j * ol.stride, &ol);
        ent_zero(s + j * ol.stride, ol.stride);
        if (!keep_dead && drops(t, v)) {
            *dropped += livetab_v_size(v, &ol) == livetab_sz_dead(&ol);
            continue;
        }
        w--;
        livetab_ent_store(s + w * ns, nl, same ? v : convert(v, &ol, nl));
    }
    t->lay = *nl;
    lay_derive(t);
    size_t cur = 0, n = 0;
    for (size_t r = w; r < nslots; r++) {
        size_t h = home(livetab_kw(s, nl, r) >> KEY_SHIFT, nhome), i = cur > h ? cur : h;
        if (i > r)
            return 1;
        if (i != r) {
            ent_copy(s + i * ns, s + r * ns, ns);
            ent_zero(s + r * ns, ns);
        }
        cur = i + 1;
        n++;
    }
    *used = n;
    return 0;
}

/* The rebuild in place at the same size and layout (a purge of the dead entries): one
 * forward pass, each kept entry moving left to max(its home, the slot after the previous
 * one), never past where it is. */
static size_t purge(livetab_t *t, bool keep_dead, uint64_t *dropped)
{
    unsigned char *s = t->slots;
    size_t st = t->lay.stride, cur = 0, n = 0;
    for (size_t r = 0; r < t->nslots; r++) {
        uint64_t kw = livetab_kw(s, &t->lay, r);
        if (!kw)
            continue;
        if (!keep_dead) {
            u128 v = livetab_ent_load(s + r * st, &t->lay);
            if (drops(t, v)) {
                *dropped += livetab_v_size(v, &t->lay) == livetab_sz_dead(&t->lay);
                ent_zero(s + r * st, st);
                continue;
            }
        }
        size_t h = home(kw >> KEY_SHIFT, t->nhome), i = cur > h ? cur : h;
        if (i != r) {
            ent_copy(s + i * st, s + r * st, st);
            ent_zero(s + r * st, st);
        }
        cur = i + 1;
        n++;
    }
    return n;
}

/* Before a rebuild for layout nl: the blocks in the array whose size nl does not hold move to
 * the side table (their entries become markers). Returns 0 or -PS_E_NOMEM (the table is
 * whole either way). */
static int evict(livetab_t *t, const layout_t *nl)
{
    const layout_t *l = &t->lay;
    uint64_t lim = livetab_sz_side(nl), max = 0;
    for (size_t i = 0; i < t->nslots; i++) {
        uint64_t kw = livetab_kw(t->slots, l, i);
        if (!kw)
            continue;
        u128 v = livetab_ent_load(slot(t, i), l);
        uint64_t sz = livetab_v_size(v, l);
        if (sz == livetab_sz_dead(l) || sz == livetab_sz_side(l))
            continue;
        if (sz < lim) {
            max = sz > max ? sz : max;
            continue;
        }
        uint64_t key = kw >> KEY_SHIFT;
        livetab_blk_t b;
        livetab_v_unpack(v, l, t->t0, &b);
        int rc = side_put(t, unperm43(key) << 4, &b);
        if (rc < 0)
            return rc;
        livetab_ent_store(slot(t, i), l, livetab_v_pack(l, key, 0, 0, livetab_sz_side(l), 0));
    }
    t->max_size_arr = max;
    return 0;
}

/* Side entries whose block fits the array's layout now come back into their markers. The
 * scan of the array stops once every side entry that can come back (an address that fits,
 * whose marker is in the array, and a block that fits) did: a side entry that stays (an
 * unaligned address, a size past the layout's) no longer makes it scan all of a large array
 * (kvstore 1 M keys: the first large array, 3.75 M slots, at each rebuild; ~60% of rebuild's
 * samples). */
static void pull_back(livetab_t *t)
{
    const layout_t *l = &t->lay;
    size_t due = 0;
    for (size_t k = 0; k < t->side_cap; k++) {
        const livetab_side_t *e = &t->side[k];
        livetab_blk_t b = {e->dead ? 0 : e->size, e->dead ? t->t0 : e->ts, e->site, e->fn};
        due += e->ptr && livetab_ptr_fits(e->ptr) && blk_fits(t, &b);
    }
    for (size_t i = 0; i < t->nslots && due; i++) {
        uint64_t kw = livetab_kw(t->slots, l, i);
        if (!kw)
            continue;
        u128 v = livetab_ent_load(slot(t, i), l);
        if (livetab_v_size(v, l) != livetab_sz_side(l))
            continue;
        uint64_t key = kw >> KEY_SHIFT, ptr = unperm43(key) << 4;
        const livetab_side_t *e = side_find(t, ptr);
        livetab_blk_t b = {e->dead ? 0 : e->size, e->dead ? t->t0 : e->ts, e->site, e->fn};
        if (!blk_fits(t, &b))
            continue;
        if (e->dead)
            v = livetab_v_pack(l, key, b.fn, b.site, livetab_sz_dead(l), 0);
        else
            v = livetab_v_pack(l, key, b.fn, b.site, b.size, b.ts - t->t0);
        if (!e->dead && b.size > t->max_size_arr)
            t->max_size_arr = b.size;
        livetab_ent_store(slot(t, i), l, v);
        side_del(t, ptr);
        due--;
    }
    if (!t->side_n) { /* an empty side table goes (it comes back when needed) */
        free(t->side);
        t->side = NULL;
        t->side_cap = 0;
    }
}

/* Rebuilds the array for peak live blocks (see livetab.h) with a tail 2^tail_shift times its
 * usual length (phys / 128, at least 64 slots), in the layout choose_layout picks: in place
 * once the array is in the reservation, else into a new array (the first one of HUGE_MIN
 * bytes or more goes to the reservation). keep_all: the dead entries stay (a rebuild for a
 * layout). */
static int rebuild(livetab_t *t, uint64_t peak, unsigned tail_shift, bool keep_all)
{
    size_t phys = (size_t)(peak + peak * 2 / 5);
    if (phys < LIVETAB_MIN_SLOTS)
        phys = LIVETAB_MIN_SLOTS;
    /* (the first large array: sized for the hint, livetab.h) */
    size_t small = t->small_slots ? t->small_slots : LIVETAB_SMALL_SLOTS;
    if (t->hint && phys >= small && t->nslots < small) {
        uint64_t hp = t->hint + t->hint / LIVETAB_HINT_ROOM;
        phys = hp > phys && hp < RESV_BYTES / 16 ? (size_t)hp : phys;
    } else if (t->hint && t->hint + t->hint / LIVETAB_HINT_ROOM >= small && phys < small - 1) {
        /* the hint says large: the small arrays' phase in the largest one (16 bytes an entry,
         * under 1 MiB), not a dozen rebuilds from LIVETAB_MIN_SLOTS up, each copying every
         * entry (kvstore 300000 750000: 13 rebuilds, 23 M instructions, 2.6% of the main
         * thread's) */
        phys = small - 1;
    }
    size_t tail0 = phys / 128 > 64 ? phys / 128 : 64, nhome = phys - tail0;
    bool keep_dead = keep_all || t->used <= nhome / 5 * 4;
    size_t used = 0;
    uint64_t dropped = 0;
    layout_t nl = choose_layout(t, phys);
    bool relaid = memcmp(&nl, &t->lay, sizeof nl) != 0;
    if (t->max_size_arr >= livetab_sz_side(&nl)) {
        int rc = evict(t, &nl);
        if (rc < 0)
            return rc;
    }
    if (t->slots && t->slots == t->resv_base) {
        if (!keep_dead && t->side_cap) { /* the side table first: it may fail, cleanly */
            size_t before = t->side_n;
            int rc = side_resize(t, t->side_cap, true);
            if (rc < 0)
                return rc;
            dropped += before - t->side_n;
        }
        if (nhome == t->nhome && nhome + (tail0 << tail_shift) == t->nslots &&
            !memcmp(&nl, &t->lay, sizeof nl)) {
            used = purge(t, keep_dead, &dropped);
            tail_shift = ~0u; /* no loop */
        }
        for (; tail_shift != ~0u; tail_shift++) {
            size_t nslots = nhome + (tail0 << tail_shift);
            if (nslots > RESV_BYTES / 16)
                return -PS_E_NOMEM;
            if (nslots < t->nslots)
                nslots = t->nslots;
            int sp = inplace(t, &nl, nhome, nslots, keep_dead, &used, &dropped);
            t->nslots = nslots; /* entries may lie anywhere in it now */
            if (sp == 0)
                break;
        }
    } else {
        for (;; tail_shift++) {
            size_t nslots = nhome + (tail0 << tail_shift), bytes = nslots * nl.stride;
            bool to_resv = bytes >= HUGE_MIN && nslots <= RESV_BYTES / 16 && resv_get(t);
            unsigned char *s = to_resv ? t->resv_base : arr_alloc(bytes);
            if (!s)
                return -PS_E_NOMEM;
            size_t cur = 0;
            bool spilled = false, same = !memcmp(&t->lay, &nl, sizeof nl);
            used = 0;
            dropped = 0;
            for (size_t j = 0; j < t->nslots; j++) {
                if (!livetab_kw(t->slots, &t->lay, j))
                    continue;
                u128 v = livetab_ent_load(slot(t, j), &t->lay);
                if (!keep_dead && drops(t, v)) {
                    dropped += livetab_v_size(v, &t->lay) == livetab_sz_dead(&t->lay);
                    continue; /* a marker's side entry is counted below */
                }
                size_t h = home(ent_key(t, j), nhome), i = cur > h ? cur : h;
                if (i >= nslots) {
                    spilled = true;
                    break;
                }
                livetab_ent_store(s + i * nl.stride, &nl, same ? v : convert(v, &t->lay, &nl));
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
                    memset(s, 0, cur * nl.stride);
                else
                    arr_free(s, bytes);
                if (oom)
                    return -PS_E_NOMEM;
                continue;
            }
            arr_free(t->slots, t->nslots * t->lay.stride);
            t->slots = s;
            t->nslots = nslots;
            t->lay = nl;
            lay_derive(t);
            break;
        }
    }
    if (tail_shift != ~0u)
        t->tail_shift = tail_shift;
    t->nhome = nhome;
    t->used = used;
    t->limit = nhome / 10 * 9;
    t->rebuilds++;
    t->dead -= dropped;
    t->dead_dropped += dropped;
    t->misfits = 0;
    t->last_state = -1;
    if (t->side_n && relaid) /* what did not fit the old layout may fit this one */
        pull_back(t);
    return 0;
}

/* Notes *b for the layouts (the first allocation sets the time origin) and makes the first
 * array. */
static int first_alloc(livetab_t *t, const livetab_blk_t *b)
{
    if (!t->have_t0) {
        t->t0 = b->ts;
        t->have_t0 = 1;
    }
    if (t->lay.stride != 16)
        livetab_note(t, b);
    return t->nslots ? 0 : rebuild(t, 0, 0, false);
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
    /* while the slot holds a smaller key (an empty slot, 0, stops: 0 - 1 wraps) */
    while (i < n && livetab_kw(t->slots, &t->lay, i) - 1 < kw - 1)
        i++;
    t->last_pos = i;
    if (i == n || ent_key(t, i) != key)
        return t->last_state = LIVETAB_ABSENT;
    u128 v = livetab_ent_load(slot(t, i), &t->lay);
    uint64_t sz = livetab_v_size(v, &t->lay);
    if (PS_UNLIKELY(sz == livetab_sz_side(&t->lay))) {
        livetab_side_t *se = side_find(t, ptr);
        return t->last_state = side_state(se, b); /* a marker always has its side entry */
    }
    if (b)
        livetab_v_unpack(v, &t->lay, t->t0, b);
    return t->last_state = sz == livetab_sz_dead(&t->lay) ? LIVETAB_DEAD : LIVETAB_LIVE;
}

/* Makes the latest find's state current for ptr. */
static void refind(livetab_t *t, uint64_t ptr)
{
    if (t->last_ptr != ptr || t->last_state < 0)
        livetab_find_slow(t, ptr, NULL);
}

/* The entry for key with *b, or the marker of its side entry. */
static u128 pack_blk(const livetab_t *t, uint64_t key, const livetab_blk_t *b, bool fits)
{
    if (!fits)
        return livetab_v_pack(&t->lay, key, 0, 0, livetab_sz_side(&t->lay), 0);
    return livetab_v_pack(&t->lay, key, b->fn, b->site, b->size, b->ts - t->t0);
}

/* A block's data went to the side table: after many, a rebuild for a wider layout. */
static int misfit(livetab_t *t)
{
    if (++t->misfits <= 64 + t->used / 64 || t->lay.stride == 16)
        return 0;
    t->relayouts++;
    return rebuild(t, t->peak_live, t->tail_shift, true); /* the same size: dead ones stay */
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
    uint64_t key = t->last_key;  /* refind's, for this ptr */
    if (was != LIVETAB_ABSENT) { /* the address's entry, reused in place */
        unsigned char *e = slot(t, t->last_pos);
        bool had_side =
            livetab_v_size(livetab_ent_load(e, &t->lay), &t->lay) == livetab_sz_side(&t->lay);
        if (fits) {
            if (had_side)
                side_del(t, ptr);
        } else if ((rc = side_put(t, ptr, b)) < 0) {
            return rc;
        }
        if (fits && b->size > t->max_size_arr)
            t->max_size_arr = b->size;
        livetab_ent_store(e, &t->lay, pack_blk(t, key, b, fits));
        livetab_count_set(t, was);
        t->last_state = -1;
        return fits ? 0 : misfit(t);
    }
    /* a new entry at last_pos, shifting the run up to the next empty slot */
    size_t i = t->last_pos, j = i;
    while (j < t->nslots && livetab_kw(t->slots, &t->lay, j))
        j++;
    if (t->used + 1 > t->limit || j == t->nslots) {
        uint64_t peak = t->live + 1 > t->peak_live ? t->live + 1 : t->peak_live;
        unsigned ts = t->tail_shift + (j == t->nslots && t->used + 1 <= t->limit);
        if ((rc = rebuild(t, peak, ts, false)) < 0)
            return rc;
        livetab_find_slow(t, ptr, NULL);
        i = j = t->last_pos;
        while (j < t->nslots && livetab_kw(t->slots, &t->lay, j))
            j++;
        if (j == t->nslots) { /* cannot happen after a rebuild at < 90% load; be safe */
            if ((rc = rebuild(t, peak, ts + 1, false)) < 0)
                return rc;
            return livetab_set_slow(t, ptr, b);
        }
        fits = blk_fits(t, b); /* in the new layout */
    }
    if (!fits && (rc = side_put(t, ptr, b)) < 0)
        return rc;
    size_t st = t->lay.stride;
    if (j > i) /* the run moves up by one entry */
        memmove(t->slots + (i + 1) * st, t->slots + i * st, (j - i) * st);
    if (fits && b->size > t->max_size_arr)
        t->max_size_arr = b->size;
    livetab_ent_store(slot(t, i), &t->lay, pack_blk(t, key, b, fits));
    t->used++;
    livetab_count_set(t, LIVETAB_ABSENT);
    t->last_state = -1;
    return fits ? 0 : misfit(t);
}

void livetab_kill_slow(livetab_t *t, uint64_t ptr)
{
    refind(t, ptr);
    if (t->last_state != LIVETAB_LIVE)
        return;
    if (t->last_in_side) {
        t->side[t->last_pos].dead = 1;
    } else {
        unsigned char *e = slot(t, t->last_pos);
        const layout_t *l = &t->lay;
        u128 v = livetab_ent_load(e, l);
        if (livetab_v_size(v, l) == livetab_sz_side(l)) {
            side_find(t, ptr)->dead = 1;
        } else { /* key, site and fn stay; size becomes the mark, ts 0 */
            v = (v & ~(u128)livetab_mask(l->w_ts + l->w_size)) | (u128)livetab_sz_dead(l)
                                                                     << l->w_ts;
            livetab_ent_store(e, l, v);
        }
    }
    t->live--;
    uint64_t dead = t->dead + 1;
    PS_IN_REG(dead); /* (as livetab_take12's) */
    t->dead = dead;
    t->last_state = LIVETAB_DEAD;
}

/* livetab_put's and livetab_take's general paths, out of line (livetab.h). */
int livetab_put_general(livetab_t *t, uint64_t ptr, const livetab_blk_t *b, livetab_blk_t *old)
{
    int was = livetab_find(t, ptr, old), rc = livetab_set(t, ptr, b);
    return rc < 0 ? rc : was;
}

int livetab_take_general(livetab_t *t, uint64_t ptr, livetab_blk_t *b)
{
    int was = livetab_find(t, ptr, b);
    if (was == LIVETAB_LIVE)
        livetab_kill(t, ptr);
    return was;
}

void livetab_hint(livetab_t *t, uint64_t n)
{
    t->hint = n;
}

typedef struct prefault_s {
    pthread_t th;
    unsigned char *addr;
    size_t len;
} prefault_t;

static void *prefault_main(void *arg)
{
    const prefault_t *p = arg;
#ifdef MADV_POPULATE_WRITE
    madvise(p->addr, p->len, MADV_POPULATE_WRITE); /* (an older kernel: EINVAL, no effect) */
#else
    (void)p;
#endif
    return NULL;
}

void livetab_prefault(livetab_t *t)
{
    /* the array rebuild() makes for the hint, at its smallest (12-byte entries) */
    uint64_t slots = t->hint + t->hint / LIVETAB_HINT_ROOM;
    size_t small = t->small_slots ? t->small_slots : LIVETAB_SMALL_SLOTS;
    if (t->prefault || t->nslots || slots < small || slots >= RESV_BYTES / 16 ||
        slots * 12 < HUGE_MIN || !resv_get(t))
        return;
    prefault_t *p = malloc(sizeof(*p));
    if (!p)
        return;
    p->addr = t->resv_base;
    p->len = (size_t)slots * 12;
    pthread_attr_t a; /* a small stack: the thread's memory is one call's */
    int rc = pthread_attr_init(&a);
    if (rc == 0) {
        pthread_attr_setstacksize(&a, 64u << 10);
        rc = pthread_create(&p->th, &a, prefault_main, p);
        pthread_attr_destroy(&a);
    }
    if (rc != 0) {
        free(p);
        return;
    }
    t->prefault = p;
}

static void prefault_join(livetab_t *t)
{
    prefault_t *p = t->prefault;
    if (!p)
        return;
    pthread_join(p->th, NULL);
    free(p);
    t->prefault = NULL;
}

size_t livetab_bytes(const livetab_t *t)
{
    return t->nslots * t->lay.stride + t->side_cap * sizeof(livetab_side_t);
}

void livetab_free(livetab_t *t)
{
    prefault_join(t); /* (before the reservation goes) */
    if (t->slots != t->resv_base)
        arr_free(t->slots, t->nslots * t->lay.stride);
    if (t->resv_map)
        munmap(t->resv_map, RESV_BYTES + HUGE_ALIGN);
    free(t->side);
    memset(t, 0, sizeof(*t));
}
