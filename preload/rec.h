/*
 * rec.h -- a record into the calling thread's stream, and the interned stack of a hook's
 * caller: what every recorder (shim.h, locktab, leakscan, sampled) writes with.
 *
 * Contract: called on the thread that owns st (tstate.h), with its hook guard set, from a
 * hook or below one; never fails the app: a record that cannot be written (no buffer) is
 * counted as dropped (writer_count_dropped), a stack that cannot be had is 0. Not signal
 * safe (a refill may block). The inlines are the hooks' fast path: rec_stack is one cache
 * lookup, rec_put a bounds check, the copy and a release store.
 */
#ifndef PERFSHIM_REC_H
#define PERFSHIM_REC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "acost.h"
#include "perfshim/compiler.h"
#include "perfshim/trace_pack.h"
#include "tstate.h"
#include "unwind.h"
#include "writer.h"

/* Stack budget of a recorder (measured, unwind.h): when it unwinds (allocations, C++ deletes,
 * free with PERFSHIM_FREE_STACKS=2) 768 bytes below the hook's caller with the stack cache
 * (its libunwind cursor lives in the thread's cache block), 3,512 (the C++ hooks 3,640) with
 * PERFSHIM_UNWIND=libunwind (unw_backtrace's frame); the hook's frames otherwise.
 * The stack of the hook's caller, interned: from the thread's stack cache when the same
 * caller at the same depth saw the same stack before (unwind.h: one load and compare per
 * checked slot), else rec_stack_walk: unwinds the caller's stack and interns it, writes the
 * STACK record when it is new and enters the stack into the cache. Where unwinding is not
 * safe (unwind.h: too little stack left, a foreign stack, inside the loader's lock) the
 * stack is the one frame `ra` (the hook's caller), counted. `ra` and the CFA must be the
 * hook's (the recorder inlined into it); from elsewhere the walk finds they do not match
 * its caller's frame and caches nothing. */
/* One event lost (no buffer, no memory): counted in the trace's END (writer_count_dropped). */
void rec_count_dropped(void);
/* The dynamic linker's text, as leakscan_ld_lo/len (leakscan_init sets both, before the shim
 * records): the stack cache's lsflags (rec_stack_untimed) come from it. */
extern PS_HIDDEN uint64_t rec_ld_lo, rec_ld_len;

/* errno: the recorders' fast paths make no call that can change it, so the hooks do not save
 * it; every slow path that can (this walk, a buffer hand-off: rec_refill, the live set's lock
 * and growth) keeps it (st->errnop). */
PS_NOINLINE PS_COLD uint32_t rec_stack_walk(tstate_t *st, uintptr_t ra, uintptr_t cfa);
/* rec_stack_walk for an allocating call that was not timed: also counts the call in the
 * acost table (acost_add, ACOST_UNTIMED), as a hit counts it in its cache entry. Returns the
 * id, and in bits 32.. the live set's flags of the block (ucache_ent_t.lsflags). */
PS_NOINLINE PS_COLD uint64_t rec_stack_walk_untimed(tstate_t *st, uintptr_t ra, uintptr_t cfa);
/* tstate_refill for a heap record (REC_BEGIN), keeping errno; a failure counted as dropped. */
PS_NOINLINE PS_COLD int rec_refill(tstate_t *st, uint32_t len);
static PS_ALWAYS_INLINE uint32_t rec_stack(tstate_t *st, uintptr_t ra)
{
    /* the hooks keep frame pointers (SHIM_CFLAGS): the caller's sp is the frame's + 16; a
     * recorder not inlined into the hook (ra is not its own return address) has no CFA to
     * key on: 0, never cached */
    uintptr_t cfa = 0;
    if (PS_LIKELY(ra == (uintptr_t)__builtin_return_address(0))) {
        cfa = (uintptr_t)__builtin_frame_address(0) + 16;
        const ucache_ent_t *e = ucache_find(st, ra, cfa);
        if (PS_LIKELY(e != NULL))
            return e->id;
    }
    return rec_stack_walk(st, ra, cfa);
}

/* rec_stack for an allocating call whose real call took cost ns (acost.h: ACOST_UNTIMED when
 * it was not timed): an untimed one found in the stack cache is counted in the entry (one
 * add: the entry is the stack's, so the acost table's probe is not needed) and *counted set;
 * the caller adds the others to the acost table. */
static PS_ALWAYS_INLINE uint32_t rec_stack_alloc(tstate_t *st, uintptr_t ra, uint64_t cost,
                                                 int *counted)
{
    uintptr_t cfa = 0;
    *counted = 0;
    if (PS_LIKELY(ra == (uintptr_t)__builtin_return_address(0))) {
        cfa = (uintptr_t)__builtin_frame_address(0) + 16;
        ucache_ent_t *e = ucache_find(st, ra, cfa);
        if (PS_LIKELY(e != NULL)) {
            if (PS_LIKELY(cost == ACOST_UNTIMED)) {
                e->calls++;
                *counted = 1;
            }
            return e->id;
        }
    }
    return rec_stack_walk(st, ra, cfa);
}

/* rec_stack_alloc for an allocating call that was not timed (its cost ACOST_UNTIMED), which
 * it counts itself: in the cache entry on a hit (one add), in the acost table on a walk; so
 * the caller tests nothing after it (issue 18: the `counted` flag's 3 instructions a malloc).
 * *lsflags: the live set's flags for the block (LIVESET_F_LINKER or 0), from the entry on a
 * hit (the key's ra decides it: ~5 instructions a malloc fewer than shim_live_add's test). */
static PS_ALWAYS_INLINE uint32_t rec_stack_untimed(tstate_t *st, uintptr_t ra, uint32_t *lsflags)
{
    uintptr_t cfa = 0;
    if (PS_LIKELY(ra == (uintptr_t)__builtin_return_address(0))) {
        cfa = (uintptr_t)__builtin_frame_address(0) + 16;
        ucache_ent_t *e = ucache_find(st, ra, cfa);
        if (PS_LIKELY(e != NULL)) {
            e->calls++;
            *lsflags = e->lsflags;
            return e->id;
        }
    }
    const uint64_t r = rec_stack_walk_untimed(st, ra, cfa);
    *lsflags = (uint32_t)(r >> 32);
    return (uint32_t)r;
}

/* Room for a record of len bytes in st's buffer, or NULL: the event counted as dropped. */
static PS_ALWAYS_INLINE unsigned char *rec_reserve(tstate_t *st, uint32_t len)
{
    unsigned char *p = tstate_reserve(st, len);
    if (PS_UNLIKELY(!p))
        rec_count_dropped();
    return p;
}

static PS_ALWAYS_INLINE void rec_put(tstate_t *st, const void *rec, uint32_t len)
{
    unsigned char *p = rec_reserve(st, len);
    if (PS_LIKELY(p != NULL))
        tstate_commit(st, ps_pack_fixed(p, rec, len)); /* trace_pack.h: the struct is the record */
}

/* The heap records (ALLOC, REALLOC, FREE) written straight into the buffer, a word at a time, from registers. A
 * record built as a struct on the stack and copied (rec_put) was read back in 16-byte halves
 * over its 4- and 8-byte stores: a store-forwarding stall on every event (perf, churn under
 * the shim: a quarter of ps_hook_malloc's samples, a third of ps_hook_free's). w0 is the
 * record's first word: the header (type, aux, len) and the stack id (rec_word0). */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "rec_word0: little-endian words");
_Static_assert(offsetof(ps_rec_alloc_t, stack) == 4 && offsetof(ps_rec_alloc_t, ts) == 8 &&
                   offsetof(ps_rec_alloc_t, ptr) == 16 && offsetof(ps_rec_alloc_t, size) == 24 &&
                   offsetof(ps_rec_alloc_t, align) == 32 && sizeof(ps_rec_alloc_t) == 40,
               "rec_put_alloc's words");
_Static_assert(offsetof(ps_rec_realloc_t, stack) == 4 && offsetof(ps_rec_realloc_t, ts_before) == 8 &&
                   offsetof(ps_rec_realloc_t, ts) == 16 &&
                   offsetof(ps_rec_realloc_t, old_ptr) == 24 &&
                   offsetof(ps_rec_realloc_t, new_ptr) == 32 &&
                   offsetof(ps_rec_realloc_t, size) == 40 && sizeof(ps_rec_realloc_t) == 48,
               "rec_put_realloc's words");
_Static_assert(offsetof(ps_rec_free_t, stack) == 4 && offsetof(ps_rec_free_t, ts) == 8 &&
                   offsetof(ps_rec_free_t, ptr) == 16 && sizeof(ps_rec_free_t) == 24,
               "rec_put_free's words");

static PS_ALWAYS_INLINE uint64_t rec_word0(uint8_t type, uint8_t aux, uint16_t len,
                                           uint32_t stack)
{
    return (uint64_t)type | (uint64_t)aux << 8 | (uint64_t)len << 16 | (uint64_t)stack << 32;
}

/* The heap records' room: `pos`, the record's offset in st's buffer, and `p`, its address,
 * or a return from the recorder (no buffer: the event counted as dropped). The cursor is
 * kept in a register from the bounds check to the commit (REC_END): the record's byte
 * stores may alias st, so tstate_reserve / tstate_commit read it back, and p is never
 * tested for NULL on the fast path (issue 18: ~1 instruction an event, callgrind: the
 * compiler had kept most of the cursor already). The same steps as tstate_reserve and
 * tstate_commit (tstate.h); a buffer hand-off through rec_refill (keeps errno). */
#define REC_BEGIN(st, len, p, pos)                                                             \
    uint32_t pos = (st)->pos;                                                                  \
    if (PS_UNLIKELY(pos + (len) > (st)->cap)) {                                                \
        if (rec_refill((st), (len)) != 0)                                                      \
            return;                                                                            \
        pos = (st)->pos;                                                                       \
    }                                                                                          \
    unsigned char *const p = (st)->buf + pos;                                                  \
    __builtin_prefetch((const void *)((uintptr_t)p + TSTATE_PREFETCH), 1, 3)
#define REC_END(st, len, pos)                                                                  \
    __atomic_store_n(&(st)->committed, pos + (len), __ATOMIC_RELEASE) /* (st->pos: the same) */

/* Stores w into the buffer at p + at, from its register. */
#define REC_W(p, at, w)                                                                        \
    do {                                                                                       \
        const uint64_t w_ = (w);                                                               \
        memcpy((p) + (at), &w_, 8);                                                            \
    } while (0)

/* An ALLOC record (trace_format.h ps_rec_alloc_t). */
static PS_ALWAYS_INLINE void rec_put_alloc(tstate_t *st, uint8_t fn, uint32_t stack, uint64_t ts,
                                           uint64_t ptr, uint64_t size, uint64_t align)
{
    REC_BEGIN(st, sizeof(ps_rec_alloc_t), p, pos);
    REC_W(p, 0, rec_word0(PS_REC_ALLOC, fn, sizeof(ps_rec_alloc_t), stack));
    REC_W(p, 8, ts);
    REC_W(p, 16, ptr);
    REC_W(p, 24, size);
    REC_W(p, 32, align);
    REC_END(st, sizeof(ps_rec_alloc_t), pos);
}

/* A REALLOC record (trace_format.h ps_rec_realloc_t). */
static PS_ALWAYS_INLINE void rec_put_realloc(tstate_t *st, uint8_t fn, uint32_t stack,
                                             uint64_t ts_before, uint64_t ts, uint64_t old_ptr,
                                             uint64_t new_ptr, uint64_t size)
{
    REC_BEGIN(st, sizeof(ps_rec_realloc_t), p, pos);
    REC_W(p, 0, rec_word0(PS_REC_REALLOC, fn, sizeof(ps_rec_realloc_t), stack));
    REC_W(p, 8, ts_before);
    REC_W(p, 16, ts);
    REC_W(p, 24, old_ptr);
    REC_W(p, 32, new_ptr);
    REC_W(p, 40, size);
    REC_END(st, sizeof(ps_rec_realloc_t), pos);
}

/* A FREE record (trace_format.h ps_rec_free_t). */
static PS_ALWAYS_INLINE void rec_put_free(tstate_t *st, uint8_t aux, uint32_t stack, uint64_t ts,
                                          uint64_t ptr)
{
    REC_BEGIN(st, sizeof(ps_rec_free_t), p, pos);
    REC_W(p, 0, rec_word0(PS_REC_FREE, aux, sizeof(ps_rec_free_t), stack));
    REC_W(p, 8, ts);
    REC_W(p, 16, ptr);
    REC_END(st, sizeof(ps_rec_free_t), pos);
}

#endif /* PERFSHIM_REC_H */
