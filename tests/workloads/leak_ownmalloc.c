/*
 * leak_ownmalloc -- a program that defines its own malloc, free, calloc and realloc (a bump
 * allocator in the executable, which the dynamic linker binds before any preloaded library):
 * the shim's exit scan must not mix allocators (tests/integration/leaks_cases.sh). It starts
 * a thread, so the shim attaches threads, and exits 0.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static char *arena, *cur, *end;

static void *bump(size_t n)
{
    if (!arena) {
        arena = mmap(NULL, 64u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (arena == MAP_FAILED)
            return NULL;
        cur = arena;
        end = arena + (64u << 20);
    }
    n = (n + 31) & ~(size_t)15;
    if ((size_t)(end - cur) < n + 16)
        return NULL;
    *(size_t *)cur = n - 16;
    void *p = cur + 16;
    cur += n;
    return p;
}

void *malloc(size_t n) { return bump(n); }
void free(void *p) { (void)p; }
void *calloc(size_t a, size_t b)
{
    if (b && a > SIZE_MAX / b)
        return NULL;
    return bump(a * b); /* mmap memory is zero and never reused */
}
void *realloc(void *p, size_t n)
{
    void *q = bump(n);
    if (p && q) {
        size_t old = *(size_t *)((char *)p - 16);
        memcpy(q, p, old < n ? old : n);
    }
    return q;
}

static void *worker(void *arg)
{
    char *s = malloc(64);
    snprintf(s, 64, "worker %d", *(int *)arg);
    return s;
}

int main(void)
{
    int id = 7;
    pthread_t t;
    void *r;
    pthread_create(&t, NULL, worker, &id);
    pthread_join(t, &r);
    printf("%s\n", (char *)r);
    return 0;
}
