/*
 * hooks_lock.h -- the interposed pthread lock functions: mutex (lock, trylock, timedlock,
 * clocklock, unlock, init), rwlock (rd/wr lock, try, timed, clock, unlock, init), spinlock
 * (lock, trylock, unlock, init) and condvar (wait, timedwait, clockwait, signal, broadcast).
 *
 * Contract: every hook returns exactly what the real function returns, with the same effect
 * on the lock (the shim only observes). The uncontended path tries the lock first and only
 * counts (locktab.h); a busy lock is timed, then the real blocking function is called. Where
 * glibc's trylock is not the blocking call's first step (robust, priority-inheritance and
 * priority-protect mutexes; an unsupported clock; an rwlock abstime with a bad tv_nsec) the
 * real function is called alone (hooks_lock.c says why, case by case;
 * tests/integration/locks_native compares every kind, state and argument with glibc). When
 * the shim does not record (hook_enter() returned NULL: not initialized yet, disabled,
 * finished, or the shim itself is running) the real function is called directly.
 * pthread_cond_{wait,timedwait,signal,broadcast} are exported as the default version
 * GLIBC_2.3.2 (exports.map), so programs built against the old GLIBC_2.2.5 condvar ABI bind
 * to glibc's compat functions directly and are not recorded; the real functions are resolved
 * with dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2").
 */
#ifndef PERFSHIM_HOOKS_LOCK_H
#define PERFSHIM_HOOKS_LOCK_H

#include <pthread.h>
#include <time.h>

/* name, parameter types, glibc version to resolve (NULL: the default one, by dlsym) */
#define PS_LOCK_REAL_LIST(X)                                                                   \
    X(pthread_mutex_lock, (pthread_mutex_t *), NULL)                                           \
    X(pthread_mutex_trylock, (pthread_mutex_t *), NULL)                                        \
    X(pthread_mutex_timedlock, (pthread_mutex_t *, const struct timespec *), NULL)             \
    X(pthread_mutex_clocklock, (pthread_mutex_t *, clockid_t, const struct timespec *), NULL)  \
    X(pthread_mutex_unlock, (pthread_mutex_t *), NULL)                                         \
    X(pthread_mutex_init, (pthread_mutex_t *, const pthread_mutexattr_t *), NULL)              \
    X(pthread_rwlock_rdlock, (pthread_rwlock_t *), NULL)                                       \
    X(pthread_rwlock_wrlock, (pthread_rwlock_t *), NULL)                                       \
    X(pthread_rwlock_tryrdlock, (pthread_rwlock_t *), NULL)                                    \
    X(pthread_rwlock_trywrlock, (pthread_rwlock_t *), NULL)                                    \
    X(pthread_rwlock_timedrdlock, (pthread_rwlock_t *, const struct timespec *), NULL)         \
    X(pthread_rwlock_timedwrlock, (pthread_rwlock_t *, const struct timespec *), NULL)         \
    X(pthread_rwlock_clockrdlock, (pthread_rwlock_t *, clockid_t, const struct timespec *),    \
      NULL)                                                                                    \
    X(pthread_rwlock_clockwrlock, (pthread_rwlock_t *, clockid_t, const struct timespec *),    \
      NULL)                                                                                    \
    X(pthread_rwlock_unlock, (pthread_rwlock_t *), NULL)                                       \
    X(pthread_rwlock_init, (pthread_rwlock_t *, const pthread_rwlockattr_t *), NULL)           \
    X(pthread_spin_lock, (pthread_spinlock_t *), NULL)                                         \
    X(pthread_spin_trylock, (pthread_spinlock_t *), NULL)                                      \
    X(pthread_spin_unlock, (pthread_spinlock_t *), NULL)                                       \
    X(pthread_spin_init, (pthread_spinlock_t *, int), NULL)                                    \
    X(pthread_cond_wait, (pthread_cond_t *, pthread_mutex_t *), "GLIBC_2.3.2")                 \
    X(pthread_cond_timedwait, (pthread_cond_t *, pthread_mutex_t *, const struct timespec *),  \
      "GLIBC_2.3.2")                                                                           \
    X(pthread_cond_clockwait,                                                                  \
      (pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *), NULL)         \
    X(pthread_cond_signal, (pthread_cond_t *), "GLIBC_2.3.2")                                  \
    X(pthread_cond_broadcast, (pthread_cond_t *), "GLIBC_2.3.2")

#endif /* PERFSHIM_HOOKS_LOCK_H */
