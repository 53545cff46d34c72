/*
 * fmt.c -- see fmt.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/fmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

const char *fmt_bytes(char *buf, size_t n, uint64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double d = (double)v;
    unsigned u = 0;
    while (d >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        d /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%" PRIu64 " B", v);
    else
        snprintf(buf, n, "%.1f %s", d, units[u]);
    return buf;
}

const char *fmt_ns(char *buf, size_t n, uint64_t ns)
{
    if (ns < 1000)
        snprintf(buf, n, "%" PRIu64 " ns", ns);
    else if (ns < 1000000)
        snprintf(buf, n, "%.1f us", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, n, "%.1f ms", (double)ns / 1e6);
    else
        snprintf(buf, n, "%.3f s", (double)ns / 1e9);
    return buf;
}

const char *fmt_rate(char *buf, size_t n, uint64_t count, uint64_t ns)
{
    if (ns == 0) {
        snprintf(buf, n, "-");
        return buf;
    }
    double r = (double)count * 1e9 / (double)ns;
    if (r >= 1e6)
        snprintf(buf, n, "%.1f M", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, n, "%.1f K", r / 1e3);
    else
        snprintf(buf, n, "%.1f ", r);
    return buf;
}

char *fmt_vbuf(char *buf, size_t n, size_t *len, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int k = vsnprintf(buf, n, fmt, aq);
    va_end(aq);
    *len = k < 0 ? 0 : (size_t)k;
    if (k < 0)
        return NULL;
    if ((size_t)k < n)
        return buf;
    char *p = malloc((size_t)k + 1);
    if (p)
        (void)vsnprintf(p, (size_t)k + 1, fmt, ap);
    return p;
}
