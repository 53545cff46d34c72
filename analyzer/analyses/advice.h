/*
 * advice.h -- the recommendation engine: reads what the analyses computed (the heap replay's
 * sites, peak and RSS, replay.h; the lock analysis, locks.h; the leak scan, leaks.h; heap
 * misuse; the allocation-pressure facts, pressure.h, when that analysis ran) and turns the
 * anti-patterns it finds into recommendations, each with the evidence, an estimated saving
 * and how it was estimated, a confidence, the trade-off and how to verify it; ranked by the
 * saving's share of its resource (Amdahl).
 *
 * Contract: analyzer-only, single-threaded, after the pass (and after analyses_symbols when
 * sym is given: the titles then name the call site's function; NULL: "stack #ID"). Reads its
 * inputs, never changes them; the result owns its records (advice_free). Returns 0 or
 * -PS_E_NOMEM. in->pressure NULL: the rules that need it (reserve; same-size cycles, the
 * allocations under a lock) are skipped or fall back to the cost model, as each rule says.
 *
 * Kinds: one line of ADVICE_KINDS (id, name, unit, rule). Names are an interface (the JSON
 * "kind", scripts/bench-advice): add, never rename. Unit ADVICE_TIME is "ns" (wall time) for
 * a single-threaded run and for lock rules (waits are wall time), "cpu_ns" otherwise (the
 * site's thread is not known, so the saving is CPU time of some thread); ADVICE_BYTES is
 * "bytes".
 *
 * Estimates (docs/json-schema.md "recommendations" says the same):
 *  - measured allocator time (the shim's ALLOC_COST: the real call timed, the timer's own
 *    cost off) is read two ways (replay.h): typical (each record's median call; a churn site
 *    recycles one size, so noise that only adds, the recorder's cold caches, stays out) and
 *    steady (the mean without the calls the machine interrupted; for realloc chains, whose
 *    steps mix in-place and moving ones, and for the lock rule);
 *  - the allocator's cost per malloc+free pair: measured, the site's typical allocation
 *    (replay_site_t.alloc_ns_typical / alloc_ns_calls) plus the run's typical release (half
 *    the modelled pair when releases were not measured); unmeasured, advice_pair_ns(size):
 *    glibc 2.36 on x86-64, calibrated with a loop of malloc(size); touch; free(p) (CPU time,
 *    this project's build machine): <= 1032 B (tcache) 20 ns, <= 128 KiB (bins) 60 ns,
 *    <= 32 MiB (below the largest dynamic mmap threshold) 100 ns, larger (mmap + munmap +
 *    first touch) 20 us;
 *  - pool: pairs (min of allocations and releases of the site) x (pair cost - 2 ns, a free
 *    list's pop and push); stack_buffer: pairs x pair cost; a site whose allocations are
 *    mostly realloc steps is a growth chain (reserve), neither;
 *  - reserve: realloc steps x the site's steady time per call (its copies included);
 *    unmeasured, steps x pair cost of the final size + bytes copied x 0.05 ns/B (final size
 *    <= 256 KiB, in cache) or 0.35 ns/B (larger, memory bound);
 *  - the lock rules, from the lock's totals: hold H and waits W (summed over its threads),
 *    the n threads that contend (those that waited on it, at least 2) and its saturation
 *    rho = W / ((n - 1) H), at most 1 (a saturated lock has n - 1 threads waiting behind every
 *    hold: its holds and the waiters' hand-offs form one serialized chain, the critical path).
 *    In ns of the traced run (the recorder slows holds and hand-offs alike; not corrected);
 *  - shard_lock: H x (1 - 1/n) x rho (the holds, spread over k >= n shards, run in parallel,
 *    in the share the lock was saturated) + W / (n - 1) (the hand-offs and waits go), at most
 *    the run's duration less H / n; without hold times (a partial trace, an old writer): the
 *    lock's Amdahl bound (locks.h: the most any one thread waited on it);
 *  - alloc_outside_lock: moved = allocations while held x (the steady allocator time the
 *    shim measured per call at the site allocating most under the lock, else over the run,
 *    plus the run's steady time per release; unmeasured: the modelled pair of the run's median
 *    size); saving = moved x rho + (moved / H) x W / (n - 1) (it leaves the serialized chain
 *    and the waits shrink with the holds), at most shard_lock's; without hold times: moved x
 *    the contended share, at most the lock's Amdahl bound;
 *  - fix_leak: the definite group's bytes plus the indirect bytes it holds;
 *  - reduce_peak: the site's live bytes at the heap's peak (an upper bound: the peak moves);
 *  - tune_allocator: RSS beyond the live heap and the RSS of the first sample, at the end
 *    (trim) or at the peak (arenas, several threads), less the recorder's own memory when
 *    known.
 * Bounds (Amdahl): a wall-time saving is at most the run's wall time (duration_ns), a CPU
 * saving at most the threads' total wall time, bytes at most the peak (heap or RSS).
 * Ranking: by share = value / that bound (a saving as a fraction of what it could save at
 * most), then by value, kind, stack; rank 1 first; at most ADVICE_MAX_RECS are kept.
 */
#ifndef PERFSHIM_ADVICE_H
#define PERFSHIM_ADVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyses/leaks.h"
#include "analyses/pressure.h"
#include "analyses/replay.h"
#include "core/symbols.h"

enum advice_resource { ADVICE_TIME, ADVICE_BYTES };

#define ADVICE_MAX_RECS 500 /* recommendations kept, the largest savings */

typedef struct advice_in_s advice_in_t;
typedef struct advice_s advice_t;
struct advice_ctx_s;

/* X(ID, name, unit, rule): the rule appends the recommendations of its kind. */
#define ADVICE_KINDS(X)                                                                        \
    X(POOL, "pool", ADVICE_TIME, advice_rule_pool)                                             \
    X(STACK_BUFFER, "stack_buffer", ADVICE_TIME, advice_rule_stack_buffer)                     \
    X(RESERVE, "reserve", ADVICE_TIME, advice_rule_reserve)                                    \
    X(ALLOC_OUTSIDE_LOCK, "alloc_outside_lock", ADVICE_TIME, advice_rule_alloc_outside_lock)   \
    X(SHARD_LOCK, "shard_lock", ADVICE_TIME, advice_rule_shard_lock)                           \
    X(FIX_LEAK, "fix_leak", ADVICE_BYTES, advice_rule_fix_leak)                                \
    X(REDUCE_PEAK, "reduce_peak", ADVICE_BYTES, advice_rule_reduce_peak)                       \
    X(TUNE_ALLOCATOR, "tune_allocator", ADVICE_BYTES, advice_rule_tune_allocator)

enum advice_kind {
#define ADVICE_ENUM(id, name, unit, rule) ADVICE_##id,
    ADVICE_KINDS(ADVICE_ENUM)
#undef ADVICE_ENUM
    ADVICE_KIND_COUNT
};

enum advice_unit { ADVICE_UNIT_NS, ADVICE_UNIT_CPU_NS, ADVICE_UNIT_BYTES };
enum advice_confidence { ADVICE_LOW, ADVICE_MEDIUM, ADVICE_HIGH };

typedef struct advice_rec_s {
    enum advice_kind kind;
    enum advice_unit unit;
    uint64_t value;   /* the estimated saving, bounded */
    uint64_t raw;     /* before the bound */
    uint64_t bound;   /* the bound of its unit (what the share is of) */
    double share;     /* value / bound: the ranking key */
    enum advice_confidence confidence;
    size_t rank;      /* 1.. after advice_rank */
    uint32_t stack_id; /* an interned stack the emitter cuts to its call site; 0: none */
    const uint64_t *ips; /* or a call site already cut (a leak group's); NULL: stack_id */
    uint32_t depth;
    uint64_t count;   /* what the rule counted (allocations, steps, bytes): the evidence's */
    char title[200], evidence[400], method[400], tradeoff[240], verify[320];
} advice_rec_t;

struct advice_in_s {
    const replay_t *rp;          /* the heap replay (sites, summary, RSS), rp->locks, errors */
    const leaks_t *leaks;        /* NULL or no scan: leaks from the snapshots' growth only */
    const pressure_t *pressure;  /* NULL: the pressure analysis did not run */
    symbols_t *sym;              /* NULL: titles name stacks by id */
    const char *trace;           /* the trace's path, for the verify commands (NULL: TRACE) */
};

struct advice_s {
    advice_rec_t *recs; /* ranked after advice_run */
    size_t n, cap;
    uint64_t wall_bound, cpu_bound, bytes_bound;
};

int advice_run(const advice_in_t *in, advice_t *out);
void advice_free(advice_t *a);
const char *advice_kind_name(enum advice_kind k);
const char *advice_unit_name(enum advice_unit u);
const char *advice_confidence_name(enum advice_confidence c);
/* The modelled cost of one malloc(size)+free pair in glibc, ns (see above). */
uint64_t advice_pair_ns(uint64_t size);
/* The lock rules' models (see "Estimates" above). A lock's saturation: its waits over
 * (n - 1) x its holds, at most 1 (a saturated lock has n - 1 of its n contending threads
 * waiting behind every hold); what sharding saves (hold x (1 - 1/n) x saturation + waits /
 * (n - 1), at most the run's duration less hold / n); what moving moved_ns of hold time out
 * of its sections saves (moved_ns x saturation + the waits' share moved_ns / hold, / (n - 1);
 * at most sharding's saving). */
double advice_lock_saturation(uint64_t hold_ns, uint64_t wait_ns, unsigned n);
uint64_t advice_shard_ns(uint64_t hold_ns, uint64_t wait_ns, unsigned n, uint64_t duration);
uint64_t advice_unlock_ns(uint64_t moved_ns, uint64_t hold_ns, uint64_t wait_ns, unsigned n,
                          uint64_t duration);
/* Bounds and ranks a's records (advice_run calls it; exposed for the unit test): each value is
 * capped at its unit's bound, shares computed, sorted, ranks numbered from 1. */
void advice_rank(advice_t *a);

#endif /* PERFSHIM_ADVICE_H */
