/*
 * compiler.h -- the compiler attributes every perfshim module uses, in one place.
 *
 * Contract: macros only, no code; safe to include anywhere (shim hot path, analyzer, tests).
 */
#ifndef PERFSHIM_COMPILER_H
#define PERFSHIM_COMPILER_H

#define PS_LIKELY(x) __builtin_expect(!!(x), 1)
#define PS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PS_ALWAYS_INLINE inline __attribute__((always_inline))
#define PS_NOINLINE __attribute__((noinline))
#define PS_COLD __attribute__((cold))
#define PS_TLS __thread __attribute__((tls_model("initial-exec")))
#define PS_EXPORT __attribute__((visibility("default")))
#define PS_HIDDEN __attribute__((visibility("hidden")))
#define PS_UNUSED __attribute__((unused))
#define PS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define PS_CACHELINE 64
#define PS_ALIGNED_CL __attribute__((aligned(PS_CACHELINE)))
/* x is kept in a register here (an empty asm): stops the compiler from merging loads of
 * neighbouring fields into one wide load that a pair of narrower stores cannot forward. */
#define PS_IN_REG(x) __asm__("" : "+r"(x))
#define PS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* PERFSHIM_COMPILER_H */
