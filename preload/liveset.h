/*
 * liveset.h -- the shim's in-process live set: every block the app holds, by address, with
 * its size (and the flags LIVESET_F_LINKER, LIVESET_F_IGNORED), nothing else: no stack id, no
 * thread (issue 18's recorder memory: ~6 bytes a block where 16-byte slots took ~24). The
 * analyzer, which replays every block, attributes what the leak scan and snapshots find to
 * sites, and tells a cross-thread free and a fork child's inherited blocks itself.
 *
 * Contract: a concurrent map that does not serialize threads: LIVESET_SHARDS shards chosen by
 * a hash of the block's 64 KiB region, each behind its own ilock (never a pthread lock);
 * glibc's per-thread arenas keep each thread's blocks in shards of its own, so two threads
 * meet only on cross-thread frees and shared arenas, and a shard one thread alone uses is
 * owned by it: entered with no atomic instruction (liveset.c "Biased shards"; the first other
 * thread revokes that with membarrier(2)). Inside a shard, each region (ptr >> 16) that holds
 * block starts has a table of 4-byte entries (below, "Region tables"); a block a 4-byte entry
 * cannot describe (an address not 16-aligned, a size >= LS_SIZE_LIMIT, flags) is kept whole
 * in the shard's side table. Called from the recorders in shim.h with the hook guard set;
 * never allocates from the app's heap (tables are carved from the shard's imem chunks and
 * grow by a quarter when 3/4 full). An insert that cannot get memory is counted in
 * liveset_untracked() (warned once) and the block is simply not in the set.
 * liveset_lock_all() takes every shard lock in order: between it and liveset_unlock_all() no
 * block can leave the set, so a block in it is still allocated (frees wait in
 * liveset_remove, which runs before the real free). liveset_regions() and liveset_count()
 * need the locks held. liveset_after_fork_child() resets the locks and keeps
 * the parent's blocks as plain blocks (the analyzer knows which a child inherited: those its
 * replay lacks); the child's leak scan covers them, as memcheck's and LSan's do.
 */
#ifndef PERFSHIM_LIVESET_H
#define PERFSHIM_LIVESET_H

#include <stdint.h>

#include "ilock.h"
#include "perfshim/compiler.h"
#include "perfshim/mix.h"

#define LIVESET_SHARD_BITS 8
#define LIVESET_SHARDS (1u << LIVESET_SHARD_BITS)

#define LIVESET_F_LINKER 0x1u    /* allocated by the dynamic linker (TLS blocks, DTVs) */
/* 0x2u: a fork child's inherited block, until 2026-12-02 (the analyzer knows them now) */
#define LIVESET_F_IGNORED 0x4u   /* __lsan_ignore_object, or allocated while __lsan_disable'd:
                                  * never a leak, nor what it holds */
/* A thread for stamp.h's guard (liveset_stamp_t.who, a shard's `who`): its tid's low 24 bits,
 * shifted, so never 0 (tids stay below 2^22, the kernel's pid_max limit). Not kept per block. */
#define LIVESET_WHO(tid) (((uint32_t)(tid) & 0xffffffu) << 8)

/* A block as the live set gives it back. */
typedef struct liveset_block_s {
    uint64_t ptr, size;
    uint32_t flags; /* LIVESET_F_LINKER, LIVESET_F_IGNORED */
} liveset_block_t;


/* An event's timestamp through the live set (stamp.h): ts, the thread's floor or exact read,
 * comes back as the event's stamp under the shard's guard (each shard keeps the largest stamp
 * of its events and their thread, read and written inside the shard's exclusion, by its lock
 * or by its owner); who: the thread (LIVESET_WHO of its tid, never 0). NULL where the call is
 * no event of the app (nothing stamped). */
typedef struct liveset_stamp_s {
    uint64_t ts;
    uint32_t who;
} liveset_stamp_t;

void liveset_insert(uint64_t ptr, uint64_t size, uint32_t flags, liveset_stamp_t *t);
/* Removes ptr; copies its block to *out (if out) and returns 1, or returns 0 if absent. The
 * stamp's guard runs either way (a free of a block the set does not hold is ordered too). */
int liveset_remove(uint64_t ptr, liveset_block_t *out, liveset_stamp_t *t);
/* The recorders' forms (inline below, in shim.h): the event's stamp ts of thread who
 * in, the stamp under the shard's guard out, all in registers. liveset_add is
 * liveset_insert; liveset_free is liveset_remove for a free: the stamp, and the block's flags
 * with LIVESET_HIT_FOUND when ptr was in the set (else 0). */
#define LIVESET_HIT_FOUND (1ull << 32)
typedef struct liveset_hit_s {
    uint64_t ts;
    uint64_t hit; /* 0, or LIVESET_HIT_FOUND | the block's flags */
} liveset_hit_t;
/* Their out-of-line rest (liveset.c). */
uint64_t liveset_add_slow(uint64_t ptr, uint64_t size, uint32_t flags, uint64_t ts,
                          uint32_t who);
liveset_hit_t liveset_free_slow(uint64_t ptr, uint64_t ts, uint32_t who);
liveset_hit_t liveset_free_shift(void *shard, void *table, void *entry, uint64_t ts);
/* ORs flags into ptr's block; returns 1, or 0 if ptr is not a live block's start. */
int liveset_set_flags(uint64_t ptr, uint32_t flags);
void liveset_lock_all(void);
void liveset_unlock_all(void);
/* Locks held: now (prim_now_ns), as a time every later heap event of the app is stamped
 * after: each shard's stamp raised to it, owned by no thread, so that stamp.h's guard gives
 * the next event of any shard a later time quantum. Every event already in the set was
 * stamped at or before it. A scan's or a snapshot's ts, so that the analyzer's replay at
 * that ts holds exactly the blocks the shim saw (the verdicts and snapshot sites it
 * attributes by address). */
uint64_t liveset_mark_time(void);
uint64_t liveset_count(void); /* locks held */

/* Locks held (liveset_lock_all). Calls fn once per 64 KiB region (ptr >> 16) that holds
 * block starts, regions in any order, a region's blocks in any order, n >= 1; with release,
 * frees each region's table after its call and the set is released after it
 * (liveset_released(): blocks allocated later go into new tables, frees of blocks it held
 * find nothing). fn returns 0 to go on, nonzero to stop (the rest is then freed unseen when
 * release). Returns the blocks passed to fn. (Memory goes back to the system a shard at a
 * time: a shard's tables share its chunks.) */
typedef int (*liveset_region_fn)(void *arg, uint64_t region, const liveset_block_t *b,
                                 uint32_t n);
uint64_t liveset_regions(int release, liveset_region_fn fn, void *arg);
int liveset_released(void);
uint64_t liveset_untracked(void);
/* Diagnostics (tests): the state of ptr's shard for the calling thread (liveset.c "Biased
 * shards"): nobody owns it, it is shared (every thread locks), the caller owns it, another
 * thread does; LIVESET_SHARD_NO_BIAS when shards are never owned (no membarrier). */
enum { LIVESET_SHARD_NOBODY, LIVESET_SHARD_SHARED, LIVESET_SHARD_MINE, LIVESET_SHARD_OTHER,
       LIVESET_SHARD_NO_BIAS };
int liveset_shard_state(uint64_t ptr);
uint64_t liveset_bytes(void); /* memory of the tables (what their chunks have handed out) */
void liveset_after_fork_child(void);

/* ==== the recorders' inline fast paths ==================================================
 * The live set's shards and region tables (liveset.c describes the rest), for liveset_add
 * and liveset_free below, which shim.h's recorders inline: the owner of a shard inserts or
 * removes in the hook itself, no call. Private to liveset.c and shim.h.
 *
 * Region tables. A region's table holds cap home entries and then a tail (the runs of the
 * last homes have room, no probe wraps; the last entry is always empty: an insert that
 * would fill it grows the table instead). An entry, 4 bytes: the block's offset in the region
 * / 16 (bits 20..31), LS_E_SIDE (bit 19), the size + 1 (bits 0..18; 0 with LS_E_SIDE: the
 * block's size and flags are in the shard's side table). Never 0 when used. Linear probing
 * from ls_home of the block's Fibonacci hash, deletion by back-shift (no tombstones). */
#define LS_E_SIDE (1u << 19)
#define LS_E_SIZE 0x7ffffu
#define LS_SIZE_LIMIT 0x7ffffu /* sizes below it fit an entry (512 KiB - 1) */

typedef struct rtab_s {
    uint64_t key;    /* the region: ptr >> 16 */
    uint32_t cap;    /* home entries */
    uint32_t n;      /* entries used */
    uint32_t lim;    /* an insert's fast path while n < lim: 3/4 of cap */
    uint16_t nslots; /* entries in all: cap + the tail */
    uint16_t cls;    /* the size class of its memory (liveset.c) */
    uint32_t e[];
} rtab_t;

typedef struct shard_s {
    ilock_t lock PS_ALIGNED_CL;
    uint32_t owner; /* LS_NOBODY, LS_SHARED or the owner thread's ls_me; changed under the lock */
    uint32_t busy;  /* the owner is in the shard without the lock (written by the owner only) */
    uint32_t who;   /* the thread of the largest stamp of the shard's events (stamp.h's guard) */
    uint64_t stamp; /* the largest stamp of the shard's events */
    uint64_t rkey;  /* the last region looked up (LS_NO_REGION: none) ... */
    rtab_t *rtab;   /* ... and its table */
    rtab_t **dir;   /* the directory: dmask + 1 table pointers, open addressing on the region */
    uint32_t dmask, dshift; /* a region's home: (its hash << 8) >> dshift */
    uint32_t dn;    /* tables in the directory */
    uint32_t sn;    /* entries in the side table */
} shard_t;
_Static_assert(sizeof(shard_t) == 64, "a shard's hot fields in one cache line");

#define LS_NO_REGION UINT64_MAX
#define LS_NOBODY 0u        /* a shard nobody owns: the next thread to lock it claims it */
#define LS_SHARED 1u        /* revoked: every thread locks it */
#define LS_ANON UINT32_MAX /* ls_me of a thread that has no id yet (owns nothing) */
extern PS_HIDDEN PS_TLS uint32_t ls_me; /* (liveset.c) */
extern PS_HIDDEN shard_t ls_shards[LIVESET_SHARDS];
/* A region without a table: ls_region's answer, an empty table (cap 0, lim 0, one empty
 * entry), so the fast paths test nothing more: an insert finds no room, a probe the empty
 * entry. Never written. */
extern PS_HIDDEN const uint64_t ls_notab[4];
#define LS_NOTAB ((rtab_t *)(uintptr_t)ls_notab)

/* Fibonacci hashing (one multiplication; a table takes its high bits, ls_home). The side
 * tables, which take low bits, mix (liveset.c ls_side_hash). */
#define LS_FIB 0x9e3779b97f4a7c15ull
static PS_ALWAYS_INLINE uint64_t ls_hash(uint64_t p)
{
    return p * LS_FIB;
}

/* The shard of a region's hash hr (ls_hash(ptr >> 16)): its high bits. */
static PS_ALWAYS_INLINE unsigned ls_shard_of(uint64_t hr)
{
    return (unsigned)(hr >> (64 - LIVESET_SHARD_BITS));
}

static PS_ALWAYS_INLINE unsigned ls_shard_index(uint64_t ptr)
{
    return ls_shard_of(ls_hash(ptr >> 16));
}

/* The home entry of a block of hash h in a table of cap homes: h's high bits scaled (one
 * multiplication, no division). */
static PS_ALWAYS_INLINE uint64_t ls_home(uint64_t h, uint64_t cap)
{
    return (uint64_t)(((unsigned __int128)h * cap) >> 64);
}

/* A block a table entry describes: 16-aligned, small enough, no flags. */
static PS_ALWAYS_INLINE int ls_fits(uint64_t ptr, uint64_t size, uint32_t flags)
{
    return !((ptr & 15) | flags) && size < LS_SIZE_LIMIT;
}

/* ptr's offset key: bits 20..31 of its entry (the rest 0). */
static PS_ALWAYS_INLINE uint32_t ls_okey(uint64_t ptr)
{
    return (uint32_t)(ptr << 16) & 0xfff00000u;
}

/* The shard of a block is chosen by its 64 KiB region, not by its exact address: glibc gives
 * each thread its own arena, so a thread's blocks land in shards no other thread touches and
 * the shard locks (and tables) stay in that core's cache. Cross-thread frees still meet the
 * other thread's shard, as they must. */
static PS_ALWAYS_INLINE shard_t *ls_shard_h(uint64_t hr)
{
    shard_t *s = &ls_shards[ls_shard_of(hr)];
    /* An opaque copy: otherwise GCC addresses the shard's fields as shards + index * 64,
     * keeping the index and the array's address in two more registers. */
    __asm__("" : "+r"(s));
    return s;
}

static PS_ALWAYS_INLINE shard_t *ls_shard(uint64_t ptr)
{
    return ls_shard_h(ls_hash(ptr >> 16));
}

/* In s: the table of region reg (hash hr), or LS_NOTAB: the cached last region, then the
 * directory (which a shard without tables has as ls_nodir: empty). */
static PS_ALWAYS_INLINE rtab_t *ls_region(shard_t *s, uint64_t reg, uint64_t hr)
{
    if (PS_LIKELY(reg == s->rkey))
        return s->rtab;
    rtab_t **d = s->dir, *t;
    for (uint32_t i = (uint32_t)((hr << 8) >> s->dshift);; i = (i + 1) & s->dmask) {
        t = d[i];
        if (!t)
            return LS_NOTAB;
        if (t->key == reg)
            break;
    }
    s->rkey = reg;
    s->rtab = t;
    return t;
}

/* The owner's way in: 1 when the calling thread owns s and is now in it (busy set), else 0
 * (the caller locks). No atomic read-modify-write: a store, a compiler barrier, a load. */
static PS_ALWAYS_INLINE int ls_own_enter(shard_t *s)
{
    const uint32_t me = ls_me;
    if (__atomic_load_n(&s->owner, __ATOMIC_RELAXED) != me)
        return 0;
    __atomic_store_n(&s->busy, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the store before the load (membarrier: CPU) */
    if (PS_LIKELY(__atomic_load_n(&s->owner, __ATOMIC_ACQUIRE) == me))
        return 1;
    __atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE); /* revoked meanwhile */
    return 0;
}

#ifdef LIVESET_TEST_HOOKS /* tests/unit/liveset: a delay inside, so that races show */
extern int liveset_test_spin;
#define LS_TEST_SPIN()                                                                         \
    for (volatile int spin_ = 0; spin_ < liveset_test_spin; spin_++)                           \
        ;
#else
#define LS_TEST_SPIN()
#endif

static PS_ALWAYS_INLINE void ls_own_leave(shard_t *s)
{
    LS_TEST_SPIN();
    __atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE); /* the table's stores before it */
}

/* In s, room (t->n < t->lim): the insert of entry v (hash: ls_hash of the block's address)
 * itself. An entry holds v's block when the two differ only in bits 0..19: one xor and shift
 * a probe. Returns 1, or 0 when the free entry found is the last one, or the block is there
 * already with its size in the side table (nothing written: the caller goes the slow way). */
static PS_ALWAYS_INLINE int ls_put(rtab_t *t, uint32_t v, uint64_t hash)
{
    uint32_t *e = t->e + ls_home(hash, t->cap), x = *e;
    if (PS_LIKELY(!x)) { /* its home is free: a home is never the last entry (a tail >= 1) */
        t->n++;
        *e = v;
        return 1;
    }
    while ((x = *e) != 0 && ((x ^ v) >> 20) != 0)
        e++;
    if (!x) {
        if (PS_UNLIKELY(e == t->e + t->nslots - 1))
            return 0;
        t->n++;
    } else if (PS_UNLIKELY(x & LS_E_SIDE)) { /* a release we never saw, of a side block */
        return 0;
    } /* else: a release we never saw; the new block replaces the old */
    *e = v;
    return 1;
}

/* ---- the recorders' fast paths (liveset.h: liveset_add, liveset_free) -----------------
 * The owner's common case inline in the hook: its way in (a store, a compiler barrier, a
 * load), stamp.h's guard (same thread, not behind), the region (the cached one, or the
 * directory), the probe; a shard it does not own, a table to grow or make, a run to shift, a
 * side block or a guard to raise go to liveset.c, which does all of it again under the lock
 * (nothing was changed). */
/* (_fl: *floor, the thread's floor, which ts is, set to the stamp where a slow path gave
 * another: the fast path, which returns ts itself, stores nothing; issue 18: a store an event) */
static PS_ALWAYS_INLINE uint64_t liveset_add_fl(uint64_t ptr, uint64_t size, uint32_t flags,
                                                uint64_t ts, uint32_t who, uint64_t *floor)
{
    if (PS_LIKELY(ls_fits(ptr, size, flags))) {
        const uint64_t reg = ptr >> 16, hr = ls_hash(reg);
        shard_t *s = ls_shard_h(hr);
        if (PS_LIKELY(ls_own_enter(s))) {
            if (PS_LIKELY(who == s->who && ts >= s->stamp)) {
                rtab_t *t = ls_region(s, reg, hr);
                if (PS_LIKELY(t->n < t->lim) &&
                    PS_LIKELY(ls_put(t, ls_okey(ptr) | (uint32_t)(size + 1), ls_hash(ptr)))) {
                    s->stamp = ts; /* stamp_guard's common case */
                    ls_own_leave(s);
                    return ts;
                }
            }
            ls_own_leave(s);
        }
    }
    return *floor = liveset_add_slow(ptr, size, flags, ts, who);
}

static PS_ALWAYS_INLINE uint64_t liveset_add(uint64_t ptr, uint64_t size, uint32_t flags,
                                             uint64_t ts, uint32_t who)
{
    uint64_t floor;
    return liveset_add_fl(ptr, size, flags, ts, who, &floor);
}

static PS_ALWAYS_INLINE liveset_hit_t liveset_free_fl(uint64_t ptr, uint64_t ts, uint32_t who,
                                                      uint64_t *floor)
{
    const uint64_t reg = ptr >> 16, hr = ls_hash(reg);
    shard_t *s = ls_shard_h(hr);
    if (PS_LIKELY(ls_own_enter(s))) {
        if (PS_LIKELY(who == s->who && ts >= s->stamp) && PS_LIKELY(!(ptr & 15))) {
            s->stamp = ts; /* the guard runs whether or not ptr is found */
            rtab_t *t = ls_region(s, reg, hr); /* (LS_NOTAB: its empty entry ends the probe) */
            uint32_t *e = t->e + ls_home(ls_hash(ptr), t->cap), x = *e;
            const uint32_t k = ls_okey(ptr);
            if (PS_UNLIKELY((x ^ k) >> 20)) /* (the block at its home: falls through) */
                do {
                    if (!x) {
                        ls_own_leave(s);
                        return (liveset_hit_t){ts, 0};
                    }
                    x = *++e;
                } while ((x ^ k) >> 20);
            /* found, or (offset 0) an empty entry, or a side block, or a run goes on: the
             * rest out of line */
            if (PS_UNLIKELY(!(x & LS_E_SIZE)) || PS_UNLIKELY(e[1] != 0)) {
                const liveset_hit_t h = liveset_free_shift(s, t, e, ts);
                *floor = h.ts;
                return h;
            }
            *e = 0;
            t->n--;
            ls_own_leave(s);
            return (liveset_hit_t){ts, LIVESET_HIT_FOUND};
        }
        ls_own_leave(s);
    }
    const liveset_hit_t h = liveset_free_slow(ptr, ts, who);
    *floor = h.ts;
    return h;
}

static PS_ALWAYS_INLINE liveset_hit_t liveset_free(uint64_t ptr, uint64_t ts, uint32_t who)
{
    uint64_t floor;
    return liveset_free_fl(ptr, ts, who, &floor);
}

#endif /* PERFSHIM_LIVESET_H */
