/*
 * unwind.h -- the one seam for capturing a call stack (libunwind backend), and the checks
 * that say when unwinding is not safe.
 *
 * Contract: unwind_init() once at shim init (loads libunwind with dlopen(RTLD_LOCAL), never
 * into the global scope, where its _Unwind_* would run the app's C++ exceptions; sets its
 * per-thread cache and its descriptor-free memory accessor, finds the
 * shim's own text range and the real dl_iterate_phdr). unwind_capture() is called from hooks
 * with the guard set: it writes up to `max` raw return addresses into st->ips, innermost first,
 * with every leading frame that lies inside libperfshim.so removed (so ips[0] is a return
 * address in the caller of malloc), and returns how many it wrote (0 if the stack could not
 * be read, or libunwind could not be loaded: warned once at init). No heap allocation happens in the shim; libunwind's own goes through the guard
 * and is not recorded.
 *
 * Safety: a hook unwinds only when unwind_safe(st) says so; otherwise it records its caller's
 * address alone (unwind_shallow) and the event is counted (unwind_shallow_count, END's
 * stacks_shallow). Unsafe is:
 *  - less than PS_UNWIND_STACK_BUDGET bytes of the thread's own stack left below sp, or sp
 *    outside the thread's stack (a makecontext or sigaltstack stack), or the thread's stack
 *    bounds unknown (st->stack_lo/hi; found from /proc/self/maps on the thread's first
 *    unwind when nobody set them: a glibc thread stack (above its guard page), or the main
 *    thread's [stack] down to RLIMIT_STACK; anything else, such as an app-provided thread
 *    stack without a guard page below it, stays unknown; without a readable /proc the
 *    check is skipped and every stack unwound, as before it existed);
 *  - a thread's first unwind from inside a non-glibc allocator's module (unwind_first_ok);
 *  - inside dl_iterate_phdr (interposed here, pass-through): the loader's lock may be held by
 *    this thread, and libunwind takes its own cache lock, then the loader's (its
 *    dl_iterate_phdr); unwinding there would take them in the reverse order.
 *
 * Stack budget (measured by tests/integration/stack_budget, docs/internals.md "Stack
 * budget"): below the frame of the hook's caller, every hook that unwinds (malloc, calloc,
 * realloc, a new lock site of any lock or condvar function, the lock init functions) used at
 * most 3,512 bytes with PERFSHIM_UNWIND=libunwind (C++ new and delete: 3,640, measured by
 * hand), counting the thread's attach, a new stack's STACK record and module-map check,
 * libunwind's DWARF lookup and a buffer hand-off compressed on the thread itself;
 * unw_backtrace's own frame is 3,040 of them. With the stack cache (the default) the walk's
 * cursor and context live in the thread's cache block: 768 bytes. free (by default) and a
 * known lock site do not unwind: free used 64 bytes. PS_UNWIND_STACK_BUDGET is that with a margin for paths the test
 * cannot reach (libunwind on unusual CFI, the leak check's attach). A shallow record uses no
 * more than the hook's frames (a makecontext stack of 4 KiB works; natively 3 KiB does).
 */
#ifndef PERFSHIM_UNWIND_H
#define PERFSHIM_UNWIND_H

#include <emmintrin.h>
#include <stdint.h>

#include "perfshim/compiler.h"
#include "perfshim/trace_format.h"
#include "tstate.h"

#define PS_UNWIND_MAX_SKIP 8 /* frames of the shim itself above the caller */
#define PS_UNWIND_STACK_BUDGET (6u * 1024u)

/* This thread has unwound once: libunwind's thread-local block exists. */
extern PS_TLS unsigned char unwind_tls_ready;
/* Inside this thread's first unwind: a malloc from there is libunwind's thread block. */
extern PS_TLS unsigned char unwind_first_pending;
/* Inside the (interposed) dl_iterate_phdr, nesting depth. */
extern PS_TLS int unwind_in_loader;

void unwind_init(void);
int unwind_capture(tstate_t *st, int max);
/* The slow half of unwind_safe: finds the thread's stack bounds once, then decides. */
PS_NOINLINE PS_COLD int unwind_safe_slow(tstate_t *st, uintptr_t sp);
/* 0 if a hook called from ra may not make this thread's first unwind: libunwind is dlopened,
 * so its thread-local block is allocated with malloc on a thread's first unwind, and a hook
 * called from inside the allocator's own module (jemalloc's mutexes, an executable's own
 * malloc) would re-enter the allocator under its lock. Such a hook records its caller alone
 * until the thread has unwound from elsewhere. */
PS_NOINLINE PS_COLD int unwind_first_ok(uintptr_t ra);
/* A one-frame stack (the caller's return address); counts it. Returns 1. */
PS_NOINLINE PS_COLD int unwind_shallow(uint64_t *ips, uintptr_t ra);
/* 1 if ra is in libunwind's module (the one the shim dlopened; no loader lock taken). */
int unwind_is_libunwind(uintptr_t ra);
/* 1 if ra lies in the C library, the dynamic linker or the shim itself (found at init): a
 * hook called from there may run under one of glibc's internal locks (the thread-stack cache
 * in pthread_join, the loader's TLS lock), where pthread_create would deadlock. */
int unwind_is_libc(uintptr_t ra);
/* Events recorded with their caller only (unwinding was not safe). */
uint64_t unwind_shallow_count(void);

/* ---- the per-thread stack cache (PERFSHIM_UNWIND=auto, the default) ------------------------
 * A stack libunwind walked is remembered, keyed by the hook's caller's return address `ra`
 * and the hook's CFA (the caller's stack pointer after the call), with every input the walk
 * read from the stack: for each frame the slot its return address came from and the slot
 * its caller's frame pointer (rbp) was restored from, with their values. A later event from
 * the same (ra, CFA) whose slots all hold the same values is the same stack: libunwind's
 * walk is a function of the ip, rsp and rbp of each frame (the CFA of a frame is rsp or rbp
 * plus a constant the ip's CFI gives), and each of those is either implied by the key or
 * read from a checked slot. So a hit returns the stack id libunwind's walk would have
 * interned, for the cost of one load and compare per checked slot (~2 per frame), and a
 * miss walks with libunwind and fills the entry. The checks are kept sorted by address, and
 * two that are adjacent (a frame-pointer frame's saved rbp and return address) are one
 * 16-byte window, compared with one SSE load, xor and or; the other (single) slots two to a
 * vector (movq, movhpd); a hit ORs every difference and branches once (no early exit: a miss
 * costs the whole check, then the walk): 4 instructions per window (its offset, the load, xor,
 * or; with AVX2 two windows a 32-byte xor and or: 3), 3 per single slot, in straight-line code
 * entered at the entry's counts (no loop, no padding), where the checks' loop took 8 per slot
 * (issue 18: 261 -> 157 -> ~138 -> 92 -> 76 per malloc at depth 12, callgrind: churn_bench's
 * 16 frames are 13 windows and 4 single slots; the last entry found is tried first, without
 * the key's hash; ucache_lookup_avx2: ~60 of the 76 the checks, the rest the key, the two
 * indirect jumps to addresses the entry keeps, and the call). Every checked slot is read on every
 * hit, the deepest as the nearest: a check of the frames nearest the hook alone cannot be
 * exact (the same caller reached from another call site further up, the frames between of
 * the same sizes, differs in one slot 30 frames up; nothing but a read of that slot, or a
 * hook on returns, tells), so a hit costs ~3-4 instructions a frame (tests/unit/ucache).
 * Not cached (walked every time): a stack
 * with a signal frame (the interrupted frame's registers come from the signal context), a
 * walk that failed or went outside the thread's known stack, one deeper than
 * UCACHE_MAX_FRAMES, a recorder not inlined into the hook the app called (lock sites).
 * What it cannot see (docs/internals.md "Stack cache"): a CFA computed by a DWARF
 * expression from other memory (dynamic stack realignment, DRAP) and code unloaded and
 * replaced at the same addresses while its frames' slots keep their values. Entries are per
 * thread (no sharing, no lock): UCACHE_ENTS of them, any number of one key (a set-associative
 * table's 4 ways a hash missed every allocation of cxx_service's std::string reached from 8
 * callers in turn: 157,615 walks for 48 stacks; now 48), found by the entry the last lookup
 * found, then by the key's chain; a fill takes the least recently filled entry. */
#define UCACHE_ENTS 64u  /* stacks kept per thread */
#define UCACHE_HEADS 128u /* chains, by the hash of (ra, CFA) */
#define UCACHE_MAX_FRAMES 64u
#define UCACHE_CHECKS (2u * UCACHE_MAX_FRAMES + 1u)
/* Sealed (ucache_seal), the checks are laid out for ucache_lookup's straight-line code: the
 * windows' values (16 bytes each, aligned), then the single slots' values in pairs (an odd
 * count is made even with a copy of the first single: checking a slot twice changes
 * nothing), then the offsets (int32), the windows' then the singles'. The first wr windows
 * and pr pairs are checked by straight-line code entered at their count (a switch: no loop,
 * no padding); deeper stacks put the rest (wl groups of 4 windows, pl groups of 2 pairs) in a
 * loop before it. At most 2 * 64 + 1 slots: 64 windows and 1 single, or 129 singles (65
 * pairs), so at most 130 value words and 130 offsets (65 words). */
#define UCACHE_WSTRAIGHT 32u /* windows checked by straight-line code */
#define UCACHE_PSTRAIGHT 32u /* pairs of single slots (no frame pointers: ~2 a frame) */
#define UCACHE_CHK_WORDS 202u
typedef struct ucache_ent_s {
    uintptr_t ra, cfa; /* ra 0: empty */
    uint32_t id, n;    /* the interned stack; checks (slots) while filling */
    uint8_t wr, wl, pr, pl; /* sealed: wr windows straight, wl groups of 4 in the loop; pairs */
    uint8_t deep;           /* sealed: wl or pl not 0 */
    uint8_t lsflags;        /* the live set's flags of its allocations (rec.c sets it before
                             * ucache_publish: LIVESET_F_LINKER when ra is in the dynamic
                             * linker), so that a hit need not test ra (rec_stack_untimed) */
    uint16_t nw, oo;        /* windows in all; the offsets' first word (chk + oo) */
    uint8_t next;        /* the next entry on its chain, plus 1 (0: the chain's end) */
    uint8_t chain;       /* its chain, plus 1 (0: on none) */
    uint64_t calls;      /* allocations from hits not timed, not yet in the acost table
                          * (rec_stack_untimed, rec_stack_alloc; acost_flush and a refill
                          * move them there) */
    /* sealed, for ucache_lookup_avx2 (unwind.c): the offsets (chk + oo), the pairs' offsets
     * and values, and where its straight-line code is entered for the windows (the chain
     * when deep) and for the pairs */
    const int32_t *o, *po;
    const void *pv;
    const void *wj, *pj;
    union {
        struct { /* while filling: the slot (address - cfa) and value, in walk order */
            int32_t off[UCACHE_CHECKS];
            uint64_t val[UCACHE_CHECKS];
        };
        /* sealed: window k (k < nw) at cfa + o[k] holds chk[2k], chk[2k + 1]; single j at
         * cfa + o[nw + j] holds chk[2nw + j] (o: the int32s at chk + oo) */
        uint64_t chk[UCACHE_CHK_WORDS] __attribute__((aligned(16)));
    };
} ucache_ent_t;
_Static_assert(UCACHE_CHECKS * 12u + 4u <= UCACHE_CHK_WORDS * 8u, "the fill fits the union");
/* Scratch for ucache_seal: the checks sorted, and the windows found among them. */
typedef struct ucache_scratch_s {
    int32_t toff[UCACHE_CHECKS];
    uint64_t tval[UCACHE_CHECKS];
    uint32_t twin[UCACHE_CHECKS / 2 + 1];
} ucache_scratch_t;
/* An entry filled with e->n checks (e->off, e->val: the slot at cfa + off[i] holds val[i])
 * made ready for ucache_find: sorted, a slot given twice checked once, adjacent slots paired
 * into windows, the groups padded (unwind.c; the walk calls it, and the unit test). */
void ucache_seal(ucache_scratch_t *s, ucache_ent_t *e);
typedef struct ucache_s {
    ucache_ent_t *mru; /* the entry the last lookup found (never NULL: an empty one at first) */
    /* head[h]: the first entry (plus 1, 0: none) of the chain of the keys whose hash is h;
     * every entry of one key is on its chain, however many paths reach it (a string's
     * allocation reached from 8 callers: 8 entries of one key), so the cache holds any
     * UCACHE_ENTS stacks, not 4 a hash as a set-associative table did */
    uint8_t head[UCACHE_HEADS];
    uint8_t victim; /* the entry a fill takes next (round robin: the least recently filled) */
    ucache_ent_t ent[UCACHE_ENTS];
    /* a replaced entry's calls (ucache_ent_t.calls) of stack spill_id, for the caller of
     * unwind_capture_cached to move to the acost table (unwind does not call acost) */
    uint32_t spill_id;
    uint64_t spill_calls;
} ucache_t;
/* 16 bytes: a window on the stack (unaligned: movdqu), and its values (aligned) */
typedef uint64_t __attribute__((vector_size(16), aligned(8), may_alias)) ucache_v2_t;
typedef uint64_t __attribute__((vector_size(16), may_alias)) ucache_v2a_t;

/* PERFSHIM_UNWIND: the stack capture in use */
enum { PS_UNWIND_AUTO = 0, PS_UNWIND_LIBUNWIND = 1 };

static PS_ALWAYS_INLINE unsigned ucache_hash(uintptr_t ra, uintptr_t cfa)
{
    uint64_t h = ((uint64_t)ra ^ ((uint64_t)cfa << 7)) * 0x9e3779b97f4a7c15ull;
    return (unsigned)(h >> (64 - 7));
}
_Static_assert(UCACHE_HEADS == 128u, "ucache_hash takes 7 bits");
_Static_assert(UCACHE_ENTS < 255u, "entries are numbered by a byte");

/* The entry of the stack of a hook called from ra with its CFA at cfa, or NULL: the entry the
 * thread's last lookup found first (a loop allocating from one place: no hash, no chain),
 * then the key's chain; each entry's checked slots compared (unwind.c: straight-line code,
 * 4 instructions a window with SSE2, 3 with AVX2 (chosen at run time), 3 a single slot,
 * ~10 for the call and the dispatch; with AVX2 the dispatch is a jump to an address the
 * entry keeps). */
extern PS_HIDDEN ucache_ent_t *(*ucache_lookup_fn)(ucache_t *c, uintptr_t ra, uintptr_t cfa);
/* The entry a new stack of key (ra, cfa) is filled into: the least recently filled one, taken
 * off its chain and put on the key's, unpublished (ra 0) and empty (n 0); a stack it held is
 * no longer found. Its untimed calls (ucache_ent_t.calls) are moved to c->spill_*. */
ucache_ent_t *ucache_claim(ucache_t *c, uintptr_t ra, uintptr_t cfa);

/* The cache entry of the stack of a hook called from ra with its CFA at cfa (its id: e->id,
 * never 0), or NULL (no cache yet, or no entry matches). */
static PS_ALWAYS_INLINE ucache_ent_t *ucache_find(const tstate_t *st, uintptr_t ra, uintptr_t cfa)
{
    ucache_t *c = st->ucache;
    if (PS_UNLIKELY(!c))
        return NULL;
    return ucache_lookup_fn(c, ra, cfa);
}

/* unwind_capture through a libunwind cursor, which also notes the slots it read: when the
 * stack can be cached, *fill is the entry to publish with ucache_publish once the stack has
 * its id (else NULL). Falls back to unwind_capture where the cursor cannot be used. */
int unwind_capture_cached(tstate_t *st, int max, uintptr_t ra, uintptr_t cfa,
                          ucache_ent_t **fill);
static PS_ALWAYS_INLINE void ucache_publish(ucache_ent_t *e, uintptr_t ra, uint32_t id)
{
    e->id = id;
    e->ra = ra;
}
/* Stacks walked by libunwind (cache misses and uncacheable stacks), and of them the ones
 * entered into a cache. */
void unwind_walk_counts(uint64_t *walks, uint64_t *cached);

/* 1 if this thread may unwind here (see above). Two compares when the bounds are known. */
static PS_ALWAYS_INLINE int unwind_safe(tstate_t *st)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (PS_LIKELY(sp < st->stack_hi && sp >= st->stack_lo + PS_UNWIND_STACK_BUDGET &&
                  !unwind_in_loader))
        return 1;
    return unwind_safe_slow(st, sp);
}

#endif /* PERFSHIM_UNWIND_H */
