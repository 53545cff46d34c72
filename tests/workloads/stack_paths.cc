/*
 * stack_paths -- allocations whose stacks the stack cache must tell apart (tests/integration/
 * unwind_same.sh; built twice: with and without frame pointers). Each shape repeats, so the
 * cache is filled and then asked:
 *  - one allocating function reached through two callers with equal frames (the same return
 *    address and stack depth at the hook, a different frame above it);
 *  - mutual recursion f/g to one depth along different paths (the frames differ in the
 *    middle of the stack only), and recursion to different depths (30 frames);
 *  - frames of run-time size (alloca) above a fixed call site, and two callers whose alloca
 *    sizes make the hook's CFA equal while the stacks differ (outer_a/outer_b);
 *  - a callback from libc's qsort (a library without frame pointers) that allocates;
 *  - a signal handler that allocates (a signal frame in the stack);
 *  - C++ exceptions thrown and caught (__cxa_allocate_exception, new in a catch block);
 *  - two threads running the same shapes.
 * Prints a checksum (the same natively and under the shim).
 */
#include <alloca.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINL __attribute__((noinline))

static volatile uint64_t sink;

extern "C" {
NOINL void *leaf(size_t n)
{
    void *p = malloc(n);
    sink += (uintptr_t)p & 1;
    return p;
}
NOINL void *via_a(size_t n)
{
    void *p = leaf(n + 1);
    sink += 1;
    return p;
}
NOINL void *via_b(size_t n)
{
    void *p = leaf(n + 2);
    sink += 2;
    return p;
}
NOINL void *rec_g(int d, unsigned path, size_t n);
NOINL void *rec_f(int d, unsigned path, size_t n)
{
    void *p = d == 0 ? leaf(n) : (path & 1) ? rec_g(d - 1, path >> 1, n) : rec_f(d - 1, path >> 1, n);
    sink += 3;
    return p;
}
NOINL void *rec_g(int d, unsigned path, size_t n)
{
    void *p = d == 0 ? leaf(n) : (path & 1) ? rec_g(d - 1, path >> 1, n) : rec_f(d - 1, path >> 1, n);
    sink += 5;
    return p;
}
NOINL void *dyn_frame(size_t pad, size_t n)
{
    volatile char *a = (volatile char *)alloca(pad);
    a[0] = 1;
    void *p = leaf(n);
    sink += a[0];
    return p;
}
/* Two callers of dyn_frame through one call site (a function pointer), their alloca sizes
 * swapped with dyn_frame's: the hook's caller and CFA are the same (checked by hand), the
 * stacks differ only in the return address into outer_a/outer_b, whose slot moves with
 * dyn_frame's frame. (Meant to leave the other path's slot holding its stale value, so that
 * only the check of dyn_frame's rbp would tell the two apart; here the return-address checks
 * already catch it: with the rbp checks disabled the test still passes.) */
NOINL void *outer_a(size_t pa, size_t pd)
{
    volatile char *a = (volatile char *)alloca(pa);
    a[0] = 2;
    void *p = dyn_frame(pd, 64);
    sink += a[0];
    return p;
}
NOINL void *outer_b(size_t pa, size_t pd)
{
    volatile char *a = (volatile char *)alloca(pa);
    a[0] = 3;
    void *p = dyn_frame(pd, 64);
    sink += (uint64_t)a[0] * 7;
    return p;
}
static int cmp_alloc(const void *a, const void *b)
{
    void *p = leaf(24);
    free(p);
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}
static void on_signal(int sig)
{
    (void)sig;
    free(leaf(40)); /* raised synchronously: no allocator call is interrupted */
}
}

NOINL static void thrower(int i)
{
    if (i % 3 != 2)
        throw i;
    throw (long)i;
}

NOINL static uint64_t round_(int r)
{
    uint64_t sum = 0;
    for (int i = 0; i < 40; i++) {
        void *p = (i & 1) ? via_a(16) : via_b(16);
        free(p);
        sum += (uintptr_t)p != 0;
    }
    for (unsigned path = 0; path < 16; path++)
        for (int d = 4; d <= 30; d += 13) {
            void *p = rec_f(d, path * 0x9e37u, 32);
            free(p);
        }
    for (size_t pad = 16; pad <= 512; pad *= 2)
        free(dyn_frame(pad + (size_t)r % 3 * 16, 48));
    void *keep[8];
    for (int i = 0; i < 8; i++) {
        void *(*volatile pick)(size_t, size_t) = (i & 1) ? outer_b : outer_a;
        void *(*fn)(size_t, size_t) = pick;
        size_t big = 256 + 16, small = 16;
        keep[i] = fn((i & 1) ? small : big, (i & 1) ? big : small); /* one call site */
    }
    for (int i = 0; i < 8; i++)
        free(keep[i]);
    int v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (i * 7919 + r) % 101;
    qsort(v, 64, sizeof v[0], cmp_alloc);
    sum += (uint64_t)v[0] + (uint64_t)v[63];
    raise(SIGUSR1);
    for (int i = 0; i < 4; i++) {
        try {
            thrower(i + r);
        } catch (int e) {
            int *q = new int[4];
            q[0] = e;
            sum += (uint64_t)q[0];
            delete[] q;
        } catch (long e) {
            sum += (uint64_t)e;
        }
    }
    return sum;
}

static void *thread_main(void *arg)
{
    uint64_t sum = 0;
    for (int r = 0; r < 20; r++)
        sum += round_(r);
    return (void *)(uintptr_t)(sum + (uintptr_t)arg);
}

int main(void)
{
    signal(SIGUSR1, on_signal);
    pthread_t t;
    pthread_create(&t, NULL, thread_main, (void *)1);
    void *mine = thread_main(NULL), *theirs;
    pthread_join(t, &theirs);
    printf("checksum %llu\n", (unsigned long long)((uintptr_t)mine + (uintptr_t)theirs));
    return 0;
}
