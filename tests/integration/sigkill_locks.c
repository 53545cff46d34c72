/*
 * sigkill_locks -- a program that only takes locks after start-up (no malloc or free once its
 * threads run) gets its records written within the flush period too, and so keeps them when
 * it is killed with SIGKILL (issue 18, "nothing lost"). The writer thread used to be started,
 * and the flush period kept, only from allocation hooks: such a program had nothing in its
 * trace until a 64 KiB buffer filled (~1,300 wait events a thread) or it exited.
 *
 * The workload: the main thread A and a thread B take one mutex in turns, each turn a wait of
 * B for A that cannot be missed (A releases only once the mutex's word says a thread waits in
 * the kernel for it, which B does after the shim's trylock failed), so each turn writes
 * exactly one LOCK_WAIT event, at B's release, into B's buffer. After K turns (B has returned
 * from its K-th unlock, so its K events are committed) A prints "ready" on stdout; then
 *   paced: the turns go on, one every 2 ms (events keep coming, no buffer fills);
 *   idle:  B blocks for good on a second mutex A holds, A pauses (no event any more: only a
 *          writer thread can take B's records).
 * And quiet: A and B each take a mutex of their own, never contended (no lock event at all);
 * "ready" once B took its own; the trace must hold both threads' THREAD_START records (the
 * writer thread is started from a new lock site's first acquisition too). Before: nothing.
 * The test kills the program 8 flush periods (PERFSHIM_FLUSH_MS=50) after "ready" and asks
 * for at least K LOCK_WAIT records in the trace: every event committed before "ready" must be
 * in a chunk by then (any flush pass after it takes them). Before the fix: 0 (K events are
 * 14 KiB, a fifth of a buffer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

#define K 300
#define FLUSH_MS 50
#define KILL_AFTER_MS (8 * FLUSH_MS)
/* idle: 3 lock-table snapshot periods (PS_LOCK_SNAPSHOT_FLUSHES flush periods each), so that
 * one snapshot at least is taken after "ready" */
#define IDLE_KILL_AFTER_MS (3 * PS_LOCK_SNAPSHOT_FLUSHES * FLUSH_MS)
#define PS_STR_(x) #x
#define PS_STR(x) PS_STR_(x)

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER, m_forever = PTHREAD_MUTEX_INITIALIZER;
static unsigned turn_locked, turn_done; /* A's turn number with m held; B's last turn done */
static int idle_mode;

static void ms_sleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static pthread_mutex_t m_a = PTHREAD_MUTEX_INITIALIZER, m_b = PTHREAD_MUTEX_INITIALIZER;
static int b_started;

static void quiet_loop(pthread_mutex_t *own)
{
    for (;;) {
        pthread_mutex_lock(own);
        pthread_mutex_unlock(own);
        __atomic_store_n(&b_started, 1, __ATOMIC_RELEASE);
        ms_sleep(1);
    }
}

static void *thread_b(void *arg)
{
    if (arg)
        quiet_loop(&m_b);
    for (unsigned k = 1;; k++) {
        while (__atomic_load_n(&turn_locked, __ATOMIC_ACQUIRE) < k)
            sched_yield();
        if (idle_mode && k > K) {
            pthread_mutex_lock(&m_forever); /* A holds it: blocks for good */
            break;
        }
        pthread_mutex_lock(&m); /* A holds it: a wait */
        pthread_mutex_unlock(&m); /* its LOCK_WAIT event is written here */
        __atomic_store_n(&turn_done, k, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* glibc: a mutex's word is 2 once a thread waits for it in the kernel */
static int mutex_has_waiter(pthread_mutex_t *mx)
{
    return __atomic_load_n(&mx->__data.__lock, __ATOMIC_ACQUIRE) == 2;
}

static void run(int argc, char **argv)
{
    idle_mode = argc > 0 && strcmp(argv[0], "idle") == 0;
    int quiet = argc > 0 && strcmp(argv[0], "quiet") == 0;
    pthread_t b;
    pthread_create(&b, NULL, thread_b, quiet ? (void *)1 : NULL);
    if (quiet) {
        while (!__atomic_load_n(&b_started, __ATOMIC_ACQUIRE))
            ms_sleep(1);
        pthread_mutex_lock(&m_a);
        pthread_mutex_unlock(&m_a);
        static const char msg[] = "ready\n";
        if (write(1, msg, sizeof msg - 1) < 0)
            _exit(3);
        for (;;) {
            pthread_mutex_lock(&m_a);
            pthread_mutex_unlock(&m_a);
            ms_sleep(1);
        }
    }
    for (unsigned k = 1;; k++) {
        if (idle_mode && k > K) {
            pthread_mutex_lock(&m_forever);
            __atomic_store_n(&turn_locked, k, __ATOMIC_RELEASE);
            for (;;)
                pause();
        }
        pthread_mutex_lock(&m);
        __atomic_store_n(&turn_locked, k, __ATOMIC_RELEASE);
        while (!mutex_has_waiter(&m))
            sched_yield();
        pthread_mutex_unlock(&m);
        while (__atomic_load_n(&turn_done, __ATOMIC_ACQUIRE) < k)
            sched_yield();
        if (k == K) {
            static const char msg[] = "ready\n";
            if (write(1, msg, sizeof msg - 1) < 0)
                _exit(3);
        }
        if (k >= K)
            ms_sleep(2);
    }
}

static void on_alarm(int sig)
{
    (void)sig;
}

/* Runs `self run MODE` under the shim with stdout on a pipe, kills it KILL_AFTER_MS after it
 * said "ready" (or after 60 s without), and returns the wait status (-1: no "ready"). */
static int record_until_ready(const char *path, const char *mode)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    int p[2];
    if (pipe(p) != 0)
        return -1;
    unlink(path);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        setenv("LD_PRELOAD", getenv("PERFSHIM_LIB"), 1);
        setenv("PERFSHIM_OUTPUT", path, 1);
        char flush[16];
        snprintf(flush, sizeof flush, "%d", FLUSH_MS);
        setenv("PERFSHIM_FLUSH_MS", flush, 1);
        setenv("PERFSHIM_BUFFER_KB", "64", 1);
        setenv("PERFSHIM_QUEUE_MB", "16", 1);
        execl(self, self, "run", mode, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char buf[16] = {0};
    size_t got = 0;
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_alarm; /* no SA_RESTART: the read fails with EINTR */
    sigaction(SIGALRM, &sa, &old);
    alarm(60); /* a workload that never gets ready is a failure, not a stuck test */
    while (got < 6) {
        ssize_t r = read(p[0], buf + got, 6 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    alarm(0);
    sigaction(SIGALRM, &old, NULL);
    int ready = got == 6 && memcmp(buf, "ready\n", 6) == 0;
    if (ready)
        ms_sleep(strcmp(mode, "idle") == 0 ? IDLE_KILL_AFTER_MS : KILL_AFTER_MS);
    kill(pid, SIGKILL);
    close(p[0]);
    int status = harness_wait(pid);
    return ready ? status : -1;
}

static int check_mode(const char *path, const char *mode)
{
    int status = record_until_ready(path, mode);
    if (status == -1 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        return fprintf(stderr, "sigkill_locks %s: workload not ready or not killed (%d)\n", mode,
                       status),
               1;
    trace_t t;
    if (trace_load(path, &t) != 0)
        return fprintf(stderr, "sigkill_locks %s: trace does not load\n", mode), 1;
    int quiet = strcmp(mode, "quiet") == 0, started = 0;
    for (size_t i = 0; i < t.nthreads; i++)
        started += t.threads[i].started;
    int fail = t.have_end || t.decode_error || (quiet ? started < 2 : t.lock_waits < (uint64_t)K);
    /* idle: each thread took m K times at one site before "ready", then blocked: a snapshot of
     * its lock table taken after "ready" holds all K (the per-site totals survive the kill) */
    int idle = strcmp(mode, "idle") == 0;
    if (idle && t.lock_snap_acq_max < (uint64_t)K) {
        fprintf(stderr, "sigkill_locks idle: the lock snapshots hold %" PRIu64 " acquisitions "
                "at most (%" PRIu64 " snapshots), K=" PS_STR(K) " needed\n",
                t.lock_snap_acq_max, t.lock_snaps);
        fail = 1;
    }
    fprintf(stderr,
            "sigkill_locks %s: %" PRIu64 " lock waits, %d threads started, in %" PRIu64
            " chunks (needed: %s, recorded %d ms before the kill), end=%d decode=%d: %s\n",
            mode, t.lock_waits, started, t.chunks, quiet ? "2 threads" : "K=" PS_STR(K) " waits",
            idle ? IDLE_KILL_AFTER_MS : KILL_AFTER_MS, t.have_end, t.decode_error,
            fail ? "FAIL" : "ok");
    trace_free(&t);
    if (!fail)
        unlink(path);
    return fail;
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    int fails = check_mode(path, "paced");
    fails += check_mode(path, "idle");
    fails += check_mode(path, "quiet");
    return fails != 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
