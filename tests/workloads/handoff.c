/*
 * handoff -- threads hand heap blocks to each other (issue 18: the order of one address'
 * events across threads under floor timestamps). Each of T threads allocates `per` blocks of
 * four sizes and passes each to another thread through a single-producer ring per pair; each
 * thread frees what it receives (glibc's per-thread caches then give the freed addresses out
 * again in the freeing thread: addresses move from thread to thread), and every 8th block it
 * receives it reallocs instead and passes on (a cross-thread realloc). A block whose ring is
 * full is freed by its allocator. Prints "mallocs reallocs frees" (the workload's own counts).
 * Usage: handoff [threads=6] [per=200000]
 *        handoff slow THREADS: a thread named "slow" makes 12 malloc/free pairs 3 ms apart (or
 *        3/4 of CLOCK_MONOTONIC_COARSE's step, if longer: 4 ms at HZ=250, 10 ms at HZ=100)
 *        (its stamps must not be one floor: the staleness check), beside another thread that
 *        waits (THREADS 2: the writer thread's staleness word) or alone (1: the coarse clock).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXT 16
#define RING 256

#include "spsc_ring.h"

static ring_t rings[MAXT][MAXT]; /* rings[from][to] */
static int nt, per;
static uint64_t n_malloc[MAXT], n_realloc[MAXT], n_free[MAXT];
static _Atomic int done;

/* Takes one block from each sender's ring: frees it, or (every 8th) reallocs it and passes
 * it on. Returns how many it took. */
static int receive(int i, uint64_t *seen, int pass_on)
{
    int got = 0;
    for (int j = 0; j < nt; j++) {
        void *q = ring_pop(&rings[j][i]);
        if (!q)
            continue;
        got++;
        if (pass_on && (++*seen & 7) == 0) {
            void *r = realloc(q, 24 + (size_t)(*seen & 0x70));
            if (!r)
                abort();
            n_realloc[i]++;
            if (ring_push(&rings[i][(i + 1 + (int)(*seen % (uint64_t)(nt - 1))) % nt], r))
                continue;
            q = r;
        }
        free(q);
        n_free[i]++;
    }
    return got;
}

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    uint64_t seen = 0;
    static const size_t sizes[4] = {24, 40, 72, 136};
    for (int k = 0; k < per; k++) {
        void *p = malloc(sizes[k & 3]);
        if (!p)
            abort();
        *(volatile char *)p = (char)k;
        n_malloc[i]++;
        if (!ring_push(&rings[i][(i + 1 + k % (nt - 1)) % nt], p)) {
            free(p);
            n_free[i]++;
        }
        receive(i, &seen, 1);
    }
    atomic_fetch_add(&done, 1);
    for (;;) { /* drain: nothing is passed on once a thread is done */
        if (receive(i, &seen, 0))
            continue;
        if (atomic_load(&done) == nt && !receive(i, &seen, 0))
            break;
    }
    return NULL;
}

static void ms_sleep(int ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
}

static void *slow(void *arg)
{
    pthread_setname_np(pthread_self(), "slow");
    struct timespec res = {0, 0};
    clock_getres(CLOCK_MONOTONIC_COARSE, &res);
    int ms = (int)((res.tv_nsec / 1000000 * 3 + 3) / 4);
    if (ms < 3 || res.tv_sec)
        ms = res.tv_sec ? 1000 : 3;
    for (int k = 0; k < 12; k++) {
        void *volatile p = malloc(32);
        ms_sleep(ms);
        free(p);
        ms_sleep(ms);
    }
    return arg;
}

static void *waiter(void *arg)
{
    void *volatile p = malloc(16); /* a second thread's event: the writer thread starts */
    free(p);
    ms_sleep(100);
    return arg;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "slow") == 0) {
        if (atoi(argv[2]) == 1) {
            slow(NULL);
            return 0;
        }
        pthread_t w, t;
        pthread_create(&w, NULL, waiter, NULL);
        ms_sleep(5);
        void *volatile p = malloc(16); /* the program's own hook starts the writer thread */
        free(p);
        pthread_create(&t, NULL, slow, NULL);
        pthread_join(t, NULL);
        pthread_join(w, NULL);
        return 0;
    }
    nt = argc > 1 ? atoi(argv[1]) : 6;
    per = argc > 2 ? atoi(argv[2]) : 200000;
    if (nt < 2 || nt > MAXT || per < 1)
        return 2;
    pthread_t th[MAXT];
    for (int i = 0; i < nt; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    uint64_t m = 0, r = 0, f = 0;
    for (int i = 0; i < nt; i++)
        m += n_malloc[i], r += n_realloc[i], f += n_free[i];
    printf("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", m, r, f);
    return m == f ? 0 : 1;
}
