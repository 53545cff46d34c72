/*
 * je_mallocx -- a program linked with jemalloc whose threads allocate with mallocx/dallocx
 * (not interposed: only jemalloc's own mutexes reach the shim's lock hooks, from inside the
 * allocator, on threads the shim has never seen) and then with malloc/free (interposed).
 * Prints one line; exits 0.
 */
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define NTHREADS 8
#define PER_THREAD 20000

static void *worker(void *arg)
{
    for (int i = 0; i < PER_THREAD; i++)
        dallocx(mallocx(64 + (size_t)(i % 4096), 0), 0);
    free(malloc(16));
    return arg;
}

int main(void)
{
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        if (pthread_create(&t[i], NULL, worker, NULL) != 0)
            return 1;
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    puts("mallocx done");
    return 0;
}
