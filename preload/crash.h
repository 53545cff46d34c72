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

void crash_install(void);

#endif /* PERFSHIM_CRASH_H */
