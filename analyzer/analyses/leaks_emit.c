/* leaks_emit.c -- see leaks_emit.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/leaks_emit.h"

void leaks_emit_summary(doc_t *d, const leaks_t *L)
{
    const ps_rec_leak_scan_t *s = &L->scan;
    bool h = L->have_scan;
    doc_bool(d, "leak_scan", h);
    doc_u64_or_null(d, "leaked_definite_bytes", h, s->definite_bytes);
    doc_u64_or_null(d, "leaked_definite_blocks", h, s->definite_blocks);
    doc_u64_or_null(d, "leaked_indirect_bytes", h, s->indirect_bytes);
    doc_u64_or_null(d, "leaked_indirect_blocks", h, s->indirect_blocks);
    doc_u64_or_null(d, "reachable_bytes", h, s->reachable_bytes);
    doc_u64_or_null(d, "reachable_blocks", h, s->reachable_blocks);
    doc_u64_or_null(d, "possible_blocks", h, s->possible_blocks);
    if (h) {
        doc_bool(d, "leak_scan_complete",
                 !(s->flags & (PS_LEAK_F_UNTRACKED | PS_LEAK_F_RANGES | PS_LEAK_F_ABORTED |
                               PS_LEAK_F_NO_MAPS | PS_LEAK_F_THREADS)));
        doc_bool(d, "leak_scan_on_demand", s->flags & PS_LEAK_F_ON_DEMAND);
        doc_bool(d, "leak_scan_turned_off", s->flags & PS_LEAK_F_TURNED_OFF);
    } else {
        doc_null(d, "leak_scan_complete");
        doc_null(d, "leak_scan_on_demand");
        doc_null(d, "leak_scan_turned_off");
    }
    doc_u64(d, "leak_scans", L->nscans);
    doc_u64_or_null(d, "leak_scan_unreadable_bytes", h, s->unreadable_bytes);
    doc_u64_or_null(d, "leak_scan_threads", h, s->threads);
    doc_u64_or_null(d, "leak_scan_root_bytes", h, s->root_bytes);
    doc_u64_or_null(d, "leak_scan_region_bytes", h, s->region_bytes);
    doc_u64_or_null(d, "leak_scan_mem_bytes", h, s->scan_mem_bytes);
    doc_u64_or_null(d, "inherited_blocks", h, s->inherited_blocks);
    doc_u64_or_null(d, "ignored_blocks", h, s->ignored_blocks);
}

int leaks_emit_entry(doc_t *d, const char *kind, uint64_t blocks, uint64_t bytes,
                     uint64_t possible_blocks, long held_by, long site, bool suppressed,
                     bool inherited, symbols_t *sym, const uint64_t *ips, uint32_t ndepth,
                     int depth)
{
    doc_nl(d);
    doc_obj(d, NULL);
    doc_str(d, "kind", kind);
    doc_u64(d, "blocks", blocks);
    doc_u64(d, "bytes", bytes);
    doc_u64(d, "possible_blocks", possible_blocks);
    doc_u64_or_null(d, "held_by", held_by >= 0, (uint64_t)held_by);
    doc_u64_or_null(d, "site", site >= 0, (uint64_t)site);
    doc_u64(d, "not_freed_blocks", blocks);
    doc_u64(d, "not_freed_bytes", bytes);
    doc_bool(d, "suppressed", suppressed);
    doc_bool(d, "inherited", inherited);
    int rc = doc_stack(d, "stack", sym, ips, ndepth, depth);
    doc_end(d);
    return rc < 0 ? rc : d->err;
}

int leaks_emit_groups(doc_t *d, const leaks_t *L, symbols_t *sym, int depth,
                      long (*site_index)(const uint64_t *ips, uint32_t depth, void *arg),
                      void *arg)
{
    for (size_t i = 0; i < L->ngroups; i++) {
        const leak_group_t *g = &L->groups[i];
        long site = site_index ? site_index(g->ips, g->depth, arg) : -1;
        int rc = leaks_emit_entry(d, leaks_kind_name(g->kind), g->blocks, g->bytes,
                                  g->possible_blocks,
                                  g->kind == PS_LEAK_INDIRECT ? g->held_by : -1, site,
                                  g->suppressed, g->inherited, sym, g->ips, g->depth, depth);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int leaks_emit_growth(doc_t *d, const leaks_t *L, symbols_t *sym, int depth)
{
    doc_u64(d, "snapshots", L->nsnapshots);
    doc_list(d, "suspected_leaks");
    for (size_t i = 0; i < L->ngrowth; i++) {
        const leak_growth_t *g = &L->growth[i];
        doc_nl(d);
        doc_obj(d, NULL);
        doc_u64(d, "growth_bytes", g->last_bytes - g->first_bytes);
        doc_u64(d, "first_bytes", g->first_bytes);
        doc_u64(d, "last_bytes", g->last_bytes);
        doc_u64(d, "last_blocks", g->last_blocks);
        int rc = doc_stack(d, "stack", sym, g->ips, g->depth, depth);
        doc_end(d);
        if (rc < 0)
            return rc;
    }
    doc_end(d);
    return d->err;
}
