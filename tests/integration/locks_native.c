/*
 * locks_native -- every lock function returns under the shim exactly what glibc returns
 * natively, and leaves the lock in exactly the same state, for every lock kind, lock state
 * and argument: a table of (kind, state, operation) cases, each run on a fresh lock, printed
 * as one line (result and the lock's raw fields, thread ids named by role). The test runs
 * the table natively and under the shim and compares the two outputs line by line and the
 * exit status; a case that deadlocks is caught by alarm() (the run dies with SIGALRM, its
 * last printed line names the case before). The shim's trace must be complete.
 *
 * Kinds: mutex normal, error-checking, recursive, adaptive, robust (x3 types), priority
 * inheritance (x2, and robust), priority protect (default ceiling, and the highest); rwlock
 * reader- and writer-preferring; spinlock. States: free, held by this thread, held by a live
 * thread, held by a thread that exited, and (robust) not recoverable. Operations: lock,
 * trylock, timed and clock locks with a future, a past, a bad tv_nsec (2e9, -1), a bad clock
 * (12345, CLOCK_PROCESS_CPUTIME_ID), unlock. Cases that block forever natively are skipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "perfshim/compiler.h"

/* ---- kinds, states, operations ------------------------------------------------------------ */
enum { LK_MUTEX, LK_RWLOCK, LK_SPIN };

/* X(name, lock kind, mutex type, robust, protocol, ceiling: 0 default, -1 the highest) */
#define KIND_LIST(X)                                                                           \
    X(normal, LK_MUTEX, PTHREAD_MUTEX_NORMAL, 0, PTHREAD_PRIO_NONE, 0)                         \
    X(errorcheck, LK_MUTEX, PTHREAD_MUTEX_ERRORCHECK, 0, PTHREAD_PRIO_NONE, 0)                 \
    X(recursive, LK_MUTEX, PTHREAD_MUTEX_RECURSIVE, 0, PTHREAD_PRIO_NONE, 0)                   \
    X(adaptive, LK_MUTEX, PTHREAD_MUTEX_ADAPTIVE_NP, 0, PTHREAD_PRIO_NONE, 0)                  \
    X(robust, LK_MUTEX, PTHREAD_MUTEX_NORMAL, 1, PTHREAD_PRIO_NONE, 0)                         \
    X(robust_errchk, LK_MUTEX, PTHREAD_MUTEX_ERRORCHECK, 1, PTHREAD_PRIO_NONE, 0)              \
    X(robust_recur, LK_MUTEX, PTHREAD_MUTEX_RECURSIVE, 1, PTHREAD_PRIO_NONE, 0)                \
    X(pi, LK_MUTEX, PTHREAD_MUTEX_NORMAL, 0, PTHREAD_PRIO_INHERIT, 0)                          \
    X(pi_errchk, LK_MUTEX, PTHREAD_MUTEX_ERRORCHECK, 0, PTHREAD_PRIO_INHERIT, 0)               \
    X(pi_robust, LK_MUTEX, PTHREAD_MUTEX_NORMAL, 1, PTHREAD_PRIO_INHERIT, 0)                   \
    X(pp, LK_MUTEX, PTHREAD_MUTEX_NORMAL, 0, PTHREAD_PRIO_PROTECT, 0)                          \
    X(pp_max, LK_MUTEX, PTHREAD_MUTEX_ERRORCHECK, 0, PTHREAD_PRIO_PROTECT, -1)                 \
    X(rw_reader, LK_RWLOCK, PTHREAD_RWLOCK_PREFER_READER_NP, 0, 0, 0)                          \
    X(rw_writer, LK_RWLOCK, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP, 0, 0, 0)             \
    X(spin, LK_SPIN, 0, 0, 0, 0)

typedef struct kind_s {
    const char *name;
    int lk, type, robust, proto, ceiling;
} kind_t;

#define PS_X(n, lk, type, rob, proto, ceil) {#n, lk, type, rob, proto, ceil},
static const kind_t kinds[] = {KIND_LIST(PS_X)};
#undef PS_X

/* S_SELF_RD / S_OTHER_RD: rwlocks only (the plain ones take it for writing). S_NOTREC: robust
 * mutexes only. */
enum { S_FREE, S_SELF, S_SELF_RD, S_OTHER, S_OTHER_RD, S_DEAD, S_NOTREC, S_N };
static const char *const state_names[S_N] = {"free", "self", "self_rd", "other", "other_rd",
                                              "dead", "notrec"};

/* timeouts */
enum { T_NONE, T_FUTURE, T_PAST, T_NSEC_BIG, T_NSEC_NEG };
/* X(name, what: 0 lock, 1 trylock, 2 unlock; read, timeout, clock: -1 timed (REALTIME) / none) */
#define OP_LIST(X)                                                                             \
    X(lock, 0, 0, T_NONE, -1)                                                                  \
    X(trylock, 1, 0, T_NONE, -1)                                                               \
    X(timed_future, 0, 0, T_FUTURE, -1)                                                        \
    X(timed_past, 0, 0, T_PAST, -1)                                                            \
    X(timed_nsec_2e9, 0, 0, T_NSEC_BIG, -1)                                                    \
    X(timed_nsec_neg, 0, 0, T_NSEC_NEG, -1)                                                    \
    X(clock_mono_past, 0, 0, T_PAST, CLOCK_MONOTONIC)                                          \
    X(clock_mono_nsec_2e9, 0, 0, T_NSEC_BIG, CLOCK_MONOTONIC)                                  \
    X(clock_bad, 0, 0, T_FUTURE, 12345)                                                        \
    X(clock_cputime, 0, 0, T_PAST, CLOCK_PROCESS_CPUTIME_ID)                                   \
    X(clock_bad_nsec, 0, 0, T_NSEC_BIG, 12345)                                                 \
    X(rdlock, 0, 1, T_NONE, -1)                                                                \
    X(tryrdlock, 1, 1, T_NONE, -1)                                                             \
    X(timedrd_past, 0, 1, T_PAST, -1)                                                          \
    X(timedrd_nsec_2e9, 0, 1, T_NSEC_BIG, -1)                                                  \
    X(timedrd_nsec_neg, 0, 1, T_NSEC_NEG, -1)                                                  \
    X(clockrd_bad, 0, 1, T_FUTURE, 12345)                                                      \
    X(clockrd_mono_past, 0, 1, T_PAST, CLOCK_MONOTONIC)                                        \
    X(unlock, 2, 0, T_NONE, -1)

typedef struct op_s {
    const char *name;
    int what, read, timeout, clock;
} op_t;

#define PS_X(n, what, rd, to, clk) {#n, what, rd, to, clk},
static const op_t ops[] = {OP_LIST(PS_X)};
#undef PS_X

/* ---- thread ids named by role ---------------------------------------------------------- */
static pid_t tids[8];
static int ntids;

static void tid_name(char *out, size_t cap, unsigned v)
{
    if (v == 0) {
        snprintf(out, cap, "0");
        return;
    }
    if ((pid_t)v == (pid_t)syscall(SYS_gettid)) {
        snprintf(out, cap, "T");
        return;
    }
    for (int i = 0; i < ntids; i++) {
        if ((pid_t)v == tids[i]) {
            snprintf(out, cap, "O%d", i);
            return;
        }
    }
    snprintf(out, cap, "#%u", v);
}

/* ---- the locks -------------------------------------------------------------------------- */
typedef union lock_u {
    pthread_mutex_t m;
    pthread_rwlock_t rw;
    pthread_spinlock_t s;
} lock_t;

static int lock_init(lock_t *l, const kind_t *k)
{
    memset(l, 0, sizeof *l);
    if (k->lk == LK_SPIN)
        return pthread_spin_init(&l->s, PTHREAD_PROCESS_PRIVATE);
    if (k->lk == LK_RWLOCK) {
        pthread_rwlockattr_t a;
        pthread_rwlockattr_init(&a);
        pthread_rwlockattr_setkind_np(&a, k->type);
        int rc = pthread_rwlock_init(&l->rw, &a);
        pthread_rwlockattr_destroy(&a);
        return rc;
    }
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, k->type);
    if (k->robust)
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_setprotocol(&a, k->proto);
    if (k->ceiling < 0)
        pthread_mutexattr_setprioceiling(&a, sched_get_priority_max(SCHED_FIFO));
    int rc = pthread_mutex_init(&l->m, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

static int do_op(lock_t *l, const kind_t *k, const op_t *o)
{
    struct timespec ts = {0, 0};
    clockid_t clk = o->clock < 0 ? CLOCK_REALTIME : (clockid_t)o->clock;
    if (o->timeout == T_FUTURE) {
        clock_gettime(clk == CLOCK_MONOTONIC ? CLOCK_MONOTONIC : CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    } else if (o->timeout == T_PAST) {
        ts.tv_sec = 1;
    } else if (o->timeout == T_NSEC_BIG) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 5;
        ts.tv_nsec = 2000000000L;
    } else if (o->timeout == T_NSEC_NEG) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 5;
        ts.tv_nsec = -1;
    }
    if (k->lk == LK_SPIN) {
        if (o->what == 2)
            return pthread_spin_unlock(&l->s);
        return o->what == 1 ? pthread_spin_trylock(&l->s) : pthread_spin_lock(&l->s);
    }
    if (k->lk == LK_RWLOCK) {
        if (o->what == 2)
            return pthread_rwlock_unlock(&l->rw);
        if (o->what == 1)
            return o->read ? pthread_rwlock_tryrdlock(&l->rw) : pthread_rwlock_trywrlock(&l->rw);
        if (o->timeout == T_NONE)
            return o->read ? pthread_rwlock_rdlock(&l->rw) : pthread_rwlock_wrlock(&l->rw);
        if (o->clock < 0)
            return o->read ? pthread_rwlock_timedrdlock(&l->rw, &ts)
                           : pthread_rwlock_timedwrlock(&l->rw, &ts);
        return o->read ? pthread_rwlock_clockrdlock(&l->rw, clk, &ts)
                       : pthread_rwlock_clockwrlock(&l->rw, clk, &ts);
    }
    if (o->what == 2)
        return pthread_mutex_unlock(&l->m);
    if (o->what == 1)
        return pthread_mutex_trylock(&l->m);
    if (o->timeout == T_NONE)
        return pthread_mutex_lock(&l->m);
    if (o->clock < 0)
        return pthread_mutex_timedlock(&l->m, &ts);
    return pthread_mutex_clocklock(&l->m, clk, &ts);
}

/* Takes l as its state needs (this thread's share: S_SELF*; S_NOTREC: a dead owner, then
 * unlocked without pthread_mutex_consistent). Returns what it took, -1 if nothing. */
static int take(lock_t *l, const kind_t *k, int rd)
{
    if (k->lk == LK_SPIN)
        return pthread_spin_lock(&l->s);
    if (k->lk == LK_RWLOCK)
        return rd ? pthread_rwlock_rdlock(&l->rw) : pthread_rwlock_wrlock(&l->rw);
    return pthread_mutex_lock(&l->m);
}

typedef struct holder_s {
    lock_t *l;
    const kind_t *k;
    int rd, rc;
    sem_t taken, release;
    int exit_holding;
} holder_t;

static void *holder_main(void *arg)
{
    holder_t *h = arg;
    tids[ntids++] = (pid_t)syscall(SYS_gettid);
    h->rc = take(h->l, h->k, h->rd);
    sem_post(&h->taken);
    if (h->exit_holding)
        return NULL;
    sem_wait(&h->release);
    /* releases what it took (its result is not part of the case: another thread may have
     * unlocked it meanwhile) */
    if (h->rc == 0 || h->rc == EOWNERDEAD)
        do_op(h->l, h->k, &ops[PS_ARRAY_LEN(ops) - 1]);
    return NULL;
}

static void print_state(const lock_t *l, const kind_t *k, char *out, size_t cap)
{
    char a[16], b[16];
    if (k->lk == LK_SPIN) {
        snprintf(out, cap, "spin=%d", *(const volatile int *)&l->s);
    } else if (k->lk == LK_RWLOCK) {
        const struct __pthread_rwlock_arch_t *d = &l->rw.__data;
        tid_name(a, sizeof a, (unsigned)d->__cur_writer);
        snprintf(out, cap, "readers=%#x writers=%u wrphase=%u wfutex=%u cur_writer=%s flags=%u",
                 d->__readers, d->__writers, d->__wrphase_futex, d->__writers_futex, a,
                 (unsigned)d->__flags);
    } else {
        const struct __pthread_mutex_s *d = &l->m.__data;
        unsigned w = (unsigned)d->__lock;
        /* a robust or PI mutex's word holds its owner's tid and two flags; others a state
         * (and a priority-protect one its ceiling) */
        int tid_word = (d->__kind & 0x30) != 0;
        tid_name(a, sizeof a, tid_word ? w & 0x3fffffffu : 0);
        tid_name(b, sizeof b, (unsigned)d->__owner);
        snprintf(out, cap, "word=%s|%#x count=%u owner=%s nusers=%u kind=%#x", tid_word ? a : "-",
                 tid_word ? w & 0xc0000000u : w, d->__count, b, d->__nusers, (unsigned)d->__kind);
    }
}

/* An operation this case may run: one that would block forever natively is not. */
static int op_applies(const kind_t *k, int s, const op_t *o)
{
    int held_by_other = s == S_OTHER || s == S_OTHER_RD || s == S_DEAD;
    if (k->lk == LK_SPIN)
        return o->timeout == T_NONE && !o->read && (o->what != 0 || s == S_FREE);
    if (k->lk == LK_RWLOCK) {
        if (o->what == 0 && o->timeout == T_NONE) {
            if (o->read)
                return s == S_FREE || s == S_SELF_RD || s == S_OTHER_RD || s == S_SELF;
            return s == S_FREE || s == S_SELF; /* S_SELF: EDEADLK */
        }
        return 1;
    }
    if (o->read)
        return 0;
    if (o->what == 0 && o->timeout == T_NONE) {
        if (held_by_other)
            return k->robust && s == S_DEAD; /* EOWNERDEAD */
        if (s == S_SELF) /* only these refuse a relock instead of waiting forever */
            return k->type != PTHREAD_MUTEX_NORMAL && k->type != PTHREAD_MUTEX_ADAPTIVE_NP;
        return 1;
    }
    if (o->what == 0 && o->timeout == T_FUTURE && held_by_other && s == S_DEAD && !k->robust)
        return k->proto != PTHREAD_PRIO_INHERIT; /* a PI futex whose owner is gone: the kernel */
    return 1;
}

static int state_applies(const kind_t *k, int s)
{
    if (s == S_SELF_RD || s == S_OTHER_RD)
        return k->lk == LK_RWLOCK;
    if (s == S_NOTREC)
        return k->lk == LK_MUTEX && k->robust;
    if (s == S_DEAD)
        return k->lk == LK_MUTEX;
    return 1;
}

static void run_case(const kind_t *k, int s, const op_t *o)
{
    static lock_t locks[2048];
    static int nlocks;
    lock_t *l = &locks[nlocks++ % 2048];
    char line[512], st[256];
    ntids = 0;
    int irc = lock_init(l, k);
    holder_t h = {.l = l, .k = k, .rd = s == S_OTHER_RD};
    pthread_t t;
    int have_thread = 0, src = 0;
    sem_init(&h.taken, 0, 0);
    sem_init(&h.release, 0, 0);
    if (s == S_SELF || s == S_SELF_RD) {
        src = take(l, k, s == S_SELF_RD);
    } else if (s == S_OTHER || s == S_OTHER_RD || s == S_DEAD || s == S_NOTREC) {
        h.exit_holding = s == S_DEAD || s == S_NOTREC;
        pthread_create(&t, NULL, holder_main, &h);
        sem_wait(&h.taken);
        src = h.rc;
        if (h.exit_holding) {
            pthread_join(t, NULL);
        } else {
            have_thread = 1;
        }
        if (s == S_NOTREC) { /* EOWNERDEAD, then unlocked without being made consistent */
            int r1 = pthread_mutex_lock(&l->m);
            int r2 = pthread_mutex_unlock(&l->m);
            src = src * 10000 + r1 * 100 + r2;
        }
    }
    int rc = do_op(l, k, o);
    print_state(l, k, st, sizeof st);
    snprintf(line, sizeof line, "%s %s %s: init=%d setup=%d rc=%d %s\n", k->name,
             state_names[s], o->name, irc, src, rc, st);
    (void)!write(1, line, strlen(line));
    if (have_thread) {
        sem_post(&h.release);
        pthread_join(t, NULL);
    }
}

static void run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    alarm(20); /* a deadlocked case kills the run (SIGALRM) */
    for (size_t ki = 0; ki < PS_ARRAY_LEN(kinds); ki++)
        for (int s = 0; s < S_N; s++)
            for (size_t oi = 0; oi < PS_ARRAY_LEN(ops); oi++)
                if (state_applies(&kinds[ki], s) && op_applies(&kinds[ki], s, &ops[oi]))
                    run_case(&kinds[ki], s, &ops[oi]);
    (void)!write(1, "done\n", 5);
}

/* ---- the check: native and traced runs compared ----------------------------------------- */

/* Runs `self run` (under the shim when lib is set) and returns its stdout (malloc'd) and
 * wait status. */
static char *capture(const char *lib, const char *trace, int *status)
{
    int p[2];
    if (pipe(p) != 0)
        return NULL;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        if (lib) {
            setenv("LD_PRELOAD", lib, 1);
            setenv("PERFSHIM_OUTPUT", trace, 1);
        } else {
            unsetenv("LD_PRELOAD");
        }
        execl(self, self, "run", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(p[0], buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = 0;
    close(p[0]);
    *status = harness_wait(pid);
    return buf;
}

static int check(trace_t *unused, const char *trace_path)
{
    (void)unused;
    int st_native, st_shim;
    char *native = capture(NULL, NULL, &st_native);
    char *shim = capture(getenv("PERFSHIM_LIB"), trace_path, &st_shim);
    int bad = 0;
    if (!native || !shim)
        return 1;
    if (st_native != st_shim) {
        fprintf(stderr, "FAIL: exit status native %#x, under the shim %#x\n", st_native, st_shim);
        bad++;
    }
    size_t cases = 0;
    char *pn = native, *ps = shim;
    while (*pn || *ps) {
        char *en = strchr(pn, '\n'), *es = strchr(ps, '\n');
        size_t ln = en ? (size_t)(en - pn) : strlen(pn), ls = es ? (size_t)(es - ps) : strlen(ps);
        if (ln != ls || memcmp(pn, ps, ln) != 0) {
            if (bad++ < 20)
                fprintf(stderr, "FAIL:\n  native: %.*s\n  shim:   %.*s\n", (int)ln, pn, (int)ls,
                        ps);
        }
        cases++;
        pn += ln + (en ? 1 : 0);
        ps += ls + (es ? 1 : 0);
    }
    if (!strstr(native, "done\n")) {
        fprintf(stderr, "FAIL: the native run did not finish (status %#x)\n", st_native);
        bad++;
    }
    trace_t t;
    if (trace_load(trace_path, &t) != 0) {
        fprintf(stderr, "FAIL: the trace does not load\n");
        bad++;
    } else {
        if (!t.have_end || t.decode_error) {
            fprintf(stderr, "FAIL: the trace is not complete\n");
            bad++;
        }
        if (t.lock_sites == 0) {
            fprintf(stderr, "FAIL: no lock site recorded\n");
            bad++;
        }
        trace_free(&t);
    }
    printf("%zu cases compared, %d differences\n", cases, bad);
    free(native);
    free(shim);
    if (!bad)
        unlink(trace_path);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
