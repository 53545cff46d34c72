/* crash.c -- see crash.h. */
#include <config.h>

#include "crash.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "locktab.h"
#include "perfshim/trace_format.h"
#include "prim.h"
#include "tstate.h"
#include "writer.h"

#define PS_CRASH_SIGNALS(X) X(SIGSEGV) X(SIGBUS) X(SIGABRT) X(SIGFPE) X(SIGILL)

static int crash_entered;
static crash_enter_fn crash_enter;

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
    sigaction(sig, &dfl, NULL);
    errno = saved_errno;
    /* Pending until this handler returns (the signal is blocked meanwhile); a fault that is
     * re-executed raises it again anyway. */
    syscall(SYS_tgkill, getpid(), prim_gettid(), sig);
}

void crash_install(crash_enter_fn enter)
{
    crash_enter = enter;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
#define PS_X(sig)                                                                              \
    if (sigaction(sig, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&                     \
        old.sa_handler == SIG_DFL)                                                             \
        sigaction(sig, &sa, NULL);
    PS_CRASH_SIGNALS(PS_X)
#undef PS_X
}
