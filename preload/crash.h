/*
 * crash.h -- the shim's handler for fatal signals (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL).
 *
 * Contract: crash_install() runs once from the library constructor (PERFSHIM_SIGNALS=1, the
 * default) and installs the handler only for signals whose disposition is still SIG_DFL: an
 * application's own handler is never replaced, and one the application installs later replaces
 * ours (its process then dies, or not, as it decides). On a fatal signal the handler, async-
 * signal-safely (no malloc, no blocking lock: a lock already taken is skipped), writes a CRASH
 * record (trace_format.h) into the faulting thread's stream, flushes every queued buffer and
 * every thread's committed records (writer_crash_flush), restores SIG_DFL and re-raises, so the
 * process dies of the same signal, with the same status and core dump, as it would natively.
 *
 * The app's view (crash_call_begin/end, for hooks_sig.c). The shim's handler is invisible:
 * while it is in place, every interposed sigaction/signal-family call on that signal answers
 * with what the app would see natively (the disposition as it was before the shim installed
 * its handler, or as the app last set it to SIG_DFL, read back from the kernel: flags, mask
 * and restorer included), and a handler the app installs replaces the shim's. When the app sets
 * the signal back to SIG_DFL (a library restoring what it found), the shim's handler goes back
 * in place under that view, so a later crash still writes its record. A call on a crash signal
 * runs with every signal blocked, under one internal lock, so it is atomic as natively and no
 * handler can run inside it (one that calls sigaction, or longjmps out, would otherwise wait
 * for its own thread or leave the lock taken); the thread's mask is restored after it, with
 * sigset's change to it. Other signals pass straight through.
 */
#ifndef PERFSHIM_CRASH_H
#define PERFSHIM_CRASH_H

#include <signal.h>

struct tstate_s;

/* The shim's side of a fatal signal, given by the wiring module (shim.c, which owns the
 * shim's state and the threads' hook guards): 1 when this process records a trace it owns,
 * the calling thread's guard then set (a hook the flush reaches passes through) and *st its
 * state (NULL: none); 0 when nothing is to be written. Called in signal context. */
typedef int (*crash_enter_fn)(struct tstate_s **st);

void crash_install(crash_enter_fn enter);

/* One interposed call on a signal (hooks_sig.c): crash_call_begin returns 0 when sig is not a
 * signal the shim installed its handler for (call the real function, nothing else); else 1,
 * with every signal blocked and the lock held, and the hook calls the real function, fixes up
 * what it returns with crash_call_prev / crash_call_old, then calls crash_call_end (which
 * puts the shim's handler back if the signal is now SIG_DFL) before returning. */
typedef struct crash_call_s {
    int sig;
    int held;              /* the shim's handler was in place: view is what the app sees */
    struct sigaction view; /* (held) the app's view of the disposition */
    sigset_t mask;         /* the thread's mask before the call, set again by crash_call_end */
} crash_call_t;

int crash_call_begin(int sig, crash_call_t *c);
/* sigset(sig, disp) between begin and end, as glibc's: SIG_HOLD adds sig to the mask the call
 * ends with and returns the disposition (SIG_HOLD if it was blocked); any other disposition is
 * installed (no flags, an empty mask), sig leaves the mask, and the previous one comes back
 * (SIG_HOLD if it was blocked). Through the mask crash_call_end restores: the real sigset
 * would read and change the all-blocked mask of the call instead. */
sighandler_t crash_call_sigset(crash_call_t *c, sighandler_t disp);
/* A fork child: another thread of the parent may have held the lock (fork_child_start). */
void crash_after_fork_child(void);
void crash_call_end(crash_call_t *c);
/* A previous disposition a signal-family call returned: the view's handler in place of the
 * shim's. */
sighandler_t crash_call_prev(const crash_call_t *c, sighandler_t prev);
/* The same for the struct sigaction a sigaction call filled (old may be NULL): the view's
 * handler, mask, flags and restorer (the fields glibc fills; its padding untouched). */
void crash_call_old(const crash_call_t *c, struct sigaction *old);

#endif /* PERFSHIM_CRASH_H */
