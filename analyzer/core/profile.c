/* profile.c -- see profile.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/profile.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void profile_types(profile_t *p, const char *const *types, const char *const *units, size_t n)
{
    p->types = types;
    p->units = units;
    p->ntypes = n;
}

const char *profile_unit(const profile_t *p, size_t i)
{
    return p->units && i < p->ntypes && p->units[i] ? p->units[i] : "count";
}

long profile_type_index(const profile_t *p, const char *name)
{
    for (size_t i = 0; i < p->ntypes; i++)
        if (strcmp(p->types[i], name) == 0)
            return (long)i;
    return -1;
}

void profile_meta(profile_t *p, const profile_meta_t *meta) { p->meta = meta; }

/* Keeps the first error of a renderer's call. */
static int profile_rc(profile_t *p, int rc)
{
    if (rc < 0 && p->err == 0)
        p->err = rc;
    return p->err;
}

int profile_sample(profile_t *p, const sym_frame_t *frames, size_t n, const uint64_t *values)
{
    if (p->err)
        return p->err;
    return profile_rc(p, p->ops->sample(p->ctx, frames, n, values, p->select));
}

bool profile_wants_time(const profile_t *p)
{
    return p->ops->thread || p->ops->counter || p->ops->span;
}

int profile_thread(profile_t *p, uint32_t tid, const char *name)
{
    if (p->err || !p->ops->thread)
        return p->err;
    return profile_rc(p, p->ops->thread(p->ctx, tid, name));
}

int profile_counter(profile_t *p, const char *series, uint64_t t_ns, uint64_t value)
{
    if (p->err || !p->ops->counter)
        return p->err;
    return profile_rc(p, p->ops->counter(p->ctx, series, t_ns, value));
}

int profile_span(profile_t *p, uint32_t tid, uint64_t start_ns, uint64_t dur_ns,
                 const char *name, const char *detail)
{
    if (p->err || !p->ops->span)
        return p->err;
    return profile_rc(p, p->ops->span(p->ctx, tid, start_ns, dur_ns, name, detail));
}

int profile_close(profile_t *p)
{
    int rc = p->ops->finish(p->ctx);
    p->ctx = NULL;
    return p->err ? p->err : rc;
}

const char *profile_frame_name(const sym_frame_t *f, char *buf, size_t cap)
{
    if (f->function)
        return f->function;
    if (f->module_name)
        snprintf(buf, cap, "%s+0x%" PRIx64, f->module_name, f->offset);
    else
        snprintf(buf, cap, "0x%" PRIx64, f->address);
    return buf;
}
