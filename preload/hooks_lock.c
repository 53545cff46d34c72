/*
 * hooks_lock.c -- see hooks_lock.h.
 *
 * Cost budget of an uncontended lock + unlock pair (the only path that must be cheap): two
 * guard checks, the real trylock and unlock through pointers, a site-cache compare, a held
 * entry pushed and popped, a few counter bumps, two rdtsc (the hold), a 64x64 multiply and
 * a histogram bump, and after the unlock one read of the lock's shared entry (written only
 * when the owner changed). No atomics beyond the lock's own. Everything else (a busy lock, a
 * new site, a nested acquisition, errors) is out of line, and a wait's event is written
 * after the release, outside the critical section; the writer's periodic work (its start,
 * the flush period: writer_tick_lock) is done there too, never on the uncontended path.
 *
 * Stack budget (measured, unwind.h): a known site uses the hook's frames only; a new site
 * unwinds, 3,512 bytes at most below the caller, and only when
 * PS_UNWIND_STACK_BUDGET (6 KiB) is left on the thread's own stack; otherwise, on a
 * makecontext or signal stack and inside dl_iterate_phdr, the site's stack is its caller alone.
 */
#include <config.h>

#include "hooks_lock.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "locktab.h"
#include "shim.h"

#define PS_X(name, params, ver) typedef int(*real_##name##_t) params;
PS_LOCK_REAL_LIST(PS_X)
#undef PS_X
#define PS_X(name, params, ver) static real_##name##_t real_##name;
PS_LOCK_REAL_LIST(PS_X)
#undef PS_X

/* Resolves every real lock function once (the first lock call of the process pays). A
 * versioned name falls back to the default version when glibc has no such version. */
static PS_NOINLINE PS_COLD void lock_resolve(void)
{
    void *sym;
#define PS_X(name, params, ver)                                                                \
    sym = (ver) ? dlvsym(RTLD_NEXT, #name, (ver) ? (ver) : "") : NULL;                         \
    if (!sym)                                                                                  \
        sym = dlsym(RTLD_NEXT, #name);                                                         \
    __atomic_store_n((void **)&real_##name, sym, __ATOMIC_RELEASE);
    PS_LOCK_REAL_LIST(PS_X)
#undef PS_X
}

/* Resolved at load too (the constructor runs before the app's code): a first lock call made
 * inside a dl_iterate_phdr callback must not call dlsym, which takes the loader's other lock
 * (dlopen takes the two in the other order). */
__attribute__((constructor)) static void lock_ctor(void)
{
    if (!__atomic_load_n((void **)&real_pthread_mutex_lock, __ATOMIC_ACQUIRE))
        lock_resolve();
}

/* The real function, resolved on first use. */
#define REAL(name)                                                                             \
    (PS_LIKELY(real_##name != NULL) ? real_##name : (lock_resolve(), real_##name))

#define RA() ((uintptr_t)__builtin_return_address(0))
/* The lock as the tables key it (a spinlock is a volatile int: the shim never reads it). */
#define LP(l) ((const void *)(uintptr_t)(l))

/* ---- out of line: after a busy trylock, errors ------------------------------------------ */

/* A non-zero result of a trylock function (h pushed by locktab_pre). */
static PS_NOINLINE void lock_try_failed(tstate_t *st, lockheld_t *h, int read, int rc)
{
    locksite_t *s = h->site;
    if (rc == EOWNERDEAD) { /* robust mutex: acquired, its previous owner died */
        s->errors++;
        locktab_acquired(st, h, read);
        return;
    }
    locktab_undo(h);
    if (rc == EBUSY)
        s->trylock_fail++;
    else
        s->errors++;
}

/* An error from a function that takes no lock (unlock, signal...). */
static PS_NOINLINE void lock_error(tstate_t *st, const void *l, uintptr_t ra, int kind)
{
    locksite_t *s = locktab_find(st, l, ra, kind);
    if (s)
        s->errors++;
}

/* The trylock returned rc != 0 and the real blocking call comes next, whatever rc was, so
 * that its result is exactly the native one. Returns 1 if the lock was busy (a wait, timed
 * from now, its holder named in w). */
static PS_NOINLINE int lock_wait_begin(lockheld_t *h, int kind, int op, int rc, lockwait_t *w)
{
    if (rc != EBUSY)
        return 0;
    w->op = (uint16_t)op;
    locktab_wait_begin(h, kind, w);
    return 1;
}

/* ---- when the trylock is not the blocking call's first step ------------------------------
 * The uncontended path tries the lock first, which is exact only where a failed trylock
 * leaves the lock as it found it and the blocking call then does what it would have done
 * alone. glibc 2.36 differs for:
 *  - robust mutexes: a trylock of an ENOTRECOVERABLE one leaves its own tid in the lock word
 *    (so a lock after it waits on itself);
 *  - priority-inheritance and priority-protect mutexes: the trylock changes the thread's
 *    priority or asks the kernel; a bad ceiling is the blocking call's EINVAL;
 *  - arguments the blocking call refuses before it looks at the lock: an unsupported clock
 *    (pthread_mutex_clocklock and the rwlock clock functions: EINVAL even when the lock is
 *    free), an abstime with tv_nsec outside [0, 1e9) (the rwlock timed and clock functions
 *    check it first; a mutex only when it must block, which the trylock path reproduces).
 * These call the real function alone ("direct"): the acquisition or the error is counted, and
 * a wait is timed when the lock's owner was another thread just before the call. */
#define MUTEX_KIND_DIRECT 0x70 /* PTHREAD_MUTEX_ROBUST_NORMAL_NP | _PRIO_INHERIT_NP | _PRIO_PROTECT_NP */

static PS_ALWAYS_INLINE int mutex_direct(const pthread_mutex_t *m)
{
    return (__atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & MUTEX_KIND_DIRECT) != 0;
}

static PS_ALWAYS_INLINE int clock_bad(clockid_t c)
{
    return c != CLOCK_REALTIME && c != CLOCK_MONOTONIC;
}

static PS_ALWAYS_INLINE int abstime_bad(const struct timespec *at)
{
    return at && (at->tv_nsec < 0 || at->tv_nsec >= 1000000000L);
}

/* Before a direct call: begins a wait when a mutex is owned by another thread (glibc keeps
 * the owner's tid in it); an rwlock goes direct only for arguments glibc refuses at once. */
static PS_NOINLINE int lock_direct_begin(lockheld_t *h, int kind, int op, const void *l,
                                         lockwait_t *w)
{
    if (kind != PS_LOCK_MUTEX)
        return 0;
    const pthread_mutex_t *m = l;
    int owner = __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED);
    if (__atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & 0x30) {
        /* robust or PI: the word holds the owner's tid; FUTEX_OWNER_DIED: no wait (EOWNERDEAD) */
        unsigned word = (unsigned)__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED);
        owner = word & 0x40000000u ? 0 : (int)(word & 0x3fffffffu);
    }
    if (owner == 0 || owner == (int)lock_me->tid)
        return 0;
    return lock_wait_begin(h, kind, op, EBUSY, w);
}

/* ---- blocking acquisitions: X(name, KIND, OP, read, params, args, trylock, direct) --------
 * direct: an expression of the arguments, true where the real function is called alone. */
#define PS_LOCK_BLOCKING_HOOKS(X)                                                              \
    X(pthread_mutex_lock, MUTEX, LOCK, 0, (pthread_mutex_t * l), (l), pthread_mutex_trylock,   \
      mutex_direct(l))                                                                         \
    X(pthread_mutex_timedlock, MUTEX, TIMEDLOCK, 0,                                            \
      (pthread_mutex_t * l, const struct timespec *at), (l, at), pthread_mutex_trylock,        \
      mutex_direct(l))                                                                         \
    X(pthread_mutex_clocklock, MUTEX, TIMEDLOCK, 0,                                            \
      (pthread_mutex_t * l, clockid_t c, const struct timespec *at), (l, c, at),               \
      pthread_mutex_trylock, mutex_direct(l) || clock_bad(c))                                  \
    X(pthread_rwlock_rdlock, RWLOCK, RDLOCK, 1, (pthread_rwlock_t * l), (l),                   \
      pthread_rwlock_tryrdlock, 0)                                                             \
    X(pthread_rwlock_wrlock, RWLOCK, WRLOCK, 0, (pthread_rwlock_t * l), (l),                   \
      pthread_rwlock_trywrlock, 0)                                                             \
    X(pthread_rwlock_timedrdlock, RWLOCK, TIMEDRDLOCK, 1,                                      \
      (pthread_rwlock_t * l, const struct timespec *at), (l, at), pthread_rwlock_tryrdlock,    \
      abstime_bad(at))                                                                         \
    X(pthread_rwlock_timedwrlock, RWLOCK, TIMEDWRLOCK, 0,                                      \
      (pthread_rwlock_t * l, const struct timespec *at), (l, at), pthread_rwlock_trywrlock,    \
      abstime_bad(at))                                                                         \
    X(pthread_rwlock_clockrdlock, RWLOCK, TIMEDRDLOCK, 1,                                      \
      (pthread_rwlock_t * l, clockid_t c, const struct timespec *at), (l, c, at),              \
      pthread_rwlock_tryrdlock, clock_bad(c) || abstime_bad(at))                               \
    X(pthread_rwlock_clockwrlock, RWLOCK, TIMEDWRLOCK, 0,                                      \
      (pthread_rwlock_t * l, clockid_t c, const struct timespec *at), (l, c, at),              \
      pthread_rwlock_trywrlock, clock_bad(c) || abstime_bad(at))                               \
    X(pthread_spin_lock, SPINLOCK, LOCK, 0, (pthread_spinlock_t * l), (l), pthread_spin_trylock, \
      0)

#define PS_X(name, KIND, OP, rd, params, args, tryfn, direct)                                 \
    PS_EXPORT int name params                                                                  \
    {                                                                                          \
        tstate_t *st = hook_enter();                                                           \
        if (PS_UNLIKELY(!st))                                                                  \
            return REAL(name) args;                                                            \
        lockheld_t *h = locktab_pre(st, LP(l), RA(), PS_LOCK_##KIND);                          \
        if (PS_UNLIKELY(!h)) { /* untracked (counted) */                                       \
            int r = REAL(name) args;                                                           \
            hook_leave();                                                                      \
            return r;                                                                          \
        }                                                                                      \
        lockwait_t w;                                                                          \
        int rc, waited;                                                                        \
        if (PS_UNLIKELY(direct)) {                                                             \
            waited = lock_direct_begin(h, PS_LOCK_##KIND, PS_LOCK_OP_##OP, LP(l), &w);         \
        } else {                                                                               \
            rc = REAL(tryfn)(l);                                                               \
            if (PS_LIKELY(rc == 0)) {                                                          \
                locktab_acquired(st, h, rd);                                                   \
                hook_leave();                                                                  \
                return 0;                                                                      \
            }                                                                                  \
            if (PS_UNLIKELY(rc == EOWNERDEAD)) { /* acquired: never locked again */         \
                lock_try_failed(st, h, rd, rc);                                                \
                hook_leave();                                                                  \
                return rc;                                                                     \
            }                                                                                  \
            waited = lock_wait_begin(h, PS_LOCK_##KIND, PS_LOCK_OP_##OP, rc, &w);              \
        }                                                                                      \
        rc = REAL(name) args;                                                                  \
        locktab_wait_end(st, h, waited ? &w : NULL, rd, rc);                                   \
        hook_leave();                                                                          \
        return rc;                                                                             \
    }
PS_LOCK_BLOCKING_HOOKS(PS_X)
#undef PS_X

/* ---- trylocks: X(name, KIND, read, type) --------------------------------------------------- */
#define PS_LOCK_TRY_HOOKS(X)                                                                   \
    X(pthread_mutex_trylock, MUTEX, 0, pthread_mutex_t)                                        \
    X(pthread_rwlock_tryrdlock, RWLOCK, 1, pthread_rwlock_t)                                   \
    X(pthread_rwlock_trywrlock, RWLOCK, 0, pthread_rwlock_t)                                   \
    X(pthread_spin_trylock, SPINLOCK, 0, pthread_spinlock_t)

#define PS_X(name, KIND, rd, type)                                                             \
    PS_EXPORT int name(type *l)                                                                \
    {                                                                                          \
        tstate_t *st = hook_enter();                                                           \
        if (PS_UNLIKELY(!st))                                                                  \
            return REAL(name)(l);                                                              \
        lockheld_t *h = locktab_pre(st, LP(l), RA(), PS_LOCK_##KIND);                          \
        int rc = REAL(name)(l);                                                                \
        if (PS_LIKELY(h != NULL)) {                                                            \
            if (PS_LIKELY(rc == 0))                                                            \
                locktab_acquired(st, h, rd);                                                   \
            else                                                                               \
                lock_try_failed(st, h, rd, rc);                                                \
        }                                                                                      \
        hook_leave();                                                                          \
        return rc;                                                                             \
    }
PS_LOCK_TRY_HOOKS(PS_X)
#undef PS_X

/* ---- releases: X(name, KIND, type) ------------------------------------------------------- */
#define PS_LOCK_UNLOCK_HOOKS(X)                                                                \
    X(pthread_mutex_unlock, MUTEX, pthread_mutex_t)                                            \
    X(pthread_rwlock_unlock, RWLOCK, pthread_rwlock_t)                                         \
    X(pthread_spin_unlock, SPINLOCK, pthread_spinlock_t)

#define PS_X(name, KIND, type)                                                                 \
    PS_EXPORT int name(type *l)                                                                \
    {                                                                                          \
        tstate_t *st = hook_enter();                                                           \
        if (PS_UNLIKELY(!st))                                                                  \
            return REAL(name)(l);                                                              \
        lockheld_t *h = locktab_release_begin(LP(l));                                          \
        uint64_t t1 = h ? tsc_now() : 0; /* the hold ends before the real unlock */           \
        int rc = REAL(name)(l);                                                                \
        if (PS_LIKELY(h != NULL))                                                              \
            locktab_release_end(st, h, t1);                                                    \
        if (PS_UNLIKELY(rc != 0))                                                              \
            lock_error(st, LP(l), RA(), PS_LOCK_##KIND);                                       \
        hook_leave();                                                                          \
        return rc;                                                                             \
    }
PS_LOCK_UNLOCK_HOOKS(PS_X)
#undef PS_X

/* ---- initialization: the lock's init stack ----------------------------------------------- */
static uint32_t mutex_attr_bits(const pthread_mutexattr_t *a)
{
    int type = PTHREAD_MUTEX_DEFAULT, robust = PTHREAD_MUTEX_STALLED;
    if (a) {
        pthread_mutexattr_gettype(a, &type);
        pthread_mutexattr_getrobust(a, &robust);
    }
    return (uint32_t)type | (robust == PTHREAD_MUTEX_ROBUST ? 0x100u : 0u);
}

/* X(name, KIND, params, args, attr bits) */
#define PS_LOCK_INIT_HOOKS(X)                                                                  \
    X(pthread_mutex_init, MUTEX, (pthread_mutex_t * l, const pthread_mutexattr_t *a), (l, a),  \
      mutex_attr_bits(a))                                                                      \
    X(pthread_rwlock_init, RWLOCK, (pthread_rwlock_t * l, const pthread_rwlockattr_t *a),      \
      (l, a), 0)                                                                               \
    X(pthread_spin_init, SPINLOCK, (pthread_spinlock_t * l, int pshared), (l, pshared), 0)

#define PS_X(name, KIND, params, args, attr)                                                  \
    PS_EXPORT int name params                                                                  \
    {                                                                                          \
        tstate_t *st = hook_enter();                                                           \
        if (PS_UNLIKELY(!st))                                                                  \
            return REAL(name) args;                                                            \
        int rc = REAL(name) args;                                                              \
        if (rc == 0)                                                                           \
            locktab_init_seen(st, (const void *)l, RA(), PS_LOCK_##KIND, attr);                      \
        hook_leave();                                                                          \
        return rc;                                                                             \
    }
PS_LOCK_INIT_HOOKS(PS_X)
#undef PS_X

/* ---- condition variables ------------------------------------------------------------------ */

/* A wait returned: count it at the condvar's site, and the mutex's re-acquisition (it is
 * held again after any wait that did not fail early) at the mutex's site of the same call. */
static PS_NOINLINE void cond_waited(tstate_t *st, pthread_cond_t *c, pthread_mutex_t *m,
                                    uintptr_t ra, uint64_t t0, int rc)
{
    uint64_t t1 = prim_now_ns(), ns = t1 > t0 ? t1 - t0 : 0;
    locksite_t *s = locktab_find(st, c, ra, PS_LOCK_COND);
    if (s) {
        if (rc == 0 || rc == ETIMEDOUT) {
            s->acquisitions++;
            s->wait_ns += ns;
            if (ns > s->wait_max_ns)
                s->wait_max_ns = ns;
            locktab_hist_add(s->wait_hist, ns);
            s->timeouts += rc == ETIMEDOUT;
        } else {
            s->errors++;
        }
    }
    if (rc == 0 || rc == ETIMEDOUT || rc == EOWNERDEAD) {
        lockheld_t *h = locktab_pre(st, m, ra, PS_LOCK_MUTEX | PS_LOCK_F_HELD);
        if (h)
            locktab_acquired(st, h, 0);
    }
}

/* The wait releases the mutex: its hold ends here (before the wait, so inside the critical
 * section: a condvar wait is slow anyway). */
static PS_NOINLINE void cond_release(tstate_t *st, pthread_mutex_t *m)
{
    lockheld_t *h = locktab_release_begin(m);
    if (h)
        locktab_release_cond(st, h, tsc_now());
}

/* X(name, params, args) */
#define PS_COND_WAIT_HOOKS(X)                                                                  \
    X(pthread_cond_wait, (pthread_cond_t * c, pthread_mutex_t * m), (c, m))                    \
    X(pthread_cond_timedwait, (pthread_cond_t * c, pthread_mutex_t * m, const struct timespec *at), \
      (c, m, at))                                                                              \
    X(pthread_cond_clockwait,                                                                  \
      (pthread_cond_t * c, pthread_mutex_t * m, clockid_t k, const struct timespec *at),       \
      (c, m, k, at))

#define PS_X(name, params, args)                                                               \
    PS_EXPORT int name params                                                                  \
    {                                                                                          \
        tstate_t *st = hook_enter();                                                           \
        if (PS_UNLIKELY(!st))                                                                  \
            return REAL(name) args;                                                            \
        cond_release(st, m);                                                                   \
        uint64_t t0 = prim_now_ns();                                                           \
        int rc = REAL(name) args;                                                              \
        cond_waited(st, c, m, RA(), t0, rc);                                                   \
        hook_leave();                                                                          \
        return rc;                                                                             \
    }
PS_COND_WAIT_HOOKS(PS_X)
#undef PS_X

static PS_NOINLINE void cond_notified(tstate_t *st, pthread_cond_t *c, uintptr_t ra, int bcast,
                                      int rc)
{
    locksite_t *s = locktab_find(st, c, ra, PS_LOCK_COND);
    if (!s)
        return;
    if (rc != 0)
        s->errors++;
    else if (bcast)
        s->broadcasts++;
    else
        s->signals++;
}

/* X(name, is_broadcast) */
#define PS_COND_NOTIFY_HOOKS(X) X(pthread_cond_signal, 0) X(pthread_cond_broadcast, 1)

#define PS_X(name, bcast)                                                                      \
    PS_EXPORT int name(pthread_cond_t *c)                                                      \
    {                                                                                          \
        tstate_t *st = hook_enter();                                                           \
        if (PS_UNLIKELY(!st))                                                                  \
            return REAL(name)(c);                                                              \
        int rc = REAL(name)(c);                                                                \
        cond_notified(st, c, RA(), bcast, rc);                                                 \
        hook_leave();                                                                          \
        return rc;                                                                             \
    }
PS_COND_NOTIFY_HOOKS(PS_X)
#undef PS_X
