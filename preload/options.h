/*
 * options.h -- the shim's configuration, read once from PERFSHIM_* environment variables.
 *
 * Contract: options_load() is called once during initialization (before any other thread
 * of the shim exists) and never allocates; a value that does not parse or is out of range
 * gets a one-line warning on stderr and the default. The only list of options is
 * PS_ENV_OPTIONS (include/perfshim/env_options.h): --help and the man page are made from it.
 */
#ifndef PERFSHIM_OPTIONS_H
#define PERFSHIM_OPTIONS_H

#include "perfshim/compiler.h"
#include "perfshim/env_options.h"

/* Signals no option may take: a handler that returns from a synchronous fault re-executes it
 * forever, SIGABRT must end the process, SIGKILL and SIGSTOP cannot be caught, and 32/33 are
 * glibc's own (SIGCANCEL, SIGSETXID). */
#define PS_REFUSED_SIGNALS(X)                                                                  \
    X(SIGSEGV) X(SIGBUS) X(SIGFPE) X(SIGILL) X(SIGABRT) X(SIGTRAP) X(SIGSYS) X(SIGKILL)        \
    X(SIGSTOP) X(32) X(33)

#define PS_OUTPUT_MAX 4096

typedef struct options_s {
#define PS_X(field, env, def, lo, hi, help) int field;
    PS_ENV_OPTIONS(PS_X, PS_ENV_NONE)
#undef PS_X
    int unwind; /* PERFSHIM_UNWIND: 0 auto, 1 libunwind (unwind.h PS_UNWIND_*) */
    char output[PS_OUTPUT_MAX]; /* PERFSHIM_OUTPUT template: %p pid, %e program, %% */
} options_t;

extern PS_HIDDEN options_t options;

/* Fills `o` from the environment through `get` (getenv in the shim, a fake in tests).
 * Returns the number of variables that were invalid (each warned about). */
int options_load(options_t *o, const char *(*get)(const char *name));

/* 1 if `sig` is one of PS_REFUSED_SIGNALS. */
int options_signal_refused(int sig);

/* Expands the output template: %p -> pid, %e -> program name, %% -> %. Returns 0, or
 * -PS_E_INVAL for an empty result, an unknown %-sequence, or one that does not fit. */
int options_expand_output(const char *tmpl, int pid, const char *prog, char *out, unsigned cap);

#endif /* PERFSHIM_OPTIONS_H */
