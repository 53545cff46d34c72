/* hooks_sig.c -- see hooks_sig.h. */
#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>

#include "bootstrap.h"
#include "crash.h"
#include "hooks_sig.h"
#include "shim.h"

/* The real function: found on first use, NULL if libc has none. */
static void *resolve(void **slot, const char *name)
{
    void *real = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (real)
        return real;
    int g = shim_tls.guard;
    shim_tls.guard = 1; /* dlsym's own allocations are the loader's, not the app's */
    real = dlsym(RTLD_NEXT, name);
    shim_tls.guard = g;
    __atomic_store_n(slot, real, __ATOMIC_RELEASE);
    return real;
}

PS_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    static void *slot;
    real_sigaction_t real = real_sigaction ? real_sigaction
                                           : (real_sigaction_t)resolve(&slot, "sigaction");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    crash_call_t c;
    if (!crash_call_begin(sig, &c))
        return real(sig, act, old);
    int r = real(sig, act, old);
    if (r == 0)
        crash_call_old(&c, old);
    crash_call_end(&c);
    return r;
}

sighandler_t bsd_signal(int sig, sighandler_t h); /* glibc declares it only without _GNU_SOURCE */

/* The signal family: (sig, handler) -> the previous handler (glibc's bsd_signal, ssignal and
 * signal are one function, sysv_signal and __sysv_signal another). X(name, on_ours): on_ours
 * the call on a crash signal, between crash_call_begin and crash_call_end. sigset reads and
 * changes the thread's signal mask, which the call holds all blocked: there it is crash.c's
 * (crash_call_sigset). */
#define PS_SIGNAL_HOOKS(X)                                                                     \
    X(signal, crash_call_prev(&c, real(sig, h)))                                               \
    X(bsd_signal, crash_call_prev(&c, real(sig, h)))                                           \
    X(ssignal, crash_call_prev(&c, real(sig, h)))                                              \
    X(sysv_signal, crash_call_prev(&c, real(sig, h)))                                          \
    X(__sysv_signal, crash_call_prev(&c, real(sig, h)))                                        \
    X(sigset, crash_call_sigset(&c, h))

#define PS_X(name, on_ours)                                                                    \
    PS_EXPORT sighandler_t name(int sig, sighandler_t h)                                       \
    {                                                                                          \
        static void *slot;                                                                     \
        sighandler_t (*real)(int, sighandler_t) =                                              \
            (sighandler_t(*)(int, sighandler_t))resolve(&slot, #name);                         \
        if (!real) {                                                                           \
            errno = ENOSYS;                                                                    \
            return SIG_ERR;                                                                    \
        }                                                                                      \
        crash_call_t c;                                                                        \
        if (!crash_call_begin(sig, &c))                                                        \
            return real(sig, h);                                                               \
        sighandler_t r = on_ours;                                                              \
        crash_call_end(&c);                                                                    \
        return r;                                                                              \
    }
PS_SIGNAL_HOOKS(PS_X)
#undef PS_X
