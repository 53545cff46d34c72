/* crash.c -- see crash.h. */
#include <config.h>

#include "crash.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bootstrap.h"
#include "ilock.h"
#include "locktab.h"
#include "perfshim/trace_format.h"
#include "prim.h"
#include "tstate.h"
#include "writer.h"

#define PS_CRASH_SIGNALS(X) X(SIGSEGV) X(SIGBUS) X(SIGABRT) X(SIGFPE) X(SIGILL)

static int crash_entered;
static crash_enter_fn crash_enter;

/* The app's view of the crash signals (crash.h): bit s of crash_ours, the shim installed its
 * handler for s at start; of crash_held, the handler in place is the shim's, and the app sees
 * crash_view[s]. Written under crash_lk with every signal blocked. */
static uint32_t crash_ours, crash_held;
static struct sigaction crash_view[32];
static struct sigaction crash_sa; /* the shim's handler, as installed */
static ilock_t crash_lk;

static void crash_handler(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    int saved_errno = errno;
    tstate_t *st = NULL;
    /* One thread flushes; a second fatal signal (in the flush itself, or another thread)
     * goes straight to the default action. crash_enter sets the guard: a hook the flush
     * might reach passes through. */
    if (!__atomic_exchange_n(&crash_entered, 1, __ATOMIC_ACQ_REL) && crash_enter(&st)) {
        ps_rec_crash_t r = {.h = {PS_REC_CRASH, 0, sizeof r},
                            .signo = (uint32_t)sig,
                            .ts = prim_now_ns(),
                            .addr = si ? (uint64_t)(uintptr_t)si->si_addr : 0,
                            .tid = (uint32_t)prim_gettid(),
                            .code = si ? si->si_code : 0};
        /* In the thread's own stream when it fits without a refill (which could block). */
        if (st && st->pos + sizeof r <= st->cap) {
            memcpy(st->buf + st->pos, &r, sizeof r);
            tstate_commit(st, sizeof r);
            writer_crash_flush(NULL, 0, locktab_crash_records);
        } else {
            writer_crash_flush(&r, sizeof r, locktab_crash_records);
        }
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    real_sigaction(sig, &dfl, NULL);
    errno = saved_errno;
    /* Pending until this handler returns (the signal is blocked meanwhile); a fault that is
     * re-executed raises it again anyway. */
    syscall(SYS_tgkill, getpid(), prim_gettid(), sig);
}

void crash_install(crash_enter_fn enter)
{
    crash_enter = enter;
    if (!real_sigaction)
        return;
    struct sigaction old;
    memset(&crash_sa, 0, sizeof crash_sa);
    crash_sa.sa_sigaction = crash_handler;
    crash_sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&crash_sa.sa_mask);
#define PS_X(sig)                                                                              \
    if (real_sigaction(sig, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&                \
        old.sa_handler == SIG_DFL && real_sigaction(sig, &crash_sa, NULL) == 0) {              \
        crash_view[sig] = old;                                                                 \
        crash_ours |= 1u << sig;                                                               \
        crash_held |= 1u << sig;                                                               \
    }
    PS_CRASH_SIGNALS(PS_X)
#undef PS_X
}

int crash_call_begin(int sig, crash_call_t *c)
{
    if (sig <= 0 || sig >= 32 || !(__atomic_load_n(&crash_ours, __ATOMIC_RELAXED) & (1u << sig)))
        return 0;
    const int e = errno;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &c->mask);
    ilock_lock(&crash_lk);
    c->sig = sig;
    c->held = (crash_held >> sig) & 1;
    if (c->held)
        c->view = crash_view[sig];
    errno = e; /* the real call starts from the app's errno */
    return 1;
}

void crash_call_end(crash_call_t *c)
{
    const int sig = c->sig, e = errno;
    struct sigaction now;
    if (real_sigaction(sig, NULL, &now) == 0) {
        if ((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == crash_handler) {
            /* still the shim's (a query, or a call that failed): nothing changed */
        } else if (now.sa_handler == SIG_DFL && real_sigaction(sig, &crash_sa, NULL) == 0) {
            crash_view[sig] = now; /* the default again: the shim's handler under that view */
            crash_held |= 1u << sig;
        } else {
            crash_held &= ~(1u << sig); /* the app's own handler (or SIG_IGN) */
        }
    }
    ilock_unlock(&crash_lk);
    pthread_sigmask(SIG_SETMASK, &c->mask, NULL);
    errno = e;
}

sighandler_t crash_call_sigset(crash_call_t *c, sighandler_t disp)
{
    const int sig = c->sig;
    struct sigaction o;
    const int was = sigismember(&c->mask, sig) == 1;
    if (disp == SIG_HOLD) {
        sigaddset(&c->mask, sig); /* crash_call_end sets the mask: blocked from then on */
        if (was)
            return SIG_HOLD;
        if (real_sigaction(sig, NULL, &o) != 0)
            return SIG_ERR;
        return crash_call_prev(c, o.sa_handler);
    }
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = disp;
    sigemptyset(&act.sa_mask);
    if (real_sigaction(sig, &act, &o) != 0)
        return SIG_ERR;
    sigdelset(&c->mask, sig);
    return was ? SIG_HOLD : crash_call_prev(c, o.sa_handler);
}

void crash_after_fork_child(void)
{
    ilock_reset(&crash_lk);
}

sighandler_t crash_call_prev(const crash_call_t *c, sighandler_t prev)
{
    return c->held && prev == (sighandler_t)(void (*)(void))crash_handler ? c->view.sa_handler
                                                                          : prev;
}

void crash_call_old(const crash_call_t *c, struct sigaction *old)
{
    if (!old || !c->held || !(old->sa_flags & SA_SIGINFO) || old->sa_sigaction != crash_handler)
        return;
    old->sa_handler = c->view.sa_handler; /* the union: sa_sigaction too */
    old->sa_mask = c->view.sa_mask;
    old->sa_flags = c->view.sa_flags;
    old->sa_restorer = c->view.sa_restorer;
}
