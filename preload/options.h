/*
 * options.h -- the shim's configuration, read once from PERFSHIM_* environment variables.
 *
 * Contract: options_load() is called once during initialization (before any other thread
 * of the shim exists) and never allocates; a value that does not parse or is out of range
 * gets a one-line warning on stderr and the default. The table below is the only list of
 * options: README and the man page document exactly these.
 */
#ifndef PERFSHIM_OPTIONS_H
#define PERFSHIM_OPTIONS_H

/*        field       environment variable    default  min      max */
#define PS_INT_OPTION_LIST(X)                                                                  \
    X(depth, "PERFSHIM_DEPTH", 64, 1, 256)                                                     \
    X(flush_ms, "PERFSHIM_FLUSH_MS", 100, 1, 60000)                                            \
    X(rss_ms, "PERFSHIM_RSS_MS", 10, 0, 60000)                                                 \
    X(buffer_kb, "PERFSHIM_BUFFER_KB", 64, 4, 4096)                                            \
    X(queue_mb, "PERFSHIM_QUEUE_MB", 16, 1, 1024)                                              \
    X(zstd_level, "PERFSHIM_ZSTD_LEVEL", 1, -5, 19)                                            \
    X(enable, "PERFSHIM_ENABLE", 1, 0, 1)                                                      \
    X(log, "PERFSHIM_LOG", 1, 0, 3)                                                            \
    X(free_stacks, "PERFSHIM_FREE_STACKS", 1, 0, 2)                                            \
    X(follow_exec, "PERFSHIM_FOLLOW_EXEC", 0, 0, 1)                                            \
    X(signals, "PERFSHIM_SIGNALS", 1, 0, 1)                                               \
    X(leak_check, "PERFSHIM_LEAK_CHECK", 1, 0, 1)                                              \
    X(snapshot_signal, "PERFSHIM_SNAPSHOT_SIGNAL", 0, 0, 64)

/* Signals no option may take: a handler that returns from a synchronous fault re-executes it
 * forever, SIGABRT must end the process, SIGKILL and SIGSTOP cannot be caught, and 32/33 are
 * glibc's own (SIGCANCEL, SIGSETXID). */
#define PS_REFUSED_SIGNALS(X)                                                                  \
    X(SIGSEGV) X(SIGBUS) X(SIGFPE) X(SIGILL) X(SIGABRT) X(SIGTRAP) X(SIGSYS) X(SIGKILL)        \
    X(SIGSTOP) X(32) X(33)

#define PS_OUTPUT_DEFAULT "perfshim.%e.%p.trace"
#define PS_OUTPUT_MAX 4096

typedef struct options_s {
#define PS_X(field, env, def, lo, hi) int field;
    PS_INT_OPTION_LIST(PS_X)
#undef PS_X
    char output[PS_OUTPUT_MAX]; /* PERFSHIM_OUTPUT template: %p pid, %e program, %% */
} options_t;

extern options_t options;

/* Fills `o` from the environment through `get` (getenv in the shim, a fake in tests).
 * Returns the number of variables that were invalid (each warned about). */
int options_load(options_t *o, const char *(*get)(const char *name));

/* 1 if `sig` is one of PS_REFUSED_SIGNALS. */
int options_signal_refused(int sig);

/* Expands the output template: %p -> pid, %e -> program name, %% -> %. Returns 0, or
 * -PS_E_INVAL for an empty result, an unknown %-sequence, or one that does not fit. */
int options_expand_output(const char *tmpl, int pid, const char *prog, char *out, unsigned cap);

#endif /* PERFSHIM_OPTIONS_H */
