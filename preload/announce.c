/*
 * announce.c -- see announce.h.
 */
#include <config.h>

#include "announce.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prim.h"

#define ANNOUNCE_ENV "PERFSHIM_REPORT_FILE"

/* One write of the whole line: O_APPEND makes it atomic against the other processes. */
static void announce_line(const char *line, size_t len)
{
    const char *file = getenv(ANNOUNCE_ENV);
    if (!file || *file != '/')
        return;
    int f = open(file, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (f < 0)
        return;
    (void)prim_write_all(f, line, len);
    close(f);
}

void announce_trace(const char *path)
{
    char line[2 * 4096 + 16];
    char cwd[4096];
    int n;
    if (path[0] != '/' && getcwd(cwd, sizeof cwd))
        n = snprintf(line, sizeof line, "trace %ld %s/%s\n", (long)getpid(), cwd, path);
    else
        n = snprintf(line, sizeof line, "trace %ld %s\n", (long)getpid(), path);
    if (n > 0 && (size_t)n < sizeof line && !strchr(path, '\n'))
        announce_line(line, (size_t)n);
}

void announce_exec(int follow)
{
    char line[48];
    int n = snprintf(line, sizeof line, "exec %ld %d\n", (long)getpid(), follow);
    if (n > 0 && (size_t)n < sizeof line)
        announce_line(line, (size_t)n);
}

void announce_exec_failed(void)
{
    char line[48];
    int n = snprintf(line, sizeof line, "noexec %ld\n", (long)getpid());
    if (n > 0 && (size_t)n < sizeof line)
        announce_line(line, (size_t)n);
}
