/*
 * lsan_api -- a program written for LeakSanitizer, built without it (and without -rdynamic:
 * its __lsan_* hooks are not exported), for tests/integration/lsan_api.sh. The interface is
 * declared weak here: natively it is absent and not called; under the shim it is the shim's.
 * stdout is the same either way; what the interface returns goes to stderr.
 *
 * Truth of `api` (the exit scan): definite r 64, u 48, s 111, control 40 = 4 blocks 263 bytes;
 * indirect uq 36 (held by u) = 1 block; ignored (reachable): p1 100 (+ p1c 30 it holds),
 * d 70 and d2 20 (allocated while disabled); rq 24 reachable through the root region over r.
 * The app's __lsan_default_suppressions() suppresses s (leak:supp_me): check counts 188 bytes
 * (r, u, control and uq).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void __lsan_ignore_object(const void *p) __attribute__((weak));
void __lsan_disable(void) __attribute__((weak));
void __lsan_enable(void) __attribute__((weak));
void __lsan_register_root_region(const void *p, size_t n) __attribute__((weak));
void __lsan_unregister_root_region(const void *p, size_t n) __attribute__((weak));
void __lsan_do_leak_check(void) __attribute__((weak));
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

/* the app's hooks: global, but not in the dynamic symbol table */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:supp_me\n";
}
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    const char *o = getenv("LSAN_TEST_OPTS");
    return o ? o : "";
}
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return getenv("LSAN_TEST_OFF") != NULL;
}

__attribute__((noipa)) static void control(void)
{
    void *volatile p = malloc(40);
    (void)p;
}

__attribute__((noipa)) static void supp_me(void)
{
    void *volatile p = malloc(111);
    (void)p;
}

__attribute__((noipa)) static void scrub(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof buf);
}

static void **rr, **uu;
static void *volatile sink; /* makes the compiler keep an allocation */

__attribute__((noipa)) static void make(void)
{
    void **p1 = malloc(100);
    p1[0] = malloc(30);
    if (__lsan_ignore_object)
        __lsan_ignore_object(p1);
    if (__lsan_disable)
        __lsan_disable();
    void **d = malloc(70);
    d[0] = malloc(20);
    sink = d;
    sink = NULL;
    if (__lsan_enable)
        __lsan_enable();
    void **r = malloc(64);
    r[0] = malloc(24);
    void **u = malloc(48);
    u[0] = malloc(36);
    rr = r;
    uu = u;
    supp_me();
    control();
}

static int case_api(void)
{
    make();
    long ps = sysconf(_SC_PAGESIZE);
    void *none = mmap(NULL, (size_t)ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (__lsan_register_root_region) {
        __lsan_register_root_region(rr, 64);
        __lsan_register_root_region(uu, 48);
        __lsan_unregister_root_region(uu, 48);
        __lsan_register_root_region(none, (size_t)ps); /* unreadable: must not fault */
    }
    rr = uu = NULL;
    scrub();
    if (__lsan_do_recoverable_leak_check)
        fprintf(stderr, "recoverable %d\n", __lsan_do_recoverable_leak_check());
    puts("api done");
    return 0;
}

/* docheck: __lsan_do_leak_check, then one more leak (50 bytes) the trace must not judge */
static int case_docheck(void)
{
    control();
    scrub();
    if (__lsan_do_leak_check) {
        __lsan_do_leak_check();
        __lsan_do_leak_check(); /* no effect */
    }
    void *volatile late = malloc(50);
    late = NULL;
    puts("docheck done");
    return 0;
}

/* stack: a thread blocked at exit holds a 56-byte block on its stack (reachable, unless
 * use_stacks=0: then definite) */
static sem_t never, started;

static void *holder(void *arg)
{
    void *volatile mine = arg;
    sem_post(&started);
    sem_wait(&never);
    return (void *)mine;
}

static int case_stack(void)
{
    sem_init(&never, 0, 0);
    sem_init(&started, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, holder, malloc(56));
    sem_wait(&started);
    usleep(50000); /* the holder is in sem_wait: its stack pointer is known */
    control();
    scrub();
    puts("stack done");
    return 0;
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "api";
    if (!strcmp(m, "docheck"))
        return case_docheck();
    if (!strcmp(m, "stack"))
        return case_stack();
    return case_api();
}
