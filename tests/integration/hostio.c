/*
 * hostio -- the host program's descriptors, signals and threads stay its own (issue 12). Each
 * mode runs natively and under LD_PRELOAD and must give the same wait status and stdout (and
 * the program's own files the same contents); then the trace is checked:
 *   closefds   closes fds 3..1023 in a loop, opens three files of its own (one to append to,
 *              one to read back, one written), allocates through frames without unwind tables
 *              (so libunwind falls back to validated reads), chdir("/"): the files' contents
 *              are exact and the trace is complete (the shim reopened its file)
 *   closerange the same with close_range(3, ~0U, 0)
 *   dup2       dup2(/dev/null) over fds 3..10, then allocates: the trace is complete or its
 *              loss is counted and said, never silently sent to /dev/null
 *   dup2_lost  the trace renamed away, then dup2(/dev/null) over every descriptor: the shim
 *              cannot reopen it and stops with one warning; the loss is counted on stderr
 *   sigwait    after a thread ran (so the shim's writer thread exists), blocks SIGTERM and
 *              SIGHUP; a child sends them, sigwait receives both (20 runs)
 *   signalfd   the same through a signalfd (20 runs)
 *   threads1   a single-threaded program has exactly 1 thread while it allocates, and its
 *              first open() gets the native descriptor (the shim holds none low)
 *   unshare    unshare(CLONE_NEWUSER) succeeds as natively (only compared when it fails natively)
 *   seccomp    process_vm_readv refused by a seccomp filter: the unwinder's fallback check
 *              (mincore) still gives whole stacks through these frames
 * The program is built without unwind tables (Makefile.am), so every unwind through its
 * frames takes libunwind's validating path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char self[4096];
static char dir[4096];
static void *volatile sink;

static void say(const char *s)
{
    (void)!write(1, s, strlen(s));
}

static void sayf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sayf(const char *fmt, ...)
{
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    say(b);
}

/* Distinct call paths, so stacks are new and the shim unwinds (and writes STACK records). */
__attribute__((noinline)) void *leaf(int i) { return malloc(16 + (size_t)(i & 255)); }
__attribute__((noinline)) void *mid(int i) { return (i & 1) ? leaf(i) : leaf(i + 1); }
__attribute__((noinline)) void *top(int i) { return (i & 2) ? mid(i) : mid(i + 2); }

/* Enough events for many chunks, the files written between them. */
static void churn(int rounds, int fd_app, int fd_rd)
{
    char line[64];
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 4000; i++) {
            sink = top(i);
            free(sink);
        }
        int n = snprintf(line, sizeof line, "round %d\n", r);
        if (fd_app >= 0 && write(fd_app, line, (size_t)n) != n)
            say("short write\n");
        if (fd_rd >= 0) {
            char c;
            if (read(fd_rd, &c, 1) != 1)
                say("short read\n");
        }
    }
}

static unsigned long file_sum(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    unsigned long h = 5381;
    *len = 0;
    if (!f)
        return 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        h = h * 33 + (unsigned)c;
        (*len)++;
    }
    fclose(f);
    return h;
}

static void run_files(int how)
{
    char a[4200], b[4200], c[4200];
    snprintf(a, sizeof a, "%s/hostio.app.log", dir);
    snprintf(b, sizeof b, "%s/hostio.app.in", dir);
    snprintf(c, sizeof c, "%s/hostio.app.out", dir);
    sink = top(1); /* the shim is recording and has unwound once */
    free(sink);
    if (how == 0) {
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
    } else {
        if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
            for (int fd = 3; fd < 65536; fd++)
                close(fd);
    }
    if (chdir("/") != 0)
        say("chdir failed\n");
    int fa = open(a, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    int fb = open(b, O_RDONLY);
    int fc = open(c, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    sayf("fds %d %d %d\n", fa, fb, fc);
    churn(60, fa, fb);
    if (write(fc, "done\n", 5) != 5)
        say("short write\n");
    char rest[8192];
    ssize_t n = read(fb, rest, sizeof rest);
    sayf("rest of input %zd\n", n);
    close(fa);
    close(fb);
    close(fc);
    long la, lc;
    unsigned long ha = file_sum(a, &la), hc = file_sum(c, &lc);
    sayf("log %ld %lu out %ld %lu\n", la, ha, lc, hc);
}

static void run_dup2(void)
{
    sink = top(1);
    free(sink);
    int nul = open("/dev/null", O_WRONLY);
    for (int fd = 3; fd <= 10; fd++)
        if (fd != nul)
            dup2(nul, fd);
    churn(30, -1, -1);
    say("dup2 done\n");
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        sink = top(i);
        free(sink);
    }
    return NULL;
}

/* The trace renamed away (PERFSHIM_OUTPUT names it when traced), then every descriptor
 * up to the limit replaced by /dev/null: the shim cannot reopen its file. */
static void run_dup2_lost(void)
{
    sink = top(1);
    free(sink);
    const char *tr = getenv("PERFSHIM_OUTPUT");
    if (tr) {
        char moved[4200];
        snprintf(moved, sizeof moved, "%s.moved", tr);
        if (rename(tr, moved) != 0)
            say("rename failed\n");
    }
    int nul = open("/dev/null", O_WRONLY);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    for (int fd = 3; fd < (int)rl.rlim_cur && fd < 1 << 16; fd++)
        if (fd != nul)
            dup2(nul, fd);
    churn(30, -1, -1);
    say("dup2_lost done\n");
}

static void run_sig(int use_fd)
{
    /* A thread first (the shim's writer thread starts then, before the signals are
     * blocked: it must block them itself), then the daemon's usual shape. */
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sink = top(3);
    free(sink);
    int sfd = use_fd ? signalfd(-1, &set, SFD_CLOEXEC) : -1;
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        kill(parent, SIGHUP);
        kill(parent, SIGTERM);
        _exit(0);
    }
    int got = 0;
    for (int k = 0; k < 2; k++) {
        int sig = 0;
        if (use_fd) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                sig = (int)si.ssi_signo;
        } else if (sigwait(&set, &sig) != 0) {
            sig = -1;
        }
        got |= sig == SIGHUP ? 1 : sig == SIGTERM ? 2 : 4;
        sink = top(sig);
        free(sink);
    }
    waitpid(child, NULL, 0);
    sayf("signals %d\n", got);
}

static void run_threads1(void)
{
    /* the shim holds no descriptor in the app's range: the first free one is the native one */
    int first = open("/dev/null", O_RDONLY);
    sayf("first fd %d\n", first);
    close(first);
    for (int i = 0; i < 2000; i++) {
        sink = top(i);
        free(sink);
    }
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    buf[n > 0 ? n : 0] = 0;
    if (fd >= 0)
        close(fd);
    const char *t = strstr(buf, "Threads:");
    sayf("threads %d\n", t ? atoi(t + 8) : -1);
}

/* process_vm_readv refused (EPERM) by a seccomp filter, as sandboxes do: the shim's unwinder
 * validates with mincore instead, and stacks through these frames are still whole. */
static void run_seccomp(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    int ok = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
             prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
    char b[8];
    struct iovec l = {b, 8}, r = {b, 8};
    sayf("seccomp %d vm_readv %zd\n", ok, process_vm_readv(getpid(), &l, 1, &r, 1, 0));
    churn(30, -1, -1);
    say("seccomp done\n");
}

static void run_unshare(void)
{
    sink = top(5);
    free(sink);
    int rc = unshare(CLONE_NEWUSER);
    sayf("unshare %d %s\n", rc, rc ? strerror(errno) : "ok");
}

static void run(int argc, char **argv)
{
    if (argc < 2)
        exit(2);
    snprintf(dir, sizeof dir, "%s", argv[1]);
    const char *m = argv[0];
    if (!strcmp(m, "closefds"))
        run_files(0);
    else if (!strcmp(m, "closerange"))
        run_files(1);
    else if (!strcmp(m, "dup2"))
        run_dup2();
    else if (!strcmp(m, "dup2_lost"))
        run_dup2_lost();
    else if (!strcmp(m, "sigwait"))
        run_sig(0);
    else if (!strcmp(m, "signalfd"))
        run_sig(1);
    else if (!strcmp(m, "threads1"))
        run_threads1();
    else if (!strcmp(m, "unshare"))
        run_unshare();
    else if (!strcmp(m, "seccomp"))
        run_seccomp();
    else
        exit(2);
}

/* ---- the checking side ---------------------------------------------------------------- */

static int fails;
static const char *cur_mode = "";
#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__, cur_mode, #c); \
            fails++;                                                                           \
        }                                                                                      \
    } while (0)

/* Runs `self run mode dir` with stdout and stderr to files; traced when trace is set. */
static int launch(const char *mode, const char *trace, const char *out, const char *err)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        close(fd);
        fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        close(fd);
        unsetenv("LD_PRELOAD");
        if (trace) {
            setenv("LD_PRELOAD", getenv("PERFSHIM_LIB"), 1);
            setenv("PERFSHIM_OUTPUT", trace, 1);
        }
        char *argv[] = {self, (char *)"run", (char *)mode, dir, NULL};
        execv(self, argv);
        _exit(127);
    }
    return harness_wait(pid);
}

static void make_input(void)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/hostio.app.in", dir);
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < 1000; i++)
        fprintf(f, "%c", 'a' + i % 26);
    fclose(f);
}

/* Native then traced; returns 0 when status and stdout agree (the traced stderr in *err). */
static int compare(const char *mode, const char *trace, char **err_out)
{
    char out_a[4200], out_b[4200], err_a[4200], err_b[4200];
    snprintf(out_a, sizeof out_a, "%s/hostio.%s.native.out", dir, mode);
    snprintf(out_b, sizeof out_b, "%s/hostio.%s.traced.out", dir, mode);
    snprintf(err_a, sizeof err_a, "%s/hostio.%s.native.err", dir, mode);
    snprintf(err_b, sizeof err_b, "%s/hostio.%s.traced.err", dir, mode);
    make_input();
    int sa = launch(mode, NULL, out_a, err_a);
    make_input();
    unlink(trace);
    int sb = launch(mode, trace, out_b, err_b);
    char *a = harness_slurp(out_a), *b = harness_slurp(out_b);
    int bad = sa != sb || !a || !b || strcmp(a, b);
    if (bad)
        fprintf(stderr, "[%s] native: status 0x%x out \"%s\"; traced: status 0x%x out \"%s\"\n",
                mode, sa, a ? a : "?", sb, b ? b : "?");
    free(a);
    free(b);
    if (err_out)
        *err_out = harness_slurp(err_b);
    return bad;
}

/* A complete trace: END present and every chunk's events counted, none dropped. */
static void check_complete(const char *trace)
{
    trace_t t;
    memset(&t, 0, sizeof t);
    if (trace_load(trace, &t) != 0) {
        fprintf(stderr, "[%s] cannot load %s\n", cur_mode, trace);
        fails++;
        return;
    }
    CHECK(t.index_status == 0 && t.decode_error == 0);
    CHECK(t.have_end);
    CHECK(t.end.events == t.chunk_events && t.end.dropped == 0);
    replay_t r;
    trace_replay(&t, &r);
    CHECK(r.allocs >= 100000);
    trace_free(&t);
}

static void check_files(const char *mode)
{
    cur_mode = mode;
    char trace[4200];
    snprintf(trace, sizeof trace, "%s/hostio.%s.trace", dir, mode);
    char *err = NULL;
    CHECK(compare(mode, trace, &err) == 0);
    CHECK(err && !strstr(err, "perfshim")); /* reopened silently: nothing was lost */
    if (err && strstr(err, "perfshim"))
        fprintf(stderr, "[%s] stderr: %s", mode, err);
    free(err);
    check_complete(trace);
}

static void check_dup2(void)
{
    cur_mode = "dup2";
    char trace[4200];
    snprintf(trace, sizeof trace, "%s/hostio.dup2.trace", dir);
    char *err = NULL;
    CHECK(compare("dup2", trace, &err) == 0);
    free(err);
    check_complete(trace);
}

static int count_lines(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

static void check_dup2_lost(void)
{
    cur_mode = "dup2_lost";
    char trace[4200], moved[4300];
    snprintf(trace, sizeof trace, "%s/hostio.dup2_lost.trace", dir);
    snprintf(moved, sizeof moved, "%s.moved", trace);
    unlink(moved);
    char *err = NULL;
    CHECK(compare("dup2_lost", trace, &err) == 0);
    /* one warning that recording stopped, and the loss counted in the summary */
    CHECK(err && count_lines(err, "cannot be reopened; recording stops") == 1);
    CHECK(err && count_lines(err, "events were not written to the trace") == 1);
    CHECK(err && count_lines(err, "perfshim: [") == 2);
    free(err);
    trace_t t;
    memset(&t, 0, sizeof t);
    if (trace_load(moved, &t) == 0) { /* what was written before stays readable */
        CHECK(!t.have_end && t.decode_error == 0);
        trace_free(&t);
    } else {
        fails++;
    }
}

static void check_repeat(const char *mode, int runs)
{
    cur_mode = mode;
    char trace[4200];
    snprintf(trace, sizeof trace, "%s/hostio.%s.trace", dir, mode);
    int bad = 0;
    for (int i = 0; i < runs && !bad; i++)
        bad = compare(mode, trace, NULL);
    CHECK(!bad);
}

static void check_threads1(void)
{
    cur_mode = "threads1";
    char trace[4200], out[4200];
    snprintf(trace, sizeof trace, "%s/hostio.threads1.trace", dir);
    CHECK(compare("threads1", trace, NULL) == 0);
    snprintf(out, sizeof out, "%s/hostio.threads1.traced.out", dir);
    char *o = harness_slurp(out);
    CHECK(o && strstr(o, "threads 1\n"));
    free(o);
    trace_t t;
    memset(&t, 0, sizeof t);
    if (trace_load(trace, &t) == 0) {
        CHECK(t.have_end && t.end.events == t.chunk_events && t.end.dropped == 0);
        CHECK(t.rss_samples >= 1);
        trace_free(&t);
    } else {
        fails++;
    }
}

static void check_seccomp(void)
{
    cur_mode = "seccomp";
    char trace[4200];
    snprintf(trace, sizeof trace, "%s/hostio.seccomp.trace", dir);
    CHECK(compare("seccomp", trace, NULL) == 0);
    check_complete(trace);
    trace_t t;
    memset(&t, 0, sizeof t);
    if (trace_load(trace, &t) != 0) {
        fails++;
        return;
    }
    /* the allocations in leaf() have their whole stack: leaf, mid, top (exported names), and
     * below them churn, run_seccomp, run, harness_main, main */
    uint64_t whole = 0, in_leaf = 0;
    for (size_t i = 0; i < t.nev; i++) {
        const ev_t *e = &t.ev[i];
        if (e->kind != EV_ALLOC || !e->stack)
            continue;
        const char *f0 = trace_frame_fn(&t, e->stack, 0);
        if (!f0 || strcmp(f0, "leaf"))
            continue;
        in_leaf++;
        const char *f1 = trace_frame_fn(&t, e->stack, 1), *f2 = trace_frame_fn(&t, e->stack, 2);
        whole += f1 && f2 && !strcmp(f1, "mid") && !strcmp(f2, "top") && t.stack_depth[e->stack] >= 6;
    }
    if (!(in_leaf >= 100000 && whole == in_leaf))
        fprintf(stderr, "[seccomp] %" PRIu64 " allocations in leaf, %" PRIu64 " with whole stacks\n", in_leaf, whole);
    CHECK(in_leaf >= 100000 && whole == in_leaf);
    trace_free(&t);
}

static void check_unshare(void)
{
    cur_mode = "unshare";
    char trace[4200], out[4200];
    snprintf(trace, sizeof trace, "%s/hostio.unshare.trace", dir);
    CHECK(compare("unshare", trace, NULL) == 0);
    snprintf(out, sizeof out, "%s/hostio.unshare.native.out", dir);
    char *o = harness_slurp(out);
    if (o && strncmp(o, "unshare 0", 9))
        fprintf(stderr, "[unshare] fails natively too (%s): only compared\n", o);
    free(o);
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    (void)path;
    char tmpl[] = "/tmp/perfshim-hostio.XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 99;
    }
    snprintf(dir, sizeof dir, "%s", tmpl);
    const char *only = getenv("HOSTIO_ONLY");
#define WANT(m) (!only || strstr(only, m))
    if (WANT("closefds"))
        check_files("closefds");
    if (WANT("closerange"))
        check_files("closerange");
    if (WANT("dup2"))
        check_dup2();
    if (WANT("dup2_lost"))
        check_dup2_lost();
    if (WANT("sigwait"))
        check_repeat("sigwait", 20);
    if (WANT("signalfd"))
        check_repeat("signalfd", 20);
    if (WANT("threads1"))
        check_threads1();
    if (WANT("unshare"))
        check_unshare();
    if (WANT("seccomp"))
        check_seccomp();
    if (!fails && !getenv("HOSTIO_KEEP")) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        (void)!system(cmd);
    } else {
        fprintf(stderr, "hostio: files kept in %s\n", dir);
    }
    fprintf(stderr, "hostio: %s\n", fails ? "FAIL" : "ok");
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    return harness_main(argc, argv, run, check);
}
