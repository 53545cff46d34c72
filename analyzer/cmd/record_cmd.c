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

#include "cmd/record_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/check.h"
#include "cmd/report.h"
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

/* ---- checks before the run ----------------------------------------------------------- */

/* The template with %p, %e and %% replaced by stand-ins, to test where it points. Returns 0 or
 * -PS_E_LIMIT. */
static int record_sample_path(const char *tmpl, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = tmpl; *p; p++) {
        const char *piece = p;
        size_t len = 1;
        if (p[0] == '%' && (p[1] == 'p' || p[1] == 'e')) {
            piece = p[1] == 'p' ? "1" : "x";
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            p++;
        }
        if (n + len + 1 > cap)
            return -PS_E_LIMIT;
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return 0;
}

/* Refuses an output template whose traces could not be created (the shim would warn and run
 * the program untraced): a directory, or a directory part that is missing or not writable.
 * Prints one line and returns -1, or 0. */
static int record_check_output(const char *tmpl)
{
    char path[PATH_MAX];
    struct stat st;
    if (record_sample_path(tmpl, path, sizeof path) < 0) {
        fprintf(stderr, "perfshim: record: output path too long: %s\n", tmpl);
        return -1;
    }
    size_t len = strlen(path);
    if (path[len - 1] == '/' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        fprintf(stderr, "perfshim: record: -o %s: is a directory (give a file name, e.g. %s%s"
                        "perfshim.%%e.%%p.trace)\n",
                tmpl, tmpl, path[len - 1] == '/' ? "" : "/");
        return -1;
    }
    char *slash = strrchr(path, '/');
    const char *dir = ".";
    if (slash == path)
        dir = "/";
    else if (slash) {
        *slash = '\0';
        dir = path;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
        int err = errno;
        if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
            err = ENOTDIR;
        fprintf(stderr, "perfshim: record: -o %s: cannot create a trace in %s: %s\n", tmpl, dir,
                strerror(err));
        return -1;
    }
    return 0;
}

/* Finds PROGRAM the way execvp will (a name without '/' is looked up in $PATH). Returns 0 and
 * the path in out, or -1 (execvp will then say why). */
static int record_which(const char *prog, char *out, size_t cap)
{
    if (strchr(prog, '/')) {
        snprintf(out, cap, "%s", prog);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    for (const char *p = path;; p++) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if ((size_t)snprintf(out, cap, "%.*s%s%s", (int)n, p, n ? "/" : "", prog) < cap) {
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                return 0;
        }
        if (!e)
            return -1;
        p = e;
    }
}

/* Why LD_PRELOAD cannot reach PROGRAM, or NULL when it can (or we cannot tell). An ELF
 * executable without PT_INTERP (static, static-pie) is never seen by ld.so; a #! script is
 * judged by its interpreter (one level). */
static const char *record_unpreloadable(const char *prog, int depth)
{
    char path[PATH_MAX];
    if (record_which(prog, path, sizeof path) < 0)
        return NULL;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return NULL;
    unsigned char buf[4096];
    ssize_t n = pread(f, buf, sizeof buf - 1, 0);
    const char *why = NULL;
    if (n >= 4 && buf[0] == '#' && buf[1] == '!' && depth == 0) {
        buf[n] = '\0';
        char *p = (char *)buf + 2;
        while (*p == ' ' || *p == '\t')
            p++;
        p[strcspn(p, " \t\n")] = '\0';
        close(f);
        return *p ? record_unpreloadable(p, 1) : NULL;
    }
    if (n >= 64 && !memcmp(buf, "\177ELF", 4) && buf[4] == 1 /* ELFCLASS32 */ &&
        sizeof(void *) == 8)
        why = "a 32-bit program: ld.so ignores a 64-bit libperfshim.so in LD_PRELOAD";
    else if (n >= 64 && !memcmp(buf, "\177ELF", 4) && buf[4] == 2 /* ELFCLASS64 */ &&
        buf[5] == 1 /* little endian, the only ABI the shim is built for */) {
        uint16_t type, phentsize, phnum;
        uint64_t phoff;
        memcpy(&type, buf + 16, 2);
        memcpy(&phoff, buf + 32, 8);
        memcpy(&phentsize, buf + 54, 2);
        memcpy(&phnum, buf + 56, 2);
        int interp = 0, ok = (type == 2 /* ET_EXEC */ || type == 3 /* ET_DYN */) &&
                             phentsize >= 4 && phnum > 0;
        for (uint16_t i = 0; ok && i < phnum; i++) {
            uint32_t pt;
            if (pread(f, &pt, 4, (off_t)(phoff + (uint64_t)i * phentsize)) != 4) {
                ok = 0;
                break;
            }
            if (pt == 3 /* PT_INTERP */)
                interp = 1;
        }
        if (ok && !interp)
            why = "statically linked: LD_PRELOAD cannot work";
    }
    close(f);
    struct stat st;
    if (!why && depth == 0 && stat(path, &st) == 0 &&
        (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
         ((st.st_mode & S_ISGID) && st.st_gid != getegid())))
        why = "set-user-ID or set-group-ID: the loader ignores LD_PRELOAD for it";
    return why;
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

/* ---- what the shim wrote ------------------------------------------------------------- */

/* A private file the shim of every process appends "trace PATH" / "exec PID" lines to
 * (preload/announce.h). Returns 0 and its path in out, or -PS_E_IO. */
static int record_report_file(char *out, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || *tmp != '/')
        tmp = "/tmp";
    if ((size_t)snprintf(out, cap, "%s/perfshim-record.XXXXXX", tmp) >= cap)
        return -PS_E_IO;
    int f = mkostemp(out, O_CLOEXEC);
    if (f < 0)
        return -PS_E_IO;
    close(f);
    return 0;
}

/* PATH relative to the cwd when it is under it (what the user typed -o relative to). */
static const char *record_shorten(const char *path, const char *cwd)
{
    size_t n = strlen(cwd);
    if (n > 1 && !strncmp(path, cwd, n) && path[n] == '/' && path[n + 1])
        return path + n + 1;
    return path;
}

/* Reads the report file into res: every trace, in the order they were created, and which
 * of them an exec ended (preload/announce.h). */
static void record_read_report(const char *file, record_result_t *res)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    char line[PATH_MAX + 48];
    long *pids = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *end;
        if (!strncmp(line, "exec ", 5) || !strncmp(line, "noexec ", 7)) {
            bool no = line[0] == 'n';
            long pid = strtol(line + (no ? 7 : 5), &end, 10);
            int follow = !no && *end == ' ' ? atoi(end + 1) : 0;
            for (int i = res->ntraces; i-- > 0;) /* the process's latest trace */
                if (pids[i] == pid) {
                    res->exec_ended[i] = no ? 0 : follow ? 1 : 2;
                    break;
                }
            continue;
        }
        if (strncmp(line, "trace ", 6))
            continue;
        long pid = strtol(line + 6, &end, 10);
        if (*end != ' ')
            continue;
        size_t n = (size_t)res->ntraces + 1;
        char **t = realloc(res->traces, n * sizeof *t);
        if (t)
            res->traces = t;
        int *x = realloc(res->exec_ended, n * sizeof *x);
        if (x)
            res->exec_ended = x;
        long *p = realloc(pids, n * sizeof *p);
        if (p)
            pids = p;
        char *dup = strdup(record_shorten(end + 1, cwd));
        if (!t || !x || !p || !dup) {
            free(dup);
            break;
        }
        res->traces[res->ntraces] = dup;
        res->exec_ended[res->ntraces] = 0;
        pids[res->ntraces++] = pid;
    }
    free(pids);
    for (int i = 0; i < res->ntraces; i++)
        res->untraced_execs += res->exec_ended[i] == 2;
    fclose(f);
}

void record_result_free(record_result_t *res)
{
    for (int i = 0; i < res->ntraces; i++)
        free(res->traces[i]);
    free(res->traces);
    free(res->exec_ended);
    memset(res, 0, sizeof *res);
}

/* Says where every trace went, or why there is none. Never an error: the program's status is
 * what record returns. */
static void record_say(const record_result_t *res, const char *prog)
{
    for (int i = 0; i < res->ntraces; i++)
        fprintf(stderr, "perfshim: trace written to %s\n", res->traces[i]);
    if (res->untraced_execs)
        fprintf(stderr,
                "perfshim: record: %d process%s exec'd a program that was not traced "
                "(PERFSHIM_FOLLOW_EXEC=1 traces it)\n",
                res->untraced_execs, res->untraced_execs == 1 ? "" : "es");
    if (res->ntraces)
        return;
    const char *en = getenv("PERFSHIM_ENABLE");
    if (en && !strcmp(en, "0"))
        fprintf(stderr, "perfshim: record: no trace was written: PERFSHIM_ENABLE=0\n");
    else
        fprintf(stderr, "perfshim: record: no trace was written: the shim did not start in %s "
                        "(its warning, if any, is above)\n",
                prog);
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

    record_result_t res;
    int rc = record_run(output, prog_argv, &res);
    if (rc < 0)
        return -rc;
    int ngate = 0; /* a trace an exec ended has no leak scan: the next image's trace has it */
    for (int i = 0; i < res.ntraces; i++)
        ngate += !res.exec_ended[i];
    if (ncheck >= 0 && ngate && rc == 0) {
        char **cargv = calloc((size_t)ncheck + (size_t)ngate + 2, sizeof(char *));
        if (!cargv) {
            record_result_free(&res);
            return 2;
        }
        cargv[0] = "check";
        memcpy(cargv + 1, argv + check_at, (size_t)ncheck * sizeof(char *));
        for (int i = 0, k = 1 + ncheck; i < res.ntraces; i++)
            if (!res.exec_ended[i])
                cargv[k++] = res.traces[i];
        rc = check_main(ncheck + ngate + 1, cargv);
        free(cargv);
    } else if (ncheck >= 0 && rc == 0) {
        rc = 2; /* nothing to gate: not a pass */
    }
    record_result_free(&res);
    return rc;
}

int record_run(const char *output, char **prog_argv, record_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!*output) {
        fprintf(stderr, "perfshim: record: empty output path\n");
        return -2;
    }
    const char *why = record_unpreloadable(prog_argv[0], 0);
    if (why) {
        fprintf(stderr, "perfshim: record: %s: %s\n", prog_argv[0], why);
        return -2;
    }
    /* The template is made absolute: the program (or one it execs) may change directory. */
    char tmpl[PATH_MAX], cwd[PATH_MAX];
    if (output[0] != '/' && getcwd(cwd, sizeof cwd)) {
        if ((size_t)snprintf(tmpl, sizeof tmpl, "%s/%s", cwd, output) >= sizeof tmpl) {
            fprintf(stderr, "perfshim: record: output path too long: %s\n", output);
            return -2;
        }
    } else {
        snprintf(tmpl, sizeof tmpl, "%s", output);
    }
    if (record_check_output(tmpl) < 0)
        return -2;

    char lib[PATH_MAX];
    if (record_find_lib(lib) < 0) {
        fprintf(stderr, "perfshim: record: cannot find " RECORD_LIB_NAME
                        " (set PERFSHIM_LIB)\n");
        return -2;
    }
    /* %e and %p stay for the shim: the name and pid of each process that writes a trace. */
    int rc = record_setup_env(lib, tmpl);
    if (rc < 0) {
        if (rc != -PS_E_INVAL)
            fprintf(stderr, "perfshim: record: %s\n", ps_strerror(rc));
        return -2;
    }
    char report[PATH_MAX];
    if (record_report_file(report, sizeof report) < 0 ||
        setenv("PERFSHIM_REPORT_FILE", report, 1) != 0) {
        fprintf(stderr, "perfshim: record: cannot create a temporary file in $TMPDIR: %s\n",
                strerror(errno));
        return -2;
    }

    pid_t pid = 0;
    int wstatus = 0, exec_err = 0;
    rc = record_spawn(prog_argv, &pid, &wstatus, &exec_err);
    int err = errno;
    unsetenv("PERFSHIM_REPORT_FILE");
    if (rc < 0 || exec_err) {
        unlink(report);
        fprintf(stderr, "perfshim: record: cannot run %s: %s\n", prog_argv[0],
                strerror(rc < 0 ? err : exec_err));
        return rc < 0 ? -2 : -record_exec_status(exec_err);
    }
    record_read_report(report, res);
    unlink(report);
    record_say(res, prog_argv[0]);
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return 1;
}

/* ---- one step: `perfshim PROGRAM [ARGS...]` -------------------------------------------- */

/* Is path a perfshim trace (its magic)? */
static int record_is_trace(const char *path)
{
    char magic[4];
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return 0;
    int yes = read(f, magic, 4) == 4 && !memcmp(magic, "PSTR", 4);
    close(f);
    return yes;
}

int record_oneshot_main(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "perfshim: no program given after '--'\n");
        return 2;
    }
    if (argc == 1 && record_is_trace(argv[0]) && access(argv[0], X_OK) != 0) {
        char *rargv[] = {"report", argv[0], NULL}; /* `perfshim t.trace`: its report */
        return report_main(2, rargv);
    }
    char found[PATH_MAX];
    if (record_which(argv[0], found, sizeof found) < 0) {
        struct stat st;
        fprintf(stderr, "perfshim: '%s' is neither a command nor a program in $PATH%s%s%s "
                        "(see perfshim --help)\n",
                argv[0], stat(argv[0], &st) == 0 ? "; did you mean ./" : "",
                stat(argv[0], &st) == 0 ? argv[0] : "", stat(argv[0], &st) == 0 ? "?" : "");
        return 2;
    }
    record_result_t res;
    int rc = record_run(RECORD_DEFAULT_OUTPUT, argv, &res);
    if (rc < 0)
        return -rc;
    if (res.ntraces == 0) {
        record_result_free(&res);
        return rc;
    }
    /* The program's own trace: the first one no exec ended (a wrapper script's trace is
     * ended by the exec of the program it wraps, with PERFSHIM_FOLLOW_EXEC=1). */
    int main_trace = 0;
    while (main_trace + 1 < res.ntraces && res.exec_ended[main_trace])
        main_trace++;
    const char *t = res.traces[main_trace];
    fflush(stderr);
    printf("\n");
    fflush(stdout);
    char *rargv[] = {"report", "--brief", (char *)t, NULL};
    int rrc = report_main(3, rargv);
    printf("\ntrace: %s", t);
    for (int i = 0, k = 0; i < res.ntraces; i++)
        if (i != main_trace)
            printf("%s%s", k++ ? ", " : " (the run's others: ", res.traces[i]);
    printf("%s\nnext:\n", res.ntraces > 1 ? ")" : "");
    printf("  perfshim report --section advice %s   # each recommendation: evidence, "
           "estimate, how to verify\n", t);
    printf("  perfshim report %s     # everything: timeline, sites by bytes/peak/temporary\n", t);
    printf("  perfshim locks %s      # lock contention and thread states\n", t);
    printf("  perfshim check %s      # CI gate: exit 1 when it leaks or has heap errors\n", t);
    printf("  perfshim report --format=folded %s | flamegraph.pl >heap.svg\n", t);
    fflush(stdout);
    record_result_free(&res);
    return rc ? rc : rrc;
}
