/* log.c -- see log.h. vsnprintf into a stack buffer; no heap, no stdio streams. */
#include <config.h>

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "prim.h"

int log_level = 1;

void log_write(int level, const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof line, "perfshim: [%d:%d] %s", (int)getpid(), (int)prim_gettid(),
                     level == 1 ? "warning: " : "");
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    n += m;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    (void)prim_write_all(2, line, (size_t)n);
}

void p_log_assert_fail(const char *what, const char *file, int line)
{
    log_write(0, "assertion failed: %s (%s:%d)", what, file, line);
    abort();
}
