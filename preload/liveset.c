/*
 * liveset.c -- see liveset.h.
 *
 * Cost budget of an insert or remove: two multiplications (the shard's and the slot's
 * Fibonacci hashes, liveset.h ls_hash) and one more (the home), a probe of one or two cache
 * lines, and the shard's exclusion: by its owner thread (below) two plain stores and two
 * loads, no atomic instruction; by any other, one uncontended futex-lock CAS and release.
 * The owner's common case is inlined into the recorders (liveset.h liveset_add,
 * liveset_free), its stamps and results in registers: ~60 instructions an insert (the slot's
 * packing included), ~45 a remove (callgrind, churn_bench; 79 and 74 as calls before).
 *
 * Biased ls_shards. A lock's atomic instructions were a third of the hooks' cost with the clock
 * left out (each a full barrier that waits for the hook's buffered record stores to drain:
 * churn, ~12 ns an event). glibc keeps a thread's blocks in an arena of its own, so most
 * ls_shards only ever see one thread. The first thread that locks a shard nobody owns becomes
 * its owner (owner = its id); the owner then enters the shard without the lock: busy = 1, a
 * compiler barrier, owner read again (still its own: in), and busy = 0 (a release store) when
 * done. Any other thread takes the lock and, finding the shard owned, revokes it: owner =
 * LS_SHARED, then membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full barrier on
 * every CPU running one of the process's threads (the asymmetric Dekker handshake: the
 * owner's busy = 1 is visible by then unless it had already read LS_SHARED), then waits for
 * busy == 0. A shard revoked that way stays shared (locked by everyone): ownership never
 * moves back and forth. The leak scan and snapshots (liveset_lock_all, liveset_visit_shard)
 * revoke the ls_shards they lock the same way and leave them unowned afterwards, to be claimed
 * again. Where membarrier's private expedited command cannot be registered (an old kernel,
 * valgrind, seccomp) no shard is ever owned: every thread locks, as before. A fork child
 * starts with no owner (liveset_after_fork_child) and registers again.
 * Deletion shifts entries back (no tombstones), so a table's probe lengths stay short under
 * churn. Memory: 16 bytes a slot at a load of 0.6..0.75 (~23 bytes a block).
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
#include "prim.h" /* PRIM_DEFINE_HEAPSORT (the temporary liveset_regions) */
#include "stamp.h"



/* A shard's side table (cold: searched only when sn): the entries that do not fit a slot. */
typedef struct side_s {
    liveset_entry_t *side;
    uint32_t scap, sn;
} side_t;

/* A shard without a table has slots = ls_empty (one empty slot) and cap 0 (every home is
 * slot 0), so a remove's probe needs no test for a table: it finds the empty slot. Never
 * written (lim is 0: an insert grows the table first). */
static slot_t ls_empty[1];

PS_TLS uint32_t ls_me = LS_ANON;
#ifdef LIVESET_TEST_HOOKS
int liveset_test_spin;
#endif
static uint32_t ls_next_id = LS_SHARED;
/* membarrier registered: 0 not yet tried, 1 yes (ls_shards may be owned), -1 no (never) */
static int ls_mb_state;

static PS_ALWAYS_INLINE int ls_shared(const shard_t *s)
{
    return __atomic_load_n(&s->owner, __ATOMIC_RELAXED) == LS_SHARED;
}
shard_t ls_shards[LIVESET_SHARDS] = {[0 ... LIVESET_SHARDS - 1] = {.slots = ls_empty}};
static side_t sides[LIVESET_SHARDS];

static PS_ALWAYS_INLINE side_t *ls_side(const shard_t *s)
{
    return &sides[s - ls_shards];
}

/* In s (its lock held, or its owner in it): the event's timestamp by stamp.h's guard (t NULL:
 * not an event). Running it twice for one event changes nothing. */
static PS_ALWAYS_INLINE void ls_guard(shard_t *s, liveset_stamp_t *t)
{
    if (t)
        t->ts = stamp_guard(&s->stamp, &s->who, t->ts, t->who);
}

/* In s: the guard's common case inline (no call: the hot paths keep their tail calls and no
 * callee-saved registers): 1, or 0 when the caller must finish under the lock with ls_guard
 * (another thread's stamp, or behind it). An owned shard's stamp is its owner's: another
 * thread's event revokes the ownership first. */
static PS_ALWAYS_INLINE int ls_guard_fast(shard_t *s, liveset_stamp_t *t)
{
    if (!t)
        return 1;
    uint64_t ts = t->ts;
    if (PS_UNLIKELY(t->who != s->who || ts < s->stamp))
        return 0;
    s->stamp = ts;
    return 1;
}
static uint64_t untracked, table_bytes;



/* Slots in s's table (0: none). */
static PS_ALWAYS_INLINE uint64_t ls_nslots(const shard_t *s)
{
    return s->cap ? s->cap + LS_TAIL : 0;
}


static PS_ALWAYS_INLINE int sl_keyable(uint64_t ptr)
{
    return !(ptr & SL_NOT_KEY);
}



static PS_ALWAYS_INLINE uint64_t sl_rkey_ptr(uint64_t rkey)
{
    return rkey >> 17 | rkey << 47;
}



static PS_ALWAYS_INLINE uint64_t sl_ptr(const slot_t *t)
{
    return (t->a & SL_KEY) << 3;
}

static PS_ALWAYS_INLINE uint64_t sl_size(uint64_t a, uint64_t b)
{
    return a >> SL_SIZE_LO | (b & SL_SIZE_HI) >> 15;
}


static PS_ALWAYS_INLINE liveset_entry_t sl_unpack(const slot_t *t)
{
    return (liveset_entry_t){sl_ptr(t), sl_size(t->a, t->b), (uint32_t)t->b, sl_flags(t->b)};
}


/* Lock held: after a change of cap or sn. */
static PS_ALWAYS_INLINE void ls_set_lim(shard_t *s)
{
    s->lim = ls_side(s)->sn ? 0 : s->cap / 4 * 3;
}

/* Lock held. Returns 0 or -1 (no memory: the table is left as it was). The entries are
 * moved in slot order, so each one's probe starts at or after the last one's home: a run
 * that would reach the last slot (never, at these loads, with a mixing hash) makes a larger
 * table instead. */
static PS_NOINLINE PS_COLD int ls_grow(shard_t *s)
{
    uint64_t cap = s->cap ? LS_GROW(s->cap) : LS_MIN_CAP, old = ls_nslots(s);
    for (;; cap = LS_GROW(cap)) {
        /* the homes take all the slots the mapping's pages hold */
        cap = imem_usable((cap + LS_TAIL) * sizeof(slot_t)) / sizeof(slot_t) - LS_TAIL;
        uint64_t ns = cap + LS_TAIL;
        slot_t *t = imem_alloc(ns * sizeof *t);
        if (!t)
            return -1;
        uint64_t j = 0;
        for (; j < old; j++) {
            if (!s->slots[j].a)
                continue;
            uint64_t i = ls_home(ls_hash(sl_ptr(&s->slots[j])), cap);
            while (t[i].a)
                i++;
            if (i == ns - 1)
                break;
            t[i] = s->slots[j];
        }
        if (j < old) {
            imem_free(t);
            continue;
        }
        if (s->cap)
            imem_free(s->slots);
        __atomic_add_fetch(&table_bytes, (ns - old) * sizeof *t, __ATOMIC_RELAXED);
        s->slots = t;
        s->cap = cap;
        s->last = t + ns - 1;
        ls_set_lim(s);
        return 0;
    }
}

/* ---- the side table (cold): full entries, linear probing, back-shift deletion ---------- */

/* (its slot: the hash's low bits, so a mixing hash) */
static uint64_t ls_side_hash(uint64_t p)
{
    return ps_mix64(p);
}

static PS_NOINLINE PS_COLD int side_grow(shard_t *s)
{
    side_t *d = ls_side(s);
    uint64_t cap = d->scap ? d->scap * 2 : 16;
    liveset_entry_t *t = imem_alloc(cap * sizeof *t);
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
    __atomic_add_fetch(&table_bytes, (cap - d->scap) * sizeof *t, __ATOMIC_RELAXED);
    d->side = t;
    d->scap = cap;
    return 0;
}

/* Lock held: the side slot of ptr, or NULL. */
static liveset_entry_t *side_find(shard_t *s, uint64_t ptr)
{
    side_t *d = ls_side(s);
    if (!d->sn)
        return NULL;
    uint64_t mask = d->scap - 1;
    for (uint64_t i = ls_side_hash(ptr) & mask; d->side[i].ptr; i = (i + 1) & mask)
        if (d->side[i].ptr == ptr)
            return &d->side[i];
    return NULL;
}

/* Lock held: removes ptr from the side table (its entry to *out if out); 1, or 0 if absent. */
static PS_NOINLINE PS_COLD int side_take(shard_t *s, uint64_t ptr, liveset_entry_t *out)
{
    side_t *d = ls_side(s);
    liveset_entry_t *e = side_find(s, ptr);
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
    d->sn--;
    ls_set_lim(s);
    return 1;
}

/* Lock held: puts e in the side table; 0, or -1 (no memory). */
static PS_NOINLINE PS_COLD int side_put(shard_t *s, liveset_entry_t e)
{
    side_t *d = ls_side(s);
    liveset_entry_t *x = side_find(s, e.ptr);
    if (x) {
        *x = e;
        return 0;
    }
    if ((d->sn + 1) * 4 > d->scap * 3 && side_grow(s) != 0)
        return -1;
    uint64_t mask = d->scap - 1, i = ls_side_hash(e.ptr) & mask;
    while (d->side[i].ptr)
        i = (i + 1) & mask;
    d->side[i] = e;
    d->sn++;
    ls_set_lim(s);
    return 0;
}

/* The hot paths (insert, remove) make every call a tail call, so that they keep nothing in
 * callee-saved registers (no prologue saves): the shard lock is taken with one CAS, and
 * anything else (a contended lock, growth, a back-shift, a futex wake at release, the side
 * table) goes to a function that finishes the operation. */

/* ---- shard ownership (the header comment's "Biased ls_shards") ----------------------------- */


static long ls_membarrier(int cmd)
{
    int e = errno; /* (a hook's errno is the app's) */
    long r = syscall(SYS_membarrier, cmd, 0, 0);
    errno = e;
    return r;
}

/* Whether ls_shards may be owned: registers the process for membarrier's private expedited
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

/* The release's futex wake (a waiter was seen): finishes a remove, returning r. */
static PS_NOINLINE PS_COLD int ls_wake(shard_t *s, int r)
{
    prim_futex_wake(&s->lock.v, 1);
    return r;
}

static PS_ALWAYS_INLINE int ls_unlock(shard_t *s, int r)
{
    if (PS_UNLIKELY(__atomic_exchange_n(&s->lock.v, 0, __ATOMIC_RELEASE) == 2))
        return ls_wake(s, r); /* as ilock_unlock */
    return r;
}


static int ls_take_main(shard_t *s, uint64_t ptr, liveset_entry_t *out);
static PS_NOINLINE PS_COLD void ls_oom(shard_t *s)
{
    ilock_unlock(&s->lock);
    __atomic_add_fetch(&untracked, 1, __ATOMIC_RELAXED);
    PS_WARN_ONCE("out of memory for the live set; the leak check will be incomplete");
}

/* An insert that found the lock taken, the table too full, a side table in use, the shard
 * not shared or another thread's stamp: lock (waiting), settle ownership, the guard, grow,
 * insert, unlock. `locked`: the caller holds the lock already. */
static PS_NOINLINE void ls_insert_slow(shard_t *s, int locked, slot_t v, liveset_stamp_t *t)
{
    if (!locked)
        ilock_lock(&s->lock);
    ls_settle_owner(s);
    ls_guard(s, t);
    if (ls_side(s)->sn)
        (void)side_take(s, sl_ptr(&v), NULL); /* a release we never saw */
    if (PS_UNLIKELY((s->n + 1) * 4 > s->cap * 3) && ls_grow(s) != 0) {
        ls_oom(s);
        return;
    }
    while (!ls_put(s, v, ls_hash(sl_ptr(&v))))
        if (ls_grow(s) != 0) {
            ls_oom(s);
            return;
        }
    ilock_unlock(&s->lock);
}

/* An entry that does not fit a slot: into the side table. */
static PS_NOINLINE PS_COLD void ls_insert_wide(uint64_t ptr, uint64_t size, uint32_t stack,
                                               uint32_t flags, liveset_stamp_t *t)
{
    shard_t *s = ls_shard(ptr);
    ls_lock(s);
    ls_guard(s, t);
    if (sl_keyable(ptr) && s->cap)
        (void)ls_take_main(s, ptr, NULL); /* a release we never saw */
    if (side_put(s, (liveset_entry_t){ptr, size, stack, flags}) != 0) {
        ls_oom(s);
        return;
    }
    ilock_unlock(&s->lock);
}

void liveset_insert(uint64_t ptr, uint64_t size, uint32_t stack, uint32_t flags,
                    liveset_stamp_t *t)
{
    if (PS_UNLIKELY(!sl_fits(ptr, size, flags))) {
        ls_insert_wide(ptr, size, stack, flags, t);
        return;
    }
    slot_t v = sl_pack(ptr, size, stack, flags);
    shard_t *s = ls_shard(ptr);
    if (PS_LIKELY(ls_own_enter(s))) { /* its owner: no lock */
        if (PS_LIKELY(ls_guard_fast(s, t)) && PS_LIKELY(s->n < s->lim) &&
            PS_LIKELY(ls_put(s, v, ls_hash(ptr)))) {
            ls_own_leave(s);
            return;
        }
        ls_own_leave(s); /* growth, the side table or the guard: under the lock */
        ls_insert_slow(s, 0, v, t);
        return;
    }
    if (PS_UNLIKELY(!ilock_trylock(&s->lock))) {
        ls_insert_slow(s, 0, v, t);
        return;
    }
    /* (n + 1) * 4 > cap * 3, or a side table; or ownership to settle; or the guard */
    if (PS_UNLIKELY(s->n >= s->lim) ||
        PS_UNLIKELY(!ls_shared(s)) ||
        PS_UNLIKELY(!ls_guard_fast(s, t))) {
        ls_insert_slow(s, 1, v, t);
        return;
    }
    if (PS_UNLIKELY(!ls_put(s, v, ls_hash(ptr)))) {
        ls_insert_slow(s, 1, v, t);
        return;
    }
    ls_unlock(s, 0);
}

/* Lock held: empties slot e of s, shifting the slots after it back (no tombstones): j moves
 * into the hole when its home is at or before the hole (no probe wraps: a run is in slot
 * order, each entry at or after its home). sl_akey(a) >> 17 is the slot's address. */
static PS_ALWAYS_INLINE void ls_shift(shard_t *s, slot_t *e)
{
    slot_t *t = s->slots;
    uint64_t cap = s->cap, a;
    for (slot_t *j = e + 1; (a = j->a) != 0; j++)
        if (t + ls_home(ls_hash(sl_akey(a) >> 17), cap) <= e) {
            *e = *j; /* (here j's entry is in the table twice) */
            LS_TEST_SPIN();
            e = j;
        }
    e->a = 0;
    s->n--;
}

/* Lock held: ls_shift, then unlocks (the remove's out-of-line tail). Returns 1. */
static PS_NOINLINE int ls_delete_shift(shard_t *s, slot_t *e)
{
    ls_shift(s, e);
    ilock_unlock(&s->lock);
    return 1;
}

/* The owner in s: ls_shift, then out. Returns 1. */
static PS_NOINLINE int ls_delete_shift_own(shard_t *s, slot_t *e)
{
    ls_shift(s, e);
    ls_own_leave(s);
    return 1;
}

/* Lock held, ptr keyable: the slot index of ptr, or -1. */
static int64_t ls_find_main(const shard_t *s, uint64_t ptr)
{
    uint64_t key = ptr >> 3;
    for (uint64_t i = ls_home(ls_hash(ptr), s->cap); s->slots[i].a; i++)
        if ((s->slots[i].a & SL_KEY) == key)
            return (int64_t)i;
    return -1;
}

/* Lock held, ptr keyable: removes ptr from the slots (no unlock); 1, or 0. */
static int ls_take_main(shard_t *s, uint64_t ptr, liveset_entry_t *out)
{
    int64_t i = ls_find_main(s, ptr);
    if (i < 0)
        return 0;
    if (out)
        *out = sl_unpack(&s->slots[i]);
    ls_shift(s, s->slots + i);
    return 1;
}

/* Lock held: not in the slots; the side table's turn, then unlock. */
static PS_NOINLINE PS_COLD int ls_take_side(shard_t *s, uint64_t ptr, liveset_entry_t *out)
{
    int r = side_take(s, ptr, out);
    ilock_unlock(&s->lock);
    return r;
}

static PS_NOINLINE int ls_remove_slow(shard_t *s, uint64_t ptr, liveset_entry_t *out,
                                      liveset_stamp_t *t);

/* Lock held (own: or the calling thread in s as its owner): the remove itself. The found
 * path copies the entry out from the slot's two words and the key (no unpacking of the
 * address). ptr is kept as its rotated key only (an opaque copy: one register fewer in the
 * probe, so no callee-saved register is needed). */
static PS_ALWAYS_INLINE int ls_take(shard_t *s, uint64_t ptr, liveset_entry_t *out,
                                    const int own)
{
    slot_t *e = s->slots + ls_home(ls_hash(ptr), s->cap); /* ls_empty if none */
    uint64_t rkey = sl_rkey(ptr);
    __asm__("" : "+r"(rkey));
    while (sl_akey(e->a) != rkey) {
        if (!e->a) {
            if (own) { /* the side table only under the lock: again, locked */
                ls_own_leave(s);
                return PS_UNLIKELY(ls_side(s)->sn) ? ls_remove_slow(s, sl_rkey_ptr(rkey), out, NULL)
                                                   : 0; /* (the guard ran already) */
            }
            return PS_UNLIKELY(ls_side(s)->sn) ? ls_take_side(s, sl_rkey_ptr(rkey), out) : ls_unlock(s, 0);
        }
        e++;
    }
    if (out) {
        uint64_t a = e->a, b = e->b;
        *out = (liveset_entry_t){sl_rkey_ptr(rkey), sl_size(a, b), (uint32_t)b, sl_flags(b)};
    }
    if (PS_UNLIKELY(e[1].a != 0)) /* (e is not the last slot, which is empty) */
        return own ? ls_delete_shift_own(s, e) : ls_delete_shift(s, e); /* a run goes on */
    e->a = 0; /* the next slot empty: no shift */
    s->n--;
    if (own) {
        ls_own_leave(s);
        return 1;
    }
    return ls_unlock(s, 1);
}

static PS_NOINLINE int ls_remove_slow(shard_t *s, uint64_t ptr, liveset_entry_t *out,
                                      liveset_stamp_t *t)
{
    ls_lock(s);
    ls_guard(s, t);
    return ls_take(s, ptr, out, 0);
}

/* Lock held, s not shared or another thread's stamp: ownership settled, the guard, then the
 * remove. */
static PS_NOINLINE int ls_remove_locked(shard_t *s, uint64_t ptr, liveset_entry_t *out,
                                        liveset_stamp_t *t)
{
    ls_settle_owner(s);
    ls_guard(s, t);
    return ls_take(s, ptr, out, 0);
}

int liveset_remove(uint64_t ptr, liveset_entry_t *out, liveset_stamp_t *t)
{
    shard_t *s = ls_shard(ptr);
    if (PS_LIKELY(ls_own_enter(s))) { /* its owner: no lock */
        if (PS_LIKELY(ls_guard_fast(s, t)))
            return ls_take(s, ptr, out, 1);
        ls_own_leave(s); /* the guard's slow part: under the lock */
        return ls_remove_slow(s, ptr, out, t);
    }
    if (PS_UNLIKELY(!ilock_trylock(&s->lock)))
        return ls_remove_slow(s, ptr, out, t);
    if (PS_UNLIKELY(!ls_shared(s)) ||
        PS_UNLIKELY(!ls_guard_fast(s, t)))
        return ls_remove_locked(s, ptr, out, t);
    return ls_take(s, ptr, out, 0);
}

/* ---- the recorders' entries: the owner's common case, arguments and results in registers --
 * (no liveset_stamp_t or liveset_entry_t through memory: ~10 instructions an event less in
 * the hook and here, callgrind); anything else through liveset_insert / liveset_remove. */

/* (the recorders' slow paths keep errno, rec.h: a futex wait or a table's mapping may set it) */
static PS_NOINLINE uint64_t ls_add_slow(uint64_t ptr, uint64_t size, uint32_t stack,
                                        uint32_t flags, uint64_t ts, uint32_t who)
{
    int e = errno;
    liveset_stamp_t t = {ts, who};
    liveset_insert(ptr, size, stack, flags, &t);
    errno = e;
    return t.ts;
}

/* (from the packed slot: the fast path keeps two words live, not four) */
uint64_t liveset_add_slot(uint64_t a, uint64_t b, uint64_t ts, uint32_t who)
{
    slot_t v = {a, b};
    liveset_entry_t x = sl_unpack(&v);
    return ls_add_slow(x.ptr, x.size, x.stack, x.flags, ts, who);
}

uint64_t liveset_add_wide(uint64_t ptr, uint64_t size, uint32_t stack, uint32_t flags,
                          uint64_t ts, uint32_t who)
{
    return ls_add_slow(ptr, size, stack, flags, ts, who);
}

liveset_hit_t liveset_free_slow(uint64_t ptr, uint64_t ts, uint32_t who)
{
    int e = errno;
    liveset_entry_t le;
    liveset_stamp_t t = {ts, who};
    int found = liveset_remove(ptr, &le, &t);
    errno = e;
    return (liveset_hit_t){t.ts, found ? LIVESET_HIT_FOUND | le.flags : 0};
}

liveset_hit_t liveset_free_shift(void *sh, void *slot, uint64_t ts)
{
    shard_t *s = sh;
    slot_t *e = slot;
    uint32_t f = sl_flags(e->b);
    ls_delete_shift_own(s, e);
    return (liveset_hit_t){ts, LIVESET_HIT_FOUND | f};
}

int liveset_set_flags(uint64_t ptr, uint32_t flags)
{
    shard_t *s = ls_shard(ptr);
    int found = 0;
    ls_lock(s);
    liveset_entry_t e, *x = side_find(s, ptr);
    int64_t i;
    if (x) {
        x->flags |= flags;
        found = 1;
    } else if (sl_keyable(ptr) && (i = ls_find_main(s, ptr)) >= 0) {
        e = sl_unpack(&s->slots[i]);
        e.flags |= flags;
        if (sl_fits(e.ptr, e.size, e.flags)) { /* in place */
            s->slots[i] = sl_pack(e.ptr, e.size, e.stack, e.flags);
        } else { /* flag bits a slot has not: to the side */
            ls_shift(s, s->slots + i);
            if (side_put(s, e) != 0) {
                __atomic_add_fetch(&untracked, 1, __ATOMIC_RELAXED);
                PS_WARN_ONCE("out of memory for the live set; the leak check will be incomplete");
            }
        }
        found = 1;
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

uint64_t liveset_count(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < LIVESET_SHARDS; i++)
        n += ls_shards[i].n + sides[i].sn;
    return n;
}

/* s's blocks (slots, then side entries) appended to out[n, cap): the new n. */
static uint64_t ls_export_shard(const shard_t *s, liveset_entry_t *out, uint64_t n, uint64_t cap)
{
    side_t *d = ls_side(s);
    for (uint64_t j = 0; j < ls_nslots(s) && n < cap; j++)
        if (s->slots[j].a)
            out[n++] = sl_unpack(&s->slots[j]);
    for (uint64_t j = 0; j < d->scap && n < cap; j++)
        if (d->side[j].ptr)
            out[n++] = d->side[j];
    return n;
}

uint64_t liveset_export(liveset_entry_t *out, uint64_t cap)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < LIVESET_SHARDS; i++)
        n = ls_export_shard(&ls_shards[i], out, n, cap);
    return n;
}

static int released;

/* Lock held: s's tables freed, s as a shard that never had any. */
static void ls_release(shard_t *s)
{
    side_t *d = ls_side(s);
    if (s->cap) {
        imem_free(s->slots);
        __atomic_sub_fetch(&table_bytes, ls_nslots(s) * sizeof(slot_t), __ATOMIC_RELAXED);
    }
    if (d->side) {
        imem_free(d->side);
        __atomic_sub_fetch(&table_bytes, d->scap * sizeof(liveset_entry_t), __ATOMIC_RELAXED);
    }
    s->slots = ls_empty;
    d->side = NULL;
    s->cap = s->n = s->lim = 0;
    s->last = NULL;
    d->scap = d->sn = 0;
}

uint64_t liveset_export_release(liveset_entry_t *out, uint64_t cap)
{
    __atomic_store_n(&released, 1, __ATOMIC_RELEASE);
    uint64_t n = 0;
    for (unsigned i = 0; i < LIVESET_SHARDS; i++) {
        n = ls_export_shard(&ls_shards[i], out, n, cap);
        ls_release(&ls_shards[i]);
    }
    return n;
}

int liveset_released(void)
{
    return __atomic_load_n(&released, __ATOMIC_ACQUIRE);
}

void liveset_visit_shard(unsigned i, void (*fn)(const liveset_entry_t *e, void *arg), void *arg)
{
    shard_t *s = &ls_shards[i % LIVESET_SHARDS];
    side_t *d = ls_side(s);
    ilock_lock(&s->lock);
    const int reclaim = ls_owned(s);
    if (reclaim)
        ls_revoke(s); /* unowned again below: the owner may claim it back */
    for (uint64_t j = 0; j < ls_nslots(s); j++)
        if (s->slots[j].a) {
            liveset_entry_t e = sl_unpack(&s->slots[j]);
            fn(&e, arg);
        }
    for (uint64_t j = 0; j < d->scap; j++)
        if (d->side[j].ptr)
            fn(&d->side[j], arg);
    if (reclaim)
        __atomic_store_n(&s->owner, LS_NOBODY, __ATOMIC_RELAXED);
    ilock_unlock(&s->lock);
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
    /* The child's trace starts afresh (new stack ids): inherited blocks stay in the set,
     * marked inherited and with no stack, so its leak check covers them too. */
    for (unsigned i = 0; i < LIVESET_SHARDS; i++) {
        shard_t *s = &ls_shards[i];
        side_t *d = ls_side(s);
        ilock_reset(&s->lock);
        s->owner = LS_NOBODY; /* the owners may be gone, and inside (busy) */
        s->busy = 0;
        for (uint64_t j = 0; j < ls_nslots(s); j++)
            if (s->slots[j].a) /* stack 0, LIVESET_F_INHERITED */
                s->slots[j].b = (s->slots[j].b & ~0xffffffffull) |
                                (uint64_t)LIVESET_F_INHERITED << 32;
        for (uint64_t j = 0; j < d->scap; j++)
            if (d->side[j].ptr) {
                d->side[j].stack = 0;
                d->side[j].flags |= LIVESET_F_INHERITED;
            }
    }
}

/* TEMPORARY (recmem-scan): liveset_regions on the 16-byte slots, until recmem-live's
 * per-region tables replace it. A region's blocks are all in one shard (the shard is chosen
 * by the region), so shard by shard: its entries exported into one imem array (as large as
 * the largest shard), sorted by address, each region's run converted in place into
 * liveset_block_t and passed to fn; with release, the shard's tables freed after it. */
PRIM_DEFINE_HEAPSORT(ls_sort_entries, liveset_entry_t, ptr)

uint64_t liveset_regions(int release, liveset_region_fn fn, void *arg)
{
    _Static_assert(sizeof(liveset_block_t) == sizeof(liveset_entry_t), "converted in place");
    uint64_t most = 0, seen = 0;
    for (unsigned k = 0; k < LIVESET_SHARDS; k++) {
        uint64_t c = ls_shards[k].n + sides[k].sn;
        most = c > most ? c : most;
    }
    if (release)
        __atomic_store_n(&released, 1, __ATOMIC_RELEASE);
    liveset_entry_t *e = most ? imem_alloc(most * sizeof *e) : NULL;
    int stop = most && !e;
    for (unsigned k = 0; k < LIVESET_SHARDS; k++) {
        shard_t *s = &ls_shards[k];
        uint64_t n = stop ? 0 : ls_export_shard(s, e, 0, most);
        if (release)
            ls_release(s);
        ls_sort_entries(e, n);
        liveset_block_t *b = (liveset_block_t *)(void *)e;
        for (uint64_t i = 0; i < n && !stop;) {
            uint64_t region = e[i].ptr >> 16, j = i;
            for (; j < n && (e[j].ptr >> 16) == region; j++) {
                liveset_entry_t x;
                memcpy(&x, &e[j], sizeof x);
                liveset_block_t y = {x.ptr, x.size,
                                     x.flags & (LIVESET_F_LINKER | LIVESET_F_IGNORED)};
                memcpy(&b[j], &y, sizeof y);
            }
            seen += j - i;
            stop = fn(arg, region, b + i, (uint32_t)(j - i)) != 0;
            i = j;
        }
    }
    imem_free(e);
    return seen;
}
