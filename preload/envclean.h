/*
 * envclean.h -- PERFSHIM_FOLLOW_EXEC=0: the programs this one executes are not traced.
 *
 * The shim takes itself out of LD_PRELOAD in two places, because an app may keep the
 * environment its own way (bash exports its own setenv/unsetenv, which change only bash's
 * variable table, and builds the envp of every exec from that table):
 *   - envclean_scrub_environ(), from the constructor: the LD_PRELOAD entry of `environ` is
 *     rewritten in place (the shim's entry removed, other preloads kept; the entry removed
 *     when nothing is left), without setenv/unsetenv. An app that reads its environment after
 *     that (bash builds its table in main) never sees the shim; system() and popen(), which
 *     spawn with `environ` from inside glibc, inherit the clean one.
 *   - envclean_envp(), from every exec and spawn hook: an envp whose LD_PRELOAD is exactly
 *     the one this process was started with (an environment copied before the constructor
 *     ran) gets a copy with the shim's entry removed. An LD_PRELOAD the app built itself is
 *     passed as it is: the app asked for it.
 * A "shim entry" is an LD_PRELOAD element (separated by ':' or ' ') containing "libperfshim".
 *
 * Contract: base layer (calls only prim/imem). envclean_scrub_environ() runs once, before any
 * other thread of the app exists. envclean_envp() is callable from any thread and from a
 * vfork child; it allocates nothing from the app's heap (stack, or imem for a large
 * environment) and never fails: without memory it returns envp unchanged (warned once).
 * Pair every envclean_envp() with envclean_release() once the exec has returned.
 */
#ifndef PERFSHIM_ENVCLEAN_H
#define PERFSHIM_ENVCLEAN_H

#include <stddef.h>
#include <stdint.h>

#define ENVCLEAN_STACK_PTRS 128
#define ENVCLEAN_STACK_CHARS 1024

typedef struct envclean_buf_s {
    char *ptrs[ENVCLEAN_STACK_PTRS];
    char chars[ENVCLEAN_STACK_CHARS];
    void *heap; /* imem block when the stack space does not suffice */
} envclean_buf_t;

/* Constructor: removes the shim from environ's LD_PRELOAD in place and remembers the
 * original value; from then on envclean_envp() is active. */
void envclean_scrub_environ(void);

/* envp itself, or a copy in b with the shim out of an inherited LD_PRELOAD. */
char *const *envclean_envp(char *const *envp, envclean_buf_t *b);
void envclean_release(envclean_buf_t *b);

/* Writes `value` without its shim entries to out (cap bytes, NUL-terminated); returns the
 * length (cap or more: did not fit). Pure; for tests too. */
size_t envclean_value(const char *value, char *out, size_t cap);

#endif /* PERFSHIM_ENVCLEAN_H */
