/*
 * lock_bench -- the lock workloads of scripts/bench.
 *   lock_bench pair N        one thread, N uncontended pthread_mutex_lock+unlock pairs;
 *                            prints "ns_per_pair X" (the loop's own cost included). The
 *                            process is single-threaded: glibc's lock and unlock then use
 *                            no atomic instruction
 *   lock_bench pair-mt N     the same loop while a second thread exists (it sleeps on a
 *                            pipe): the uncontended pair of a multi-threaded program, with
 *                            the atomic compare-and-swap
 *   lock_bench contended T N T threads x N acquisitions of one mutex, each holding it for a
 *                            short critical section (a few hundred ns of work), then working
 *                            outside it about as long
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long shared_counter;
static long per_thread;

static unsigned long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long)t.tv_sec * 1000000000ul + (unsigned long)t.tv_nsec;
}

static void spin_work(int n)
{
    for (volatile int i = 0; i < n; i++)
        ;
}

static void *contender(void *arg)
{
    (void)arg;
    for (long i = 0; i < per_thread; i++) {
        pthread_mutex_lock(&m);
        shared_counter++;
        spin_work(200);
        pthread_mutex_unlock(&m);
        spin_work(200);
    }
    return NULL;
}

static long pair_loop(long n)
{
    unsigned long t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&m);
        pthread_mutex_unlock(&m);
    }
    unsigned long t1 = now_ns();
    printf("ns_per_pair %.2f\n", (double)(t1 - t0) / (double)n);
    return 0;
}

static void *sleeper(void *arg)
{
    char c;
    while (read(*(int *)arg, &c, 1) < 0)
        ;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "pair"))
        return (int)pair_loop(atol(argv[2]));
    if (argc >= 3 && !strcmp(argv[1], "pair-mt")) {
        int fd[2];
        pthread_t th;
        if (pipe(fd) != 0 || pthread_create(&th, NULL, sleeper, &fd[0]) != 0)
            return 2;
        pair_loop(atol(argv[2]));
        close(fd[1]);
        return pthread_join(th, NULL) == 0 ? 0 : 1;
    }
    if (argc >= 4 && !strcmp(argv[1], "contended")) {
        int t = atoi(argv[2]);
        per_thread = atol(argv[3]);
        if (t < 1 || t > 256 || per_thread < 1)
            return 2;
        pthread_t th[256];
        for (int i = 0; i < t; i++)
            pthread_create(&th[i], NULL, contender, NULL);
        for (int i = 0; i < t; i++)
            pthread_join(th[i], NULL);
        printf("acquisitions %lu\n", shared_counter);
        return shared_counter == (unsigned long)t * (unsigned long)per_thread ? 0 : 1;
    }
    fprintf(stderr, "usage: lock_bench pair N | pair-mt N | contended THREADS N\n");
    return 2;
}
