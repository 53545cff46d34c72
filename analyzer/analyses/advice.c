/*
 * advice.c -- see advice.h. Each rule reads the analyses' results, keeps what crosses its
 * thresholds (named below: a recommendation worth reading saves something measurable) and
 * appends one record per site or lock; advice_rank bounds and orders them.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/advice.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyses/callsite.h"
#include "analyses/locks.h"
#include "core/fmt.h"
#include "perfshim/errors.h"

/* Thresholds of the rules. */
#define ADVICE_MIN_PAIRS 100         /* pool/stack_buffer: allocations freed at the site */
#define ADVICE_TINY 256              /* stack_buffer: every size at most this */
#define ADVICE_POOL_NS 2             /* a free list's pop + push */
#define ADVICE_MIN_STEPS 16          /* reserve: realloc steps at the site */
#define ADVICE_MIN_PEAK (256u << 10) /* reduce_peak: site's bytes at the peak, at least */
#define ADVICE_PEAK_SHARE 4          /* ... and at least 1/4 of the peak */
#define ADVICE_MIN_GAP (16u << 20)   /* tune_allocator: RSS not explained by the live heap */
#define ADVICE_LOCK_MIN_SHARE 1000   /* shard_lock: Amdahl bound >= 1/1000 of the run */

typedef struct advice_ctx_s {
    const advice_in_t *in;
    advice_t *out;
    const pressure_site_t **psites; /* by stack id, for bsearch */
    size_t npsites;
    const replay_site_t **rsites; /* the replay's sites by stack id, for bsearch */
    size_t nrsites;
    const char *cmd; /* the program, for the verify commands */
    bool single;     /* one thread: a CPU saving is a wall saving */
} advice_ctx_t;

/* ---- the tables ---------------------------------------------------------------------- */

typedef int (*advice_rule_t)(advice_ctx_t *c);
#define ADVICE_PROTO(id, name, unit, rule) static int rule(advice_ctx_t *c);
ADVICE_KINDS(ADVICE_PROTO)
#undef ADVICE_PROTO

static const struct {
    const char *name;
    enum advice_resource resource;
    advice_rule_t rule;
} advice_kinds[ADVICE_KIND_COUNT] = {
#define ADVICE_ROW(id, name, unit, rule) {name, unit, rule},
    ADVICE_KINDS(ADVICE_ROW)
#undef ADVICE_ROW
};

const char *advice_kind_name(enum advice_kind k)
{
    return (unsigned)k < ADVICE_KIND_COUNT ? advice_kinds[k].name : "?";
}

const char *advice_unit_name(enum advice_unit u)
{
    static const char *const n[] = {"ns", "cpu_ns", "bytes"};
    return (unsigned)u < 3 ? n[u] : "?";
}

const char *advice_confidence_name(enum advice_confidence c)
{
    static const char *const n[] = {"low", "medium", "high"};
    return (unsigned)c < 3 ? n[c] : "?";
}

/* glibc's cost of malloc+free by size class (advice.h; docs/json-schema.md). */
uint64_t advice_pair_ns(uint64_t size)
{
    if (size <= 1032)
        return 20;
    if (size <= (128u << 10))
        return 60;
    if (size <= (32u << 20))
        return 100;
    return 20000;
}

/* ---- helpers ------------------------------------------------------------------------- */

static advice_rec_t *advice_add(advice_ctx_t *c, enum advice_kind kind)
{
    advice_t *a = c->out;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        advice_rec_t *r = realloc(a->recs, cap * sizeof(*r));
        if (!r)
            return NULL;
        a->recs = r;
        a->cap = cap;
    }
    advice_rec_t *r = &a->recs[a->n++];
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->unit = advice_kinds[kind].resource == ADVICE_BYTES ? ADVICE_UNIT_BYTES
              : c->single                                 ? ADVICE_UNIT_NS
                                                          : ADVICE_UNIT_CPU_NS;
    return r;
}

/* A record's text field; cut to its size on purpose (the numbers come first). */
static void advice_set(char *dst, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void advice_set(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}
#define ADVICE_SET(field, ...) advice_set(r->field, sizeof r->field, __VA_ARGS__)

/* The call site's name for titles: its first frame's function (or module+offset, address);
 * "stack #ID" without symbols. */
static void advice_where(const advice_ctx_t *c, uint32_t id, const uint64_t *ips, uint32_t depth,
                         char *buf, size_t n)
{
    snprintf(buf, n, "stack #%" PRIu32, id);
    if (!c->in->sym)
        return;
    if (!ips && callsite_cut(c->in->sym, c->in->rp, id, &ips, &depth) < 0)
        return;
    if (!depth)
        return;
    sym_frame_t f;
    if (symbols_lookup(c->in->sym, ips[0], &f) < 0)
        return;
    if (f.function && f.file)
        snprintf(buf, n, "%.80s (%.60s:%" PRIu32 ")", f.function,
                 strrchr(f.file, '/') ? strrchr(f.file, '/') + 1 : f.file, f.line);
    else if (f.function)
        snprintf(buf, n, "%.120s", f.function);
    else if (f.module_name)
        snprintf(buf, n, "%.80s+0x%" PRIx64, f.module_name, f.offset);
    else
        snprintf(buf, n, "0x%" PRIx64, ips[0]);
}

static int psite_cmp(const void *a, const void *b)
{
    const pressure_site_t *x = *(const pressure_site_t *const *)a,
                          *y = *(const pressure_site_t *const *)b;
    return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static const pressure_site_t *advice_psite(const advice_ctx_t *c, uint32_t id)
{
    if (!c->npsites)
        return NULL;
    pressure_site_t key = {.stack_id = id};
    const pressure_site_t *k = &key;
    const pressure_site_t **p = bsearch(&k, c->psites, c->npsites, sizeof(*p), psite_cmp);
    return p ? *p : NULL;
}

static int rsite_cmp(const void *a, const void *b)
{
    const replay_site_t *x = *(const replay_site_t *const *)a,
                        *y = *(const replay_site_t *const *)b;
    return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static const replay_site_t *advice_rsite(const advice_ctx_t *c, uint32_t id)
{
    if (!c->nrsites)
        return NULL;
    replay_site_t key = {.stack_id = id};
    const replay_site_t *k = &key;
    const replay_site_t **p = bsearch(&k, c->rsites, c->nrsites, sizeof(*p), rsite_cmp);
    return p ? *p : NULL;
}

/* A site's measured allocator time per allocating call, ns, without the calls the machine
 * interrupted (replay_cost_steady); < 0: not measured. */
static double advice_site_alloc_ns(const advice_ctx_t *c, uint32_t id)
{
    const replay_site_t *s = advice_rsite(c, id);
    if (!s || !s->alloc_ns_calls)
        return -1.0;
    return (double)s->alloc_ns_steady / (double)s->alloc_ns_calls;
}

/* The cost of one malloc+free pair at a site, ns: measured by the shim (the site's allocator
 * time per allocating call, ALLOC_COST, plus the run's time per release: releases are
 * measured per thread, not per site), else the model. The shim times the real call only and
 * takes the timer's own cost off (acost_end), so neither the recorder's work around the call
 * nor the timer is in it; the method says which was used. */
static double advice_site_pair(const advice_ctx_t *c, const replay_site_t *s, bool *measured,
                               char *method, size_t n)
{
    const replay_t *rp = c->in->rp;
    uint64_t size = replay_hist_quantile(&s->sizes, 0.5);
    *measured = s->alloc_ns_calls != 0;
    if (!*measured) {
        double pair = (double)advice_pair_ns(size);
        snprintf(method, n,
                 "%.1f ns per pair: glibc's modelled malloc+free cost for %" PRIu64
                 " B (advice_pair_ns; allocator time not measured)",
                 pair, size);
        return pair;
    }
    double alloc = (double)s->alloc_ns_typical / (double)s->alloc_ns_calls;
    bool rel = rp->have_alloc_cost && rp->release_ns_calls;
    double release = rel ? (double)rp->release_ns_typical / (double)rp->release_ns_calls
                         : (double)advice_pair_ns(size) / 2.0;
    snprintf(method, n,
             "%.1f ns per pair: %.1f ns per allocation measured at this site + %.1f ns per "
             "release %s (the median call of the shim's ALLOC_COST: the real call timed, the "
             "timer's cost off; a churn site recycles one size, its typical call is its cost)",
             alloc + release, alloc, release,
             rel ? "over the run" : "(half the modelled pair: not measured)");
    return alloc + release;
}

/* ---- rules: allocation sites ----------------------------------------------------------- */

/* A site's pairs (allocations freed again) and whether it is a stack-buffer candidate: every
 * size tiny and most blocks freed before the thread's next allocation (scoped). */
static uint64_t site_pairs(const replay_site_t *s)
{
    return s->allocations < s->frees ? s->allocations : s->frees;
}

static bool site_scoped(const advice_ctx_t *c, const replay_site_t *s)
{
    const pressure_site_t *p = advice_psite(c, s->stack_id);
    uint64_t scoped = s->temporary;
    if (p && p->within_k > scoped)
        scoped = p->within_k;
    return s->sizes.max <= ADVICE_TINY && scoped * 2 >= s->allocations;
}

static bool site_churns(const advice_ctx_t *c, const replay_site_t *s)
{
    uint64_t pairs = site_pairs(s);
    const pressure_site_t *p = advice_psite(c, s->stack_id);
    if (p && p->realloc_steps * 2 >= s->allocations)
        return false; /* mostly realloc steps: a growth chain (reserve), not churn */
    return pairs >= ADVICE_MIN_PAIRS && pairs * 2 >= s->allocations;
}

static int advice_site_churn(advice_ctx_t *c, const replay_site_t *s, enum advice_kind kind)
{
    bool measured;
    char where[200], pm[300], lt1[32], lt2[32], cyc[80] = "";
    uint64_t pairs = site_pairs(s);
    double pair = advice_site_pair(c, s, &measured, pm, sizeof pm);
    uint64_t size = replay_hist_quantile(&s->sizes, 0.5);
    const pressure_site_t *p = advice_psite(c, s->stack_id);
    advice_rec_t *r = advice_add(c, kind);
    if (!r)
        return -PS_E_NOMEM;
    advice_where(c, s->stack_id, NULL, 0, where, sizeof where);
    r->stack_id = s->stack_id;
    r->count = pairs;
    double per = kind == ADVICE_POOL ? pair - ADVICE_POOL_NS : pair;
    r->raw = per > 0 ? (uint64_t)((double)pairs * per + 0.5) : 0;
    if (p)
        snprintf(cyc, sizeof cyc, ", %" PRIu64 " same-size cycles", p->same_size_cycles);
    bool one_size = s->sizes.n && replay_hist_quantile(&s->sizes, 0.0) >= s->sizes.max;
    r->confidence = measured || one_size || (p && p->same_size_cycles * 2 >= pairs) ? ADVICE_HIGH
                                                                                    : ADVICE_MEDIUM;
    ADVICE_SET(evidence,
               "%" PRIu64 " allocations, %" PRIu64 " freed again (%" PRIu64
               " temporary%s); size p50 <=%" PRIu64 " max %" PRIu64 " B; lifetime p50 <=%s "
               "p99 <=%s",
               s->allocations, s->frees, s->temporary, cyc, size, s->sizes.max,
               fmt_ns(lt1, sizeof lt1, replay_hist_quantile(&s->lifetimes, 0.5)),
               fmt_ns(lt2, sizeof lt2, replay_hist_quantile(&s->lifetimes, 0.99)));
    if (kind == ADVICE_POOL) {
        ADVICE_SET(title, "Pool the %" PRIu64 " allocations freed again at %s", pairs, where);
        ADVICE_SET(method, "%" PRIu64 " pairs x (%s, less %d ns for the pool's pop and push)",
                   pairs, pm, ADVICE_POOL_NS);
        ADVICE_SET(tradeoff,
                   "the pool keeps up to the site's peak live blocks (%" PRIu64
                   " B) allocated; per-thread or locked; hides use-after-free from "
                   "heap checkers",
                   s->peak_bytes);
    } else {
        ADVICE_SET(title,
                   "Use a stack or small buffer for the %" PRIu64
                   " short-lived allocations of <= %" PRIu64 " B at %s",
                   pairs, s->sizes.max, where);
        ADVICE_SET(method, "%" PRIu64 " pairs x %s (no allocation left)", pairs, pm);
        ADVICE_SET(tradeoff,
                   "stack space (%" PRIu64 " B per live buffer); a larger size needs "
                   "a heap fallback; the block must not outlive its scope",
                   s->sizes.max);
    }
    ADVICE_SET(verify,
               "after the fix: perfshim record -o after.trace -- %.120s; perfshim report "
               "--section sites after.trace (this site's allocations drop to its peak "
               "live blocks); time the program natively",
               c->cmd);
    return 0;
}

static int advice_rule_pool(advice_ctx_t *c)
{
    const replay_t *rp = c->in->rp;
    for (size_t i = 0; i < rp->nsites; i++) {
        const replay_site_t *s = &rp->sites[i];
        if (site_churns(c, s) && !site_scoped(c, s)) {
            int rc = advice_site_churn(c, s, ADVICE_POOL);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int advice_rule_stack_buffer(advice_ctx_t *c)
{
    const replay_t *rp = c->in->rp;
    for (size_t i = 0; i < rp->nsites; i++) {
        const replay_site_t *s = &rp->sites[i];
        if (site_churns(c, s) && site_scoped(c, s)) {
            int rc = advice_site_churn(c, s, ADVICE_STACK_BUFFER);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int advice_rule_reserve(advice_ctx_t *c)
{
    const pressure_t *P = c->in->pressure;
    for (size_t i = 0; P && i < P->nsites; i++) {
        const pressure_site_t *p = &P->sites[i];
        if (p->realloc_steps < ADVICE_MIN_STEPS)
            continue;
        advice_rec_t *r = advice_add(c, ADVICE_RESERVE);
        if (!r)
            return -PS_E_NOMEM;
        char where[200], b[32];
        advice_where(c, p->stack_id, NULL, 0, where, sizeof where);
        r->stack_id = p->stack_id;
        r->count = p->realloc_steps;
        r->confidence = ADVICE_MEDIUM;
        ADVICE_SET(title, "Reserve the final size of the %" PRIu64 " growth chains at %s",
                   p->realloc_chains, where);
        ADVICE_SET(evidence,
                   "%" PRIu64 " realloc steps in %" PRIu64 " chains copied %" PRIu64
                   " bytes (%s); final size up to %" PRIu64 " B",
                   p->realloc_steps, p->realloc_chains, p->realloc_bytes_copied,
                   fmt_bytes(b, sizeof b, p->realloc_bytes_copied), p->realloc_final_max);
        double per = advice_site_alloc_ns(c, p->stack_id);
        if (per >= 0) {
            /* the steps' own measured time: what realloc took at this site (its copies
             * included) per call, x the steps (the site's other calls begin the chains: the
             * reserve keeps one of those per chain) */
            r->raw = (uint64_t)((double)p->realloc_steps * per + 0.5);
            r->confidence = ADVICE_HIGH;
            ADVICE_SET(method,
                       "%" PRIu64 " steps x %.1f ns: the time the shim measured inside the "
                       "allocator at this site per call (%" PRIu64 " calls: the real "
                       "realloc timed, its copying included, the timer's cost off, calls the "
                       "machine interrupted left out)",
                       p->realloc_steps, per, p->alloc_ns_calls);
        } else {
            uint64_t pair = advice_pair_ns(p->realloc_final_max);
            bool cached = p->realloc_final_max <= (256u << 10);
            uint64_t per100 = cached ? 5 : 35; /* ns per byte copied, in hundredths */
            r->raw = p->realloc_steps * pair + p->realloc_bytes_copied * per100 / 100;
            ADVICE_SET(method,
                       "%" PRIu64 " steps x %" PRIu64 " ns (modelled pair for the final "
                       "size) + %" PRIu64 " bytes copied x 0.%02" PRIu64 " ns/B (%s; "
                       "allocator time not measured)",
                       p->realloc_steps, pair, p->realloc_bytes_copied, per100,
                       cached ? "in cache" : "memory bound");
        }
        ADVICE_SET(tradeoff,
                   "memory reserved up front (up to %" PRIu64
                   " B per chain) even when the data stays small",
                   p->realloc_final_max);
        ADVICE_SET(verify,
                   "after the fix: perfshim record -o after.trace -- %.120s; perfshim "
                   "report --section pressure after.trace (realloc steps at this site "
                   "drop to 0)",
                   c->cmd);
    }
    return 0;
}

/* ---- rules: locks -------------------------------------------------------------------- */

static uint32_t lock_stack(const locks_lock_t *k)
{
    if (k->nholders && k->holders[0].stack)
        return k->holders[0].stack;
    return k->nsites ? k->sites[0].stack : 0;
}

static void lock_evidence(advice_rec_t *r, const locks_t *L, const locks_lock_t *k,
                          uint64_t duration)
{
    char w[32], w99[32], h50[32], h99[32], am[32], acq[64];
    /* a partial trace: acquisitions are a lower bound, or unknown (locks.h) */
    if (L->partial && !k->have_totals)
        snprintf(acq, sizeof acq, "acquisitions not recorded (trace incomplete)");
    else
        snprintf(acq, sizeof acq, "%s%" PRIu64 " acquisitions", L->partial ? "at least " : "",
                 k->acquisitions);
    ADVICE_SET(evidence,
               "lock 0x%" PRIx64 ": %s, %" PRIu64 " contended (%.1f%%), "
               "wait %s (p99 <=%s), hold p50 <=%s p99 <=%s, max waiters %" PRIu32
               ", Amdahl %s (%.1f%% of the run), %" PRIu64 " allocations while held",
               k->addr, acq, k->contended,
               k->acquisitions ? 100.0 * (double)k->contended / (double)k->acquisitions : 0.0,
               fmt_ns(w, sizeof w, k->wait_ns),
               fmt_ns(w99, sizeof w99, replay_hist_quantile(&k->wait, 0.99)),
               fmt_ns(h50, sizeof h50, replay_hist_quantile(&k->hold, 0.5)),
               fmt_ns(h99, sizeof h99, replay_hist_quantile(&k->hold, 0.99)), k->max_waiters,
               fmt_ns(am, sizeof am, k->amdahl_ns),
               duration ? 100.0 * (double)k->amdahl_ns / (double)duration : 0.0, k->allocs_held);
}

static bool lock_kind_mutual(const locks_lock_t *k)
{
    return k->kind != PS_LOCK_COND;
}

/* The lock's serialization (advice.h): its total hold and wait times and the threads n that
 * contend (those that waited on it, at least 2). false: the trace has no hold times for it (a
 * partial trace without totals, an old writer). */
static bool lock_serial(const locks_lock_t *k, uint64_t *hold, uint64_t *wait, unsigned *n)
{
    if (!k->have_totals || !k->hold_ns)
        return false;
    *hold = k->hold_ns;
    *wait = k->wait_ns;
    *n = k->ntwait < 2 ? 2 : (unsigned)k->ntwait;
    return true;
}

double advice_lock_saturation(uint64_t hold_ns, uint64_t wait_ns, unsigned n)
{
    if (n < 2 || !hold_ns)
        return 0.0;
    double rho = (double)wait_ns / ((double)(n - 1) * (double)hold_ns);
    return rho > 1.0 ? 1.0 : rho;
}

uint64_t advice_shard_ns(uint64_t hold_ns, uint64_t wait_ns, unsigned n, uint64_t duration)
{
    if (n < 2)
        return 0;
    double rho = advice_lock_saturation(hold_ns, wait_ns, n);
    uint64_t v = (uint64_t)((double)hold_ns * (1.0 - 1.0 / (double)n) * rho +
                            (double)wait_ns / (double)(n - 1));
    uint64_t floor = hold_ns / n; /* the holds spread over n threads: the run lasts that long */
    uint64_t most = duration > floor ? duration - floor : 0;
    return v < most ? v : most;
}

uint64_t advice_unlock_ns(uint64_t moved_ns, uint64_t hold_ns, uint64_t wait_ns, unsigned n,
                          uint64_t duration)
{
    if (n < 2 || !hold_ns)
        return 0;
    if (moved_ns > hold_ns)
        moved_ns = hold_ns;
    double rho = advice_lock_saturation(hold_ns, wait_ns, n);
    double f = (double)moved_ns / (double)hold_ns; /* the share of the holds moved out */
    uint64_t v = (uint64_t)((double)moved_ns * rho + f * (double)wait_ns / (double)(n - 1));
    uint64_t most = advice_shard_ns(hold_ns, wait_ns, n, duration); /* no serialization left */
    return v < most ? v : most;
}

static int advice_rule_shard_lock(advice_ctx_t *c)
{
    const replay_t *rp = c->in->rp;
    const locks_t *L = rp->locks;
    for (size_t i = 0; L && i < L->nlocks; i++) {
        const locks_lock_t *k = &L->locks[i];
        if (!lock_kind_mutual(k) || !k->contended || !k->amdahl_ns ||
            k->amdahl_ns * ADVICE_LOCK_MIN_SHARE < rp->duration_ns)
            continue;
        advice_rec_t *r = advice_add(c, ADVICE_SHARD_LOCK);
        if (!r)
            return -PS_E_NOMEM;
        char where[200];
        r->unit = ADVICE_UNIT_NS; /* waits are wall time */
        r->stack_id = lock_stack(k);
        advice_where(c, r->stack_id, NULL, 0, where, sizeof where);
        r->count = k->contended;
        uint64_t hold, wait;
        unsigned n;
        char hm[32], wm[32];
        if (lock_serial(k, &hold, &wait, &n)) {
            r->raw = advice_shard_ns(hold, wait, n, rp->duration_ns);
            ADVICE_SET(method,
                       "the lock's serialized chain, its holds (%s) and its waits (%s; %u "
                       "threads contend, %u of them wait at once when it is saturated), "
                       "spread over k >= %u shards: hold x (1 - 1/%u) x saturation %.3f "
                       "(waits / (%u x hold)) + waits / %u, at most the run less hold / %u; ns of the traced run",
                       fmt_ns(hm, sizeof hm, hold), fmt_ns(wm, sizeof wm, wait), n, n - 1, n, n,
                       advice_lock_saturation(hold, wait, n), n - 1, n - 1, n);
        } else {
            r->raw = k->amdahl_ns;
            ADVICE_SET(method, "the lock's Amdahl bound: the most one thread waited on it (the "
                               "run, its longest thread, shortens by at most that; no hold "
                               "times in the trace); reached if the contention goes away "
                               "entirely");
        }
        r->confidence = ADVICE_MEDIUM;
        lock_evidence(r, L, k, rp->duration_ns);
        ADVICE_SET(title,
                   "Shorten or shard the critical section of lock 0x%" PRIx64
                   " (held at %s): %" PRIu64 " contended acquisitions",
                   k->addr, where, k->contended);
        ADVICE_SET(tradeoff, "sharding needs a key that splits the data; shorter sections may "
                             "need more acquisitions; lock ordering gets harder (deadlocks)");
        ADVICE_SET(verify,
                   "after the fix: perfshim record -o after.trace -- %.120s; perfshim "
                   "report --section locks after.trace (wait total and the Amdahl "
                   "bound of this lock)",
                   c->cmd);
    }
    return 0;
}

static int advice_rule_alloc_outside_lock(advice_ctx_t *c)
{
    const replay_t *rp = c->in->rp;
    const locks_t *L = rp->locks;
    uint64_t size = replay_hist_quantile(&rp->sizes, 0.5);
    for (size_t i = 0; L && i < L->nlocks; i++) {
        const locks_lock_t *k = &L->locks[i];
        if (!lock_kind_mutual(k) || !k->allocs_held || !k->contended || !k->acquisitions)
            continue;
        advice_rec_t *r = advice_add(c, ADVICE_ALLOC_OUTSIDE_LOCK);
        if (!r)
            return -PS_E_NOMEM;
        /* the allocation site that allocates most under this lock, when pressure knows it */
        const pressure_t *P = c->in->pressure;
        const pressure_site_t *best = NULL;
        for (size_t j = 0; P && j < P->nsites; j++)
            if (P->sites[j].under_lock_lock == k->addr &&
                (!best || P->sites[j].under_lock > best->under_lock))
                best = &P->sites[j];
        char where[200], alloc_at[240] = "";
        uint64_t pair = advice_pair_ns(size);
        r->unit = ADVICE_UNIT_NS;
        r->stack_id = best ? best->stack_id : lock_stack(k);
        advice_where(c, lock_stack(k), NULL, 0, where, sizeof where);
        if (best) {
            char bw[200];
            advice_where(c, best->stack_id, NULL, 0, bw, sizeof bw);
            advice_set(alloc_at, sizeof alloc_at, " (most at %s: %" PRIu64 ")", bw,
                       best->under_lock);
        }
        r->count = k->allocs_held;
        /* the hold time the allocations take: per allocation, the allocator time measured
         * at its site (else over the run) plus the run's measured time per release (its free
         * moves out too); unmeasured: the modelled pair */
        uint64_t per = pair, per_alloc = 0, per_free = pair / 2;
        double site_ns = best ? advice_site_alloc_ns(c, best->stack_id) : -1.0;
        const pressure_site_t *ms = site_ns >= 0 ? best : NULL;
        if (ms)
            per_alloc = (uint64_t)(site_ns + 0.5);
        else if (rp->have_alloc_cost && rp->alloc_ns_calls)
            per_alloc = rp->alloc_ns_steady / rp->alloc_ns_calls;
        if (rp->have_alloc_cost && rp->release_ns_calls)
            per_free = rp->release_ns_steady / rp->release_ns_calls;
        bool measured = ms || (rp->have_alloc_cost && rp->alloc_ns_calls);
        if (measured)
            per = per_alloc + per_free;
        uint64_t moved = k->allocs_held * per;
        uint64_t hold, wait;
        unsigned n;
        char pm[160], mv[32], hm[32], wm[32];
        if (measured)
            advice_set(pm, sizeof pm,
                       "%" PRIu64 " ns (measured: %" PRIu64 " in the allocator at %s, %" PRIu64
                       " per release%s)",
                       per, per_alloc, ms ? "the site" : "every site", per_free,
                       rp->have_alloc_cost && rp->release_ns_calls ? "" : ", modelled");
        else
            advice_set(pm, sizeof pm, "%" PRIu64 " ns (modelled pair, %" PRIu64 " B: the run's "
                       "median size; allocator time not measured)", pair, size);
        if (lock_serial(k, &hold, &wait, &n)) {
            r->raw = advice_unlock_ns(moved, hold, wait, n, rp->duration_ns);
            ADVICE_SET(method,
                       "%" PRIu64 " allocations while held x %s = %s of hold time moved out "
                       "(of %s held): it leaves the lock's serialized chain x saturation %.3f, "
                       "and the waits (%s) shrink in proportion; at most sharding's saving",
                       k->allocs_held, pm, fmt_ns(mv, sizeof mv, moved),
                       fmt_ns(hm, sizeof hm, hold), advice_lock_saturation(hold, wait, n),
                       fmt_ns(wm, sizeof wm, wait));
        } else {
            double cshare = (double)k->contended / (double)k->acquisitions;
            if (cshare > 1.0) /* a partial trace: contended from the events */
                cshare = 1.0;
            r->raw = (uint64_t)((double)moved * cshare);
            if (r->raw > k->amdahl_ns)
                r->raw = k->amdahl_ns;
            ADVICE_SET(method,
                       "%" PRIu64 " allocations while held x %s x the contended share %.3f "
                       "(holds someone waits behind; no hold times in the trace), at most "
                       "the lock's Amdahl bound",
                       k->allocs_held, pm, cshare);
        }
        r->confidence = measured ? ADVICE_MEDIUM : ADVICE_LOW;
        lock_evidence(r, L, k, rp->duration_ns);
        ADVICE_SET(title,
                   "Move the %" PRIu64 " allocations%s out of the critical section of "
                   "lock 0x%" PRIx64 " (held at %s)",
                   k->allocs_held, alloc_at, k->addr, where);
        ADVICE_SET(tradeoff, "allocate before locking (and free after unlocking): an allocation "
                             "may be wasted when the section finds it needs none");
        ADVICE_SET(verify,
                   "after the fix: perfshim record -o after.trace -- %.120s; perfshim "
                   "report --section locks after.trace (allocations while held: 0; "
                   "hold p99 and wait shorter)",
                   c->cmd);
    }
    return 0;
}

/* ---- rules: memory ------------------------------------------------------------------- */

static int advice_rule_fix_leak(advice_ctx_t *c)
{
    const leaks_t *Lk = c->in->leaks;
    uint64_t dur = c->in->rp->duration_ns;
    char b1[32], b2[32], rate[32];
    if (Lk && Lk->have_scan) {
        /* what each definite group holds: one pass over the indirect groups */
        uint64_t *held_by = calloc(Lk->ngroups ? 2 * Lk->ngroups : 1, sizeof(*held_by));
        if (!held_by)
            return -PS_E_NOMEM;
        for (size_t j = 0; j < Lk->ngroups; j++) {
            const leak_group_t *h = &Lk->groups[j];
            if (h->kind == PS_LEAK_INDIRECT && !h->suppressed && h->held_by >= 0 &&
                (size_t)h->held_by < Lk->ngroups) {
                held_by[2 * h->held_by] += h->bytes;
                held_by[2 * h->held_by + 1] += h->blocks;
            }
        }
        for (size_t i = 0; i < Lk->ngroups; i++) {
            const leak_group_t *g = &Lk->groups[i];
            if (g->kind != PS_LEAK_DEFINITE || g->suppressed)
                continue;
            uint64_t held = held_by[2 * i], held_blocks = held_by[2 * i + 1];
            advice_rec_t *r = advice_add(c, ADVICE_FIX_LEAK);
            if (!r) {
                free(held_by);
                return -PS_E_NOMEM;
            }
            char where[200];
            r->ips = g->ips;
            r->depth = g->depth;
            advice_where(c, 0, g->ips, g->depth, where, sizeof where);
            r->count = g->bytes + held;
            r->raw = g->bytes + held;
            r->confidence = ADVICE_HIGH;
            fmt_rate(rate, sizeof rate, r->raw, dur);
            ADVICE_SET(title, "Free the %" PRIu64 " block%s (%s) definitely lost at %s", g->blocks,
                       g->blocks == 1 ? "" : "s", fmt_bytes(b1, sizeof b1, g->bytes), where);
            ADVICE_SET(evidence,
                       "%" PRIu64 " bytes in %" PRIu64 " blocks unreachable at exit, "
                       "holding %" PRIu64 " bytes in %" PRIu64
                       " indirect blocks; %sB/s over the run (%s)",
                       g->bytes, g->blocks, held, held_blocks, rate, fmt_ns(b2, sizeof b2, dur));
            ADVICE_SET(method, "the leak scan's bytes of this group plus the indirect bytes it "
                               "holds (what the exit scan found unreachable)");
            ADVICE_SET(tradeoff, "none at run time; find the owner that should free them (a "
                                 "long-running process grows by the rate above)");
            ADVICE_SET(verify,
                       "after the fix: perfshim record -o after.trace -- %.120s; "
                       "perfshim check after.trace (exit 0: no leaked block)",
                       c->cmd);
        }
        free(held_by);
        return 0;
    }
    for (size_t i = 0; Lk && i < Lk->ngrowth; i++) { /* no scan: the snapshots' growth */
        const leak_growth_t *g = &Lk->growth[i];
        advice_rec_t *r = advice_add(c, ADVICE_FIX_LEAK);
        if (!r)
            return -PS_E_NOMEM;
        char where[200];
        r->ips = g->ips;
        r->depth = g->depth;
        advice_where(c, 0, g->ips, g->depth, where, sizeof where);
        r->count = g->last_bytes - g->first_bytes;
        r->raw = r->count;
        r->confidence = ADVICE_LOW;
        fmt_rate(rate, sizeof rate, r->raw, dur);
        ADVICE_SET(title, "Bound the growth at %s (suspected leak)", where);
        ADVICE_SET(evidence,
                   "live bytes grew from %" PRIu64 " to %" PRIu64 " over %" PRIu32
                   " snapshots, never decreasing; %sB/s",
                   g->first_bytes, g->last_bytes, Lk->nsnapshots, rate);
        ADVICE_SET(method, "the growth across the snapshots (a suspected leak: no exit scan)");
        ADVICE_SET(tradeoff, "a cache needs a bound or an eviction policy");
        ADVICE_SET(verify, "perfshim record with PERFSHIM_SNAPSHOT_SIGNAL, then perfshim report "
                           "--section growth after.trace (the site no longer grows)");
    }
    return 0;
}

/* The definite bytes the exit scan found at a site's call site (its stack cut as the leak
 * groups' are); 0 without a scan or symbols. */
static uint64_t site_leaked(const advice_ctx_t *c, uint32_t id)
{
    const leaks_t *Lk = c->in->leaks;
    const uint64_t *ips;
    uint32_t depth;
    if (!Lk || !Lk->have_scan || !c->in->sym ||
        callsite_cut(c->in->sym, c->in->rp, id, &ips, &depth) < 0 || !depth)
        return 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < Lk->ngroups; i++) {
        const leak_group_t *g = &Lk->groups[i];
        if (g->kind == PS_LEAK_DEFINITE && g->depth == depth &&
            !memcmp(g->ips, ips, depth * sizeof(*ips)))
            bytes += g->bytes;
    }
    return bytes;
}

static int advice_rule_reduce_peak(advice_ctx_t *c)
{
    const replay_t *rp = c->in->rp;
    for (size_t i = 0; i < rp->nsites; i++) {
        const replay_site_t *s = &rp->sites[i];
        if (s->peak_bytes < ADVICE_MIN_PEAK || s->peak_bytes * ADVICE_PEAK_SHARE < rp->peak_bytes)
            continue;
        if (site_leaked(c, s->stack_id) * 2 >= s->peak_bytes)
            continue; /* its peak is mostly a leak: fix_leak says it */
        advice_rec_t *r = advice_add(c, ADVICE_REDUCE_PEAK);
        if (!r)
            return -PS_E_NOMEM;
        char where[200], b1[32], b2[32], t[32];
        r->stack_id = s->stack_id;
        advice_where(c, s->stack_id, NULL, 0, where, sizeof where);
        r->count = s->peak_bytes;
        r->raw = s->peak_bytes;
        r->confidence = ADVICE_LOW;
        ADVICE_SET(title, "Reduce the peak: %s of the %s peak heap is live from %s",
                   fmt_bytes(b1, sizeof b1, s->peak_bytes),
                   fmt_bytes(b2, sizeof b2, rp->peak_bytes), where);
        ADVICE_SET(evidence,
                   "peak heap %" PRIu64 " bytes at +%s; this site holds %" PRIu64
                   " bytes of it (%.1f%%); %" PRIu64 " allocations, %" PRIu64 " bytes in all",
                   rp->peak_bytes, fmt_ns(t, sizeof t, rp->peak_time_ns), s->peak_bytes,
                   100.0 * (double)s->peak_bytes / (double)rp->peak_bytes, s->allocations,
                   s->bytes);
        ADVICE_SET(method, "the site's live bytes at the peak: an upper bound (without them the "
                           "peak moves to the next highest moment)");
        ADVICE_SET(tradeoff, "streaming or freeing earlier may cost recomputation or more "
                             "allocations");
        ADVICE_SET(verify,
                   "after the fix: perfshim record -o after.trace -- %.120s; perfshim "
                   "report --section summary after.trace (peak heap)",
                   c->cmd);
    }
    return 0;
}

static int advice_rule_tune_allocator(advice_ctx_t *c)
{
    const replay_t *rp = c->in->rp;
    const pressure_t *P = c->in->pressure;
    if (!rp->have_rss)
        return 0;
    uint64_t base = 0, recorder = 0;
    for (unsigned i = 0; i < REPLAY_SLICES && !base; i++)
        base = rp->slices[i].rss_bytes;
    for (size_t i = 0; P && P->have_recorder_bytes && i < P->nwindows; i++)
        if (P->windows[i].recorder_bytes > recorder)
            recorder = P->windows[i].recorder_bytes;
    /* at the end: memory kept after it was freed (trim); at the peak, with threads, arenas */
    uint64_t explained_end = base + rp->live_bytes + recorder;
    uint64_t explained_max = base + rp->peak_bytes + recorder;
    uint64_t gap_end =
        rp->final_rss_bytes > explained_end ? rp->final_rss_bytes - explained_end : 0;
    uint64_t gap_max = rp->max_rss_bytes > explained_max ? rp->max_rss_bytes - explained_max : 0;
    bool arenas = rp->threads > 1 && gap_max >= ADVICE_MIN_GAP && gap_max > rp->peak_bytes;
    bool trim = gap_end >= ADVICE_MIN_GAP && gap_end * 2 >= rp->final_rss_bytes;
    if (!arenas && !trim)
        return 0;
    advice_rec_t *r = advice_add(c, ADVICE_TUNE_ALLOCATOR);
    if (!r)
        return -PS_E_NOMEM;
    char b1[32], b2[32], b3[32], b4[32];
    r->raw = arenas ? gap_max : gap_end;
    r->count = r->raw;
    r->confidence = P && P->have_recorder_bytes ? ADVICE_MEDIUM : ADVICE_LOW;
    if (arenas)
        ADVICE_SET(title,
                   "Limit glibc's arenas (MALLOC_ARENA_MAX=2) or try jemalloc: RSS peaks "
                   "%s above the live heap",
                   fmt_bytes(b1, sizeof b1, gap_max));
    else
        ADVICE_SET(title,
                   "Give freed memory back (malloc_trim(0) after the burst, or "
                   "MALLOC_TRIM_THRESHOLD_): %s of RSS is retained at exit",
                   fmt_bytes(b1, sizeof b1, gap_end));
    ADVICE_SET(evidence,
               "RSS max %s and at exit %s; live heap peak %s, at exit %s; first RSS "
               "sample %" PRIu64 " B; %" PRIu64 " threads",
               fmt_bytes(b1, sizeof b1, rp->max_rss_bytes),
               fmt_bytes(b2, sizeof b2, rp->final_rss_bytes),
               fmt_bytes(b3, sizeof b3, rp->peak_bytes), fmt_bytes(b4, sizeof b4, rp->live_bytes),
               base, rp->threads);
    ADVICE_SET(method, "RSS less the live heap less the first RSS sample (code, stacks)%s, %s",
               recorder ? " less the recorder's own memory"
                        : " (the recorder's own buffers "
                          "included: not measured)",
               arenas ? "at the RSS peak" : "at exit");
    ADVICE_SET(tradeoff, "%s",
               arenas ? "fewer arenas: more contention on the allocator's locks"
                      : "trimming costs page faults when the heap grows again");
    ADVICE_SET(verify,
               "perfshim replay %s --allocator=glibc,jemalloc (peak RSS per allocator); "
               "or re-record with the setting and compare 'final RSS' in perfshim report "
               "--section summary",
               c->in->trace ? c->in->trace : "TRACE");
    return 0;
}

/* ---- ranking ------------------------------------------------------------------------- */

static int rec_cmp(const void *a, const void *b)
{
    const advice_rec_t *x = a, *y = b;
    if (x->share != y->share)
        return x->share > y->share ? -1 : 1;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

void advice_rank(advice_t *a)
{
    for (size_t i = 0; i < a->n; i++) {
        advice_rec_t *r = &a->recs[i];
        r->bound = r->unit == ADVICE_UNIT_NS       ? a->wall_bound
                   : r->unit == ADVICE_UNIT_CPU_NS ? a->cpu_bound
                                                   : a->bytes_bound;
        r->value = r->raw < r->bound ? r->raw : r->bound;
        r->share = r->bound ? (double)r->value / (double)r->bound : 0.0;
    }
    qsort(a->recs, a->n, sizeof(*a->recs), rec_cmp);
    if (a->n > ADVICE_MAX_RECS) /* the rest would save less than the 500th: not worth a line */
        a->n = ADVICE_MAX_RECS;
    for (size_t i = 0; i < a->n; i++)
        a->recs[i].rank = i + 1;
}

int advice_run(const advice_in_t *in, advice_t *out)
{
    memset(out, 0, sizeof(*out));
    const replay_t *rp = in->rp;
    advice_ctx_t c = {.in = in,
                      .out = out,
                      .cmd = rp->cmdline && rp->cmdline[0] ? rp->cmdline
                             : rp->exe                     ? rp->exe
                                                           : "PROGRAM"};
    const locks_t *L = rp->locks;
    c.single = rp->threads <= 1;
    out->wall_bound = rp->duration_ns;
    /* the threads' total wall time: a CPU saving of some thread is at most its wall time */
    uint64_t cpu = 0;
    for (size_t i = 0; L && i < L->nthreads; i++)
        cpu += L->threads[i].wall_ns;
    if (!cpu)
        cpu = rp->duration_ns * (rp->threads ? rp->threads : 1);
    out->cpu_bound = cpu;
    out->bytes_bound = rp->peak_bytes > rp->max_rss_bytes ? rp->peak_bytes : rp->max_rss_bytes;
    const pressure_t *P = in->pressure;
    if (P && P->nsites) {
        c.psites = malloc(P->nsites * sizeof(*c.psites));
        if (!c.psites)
            return -PS_E_NOMEM;
        for (size_t i = 0; i < P->nsites; i++)
            c.psites[i] = &P->sites[i];
        qsort(c.psites, P->nsites, sizeof(*c.psites), psite_cmp);
        c.npsites = P->nsites;
    }
    if (rp->nsites) {
        c.rsites = malloc(rp->nsites * sizeof(*c.rsites));
        if (!c.rsites) {
            free(c.psites);
            return -PS_E_NOMEM;
        }
        for (size_t i = 0; i < rp->nsites; i++)
            c.rsites[i] = &rp->sites[i];
        qsort(c.rsites, rp->nsites, sizeof(*c.rsites), rsite_cmp);
        c.nrsites = rp->nsites;
    }
    int rc = 0;
    for (unsigned k = 0; k < ADVICE_KIND_COUNT && rc == 0; k++)
        rc = advice_kinds[k].rule(&c);
    free(c.psites);
    free(c.rsites);
    if (rc < 0) {
        advice_free(out);
        return rc;
    }
    advice_rank(out);
    return 0;
}

void advice_free(advice_t *a)
{
    free(a->recs);
    memset(a, 0, sizeof(*a));
}
