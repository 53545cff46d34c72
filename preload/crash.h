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
 */
#ifndef PERFSHIM_CRASH_H
#define PERFSHIM_CRASH_H

struct tstate_s;

/* The shim's side of a fatal signal, given by the wiring module (shim.c, which owns the
 * shim's state and the threads' hook guards): 1 when this process records a trace it owns,
 * the calling thread's guard then set (a hook the flush reaches passes through) and *st its
 * state (NULL: none); 0 when nothing is to be written. Called in signal context. */
typedef int (*crash_enter_fn)(struct tstate_s **st);

void crash_install(crash_enter_fn enter);

#endif /* PERFSHIM_CRASH_H */
