/*
 * loader_lock -- no lock order against the loader. Threads allocate and lock at many call
 * sites (each a new stack: libunwind takes its cache lock, then the loader's lock through
 * dl_iterate_phdr), while another thread allocates and locks inside dl_iterate_phdr callbacks
 * (the loader's lock held, then the hook), and a third dlopens and dlcloses a library (so
 * the loader's lock is taken in both orders), and every unwinder also allocates below a frame
 * without unwind info (libunwind looks it up again each time, under its cache lock). Before
 * the fix this deadlocked in most runs (the shim's dladdr, or libunwind's lock, against the
 * loader's). The check runs the program RUNS times under the shim, each under
 * alarm(): every run must end with the native output and status, its trace complete and the
 * callbacks' events counted as recorded with their caller only (END stacks_shallow).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define RUNS 10
#define RUN_MS 400
#define UNWINDERS 3

static volatile int stop;
static const char *lib_path;

/* 32 distinct call sites, each reached through 4 distinct callers: 128 stacks */
#define S8(X, p) X(p##0) X(p##1) X(p##2) X(p##3) X(p##4) X(p##5) X(p##6) X(p##7)
#define SITES(X) S8(X, a) S8(X, b) S8(X, c) S8(X, d)
#define PS_X(n)                                                                                \
    __attribute__((noinline)) static void site_##n(int i)                                      \
    {                                                                                          \
        static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;                                  \
        pthread_mutex_lock(&m);                                                                \
        free(malloc((size_t)(16 + i % 100)));                                                  \
        pthread_mutex_unlock(&m);                                                              \
    }
SITES(PS_X)
#undef PS_X
#define PS_X(n) site_##n,
static void (*const sites[])(int) = {SITES(PS_X)};
#undef PS_X
#define NSITES (sizeof sites / sizeof sites[0])

/* A frame without unwind info (no CFI): libunwind finds no FDE for it, so every unwind
 * through it searches the modules again (dl_iterate_phdr) under libunwind's cache lock. */
void nocfi_call(void (*fn)(int), int arg);
__asm__(".text\n"
        ".globl nocfi_call\n"
        ".type nocfi_call, @function\n"
        "nocfi_call:\n"
        "  push %rbp\n"
        "  mov %rsp, %rbp\n"
        "  mov %rdi, %rax\n"
        "  mov %esi, %edi\n"
        "  call *%rax\n"
        "  pop %rbp\n"
        "  ret\n"
        ".size nocfi_call, .-nocfi_call\n");

__attribute__((noinline)) static void uncached(int i)
{
    free(malloc((size_t)(8 + i % 50)));
}

__attribute__((noinline)) static void via0(int i) { sites[(unsigned)i % NSITES](i); }
__attribute__((noinline)) static void via1(int i) { sites[(unsigned)i % NSITES](i); }
__attribute__((noinline)) static void via2(int i) { sites[(unsigned)i % NSITES](i); }
__attribute__((noinline)) static void via3(int i) { sites[(unsigned)i % NSITES](i); }
static void (*const vias[])(int) = {via0, via1, via2, via3};

static void *unwinder(void *arg)
{
    int k = (int)(long)arg;
    for (int i = 0; !stop; i++) {
        vias[(unsigned)(i / (int)NSITES + k) % 4](i);
        nocfi_call(uncached, i);
    }
    return NULL;
}

static pthread_mutex_t cb_mutex = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) static int in_loader(struct dl_phdr_info *info, size_t size,
                                               void *arg)
{
    (void)info;
    (void)size;
    long *n = arg;
    pthread_mutex_lock(&cb_mutex);
    void *p = malloc((size_t)(32 + *n % 64));
    pthread_mutex_unlock(&cb_mutex);
    free(p);
    ++*n;
    return 0;
}

static void *iterator(void *arg)
{
    long *n = arg;
    while (!stop)
        dl_iterate_phdr(in_loader, n);
    return NULL;
}

static void *loader(void *arg)
{
    long *n = arg;
    while (!stop) {
        void *h = dlopen(lib_path, RTLD_NOW);
        if (h) {
            void (*work)(int) = (void (*)(int))dlsym(h, "dlo_work");
            if (work)
                work(2);
            dlclose(h);
            ++*n;
        }
    }
    return NULL;
}

static void run(int argc, char **argv)
{
    if (argc < 1)
        exit(2);
    lib_path = argv[0];
    alarm(20); /* a deadlock fails the run (SIGALRM) instead of hanging the test */
    pthread_t t[UNWINDERS + 2];
    long callbacks = 0, loads = 0;
    for (long i = 0; i < UNWINDERS; i++)
        pthread_create(&t[i], NULL, unwinder, (void *)i);
    pthread_create(&t[UNWINDERS], NULL, iterator, &callbacks);
    pthread_create(&t[UNWINDERS + 1], NULL, loader, &loads);
    struct timespec ts = {0, RUN_MS * 1000000L};
    nanosleep(&ts, NULL);
    stop = 1;
    for (int i = 0; i < UNWINDERS + 2; i++)
        pthread_join(t[i], NULL);
    printf("ok %s %s\n", callbacks > 0 ? "callbacks" : "no-callbacks",
           loads > 0 ? "loads" : "no-loads");
}

static int spawn(const char *trace, const char *lib, char *out, size_t cap)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    if (trace)
        unlink(trace);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        if (trace) {
            setenv("LD_PRELOAD", getenv("PERFSHIM_LIB"), 1);
            setenv("PERFSHIM_OUTPUT", trace, 1);
        } else {
            unsetenv("LD_PRELOAD");
        }
        execl(self, self, "run", lib, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    harness_read_all(p[0], out, cap);
    return harness_wait(pid);
}

static int check(trace_t *unused, const char *trace_path)
{
    (void)unused;
    char lib[4200], native[256], shim[256];
    const char *b = getenv("top_builddir");
    snprintf(lib, sizeof lib, "%s/tests/integration/.libs/libdlo.so", b ? b : ".");
    int bad = 0, sn = spawn(NULL, lib, native, sizeof native);
    if (sn != 0 || strcmp(native, "ok callbacks loads\n") != 0) {
        fprintf(stderr, "FAIL: the native run: status %#x \"%s\"\n", sn, native);
        return 1;
    }
    int runs = RUNS;
    const char *e = getenv("LOADER_LOCK_RUNS");
    if (e && atoi(e) > 0)
        runs = atoi(e);
    for (int i = 0; i < runs; i++) {
        int ss = spawn(trace_path, lib, shim, sizeof shim);
        if (ss != sn || strcmp(native, shim) != 0) {
            fprintf(stderr, "FAIL: run %d under the shim: status %#x%s \"%s\"\n", i + 1, ss,
                    WIFSIGNALED(ss) && WTERMSIG(ss) == SIGALRM ? " (deadlock: SIGALRM)" : "",
                    shim);
            bad++;
            continue;
        }
        trace_t t;
        if (trace_load(trace_path, &t) != 0) {
            fprintf(stderr, "FAIL: run %d: the trace does not load\n", i + 1);
            bad++;
            continue;
        }
        if (!t.have_end || t.decode_error || t.end.stacks_shallow == 0) {
            fprintf(stderr, "FAIL: run %d: trace incomplete or no shallow stack (%u)\n", i + 1,
                    t.have_end ? t.end.stacks_shallow : 0);
            bad++;
        }
        trace_free(&t);
    }
    printf("%d runs under the shim, %d failed\n", runs, bad);
    if (!bad)
        unlink(trace_path);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
