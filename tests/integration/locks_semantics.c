/*
 * locks_semantics -- under the shim every lock function returns exactly what glibc returns
 * natively (the workload checks each result itself and exits 1 on any difference), and the
 * report counts each case exactly: error-checking mutex (EDEADLK, EPERM), recursive mutex,
 * robust mutex whose owner died (EOWNERDEAD), trylock failures (EBUSY) of mutex, rwlock and
 * spinlock, timed locks that time out (ETIMEDOUT), a condvar producer/consumer, and an
 * A-then-B / B-then-A lock order (never deadlocking: the two run one after the other) that
 * must be reported as a cycle with both stacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "locks_check.h"

#define N_ITEMS 1000
#define N_TRY_FAIL 5
#define N_TIMEOUT 2

static int bad;
#define EXPECT_RC(call, want)                                                                  \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != (want)) {                                                                   \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d\n", __FILE__, __LINE__,        \
                    #call, rc_, (want));                                                       \
            bad++;                                                                             \
        }                                                                                      \
    } while (0)

/* ---- error-checking and recursive mutexes --------------------------------------------- */
static pthread_mutex_t errchk, recur;

__attribute__((noinline)) void errchk_use(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&errchk, &a);
    EXPECT_RC(pthread_mutex_lock(&errchk), 0);
    EXPECT_RC(pthread_mutex_lock(&errchk), EDEADLK); /* relock by the owner */
    EXPECT_RC(pthread_mutex_unlock(&errchk), 0);
    EXPECT_RC(pthread_mutex_unlock(&errchk), EPERM); /* not the owner any more */
}

__attribute__((noinline)) void recur_use(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&recur, &a);
    for (int i = 0; i < 3; i++)
        EXPECT_RC(pthread_mutex_lock(&recur), 0);
    EXPECT_RC(pthread_mutex_trylock(&recur), 0); /* the owner may take it again */
    for (int i = 0; i < 4; i++)
        EXPECT_RC(pthread_mutex_unlock(&recur), 0);
    EXPECT_RC(pthread_mutex_unlock(&recur), EPERM);
}

/* ---- robust mutex: the owner dies holding it ------------------------------------------ */
static pthread_mutex_t robust;

static void *robust_owner(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&robust);
    return NULL; /* exits holding it */
}

__attribute__((noinline)) void robust_use(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &a);
    pthread_t t;
    pthread_create(&t, NULL, robust_owner, NULL);
    pthread_join(t, NULL);
    EXPECT_RC(pthread_mutex_lock(&robust), EOWNERDEAD);
    EXPECT_RC(pthread_mutex_consistent(&robust), 0);
    EXPECT_RC(pthread_mutex_unlock(&robust), 0);
}

/* ---- trylock failures and timeouts: a helper holds everything ------------------------- */
static pthread_mutex_t held_m = PTHREAD_MUTEX_INITIALIZER; /* static initializer */
static pthread_rwlock_t held_rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_spinlock_t held_spin;
static pthread_barrier_t bar;

static void *holder(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&held_m);
    pthread_rwlock_rdlock(&held_rw);
    pthread_spin_lock(&held_spin);
    pthread_barrier_wait(&bar); /* all held */
    pthread_barrier_wait(&bar); /* the main thread is done trying */
    pthread_spin_unlock(&held_spin);
    pthread_rwlock_unlock(&held_rw);
    pthread_mutex_unlock(&held_m);
    return NULL;
}

static struct timespec in_ms(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += (long)ms * 1000000;
    t.tv_sec += t.tv_nsec / 1000000000;
    t.tv_nsec %= 1000000000;
    return t;
}

__attribute__((noinline)) void try_mutex(void) { EXPECT_RC(pthread_mutex_trylock(&held_m), EBUSY); }
__attribute__((noinline)) void try_rwlock(void) { EXPECT_RC(pthread_rwlock_trywrlock(&held_rw), EBUSY); }
__attribute__((noinline)) void try_spin(void) { EXPECT_RC(pthread_spin_trylock(&held_spin), EBUSY); }
__attribute__((noinline)) void timed_mutex(void)
{
    struct timespec t = in_ms(20);
    EXPECT_RC(pthread_mutex_timedlock(&held_m, &t), ETIMEDOUT);
}
__attribute__((noinline)) void timed_rwlock(void)
{
    struct timespec t = in_ms(20);
    EXPECT_RC(pthread_rwlock_timedwrlock(&held_rw, &t), ETIMEDOUT);
}

__attribute__((noinline)) void busy_use(void)
{
    pthread_spin_init(&held_spin, PTHREAD_PROCESS_PRIVATE);
    pthread_barrier_init(&bar, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, holder, NULL);
    pthread_barrier_wait(&bar);
    for (int i = 0; i < N_TRY_FAIL; i++) {
        try_mutex();
        try_rwlock();
        try_spin();
    }
    for (int i = 0; i < N_TIMEOUT; i++) {
        timed_mutex();
        timed_rwlock();
    }
    EXPECT_RC(pthread_rwlock_tryrdlock(&held_rw), 0); /* readers share */
    EXPECT_RC(pthread_rwlock_unlock(&held_rw), 0);
    pthread_barrier_wait(&bar);
    pthread_join(t, NULL);
}

/* ---- condvar producer/consumer through a one-slot buffer ------------------------------ */
static pthread_mutex_t pc_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER, not_full = PTHREAD_COND_INITIALIZER;
static int slot_full, slot_value;
static long consumed_sum;

__attribute__((noinline)) void produce(int v)
{
    pthread_mutex_lock(&pc_m);
    while (slot_full)
        pthread_cond_wait(&not_full, &pc_m);
    slot_full = 1;
    slot_value = v;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&pc_m);
}

__attribute__((noinline)) int consume(void)
{
    pthread_mutex_lock(&pc_m);
    while (!slot_full)
        pthread_cond_wait(&not_empty, &pc_m);
    slot_full = 0;
    int v = slot_value;
    pthread_cond_signal(&not_full);
    pthread_mutex_unlock(&pc_m);
    return v;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < N_ITEMS; i++)
        consumed_sum += consume();
    return NULL;
}

/* ---- lock order: A then B here, B then A there ---------------------------------------- */
static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER, lock_b = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) void take_a_then_b(void)
{
    pthread_mutex_lock(&lock_a);
    pthread_mutex_lock(&lock_b);
    pthread_mutex_unlock(&lock_b);
    pthread_mutex_unlock(&lock_a);
}

__attribute__((noinline)) void take_b_then_a(void)
{
    pthread_mutex_lock(&lock_b);
    pthread_mutex_lock(&lock_a);
    pthread_mutex_unlock(&lock_a);
    pthread_mutex_unlock(&lock_b);
}

static void *order_thread(void *arg)
{
    if (arg)
        take_b_then_a();
    else
        take_a_then_b();
    return NULL;
}

static void run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    errchk_use();
    recur_use();
    robust_use();
    busy_use();
    pthread_t c;
    pthread_create(&c, NULL, consumer, NULL);
    for (int i = 1; i <= N_ITEMS; i++)
        produce(i);
    pthread_join(c, NULL);
    if (consumed_sum != (long)N_ITEMS * (N_ITEMS + 1) / 2) {
        fprintf(stderr, "producer/consumer lost items: %ld\n", consumed_sum);
        bad++;
    }
    for (int k = 0; k < 2; k++) { /* one after the other: the orders never overlap */
        pthread_t t;
        pthread_create(&t, NULL, order_thread, (void *)(intptr_t)k);
        pthread_join(t, NULL);
    }
    exit(bad ? 1 : 0);
}

static const json_t *site_by_fn(const json_t *lock, const char *fn)
{
    const json_t *sites = json_get(lock, "sites");
    for (size_t k = 0; sites && k < sites->n; k++) {
        const char *f = frame_fn(json_get(json_at(sites, k), "stack"), 0);
        if (f && !strcmp(f, fn))
            return json_at(sites, k);
    }
    return NULL;
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    char *text = NULL;
    json_t *j = locks_record_load(path, &text);
    if (!j)
        return 1;
    const json_t *locks = json_get(j, "locks"), *conds = json_get(j, "condvars");
    const json_t *e = lock_by_site_fn(locks, "errchk_use");
    const json_t *r = lock_by_site_fn(locks, "recur_use");
    const json_t *rb = lock_by_site_fn(locks, "robust_use");
    const json_t *m = lock_by_site_fn(locks, "try_mutex");
    const json_t *rw = lock_by_site_fn(locks, "try_rwlock");
    const json_t *sp = lock_by_site_fn(locks, "try_spin");
    const json_t *pc = lock_by_site_fn(locks, "produce");
    const json_t *ne = lock_by_site_fn(conds, "consume"); /* waits on not_empty */
    const json_t *nf = lock_by_site_fn(conds, "produce");
    CHECK(e && r && rb && m && rw && sp && pc && ne && nf);
    if (!(e && r && rb && m && rw && sp && pc && ne && nf))
        goto out;
    /* error-checking: 1 acquisition; EDEADLK and EPERM are its 2 errors */
    CHECK_U64(e, "acquisitions", 1);
    CHECK_U64(e, "errors", 2);
    CHECK_U64(e, "contended", 0);
    CHECK(frame_fn(json_get(e, "init_stack"), 0) &&
          !strcmp(frame_fn(json_get(e, "init_stack"), 0), "errchk_use"));
    CHECK_U64(e, "init_attr", PTHREAD_MUTEX_ERRORCHECK);
    /* recursive: 3 locks + 1 trylock, the 5th unlock's EPERM */
    CHECK_U64(r, "acquisitions", 4);
    CHECK_U64(r, "errors", 1);
    CHECK_U64(r, "init_attr", PTHREAD_MUTEX_RECURSIVE);
    /* robust: the dead owner's acquisition and ours, EOWNERDEAD counted as an error */
    CHECK_U64(rb, "acquisitions", 2);
    CHECK_U64(rb, "errors", 1);
    CHECK_U64(rb, "init_attr", PTHREAD_MUTEX_DEFAULT | 0x100);
    /* trylock failures and timeouts, at their own sites */
    CHECK_U64(m, "trylock_failures", N_TRY_FAIL);
    CHECK_U64(m, "timeouts", N_TIMEOUT);
    CHECK_U64(m, "acquisitions", 1); /* the holder's */
    CHECK_U64(m, "contended", N_TIMEOUT);
    CHECK_U64(site_by_fn(m, "try_mutex"), "trylock_failures", N_TRY_FAIL);
    CHECK_U64(site_by_fn(m, "timed_mutex"), "timeouts", N_TIMEOUT);
    CHECK(json_u64(json_get(m, "wait_ns"), "total") >= N_TIMEOUT * 20000000ull);
    CHECK(json_get(m, "init_stack") && json_get(m, "init_stack")->type == JSON_NULL);
    CHECK_U64(rw, "trylock_failures", N_TRY_FAIL);
    CHECK_U64(rw, "timeouts", N_TIMEOUT);
    CHECK_U64(rw, "acquisitions", 2);      /* holder's read + our tryrdlock */
    CHECK_U64(rw, "read_acquisitions", 2);
    CHECK_U64(sp, "trylock_failures", N_TRY_FAIL);
    CHECK_U64(sp, "acquisitions", 1);
    /* producer/consumer: each condvar is signalled N_ITEMS times (from produce for
     * not_empty, from consume for not_full); the mutex's acquisitions are the explicit locks
     * plus one re-acquisition per returned wait */
    CHECK(conds->n == 2);
    uint64_t waits = 0;
    for (size_t i = 0; i < conds->n; i++) {
        const json_t *cv = json_at(conds, i);
        CHECK_U64(cv, "signals", N_ITEMS);
        CHECK_U64(cv, "broadcasts", 0);
        CHECK_U64(cv, "timeouts", 0);
        CHECK(json_u64(json_get(cv, "wait_ns"), "count") == json_u64(cv, "acquisitions"));
        waits += json_u64(cv, "acquisitions");
    }
    CHECK(site_by_fn(ne, "consume") && site_by_fn(nf, "produce"));
    CHECK_U64(pc, "acquisitions", 2 * N_ITEMS + waits);
    /* the A-B / B-A cycle with both stacks */
    const json_t *cyc = json_get(j, "lock_order_cycles");
    CHECK(cyc && cyc->n == 1);
    const json_t *edges = json_get(json_at(cyc, 0), "edges");
    CHECK(edges && edges->n == 2);
    int ab = 0, ba = 0;
    for (size_t i = 0; edges && i < edges->n; i++) {
        const json_t *ed = json_at(edges, i);
        const char *hf = frame_fn(json_get(ed, "held_stack"), 0);
        const char *af = frame_fn(json_get(ed, "acquired_stack"), 0);
        ab += hf && af && !strcmp(hf, "take_a_then_b") && !strcmp(af, "take_a_then_b");
        ba += hf && af && !strcmp(hf, "take_b_then_a") && !strcmp(af, "take_b_then_a");
    }
    CHECK(ab == 1 && ba == 1);
    CHECK_U64(json_get(j, "lock_summary"), "untracked", 0);
out:
    return locks_finish("locks_semantics", j, text, path);
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
