/*
 * liveset.h -- the shim's in-process live set: every block the app holds, by address, with
 * its size and allocation stack id. The exit-time leak scan (leakscan.c) and live-set
 * snapshots read it.
 *
 * Contract: a concurrent map that does not serialize threads: LIVESET_SHARDS shards chosen by
 * a hash of the block's 64 KiB region, each an open-addressing table behind its own ilock
 * (never a pthread lock); glibc's per-thread arenas keep each thread's blocks in shards of
 * its own, so two threads meet only on cross-thread frees and shared arenas, and a shard one
 * thread alone uses is owned by it: entered with no atomic instruction (liveset.c "Biased
 * shards"; the first other thread revokes that with membarrier(2)). Called from the
 * recorders in shim.h with the hook guard set; never allocates from the app's heap (tables
 * are imem mappings that grow by a quarter when 3/4 full). An insert that cannot get memory
 * is counted in liveset_untracked() (warned once) and the block is simply not in the set.
 * liveset_lock_all() takes every shard lock in order: between it and liveset_unlock_all() no
 * block can leave the set, so a block in it is still allocated (frees wait in
 * liveset_remove, which runs before the real free). liveset_export() and liveset_count()
 * need the locks held. liveset_after_fork_child() resets the locks and keeps the parent's
 * blocks, marked LIVESET_F_INHERITED with stack 0 (the child's trace has its own stack ids):
 * the child's leak scan covers what it inherited, as memcheck's and LSan's do.
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
#define LIVESET_F_INHERITED 0x2u /* a fork child's block from its parent (stack 0) */
#define LIVESET_F_IGNORED 0x4u   /* __lsan_ignore_object, or allocated while __lsan_disable'd:
                                  * never a leak, nor what it holds */
/* Bits 8..31: the allocating thread (its tid's low 24 bits; tids stay below 2^22, the kernel's
 * pid_max limit), so a free by another thread is marked in its FREE record (shim.h). */
#define LIVESET_F_TID(tid) (((uint32_t)(tid) & 0xffffffu) << 8)
#define LIVESET_TID_BITS(flags) ((flags) & 0xffffff00u)

typedef struct liveset_entry_s {
    uint64_t ptr; /* 0: empty slot */
    uint64_t size;
    uint32_t stack;
    uint32_t flags; /* LIVESET_F_* */
} liveset_entry_t;

/* An event's timestamp through the live set (stamp.h): ts, the thread's floor or exact read,
 * comes back as the event's stamp under the shard's guard (each shard keeps the largest stamp
 * of its events and their thread, read and written inside the shard's exclusion, by its lock
 * or by its owner); who: the thread (LIVESET_F_TID of
 * its tid, never 0). NULL where the call is no event of the app (nothing stamped). */
typedef struct liveset_stamp_s {
    uint64_t ts;
    uint32_t who;
} liveset_stamp_t;

void liveset_insert(uint64_t ptr, uint64_t size, uint32_t stack, uint32_t flags,
                    liveset_stamp_t *t);
/* Removes ptr; copies its entry to *out (if out) and returns 1, or returns 0 if absent. The
 * stamp's guard runs either way (a free of a block the set does not hold is ordered too). */
int liveset_remove(uint64_t ptr, liveset_entry_t *out, liveset_stamp_t *t);
/* The recorders' forms (inline below, in shim.h): the event's stamp ts of thread who
 * in, the stamp under the shard's guard out, all in registers. liveset_add is
 * liveset_insert; liveset_free is liveset_remove for a free: the stamp, and the entry's flags
 * word with LIVESET_HIT_FOUND when ptr was in the set (else 0). */
#define LIVESET_HIT_FOUND (1ull << 32)
typedef struct liveset_hit_s {
    uint64_t ts;
    uint64_t hit; /* 0, or LIVESET_HIT_FOUND | the entry's flags */
} liveset_hit_t;
/* Their out-of-line rest (liveset.c). */
uint64_t liveset_add_slot(uint64_t a, uint64_t b, uint64_t ts, uint32_t who);
uint64_t liveset_add_wide(uint64_t ptr, uint64_t size, uint32_t stack, uint32_t flags,
                          uint64_t ts, uint32_t who);
liveset_hit_t liveset_free_slow(uint64_t ptr, uint64_t ts, uint32_t who);
liveset_hit_t liveset_free_shift(void *shard, void *slot, uint64_t ts);
/* ORs flags into ptr's entry; returns 1, or 0 if ptr is not a live block's start. */
int liveset_set_flags(uint64_t ptr, uint32_t flags);
void liveset_lock_all(void);
void liveset_unlock_all(void);
uint64_t liveset_count(void); /* locks held */
/* Copies up to cap entries into out; returns how many. Locks held. */
uint64_t liveset_export(liveset_entry_t *out, uint64_t cap);
/* liveset_export, then each shard's tables are freed as soon as they are copied (the exit
 * scan: its block array takes the place of the tables instead of sitting beside them). The
 * set is empty after it and stays released (liveset_released()): blocks allocated later go
 * into new tables, frees of blocks it held find nothing. Locks held. */
uint64_t liveset_export_release(liveset_entry_t *out, uint64_t cap);
int liveset_released(void);
/* Calls fn on every entry of shard i, under that shard's lock (snapshots). */
void liveset_visit_shard(unsigned i, void (*fn)(const liveset_entry_t *e, void *arg), void *arg);
uint64_t liveset_untracked(void);
/* Diagnostics (tests): the state of ptr's shard for the calling thread (liveset.c "Biased
 * shards"): nobody owns it, it is shared (every thread locks), the caller owns it, another
 * thread does; LIVESET_SHARD_NO_BIAS when shards are never owned (no membarrier). */
enum { LIVESET_SHARD_NOBODY, LIVESET_SHARD_SHARED, LIVESET_SHARD_MINE, LIVESET_SHARD_OTHER,
       LIVESET_SHARD_NO_BIAS };
int liveset_shard_state(uint64_t ptr);
uint64_t liveset_bytes(void); /* memory of the tables */
void liveset_after_fork_child(void);

/* ==== the recorders' inline fast paths ==================================================
 * The live set's slots and shards (liveset.c describes the layout), for liveset_add and
 * liveset_free below, which shim.h's recorders inline: the owner of a shard inserts or
 * removes in the hook itself, no call. Private to liveset.c and shim.h. */

/* A slot, 16 bytes (the entries were 24): a holds the address / 8 (bits 0..43) and the low
 * 20 bits of the size (44..63); b the stack (0..31) and the LIVESET_F_* flags word (32..63:
 * the flags at 32..34, the allocating thread's 24 tid bits at 40..63), whose bits 3..7 (35..39
 * of b), always 0 in a slot, hold the size's bits 20..24. So a remove gets the flags back with
 * a shift and a mask (the caller's cross-thread test reads their tid bits), and a pack is a
 * few shifts. a == 0: empty. A block that does not fit (an address not 8-aligned or >= 2^47,
 * a size >= 32 MiB, flag bits 3..7) is kept whole in its shard's side table, which is searched
 * only when not empty: on x86-64 with 4-level pages that is blocks of 32 MiB and more.
 * Nothing is rounded: every entry comes back as it went in (the cross-thread FREE flag
 * compares all 24 tid bits). */
typedef struct slot_s {
    uint64_t a, b;
} slot_t;

#define SL_KEY ((1ull << 44) - 1)
#define SL_SIZE_LO 44             /* a's bits 44..63: the size's bits 0..19 */
#define SL_SIZE_HI (31ull << 35)  /* b's bits 35..39: the size's bits 20..24 */
#define SL_FLAGS_MASK 0xffffff07u /* b >> 32 less the size's bits: the flags word */

/* A shard's table: cap home slots (any number, not a power of 2: a block's home is
 * ls_home, the hash's high bits scaled to cap), then LS_TAIL more, so that the runs of the
 * last homes have room and no probe wraps around. The last slot is always empty (an insert
 * that would fill it grows the table instead): every probe ends within the table. A full
 * table grows by a quarter (LS_GROW), not 2x: the tables' load stays within 0.6..0.75 of the
 * homes instead of 0.375..0.75 (kvstore's 3 M blocks: 92 MiB of tables with doubling). */
#define LS_TAIL 64
#define LS_MIN_CAP 192
#define LS_GROW(cap) ((cap) + (cap) / 4)

typedef struct shard_s {
    ilock_t lock PS_ALIGNED_CL;
    uint32_t owner; /* LS_NOBODY, LS_SHARED or the owner thread's ls_me; changed under the lock */
    uint32_t busy;  /* the owner is in the shard without the lock (written by the owner only) */
    uint32_t who;   /* the thread of the largest stamp of the shard's events (stamp.h's guard) */
    slot_t *slots;
    uint64_t cap, n;
    uint64_t stamp; /* the largest stamp of the shard's events */
    uint64_t lim;   /* an insert's fast path while n < lim: 3/4 of cap, 0 with a side table */
    slot_t *last;   /* the last slot, slots + cap + LS_TAIL - 1 (NULL: no table) */
} shard_t;
_Static_assert(sizeof(shard_t) == 64, "a shard's hot fields in one cache line");

#define LS_NOBODY 0u        /* a shard nobody owns: the next thread to lock it claims it */
#define LS_SHARED 1u        /* revoked: every thread locks it */
#define LS_ANON UINT32_MAX /* ls_me of a thread that has no id yet (owns nothing) */
extern PS_HIDDEN PS_TLS uint32_t ls_me; /* (liveset.c) */
extern PS_HIDDEN shard_t ls_shards[LIVESET_SHARDS];

/* A block's slot hash: Fibonacci hashing (one multiplication; the table takes its high
 * bits, ls_home), where ps_mix64's shifts and xors cost the hook ~4 instructions more per
 * hash. The side tables, which take low bits, mix (liveset.c ls_side_hash). */
#define LS_FIB 0x9e3779b97f4a7c15ull
static PS_ALWAYS_INLINE uint64_t ls_hash(uint64_t p)
{
    return p * LS_FIB;
}

/* The shard of the 64 KiB region of ptr (its index): the high bits of the same hash. */
static PS_ALWAYS_INLINE unsigned ls_shard_index(uint64_t ptr)
{
    return (unsigned)(ls_hash(ptr >> 16) >> (64 - LIVESET_SHARD_BITS));
}

/* The home slot of a block of hash h in a table of cap homes: h's high bits scaled (one
 * multiplication, no division). */
static PS_ALWAYS_INLINE uint64_t ls_home(uint64_t h, uint64_t cap)
{
    return (uint64_t)(((unsigned __int128)h * cap) >> 64);
}

#define SL_NOT_KEY (~((1ull << 47) - 1) | 7u) /* address bits a slot cannot hold */

static PS_ALWAYS_INLINE int sl_fits(uint64_t ptr, uint64_t size, uint32_t flags)
{
    return !((ptr & SL_NOT_KEY) | (size >> 25) | (flags & 0xf8u));
}

/* A probe's match test without a mask constant (a register): a slot's a << 20 is its key in
 * bits 20..63 over 20 zero bits, and rol(ptr, 17) equals that only when ptr's bits 0..2
 * and 47..63 (rotated to 17..19 and 0..16) are 0, i.e. only for a keyable ptr. */
static PS_ALWAYS_INLINE uint64_t sl_rkey(uint64_t ptr)
{
    return ptr << 17 | ptr >> 47;
}

static PS_ALWAYS_INLINE uint64_t sl_akey(uint64_t a)
{
    return a << (64 - SL_SIZE_LO);
}

/* Only for an entry that sl_fits(). */
static PS_ALWAYS_INLINE slot_t sl_pack(uint64_t ptr, uint64_t size, uint32_t stack,
                                       uint32_t flags)
{
    return (slot_t){ptr >> 3 | size << SL_SIZE_LO,
                    (uint64_t)stack | (uint64_t)flags << 32 | (size >> 20) << 35};
}

static PS_ALWAYS_INLINE uint32_t sl_flags(uint64_t b)
{
    return (uint32_t)(b >> 32) & SL_FLAGS_MASK;
}

/* The shard of a block is chosen by its 64 KiB region, not by its exact address: glibc gives
 * each thread its own arena, so a thread's blocks land in shards no other thread touches and
 * the shard locks (and slots) stay in that core's cache. Hashing each address to a random
 * shard made every lock line bounce between cores: 87% of liveset_remove's time was the lock
 * instruction. Cross-thread frees still meet the other thread's shard, as they must. */
static PS_ALWAYS_INLINE shard_t *ls_shard(uint64_t ptr)
{
    shard_t *s = &ls_shards[ls_shard_index(ptr)];
    /* An opaque copy: otherwise GCC addresses the shard's fields as shards + index * 64,
     * keeping the index and the array's address in two more registers, which cost the hot
     * paths a prologue of callee-saved pushes. */
    __asm__("" : "+r"(s));
    return s;
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

/* Lock held, room: the insert of slot v itself (hash: ls_hash of its address). A slot holds
 * v's address when the two a words differ only in the size's bits (44..63): one xor and
 * shift a probe, no key mask. Returns 1, or 0 when the free slot found is the last one
 * (nothing written: the table must grow). */
static PS_ALWAYS_INLINE int ls_put(shard_t *s, slot_t v, uint64_t hash)
{
    slot_t *e = s->slots + ls_home(hash, s->cap);
    while (e->a && sl_akey(e->a ^ v.a))
        e++;
    if (!e->a) {
        if (PS_UNLIKELY(e == s->last))
            return 0;
        s->n++;
    } /* else: a release we never saw; the new block replaces the old */
    *e = v;
    return 1;
}

/* ---- the recorders' fast paths (liveset.h: liveset_add, liveset_free) -----------------
 * The owner's common case inline in the hook: its way in (a store, a compiler barrier, a
 * load), stamp.h's guard (same thread, not behind), the probe; a shard it does not own, a
 * table to grow, a run to shift, a side table or a guard to raise go to liveset.c, which
 * does all of it again under the lock (nothing was changed). */
static PS_ALWAYS_INLINE uint64_t liveset_add(uint64_t ptr, uint64_t size, uint32_t stack,
                                             uint32_t flags, uint64_t ts, uint32_t who)
{
    if (PS_UNLIKELY(!sl_fits(ptr, size, flags)))
        return liveset_add_wide(ptr, size, stack, flags, ts, who);
    slot_t v = sl_pack(ptr, size, stack, flags);
    shard_t *s = ls_shard(ptr);
    if (PS_LIKELY(ls_own_enter(s))) {
        if (PS_LIKELY(who == s->who && ts >= s->stamp) && PS_LIKELY(s->n < s->lim) &&
            PS_LIKELY(ls_put(s, v, ls_hash(ptr)))) {
            s->stamp = ts; /* stamp_guard's common case */
            ls_own_leave(s);
            return ts;
        }
        ls_own_leave(s);
    }
    return liveset_add_slot(v.a, v.b, ts, who);
}

static PS_ALWAYS_INLINE liveset_hit_t liveset_free(uint64_t ptr, uint64_t ts, uint32_t who)
{
    shard_t *s = ls_shard(ptr);
    if (PS_LIKELY(ls_own_enter(s))) {
        if (PS_LIKELY(who == s->who && ts >= s->stamp)) {
            s->stamp = ts; /* the guard runs whether or not ptr is found */
            slot_t *e = s->slots + ls_home(ls_hash(ptr), s->cap); /* ls_empty if none */
            const uint64_t rkey = sl_rkey(ptr);
            for (; sl_akey(e->a) != rkey; e++)
                if (!e->a) {
                    /* not found: a side table (lim 0) is searched under the lock; lim is 0
                     * without a table too (ls_empty), where the lock finds nothing either */
                    if (PS_UNLIKELY(!s->lim))
                        goto locked;
                    ls_own_leave(s);
                    return (liveset_hit_t){ts, 0};
                }
            if (PS_UNLIKELY(e[1].a != 0)) /* a run goes on: shifted back */
                return liveset_free_shift(s, e, ts);
            const uint64_t b = e->b;
            e->a = 0;
            s->n--;
            ls_own_leave(s);
            return (liveset_hit_t){ts, LIVESET_HIT_FOUND | sl_flags(b)};
        }
    locked:
        ls_own_leave(s);
    }
    return liveset_free_slow(ptr, ts, who);
}

/* ---- the blocks region by region (the leak scan's view; recmem-live's interface) ------
 * Locks held (liveset_lock_all). Calls fn once per 64 KiB region (ptr >> 16) that holds
 * block starts, regions in any order, a region's blocks in any order, n >= 1; with release,
 * frees each region's table after its call and the set is released after it
 * (liveset_released(), as liveset_export_release did). fn returns 0 to go on, nonzero to
 * stop (the rest is then freed unseen when release). Returns the blocks passed to fn.
 * flags: LIVESET_F_LINKER and LIVESET_F_IGNORED only. */
typedef struct liveset_block_s {
    uint64_t ptr, size;
    uint32_t flags;
} liveset_block_t;
typedef int (*liveset_region_fn)(void *arg, uint64_t region, const liveset_block_t *b,
                                 uint32_t n);
uint64_t liveset_regions(int release, liveset_region_fn fn, void *arg);

#endif /* PERFSHIM_LIVESET_H */
