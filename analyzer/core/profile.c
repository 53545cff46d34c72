/* profile.c -- see profile.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/profile.h"

void profile_types(profile_t *p, const char *const *types, size_t n)
{
    p->types = types;
    p->ntypes = n;
}

int profile_sample(profile_t *p, const sym_frame_t *frames, size_t n, const uint64_t *values)
{
    if (p->err == 0) {
        int rc = p->ops->sample(p->ctx, frames, n, values, p->select);
        if (rc < 0)
            p->err = rc;
    }
    return p->err;
}

int profile_close(profile_t *p)
{
    int rc = p->ops->finish(p->ctx);
    p->ctx = NULL;
    return p->err ? p->err : rc;
}
