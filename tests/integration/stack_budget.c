/*
 * stack_budget -- the shim fits in the app's stacks (unwind.h's PS_UNWIND_STACK_BUDGET).
 *
 *  1. measure: a thread on a pattern-filled stack allocates, reallocates, locks (new and
 *     known call sites), with the writer's queue at its minimum so that buffers are handed
 *     off and compressed on the thread itself; the high-water mark under the shim minus the
 *     native one is the shim's deepest use, printed and checked against the budget.
 *  2. small thread stacks: threads with 16 KiB stacks (pthread_attr_setstacksize) lock and
 *     allocate 16 frames down. The frame size is the largest that works natively (found by
 *     running natively), less 32 bytes a frame; under the shim the output and the status must
 *     be the same, the trace complete and the allocations recorded with their caller only
 *     counted (END stacks_shallow).
 *  3. makecontext: a context on a 4 KiB malloc'd stack locks a mutex and allocates: same
 *     output and status natively and under the shim (a foreign stack: no unwinding).
 *  4. a single-threaded program whose allocations all happen on a 2 KiB makecontext stack (a
 *     coroutine's; it never gets a writer thread, so its own thread builds every chunk): the
 *     chunks are built on the shim's own stack (writer.c sync_stack), not the coroutine's,
 *     which zstd's frames overflow (SIGABRT with the switch disabled): same output, every
 *     event written, none dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "harness.h"
#include "unwind.h"

static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static int frame_bytes = 256;

/* ---- the workloads -------------------------------------------------------------------- */
__attribute__((noinline)) static long down(int d, int i)
{
    /* a frame of frame_bytes (alloca: the size is found at run time) */
    volatile char *pad = __builtin_alloca((size_t)frame_bytes);
    memset((char *)pad, d, (size_t)frame_bytes);
    if (d > 0)
        return down(d - 1, i) + pad[3];
    pthread_mutex_lock(&mtx);
    char *p = malloc(16 + (size_t)(i % 64));
    char *q = calloc(2, 8 + (size_t)(i % 32));
    p = realloc(p, 100 + (size_t)i);
    pthread_mutex_unlock(&mtx);
    long r = (long)(p != NULL) + (q != NULL);
    free(q);
    free(p);
    return r;
}

/* distinct call sites: each one a new stack (STACK record, module-map check) */
#define SITES(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define PS_X(n)                                                                                \
    __attribute__((noinline)) static void *site##n(size_t sz)                                  \
    {                                                                                          \
        static pthread_mutex_t m##n = PTHREAD_MUTEX_INITIALIZER;                               \
        pthread_mutex_lock(&m##n);                                                             \
        void *p = malloc(sz);                                                                  \
        pthread_mutex_unlock(&m##n);                                                           \
        return p;                                                                              \
    }
SITES(PS_X)
#undef PS_X
#define PS_X(n) site##n,
static void *(*const sites[])(size_t) = {SITES(PS_X)};
#undef PS_X

/* one hook alone, 2000 times from 8 call sites (new stacks first, then known ones) */
#define HOOKS(X) X(malloc) X(calloc) X(realloc) X(free) X(mutex_lock) X(rwlock_wrlock)        \
    X(mutex_init) X(cond_signal)
__attribute__((noinline)) static void one_hook(int which, int i)
{
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    static void *keep;
    pthread_mutex_t m2;
    switch (which) {
    case 0: free(keep); keep = malloc((size_t)(16 + i)); break;
    case 1: free(keep); keep = calloc(1, (size_t)(16 + i)); break;
    case 2: keep = realloc(keep, (size_t)(16 + i % 4096)); break;
    case 3: free(keep); keep = NULL; break;
    case 4: pthread_mutex_lock(&m); pthread_mutex_unlock(&m); break;
    case 5: pthread_rwlock_wrlock(&rw); pthread_rwlock_unlock(&rw); break;
    case 6: pthread_mutex_init(&m2, NULL); break;
    case 7: pthread_cond_signal(&c); break;
    }
}
#define PS_X(n) __attribute__((noinline)) static void via_##n(int w, int i) { one_hook(w, i); }
SITES(PS_X)
#undef PS_X
#define PS_X(n) via_##n,
static void (*const vias[])(int, int) = {SITES(PS_X)};
#undef PS_X
#define PS_X(n) #n,
static const char *const hook_names[] = {HOOKS(PS_X)};
#undef PS_X
static int measure_which = -1;

static void *measure_thread(void *arg)
{
    (void)arg;
    long s = 0;
    if (measure_which >= 0) {
        for (int i = 0; i < 2000; i++)
            vias[i % 8](measure_which, i);
        return NULL;
    }
    for (int i = 0; i < 20000; i++) {
        void *p = sites[i % 8]((size_t)(16 + i % 256));
        p = realloc(p, (size_t)(32 + i % 512));
        free(p);
        if (i % 100 == 0)
            s += down(16, i);
    }
    return (void *)s;
}

/* 1: prints the bytes of a 512 KiB stack the measuring thread touched (which: one hook's
 * index in hook_names, -1 all of them and the 16-frame workload) */
static void run_measure(int which)
{
    measure_which = which;
    size_t sz = 512 * 1024;
    unsigned char *stk =
        mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stk == MAP_FAILED)
        exit(3);
    memset(stk, 0xa5, sz);
    frame_bytes = 64;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, stk, sz);
    pthread_t t;
    if (pthread_create(&t, &a, measure_thread, NULL) != 0)
        exit(3);
    pthread_join(t, NULL);
    size_t i = 0;
    while (i < sz && stk[i] == 0xa5)
        i++;
    printf("%zu\n", sz - i);
}

static void *small_thread(void *arg)
{
    (void)arg;
    long s = 0;
    for (int i = 0; i < 500; i++)
        s += down(16, i);
    return (void *)s;
}

/* 2: four threads with 16 KiB stacks */
static void run_small(int fb)
{
    frame_bytes = fb;
    pthread_attr_t a;
    pthread_attr_init(&a);
    if (pthread_attr_setstacksize(&a, 16384) != 0)
        exit(3);
    pthread_t t[4];
    long tot = 0;
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[i], &a, small_thread, NULL) != 0)
            exit(3);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        tot += (long)r;
    }
    printf("small stacks ok %ld\n", tot);
}

/* 3: a makecontext context on a small stack */
static ucontext_t main_ctx, co_ctx;
static long co_result;

static void co_main(void)
{
    pthread_mutex_lock(&mtx);
    char *p = malloc(64);
    p = realloc(p, 128);
    pthread_mutex_unlock(&mtx);
    co_result = p != NULL;
    free(p);
}

/* Runs fn once on stk[0, sz) (a makecontext context) and returns here. */
static void on_context(char *stk, size_t sz, void (*fn)(void))
{
    if (getcontext(&co_ctx) != 0)
        exit(3);
    co_ctx.uc_stack.ss_sp = stk;
    co_ctx.uc_stack.ss_size = sz;
    co_ctx.uc_link = &main_ctx;
    makecontext(&co_ctx, fn, 0);
    swapcontext(&main_ctx, &co_ctx);
}

static void run_context(size_t sz)
{
    char *stk = malloc(sz);
    if (!stk)
        exit(3);
    for (volatile int i = 0; i < 3; i++)
        on_context(stk, sz, co_main);
    free(stk);
    printf("context ok %ld\n", co_result);
}

/* 4: n malloc/free pairs, all on a makecontext stack of sz bytes */
static long churn_n;
static void *volatile churn_sink;
static void co_churn(void)
{
    for (long i = 0; i < churn_n; i++) {
        churn_sink = malloc(32 + (size_t)(i & 63));
        free(churn_sink);
    }
}

static void run_coro(long n, size_t sz)
{
    char *stk = malloc(sz);
    if (!stk)
        exit(3);
    churn_sink = malloc(1); /* the PLT slots bound here, not by the loader on the small stack */
    free(churn_sink);
    churn_n = n;
    on_context(stk, sz, co_churn);
    free(stk);
    printf("coro ok %ld\n", n);
}

static void run(int argc, char **argv)
{
    if (argc < 1)
        exit(2);
    if (strcmp(argv[0], "measure") == 0)
        run_measure(argc > 1 ? atoi(argv[1]) : -1);
    else if (strcmp(argv[0], "small") == 0 && argc > 1)
        run_small(atoi(argv[1]));
    else if (strcmp(argv[0], "context") == 0 && argc > 1)
        run_context((size_t)atoi(argv[1]));
    else if (strcmp(argv[0], "coro") == 0 && argc > 1)
        run_coro(300000, (size_t)atol(argv[1]));
    else
        exit(2);
}

/* ---- the check ------------------------------------------------------------------------- */
static char self[4096];

/* Runs `self run args` natively (trace NULL) or under the shim; its stdout into out. */
static int spawn(const char *trace, const char *a1, const char *a2, char *out, size_t cap)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    if (trace)
        unlink(trace);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        int devnull = open("/dev/null", 1);
        dup2(devnull, 2); /* a crash's message is not the test's */
        if (trace) {
            setenv("LD_PRELOAD", getenv("PERFSHIM_LIB"), 1);
            setenv("PERFSHIM_OUTPUT", trace, 1);
            setenv("PERFSHIM_QUEUE_MB", "1", 1);
            setenv("PERFSHIM_BUFFER_KB", "16", 1);
            setenv("PERFSHIM_ZSTD_LEVEL", "12", 1); /* the writer lags: threads compress too */
        } else {
            unsetenv("LD_PRELOAD");
        }
        alarm(60);
        execl(self, self, "run", a1, a2, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    harness_read_all(p[0], out, cap);
    return harness_wait(pid);
}

/* END's events and dropped of a trace (-1, -1 if it has no END). */
static void trace_counts(const char *path, long *events, long *dropped)
{
    trace_t t;
    *events = *dropped = -1;
    if (trace_load(path, &t) != 0)
        return;
    if (t.have_end && !t.decode_error) {
        *events = (long)t.end.events;
        *dropped = (long)t.end.dropped;
    }
    trace_free(&t);
}

/* END's stacks_shallow of a trace, -1 if it has no END. */
static long trace_shallow(const char *path)
{
    trace_t t;
    if (trace_load(path, &t) != 0)
        return -1;
    long r = t.have_end && !t.decode_error ? (long)t.end.stacks_shallow : -1;
    trace_free(&t);
    return r;
}

static int bad;
#define FAIL(...)                                                                              \
    do {                                                                                       \
        fprintf(stderr, "FAIL: " __VA_ARGS__);                                                 \
        bad++;                                                                                 \
    } while (0)

static void same(const char *what, const char *trace, const char *a1, const char *a2)
{
    char native[256], shim[256];
    int sn = spawn(NULL, a1, a2, native, sizeof native);
    int ss = spawn(trace, a1, a2, shim, sizeof shim);
    if (sn != ss || strcmp(native, shim) != 0)
        FAIL("%s: native status %#x \"%s\", under the shim %#x \"%s\"\n", what, sn, native, ss,
             shim);
    else
        printf("%s: same status (%#x) and output natively and under the shim\n", what, sn);
}

static int check(trace_t *unused, const char *trace_path)
{
    (void)unused;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    char out[256];

    /* 1. the shim's deepest use of a thread's stack, with room to unwind everywhere: each
     * hook alone (its first call on the thread included: the thread's attach), then all */
    for (int w = 0; w < (int)(sizeof hook_names / sizeof hook_names[0]); w++) {
        char ws[16];
        snprintf(ws, sizeof ws, "%d", w);
        int a = spawn(NULL, "measure", ws, out, sizeof out);
        long nat = atol(out);
        int b = spawn(trace_path, "measure", ws, out, sizeof out);
        long sh = atol(out);
        printf("stack use of %-14s %5ld bytes\n", hook_names[w], sh - nat);
        if (a != 0 || b != 0 || nat <= 0 || sh - nat >= (long)PS_UNWIND_STACK_BUDGET)
            FAIL("%s: status %#x/%#x, %ld bytes (budget %u)\n", hook_names[w], a, b, sh - nat,
                 PS_UNWIND_STACK_BUDGET);
    }
    int sn = spawn(NULL, "measure", NULL, out, sizeof out);
    long native = atol(out);
    int ss = spawn(trace_path, "measure", NULL, out, sizeof out);
    long shim = atol(out);
    long shallow = trace_shallow(trace_path);
    printf("stack high-water: native %ld, under the shim %ld: the shim's use %ld bytes "
           "(budget %u), %ld events with their caller only\n",
           native, shim, shim - native, PS_UNWIND_STACK_BUDGET, shallow);
    if (sn != 0 || ss != 0 || native <= 0 || shim <= 0)
        FAIL("measure: native status %#x, under the shim %#x\n", sn, ss);
    else if (shim - native >= (long)PS_UNWIND_STACK_BUDGET)
        FAIL("the shim used %ld bytes of stack, over its budget %u\n", shim - native,
             PS_UNWIND_STACK_BUDGET);
    if (shallow != 0)
        FAIL("measure: %ld events recorded without unwinding on a roomy stack\n", shallow);

    /* 2. 16 KiB stacks: the largest frame that works natively */
    int lo = 64, hi = 1024;
    while (hi - lo > 8) {
        char fb[16];
        snprintf(fb, sizeof fb, "%d", (lo + hi) / 2);
        if (spawn(NULL, "small", fb, out, sizeof out) == 0)
            lo = (lo + hi) / 2;
        else
            hi = (lo + hi) / 2;
    }
    char fb[16];
    snprintf(fb, sizeof fb, "%d", lo - 32);
    printf("16 KiB stacks: natively frames up to %d bytes work; running with %s\n", lo, fb);
    same("16 KiB thread stacks, 16 frames", trace_path, "small", fb);
    shallow = trace_shallow(trace_path);
    if (shallow <= 0)
        FAIL("16 KiB stacks: the trace is incomplete or counts no shallow stack (%ld)\n",
             shallow);
    else
        printf("16 KiB stacks: %ld events recorded with their caller only (counted)\n",
               shallow);

    /* 3. makecontext on a 4 KiB stack */
    same("makecontext, 4 KiB stack", trace_path, "context", "4096");
    shallow = trace_shallow(trace_path);
    if (shallow < 3)
        FAIL("makecontext: the trace is incomplete or counts %ld shallow stacks\n", shallow);

    /* 4. a coroutine's allocations only, on 2 KiB: its chunks built on the shim's stack */
    same("coroutine, 2 KiB stack, 300000 pairs", trace_path, "coro", "2048");
    long ev, dr;
    trace_counts(trace_path, &ev, &dr);
    if (ev < 600000 || dr != 0)
        FAIL("coroutine: %ld events written, %ld dropped (want >= 600000 and 0)\n", ev, dr);
    else
        printf("coroutine: %ld events written, none dropped\n", ev);
    if (!bad)
        unlink(trace_path);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
