/*
 * cliopt.c -- see cliopt.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/cliopt.h"

#include <errno.h>
#include <getopt.h>
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

void cliopt_init(cliopt_common_t *o, const char *cmd, unsigned family, const char *def_format,
                 int top)
{
    memset(o, 0, sizeof(*o));
    o->cmd = cmd;
    o->family = family;
    o->format = format_find(cmd, family, def_format ? def_format : "text");
    o->stack_depth = -1;
    o->top = top;
}

const struct option *cliopt_longopts(unsigned mask, const struct option *own, struct option *out,
                                     size_t cap)
{
    static const struct option common[] = {
#define CLIOPT_ROW(id, name, has_arg, val) {name, has_arg, NULL, val},
        CLIOPT_COMMON(CLIOPT_ROW)
#undef CLIOPT_ROW
    };
    size_t n = 0;
    for (size_t i = 0; i < CLIOPT_I_COUNT && n + 1 < cap; i++)
        if (mask & (1u << i))
            out[n++] = common[i];
    for (; own && own->name && n + 1 < cap; own++)
        out[n++] = *own;
    out[n] = (struct option){NULL, 0, NULL, 0};
    return out;
}

int cliopt_common(cliopt_common_t *o, int c, const char *arg)
{
    switch (c) {
    case CLIOPT_V_FORMAT:
        return (o->format = format_find(o->cmd, o->family, arg)) ? 1 : -1;
    case CLIOPT_V_DEPTH:
        return cliopt_count(o->cmd, "stack-depth", arg, &o->stack_depth) < 0 ? -1 : 1;
    case CLIOPT_V_TOP:
        return cliopt_count(o->cmd, "top", arg, &o->top) < 0 ? -1 : 1;
    case 'o':
        o->output = arg;
        return 1;
    case 'q':
        o->sym.quiet = true;
        return 1;
    case CLIOPT_V_SYSROOT:
        o->sym.sysroot = arg;
        return 1;
    case CLIOPT_V_DEBUGDIR:
        o->sym.debug_dir = arg;
        return 1;
    case CLIOPT_V_STDFRAMES:
        o->sym.show_std_frames = true;
        return 1;
    case CLIOPT_V_FULLNAMES:
        o->sym.full_names = true;
        return 1;
    case CLIOPT_V_PARTIAL:
        o->allow_partial = true;
        return 1;
    default:
        return 0;
    }
}

void cliopt_unknown(const char *cmd, char **argv)
{
    if (optopt && optopt < 256)
        fprintf(stderr, "perfshim: %s: unknown option '-%c' or missing argument\n", cmd, optopt);
    else
        fprintf(stderr, "perfshim: %s: unknown option '%s' or missing argument\n", cmd,
                argv[optind - 1]);
}

int cliopt_trace(const char *cmd, int argc, char **argv)
{
    if (argc - optind == 1)
        return 0;
    fprintf(stderr, "perfshim: %s: %s\n", cmd,
            argc - optind < 1 ? "no trace file given" : "too many arguments");
    return -1;
}
