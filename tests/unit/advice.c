/*
 * tests/unit/advice.c -- the recommendation engine (analyzer/analyses/advice.c) on hand-filled
 * analysis results with known truth: each rule's count and estimate, the Amdahl bounds (wall
 * time for one thread, the threads' time for CPU), the ranking by share, the rules skipped
 * without the pressure facts, and the kind names (an interface: never renamed).
 */
#include <stdlib.h>
#include <string.h>

#include "analyses/advice.h"
#include "analyses/locks.h"
#include "test.h"

/* A replay of one thread, 1 s, with sites given as (allocations, frees, temporary, size). */
static void site(replay_site_t *s, uint32_t id, uint64_t allocs, uint64_t frees, uint64_t temp,
                 uint64_t size)
{
    memset(s, 0, sizeof(*s));
    s->stack_id = id;
    s->allocations = allocs;
    s->frees = frees;
    s->temporary = temp;
    s->bytes = allocs * size;
    for (uint64_t i = 0; i < allocs; i++)
        replay_hist_add(&s->sizes, size);
}

static void replay(replay_t *rp, replay_site_t *sites, size_t n, uint64_t duration,
                   uint64_t threads)
{
    memset(rp, 0, sizeof(*rp));
    rp->duration_ns = duration;
    rp->threads = threads;
    rp->sites = sites;
    rp->nsites = n;
    rp->exe = (char *)"/bin/x";
    rp->cmdline = (char *)"x --run";
    for (size_t i = 0; i < n; i++)
        replay_hist_merge(&rp->sizes, &sites[i].sizes);
}

static const advice_rec_t *find(const advice_t *a, enum advice_kind k, uint32_t stack)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->recs[i].kind == k && (!stack || a->recs[i].stack_id == stack))
            return &a->recs[i];
    return NULL;
}

TEST(kind_names_are_stable)
{
    static const char *const names[] = {
        "pool",       "stack_buffer", "reserve",     "alloc_outside_lock",
        "shard_lock", "fix_leak",     "reduce_peak", "tune_allocator"};
    for (int k = 0; k < 8; k++)
        expect_str_eq(advice_kind_name((enum advice_kind)k), names[k]);
    expect_str_eq(advice_unit_name(ADVICE_UNIT_CPU_NS), "cpu_ns");
    expect_u64_eq(advice_pair_ns(48), 20);
    expect_u64_eq(advice_pair_ns(2048), 60);
    expect_u64_eq(advice_pair_ns(1u << 20), 100);
    expect_u64_eq(advice_pair_ns(64u << 20), 20000);
}

/* A churn site of N tiny scoped pairs is a stack buffer, one of N larger pairs in a window a
 * pool, each with its exact count and estimate; a site that keeps its blocks is neither. */
TEST(churn_sites)
{
    replay_site_t s[3];
    site(&s[0], 1, 5000, 5000, 5000, 48); /* tiny, freed at once */
    site(&s[1], 2, 3000, 3000, 10, 2048); /* a window: not temporary */
    site(&s[2], 3, 9000, 100, 0, 64);     /* kept: no churn */
    replay_t rp;
    replay(&rp, s, 3, 1000000000, 1);
    advice_t a;
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp}, &a), 0);
    const advice_rec_t *sb = find(&a, ADVICE_STACK_BUFFER, 1), *pl = find(&a, ADVICE_POOL, 2);
    assert_true(sb && pl);
    expect_u64_eq(sb->count, 5000);
    expect_u64_eq(sb->value, 5000 * 20);
    expect_u64_eq(sb->unit, ADVICE_UNIT_NS);
    expect_u64_eq(pl->count, 3000);
    expect_u64_eq(pl->value, 3000 * 58);
    expect_true(!find(&a, ADVICE_POOL, 1) && !find(&a, ADVICE_STACK_BUFFER, 2));
    expect_true(!find(&a, ADVICE_POOL, 3) && !find(&a, ADVICE_STACK_BUFFER, 3));
    /* ranked by saving: the pool's 174 us before the stack buffer's 100 us */
    expect_u64_eq(a.recs[0].kind, ADVICE_POOL);
    expect_u64_eq(a.recs[0].rank, 1);
    expect_u64_eq(a.recs[1].rank, 2);
    expect_true(a.recs[0].share > a.recs[1].share);
    expect_true(strstr(pl->title, "3000") != NULL);
    advice_free(&a);
}

/* Amdahl: a saving of wall time is at most the run's wall time; of CPU time (several
 * threads), at most the threads' time. */
TEST(amdahl_bounds)
{
    replay_site_t s[1];
    site(&s[0], 1, 100000, 100000, 100000, 16); /* 100000 x 20 ns = 2 ms */
    replay_t rp;
    replay(&rp, s, 1, 1000000, 1); /* a 1 ms run */
    advice_t a;
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp}, &a), 0);
    assert_u64_eq(a.n, 1);
    expect_u64_eq(a.recs[0].raw, 2000000);
    expect_u64_eq(a.recs[0].value, 1000000);
    expect_u64_eq(a.recs[0].bound, 1000000);
    expect_true(a.recs[0].share == 1.0);
    advice_free(&a);
    replay(&rp, s, 1, 1000000, 3); /* three threads: CPU time, bound 3 ms */
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp}, &a), 0);
    expect_u64_eq(a.recs[0].unit, ADVICE_UNIT_CPU_NS);
    expect_u64_eq(a.recs[0].bound, 3000000);
    expect_u64_eq(a.recs[0].value, 2000000);
    advice_free(&a);
    /* advice_rank alone: values capped, shares ordered */
    advice_rec_t r[2] = {{.kind = ADVICE_FIX_LEAK, .unit = ADVICE_UNIT_BYTES, .raw = 10},
                         {.kind = ADVICE_SHARD_LOCK, .unit = ADVICE_UNIT_NS, .raw = 900}};
    advice_t b = {.recs = r, .n = 2, .wall_bound = 1000, .bytes_bound = 20};
    advice_rank(&b);
    expect_u64_eq(r[0].kind, ADVICE_SHARD_LOCK); /* 90% before 50% */
    expect_u64_eq(r[1].value, 10);
    /* at most ADVICE_MAX_RECS kept: the largest */
    advice_rec_t *many = calloc(600, sizeof(*many));
    assert_true(many != NULL);
    for (int i = 0; i < 600; i++)
        many[i] = (advice_rec_t){.kind = ADVICE_POOL, .unit = ADVICE_UNIT_NS, .raw = 1 + i};
    advice_t c = {.recs = many, .n = 600, .wall_bound = 1000};
    advice_rank(&c);
    expect_u64_eq(c.n, ADVICE_MAX_RECS);
    expect_u64_eq(many[0].value, 600);
    expect_u64_eq(many[ADVICE_MAX_RECS - 1].value, 101);
    expect_u64_eq(many[ADVICE_MAX_RECS - 1].rank, ADVICE_MAX_RECS);
    free(many);
}

/* Growth chains need the pressure facts: skipped without them, estimated with them. */
TEST(reserve_needs_pressure)
{
    replay_site_t s[1];
    site(&s[0], 7, 10, 0, 0, 1000);
    replay_t rp;
    replay(&rp, s, 1, 1000000000, 1);
    advice_t a;
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp}, &a), 0);
    expect_true(!find(&a, ADVICE_RESERVE, 0));
    advice_free(&a);
    pressure_site_t ps = {.stack_id = 7,
                          .realloc_steps = 100,
                          .realloc_chains = 10,
                          .realloc_bytes_copied = 5000,
                          .realloc_final_max = 1000};
    pressure_t P = {.sites = &ps, .nsites = 1};
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp, .pressure = &P}, &a), 0);
    const advice_rec_t *r = find(&a, ADVICE_RESERVE, 7);
    assert_true(r != NULL);
    expect_u64_eq(r->count, 100);
    expect_u64_eq(r->value, 100 * 20 + 5000 * 5 / 100);
    expect_u64_eq(r->confidence, ADVICE_MEDIUM);
    advice_free(&a);
    /* measured: the steps x the site's allocator time per call without interrupted calls
     * (110 calls: 10 chains begun + 100 steps; 3300 ns steady -> 30 ns per call) */
    s[0].alloc_ns = 99000;
    s[0].alloc_ns_steady = 3300;
    s[0].alloc_ns_typical = 1100;
    s[0].alloc_ns_calls = 110;
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp, .pressure = &P}, &a), 0);
    r = find(&a, ADVICE_RESERVE, 7);
    assert_true(r != NULL);
    expect_u64_eq(r->value, 100 * 30);
    expect_u64_eq(r->confidence, ADVICE_HIGH);
    expect_true(strstr(r->method, "measured") != NULL);
    advice_free(&a);
}

/* The ALLOC_COST corrections (replay.h): without the calls the machine interrupted (>= 16 us
 * and >= 64x the median bucket, taken out at their bucket's midpoint), and at the median. */
TEST(alloc_cost_corrections)
{
    ps_rec_alloc_cost_t c = {.calls = 800, .sampled = 100};
    c.hist[3] = 60; /* [8, 16) ns */
    c.hist[4] = 38; /* [16, 32) */
    c.hist[20] = 2; /* [2^20, 2^21) ns, about 1-2 ms: preempted */
    /* the timed calls' ns: 60 x 10 + 38 x 20 + 2 at their bucket's midpoint; x 8 calls each */
    c.ns = (1360 + 2 * 1572864) * 8;
    /* kept: 1360 ns over 98 calls (within their buckets' bounds [1088, 2176)), x 800 calls */
    expect_u64_eq(replay_cost_steady(&c), (uint64_t)(1360.0 / 98 * 800 + 0.5));
    /* median: the 50th of 100 in [8, 16): 8 + 8 x 50 / 60 = 14.67 ns, x 800 calls */
    expect_u64_eq(replay_cost_typical(&c), (uint64_t)((8 + 8.0 * 50 / 60) * 800 + 0.5));
    /* a call in the open last bucket (>= 2^23 ns, no midpoint): the kept calls at their
     * buckets' midpoints, 60 x 12 + 38 x 24 = 1632 ns over 98 */
    c.hist[23] = 1;
    c.hist[20] = 1;
    c.ns = (1360 + 1572864 + 50000000) * 8;
    expect_u64_eq(replay_cost_steady(&c), (uint64_t)(1632.0 / 98 * 800 + 0.5));
    c.hist[23] = 0;
    /* nothing interrupted: steady is the record's ns */
    c.hist[20] = 0;
    c.hist[4] = 40;
    c.ns = 1400 * 8;
    expect_u64_eq(replay_cost_steady(&c), 1400 * 8);
    /* a histogram that does not add up to the timed calls: the record's ns, unchanged */
    c.hist[4] = 0;
    expect_u64_eq(replay_cost_steady(&c), 1400 * 8);
    expect_u64_eq(replay_cost_typical(&c), 1400 * 8);
}

/* Leaks rank by bytes (a definite group with what it holds); locks by their Amdahl bound. */
TEST(leaks_and_locks)
{
    replay_t rp;
    replay(&rp, NULL, 0, 1000000000, 2);
    rp.peak_bytes = 1u << 20;
    static const uint64_t ips1[] = {0x1}, ips2[] = {0x2};
    leak_group_t g[3] = {
        {.kind = PS_LEAK_DEFINITE,
         .ips = ips1,
         .depth = 1,
         .blocks = 1,
         .bytes = 100,
         .held_by = -1},
        {.kind = PS_LEAK_DEFINITE,
         .ips = ips2,
         .depth = 1,
         .blocks = 2,
         .bytes = 500,
         .held_by = -1},
        {.kind = PS_LEAK_INDIRECT,
         .ips = ips2,
         .depth = 1,
         .blocks = 1,
         .bytes = 1000,
         .held_by = 0},
    };
    leaks_t L = {.have_scan = true, .groups = g, .ngroups = 3};
    locks_lock_t k = {.addr = 0xabc,
                      .kind = PS_LOCK_MUTEX,
                      .acquisitions = 1000,
                      .contended = 500,
                      .amdahl_ns = 300000000,
                      .allocs_held = 1000};
    locks_t lk = {.any = true, .locks = &k, .nlocks = 1};
    rp.locks = &lk;
    advice_t a;
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp, .leaks = &L}, &a), 0);
    const advice_rec_t *l0 = NULL, *l1 = NULL;
    for (size_t i = 0; i < a.n; i++)
        if (a.recs[i].kind == ADVICE_FIX_LEAK)
            *(l0 ? &l1 : &l0) = &a.recs[i];
    assert_true(l0 && l1);
    expect_u64_eq(l0->value, 1100); /* 100 + the 1000 it holds, before 500 */
    expect_u64_eq(l1->value, 500);
    const advice_rec_t *sh = find(&a, ADVICE_SHARD_LOCK, 0),
                       *ao = find(&a, ADVICE_ALLOC_OUTSIDE_LOCK, 0);
    assert_true(sh && ao);
    expect_u64_eq(sh->value, 300000000);
    expect_u64_eq(sh->unit, ADVICE_UNIT_NS);
    expect_u64_eq(a.recs[0].kind, ADVICE_SHARD_LOCK); /* 30% of the run first */
    expect_u64_eq(ao->value, 1000 * 20 / 2);          /* x the contended share 1/2 */
    expect_true(strstr(ao->title, "0xabc") != NULL);
    advice_free(&a);
}

/* RSS far above the live heap: trim at exit (one thread), arenas at the peak (threads). */
TEST(tune_allocator)
{
    replay_t rp;
    replay(&rp, NULL, 0, 1000000000, 1);
    rp.have_rss = true;
    rp.slices[0].rss_bytes = 2u << 20;
    rp.final_rss_bytes = 100u << 20;
    rp.max_rss_bytes = 100u << 20;
    rp.live_bytes = 1u << 20;
    rp.peak_bytes = 90u << 20;
    advice_t a;
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp}, &a), 0);
    const advice_rec_t *r = find(&a, ADVICE_TUNE_ALLOCATOR, 0);
    assert_true(r != NULL);
    expect_u64_eq(r->value, 97u << 20); /* 100 - 1 live - 2 first sample */
    expect_true(strstr(r->title, "trim") != NULL);
    advice_free(&a);
    rp.threads = 4;
    rp.max_rss_bytes = 300u << 20;
    rp.peak_bytes = 10u << 20;
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp}, &a), 0);
    r = find(&a, ADVICE_TUNE_ALLOCATOR, 0);
    assert_true(r != NULL);
    expect_u64_eq(r->value, 288u << 20); /* 300 - 10 peak - 2 */
    expect_true(strstr(r->title, "MALLOC_ARENA_MAX") != NULL);
    advice_free(&a);
    rp.final_rss_bytes = 4u << 20; /* explained: nothing */
    rp.max_rss_bytes = 12u << 20;
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp}, &a), 0);
    expect_true(!find(&a, ADVICE_TUNE_ALLOCATOR, 0));
    advice_free(&a);
}

/* With the pressure facts: the shim's measured allocator time replaces the model, and the
 * allocations under a lock name the site that makes most of them. */
TEST(measured_and_under_lock)
{
    replay_site_t s[1];
    site(&s[0], 4, 1000, 1000, 0, 2048);
    replay_t rp;
    replay(&rp, s, 1, 1000000000, 1);
    locks_lock_t k = {.addr = 0xabc,
                      .kind = PS_LOCK_MUTEX,
                      .acquisitions = 1000,
                      .contended = 1000,
                      .amdahl_ns = 500000000,
                      .allocs_held = 1000};
    locks_t lk = {.any = true, .locks = &k, .nlocks = 1};
    rp.locks = &lk;
    /* the replay's site carries the ALLOC_COST totals: as measured, without interrupted
     * calls (steady), at the median call (typical) */
    s[0].alloc_ns = s[0].alloc_ns_steady = s[0].alloc_ns_typical = 50000;
    s[0].alloc_ns_calls = 1000;
    pressure_site_t ps = {.stack_id = 4,
                          .alloc_ns = 50000,
                          .alloc_ns_calls = 1000,
                          .under_lock = 900,
                          .under_lock_lock = 0xabc};
    pressure_t P = {.sites = &ps, .nsites = 1, .have_alloc_ns = true, .have_under_lock = true};
    advice_t a;
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp, .pressure = &P}, &a), 0);
    const advice_rec_t *pl = find(&a, ADVICE_POOL, 4), *ao = find(&a, ADVICE_ALLOC_OUTSIDE_LOCK, 0);
    assert_true(pl && ao);
    expect_u64_eq(pl->value, 1000 * (50 + 60 / 2 - 2)); /* measured 50 + half the model's 60 */
    expect_true(strstr(pl->method, "measured") != NULL);
    expect_u64_eq(pl->confidence, ADVICE_HIGH);
    expect_u64_eq(ao->stack_id, 4);
    expect_true(strstr(ao->title, "stack #4: 900") != NULL);
    advice_free(&a);
}

/* The lock models on known inputs (advice.h): saturation = waits / ((n - 1) x hold), at most
 * 1; shard_lock = hold x (1 - 1/n) x saturation + waits / (n - 1), at most the run less
 * hold / n; alloc_outside_lock = moved x saturation + (moved / hold) x waits / (n - 1), moved
 * = allocations while held x (measured allocator time per call at the site + per release). */
TEST(lock_models)
{
    expect_true(advice_lock_saturation(1u << 29, 1u << 28, 2) == 0.5);
    expect_true(advice_lock_saturation(1u << 28, 1u << 30, 3) == 1.0); /* capped */
    expect_u64_eq(advice_shard_ns(1u << 28, 1u << 30, 3, 2000000000), 715827882);
    expect_u64_eq(advice_shard_ns(800000000, 900000000, 2, 1000000000), 600000000); /* 1e9-4e8 */
    expect_u64_eq(advice_shard_ns(100, 100, 1, 1000), 0); /* one thread: nothing to spread */
    expect_u64_eq(advice_unlock_ns(1u << 17, 1u << 29, 1u << 28, 2, 1000000000), 1u << 17);
    /* moved more than held: at most sharding's saving */
    expect_u64_eq(advice_unlock_ns(1u << 30, 1u << 29, 1u << 28, 2, 1000000000),
                  advice_shard_ns(1u << 29, 1u << 28, 2, 1000000000));

    /* through the rules: two threads waited on the lock; its totals known */
    replay_site_t s[1];
    site(&s[0], 4, 1024, 1024, 0, 64);
    replay_t rp;
    replay(&rp, s, 1, 1000000000, 3);
    rp.have_alloc_cost = true;
    rp.release_ns = rp.release_ns_steady = rp.release_ns_typical = 64 * 1024;
    rp.release_ns_calls = 1024;
    s[0].alloc_ns = s[0].alloc_ns_steady = s[0].alloc_ns_typical = 64 * 1024;
    s[0].alloc_ns_calls = 1024;
    locks_twait_t tw[2] = {{.tid = 2, .wait_ns = 1u << 27}, {.tid = 3, .wait_ns = 1u << 27}};
    locks_lock_t k = {.addr = 0xabc,
                      .kind = PS_LOCK_MUTEX,
                      .have_totals = true,
                      .acquisitions = 100000,
                      .contended = 1000,
                      .hold_ns = 1u << 29,
                      .wait_ns = 1u << 28,
                      .amdahl_ns = 1u << 27,
                      .allocs_held = 1024,
                      .twait = tw,
                      .ntwait = 2};
    locks_t lk = {.any = true, .locks = &k, .nlocks = 1};
    rp.locks = &lk;
    pressure_site_t ps = {.stack_id = 4,
                          .alloc_ns = 64 * 1024,
                          .alloc_ns_calls = 1024,
                          .under_lock = 1024,
                          .under_lock_lock = 0xabc};
    pressure_t P = {.sites = &ps, .nsites = 1, .have_alloc_ns = true, .have_under_lock = true};
    advice_t a;
    assert_u64_eq(advice_run(&(advice_in_t){.rp = &rp, .pressure = &P}, &a), 0);
    const advice_rec_t *sh = find(&a, ADVICE_SHARD_LOCK, 0),
                       *ao = find(&a, ADVICE_ALLOC_OUTSIDE_LOCK, 0);
    assert_true(sh && ao);
    /* 2^29 x 1/2 x saturation 1/2 + 2^28 / 1 (the Amdahl bound of the waits is 2^27) */
    expect_u64_eq(sh->value, (1u << 27) + (1u << 28));
    expect_u64_eq(sh->unit, ADVICE_UNIT_NS);
    /* 1024 x (64 measured at the site + 64 per release) = 2^17 moved: 2^16 + 2^-12 x 2^28 */
    expect_u64_eq(ao->value, 1u << 17);
    expect_u64_eq(ao->confidence, ADVICE_MEDIUM);
    expect_true(strstr(ao->method, "measured") != NULL);
    advice_free(&a);
}

TEST_MAIN(TEST_ENTRY(kind_names_are_stable), TEST_ENTRY(measured_and_under_lock),
          TEST_ENTRY(tune_allocator), TEST_ENTRY(churn_sites), TEST_ENTRY(amdahl_bounds),
          TEST_ENTRY(reserve_needs_pressure), TEST_ENTRY(alloc_cost_corrections), TEST_ENTRY(leaks_and_locks),
          TEST_ENTRY(lock_models))
