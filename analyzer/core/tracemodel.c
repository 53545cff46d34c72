/*
 * tracemodel.c -- see tracemodel.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/tracemodel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim/errors.h"

const tm_stack_t *tracemodel_stack(const tracemodel_t *m, uint32_t id)
{
    uint32_t i = u32map_get(&m->stack_map, id);
    return i == U32MAP_NONE ? NULL : &m->stacks[i];
}

int tracemodel_add_stack(tracemodel_t *m, const record_t *rec)
{
    if (u32map_get(&m->stack_map, rec->u.stack.id) != U32MAP_NONE)
        return 0; /* the first definition wins; the shim never redefines an id */
    if (m->nstacks == m->stacks_cap) {
        size_t cap = m->stacks_cap ? m->stacks_cap * 2 : 256;
        tm_stack_t *s = realloc(m->stacks, cap * sizeof(*s));
        if (!s)
            return -PS_E_NOMEM;
        m->stacks = s;
        m->stacks_cap = cap;
    }
    tm_stack_t *s = &m->stacks[m->nstacks];
    s->id = rec->u.stack.id;
    s->depth = rec->u.stack.depth;
    s->ips = malloc(s->depth * sizeof(uint64_t));
    if (!s->ips)
        return -PS_E_NOMEM;
    for (uint32_t i = 0; i < s->depth; i++)
        s->ips[i] = record_ip(rec, i);
    int rc = u32map_put(&m->stack_map, s->id, (uint32_t)m->nstacks);
    m->nstacks++;
    return rc;
}

int tracemodel_add_module(tracemodel_t *m, const record_t *rec)
{
    const char *path = rec->u.module.path;
    uint32_t plen = rec->u.module.path_len;
    for (size_t i = 0; i < m->nmodules; i++)
        if (m->modules[i].base == rec->u.module.base && strlen(m->modules[i].path) == plen &&
            !memcmp(m->modules[i].path, path, plen))
            return 0;
    if (m->nmodules == m->modules_cap) {
        size_t cap = m->modules_cap ? m->modules_cap * 2 : 32;
        tm_module_t *mm = realloc(m->modules, cap * sizeof(*mm));
        if (!mm)
            return -PS_E_NOMEM;
        m->modules = mm;
        m->modules_cap = cap;
    }
    tm_module_t *mod = &m->modules[m->nmodules];
    memset(mod, 0, sizeof(*mod));
    mod->path = malloc(plen + 1);
    mod->segs = malloc((rec->u.module.nseg ? rec->u.module.nseg : 1) * sizeof(ps_segment_t));
    if (!mod->path || !mod->segs) {
        free(mod->path);
        free(mod->segs);
        return -PS_E_NOMEM;
    }
    memcpy(mod->path, path, plen);
    mod->path[plen] = 0;
    mod->base = rec->u.module.base;
    mod->nseg = rec->u.module.nseg;
    for (uint32_t i = 0; i < mod->nseg; i++)
        record_segment(rec, i, &mod->segs[i]);
    mod->buildid_len = rec->u.module.buildid_len; /* a u8 in the format: fits buildid[] */
    memcpy(mod->buildid, rec->u.module.buildid, mod->buildid_len);
    m->nmodules++;
    return 0;
}

void tracemodel_partial(tracemodel_t *m, const char *fmt, ...)
{
    m->complete = false;
    if (m->partial_reason[0])
        return; /* the first reason is the one that explains the rest */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->partial_reason, sizeof(m->partial_reason), fmt, ap);
    va_end(ap);
}

void tracemodel_free(tracemodel_t *m)
{
    for (size_t i = 0; i < m->nstacks; i++)
        free(m->stacks[i].ips);
    for (size_t i = 0; i < m->nmodules; i++) {
        free(m->modules[i].path);
        free(m->modules[i].segs);
    }
    free(m->stacks);
    free(m->modules);
    free(m->exe);
    free(m->cmdline);
    u32map_free(&m->stack_map);
    memset(m, 0, sizeof(*m));
}
