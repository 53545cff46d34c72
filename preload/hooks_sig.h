/*
 * hooks_sig.h -- the calls that read or set a signal's disposition, interposed so that the
 * shim's handler for fatal signals (crash.h) is invisible to the app: sigaction, signal,
 * bsd_signal, ssignal, sysv_signal, __sysv_signal, sigset.
 *
 * Contract: on a signal the shim did not install its handler for, each calls the real function
 * and nothing else. On one it did, it calls the real function between crash_call_begin and
 * crash_call_end (every signal blocked, crash.c's lock held; sigset is crash.c's own there) and returns what the app would
 * get natively: the previous disposition as the app last saw it, never the shim's handler.
 * Return values and errno are the real function's. A program that checks at start whether a
 * fatal signal already has a handler (gdb: "Found custom handler for signal 11 preinstalled")
 * finds none, as without the shim.
 */
#ifndef PERFSHIM_HOOKS_SIG_H
#define PERFSHIM_HOOKS_SIG_H

#endif /* PERFSHIM_HOOKS_SIG_H */
