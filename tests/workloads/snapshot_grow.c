/*
 * snapshot_grow -- asks for live-set snapshots with a signal (run with
 * PERFSHIM_SNAPSHOT_SIGNAL=12) while one site grows: after snapshot k (k = 0, 1, 2) the site
 * grow_site holds 10 * (k + 1) blocks of 100 bytes, steady_site always 5 blocks of 64, and
 * shrink_site 10 - 3k blocks of 32. Only grow_site is a suspected leak: +2000 bytes
 * (1000 -> 3000, 30 blocks). Everything is freed at the end.
 */
#include <signal.h>
#include <stdlib.h>
#include <time.h>

static void *grow[30], *steady[5], *shrink[10];

__attribute__((noipa)) static void *grow_site(void) { return malloc(100); }
__attribute__((noipa)) static void *steady_site(void) { return malloc(64); }
__attribute__((noipa)) static void *shrink_site(void) { return malloc(32); }

int main(void)
{
    struct timespec pause = {0, 300 * 1000 * 1000}; /* the writer takes the snapshot */
    for (int i = 0; i < 5; i++)
        steady[i] = steady_site();
    for (int i = 0; i < 10; i++)
        shrink[i] = shrink_site();
    int ns = 10;
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 10; i++)
            grow[k * 10 + i] = grow_site();
        if (k) {
            for (int i = 0; i < 3; i++)
                free(shrink[--ns]);
        }
        raise(SIGUSR2);
        nanosleep(&pause, NULL);
    }
    for (int i = 0; i < 30; i++)
        free(grow[i]);
    for (int i = 0; i < 5; i++)
        free(steady[i]);
    while (ns)
        free(shrink[--ns]);
    return 0;
}
