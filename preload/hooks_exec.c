/*
 * hooks_exec.c -- see hooks_exec.h.
 *
 * The variadic execl* forms collect their arguments into an argv on the stack (bounded: a
 * call with more than PS_EXECL_MAX arguments fails with E2BIG, as the kernel would for a far
 * smaller total) and go through the matching vector form.
 */
#include <config.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include "hooks_exec.h"
#include "shim.h"

#define PS_EXECL_MAX 4096

/* X(name, params, args) -- the vector forms */
#define PS_EXEC_HOOKS(X)                                                                       \
    X(execve, (const char *path, char *const argv[], char *const envp[]), (path, argv, envp)) \
    X(execv, (const char *path, char *const argv[]), (path, argv))                             \
    X(execvp, (const char *file, char *const argv[]), (file, argv))                            \
    X(execvpe, (const char *file, char *const argv[], char *const envp[]), (file, argv, envp))

#define PS_X(name, params, args)                                                               \
    typedef int (*real_##name##_t) params;                                                    \
    static real_##name##_t real_##name;                                                        \
    PS_EXPORT int name params                                                                  \
    {                                                                                          \
        real_##name##_t real = __atomic_load_n(&real_##name, __ATOMIC_ACQUIRE);                \
        if (!real) {                                                                           \
            int g = shim_tls.guard;                                                            \
            shim_tls.guard = 1;                                                                \
            real = (real_##name##_t)dlsym(RTLD_NEXT, #name);                                   \
            shim_tls.guard = g;                                                                \
            __atomic_store_n(&real_##name, real, __ATOMIC_RELEASE);                            \
            if (!real) {                                                                       \
                errno = ENOSYS;                                                                \
                return -1;                                                                     \
            }                                                                                  \
        }                                                                                      \
        shim_before_exec();                                                                    \
        int rc = real args;                                                                    \
        int e = errno;                                                                         \
        shim_after_exec_failed();                                                              \
        errno = e;                                                                             \
        return rc;                                                                             \
    }
PS_EXEC_HOOKS(PS_X)
#undef PS_X

/* Collects arg0, the variadic arguments up to NULL and (with_env) the envp after it. */
#define PS_EXECL_COLLECT(argv, arg0, ap, with_env, envp)                                       \
    do {                                                                                       \
        size_t n_ = 0;                                                                         \
        argv[n_++] = (char *)(arg0);                                                           \
        while (n_ < PS_EXECL_MAX && (argv[n_] = va_arg(ap, char *)) != NULL)                   \
            n_++;                                                                              \
        if (n_ == PS_EXECL_MAX) {                                                              \
            va_end(ap);                                                                        \
            errno = E2BIG;                                                                     \
            return -1;                                                                         \
        }                                                                                      \
        if (with_env)                                                                          \
            envp = va_arg(ap, char *const *);                                                  \
        va_end(ap);                                                                            \
    } while (0)

PS_EXPORT int execl(const char *path, const char *arg0, ...)
{
    char *argv[PS_EXECL_MAX + 1];
    char *const *envp = NULL;
    va_list ap;
    va_start(ap, arg0);
    PS_EXECL_COLLECT(argv, arg0, ap, 0, envp);
    (void)envp;
    return execv(path, argv);
}

PS_EXPORT int execlp(const char *file, const char *arg0, ...)
{
    char *argv[PS_EXECL_MAX + 1];
    char *const *envp = NULL;
    va_list ap;
    va_start(ap, arg0);
    PS_EXECL_COLLECT(argv, arg0, ap, 0, envp);
    (void)envp;
    return execvp(file, argv);
}

PS_EXPORT int execle(const char *path, const char *arg0, ...)
{
    char *argv[PS_EXECL_MAX + 1];
    char *const *envp = NULL;
    va_list ap;
    va_start(ap, arg0);
    PS_EXECL_COLLECT(argv, arg0, ap, 1, envp);
    return execve(path, argv, envp);
}
