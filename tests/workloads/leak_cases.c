/*
 * leak_cases -- programs whose exit is hard on a leak scan, each with known leaks, for
 * tests/integration/leaks_cases.sh (which runs every case natively and under the shim and
 * compares output, exit status and the scan's classes with the truth written there).
 *
 * Every case leaks one control block (control(): malloc(40), definite) so a scan that ran
 * is told from one that saw nothing; what else each case leaves is in its comment.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static void *volatile g_keep; /* a root */

__attribute__((noipa)) static void control(void)
{
    void *volatile p = malloc(40);
    (void)p;
}

/* Overwrites the dead stack below the caller, where stale copies of lost pointers lie. */
__attribute__((noipa)) static void scrub(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof buf);
}

static long page(void)
{
    return sysconf(_SC_PAGESIZE);
}

/* protnone: a live 64 KiB block with a PROT_NONE page in its middle (reachable from a
 * global); it holds the only pointer to a 24-byte block (reachable). Exit 0. */
static int case_protnone(void)
{
    long ps = page();
    char *big = malloc(16 * (size_t)ps);
    char *guard = (char *)(((uintptr_t)big + 4 * (size_t)ps) & ~(uintptr_t)(ps - 1));
    *(void **)big = malloc(24);
    if (mprotect(guard, (size_t)ps, PROT_NONE) != 0)
        return 90;
    g_keep = big;
    control();
    scrub();
    puts("protnone done");
    return 0;
}

/* coroutine: exit(3) from a makecontext coroutine whose stack is an mmap'ed region far from
 * the thread's stack (or, heap: a malloc'ed block). A block only the coroutine's frame holds
 * is reachable. */
static ucontext_t main_ctx, co_ctx;

__attribute__((noipa)) static void co_body(void)
{
    void *volatile mine = malloc(72);
    (void)mine;
    fflush(stdout);
    exit(3);
}

static int case_coroutine(int heap)
{
    size_t sz = 256u << 10;
    void *stack = heap ? malloc(sz)
                       : mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                              -1, 0);
    if (!stack || stack == MAP_FAILED)
        return 90;
    if (heap)
        g_keep = stack;
    getcontext(&co_ctx);
    co_ctx.uc_stack.ss_sp = stack;
    co_ctx.uc_stack.ss_size = sz;
    co_ctx.uc_link = &main_ctx;
    makecontext(&co_ctx, co_body, 0);
    control();
    scrub();
    puts("coroutine start");
    swapcontext(&main_ctx, &co_ctx);
    return 91; /* not reached */
}

/* altstack: exit(4) from a SIGUSR1 handler running on a sigaltstack. */
static void on_usr1(int sig)
{
    (void)sig;
    void *volatile mine = malloc(72);
    (void)mine;
    fflush(stdout);
    exit(4);
}

static int case_altstack(void)
{
    stack_t ss = {.ss_size = 256u << 10};
    ss.ss_sp = mmap(NULL, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ss.ss_sp == MAP_FAILED || sigaltstack(&ss, NULL) != 0)
        return 90;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    control();
    scrub();
    puts("altstack raise");
    raise(SIGUSR1);
    return 91;
}

/* threads: N threads blocked on a semaphore at exit, each holding on its stack a 32-byte
 * block it allocated itself (so the shim attached it): reachable; main exits 0. */
static sem_t never;

static void *idle_thread(void *arg)
{
    (void)arg;
    void *volatile mine = malloc(32);
    sem_wait(&never);
    return (void *)mine;
}

static int case_threads(int n)
{
    sem_init(&never, 0, 0);
    pthread_attr_t a;
    pthread_attr_init(&a);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, &a, idle_thread, NULL) != 0)
            return 90;
    }
    control();
    scrub();
    usleep(100000);
    printf("%d threads idle\n", n);
    fflush(stdout);
    return 0;
}

/* tsd: the main thread's pthread_setspecific values, for a first-level key and for a key
 * >= 32 (glibc's second-level array, itself malloc'ed): 2 blocks, reachable. */
static int case_tsd(void)
{
    pthread_key_t keys[40];
    for (int i = 0; i < 40; i++)
        if (pthread_key_create(&keys[i], NULL) != 0)
            return 90;
    pthread_setspecific(keys[1], malloc(56));
    pthread_setspecific(keys[39], malloc(56));
    control();
    scrub();
    puts("tsd set");
    return 0;
}

/* tls: a main-thread __thread pointer (48 bytes, reachable) when another thread calls
 * exit(5) while main waits in pthread_join. */
static __thread void *tls_keep;

static void *exiter(void *arg)
{
    (void)arg;
    usleep(50000);
    fflush(stdout);
    exit(5);
}

static int case_tls(void)
{
    tls_keep = malloc(48);
    control();
    scrub();
    puts("tls set");
    pthread_t t;
    pthread_create(&t, NULL, exiter, NULL);
    pthread_join(t, NULL);
    return 91;
}

/* sleeper: a thread that never allocated (the shim never attached it) holds the only pointer
 * to a 64-byte block, its start argument, on its stack: reachable. */
static void *sleeper(void *arg)
{
    void *volatile mine = arg;
    for (;;)
        pause();
    return (void *)mine;
}

static int case_sleeper(void)
{
    pthread_t t;
    void *p = malloc(64);
    pthread_create(&t, NULL, sleeper, p);
    p = NULL;
    control();
    scrub();
    usleep(100000);
    puts("sleeper started");
    return 0;
}

/* dtor: a thread still in its TSD destructor at exit holds its value (80 bytes): reachable. */
static sem_t in_dtor;

static void tsd_dtor(void *v)
{
    void *volatile mine = v;
    sem_post(&in_dtor);
    for (;;)
        pause();
    (void)mine;
}

static void *dtor_thread(void *arg)
{
    pthread_key_t *k = arg;
    pthread_setspecific(*k, malloc(80));
    return NULL;
}

static int case_dtor(void)
{
    static pthread_key_t k;
    sem_init(&in_dtor, 0, 0);
    pthread_key_create(&k, tsd_dtor);
    pthread_t t;
    pthread_create(&t, NULL, dtor_thread, &k);
    sem_wait(&in_dtor);
    usleep(20000);
    control();
    scrub();
    puts("in dtor");
    return 0;
}

/* deadframe: a thread leaks a 88-byte block whose pointer stays in a dead frame below its
 * stack pointer, then blocks in a syscall from a shallow frame: definite. */
static sem_t dead_done;

__attribute__((noipa)) static void leave_in_dead_frame(void)
{
    void *volatile p = malloc(88);
    volatile char pad[512];
    pad[0] = 1;
    (void)pad[0];
    (void)p;
}

static void *dead_thread(void *arg)
{
    (void)arg;
    leave_in_dead_frame();
    sem_post(&dead_done);
    for (;;)
        pause();
    return NULL;
}

/* dangling: globals still point to freed blocks whose stale bytes hold the only pointers to
 * three 24-byte blocks: a freed block is no root (memcheck does not scan freed blocks), so
 * they are definitely lost. glibc keeps the freed chunks "in use" for its free lists (the
 * next chunk's PREV_INUSE bit stays set): the 144-byte one goes to a tcache bin; of nine
 * 56-byte ones the last goes to a fastbin (its tcache bin holds at most 7); a 72-byte one is
 * freed by the realloc that moves it (its new copy forgets the pointer and stays live). */
static void *volatile g_dangling[4];
__attribute__((noipa)) static void put24(void **slot) /* a store the compiler cannot drop */
{
    *slot = malloc(24);
}
static int case_dangling(void)
{
    void **a = calloc(1, 144);
    put24(&a[7]);
    void **b[9];
    for (int i = 0; i < 9; i++)
        b[i] = calloc(1, 56);
    put24(&b[8][3]);
    void **c = calloc(1, 72);
    put24(&c[5]);
    g_dangling[0] = a;
    g_dangling[1] = b[8];
    g_dangling[2] = c;
    free(a);
    for (int i = 0; i < 9; i++)
        free(b[i]);
    void **moved = realloc(c, 8192);
    if (!moved || moved == c)
        return 91;
    moved[5] = NULL;
    g_dangling[3] = moved;
    control();
    scrub();
    puts("dangling done");
    return 0;
}

static int case_deadframe(void)
{
    sem_init(&dead_done, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, dead_thread, NULL);
    sem_wait(&dead_done);
    usleep(20000);
    control();
    scrub();
    puts("dead frame left");
    return 0;
}

/* anon: the only pointer to a 100-byte block lives in an anonymous mmap (an interpreter's
 * arena): reachable. */
static int case_anon(void)
{
    void **arena = mmap(NULL, 1u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    if (arena == MAP_FAILED)
        return 90;
    arena[1000] = malloc(100);
    control();
    scrub();
    puts("anon set");
    return 0;
}

/* fork: the parent leaks a 120-byte block, forks; the child (exit 0) inherits it: its scan
 * has 2 definite blocks (the inherited one marked inherited, and its own control). */
static int case_fork(void)
{
    void *volatile lost = malloc(120);
    lost = NULL;
    (void)lost;
    scrub();
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        control();
        scrub();
        exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    puts(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "child ok" : "child failed");
    return 0;
}

/* cycles: unreachable cycles and chains (memcheck's cliques; leaks_cases.sh checks the
 * totals against memcheck when valgrind is there). Allocated in this order, so addresses
 * rise: B = b1->b2->b3->b1 (3 x 64), A = a1<->a2 (2 x 48) with a1 -> b1, C = c1<->c2 (2 x 80),
 * y (112), x (96) -> y. memcheck: each unreached block in address order leads a clique and
 * takes in earlier leaders it reaches: definite a1, c1, x (+ control) = 4 blocks 264 bytes;
 * indirect a2, b1..b3, c2, y = 6 blocks 432 bytes. */
struct cyc {
    struct cyc *next, *other;
};

__attribute__((noipa)) static struct cyc *cyc_b(void)
{
    struct cyc *volatile p = calloc(1, 64); /* not a tail call: a frame of its own */
    return p;
}
__attribute__((noipa)) static struct cyc *cyc_a(void)
{
    struct cyc *volatile p = calloc(1, 48); /* not a tail call: a frame of its own */
    return p;
}
__attribute__((noipa)) static struct cyc *cyc_c(void)
{
    struct cyc *volatile p = calloc(1, 80); /* not a tail call: a frame of its own */
    return p;
}
__attribute__((noipa)) static struct cyc *cyc_y(void)
{
    struct cyc *volatile p = calloc(1, 112); /* not a tail call: a frame of its own */
    return p;
}
__attribute__((noipa)) static struct cyc *cyc_x(void)
{
    struct cyc *volatile p = calloc(1, 96); /* not a tail call: a frame of its own */
    return p;
}

__attribute__((noipa)) static void make_cycles(void)
{
    struct cyc *b1 = cyc_b(), *b2 = cyc_b(), *b3 = cyc_b();
    b1->next = b2;
    b2->next = b3;
    b3->next = b1;
    struct cyc *a1 = cyc_a(), *a2 = cyc_a();
    a1->next = a2;
    a2->next = a1;
    a1->other = b1;
    struct cyc *c1 = cyc_c(), *c2 = cyc_c();
    c1->next = c2;
    c2->next = c1;
    struct cyc *y = cyc_y(), *x = cyc_x();
    x->next = y;
}

static int case_cycles(void)
{
    make_cycles();
    control();
    scrub();
    puts("cycles made");
    return 0;
}

/* zero: one leaked malloc(0) block and nothing else: `check` fails it by default. */
__attribute__((noipa)) static void leak_zero(void)
{
    void *volatile p = malloc(0);
    (void)p;
}

static int case_zero(void)
{
    leak_zero();
    scrub();
    puts("zero");
    return 0;
}

/* nomem: 200000 live blocks (reachable), then an address-space limit just above what the
 * process maps: the exit scan gets no memory for its tables. It must say so in the trace (an
 * ABORTED scan record), and the program exits 0 as natively. */
#include <sys/resource.h>

static int case_nomem(void)
{
    void **keep = malloc(200000 * sizeof *keep);
    for (int i = 0; i < 200000; i++)
        keep[i] = malloc(16);
    g_keep = keep;
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld", &pages) != 1)
        return 90;
    fclose(f);
    struct rlimit rl = {.rlim_cur = (rlim_t)pages * (rlim_t)page() + (2u << 20),
                        .rlim_max = RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 91;
    puts("nomem");
    return 0;
}

/* afterdlopen LIB: one call site leaks a 24-byte block before a dlopen and two after it. The
 * dynamic linker's blocks are roots (they hold TLS and link maps): the first touch of LIB's
 * thread-local buffer (leak_tlslib.c) makes ld.so malloc this thread's block of it, walked
 * from there; the leaks after it take their stack from the stack cache, and that last walk's
 * first frame (in ld.so) must not make them the dynamic linker's (it once did: they were
 * counted reachable). 3 definite blocks of 24 + control. */
__attribute__((noipa)) static void leak_24(void)
{
    void *volatile p = malloc(24);
    (void)p;
}

static int case_afterdlopen(const char *lib)
{
    /* one stack: the first call walks it, the others hit (volatile: no unrolled copies of
     * the call, each with its own return address) */
    for (volatile int i = 0; i < 3; i++) {
        if (i == 1) {
            void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
            void *(*touch)(void) = h ? (void *(*)(void))dlsym(h, "leak_tls_touch") : NULL;
            if (!touch) {
                fprintf(stderr, "leak_cases: %s\n", dlerror());
                return 92;
            }
            g_keep = touch();
        }
        leak_24();
    }
    control();
    scrub();
    puts("afterdlopen");
    return 0;
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(m, "protnone"))
        return case_protnone();
    if (!strcmp(m, "coroutine"))
        return case_coroutine(0);
    if (!strcmp(m, "coroutine-heap"))
        return case_coroutine(1);
    if (!strcmp(m, "altstack"))
        return case_altstack();
    if (!strcmp(m, "threads"))
        return case_threads(argc > 2 ? atoi(argv[2]) : 500);
    if (!strcmp(m, "tsd"))
        return case_tsd();
    if (!strcmp(m, "tls"))
        return case_tls();
    if (!strcmp(m, "sleeper"))
        return case_sleeper();
    if (!strcmp(m, "dtor"))
        return case_dtor();
    if (!strcmp(m, "dangling"))
        return case_dangling();
    if (!strcmp(m, "deadframe"))
        return case_deadframe();
    if (!strcmp(m, "anon"))
        return case_anon();
    if (!strcmp(m, "fork"))
        return case_fork();
    if (!strcmp(m, "cycles"))
        return case_cycles();
    if (!strcmp(m, "zero"))
        return case_zero();
    if (!strcmp(m, "nomem"))
        return case_nomem();
    if (!strcmp(m, "afterdlopen"))
        return case_afterdlopen(argc > 2 ? argv[2] : "libleaktls.so");
    fprintf(stderr, "usage: leak_cases CASE\n");
    return 2;
}
