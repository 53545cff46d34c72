/*
 * shapes -- process shapes under the shim (issue 6). Each mode runs twice, natively and under
 * LD_PRELOAD, and must give the same wait status and the same stdout; then its trace(s) are
 * checked with exact counts:
 *   fork        the child writes its own trace (template %p = its pid, header flag FORK_CHILD),
 *               the parent's is intact; neither holds the other's allocations, nor the
 *               other's lock totals
 *   exec        the pre-exec image's trace ends with END and its lock totals; the exec'd
 *               image is not traced
 *   exec_follow same with PERFSHIM_FOLLOW_EXEC=1: the exec'd image writes its own trace
 *   exec_fail   a failed exec resumes recording: allocations after it are in the trace
 *   spawn       posix_spawn of a program: the parent's trace is intact, the child untraced
 *   sighandler  a signal handler that allocates: every allocation in it is recorded
 *   longjmp     allocations in frames left by longjmp, freed after it
 *   thread_exit exit() from a non-main thread: status kept, END written
 *   _exit       _exit(): END written
 *   abort       abort(): SIGABRT as natively; CRASH record, every allocation and the lock
 *               totals before it
 *   segv        SIGSEGV: the same
 *   sigrace     3 threads set and read SIGBUS's disposition while a 50 us timer's handler reads
 *               SIGSEGV's and sets SIGFPE's, interrupting those calls: no deadlock (a watchdog
 *               thread ends the run after 20 s), the same final dispositions
 *   sigview     what the app reads of the fatal signals' dispositions (sigaction, signal,
 *               sysv_signal, sigset) is what it reads natively: the shim's crash handler is
 *               invisible; a handler the app installs and then restores to SIG_DFL leaves the
 *               shim's in place again: the SIGSEGV that follows writes its CRASH record
 *   double_free glibc aborts on it natively too; the trace shows it with both stacks
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "json_mini.h"
#include "reader.h"
#include "report.h"
#include "test.h"

extern char **environ;
static char self[4096];
static void *volatile sink;
static int *volatile nullp;

static void say(const char *s)
{
    (void)!write(1, s, strlen(s));
}

__attribute__((noinline)) void *site_parent(void) { return malloc(64); }
__attribute__((noinline)) void *site_parent_after(void) { return malloc(65); }
__attribute__((noinline)) void *site_child(void) { return malloc(32); }
__attribute__((noinline)) void *site_pre_exec(void) { return malloc(40); }
__attribute__((noinline)) void *site_execd(void) { return malloc(41); }
__attribute__((noinline)) void *site_after_failed_exec(void) { return malloc(42); }
__attribute__((noinline)) void *site_sig(void) { return malloc(16); }
__attribute__((noinline)) void *site_main_loop(void) { return malloc(17); }
__attribute__((noinline)) void *site_jmp(void) { return malloc(24); }
__attribute__((noinline)) void *site_thread(void) { return malloc(56); }
__attribute__((noinline)) void *site_before_end(void) { return malloc(72); }
static pthread_mutex_t shapes_mutex = PTHREAD_MUTEX_INITIALIZER;
/* n acquisitions of one mutex: their totals must reach the trace however the image ends */
static void lock_rounds(int n)
{
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&shapes_mutex);
        pthread_mutex_unlock(&shapes_mutex);
    }
}
__attribute__((noinline)) void *site_df_alloc(void) { return malloc(88); }
__attribute__((noinline)) void site_df_free(void *p) { free(p); }

/* ctor_dtor: the program's own constructor and destructor allocate (SHAPES_CTOR=1); the
 * shim, preloaded, initializes before the one and finishes after the other. */
__attribute__((noinline)) void *site_ctor(void) { return malloc(24); }
__attribute__((noinline)) void *site_dtor(void) { return malloc(40); }
static void *ctor_keep;
__attribute__((constructor)) static void shapes_ctor(void)
{
    if (getenv("SHAPES_CTOR")) {
        free(site_ctor());
        ctor_keep = site_ctor();
    }
}
__attribute__((destructor)) static void shapes_dtor(void)
{
    if (getenv("SHAPES_CTOR")) {
        free(ctor_keep);
        for (int i = 0; i < 3; i++)
            free(site_dtor());
    }
}

static jmp_buf jb;
__attribute__((noinline)) static void jmp_deep(int d, void **keep)
{
    keep[d] = site_jmp();
    if (d == 1)
        longjmp(jb, 1);
    if (d < 1) /* always: the bound only tells the compiler the recursion ends */
        jmp_deep(d + 1, keep);
}

static void on_usr1(int sig)
{
    (void)sig;
    free(site_sig());
}

static void *thread_exit_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        sink = site_thread();
    say("thread exits the process\n");
    exit(3);
}

static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;

static void sig_view(void); /* modes sigview and sigrace, below */
static void sig_race(void);

static void run(int argc, char **argv)
{
    const char *mode = argc > 0 ? argv[0] : "";
    if (!strcmp(mode, "fork")) {
        for (int i = 0; i < 10; i++) {
            pthread_mutex_lock(&fork_lock); /* the parent's lock totals stay the parent's */
            free(site_parent());
            pthread_mutex_unlock(&fork_lock);
        }
        pid_t pid = fork();
        if (pid == 0) {
            for (int i = 0; i < 10; i++) {
                void *p = site_child();
                if (i < 7)
                    free(p);
                else
                    sink = p;
            }
            say("child\n");
            exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        if (argc > 1) { /* the pids, for the checker */
            FILE *f = fopen(argv[1], "w");
            fprintf(f, "%d %d\n", (int)getpid(), (int)pid);
            fclose(f);
        }
        for (int i = 0; i < 5; i++)
            free(site_parent_after());
        say(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "parent ok\n" : "parent: child failed\n");
    } else if (!strcmp(mode, "exec") || !strcmp(mode, "exec_follow")) {
        for (int i = 0; i < 4; i++)
            free(site_pre_exec());
        lock_rounds(4);
        say("before exec\n");
        execl(self, self, "run", "execd", (char *)NULL);
        say("exec failed\n");
        exit(1);
    } else if (!strcmp(mode, "execd")) {
        for (int i = 0; i < 6; i++)
            free(site_execd());
        say("execd\n");
    } else if (!strcmp(mode, "exec_fail")) {
        for (int i = 0; i < 4; i++)
            free(site_pre_exec());
        lock_rounds(4);
        char *args[] = {(char *)"x", NULL};
        int rc = execv("/nonexistent/program", args);
        if (rc == -1 && errno == ENOENT)
            say("exec failed with ENOENT\n");
        for (int i = 0; i < 3; i++)
            free(site_after_failed_exec());
        lock_rounds(3);
    } else if (!strcmp(mode, "spawn")) {
        pid_t pid;
        char *args[] = {self, (char *)"run", (char *)"execd", NULL};
        if (posix_spawn(&pid, self, NULL, NULL, args, environ) != 0)
            exit(1);
        int st;
        waitpid(pid, &st, 0);
        for (int i = 0; i < 2; i++)
            free(site_parent_after());
        say(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "spawned ok\n" : "spawn failed\n");
    } else if (!strcmp(mode, "sighandler")) {
        signal(SIGUSR1, on_usr1);
        for (int i = 0; i < 20; i++) {
            free(site_main_loop());
            raise(SIGUSR1);
        }
        say("handled 20\n");
    } else if (!strcmp(mode, "longjmp")) {
        for (int i = 0; i < 10; i++) {
            void *keep[2] = {NULL, NULL};
            if (setjmp(jb) == 0)
                jmp_deep(0, keep);
            free(keep[0]);
            free(keep[1]);
        }
        say("jumped 10\n");
    } else if (!strcmp(mode, "ctor_dtor")) {
        say("ctor_dtor\n");
    } else if (!strcmp(mode, "thread_exit")) {
        pthread_t t;
        pthread_create(&t, NULL, thread_exit_main, NULL);
        pthread_join(t, NULL);
        say("not reached\n");
    } else if (!strcmp(mode, "_exit")) {
        for (int i = 0; i < 3; i++)
            sink = site_before_end();
        say("_exit 4\n");
        _exit(4);
    } else if (!strcmp(mode, "abort")) {
        for (int i = 0; i < 3; i++)
            sink = site_before_end();
        lock_rounds(3);
        say("abort\n");
        abort();
    } else if (!strcmp(mode, "segv")) {
        for (int i = 0; i < 3; i++)
            sink = site_before_end();
        lock_rounds(3);
        say("segv\n");
        *nullp = 0;
    } else if (!strcmp(mode, "sigview")) {
        for (int i = 0; i < 3; i++)
            sink = site_before_end();
        lock_rounds(3);
        sig_view();
        say("segv\n");
        *nullp = 0;
    } else if (!strcmp(mode, "sigrace")) {
        for (int i = 0; i < 3; i++)
            sink = site_before_end();
        sig_race();
    } else if (!strcmp(mode, "double_free")) {
        void *p = site_df_alloc();
        site_df_free(p);
        say("double free\n");
        site_df_free(p);
        say("survived\n");
    }
}

static void own_handler(int sig)
{
    (void)sig;
}

/* One line: the disposition of sig as sigaction reads it (into a struct filled with a pattern
 * first; of the mask, the 8 bytes the kernel gives: glibc copies the rest from its stack). */
static void sig_line(const char *what, int sig)
{
    struct sigaction o;
    memset(&o, 0x5a, sizeof o);
    int r = sigaction(sig, NULL, &o);
    const unsigned char *m = (const unsigned char *)&o.sa_mask;
    char line[256];
    int n = snprintf(line, sizeof line, "%s %d: r %d handler %s flags %#x restorer %s mask ", what,
                     sig, r,
                     o.sa_handler == SIG_DFL ? "DFL" : o.sa_handler == own_handler ? "own" : "other",
                     (unsigned)o.sa_flags, o.sa_restorer ? "set" : "null");
    for (size_t i = 0; i < 8; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, "%02x", m[i]);
    snprintf(line + n, sizeof line - (size_t)n, "\n");
    say(line);
}

static const char *hname(sighandler_t h)
{
    return h == SIG_DFL ? "DFL" : h == SIG_IGN ? "IGN" : h == own_handler ? "own" :
           h == SIG_ERR ? "ERR" : h == SIG_HOLD ? "HOLD" : "other";
}

static void sig_view(void)
{
    char line[160];
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sig_line("start", sigs[i]);
    /* the signal family: what each returns as the previous handler */
    sighandler_t a = signal(SIGFPE, own_handler), b = signal(SIGFPE, SIG_DFL);
    sighandler_t c = sysv_signal(SIGILL, own_handler), d = sysv_signal(SIGILL, SIG_DFL);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    sighandler_t e = sigset(SIGBUS, SIG_HOLD);
    sigset_t held;
    sigprocmask(SIG_SETMASK, NULL, &held);
    if (!sigismember(&held, SIGBUS))
        say("sigset(SIG_HOLD) left SIGBUS unblocked\n");
    sighandler_t f = sigset(SIGBUS, SIG_DFL);
#pragma GCC diagnostic pop
    sigset_t m;
    sigprocmask(SIG_SETMASK, NULL, &m);
    int bus_blocked = sigismember(&m, SIGBUS);
    snprintf(line, sizeof line, "signal %s %s sysv_signal %s %s sigset %s %s (SIGBUS blocked %d)\n",
             hname(a), hname(b), hname(c), hname(d), hname(e), hname(f), bus_blocked);
    say(line);
    sig_line("after signal", SIGFPE);
    sig_line("after sysv_signal", SIGILL);
    sig_line("after sigset", SIGBUS);
    /* a library that installs its own handler, then restores what it found */
    struct sigaction own, saved;
    memset(&own, 0, sizeof own);
    own.sa_handler = own_handler;
    sigemptyset(&own.sa_mask);
    sigaddset(&own.sa_mask, SIGUSR1);
    own.sa_flags = SA_RESTART;
    memset(&saved, 0x5a, sizeof saved);
    int r = sigaction(SIGSEGV, &own, &saved);
    snprintf(line, sizeof line, "install own: r %d saved %s\n", r, hname(saved.sa_handler));
    say(line);
    sig_line("own", SIGSEGV);
    r = sigaction(SIGSEGV, &saved, NULL);
    snprintf(line, sizeof line, "restore: r %d\n", r);
    say(line);
    sig_line("restored", SIGSEGV);
    errno = 0;
    r = sigaction(SIGSEGV, NULL, NULL);
    int e0 = errno, r65 = sigaction(65, NULL, NULL), e65 = errno;
    snprintf(line, sizeof line, "null query: r %d errno %d; bad signal: r %d errno %d\n", r, e0,
             r65, e65);
    say(line);
}

static volatile long race_handled;

static void race_tick(int sig)
{
    (void)sig;
    struct sigaction o;
    sigaction(SIGSEGV, NULL, &o);
    signal(SIGFPE, SIG_DFL);
    race_handled++;
}

static void *race_thread(void *arg)
{
    (void)arg;
    struct sigaction own, dfl, o;
    memset(&own, 0, sizeof own);
    own.sa_handler = own_handler;
    memset(&dfl, 0, sizeof dfl);
    for (int i = 0; i < 20000; i++) {
        sigaction(SIGBUS, &own, &o);
        sigaction(SIGBUS, NULL, &o);
        sigaction(SIGBUS, &dfl, NULL);
    }
    return NULL;
}

static void *race_watchdog(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL); /* the timer's signals go to the others */
    struct timespec left = {20, 0};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
    say("deadlock: still running after 20 s\n");
    _exit(3);
}

static void sig_race(void)
{
    pthread_t w, t[3];
    pthread_create(&w, NULL, race_watchdog, NULL);
    signal(SIGALRM, race_tick);
    struct itimerval it = {{0, 50}, {0, 50}}, off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &it, NULL);
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, race_thread, NULL);
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        struct sigaction o;
        sigaction(SIGSEGV, NULL, &o);
        bad += o.sa_handler != SIG_DFL;
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    setitimer(ITIMER_REAL, &off, NULL);
    char line[160];
    snprintf(line, sizeof line, "sigrace: SIGSEGV read as not SIG_DFL %d times; handler ran %s\n",
             bad, race_handled ? "yes" : "no");
    say(line);
    sig_line("sigrace end", SIGBUS);
    sig_line("sigrace end", SIGFPE);
}

/* ---- checker --------------------------------------------------------------------------- */

static int fails;
#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__, cur_mode, #c); \
            fails++;                                                                           \
        }                                                                                      \
    } while (0)
static const char *cur_mode = "";

/* Runs `self run mode args` with stdout to out_path; under the shim when trace_tmpl is set. */
static int launch(const char *mode, const char *arg, const char *trace_tmpl, const char *out_path,
                  const char *env_kv, pid_t *pid_out)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        close(fd);
        unsetenv("LD_PRELOAD");
        if (trace_tmpl) {
            setenv("LD_PRELOAD", getenv("PERFSHIM_LIB"), 1);
            setenv("PERFSHIM_OUTPUT", trace_tmpl, 1);
        }
        if (env_kv)
            putenv((char *)env_kv);
        signal(SIGABRT, SIG_DFL);
        signal(SIGSEGV, SIG_DFL);
        char *argv[] = {self, (char *)"run", (char *)mode, (char *)arg, NULL};
        execv(self, argv);
        _exit(127);
    }
    if (pid_out)
        *pid_out = pid;
    return harness_wait(pid);
}

/* The mode's trace: run natively and traced, compare; returns the traced run's pid. */
static pid_t compare(const char *mode, const char *arg, const char *env_kv, int *status)
{
    char tmpl[256], out_a[256], out_b[256];
    snprintf(tmpl, sizeof tmpl, "shapes.%s.%%p.trace", mode);
    snprintf(out_a, sizeof out_a, "shapes.%s.native.out", mode);
    snprintf(out_b, sizeof out_b, "shapes.%s.traced.out", mode);
    pid_t pid;
    int sa = launch(mode, arg, NULL, out_a, env_kv, NULL);
    int sb = launch(mode, arg, tmpl, out_b, env_kv, &pid);
    char *a = harness_slurp(out_a), *b = harness_slurp(out_b);
    if (sa != sb || !a || !b || strcmp(a, b)) {
        fprintf(stderr, "[%s] native: status 0x%x out \"%s\"; traced: status 0x%x out \"%s\"\n",
                mode, sa, a ? a : "?", sb, b ? b : "?");
        fails++;
    }
    free(a);
    free(b);
    unlink(out_a);
    unlink(out_b);
    *status = sb;
    return pid;
}

static void trace_name(char *out, size_t cap, const char *mode, pid_t pid, const char *suffix)
{
    snprintf(out, cap, "shapes.%s.%d.trace%s", mode, (int)pid, suffix);
}

/* CRASH records in a trace: their count, and the last one's signal. */
static int count_crash(const char *path, uint32_t *signo)
{
    reader_t *r = NULL;
    int n = 0;
    if (reader_open(&r, path) < 0) {
        reader_close(r);
        return -1;
    }
    for (size_t i = 0; i < reader_chunk_count(r); i++) {
        chunk_view_t v;
        record_t rec;
        if (reader_chunk_load(r, i, &v) < 0)
            break;
        while (view_next(r, &v, &rec) == 1)
            if (rec.type == PS_REC_CRASH) {
                n++;
                *signo = rec.u.crash.signo;
            }
    }
    reader_close(r);
    return n;
}

static uint64_t site(trace_t *t, const char *fn)
{
    return trace_count_site(t, fn, EV_ALLOC, 0, NULL);
}

static int load(const char *path, trace_t *t, int want_end)
{
    if (trace_load(path, t) != 0) {
        fprintf(stderr, "[%s] cannot load %s\n", cur_mode, path);
        fails++;
        return -1;
    }
    CHECK(t->index_status == 0 && t->decode_error == 0);
    CHECK(t->have_end == want_end);
    if (want_end)
        CHECK(t->end.events == t->chunk_events && t->end.dropped == 0);
    return 0;
}

static void check_fork(void)
{
    cur_mode = "fork";
    int st;
    pid_t pid = compare("fork", "shapes.fork.pids", NULL, &st);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int ppid = 0, cpid = 0;
    FILE *f = fopen("shapes.fork.pids", "r");
    CHECK(f && fscanf(f, "%d %d", &ppid, &cpid) == 2);
    if (f)
        fclose(f);
    unlink("shapes.fork.pids");
    CHECK(ppid == pid);
    char pp[256], cp[256];
    trace_name(pp, sizeof pp, "fork", ppid, "");
    trace_name(cp, sizeof cp, "fork", cpid, "");
    trace_t t;
    if (load(pp, &t, 1) == 0) {
        CHECK(site(&t, "site_parent") == 10);
        CHECK(site(&t, "site_parent_after") == 5);
        CHECK(site(&t, "site_child") == 0);
        CHECK(t.lock_sites == 1);
        replay_t r;
        trace_replay(&t, &r);
        CHECK(r.unmatched_frees == 0);
        trace_free(&t);
    }
    if (load(cp, &t, 1) == 0) {
        CHECK(site(&t, "site_child") == 10);
        CHECK(site(&t, "site_parent") == 0 && site(&t, "site_parent_after") == 0);
        CHECK(t.lock_sites == 0); /* the parent's lock table is not the child's */
        CHECK(t.stack_records >= 1); /* self-contained: its own STACK and MODULE records */
        CHECK(t.modmaps >= 1 && t.nmods >= 3);
        replay_t r;
        trace_replay(&t, &r);
        CHECK(r.live_end >= 3);
        trace_free(&t);
        reader_t *rd = NULL;
        CHECK(reader_open(&rd, cp) == 0 && reader_info(rd)->pid == (uint32_t)cpid &&
              reader_info(rd)->ppid == (uint32_t)ppid &&
              (reader_info(rd)->flags & PS_FILE_F_FORK_CHILD));
        reader_close(rd);
    }
    unlink(pp);
    unlink(cp);
}

static void check_exec(const char *mode, int follow)
{
    cur_mode = mode;
    int st;
    pid_t pid = compare(mode, NULL, follow ? "PERFSHIM_FOLLOW_EXEC=1" : NULL, &st);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char pre[256], post[256];
    trace_name(pre, sizeof pre, mode, pid, "");
    trace_name(post, sizeof post, mode, pid, ".1"); /* same pid: the next free name */
    trace_t t;
    if (load(pre, &t, 1) == 0) {
        CHECK(site(&t, "site_pre_exec") == 4);
        CHECK(site(&t, "site_execd") == 0);
        CHECK(t.lock_acq == 4); /* the lock totals are written before the exec */
        trace_free(&t);
    }
    if (follow) {
        if (load(post, &t, 1) == 0) {
            CHECK(site(&t, "site_execd") == 6);
            CHECK(site(&t, "site_pre_exec") == 0);
            trace_free(&t);
        }
    } else {
        CHECK(access(post, F_OK) != 0);
    }
    unlink(pre);
    unlink(post);
}

static void check_simple(const char *mode, int want_exit, int want_sig, int want_end)
{
    cur_mode = mode;
    int st;
    pid_t pid = compare(mode, NULL, NULL, &st);
    if (want_sig)
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == want_sig);
    else
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == want_exit);
    char path[256];
    trace_name(path, sizeof path, mode, pid, "");
    trace_t t;
    if (load(path, &t, want_end) != 0)
        return;
    replay_t r;
    if (!strcmp(mode, "exec_fail")) {
        CHECK(site(&t, "site_pre_exec") == 4 && site(&t, "site_after_failed_exec") == 3);
        CHECK(t.lock_acq == 7); /* before the exec and after it, none twice */
    } else if (!strcmp(mode, "spawn")) {
        CHECK(site(&t, "site_parent_after") == 2 && site(&t, "site_execd") == 0);
        char other[256];
        trace_name(other, sizeof other, mode, pid, ".1");
        CHECK(access(other, F_OK) != 0);
    } else if (!strcmp(mode, "sighandler")) {
        CHECK(site(&t, "site_sig") == 20 && site(&t, "site_main_loop") == 20);
    } else if (!strcmp(mode, "longjmp")) {
        CHECK(site(&t, "site_jmp") == 20);
        trace_replay(&t, &r);
        CHECK(r.unmatched_frees == 0);
    } else if (!strcmp(mode, "thread_exit")) {
        CHECK(site(&t, "site_thread") == 5);
    } else {
        CHECK(site(&t, "site_before_end") == 3);
    }
    if (want_sig) {
        uint32_t signo = 0;
        CHECK(count_crash(path, &signo) == 1 && signo == (uint32_t)want_sig);
        CHECK(t.lock_acq == 3); /* the crash handler writes the lock totals */
    }
    trace_free(&t);
    unlink(path);
}

static void check_ctor_dtor(void)
{
    cur_mode = "ctor_dtor";
    int st;
    pid_t pid = compare("ctor_dtor", NULL, "SHAPES_CTOR=1", &st);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char path[256];
    trace_name(path, sizeof path, "ctor_dtor", pid, "");
    trace_t t;
    if (load(path, &t, 1) != 0)
        return;
    CHECK(site(&t, "site_ctor") == 2 && site(&t, "site_dtor") == 3);
    replay_t r;
    trace_replay(&t, &r);
    CHECK(r.unmatched_frees == 0); /* the constructor's block, freed by the destructor */
    trace_free(&t);
    unlink(path);
}

static void check_double_free(void)
{
    cur_mode = "double_free";
    int st;
    pid_t pid = compare("double_free", NULL, "PERFSHIM_FREE_STACKS=2", &st);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT); /* glibc's own verdict, unchanged */
    char path[256], json[300];
    trace_name(path, sizeof path, "double_free", pid, "");
    snprintf(json, sizeof json, "%s.json", path);
    char *argv[] = {(char *)"report", (char *)"--format=json", (char *)"-o", json, path, NULL};
    CHECK(report_main(5, argv) == 0);
    char *text = harness_slurp(json), err[200];
    json_t *j = text ? json_parse(text, err, sizeof err) : NULL;
    const json_t *e = json_at(json_get(j, "errors"), 0);
    CHECK(json_u64(json_get(j, "summary"), "double_frees") == 1);
    CHECK(json_get(j, "errors") && json_get(j, "errors")->n == 1);
    CHECK(json_str_of(e, "kind") && !strcmp(json_str_of(e, "kind"), "double_free"));
    CHECK(json_u64(e, "count") == 1);
    const char *at = json_str_of(json_at(json_get(e, "alloc_stack"), 0), "function");
    const char *ft = json_str_of(json_at(json_get(e, "free_stack"), 0), "function");
    CHECK(at && !strcmp(at, "site_df_alloc"));
    CHECK(ft && !strcmp(ft, "site_df_free"));
    json_free(j);
    free(text);
    unlink(json);
    unlink(path);
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    (void)path;
    check_fork();
    check_exec("exec", 0);
    check_exec("exec_follow", 1);
    check_simple("exec_fail", 0, 0, 1);
    check_simple("spawn", 0, 0, 1);
    check_simple("sighandler", 0, 0, 1);
    check_simple("longjmp", 0, 0, 1);
    check_simple("thread_exit", 3, 0, 1);
    check_ctor_dtor();
    check_simple("_exit", 4, 0, 1);
    check_simple("abort", 0, SIGABRT, 0);
    check_simple("segv", 0, SIGSEGV, 0);
    check_simple("sigview", 0, SIGSEGV, 0);
    check_simple("sigrace", 0, 0, 1);
    check_double_free();
    fprintf(stderr, "shapes: %s\n", fails ? "FAIL" : "ok");
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    return harness_main(argc, argv, run, check);
}
