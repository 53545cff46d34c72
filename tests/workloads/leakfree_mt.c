/*
 * leakfree_mt -- a multithreaded C program that frees everything it owns, while exercising
 * what the C runtime keeps for itself: stdio buffers, locale data, thread descriptors, static
 * and dynamic TLS, pthread keys with destructors, qsort's buffer, a cache kept in a global.
 * `perfshim check` must pass it with a budget of 0 (tests/integration/check.sh).
 */
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define ROUNDS 2000

static __thread char *tls_buf;
static pthread_key_t key;
static char *cache; /* reachable at exit: not a leak */

static void key_dtor(void *p)
{
    free(p);
}

static int cmp(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    tls_buf = malloc(256);
    pthread_setspecific(key, strdup("per-thread value"));
    for (int i = 0; i < ROUNDS; i++) {
        char *p = malloc((size_t)(16 + (i + id) % 512));
        p[0] = (char)i;
        free(p);
    }
    int *v = malloc(40000 * sizeof(int));
    for (int i = 0; i < 40000; i++)
        v[i] = (i * 7919) % 40000;
    qsort(v, 40000, sizeof(int), cmp);
    free(v);
    snprintf(tls_buf, 256, "thread %ld done", id);
    free(tls_buf);
    return NULL;
}

int main(void)
{
    setlocale(LC_ALL, "C.UTF-8");
    pthread_key_create(&key, key_dtor);
    cache = malloc(4096);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        ;
    if (f)
        fclose(f);
    printf("leakfree_mt: %d threads x %d rounds\n", THREADS, ROUNDS);
    return 0;
}
