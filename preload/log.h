/*
 * log.h -- leveled diagnostics of the shim, on stderr, one write(2) per line.
 *
 * Contract: never allocates, callable from any hook and from a signal handler (log_raw).
 * Lines read "perfshim: [pid:tid] message". Level 1 = warnings (default), 2 info, 3 debug;
 * PERFSHIM_LOG sets the runtime level, PS_LOG_MAX compiles out anything above it.
 * PS_WARN_ONCE prints its message the first time only (per call site).
 * PS_ASSERT(cond) (issue 18's ps_assert) states a contract: compiled in only with
 * ./configure --enable-debug (config.h's PS_DEBUG >= 1), where a false cond writes
 * "perfshim: [pid:tid] assertion failed: cond (file:line)" and aborts; otherwise nothing, and
 * cond is not evaluated (so a release build's hot path is unchanged). PS_ASSERT_FULL: the
 * expensive ones, with --enable-debug=full only. Signal safe, no allocation.
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

__attribute__((noreturn)) PS_COLD void p_log_assert_fail(const char *what, const char *file,
                                                        int line);

#if defined(PS_DEBUG) && PS_DEBUG >= 1
#define PS_ASSERT(cond)                                                                        \
    do {                                                                                       \
        if (PS_UNLIKELY(!(cond)))                                                              \
            p_log_assert_fail(#cond, __FILE__, __LINE__);                                      \
    } while (0)
#else
#define PS_ASSERT(cond) ((void)0)
#endif
#if defined(PS_DEBUG) && PS_DEBUG >= 2
#define PS_ASSERT_FULL(cond) PS_ASSERT(cond)
#else
#define PS_ASSERT_FULL(cond) ((void)0)
#endif

#endif /* PERFSHIM_LOG_H */
