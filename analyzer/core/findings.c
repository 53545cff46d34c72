/* findings.c -- see findings.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/findings.h"

#include <stdlib.h>
#include <string.h>

#include "perfshim/errors.h"

int findings_add(findings_t *f, finding_t **out)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        finding_t *v = realloc(f->v, cap * sizeof(*v));
        if (!v)
            return -PS_E_NOMEM;
        f->v = v;
        f->cap = cap;
    }
    *out = memset(&f->v[f->n++], 0, sizeof(finding_t));
    return 0;
}

void findings_free(findings_t *f)
{
    free(f->v);
    memset(f, 0, sizeof(*f));
}
