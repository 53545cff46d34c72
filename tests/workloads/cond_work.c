/*
 * cond_work -- thread states with known truth (tests/integration/thread_states.sh):
 *   a worker thread waits on a condvar for each of ROUNDS items that the main thread posts
 *   every POST_MS ms (waiting for work: ~ROUNDS x POST_MS of condvar wait at wait_for_work),
 *   then the main thread waits LOCK_MS ms for a mutex a third thread holds (waiting for a
 *   lock: ~LOCK_MS of lock wait, at take_busy_lock).
 * Also (tests/integration/thread_states.sh) `cond_work realloc N`: N rounds of
 * malloc -> realloc -> free, the temporary allocations heaptrack counts 2 per round.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 5
#define POST_MS 40
#define LOCK_MS 100

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t have_work = PTHREAD_COND_INITIALIZER, took_work = PTHREAD_COND_INITIALIZER;
static int work, taken;
static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t busy_ready_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t busy_ready = PTHREAD_COND_INITIALIZER;
static int busy_held;

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
}

static __attribute__((noinline)) void wait_for_work(void)
{
    pthread_mutex_lock(&m);
    while (!work)
        pthread_cond_wait(&have_work, &m);
    work = 0;
    taken++;
    pthread_cond_signal(&took_work);
    pthread_mutex_unlock(&m);
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++)
        wait_for_work();
    return NULL;
}

static __attribute__((noinline)) void post_work(int i)
{
    pthread_mutex_lock(&m);
    work = 1;
    pthread_cond_signal(&have_work);
    while (taken <= i) /* the worker has it before the next is posted */
        pthread_cond_wait(&took_work, &m);
    pthread_mutex_unlock(&m);
}

static void *holder(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&busy);
    pthread_mutex_lock(&busy_ready_m);
    busy_held = 1;
    pthread_cond_signal(&busy_ready);
    pthread_mutex_unlock(&busy_ready_m);
    sleep_ms(LOCK_MS);
    pthread_mutex_unlock(&busy);
    return NULL;
}

static __attribute__((noinline)) void take_busy_lock(void)
{
    pthread_mutex_lock(&busy);
    pthread_mutex_unlock(&busy);
}

static __attribute__((noinline)) void realloc_loop(int n)
{
    for (int i = 0; i < n; i++) {
        char *p = malloc(16);
        char *q = realloc(p, 64);
        if (q)
            q[0] = 1;
        free(q);
    }
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "realloc")) {
        realloc_loop(atoi(argv[2]));
        return 0;
    }
    pthread_t w, h;
    pthread_create(&w, NULL, worker, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        sleep_ms(POST_MS);
        post_work(i);
    }
    pthread_join(w, NULL);
    pthread_create(&h, NULL, holder, NULL);
    pthread_mutex_lock(&busy_ready_m);
    while (!busy_held)
        pthread_cond_wait(&busy_ready, &busy_ready_m);
    pthread_mutex_unlock(&busy_ready_m);
    take_busy_lock();
    pthread_join(h, NULL);
    return 0;
}
