/*
 * cliopt.c -- see cliopt.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/cliopt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim/errors.h"

int cliopt_choice(const char *cmd, const char *what, const char *arg, const char *const *names,
                  size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(arg, names[i]))
            return (int)i;
    fprintf(stderr, "perfshim: %s: unknown %s '%s'\n", cmd, what, arg);
    return -1;
}

int cliopt_count(const char *cmd, const char *opt, const char *arg, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < 0 || v > 1000000) {
        fprintf(stderr, "perfshim: %s: --%s wants a number, not '%s'\n", cmd, opt, arg);
        return -PS_E_INVAL;
    }
    *out = (int)v;
    return 0;
}

int cliopt_duration(const char *cmd, const char *opt, const char *arg, uint64_t *ns)
{
    static const struct {
        const char *unit;
        uint64_t mul;
    } units[] = {{"", 1}, {"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}};
    char *end;
    errno = 0;
    unsigned long long v = arg[0] >= '0' && arg[0] <= '9' ? strtoull(arg, &end, 10) : 0;
    if (!errno && arg[0] >= '0' && arg[0] <= '9')
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (!strcmp(end, units[i].unit) && v <= UINT64_MAX / units[i].mul) {
                *ns = (uint64_t)v * units[i].mul;
                return 0;
            }
    fprintf(stderr, "perfshim: %s: --%s wants a duration (N, Nns, Nus, Nms, Ns), not '%s'\n", cmd,
            opt, arg);
    return -PS_E_INVAL;
}
