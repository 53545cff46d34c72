/*
 * hostproc -- the host process stays its own (issue 12). Each mode runs natively and under
 * the shim, in a fresh directory, and must give the same wait status and stdout; then the
 * traces it left are checked with exact counts:
 *   env       the program exports its own setenv/unsetenv that leave environ alone (as bash
 *             does) and keeps a copy of the environment made before the shim's constructor;
 *             it runs children through system(), popen(), posix_spawn (environ and the
 *             copy), vfork+execve, fexecve and execveat (the copy), execl and execlp
 *             (environ), execle (the copy) and finally execve itself (the copy). With
 *             PERFSHIM_FOLLOW_EXEC=0 exactly one trace (its own) and no child allocation
 *             anywhere; with =1 every child is traced.
 *   rawfork   a child made by syscall(SYS_fork): the parent's trace holds exactly the parent's
 *             allocations and is complete; the child's own trace holds exactly its own.
 *   errno     every allocation function, first call of the process and of a new thread:
 *             errno exactly as natively (ENOMEM, EINVAL, or unchanged).
 *   errno_mt  4 threads, each freeing the blocks the one before it allocated (cross-thread
 *             frees: shared live-set shards, their locks and revocations, buffer hand-offs,
 *             new stacks), 800,000 calls: errno unchanged by every successful call
 *   snapsig   PERFSHIM_SNAPSHOT_SIGNAL=11 and a segfault: killed by SIGSEGV as natively (not
 *             a loop), with one warning.
 *   deepbind  a library opened with RTLD_DEEPBIND (by "$ORIGIN/..." and, in deepbind_name, by
 *             a bare name found through the program's RUNPATH, which only a dlopen called from
 *             the program itself searches; a plain dlopen first) allocates blocks the app frees and
 *             frees blocks the app allocated: no unmatched, double or invalid free, no leak,
 *             every one of its allocations recorded.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "reader.h"
#include "test.h"

#if defined(__GNUC__) && !defined(__clang__)
/* the probes reuse a block after a realloc that failed on purpose; paths are short */
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

extern char **environ;
static char self[4096];
static void *volatile sink;
static int *volatile nullp;

__attribute__((noinline)) void *site_parent(void) { return malloc(64); }
__attribute__((noinline)) void *site_parent_after(void) { return malloc(65); }
__attribute__((noinline)) void *site_child(void) { return malloc(32); }

/* ---- a program that owns its environment, like bash ---------------------------------------
 * With HOSTPROC_OWN_SETENV set, setenv/unsetenv change nothing in environ (bash's change its
 * variable table); otherwise they are glibc's. */
static int own_setenv(void)
{
    static int v = -1;
    if (v < 0) {
        v = 0;
        for (char **e = environ; e && *e; e++)
            if (!strncmp(*e, "HOSTPROC_OWN_SETENV=", 20))
                v = 1;
    }
    return v;
}

int setenv(const char *name, const char *value, int overwrite)
{
    if (own_setenv())
        return 0;
    int (*real)(const char *, const char *, int) = dlsym(RTLD_NEXT, "setenv");
    return real(name, value, overwrite);
}

int unsetenv(const char *name)
{
    if (own_setenv())
        return 0;
    int (*real)(const char *) = dlsym(RTLD_NEXT, "unsetenv");
    return real(name);
}

/* The environment as it was before any constructor ran (the strings are the kernel's). */
static char *saved_env[1024];
static void save_env(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    size_t i = 0;
    for (; envp && envp[i] && i < 1023; i++)
        saved_env[i] = envp[i];
    saved_env[i] = NULL;
}
__attribute__((section(".preinit_array"), used)) static void (*preinit)(int, char **,
                                                                       char **) = save_env;

static void say(const char *s)
{
    (void)!write(1, s, strlen(s));
}

static void wait_ok(pid_t pid, const char *what)
{
    int st = harness_wait(pid);
    say(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? what : "child failed\n");
}

static void run_env(void)
{
    for (int i = 0; i < 3; i++)
        free(site_parent());
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s' run child", self);
    fflush(stdout);
    say(system(cmd) == 0 ? "system ok\n" : "system failed\n");
    FILE *f = popen(cmd, "r");
    char line[64] = "";
    if (f && fgets(line, sizeof line, f))
        say(strcmp(line, "child\n") == 0 ? "popen ok\n" : "popen: wrong output\n");
    if (f)
        pclose(f);
    char *args[] = {self, (char *)"run", (char *)"child", NULL};
    pid_t pid;
    if (posix_spawn(&pid, self, NULL, NULL, args, environ) == 0)
        wait_ok(pid, "spawn ok\n");
    if (posix_spawnp(&pid, self, NULL, NULL, args, saved_env) == 0)
        wait_ok(pid, "spawnp ok\n");
    pid = vfork();
    if (pid == 0) {
        execve(self, args, saved_env);
        _exit(127);
    }
    wait_ok(pid, "vfork ok\n");
    int fd = open(self, O_RDONLY | O_CLOEXEC);
    pid = vfork();
    if (pid == 0) {
        fexecve(fd, args, saved_env);
        _exit(127);
    }
    wait_ok(pid, "fexecve ok\n");
    pid = vfork();
    if (pid == 0) {
        execveat(AT_FDCWD, self, args, saved_env, 0);
        _exit(127);
    }
    wait_ok(pid, "execveat ok\n");
    close(fd);
    /* the variadic family: execl and execlp with environ, execle with the copy */
    if ((pid = vfork()) == 0) {
        execl(self, self, "run", "child", (char *)NULL);
        _exit(127);
    }
    wait_ok(pid, "execl ok\n");
    if ((pid = vfork()) == 0) {
        execlp(self, self, "run", "child", (char *)NULL);
        _exit(127);
    }
    wait_ok(pid, "execlp ok\n");
    static char *marked[1024] = {(char *)"HOSTPROC_MARK=execle"};
    for (int i = 0; saved_env[i] && i < 1022; i++)
        marked[i + 1] = saved_env[i];
    if ((pid = vfork()) == 0) {
        execle(self, self, "run", "child", (char *)NULL, marked);
        _exit(127);
    }
    wait_ok(pid, "execle ok\n");
    execve(self, args, saved_env);
    say("exec failed\n");
}

static void run_child(void)
{
    for (int i = 0; i < 3; i++)
        free(site_child());
    say(getenv("HOSTPROC_MARK") ? "child, marked\n" : "child\n"); /* execle's own envp */
}

static void run_rawfork(void)
{
    for (int i = 0; i < 100; i++)
        free(site_parent());
    pid_t pid = (pid_t)syscall(SYS_fork);
    if (pid == 0) {
        /* more than PERFSHIM_QUEUE_MB=1 of records: the copy of the parent's queue fills */
        for (int i = 0; i < 50000; i++)
            free(site_child());
        char pidfile[64];
        snprintf(pidfile, sizeof pidfile, "child.pid");
        FILE *f = fopen(pidfile, "w");
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
        exit(0);
    }
    wait_ok(pid, "rawfork child ok\n");
    for (int i = 0; i < 100; i++)
        free(site_parent_after());
}

static void *volatile probe_sink;
static char errbuf[4096];
static size_t errlen;
#define PROBE(what, expr)                                                                      \
    do {                                                                                       \
        errno = 4321;                                                                          \
        probe_sink = (void *)(uintptr_t)(expr); /* used: the call is not optimized away */     \
        int e_ = errno;                                                                        \
        errlen += (size_t)snprintf(errbuf + errlen, sizeof errbuf - errlen, "%s %s: %d\n", who, \
                                   what, e_);                                                  \
    } while (0)

static void probe(const char *who)
{
    void *q = NULL, *z = NULL;
    size_t huge = SIZE_MAX - (size_t)(uintptr_t)sink; /* not a constant: no warning */
    PROBE("malloc(SIZE_MAX)", malloc(huge));
    PROBE("malloc(16)", (z = malloc(16)));
    PROBE("free", (free(z), 0));
    PROBE("calloc overflow", calloc(huge, 2));
    PROBE("calloc", (z = calloc(2, 8)));
    PROBE("realloc(SIZE_MAX)", realloc(z, huge));
    PROBE("realloc", (z = realloc(z, 100)));
    PROBE("reallocarray overflow", reallocarray(z, huge, 4));
    PROBE("free2", (free(z), 0));
    PROBE("aligned_alloc(3)", aligned_alloc(3, 16));
    PROBE("memalign huge", memalign(64, huge - 100));
    PROBE("valloc huge", valloc(huge));
    PROBE("pvalloc huge", pvalloc(huge));
    PROBE("posix_memalign(3)", posix_memalign(&q, 3, 16));
}

static void *errno_thread(void *arg)
{
    (void)arg;
    probe("thread");
    return NULL;
}

/* errno_mt: thread i allocates into ring i and frees what thread i-1 put in ring i-1 */
#define EMT_THREADS 4
#define EMT_ROUNDS 100000
#define EMT_SLOTS 64
static void *volatile emt_ring[EMT_THREADS][EMT_SLOTS];
static long emt_bad[EMT_THREADS];

__attribute__((noinline)) static void *emt_alloc(int depth, size_t n)
{
    /* a few distinct stacks: the stack cache's misses and walks go through the check too */
    return depth ? emt_alloc(depth - 1, n) : malloc(n);
}

static void *errno_mt_thread(void *arg)
{
    const int me = (int)(uintptr_t)arg, prev = (me + EMT_THREADS - 1) % EMT_THREADS;
    long bad = 0;
    for (int i = 0; i < EMT_ROUNDS; i++) {
        errno = 1234 + me;
        void *p = emt_alloc(i % 5, 16 + (size_t)(i % 200));
        bad += errno != 1234 + me;
        void *old = __atomic_exchange_n(&emt_ring[me][i % EMT_SLOTS], p, __ATOMIC_ACQ_REL);
        errno = 4321 + me;
        free(old);
        bad += errno != 4321 + me;
        void *theirs = __atomic_exchange_n(&emt_ring[prev][(i * 7) % EMT_SLOTS], NULL,
                                           __ATOMIC_ACQ_REL);
        errno = 5678;
        free(theirs);
        bad += errno != 5678;
    }
    emt_bad[me] = bad;
    return NULL;
}

static void run_errno_mt(void)
{
    pthread_t t[EMT_THREADS];
    for (int i = 0; i < EMT_THREADS; i++)
        pthread_create(&t[i], NULL, errno_mt_thread, (void *)(uintptr_t)i);
    long bad = 0;
    for (int i = 0; i < EMT_THREADS; i++) {
        pthread_join(t[i], NULL);
        bad += emt_bad[i];
    }
    for (int i = 0; i < EMT_THREADS; i++)
        for (int j = 0; j < EMT_SLOTS; j++)
            free(emt_ring[i][j]);
    char line[80];
    snprintf(line, sizeof line, "errno_mt: %ld calls changed errno\n", bad);
    say(line);
}

static void run_deepbind(const char *name, int how)
{
    void *h = dlopen(name, how | RTLD_DEEPBIND);
    if (!h) {
        say("dlopen failed\n");
        return;
    }
    void *(*da)(size_t) = (void *(*)(size_t))dlsym(h, "deep_alloc");
    void (*df)(void *) = (void (*)(void *))dlsym(h, "deep_free");
    void *(*dr)(void *, size_t) = (void *(*)(void *, size_t))dlsym(h, "deep_realloc");
    void *(*dc)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(h, "deep_calloc");
    for (int i = 0; i < 100; i++) {
        df(site_parent());        /* the app's block, freed by the library */
        free(da(48));             /* the library's block, freed by the app */
        free(dr(da(16), 64));     /* allocated and moved by the library, freed by the app */
        df(dr(site_child(), 200)); /* the app's block, moved and freed by the library */
        free(dc(4, 4));
    }
    dlclose(h);
    say("deepbind ok\n");
}

static void run(int argc, char **argv)
{
    const char *mode = argc > 0 ? argv[0] : "";
    if (!strcmp(mode, "env")) {
        run_env();
    } else if (!strcmp(mode, "child")) {
        run_child();
    } else if (!strcmp(mode, "rawfork")) {
        run_rawfork();
    } else if (!strcmp(mode, "errno")) {
        probe("main");
        pthread_t t;
        pthread_create(&t, NULL, errno_thread, NULL);
        pthread_join(t, NULL);
        say(errbuf);
    } else if (!strcmp(mode, "errno_mt")) {
        run_errno_mt();
    } else if (!strcmp(mode, "deepbind")) {
        run_deepbind("$ORIGIN/.libs/libdeep.so", RTLD_LAZY); /* PLT entries not yet bound */
    } else if (!strcmp(mode, "deepbind_name")) {
        void *h0 = dlopen("libdeep.so", RTLD_NOW); /* through the thunk: the caller is ours */
        say(h0 ? "plain dlopen ok\n" : "plain dlopen failed\n");
        if (h0)
            dlclose(h0);
        run_deepbind("libdeep.so", RTLD_NOW);
    } else if (!strcmp(mode, "snapsig")) {
        sink = malloc(10);
        say("segv\n");
        *nullp = 1;
    }
}

/* ---- checker --------------------------------------------------------------------------- */

static int fails;
static const char *cur_mode = "";
#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__, cur_mode,    \
                    #c);                                                                       \
            fails++;                                                                           \
        }                                                                                      \
    } while (0)

static char top[4096];

/* Runs `self run mode` in directory dir (created), stdout to dir/out, stderr to dir/err;
 * under the shim when traced. env_kv: up to 3 extra NAME=VALUE. Returns the wait status. */
static int launch(const char *mode, const char *dir, int traced, const char *const *env_kv)
{
    mkdir(dir, 0700);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        int fd = open("out", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        fd = open("err", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        unsetenv("LD_PRELOAD");
        if (traced) {
            setenv("LD_PRELOAD", getenv("PERFSHIM_LIB"), 1);
            setenv("PERFSHIM_OUTPUT", "hp.%p.trace", 1);
        }
        for (int i = 0; env_kv && env_kv[i]; i++)
            putenv((char *)env_kv[i]);
        signal(SIGSEGV, SIG_DFL);
        alarm(60); /* a hang is a failure, not a stuck test */
        char *argv[] = {self, (char *)"run", (char *)mode, NULL};
        execv(self, argv);
        _exit(127);
    }
    return harness_wait(pid);
}

/* Native and traced runs of mode in top/mode.native and top/mode.traced; same status and
 * stdout. Returns the traced status. */
static int compare(const char *mode, const char *const *env_kv)
{
    char a[4200], b[4200], pa[4300], pb[4300];
    snprintf(a, sizeof a, "%s/%s.native", top, mode);
    snprintf(b, sizeof b, "%s/%s.traced", top, mode);
    int sa = launch(mode, a, 0, env_kv);
    int sb = launch(mode, b, 1, env_kv);
    snprintf(pa, sizeof pa, "%s/out", a);
    snprintf(pb, sizeof pb, "%s/out", b);
    char *oa = harness_slurp(pa), *ob = harness_slurp(pb);
    if (sa != sb || !oa || !ob || strcmp(oa, ob)) {
        fprintf(stderr, "[%s] native: status 0x%x out \"%s\"; traced: status 0x%x out \"%s\"\n",
                mode, sa, oa ? oa : "?", sb, ob ? ob : "?");
        fails++;
    }
    free(oa);
    free(ob);
    return sb;
}

/* The traces in dir: their count, and the allocations at `site` summed over all of them. */
static int scan_traces(const char *dir, const char *site, uint64_t *site_total)
{
    DIR *d = opendir(dir);
    int n = 0;
    *site_total = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "hp.", 3) != 0)
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        n++;
        trace_t t;
        if (trace_load(path, &t) != 0) {
            fprintf(stderr, "[%s] cannot load %s\n", cur_mode, path);
            fails++;
            continue;
        }
        *site_total += trace_count_site(&t, site, EV_ALLOC, 0, NULL);
        trace_free(&t);
    }
    if (d)
        closedir(d);
    return n;
}

static void check_env(int follow)
{
    cur_mode = follow ? "env_follow" : "env";
    const char *kv[] = {"HOSTPROC_OWN_SETENV=1",
                        follow ? "PERFSHIM_FOLLOW_EXEC=1" : "PERFSHIM_FOLLOW_EXEC=0", NULL};
    char mode_dir[4200];
    /* the mode's directory name differs so that both runs keep their traces apart */
    int st = compare("env", kv);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    snprintf(mode_dir, sizeof mode_dir, "%s/env.traced", top);
    uint64_t child_allocs, parent_allocs;
    int n = scan_traces(mode_dir, "site_child", &child_allocs);
    scan_traces(mode_dir, "site_parent", &parent_allocs);
    CHECK(parent_allocs == 3);
    if (!follow) {
        CHECK(n == 1);
        CHECK(child_allocs == 0);
    } else {
        /* system, popen, spawn, spawnp, vfork+execve, fexecve, execveat, execl, execlp,
         * execle, execve: 3 each */
        CHECK(child_allocs == 33);
        CHECK(n >= 12);
    }
    if (fails)
        fprintf(stderr, "[%s] %d traces, %llu child allocations\n", cur_mode, n,
                (unsigned long long)child_allocs);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/env.traced' '%s/env.native'", top, top);
    (void)!system(cmd);
}

static void check_rawfork(void)
{
    cur_mode = "rawfork";
    const char *kv[] = {"PERFSHIM_QUEUE_MB=1", NULL};
    int st = compare("rawfork", kv);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char dir[4200], path[4400];
    snprintf(dir, sizeof dir, "%s/rawfork.traced", top);
    snprintf(path, sizeof path, "%s/child.pid", dir);
    char *s = harness_slurp(path);
    int cpid = s ? atoi(s) : 0;
    free(s);
    CHECK(cpid > 0);
    DIR *d = opendir(dir);
    struct dirent *de;
    int seen_parent = 0, seen_child = 0;
    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "hp.", 3) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        trace_t t;
        if (trace_load(path, &t) != 0) {
            CHECK(!"trace loads");
            continue;
        }
        CHECK(t.index_status == 0 && t.decode_error == 0 && t.have_end);
        CHECK(t.end.events == t.chunk_events && t.end.dropped == 0);
        uint64_t p = trace_count_site(&t, "site_parent", EV_ALLOC, 0, NULL);
        uint64_t pa = trace_count_site(&t, "site_parent_after", EV_ALLOC, 0, NULL);
        uint64_t c = trace_count_site(&t, "site_child", EV_ALLOC, 0, NULL);
        int is_child = atoi(de->d_name + 3) == cpid;
        if (is_child) {
            seen_child++;
            CHECK(c == 50000 && p == 0 && pa == 0);
            reader_t *r = NULL;
            CHECK(reader_open(&r, path) == 0 && (reader_info(r)->flags & PS_FILE_F_FORK_CHILD));
            reader_close(r);
        } else {
            seen_parent++;
            CHECK(p == 100 && pa == 100 && c == 0);
            replay_t rp;
            trace_replay(&t, &rp);
            CHECK(rp.unmatched_frees == 0 && rp.double_allocs == 0);
        }
        trace_free(&t);
    }
    if (d)
        closedir(d);
    CHECK(seen_parent == 1 && seen_child == 1);
}

static void check_errno(void)
{
    cur_mode = "errno";
    int st = compare("errno", NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cur_mode = "errno_mt";
    st = compare("errno_mt", NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void check_snapsig(void)
{
    cur_mode = "snapsig";
    const char *kv[] = {"PERFSHIM_SNAPSHOT_SIGNAL=11", NULL};
    int st = compare("snapsig", kv);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    char path[4300];
    snprintf(path, sizeof path, "%s/snapsig.traced/err", top);
    char *err = harness_slurp(path);
    CHECK(err && strstr(err, "PERFSHIM_SNAPSHOT_SIGNAL=11") && strchr(err, '\n') &&
          !strchr(strchr(err, '\n') + 1, '\n'));
    if (err && fails)
        fprintf(stderr, "[snapsig] stderr: %s", err);
    free(err);
}

static void check_deepbind(const char *mode)
{
    cur_mode = mode;
    int st = compare(mode, NULL);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char dir[4200], path[4400], json[4400];
    snprintf(dir, sizeof dir, "%s/%s.traced", top, mode);
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "hp.", 3) != 0)
            continue;
        n++;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        trace_t t;
        if (trace_load(path, &t) != 0) {
            CHECK(!"trace loads");
            continue;
        }
        CHECK(t.have_end);
        /* the app's 100 + the library's 100 reallocs of them */
        CHECK(trace_count_site(&t, "site_parent", EV_ALLOC, 0, NULL) == 100);
        CHECK(trace_count_site(&t, "site_child", EV_ALLOC, 0, NULL) == 100);
        replay_t r;
        trace_replay(&t, &r);
        CHECK(r.unmatched_frees == 0 && r.double_allocs == 0);
        /* 100 x (app malloc, lib malloc, lib malloc + realloc, app malloc + lib realloc,
         * lib calloc), and at least one by the library's constructor unseen */
        CHECK(r.allocs >= 700);
        trace_free(&t);
        snprintf(json, sizeof json, "%s.json", path);
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 2);
            execl(getenv("PERFSHIM_BIN"), "perfshim", "report", "--format=json", "-o", json, path,
                  (char *)NULL);
            _exit(127);
        }
        int rs;
        waitpid(pid, &rs, 0);
        CHECK(WIFEXITED(rs) && WEXITSTATUS(rs) == 0);
        char *text = harness_slurp(json);
        CHECK(text && strstr(text, "\"double_frees\":0,") && strstr(text, "\"invalid_frees\":0,") &&
              strstr(text, "\"unmatched_frees\":0,") &&
              strstr(text, "\"leaked_definite_blocks\":0,") &&
              strstr(text, "\"leaked_indirect_blocks\":0,"));
        free(text);
    }
    if (d)
        closedir(d);
    CHECK(n == 1);
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    (void)path;
    snprintf(top, sizeof top, "%s/hostproc.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(top))
        return 99;
    check_env(0);
    check_env(1);
    check_rawfork();
    check_errno();
    check_snapsig();
    check_deepbind("deepbind");
    check_deepbind("deepbind_name");
    fprintf(stderr, "hostproc: %s (%s)\n", fails ? "FAIL" : "ok", top);
    if (!fails) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
        (void)!system(cmd);
    }
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    return harness_main(argc, argv, run, check);
}
