/*
 * record_cmd.c -- `perfshim record` (see record_cmd.h for the contract).
 *
 * The command is a thin launcher: the shim does all the work, configured through the
 * environment exactly as if the user had set LD_PRELOAD by hand. It waits for the program
 * the way system(3) does (SIGINT/SIGQUIT ignored in the parent, so ^C reaches the program and
 * we still report its status and the trace path).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE /* pipe2(); config.h defines it in the autotools build */
#define _GNU_SOURCE 1
#endif

#include "record_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "perfshim/errors.h"

#ifndef PS_LIBDIR
#define PS_LIBDIR "/usr/local/lib"
#endif

#define RECORD_LIB_NAME "libperfshim.so"
#define RECORD_DEFAULT_OUTPUT "perfshim.%e.%p.trace"

static void record_usage(FILE *f)
{
    fputs("usage: perfshim record [-o PATH] [--check [CHECK OPTIONS] --] [--] PROGRAM [ARGS...]\n"
          "Run PROGRAM with libperfshim.so preloaded and write its trace.\n"
          "  --check [OPTS] --   then gate the trace like `perfshim check OPTS TRACE`; the\n"
          "                     exit status is the program's if it failed, else the check's\n"
          "  -o, --output=PATH  trace file (default " RECORD_DEFAULT_OUTPUT "); %p is the\n"
          "                     pid, %e the program name, %% a '%'; never overwritten\n"
          "  -h, --help         this text\n"
          "The PERFSHIM_* variables of the environment configure the shim (see perfshim(1)).\n",
          f);
}

/* ---- finding the shim ---------------------------------------------------------------- */

/* Canonicalizes a readable candidate into out (PATH_MAX bytes). Returns 0 or -PS_E_OPEN. */
static int record_try_lib(const char *cand, char *out)
{
    if (access(cand, R_OK) != 0)
        return -PS_E_OPEN;
    /* LD_PRELOAD resolves relative to the program's cwd, which the program may change
     * before it execs a child that inherits the variable: make it absolute. */
    if (!realpath(cand, out))
        return -PS_E_OPEN;
    return 0;
}

/* Tries DIR_OF_THIS_BINARY/rel. */
static int record_try_beside_exe(const char *rel, char *out)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -PS_E_OPEN;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -PS_E_OPEN;
    *slash = '\0';
    char cand[PATH_MAX];
    if ((size_t)snprintf(cand, sizeof(cand), "%s/%s", exe, rel) >= sizeof(cand))
        return -PS_E_OPEN;
    return record_try_lib(cand, out);
}

/* The search order is documented in perfshim(1): $PERFSHIM_LIB, the install layout relative
 * to this binary, the build tree, then the configured libdir. */
static int record_find_lib(char *out)
{
    const char *env = getenv("PERFSHIM_LIB");
    if (env && *env) {
        if (record_try_lib(env, out) == 0)
            return 0;
        fprintf(stderr, "perfshim: record: warning: PERFSHIM_LIB=%s: %s; searching elsewhere\n",
                env, strerror(errno));
    }
    if (record_try_beside_exe("../lib/" RECORD_LIB_NAME, out) == 0)
        return 0;
    if (record_try_beside_exe("../preload/.libs/" RECORD_LIB_NAME, out) == 0)
        return 0;
    if (record_try_lib(PS_LIBDIR "/" RECORD_LIB_NAME, out) == 0)
        return 0;
    return -PS_E_OPEN;
}

/* ---- environment --------------------------------------------------------------------- */

static int record_setup_env(const char *lib, const char *output)
{
    /* ld.so splits LD_PRELOAD at spaces and colons: such a path cannot be preloaded. */
    if (strpbrk(lib, " :")) {
        fprintf(stderr,
                "perfshim: record: %s: LD_PRELOAD cannot name a path with a space or colon "
                "(set PERFSHIM_LIB to a copy elsewhere)\n",
                lib);
        return -PS_E_INVAL;
    }
    const char *old = getenv("LD_PRELOAD");
    size_t n = strlen(lib) + (old ? strlen(old) : 0) + 2;
    char *pre = malloc(n);
    if (!pre)
        return -PS_E_NOMEM;
    if (old && *old)
        snprintf(pre, n, "%s:%s", lib, old);
    else
        snprintf(pre, n, "%s", lib);
    int rc = setenv("LD_PRELOAD", pre, 1) == 0 && setenv("PERFSHIM_OUTPUT", output, 1) == 0;
    free(pre);
    return rc ? 0 : -PS_E_NOMEM;
}

/* Expands the PERFSHIM_OUTPUT template: %e -> name always. With pid > 0 (the shim's view
 * after the run) also %p -> pid and %% -> '%'; with pid == 0 (before the run) %p and %% are
 * kept for the shim and a '%' in name is written %%. Any other '%' is kept as is.
 * Returns 0 or -PS_E_LIMIT if out is too small. */
static int record_expand(const char *tmpl, pid_t pid, const char *name, char *out, size_t cap)
{
    size_t n = 0;
    char num[24];
    for (const char *p = tmpl; *p; p++) {
        char lit[3] = {p[0], '\0', '\0'};
        const char *piece = lit;
        if (p[0] == '%' && p[1] == 'e') {
            p++;
            for (const char *q = name; *q; q++) {
                if (n + 3 > cap)
                    return -PS_E_LIMIT;
                out[n++] = *q;
                if (*q == '%' && pid == 0)
                    out[n++] = '%';
            }
            continue;
        }
        if (p[0] == '%' && p[1] == 'p' && pid > 0) {
            snprintf(num, sizeof(num), "%ld", (long)pid);
            piece = num;
            p++;
        } else if (p[0] == '%' && p[1] == '%' && pid > 0) {
            piece = "%";
            p++;
        } else if (p[0] == '%' && p[1]) {
            lit[1] = p[1];
            p++;
        }
        size_t len = strlen(piece);
        if (n + len + 1 > cap)
            return -PS_E_LIMIT;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return 0;
}

/* ---- running the program ------------------------------------------------------------- */

/* Exit codes of a shell that cannot run a command. */
static int record_exec_status(int err)
{
    return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

/* Forks and execs argv; returns the wait status in *wstatus, or sets *exec_err to the errno
 * of a failed exec (reported through a close-on-exec pipe, so the parent can tell "could not
 * run" from "ran and exited 127"). Returns 0, or -PS_E_* if fork itself failed. */
static int record_spawn(char **argv, pid_t *pid_out, int *wstatus, int *exec_err)
{
    struct sigaction ign, old_int, old_quit;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -PS_E_IO;

    fflush(stdout);
    fflush(stderr);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        close(fds[0]);
        close(fds[1]);
        errno = err;
        return -PS_E_IO;
    }
    if (pid == 0) {
        close(fds[0]);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        execvp(argv[0], argv);
        int err = errno;
        if (write(fds[1], &err, sizeof(err)) < 0) {
            /* nothing left to tell: the exit code still says it */
        }
        _exit(record_exec_status(err));
    }

    close(fds[1]);
    *exec_err = 0;
    ssize_t got;
    do {
        got = read(fds[0], exec_err, sizeof(*exec_err));
    } while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof(*exec_err))
        *exec_err = 0;
    close(fds[0]);

    pid_t w;
    do {
        w = waitpid(pid, wstatus, 0);
    } while (w < 0 && errno == EINTR);
    int err = errno;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    if (w < 0) {
        errno = err;
        return -PS_E_IO;
    }
    *pid_out = pid;
    return 0;
}

/* Says where the trace went, or warns that there is none. Never an error: the program's
 * status is what record returns. */
static void record_report(const char *tmpl, pid_t pid, const char *prog)
{
    const char *slash = strrchr(prog, '/');
    const char *name = slash ? slash + 1 : prog;
    char path[PATH_MAX];
    if (record_expand(tmpl, pid, name, path, sizeof(path)) < 0) {
        fprintf(stderr, "perfshim: record: output path too long: %s\n", tmpl);
        return;
    }
    struct stat st;
    if (stat(path, &st) == 0)
        fprintf(stderr, "perfshim: trace written to %s\n", path);
    else
        fprintf(stderr, "perfshim: record: no trace was written to %s\n", path);
}

/* `--check OPTS... --` anywhere before PROGRAM: takes the check options out of argv (argv is
 * rewritten in place) and returns their count in *n (-1: no --check). Returns the index of
 * the first check option, or -PS_E_INVAL when the closing `--` is missing, -PS_E_NOMEM. */
static int record_take_check(int *argc, char **argv, int *n)
{
    *n = -1;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--"))
            return 0; /* PROGRAM follows: no --check before it */
        if (strcmp(argv[i], "--check"))
            continue;
        int j = i + 1;
        while (j < *argc && strcmp(argv[j], "--"))
            j++;
        if (j == *argc)
            return -PS_E_INVAL;
        *n = j - i - 1;
        /* move the options to the end of argv, after two NULLs that end PROGRAM's argv */
        char **tmp = malloc(((size_t)*n + 1) * sizeof(char *));
        if (!tmp)
            return -PS_E_NOMEM;
        memcpy(tmp, argv + i + 1, (size_t)*n * sizeof(char *));
        memmove(argv + i, argv + j + 1, (size_t)(*argc - j - 1) * sizeof(char *));
        *argc -= *n + 2;
        argv[*argc] = argv[*argc + 1] = NULL;
        memcpy(argv + *argc + 2, tmp, (size_t)*n * sizeof(char *));
        free(tmp);
        return *argc + 2;
    }
    return 0;
}

int record_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        /* HOOK(--check): the later `--check` option goes here, with its case below. */
        {NULL, 0, NULL, 0},
    };
    const char *output = RECORD_DEFAULT_OUTPUT;
    int ncheck, check_at = record_take_check(&argc, argv, &ncheck);
    if (check_at < 0) {
        fprintf(stderr, "perfshim: record: %s\n", check_at == -PS_E_NOMEM
                                                       ? ps_strerror(check_at)
                                                       : "--check options must end with '--'");
        record_usage(stderr);
        return 2;
    }
    opterr = 0;
    optind = 1;
    int c;
    /* '+': stop at the first non-option, so PROGRAM's own options are passed through. */
    while ((c = getopt_long(argc, argv, "+ho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'h':
            record_usage(stdout);
            return 0;
        /* HOOK(--check): case for the `--check` option. */
        case ':':
        case '?':
        default:
            if (optopt && strchr("o", optopt))
                fprintf(stderr, "perfshim: record: option '-%c' needs an argument\n", optopt);
            else if (optopt)
                fprintf(stderr, "perfshim: record: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "perfshim: record: bad option '%s'\n", argv[optind - 1]);
            record_usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "perfshim: record: no program given\n");
        record_usage(stderr);
        return 2;
    }
    if (!*output) {
        fprintf(stderr, "perfshim: record: empty output path\n");
        return 2;
    }
    char **prog_argv = argv + optind;

    char lib[PATH_MAX];
    if (record_find_lib(lib) < 0) {
        fprintf(stderr, "perfshim: record: cannot find " RECORD_LIB_NAME
                        " (set PERFSHIM_LIB)\n");
        return 2;
    }
    /* %e is expanded here, from the name the user gave: the shim would see the interpreter
     * of a #! script instead. %p stays for the shim (the pid is the child's). */
    const char *slash = strrchr(prog_argv[0], '/');
    char tmpl[PATH_MAX];
    if (record_expand(output, 0, slash ? slash + 1 : prog_argv[0], tmpl, sizeof tmpl) < 0) {
        fprintf(stderr, "perfshim: record: output path too long: %s\n", output);
        return 2;
    }
    output = tmpl;
    int rc = record_setup_env(lib, output);
    if (rc < 0) {
        if (rc != -PS_E_INVAL)
            fprintf(stderr, "perfshim: record: %s\n", ps_strerror(rc));
        return 2;
    }

    pid_t pid = 0;
    int wstatus = 0, exec_err = 0;
    if (record_spawn(prog_argv, &pid, &wstatus, &exec_err) < 0) {
        fprintf(stderr, "perfshim: record: cannot run %s: %s\n", prog_argv[0], strerror(errno));
        return 2;
    }
    if (exec_err) {
        fprintf(stderr, "perfshim: record: cannot run %s: %s\n", prog_argv[0],
                strerror(exec_err));
        return record_exec_status(exec_err);
    }
    record_report(output, pid, prog_argv[0]);
    if (ncheck >= 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        const char *slash2 = strrchr(prog_argv[0], '/');
        char path[PATH_MAX];
        if (record_expand(output, pid, slash2 ? slash2 + 1 : prog_argv[0], path, sizeof path) < 0)
            return 2;
        char **cargv = calloc((size_t)ncheck + 3, sizeof(char *));
        if (!cargv)
            return 2;
        cargv[0] = "check";
        memcpy(cargv + 1, argv + check_at, (size_t)ncheck * sizeof(char *));
        cargv[ncheck + 1] = path;
        int crc = check_main(ncheck + 2, cargv);
        free(cargv);
        return crc;
    }
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return 1;
}
