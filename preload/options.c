/* options.c -- see options.h. */
#include <config.h>

#include "options.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "perfshim/errors.h"

options_t options;

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != 0 || v < lo || v > hi)
        return -PS_E_INVAL;
    *out = (int)v;
    return 0;
}

int options_signal_refused(int sig)
{
#define PS_X(s) sig == s ||
    return PS_REFUSED_SIGNALS(PS_X) 0;
#undef PS_X
}

int options_load(options_t *o, const char *(*get)(const char *name))
{
    int bad = 0;
    const char *v;
#define PS_X(field, env, def, lo, hi, help)                                                    \
    o->field = def;                                                                            \
    if ((v = get(env)) != NULL && parse_int(v, lo, hi, &o->field) != 0) {                      \
        PS_WARN("%s=\"%.64s\" is not an integer in [%d, %d]; using %d", env, v, lo, hi, def);  \
        o->field = def;                                                                        \
        bad++;                                                                                 \
    }
    PS_ENV_OPTIONS(PS_X, PS_ENV_NONE)
#undef PS_X
    if (options_signal_refused(o->snapshot_signal)) {
        PS_WARN("PERFSHIM_SNAPSHOT_SIGNAL=%d is a fatal, synchronous or uncatchable signal; "
                "using 0",
                o->snapshot_signal);
        o->snapshot_signal = 0;
        bad++;
    }
    o->unwind = 0;
    if ((v = get("PERFSHIM_UNWIND")) != NULL && strcmp(v, "auto") != 0) {
        if (strcmp(v, "libunwind") == 0) {
            o->unwind = 1;
        } else {
            PS_WARN("PERFSHIM_UNWIND=\"%.64s\" is not auto or libunwind; using auto", v);
            bad++;
        }
    }
    v = get("PERFSHIM_OUTPUT");
    char tmp[PS_OUTPUT_MAX];
    if (v && (!*v || strlen(v) >= sizeof o->output ||
              options_expand_output(v, 1, "x", tmp, sizeof tmp) != 0)) {
        PS_WARN("PERFSHIM_OUTPUT=\"%.64s\" is not a valid path template; using \"%s\"", v,
                PS_OUTPUT_DEFAULT);
        v = NULL;
        bad++;
    }
    snprintf(o->output, sizeof o->output, "%s", v ? v : PS_OUTPUT_DEFAULT);
    return bad;
}

int options_expand_output(const char *tmpl, int pid, const char *prog, char *out, unsigned cap)
{
    unsigned n = 0;
    char num[16];
    for (const char *p = tmpl; *p; p++) {
        const char *add = p;
        size_t len = 1;
        if (*p == '%') {
            p++;
            if (*p == 'p') {
                len = (size_t)snprintf(num, sizeof num, "%d", pid);
                add = num;
            } else if (*p == 'e') {
                add = prog;
                len = strlen(prog);
            } else if (*p == '%') {
                add = p;
            } else {
                return -PS_E_INVAL;
            }
        }
        if (n + len >= cap)
            return -PS_E_INVAL;
        memcpy(out + n, add, len);
        n += (unsigned)len;
    }
    if (n == 0)
        return -PS_E_INVAL;
    out[n] = 0;
    return 0;
}
