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
#include <spawn.h>
#include <stdarg.h>
#include <unistd.h>

#include "envclean.h"
#include "hooks_exec.h"
#include "shim.h"

#define PS_EXECL_MAX 4096

extern char **environ;

/* The real function: found on first use (dlvsym when ver is set), NULL if libc has none. */
static void *resolve(void **slot, const char *name, const char *ver)
{
    void *real = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (real)
        return real;
    int g = shim_tls.guard;
    shim_tls.guard = 1;
    real = ver ? dlvsym(RTLD_NEXT, name, ver) : dlsym(RTLD_NEXT, name);
    shim_tls.guard = g;
    __atomic_store_n(slot, real, __ATOMIC_RELEASE);
    return real;
}

/* X(name, params, call, fwd) -- the forms that take an environment: `call` passes `env`
 * (envp cleaned by envclean), `fwd` the hook's own arguments. exec_<name> is the hook's body,
 * also used by the forms that take none (execv, execvp, execl*), which pass environ as glibc
 * does. */
#define PS_EXEC_HOOKS(X)                                                                       \
    X(execve, (const char *path, char *const argv[], char *const envp[]), (path, argv, env),   \
      (path, argv, envp))                                                                      \
    X(execvpe, (const char *file, char *const argv[], char *const envp[]), (file, argv, env),  \
      (file, argv, envp))                                                                      \
    X(fexecve, (int fd, char *const argv[], char *const envp[]), (fd, argv, env),              \
      (fd, argv, envp))                                                                        \
    X(execveat, (int dirfd, const char *path, char *const argv[], char *const envp[], int flags), \
      (dirfd, path, argv, env, flags), (dirfd, path, argv, envp, flags))

#define PS_X(name, params, call, fwd)                                                      \
    typedef int(*real_##name##_t) params;                                                      \
    static void *real_##name;                                                                  \
    static int exec_##name params                                                              \
    {                                                                                          \
        int e = errno; /* what the real call starts from, whatever the shim does first */     \
        real_##name##_t real = (real_##name##_t)resolve(&real_##name, #name, NULL);            \
        if (!real) {                                                                           \
            errno = ENOSYS;                                                                    \
            return -1;                                                                         \
        }                                                                                      \
        envclean_buf_t b;                                                                      \
        char *const *env = envclean_envp(envp, &b);                                            \
        shim_before_exec();                                                                    \
        errno = e;                                                                             \
        int rc = real call;                                                                    \
        e = errno;                                                                             \
        shim_after_exec_failed();                                                              \
        envclean_release(&b);                                                                  \
        errno = e;                                                                             \
        return rc;                                                                             \
    }                                                                                          \
    PS_EXPORT int name params                                                                  \
    {                                                                                          \
        return exec_##name fwd;                                                                \
    }
PS_EXEC_HOOKS(PS_X)
#undef PS_X

PS_EXPORT int execv(const char *path, char *const argv[])
{
    return exec_execve(path, argv, environ);
}

PS_EXPORT int execvp(const char *file, char *const argv[])
{
    return exec_execvpe(file, argv, environ);
}

/* posix_spawn and posix_spawnp (glibc's default version, GLIBC_2.15; callers of the 2.2.5
 * compat functions bind to glibc's directly): the child's environment is cleaned as for an
 * exec; the parent's trace goes on. system() and popen() spawn from inside glibc with
 * environ, which the constructor cleaned. */
#define PS_SPAWN_HOOKS(X) X(posix_spawn, path) X(posix_spawnp, file)
#define PS_X(name, pathname)                                                                   \
    typedef int (*real_##name##_t)(pid_t *, const char *, const posix_spawn_file_actions_t *,  \
                                   const posix_spawnattr_t *, char *const[], char *const[]);   \
    static void *real_##name;                                                                  \
    PS_EXPORT int name(pid_t *pid, const char *pathname, const posix_spawn_file_actions_t *fa, \
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])  \
    {                                                                                          \
        int e = errno;                                                                         \
        real_##name##_t real = (real_##name##_t)resolve(&real_##name, #name, "GLIBC_2.15");    \
        if (!real)                                                                             \
            return ENOSYS;                                                                     \
        envclean_buf_t b;                                                                      \
        char *const *env = envclean_envp(envp, &b);                                            \
        errno = e;                                                                             \
        int rc = real(pid, pathname, fa, attr, argv, env);                                     \
        e = errno;                                                                             \
        envclean_release(&b);                                                                  \
        errno = e;                                                                             \
        return rc;                                                                             \
    }
PS_SPAWN_HOOKS(PS_X)
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

/* The variadic family, X(name, first parameter, with_env, the vector call it makes): execl and
 * execlp pass the environment as it is at the call, execle the envp after the NULL. */
#define PS_EXECL_HOOKS(X)                                                                      \
    X(execl, path, 0, exec_execve)                                                             \
    X(execlp, file, 0, exec_execvpe)                                                           \
    X(execle, path, 1, exec_execve)
#define PS_X(name, first, with_env, call)                                                      \
    PS_EXPORT int name(const char *first, const char *arg0, ...)                               \
    {                                                                                          \
        char *argv[PS_EXECL_MAX + 1];                                                          \
        char *const *envp = environ;                                                           \
        va_list ap;                                                                            \
        va_start(ap, arg0);                                                                    \
        PS_EXECL_COLLECT(argv, arg0, ap, with_env, envp);                                      \
        return call(first, argv, envp);                                                        \
    }
PS_EXECL_HOOKS(PS_X)
#undef PS_X
