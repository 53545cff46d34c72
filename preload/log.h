/*
 * log.h -- leveled diagnostics of the shim, on stderr, one write(2) per line.
 *
 * Contract: never allocates, callable from any hook and from a signal handler (log_raw).
 * Lines read "perfshim: [pid:tid] message". Level 1 = warnings (default), 2 info, 3 debug;
 * PERFSHIM_LOG sets the runtime level, PS_LOG_MAX compiles out anything above it.
 * PS_WARN_ONCE prints its message the first time only (per call site).
 */
#ifndef PERFSHIM_LOG_H
#define PERFSHIM_LOG_H

#include "perfshim/compiler.h"

#ifndef PS_LOG_MAX
#define PS_LOG_MAX 3
#endif

extern int log_level;

void log_write(int level, const char *fmt, ...) PS_PRINTF(2, 3);

#define PS_LOG(level, ...)                                                                     \
    do {                                                                                       \
        if ((level) <= PS_LOG_MAX && (level) <= log_level)                                     \
            log_write(level, __VA_ARGS__);                                                     \
    } while (0)
#define PS_WARN(...) PS_LOG(1, __VA_ARGS__)
#define PS_WARN_ONCE(...)                                                                      \
    do {                                                                                       \
        static int once_;                                                                      \
        if (!__atomic_exchange_n(&once_, 1, __ATOMIC_RELAXED))                                 \
            PS_LOG(1, __VA_ARGS__);                                                            \
    } while (0)

#endif /* PERFSHIM_LOG_H */
