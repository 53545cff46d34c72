/*
 * liveset.c -- see liveset.h.
 *
 * Cost budget of an insert or remove: two multiplications (the region's Fibonacci hash, which
 * gives the shard and the directory's home, and the block's), one more (the home in its
 * region's table), the region (the shard's cached last one: a compare; else a directory
 * probe), a probe of 4-byte entries in one or two cache lines, and the shard's exclusion: by
 * its owner thread (below) two plain stores and two loads, no atomic instruction; by any
 * other, one uncontended futex-lock CAS and release. The owner's common case is inlined into
 * the recorders (liveset.h liveset_add, liveset_free), its stamps and results in registers.
 *
 * Biased shards. A lock's atomic instructions were a third of the hooks' cost with the clock
 * left out (each a full barrier that waits for the hook's buffered record stores to drain:
 * churn, ~12 ns an event). glibc keeps a thread's blocks in an arena of its own, so most
 * shards only ever see one thread. The first thread that locks a shard nobody owns becomes
 * its owner (owner = its id); the owner then enters the shard without the lock: busy = 1, a
 * compiler barrier, owner read again (still its own: in), and busy = 0 (a release store) when
 * done. Any other thread takes the lock and, finding the shard owned, revokes it: owner =
 * LS_SHARED, then membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full barrier on
 * every CPU running one of the process's threads (the asymmetric Dekker handshake: the
 * owner's busy = 1 is visible by then unless it had already read LS_SHARED), then waits for
 * busy == 0. A shard revoked that way stays shared (locked by everyone): ownership never
 * moves back and forth. The leak scan and snapshots (liveset_lock_all, liveset_regions)
 * revoke the shards they lock the same way and leave them unowned afterwards, to be claimed
 * again. Where membarrier's private expedited command cannot be registered (an old kernel,
 * valgrind, seccomp) no shard is ever owned: every thread locks, as before. A fork child
 * starts with no owner (liveset_after_fork_child) and registers again. Everything below
 * that says "in s" runs inside the shard's exclusion, by its lock or by its owner.
 *
 * Memory. The region tables and directories are carved from chunks (64 KiB imem mappings,
 * one set for all shards: lm) in size classes 1.25x apart (ls_cls_bytes), freed ones kept on
 * lists for reuse: a table grows by one class, a quarter, when 3/4 of its homes are used, so
 * entries sit at a load of 0.6..0.75 of the homes (4 bytes each: ~5.9 bytes a block, plus a
 * table's 24-byte header and its tail). The chunks go back to the system as liveset_regions
 * with release passes them (it walks the chunks, not the shards). A shard's side table
 * (blocks an entry cannot describe) is its own imem mapping.
 */
#include <config.h>

#include "liveset.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ilock.h"
#include "imem.h"
#include "log.h"
#include "perfshim/compiler.h"
#include "perfshim/mix.h"
#include "stamp.h"

/* ---- memory: size classes carved from chunks ------------------------------------------ */

#define LS_NCLS 28
static const uint32_t ls_cls_bytes[LS_NCLS] = {
    64,   80,   112,  144,  192,  240,   304,   384,   480,   608,   768,   960,   1200,  1504,
    1888, 2368, 2960, 3712, 4640, 5808, 7264, 9088, 11360, 14208, 17760, 22208, 27760, 34704};
#define LS_BIG LS_NCLS /* a class above them all: an imem mapping of its own (a large dir) */
#define LS_TAB_HDR ((uint32_t)sizeof(rtab_t))
_Static_assert(sizeof(rtab_t) == 24, "a table's header");
/* Every block carved from a chunk starts with a table's header, so a chunk can be walked
 * (liveset_regions): key is the region of a table, or one of these. */
#define LS_KEY_DIR (UINT64_MAX - 1)  /* a directory (its table pointers after the header) */
#define LS_KEY_FREE (UINT64_MAX - 2) /* on a free list (the link after the header) */

/* A chunk: 64 KiB with imem's header, blocks from byte LS_CHUNK_HDR to used. */
typedef struct chunk_s {
    struct chunk_s *next;
    uint64_t used;
} chunk_t;
#define LS_CHUNK_HDR 16
_Static_assert(sizeof(chunk_t) == LS_CHUNK_HDR, "a chunk's header");

/* The tables' memory, one for all shards (its lock taken inside a shard's, never the other
 * way): a table grows by a class at a time, and the class it leaves is soon another table's
 * (per-shard lists kept one of every class per shard: 256 x ~30 KiB on kvstore, 2.5 bytes a
 * block). The chunks go back to the system as liveset_regions with release passes them. */
static struct {
    ilock_t lock;
    chunk_t *chunks, *cur; /* cur: the chunk being carved (the list's head) */
    void *free[LS_NCLS];   /* freed blocks of each class */
    uint64_t nfree;        /* bytes on the lists */
} lm;

/* A shard's cold state (its lock held, or its owner in it). */
typedef struct cold_s {
    liveset_block_t *side; /* the side table: blocks an entry cannot describe */
    uint32_t scap;
    uint32_t su; /* of them, those with no entry in a table (not 16-aligned) */
} cold_t;

const uint64_t ls_notab[4];

/* A shard without tables has this directory: dmask 0, dshift 63 (homes 0 and 1), empty. */
static rtab_t *ls_nodir[2];

PS_TLS uint32_t ls_me = LS_ANON;
#ifdef LIVESET_TEST_HOOKS
int liveset_test_spin;
#endif
static uint32_t ls_next_id = LS_SHARED;
/* membarrier registered: 0 not yet tried, 1 yes (shards may be owned), -1 no (never) */
static int ls_mb_state;

#define LS_SHARD_INIT {.rkey = LS_NO_REGION, .dir = ls_nodir, .dshift = 63}
shard_t ls_shards[LIVESET_SHARDS] = {[0 ... LIVESET_SHARDS - 1] = LS_SHARD_INIT};
static cold_t colds[LIVESET_SHARDS];
static uint64_t untracked, table_bytes;

static PS_ALWAYS_INLINE cold_t *ls_cold(const shard_t *s)
{
    return &colds[s - ls_shards];
}

static PS_ALWAYS_INLINE int ls_shared(const shard_t *s)
{
    return __atomic_load_n(&s->owner, __ATOMIC_RELAXED) == LS_SHARED;
}

static void ls_count(int64_t d)
{
    __atomic_add_fetch(&table_bytes, (uint64_t)d, __ATOMIC_RELAXED);
}

/* The smallest class of at least bytes, or LS_BIG. */
static unsigned ls_cls_of(uint64_t bytes)
{
    unsigned k = 0;
    while (k < LS_NCLS && ls_cls_bytes[k] < bytes)
        k++;
    return k;
}

/* lm's lock held: a block of class j at the chunk's rest (room checked), counted. */
static rtab_t *ls_carve(unsigned j)
{
    rtab_t *p = (rtab_t *)(void *)((char *)lm.cur + lm.cur->used);
    lm.cur->used += ls_cls_bytes[j];
    ls_count(ls_cls_bytes[j]);
    p->cls = (uint16_t)j;
    return p;
}

static void ls_push_free(rtab_t *p, unsigned k)
{
    p->key = LS_KEY_FREE;
    p->cls = (uint16_t)k;
    memcpy(p->e, &lm.free[k], sizeof(void *));
    lm.free[k] = p;
    lm.nfree += ls_cls_bytes[k];
}

/* Zeroed memory of class k (< LS_NCLS) past its header (its cls set), or NULL. */
static rtab_t *ls_mem_alloc(unsigned k)
{
    const uint32_t need = ls_cls_bytes[k];
    const size_t len = imem_usable(65536 - 64); /* 16 pages with imem's header */
    rtab_t *p;
    ilock_lock(&lm.lock);
    if ((p = lm.free[k]) != NULL) {
        memcpy(&lm.free[k], p->e, sizeof(void *));
        lm.nfree -= need;
        ilock_unlock(&lm.lock);
        memset(p, 0, need);
        p->cls = (uint16_t)k;
        return p;
    }
    if (!lm.cur || len - lm.cur->used < need) {
        /* the rest of the chunk onto the lists, largest classes first */
        for (unsigned j = LS_NCLS; lm.cur && j-- > 0;)
            while (len - lm.cur->used >= ls_cls_bytes[j])
                ls_push_free(ls_carve(j), j);
        chunk_t *ch = imem_alloc(len);
        if (!ch) {
            ilock_unlock(&lm.lock);
            return NULL;
        }
        ch->next = lm.chunks;
        ch->used = LS_CHUNK_HDR;
        lm.chunks = lm.cur = ch;
    }
    p = ls_carve(k); /* (a fresh mapping: zero) */
    ilock_unlock(&lm.lock);
    return p;
}

static void ls_mem_free(rtab_t *p)
{
    if (p->cls == LS_BIG) {
        ls_count(-(int64_t)imem_usable(p->nslots * 4096ull));
        imem_free(p);
        return;
    }
    ilock_lock(&lm.lock);
    ls_push_free(p, p->cls);
    ilock_unlock(&lm.lock);
}

/* ---- region tables ---------------------------------------------------------------------- */

/* In s: a new, empty table of class k for region reg (not in the directory), or NULL. */
static rtab_t *ls_tab_alloc(shard_t *s, uint64_t reg, unsigned k)
{
    rtab_t *t = ls_mem_alloc(k);
    if (!t)
        return NULL;
    uint32_t ns = (ls_cls_bytes[k] - LS_TAB_HDR) / 4, tail = ns / 8;
    tail = tail < 1 ? 1 : tail > 64 ? 64 : tail;
    t->key = reg;
    t->nslots = (uint16_t)ns;
    t->cap = ns - tail;
    /* small tables (sparse regions: blocks of 170 bytes and more on average) at a lower load:
     * fewer runs to shift and shorter probes (churn_bench: 64 live blocks of 16..1039 bytes,
     * in one or two regions; at 3/4, 39% of its frees shifted a run: +19 instructions an
     * event, callgrind), for memory that is a small share of such blocks'. An eighth, not a
     * quarter (hook6): the probes' branches are what the live set's fast paths lose time on
     * (callgrind --cache-sim: ~0.02 L1 misses an insert or remove, the tables are in L1),
     * and a lower load makes a taken home, a run after a freed entry (liveset_free_shift)
     * rarer: mispredicted branches in the live set (callgrind --branch-sim, churn_bench 1
     * 200000 12 50) 88.5k -> 67.1k, the app thread's CPU on churn_bench 1 4000000 12 50 ~6 ms
     * lower (of ~178 ms the shim adds; 9 of 10 interleaved pairs); the tables' memory
     * (liveset_bytes at the exit scan) churn 6.5 -> 8.9 KiB, 4 threads 22.6 -> 26.1 KiB, demo
     * 15.1 -> 18.8 KiB, kvstore 200000 500000 4.04 -> 4.02 MB (dense regions: 3/4) */
    t->lim = t->cap < 256 ? t->cap / 8 : t->cap < 512 ? t->cap / 2 : t->cap / 4 * 3;
    t->cls = (uint16_t)k;
    return t;
}

/* A table's block at entry x. */
static PS_ALWAYS_INLINE uint64_t ls_eptr(const rtab_t *t, uint32_t x)
{
    return t->key << 16 | (uint64_t)(x >> 20) << 4;
}

/* The directory's home of a region's hash. */
static PS_ALWAYS_INLINE uint32_t ls_dhome(const shard_t *s, uint64_t hr)
{
    return (uint32_t)((hr << 8) >> s->dshift);
}

/* In s: the directory entry that holds region reg's table, or the empty one where it goes. */
static rtab_t **ls_dir_slot(shard_t *s, uint64_t reg)
{
    uint32_t i = ls_dhome(s, ls_hash(reg));
    while (s->dir[i] && s->dir[i]->key != reg)
        i = (i + 1) & s->dmask;
    return &s->dir[i];
}

/* A directory's table pointers: after its block's header. */
static PS_ALWAYS_INLINE rtab_t *ls_dir_block(rtab_t **dir)
{
    return (rtab_t *)(void *)((char *)dir - LS_TAB_HDR);
}

/* In s: the directory doubled (8 entries at first). 0, or -1 (no memory). */
static PS_NOINLINE PS_COLD int ls_dir_grow(shard_t *s)
{
    uint32_t ocap = s->dir == ls_nodir ? 0 : s->dmask + 1, cap = ocap ? 2 * ocap : 8;
    uint64_t bytes = LS_TAB_HDR + (uint64_t)cap * sizeof(rtab_t *);
    unsigned k = ls_cls_of(bytes);
    rtab_t *b;
    if (k < LS_NCLS) {
        b = ls_mem_alloc(k);
    } else { /* (nslots: its pages) */
        b = imem_alloc(bytes);
        if (b) {
            b->cls = LS_BIG;
            b->nslots = (uint16_t)((bytes + 64 + 4095) / 4096);
            ls_count((int64_t)imem_usable(b->nslots * 4096ull));
        }
    }
    if (!b)
        return -1;
    b->key = LS_KEY_DIR;
    rtab_t **od = s->dir;
    s->dir = (rtab_t **)(void *)b->e;
    s->dmask = cap - 1;
    s->dshift = 64 - (uint32_t)__builtin_ctz(cap);
    for (uint32_t j = 0; j < ocap; j++)
        if (od[j])
            *ls_dir_slot(s, od[j]->key) = od[j];
    if (ocap)
        ls_mem_free(ls_dir_block(od));
    return 0;
}

/* In s: region reg's table, made (empty, the smallest class) if it has none; NULL: no memory. */
static rtab_t *ls_tab_get(shard_t *s, uint64_t reg)
{
    rtab_t *t = ls_region(s, reg, ls_hash(reg));
    if (t != LS_NOTAB)
        return t;
    if ((s->dn + 1) * 4 > (s->dir == ls_nodir ? 0 : s->dmask + 1) * 3 && ls_dir_grow(s) != 0)
        return NULL;
    t = ls_tab_alloc(s, reg, 0);
    if (!t)
        return NULL;
    *ls_dir_slot(s, reg) = t;
    s->dn++;
    s->rkey = reg;
    s->rtab = t;
    return t;
}

/* In s: t moved to a larger class (the next one whose homes take every entry with no run
 * reaching the last entry; entries moved in entry order, so each one's probe starts at or
 * after the last one's home). Returns the new table, or NULL (no memory: t as it was). */
static PS_NOINLINE PS_COLD rtab_t *ls_tab_grow(shard_t *s, rtab_t *t)
{
    for (unsigned k = t->cls + 1u; k < LS_NCLS; k++) {
        rtab_t *u = ls_tab_alloc(s, t->key, k);
        if (!u)
            return NULL;
        uint32_t j = 0;
        for (; j < t->nslots; j++) {
            uint32_t x = t->e[j];
            if (!x)
                continue;
            uint64_t i = ls_home(ls_hash(ls_eptr(t, x)), u->cap);
            while (u->e[i])
                i++;
            if (i == u->nslots - 1u)
                break;
            u->e[i] = x;
        }
        if (j < t->nslots) {
            ls_mem_free(u);
            continue;
        }
        u->n = t->n;
        *ls_dir_slot(s, t->key) = u;
        if (s->rtab == t)
            s->rtab = u;
        ls_mem_free(t);
        return u;
    }
    return NULL;
}

/* In t: the entry of block ptr (16-aligned, in t's region), or NULL. */
static uint32_t *ls_find(rtab_t *t, uint64_t ptr)
{
    const uint32_t k = ls_okey(ptr);
    for (uint32_t *e = t->e + ls_home(ls_hash(ptr), t->cap); *e; e++)
        if (!((*e ^ k) >> 20))
            return e;
    return NULL;
}

/* In s: empties entry e of t, shifting the entries after it back (no tombstones): j moves
 * into the hole when its home is at or before the hole (no probe wraps: a run is in entry
 * order, each entry at or after its home). */
static PS_ALWAYS_INLINE void ls_shift(rtab_t *t, uint32_t *e)
{
    uint32_t x;
    for (uint32_t *j = e + 1; (x = *j) != 0; j++)
        if (t->e + ls_home(ls_hash(ls_eptr(t, x)), t->cap) <= e) {
            *e = x; /* (here j's entry is in the table twice) */
            LS_TEST_SPIN();
            e = j;
        }
    *e = 0;
    t->n--;
}

/* ---- the side table (cold): whole blocks, linear probing, back-shift deletion ----------- */

/* (its slot: the hash's low bits, so a mixing hash) */
static uint64_t ls_side_hash(uint64_t p)
{
    return ps_mix64(p);
}

static PS_NOINLINE PS_COLD int side_grow(shard_t *s)
{
    cold_t *d = ls_cold(s);
    uint64_t cap = d->scap ? d->scap * 2ull : 16;
    liveset_block_t *t = imem_alloc(cap * sizeof *t);
    if (!t)
        return -1;
    for (uint64_t j = 0; j < d->scap; j++) {
        if (!d->side[j].ptr)
            continue;
        uint64_t i = ls_side_hash(d->side[j].ptr) & (cap - 1);
        while (t[i].ptr)
            i = (i + 1) & (cap - 1);
        t[i] = d->side[j];
    }
    if (d->side)
        imem_free(d->side);
    ls_count((int64_t)((cap - d->scap) * sizeof *t));
    d->side = t;
    d->scap = (uint32_t)cap;
    return 0;
}

/* In s: the side entry of ptr, or NULL. */
static liveset_block_t *side_find(shard_t *s, uint64_t ptr)
{
    cold_t *d = ls_cold(s);
    if (!s->sn)
        return NULL;
    uint64_t mask = d->scap - 1;
    for (uint64_t i = ls_side_hash(ptr) & mask; d->side[i].ptr; i = (i + 1) & mask)
        if (d->side[i].ptr == ptr)
            return &d->side[i];
    return NULL;
}

/* In s: removes ptr from the side table (its block to *out if out); 1, or 0 if absent. */
static int side_take(shard_t *s, uint64_t ptr, liveset_block_t *out)
{
    cold_t *d = ls_cold(s);
    liveset_block_t *e = side_find(s, ptr);
    if (!e)
        return 0;
    if (out)
        *out = *e;
    uint64_t mask = d->scap - 1, i = (uint64_t)(e - d->side);
    for (uint64_t j = i;;) {
        j = (j + 1) & mask;
        if (!d->side[j].ptr)
            break;
        uint64_t home = ls_side_hash(d->side[j].ptr) & mask;
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            d->side[i] = d->side[j];
            i = j;
        }
    }
    d->side[i].ptr = 0;
    s->sn--;
    if (ptr & 15)
        d->su--;
    return 1;
}

/* In s: puts b in the side table (not there); 0, or -1 (no memory). */
static int side_put(shard_t *s, liveset_block_t b)
{
    cold_t *d = ls_cold(s);
    if ((s->sn + 1ull) * 4 > d->scap * 3ull && side_grow(s) != 0)
        return -1;
    uint64_t mask = d->scap - 1, i = ls_side_hash(b.ptr) & mask;
    while (d->side[i].ptr)
        i = (i + 1) & mask;
    d->side[i] = b;
    s->sn++;
    if (b.ptr & 15)
        d->su++;
    return 0;
}

/* ---- in a shard: insert, remove ---------------------------------------------------------- */

/* In s: removes ptr (its block to *out if out); 1, or 0 if absent. */
static int ls_remove_in(shard_t *s, uint64_t ptr, liveset_block_t *out)
{
    if (ptr & 15)
        return side_take(s, ptr, out);
    rtab_t *t = ls_region(s, ptr >> 16, ls_hash(ptr >> 16));
    uint32_t *e = t != LS_NOTAB ? ls_find(t, ptr) : NULL;
    if (!e)
        return 0;
    const uint32_t x = *e;
    if (x & LS_E_SIDE)
        (void)side_take(s, ptr, out);
    else if (out)
        *out = (liveset_block_t){ptr, (x & LS_E_SIZE) - 1u, 0};
    ls_shift(t, e);
    return 1;
}

static PS_NOINLINE PS_COLD void ls_oom(void)
{
    __atomic_add_fetch(&untracked, 1, __ATOMIC_RELAXED);
    PS_WARN_ONCE("out of memory for the live set; the leak check will be incomplete");
}

/* In s: inserts the block (replacing one at ptr: a release we never saw). */
static void ls_insert_in(shard_t *s, uint64_t ptr, uint64_t size, uint32_t flags)
{
    (void)ls_remove_in(s, ptr, NULL);
    const liveset_block_t b = {ptr, size, flags};
    if (ptr & 15) {
        if (side_put(s, b) != 0)
            ls_oom();
        return;
    }
    rtab_t *t = ls_tab_get(s, ptr >> 16);
    if (!t || (t->n >= t->lim && !(t = ls_tab_grow(s, t)))) {
        ls_oom();
        return;
    }
    uint32_t v = ls_okey(ptr);
    if (ls_fits(ptr, size, flags)) {
        v |= (uint32_t)(size + 1);
    } else {
        if (side_put(s, b) != 0) {
            ls_oom();
            return;
        }
        v |= LS_E_SIDE;
    }
    while (!ls_put(t, v, ls_hash(ptr)))
        if (!(t = ls_tab_grow(s, t))) {
            if (v & LS_E_SIDE)
                (void)side_take(s, ptr, NULL);
            ls_oom();
            return;
        }
}

/* In s (its lock held, or its owner in it): the event's timestamp by stamp.h's guard (t NULL:
 * not an event). Running it twice for one event changes nothing. */
static PS_ALWAYS_INLINE void ls_guard(shard_t *s, liveset_stamp_t *t)
{
    if (t)
        t->ts = stamp_guard(&s->stamp, &s->who, t->ts, t->who);
}

/* ---- shard ownership (the header comment's "Biased shards") ---------------------------- */

static long ls_membarrier(int cmd)
{
    int e = errno; /* (a hook's errno is the app's) */
    long r = syscall(SYS_membarrier, cmd, 0, 0);
    errno = e;
    return r;
}

/* Whether shards may be owned: registers the process for membarrier's private expedited
 * command once (again in a fork child). Called with a shard lock held. */
static int ls_mb_ready(void)
{
    int st = __atomic_load_n(&ls_mb_state, __ATOMIC_ACQUIRE);
    if (PS_LIKELY(st != 0))
        return st > 0;
    long q = ls_membarrier(MEMBARRIER_CMD_QUERY);
    st = q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                 ls_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0
             ? 1
             : -1;
    __atomic_store_n(&ls_mb_state, st, __ATOMIC_RELEASE);
    return st > 0;
}

/* Lock held: a thread owns s (not LS_NOBODY, not LS_SHARED). */
static int ls_owned(const shard_t *s)
{
    const uint32_t o = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);
    return o != LS_NOBODY && o != LS_SHARED;
}

/* After s was marked shared and a membarrier: the owner is out of it. */
static void ls_wait_owner_out(const shard_t *s)
{
    while (__atomic_load_n(&s->busy, __ATOMIC_ACQUIRE))
        sched_yield(); /* the owner is inside, maybe descheduled */
}

/* Lock held, s owned by another thread (ls_owned): marks it shared, then every running
 * thread passes a full barrier, then the owner is out of it. */
static void ls_revoke(shard_t *s)
{
    __atomic_store_n(&s->owner, LS_SHARED, __ATOMIC_SEQ_CST);
    (void)ls_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED); /* registered: cannot fail */
    ls_wait_owner_out(s);
}

/* Lock held, s not shared: the calling thread claims s if nobody owns it, or revokes the
 * owner's claim if another thread owns it. */
static PS_NOINLINE PS_COLD void ls_bias(shard_t *s)
{
    const uint32_t o = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);
    if (o == LS_SHARED || o == ls_me)
        return;
    if (o != LS_NOBODY) {
        ls_revoke(s);
        return;
    }
    if (!ls_mb_ready()) {
        __atomic_store_n(&s->owner, LS_SHARED, __ATOMIC_RELAXED);
        return;
    }
    if (ls_me == LS_ANON) {
        uint32_t id;
        do
            id = __atomic_add_fetch(&ls_next_id, 1, __ATOMIC_RELAXED);
        while (id == LS_ANON || id <= LS_SHARED); /* (after 2^32 threads) */
        ls_me = id;
    }
    __atomic_store_n(&s->owner, ls_me, __ATOMIC_RELAXED);
}

/* Lock held: ownership settled (ls_bias) when s is not shared. */
static PS_ALWAYS_INLINE void ls_settle_owner(shard_t *s)
{
    if (PS_UNLIKELY(!ls_shared(s)))
        ls_bias(s);
}

/* The lock, and ownership settled. */
static void ls_lock(shard_t *s)
{
    ilock_lock(&s->lock);
    ls_settle_owner(s);
}


/* Into s: by its owner's way (returns 1) or its lock (0). */
static int ls_enter(shard_t *s)
{
    if (ls_own_enter(s))
        return 1;
    ls_lock(s);
    return 0;
}

static void ls_leave(shard_t *s, int own)
{
    if (own)
        ls_own_leave(s);
    else
        ilock_unlock(&s->lock);
}

void liveset_insert(uint64_t ptr, uint64_t size, uint32_t flags, liveset_stamp_t *t)
{
    shard_t *s = ls_shard(ptr);
    const int own = ls_enter(s);
    ls_guard(s, t);
    ls_insert_in(s, ptr, size, flags);
    ls_leave(s, own);
}

int liveset_remove(uint64_t ptr, liveset_block_t *out, liveset_stamp_t *t)
{
    shard_t *s = ls_shard(ptr);
    const int own = ls_enter(s);
    ls_guard(s, t);
    const int r = ls_remove_in(s, ptr, out);
    ls_leave(s, own);
    return r;
}

/* ---- the recorders' entries: arguments and results in registers -------------------------
 * (the recorders' slow paths keep errno, rec.h: a futex wait or a table's mapping may set it) */

uint64_t liveset_add_slow(uint64_t ptr, uint64_t size, uint32_t flags, uint64_t ts,
                          uint32_t who)
{
    int e = errno;
    liveset_stamp_t t = {ts, who};
    liveset_insert(ptr, size, flags, &t);
    errno = e;
    return t.ts;
}

liveset_hit_t liveset_free_slow(uint64_t ptr, uint64_t ts, uint32_t who)
{
    int e = errno;
    liveset_block_t b;
    liveset_stamp_t t = {ts, who};
    int found = liveset_remove(ptr, &b, &t);
    errno = e;
    return (liveset_hit_t){t.ts, found ? LIVESET_HIT_FOUND | b.flags : 0};
}

/* The owner in s, the guard run, entry e of table t the end of ptr's probe: an empty entry
 * (ptr's offset is 0: not found), a side block, or a block whose run goes on. */
liveset_hit_t liveset_free_shift(void *sh, void *tab, void *entry, uint64_t ts)
{
    shard_t *s = sh;
    rtab_t *t = tab;
    uint32_t *e = entry;
    const uint32_t x = *e;
    uint64_t hit = 0;
    if (x & LS_E_SIDE) {
        liveset_block_t b = {0, 0, 0};
        (void)side_take(s, ls_eptr(t, x), &b);
        ls_shift(t, e);
        hit = LIVESET_HIT_FOUND | b.flags;
    } else if (x) {
        ls_shift(t, e);
        hit = LIVESET_HIT_FOUND;
    }
    ls_own_leave(s);
    return (liveset_hit_t){ts, hit};
}

int liveset_set_flags(uint64_t ptr, uint32_t flags)
{
    shard_t *s = ls_shard(ptr);
    int found = 0;
    ls_lock(s);
    liveset_block_t *x = side_find(s, ptr);
    if (x) {
        x->flags |= flags;
        found = 1;
    } else if (!(ptr & 15)) {
        rtab_t *t = ls_region(s, ptr >> 16, ls_hash(ptr >> 16));
        uint32_t *e = t != LS_NOTAB ? ls_find(t, ptr) : NULL;
        if (e) {
            found = 1;
            if (flags) { /* to the side */
                liveset_block_t b = {ptr, (*e & LS_E_SIZE) - 1u, flags};
                if (side_put(s, b) == 0) {
                    *e = (*e & ~LS_E_SIZE) | LS_E_SIDE;
                } else {
                    ls_shift(t, e);
                    ls_oom();
                }
            }
        }
    }
    ilock_unlock(&s->lock);
    return found;
}

/* Shards whose owners liveset_lock_all revoked: unowned again at liveset_unlock_all. */
static unsigned char ls_reclaim[LIVESET_SHARDS];

void liveset_lock_all(void)
{
    int revoked = 0;
    for (unsigned i = 0; i < LIVESET_SHARDS; i++) {
        shard_t *s = &ls_shards[i];
        ilock_lock(&s->lock);
        ls_reclaim[i] = (unsigned char)ls_owned(s);
        if (ls_reclaim[i]) { /* ls_revoke, with one membarrier for all */
            __atomic_store_n(&s->owner, LS_SHARED, __ATOMIC_SEQ_CST);
            revoked = 1;
        }
    }
    if (!revoked)
        return;
    (void)ls_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    for (unsigned i = 0; i < LIVESET_SHARDS; i++)
        ls_wait_owner_out(&ls_shards[i]);
}

void liveset_unlock_all(void)
{
    for (unsigned i = LIVESET_SHARDS; i-- > 0;) {
        if (ls_reclaim[i])
            __atomic_store_n(&ls_shards[i].owner, LS_NOBODY, __ATOMIC_RELAXED);
        ilock_unlock(&ls_shards[i].lock);
    }
}

uint64_t liveset_mark_time(void)
{
    const uint64_t now = prim_now_ns();
    for (unsigned i = 0; i < LIVESET_SHARDS; i++) {
        shard_t *s = &ls_shards[i];
        if (s->stamp < now)
            s->stamp = now;
        s->who = 0; /* no thread's: every next event takes stamp_guard_slow */
    }
    return now;
}

/* In s: its blocks (tables' entries, then side-only ones). */
static uint64_t ls_shard_count(const shard_t *s)
{
    uint64_t n = ls_cold(s)->su;
    for (uint32_t j = 0; s->dn && j <= s->dmask; j++)
        if (s->dir[j])
            n += s->dir[j]->n;
    return n;
}

uint64_t liveset_count(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < LIVESET_SHARDS; i++)
        n += ls_shard_count(&ls_shards[i]);
    return n;
}

/* ---- the views: a region's blocks at a time ---------------------------------------------- */

static int released;

/* A shellsort of side blocks by address (side tables are small: not worth more). */
static void ls_sort_blocks(liveset_block_t *b, uint64_t n)
{
    static const uint64_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    for (unsigned g = 0; g < sizeof gaps / sizeof *gaps; g++)
        for (uint64_t i = gaps[g]; i < n; i++) {
            liveset_block_t x = b[i];
            uint64_t j = i;
            for (; j >= gaps[g] && b[j - gaps[g]].ptr > x.ptr; j -= gaps[g])
                b[j] = b[j - gaps[g]];
            b[j] = x;
        }
}

#define LS_TAKEN 0x80000000u /* (a side-only block already passed, in the sorted copy) */

/* The side-only blocks (no table entry: not 16-aligned) of shard i, or of every shard
 * (i = LIVESET_SHARDS), sorted by address into an imem array (*n of them; NULL when none or
 * no memory: *n then says which). */
static liveset_block_t *ls_side_only(unsigned i, uint64_t *n)
{
    unsigned lo = i < LIVESET_SHARDS ? i : 0, hi = i < LIVESET_SHARDS ? i + 1 : LIVESET_SHARDS;
    uint64_t total = 0;
    for (unsigned k = lo; k < hi; k++)
        total += colds[k].su;
    *n = total;
    if (!total)
        return NULL;
    liveset_block_t *u = imem_alloc(total * sizeof *u);
    if (!u)
        return NULL;
    uint64_t m = 0;
    for (unsigned k = lo; k < hi; k++)
        for (uint32_t j = 0; j < colds[k].scap; j++)
            if (colds[k].side[j].ptr & 15)
                u[m++] = colds[k].side[j];
    ls_sort_blocks(u, m);
    return u;
}

/* Table t's blocks (of shard s) and the side-only blocks of its region from u (sorted, nu:
 * marked taken) into buf; returns how many. */
static uint32_t ls_region_blocks(shard_t *s, const rtab_t *t, liveset_block_t *buf,
                                 liveset_block_t *u, uint64_t nu)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nslots; i++) {
        const uint32_t x = t->e[i];
        if (!x)
            continue;
        const uint64_t p = ls_eptr(t, x);
        const liveset_block_t *sb;
        if (!(x & LS_E_SIDE))
            buf[n++] = (liveset_block_t){p, (x & LS_E_SIZE) - 1u, 0};
        else if ((sb = side_find(s, p)) != NULL)
            buf[n++] = *sb;
    }
    uint64_t lo = 0, hi = nu; /* the region's first side-only block */
    while (lo < hi) {
        uint64_t m = lo + (hi - lo) / 2;
        if (u[m].ptr >> 16 < t->key)
            lo = m + 1;
        else
            hi = m;
    }
    for (; lo < nu && u[lo].ptr >> 16 == t->key; lo++) {
        buf[n++] = u[lo];
        u[lo].flags |= LS_TAKEN;
    }
    return n;
}

/* fn on the regions of u's blocks not taken yet: the regions of side-only blocks alone. */
static uint64_t ls_side_regions(liveset_block_t *u, uint64_t nu, liveset_block_t *buf,
                                liveset_region_fn fn, void *arg, int *stop)
{
    uint64_t passed = 0;
    for (uint64_t i = 0; i < nu && !*stop;) {
        uint32_t n = 0;
        const uint64_t reg = u[i].ptr >> 16;
        for (; i < nu && u[i].ptr >> 16 == reg; i++)
            if (!(u[i].flags & LS_TAKEN))
                buf[n++] = u[i];
        passed += n;
        if (n && fn(arg, reg, buf, n))
            *stop = 1;
    }
    return passed;
}

/* A region's blocks at most: its table's 4096 entries and side-only blocks, of which there
 * are at most nu (all of them) where nu side-only blocks are passed: a buffer for any region. */
static liveset_block_t *ls_buf_alloc(uint64_t nu)
{
    return imem_alloc((4096 + nu) * sizeof(liveset_block_t));
}

/* Locks held: every shard's directory gone (the views need none), a large one unmapped. */
static void ls_release_dirs(void)
{
    for (unsigned i = 0; i < LIVESET_SHARDS; i++) {
        shard_t *s = &ls_shards[i];
        if (s->dir != ls_nodir && ls_dir_block(s->dir)->cls == LS_BIG)
            ls_mem_free(ls_dir_block(s->dir));
        s->rkey = LS_NO_REGION;
        s->rtab = NULL;
        s->dir = ls_nodir;
        s->dmask = 0;
        s->dshift = 63;
        s->dn = 0;
    }
}

/* Locks held, after ls_release_dirs: every shard as one that never had any memory, lm's
 * chunks unmapped. */
static void ls_release_all(void)
{
    for (unsigned i = 0; i < LIVESET_SHARDS; i++) {
        shard_t *s = &ls_shards[i];
        cold_t *c = ls_cold(s);
        if (c->side)
            imem_free(c->side);
        memset(c, 0, sizeof *c);
        s->rkey = LS_NO_REGION;
        s->rtab = NULL;
        s->dir = ls_nodir;
        s->dmask = 0;
        s->dshift = 63;
        s->dn = s->sn = 0;
    }
    for (chunk_t *ch = lm.chunks, *next; ch; ch = next) {
        next = ch->next;
        imem_free(ch);
    }
    lm.chunks = lm.cur = NULL;
    memset(lm.free, 0, sizeof lm.free);
    lm.nfree = 0;
    __atomic_store_n(&table_bytes, 0, __ATOMIC_RELAXED);
}

/* The regions a chunk at a time (its blocks are tables, directories, free ones: each starts
 * with a table's header); with release each chunk is unmapped once passed, so what the
 * caller builds takes the tables' place. */
uint64_t liveset_regions(int release, liveset_region_fn fn, void *arg)
{
    if (release) {
        __atomic_store_n(&released, 1, __ATOMIC_RELEASE);
        ls_release_dirs();
    }
    uint64_t nu, passed = 0;
    liveset_block_t *u = ls_side_only(LIVESET_SHARDS, &nu);
    liveset_block_t *buf = ls_buf_alloc(nu);
    int stop = !buf || (nu && !u);
    if (stop)
        ls_oom();
    for (chunk_t *ch = lm.chunks, *next; ch; ch = next) {
        next = ch->next;
        for (uint64_t off = LS_CHUNK_HDR; off < ch->used && !stop;) {
            const rtab_t *t = (const rtab_t *)(const void *)((const char *)ch + off);
            off += ls_cls_bytes[t->cls];
            if (t->key >= LS_KEY_FREE || !t->n)
                continue;
            uint32_t n = ls_region_blocks(&ls_shards[ls_shard_index(t->key << 16)], t, buf, u, nu);
            passed += n;
            if (n && fn(arg, t->key, buf, n))
                stop = 1;
        }
        if (release) { /* (its blocks' memory no longer counted) */
            __atomic_sub_fetch(&table_bytes, ch->used - LS_CHUNK_HDR, __ATOMIC_RELAXED);
            imem_free(ch);
        }
    }
    if (release)
        lm.chunks = lm.cur = NULL;
    if (!stop)
        passed += ls_side_regions(u, nu, buf, fn, arg, &stop);
    imem_free(u);
    imem_free(buf);
    if (release)
        ls_release_all();
    return passed;
}

int liveset_released(void)
{
    return __atomic_load_n(&released, __ATOMIC_ACQUIRE);
}

uint64_t liveset_untracked(void)
{
    return __atomic_load_n(&untracked, __ATOMIC_RELAXED);
}

#ifdef LIVESET_TEST_HOOKS
/* Locks held (liveset_lock_all): every shard unowned again, shared ones too. */
void liveset_test_unshare(void);
void liveset_test_unshare(void)
{
    for (unsigned i = 0; i < LIVESET_SHARDS; i++) {
        ls_shards[i].owner = LS_NOBODY;
        ls_reclaim[i] = 0;
    }
}
#endif

int liveset_shard_state(uint64_t ptr)
{
    if (__atomic_load_n(&ls_mb_state, __ATOMIC_ACQUIRE) < 0)
        return LIVESET_SHARD_NO_BIAS;
    const uint32_t o = __atomic_load_n(&ls_shard(ptr)->owner, __ATOMIC_RELAXED);
    return o == LS_NOBODY   ? LIVESET_SHARD_NOBODY
           : o == LS_SHARED ? LIVESET_SHARD_SHARED
           : o == ls_me     ? LIVESET_SHARD_MINE
                            : LIVESET_SHARD_OTHER;
}

uint64_t liveset_bytes(void)
{
    return __atomic_load_n(&table_bytes, __ATOMIC_RELAXED);
}

void liveset_after_fork_child(void)
{
    ls_mb_state = 0; /* registered again (a new mm) at the first claim */
    /* The parent's blocks stay in the set, plain blocks: the child's leak check covers them
     * (its analyzer tells them apart: blocks its replay lacks). */
    for (unsigned i = 0; i < LIVESET_SHARDS; i++) {
        shard_t *s = &ls_shards[i];
        ilock_reset(&s->lock);
        s->owner = LS_NOBODY; /* the owners may be gone, and inside (busy) */
        s->busy = 0;
    }
    ilock_reset(&lm.lock);
}
