/*
 * replay_shape.c -- a heap of known shape for `perfshim replay` (tests/integration/replay.sh).
 *
 * main allocates 40 MiB in blocks of 4 KiB..252 KiB (writing each whole), a growth chain of
 * 64 reallocs to 1 MiB and 2 MiB of 64-byte-aligned blocks; a producer thread allocates
 * 16 MiB of 64 KiB blocks that main frees (cross-thread frees); a churn thread allocates and
 * frees 32 KiB of small blocks 2000 times. At the peak (about 60 MiB live) the program holds
 * still for 200 ms so the recorder's RSS samples see it, then frees all but 1 MiB (a leak)
 * and holds 50 ms more.
 *
 * `replay_shape plain` does the same with no extra thread (everything on main): a trace with
 * one thread. `replay_shape none` allocates nothing (a trace without heap events).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAIN_BLOCKS 320 /* 40 MiB in 4 KiB..252 KiB steps */
#define PROD_BLOCKS 256 /* 16 MiB of 64 KiB */

static void *prod[PROD_BLOCKS];
static void *leak;

static void hold_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PROD_BLOCKS; i++) {
        prod[i] = malloc(64 << 10);
        memset(prod[i], i, 64 << 10);
    }
    return NULL;
}

static void *churn(void *arg)
{
    (void)arg;
    for (int r = 0; r < 2000; r++) {
        void *p[64];
        for (int i = 0; i < 64; i++) {
            p[i] = malloc(512);
            memset(p[i], r, 512);
        }
        for (int i = 0; i < 64; i++)
            free(p[i]);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "threads";
    if (!strcmp(mode, "none")) {
        hold_ms(30);
        return 0;
    }
    int threads = strcmp(mode, "plain") != 0;
    pthread_t tp, tc;
    if (threads) {
        pthread_create(&tp, NULL, producer, NULL);
        pthread_create(&tc, NULL, churn, NULL);
    }
    static void *blk[MAIN_BLOCKS];
    uint64_t total = 0;
    for (int i = 0; i < MAIN_BLOCKS; i++) {
        size_t sz = (size_t)(4 + (i % 64) * 4) << 10; /* 4..256 KiB */
        blk[i] = malloc(sz);
        memset(blk[i], i, sz);
        total += sz;
    }
    char *g = NULL;
    for (int i = 1; i <= 64; i++) {
        g = realloc(g, (size_t)i << 14); /* to 1 MiB */
        memset(g, i, (size_t)i << 14);
    }
    void *al[32];
    for (int i = 0; i < 32; i++) {
        if (posix_memalign(&al[i], 64, 64 << 10) != 0)
            return 1;
        memset(al[i], i, 64 << 10);
    }
    leak = malloc(1 << 20);
    memset(leak, 1, 1 << 20);
    if (threads) {
        pthread_join(tp, NULL);
        pthread_join(tc, NULL);
    } else {
        producer(NULL);
        churn(NULL);
    }
    hold_ms(200); /* the peak */
    for (int i = 0; i < MAIN_BLOCKS; i++)
        free(blk[i]);
    for (int i = 0; i < PROD_BLOCKS; i++)
        free(prod[i]);
    for (int i = 0; i < 32; i++)
        free(al[i]);
    free(g);
    hold_ms(50);
    printf("%llu\n", (unsigned long long)total);
    return 0;
}
