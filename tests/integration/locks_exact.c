/*
 * locks_exact -- lock figures whose truth the workload fixes, beyond locks_basic's counts:
 *  - owner changes: two threads take a mutex strictly in turn (semaphores hand the turn
 *    over), N_TURNS times each: 2 * N_TURNS acquisitions, 2 * N_TURNS - 1 owner changes;
 *  - max waiters and the holder: main holds `gate` while N_WAITERS threads block on it, then
 *    lets go: exactly N_WAITERS contended acquisitions, max waiters N_WAITERS, each wait
 *    longer than the hold, all of it charged to main's critical section (hold_gate);
 *  - a wait whose event is written at the release (outside the critical section) is still
 *    written when the lock is never released: by a thread that exits holding it
 *    (`kept_by_thread`), by main holding one at the end (`kept_at_end`), and by a thread
 *    still running at the end (`kept_running`), whose wait stays its own in the thread view
 *    although main's exit writes it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "locks_check.h"

#define N_TURNS 500
#define N_WAITERS 3
#define GATE_MS 200

static pthread_mutex_t turn = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t kept_by_thread = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t kept_at_end = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t kept_running = PTHREAD_MUTEX_INITIALIZER;
static sem_t sem[2], runner_has_it, brief_has_it;
static volatile int arrived;
static volatile unsigned long counter;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

__attribute__((noinline)) void take_turn(void)
{
    pthread_mutex_lock(&turn);
    counter++;
    pthread_mutex_unlock(&turn);
}

static void *turn_thread(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (int i = 0; i < N_TURNS; i++) {
        sem_wait(&sem[me]);
        take_turn();
        sem_post(&sem[!me]);
    }
    return NULL;
}

__attribute__((noinline)) void wait_gate(void)
{
    __atomic_add_fetch(&arrived, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&gate);
    counter++;
    pthread_mutex_unlock(&gate);
}

static void *gate_thread(void *arg)
{
    (void)arg;
    wait_gate();
    return NULL;
}

__attribute__((noinline)) void hold_gate(pthread_t *th)
{
    pthread_mutex_lock(&gate);
    for (int i = 0; i < N_WAITERS; i++)
        pthread_create(&th[i], NULL, gate_thread, NULL);
    while (__atomic_load_n(&arrived, __ATOMIC_SEQ_CST) < N_WAITERS)
        sleep_ms(1);
    sleep_ms(GATE_MS); /* every waiter is blocked by now */
    pthread_mutex_unlock(&gate);
}

__attribute__((noinline)) void keep_lock(pthread_mutex_t *m)
{
    pthread_mutex_lock(m); /* after a wait; never unlocked */
}

static void *keeper_thread(void *arg)
{
    (void)arg;
    keep_lock(&kept_by_thread);
    return NULL; /* exits holding it */
}

__attribute__((noinline)) void hold_briefly(pthread_mutex_t *m, sem_t *held)
{
    pthread_mutex_lock(m);
    sem_post(held);
    sleep_ms(50);
    pthread_mutex_unlock(m);
}

static void *brief_thread(void *arg)
{
    (void)arg;
    hold_briefly(&kept_at_end, &brief_has_it);
    return NULL;
}

static void *runner_thread(void *arg)
{
    (void)arg;
    keep_lock(&kept_running);
    sem_post(&runner_has_it);
    for (;;)
        sleep_ms(1000); /* still running (holding it) when main exits */
    return NULL;
}

static void run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    sem_init(&sem[0], 0, 1);
    sem_init(&sem[1], 0, 0);
    pthread_t a, b;
    pthread_create(&a, NULL, turn_thread, (void *)0);
    pthread_create(&b, NULL, turn_thread, (void *)1);
    pthread_join(a, NULL);
    pthread_join(b, NULL);

    pthread_t th[N_WAITERS];
    hold_gate(th);
    for (int i = 0; i < N_WAITERS; i++)
        pthread_join(th[i], NULL);

    pthread_t k;
    pthread_mutex_lock(&kept_by_thread);
    pthread_create(&k, NULL, keeper_thread, NULL);
    sleep_ms(50);
    pthread_mutex_unlock(&kept_by_thread);
    pthread_join(k, NULL);

    pthread_t br;
    sem_init(&brief_has_it, 0, 0);
    pthread_create(&br, NULL, brief_thread, NULL);
    sem_wait(&brief_has_it); /* it holds the lock (a sleep here lost the race under load: main
                              * took it first and brief_thread waited for it forever) */
    keep_lock(&kept_at_end); /* waits for brief_thread, then holds it to the end */
    pthread_join(br, NULL);

    pthread_t rn;
    sem_init(&runner_has_it, 0, 0);
    pthread_mutex_lock(&kept_running);
    pthread_create(&rn, NULL, runner_thread, NULL);
    sleep_ms(50);
    pthread_mutex_unlock(&kept_running);
    sem_wait(&runner_has_it);
    exit(counter == 2 * N_TURNS + N_WAITERS ? 0 : 1);
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    char *text = NULL;
    json_t *j = locks_record_load(path, &text);
    if (!j)
        return 1;
    const json_t *locks = json_get(j, "locks");
    const json_t *t = lock_by_site_fn(locks, "take_turn");
    const json_t *g = lock_by_site_fn(locks, "wait_gate");
    const json_t *kt = lock_by_site_fn(locks, "keep_lock");
    CHECK(t && g && kt);
    if (!t || !g || !kt)
        goto out;
    CHECK(g == lock_by_site_fn(locks, "hold_gate"));
    /* strict turns: every acquisition but the first changes the owner */
    CHECK_U64(t, "acquisitions", 2 * N_TURNS);
    CHECK_U64(t, "owner_changes", 2 * N_TURNS - 1);
    CHECK_U64(t, "contended", 0);
    CHECK_U64(json_get(t, "hold_ns"), "count", 2 * N_TURNS);
    /* the gate: all waiters blocked at once on main's hold */
    CHECK_U64(g, "acquisitions", N_WAITERS + 1);
    CHECK_U64(g, "contended", N_WAITERS);
    CHECK_U64(g, "max_waiters", N_WAITERS);
    CHECK_U64(g, "owner_changes", N_WAITERS);
    const json_t *gw = json_get(g, "wait_ns");
    CHECK_U64(gw, "count", N_WAITERS);
    /* each wait spans main's GATE_MS sleep, less the moment between the waiter's `arrived`
     * and its trylock (a loaded machine can deschedule it there: allow 10%) */
    CHECK(json_u64(gw, "total") >= (uint64_t)N_WAITERS * GATE_MS * 900000);
    CHECK(json_u64(json_get(g, "hold_ns"), "max") >= (uint64_t)GATE_MS * 1000000);
    const json_t *holders = json_get(g, "holders");
    CHECK(holders && holders->n == 1);
    CHECK(holders && frame_fn(json_get(json_at(holders, 0), "stack"), 0) &&
          !strcmp(frame_fn(json_get(json_at(holders, 0), "stack"), 0), "hold_gate"));
    CHECK(holders && json_u64(json_at(holders, 0), "waits") == N_WAITERS);
    CHECK(holders && json_u64(json_at(holders, 0), "wait_ns_charged") == json_u64(gw, "total"));
    /* waits whose locks were never released: one each, still in the trace */
    size_t kept = 0;
    for (size_t i = 0; locks && i < locks->n; i++) {
        const json_t *k = json_at(locks, i);
        const json_t *sites = json_get(k, "sites");
        for (size_t s = 0; sites && s < sites->n; s++) {
            const char *f = frame_fn(json_get(json_at(sites, s), "stack"), 0);
            if (f && !strcmp(f, "keep_lock")) {
                kept++;
                CHECK_U64(json_at(sites, s), "contended", 1);
                CHECK_U64(json_get(k, "wait_ns"), "count", 1);
                CHECK_U64(k, "max_waiters", 1);
            }
        }
    }
    CHECK(kept == 3);
    /* the thread view: every waiting thread waited once, each wait counted for its own thread
     * (N_WAITERS gate threads, the keeper, main, the runner) */
    const json_t *threads = json_get(j, "threads");
    uint64_t waits = 0;
    for (size_t i = 0; threads && i < threads->n; i++) {
        uint64_t w = json_u64(json_at(threads, i), "lock_waits");
        CHECK(w <= 1);
        waits += w;
    }
    CHECK(waits == N_WAITERS + 3);
    CHECK_U64(json_get(j, "lock_summary"), "untracked", 0);
out:
    return locks_finish("locks_exact", j, text, path);
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
