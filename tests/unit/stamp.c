/* Unit tests of preload/stamp.{c,h} (issue 18: a clock read per run of events): the live-set
 * shard's guard makes one address' events sort across threads in the order they happened,
 * however stale the threads' floors are. Each thread's events are logged as the shim writes
 * them; the streams are then merged as the analyzer merges them (analyzer/core/pass.c: by the
 * timestamp in the trace's unit, 2^STAMP_Q ns, a release before an allocation at equal times,
 * then by stream), and every address' events must come out in the order they happened (each
 * carries its number in that order). Each thread's floor is its one first read (the worst
 * staleness): only the guard moves it. With the guard turned off (stamp_guard_on = 0,
 * PERFSHIM_CLOCK_GUARD=0 in the shim) the same run must come out of order: the test would
 * notice a guard that does nothing. The rule itself is checked on
 * two threads' sequences written by hand (the quantum step, the same thread's pass). And a
 * thread's clock: floors between exact reads, an exact read every stamp_every events and when
 * the staleness word changes, never decreasing. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "liveset.h"
#include "log.h"
#include "prim.h"
#include "stamp.h"
#include "test.h"

#define QUANT(ts) ((ts) >> STAMP_Q)

TEST(rule_by_hand)
{
    uint64_t s_ts = 0;
    uint32_t s_who = 0;
    uint64_t now = prim_now_ns();
    uint64_t base = now - 1000000; /* 1 ms ago: floors behind the clock */
    base &= ~((1ull << STAMP_Q) - 1);
    /* thread A (who 1<<8) at base + 10: the shard's first event is A's */
    expect_u64_eq(stamp_guard(&s_ts, &s_who, base + 10, 1u << 8), base + 10);
    /* A again, same floor: as is (the stream's own order) */
    expect_u64_eq(stamp_guard(&s_ts, &s_who, base + 10, 1u << 8), base + 10);
    /* B with a floor in a later quantum: as is */
    uint64_t b = base + 200;
    expect_u64_eq(stamp_guard(&s_ts, &s_who, b, 2u << 8), b);
    /* A with a floor in B's quantum (behind it): an exact read, now, in a later quantum */
    uint64_t a = stamp_guard(&s_ts, &s_who, base + 128, 1u << 8);
    expect_true(QUANT(a) > QUANT(b));
    expect_true(a >= now);
    expect_u64_eq(s_ts, a);
    /* B with a floor far behind: after A's stamp again */
    uint64_t b2 = stamp_guard(&s_ts, &s_who, b, 2u << 8);
    expect_true(QUANT(b2) > QUANT(a));
    /* a stamp ahead of the clock (raised): the next thread goes to the next quantum, not to
     * the clock, which is behind */
    s_ts = prim_now_ns() + 10000000; /* 10 ms ahead */
    s_who = 3u << 8;
    uint64_t ahead = s_ts, c = stamp_guard(&s_ts, &s_who, base, 4u << 8);
    expect_u64_eq(c, (ahead | ((1ull << STAMP_Q) - 1)) + 1);
    expect_u64_eq(QUANT(c), QUANT(c - 1) + 1);
}

TEST(thread_clock_floors)
{
    uint32_t every = stamp_every;
    uint64_t tick = stamp_tick;
    stamp_every = 8;
    stamp_tick = 5; /* a writer thread's word, not changing */
    stamp_clock_t c;
    memset(&c, 0, sizeof c);
    uint64_t t0 = stamp_now(&c); /* a new thread: exact */
    expect_true(t0 != 0);
    for (int i = 0; i < 7; i++)
        expect_u64_eq(stamp_now(&c), t0); /* floors */
    uint64_t t1 = stamp_now(&c); /* the 8th since: exact again */
    expect_true(t1 >= t0);
    for (int i = 0; i < 3; i++)
        expect_u64_eq(stamp_now(&c), t1);
    stamp_tick = 6; /* time moved on: exact at once */
    uint64_t t2 = stamp_now(&c);
    expect_true(t2 >= t1);
    expect_u64_eq(c.left, 7);
    /* a guard's raise is the floor from then on: never lower */
    stamp_set(&c, t2 + 5000);
    expect_u64_eq(stamp_now(&c), t2 + 5000);
    stamp_tick = 7;
    expect_true(stamp_now(&c) >= t2 + 5000); /* exact, but not below the floor */
    /* 1: every event exact */
    stamp_every = 1;
    uint64_t prev = stamp_now(&c);
    for (int i = 0; i < 1000; i++) {
        uint64_t t = stamp_now(&c);
        expect_true(t >= prev);
        prev = t;
    }
    expect_u64_eq(c.left, 0);
    stamp_every = every;
    stamp_tick = tick;
}

/* ---- threads handing blocks to each other through a queue ----------------------------- */

#define NT 4
#define NADDR 48
#define ITER 60000

typedef struct ev_s {
    uint64_t ts, ptr;
    uint32_t seq; /* the address' event number in real order */
    int kind;     /* 0 a release, 1 an allocation (the analyzer's key bit) */
} ev_t;

static ev_t *logs[NT];
static size_t nlog[NT];
static pthread_mutex_t qm = PTHREAD_MUTEX_INITIALIZER;
static uint64_t freeq[NADDR], liveq[NT][NADDR]; /* liveq[k]: blocks for thread k to free */
static size_t nfree, live_head[NT], live_n[NT];
static uint64_t region; /* the addresses' base: a fresh range for each run */
static uint64_t missing;
static uint32_t aseq[NADDR]; /* events of each address so far (its holder's to change) */
static uint64_t events; /* every thread's, until NT * ITER */ /* removes that did not find their block (none expected) */

static void *hand_off(void *arg)
{
    int me = (int)(intptr_t)arg;
    uint32_t who = LIVESET_WHO(me + 100);
    stamp_clock_t c;
    memset(&c, 0, sizeof c);
    usleep(200u * (unsigned)me); /* each thread's one exact read at a different time */
    for (uint64_t i = 0; __atomic_load_n(&events, __ATOMIC_RELAXED) < NT * ITER; i++) {
        uint64_t x = 0, y = 0;
        pthread_mutex_lock(&qm);
        if (nfree)
            x = freeq[--nfree];
        pthread_mutex_unlock(&qm);
        if (x) { /* the allocation: after the "allocator" gave x out */
            liveset_stamp_t t = {stamp_now(&c), who};
            liveset_insert(x, 16, 0, &t);
            stamp_set(&c, t.ts);
            logs[me][nlog[me]++] = (ev_t){t.ts, x, aseq[(x - region) / 0x4010]++, 1};
            int to = (me + 1 + (int)(i % (NT - 1))) % NT; /* another thread frees it */
            pthread_mutex_lock(&qm);
            liveq[to][(live_head[to] + live_n[to]++) % NADDR] = x;
            pthread_mutex_unlock(&qm);
        }
        pthread_mutex_lock(&qm);
        if (live_n[me]) { /* the oldest block another thread passed to this one */
            y = liveq[me][live_head[me]];
            live_head[me] = (live_head[me] + 1) % NADDR;
            live_n[me]--;
        }
        pthread_mutex_unlock(&qm);
        if (y) { /* the free: before the "allocator" may give y out again */
            liveset_stamp_t t = {stamp_now(&c), who};
            if (!liveset_remove(y, NULL, &t))
                __atomic_add_fetch(&missing, 1, __ATOMIC_RELAXED);
            stamp_set(&c, t.ts);
            logs[me][nlog[me]++] = (ev_t){t.ts, y, aseq[(y - region) / 0x4010]++, 0};
            pthread_mutex_lock(&qm);
            freeq[nfree++] = y;
            pthread_mutex_unlock(&qm);
        }
        if (x || y)
            __atomic_add_fetch(&events, (x != 0) + (y != 0), __ATOMIC_RELAXED);
        else
            sched_yield(); /* the blocks are with other threads */
    }
    return NULL;
}

/* Merges the logs as the analyzer does and counts the events out of order for their address:
 * not the next of its events in real order (and, as the analyzer would see it, an allocation
 * of a live block or a release of a free one). */
static uint64_t merged_inversions(void)
{
    size_t pos[NT] = {0};
    uint32_t next[NADDR] = {0};
    uint64_t bad = 0, n = 0;
    for (;;) {
        int best = -1;
        uint64_t bk = 0;
        for (int k = 0; k < NT; k++) {
            if (pos[k] == nlog[k])
                continue;
            const ev_t *e = &logs[k][pos[k]];
            uint64_t key = QUANT(e->ts) << 1 | (uint64_t)e->kind;
            if (best < 0 || key < bk) /* ties: the lower stream */
                best = k, bk = key;
        }
        if (best < 0)
            break;
        const ev_t *e = &logs[best][pos[best]++];
        size_t i = (size_t)((e->ptr - region) / 0x4010);
        bad += e->seq != next[i];
        next[i] = e->seq + 1;
        n++;
    }
    uint64_t total = 0;
    for (int k = 0; k < NT; k++)
        total += nlog[k];
    expect_u64_eq(n, total);
    return bad;
}

static uint64_t run_hand_off(int guard, uint64_t base)
{
    stamp_guard_on = guard;
    region = base;
    nfree = 0;
    memset(live_head, 0, sizeof live_head);
    memset(live_n, 0, sizeof live_n);
    events = 0;
    memset(aseq, 0, sizeof aseq);
    for (int i = 0; i < NADDR; i++) /* 16 KiB apart: a few blocks in each of 12 shards */
        freeq[nfree++] = base + (uint64_t)i * 0x4010;
    pthread_t th[NT];
    for (int k = 0; k < NT; k++) {
        nlog[k] = 0;
        assert_true((logs[k] = malloc((NT * ITER + 2 * NT) * sizeof(ev_t))) != NULL);
        assert_true(pthread_create(&th[k], NULL, hand_off, (void *)(intptr_t)k) == 0);
    }
    for (int k = 0; k < NT; k++)
        pthread_join(th[k], NULL);
    expect_u64_eq(missing, 0);
    uint64_t bad = merged_inversions();
    uint64_t ev = 0;
    for (int k = 0; k < NT; k++) {
        ev += nlog[k];
        /* a thread's stamps never decrease */
        for (size_t j = 1; j < nlog[k]; j++)
            expect_true(logs[k][j].ts >= logs[k][j - 1].ts);
        free(logs[k]);
    }
    expect_true(ev >= NT * ITER);
    for (int k = 0; k < NT; k++) /* empty the set for the next run */
        for (size_t i = 0; i < live_n[k]; i++)
            liveset_remove(liveq[k][(live_head[k] + i) % NADDR], NULL, NULL);
    stamp_guard_on = 1;
    return bad;
}

TEST(hand_off_order_exact)
{
    uint32_t every = stamp_every;
    uint64_t tick = stamp_tick;
    /* the worst case: a thread's first read is its floor for the whole run (no exact read by
     * count, the staleness word never changes); only the guard moves it */
    stamp_every = 1u << 30;
    stamp_tick = 1;
    uint64_t bad = run_hand_off(1, 0x7c0000000000ull);
    expect_u64_eq(bad, 0);
    /* the same without the guard: the floors alone put frees and reuses out of order */
    uint64_t bad_off = run_hand_off(0, 0x7c1000000000ull);
    expect_true(bad_off > 0);
    PS_LOG(2, "hand-off: %llu events out of order without the guard", (unsigned long long)bad_off);
    stamp_every = every;
    stamp_tick = tick;
}

TEST_MAIN(TEST_ENTRY(rule_by_hand), TEST_ENTRY(thread_clock_floors),
          TEST_ENTRY(hand_off_order_exact))
