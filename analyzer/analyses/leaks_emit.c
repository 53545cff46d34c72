/* leaks_emit.c -- see leaks_emit.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/leaks_emit.h"

#include <inttypes.h>

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

/* The scan's totals in text, above its groups ("LEAKS (reachability at exit)"). */
static void text_scan_head(doc_t *d, const leaks_t *L)
{
    const ps_rec_leak_scan_t *s = &L->scan;
    doc_title(d, "LEAKS (reachability at exit)");
    doc_linef(d, "  definitely lost    %" PRIu64 " bytes in %" PRIu64 " blocks", s->definite_bytes,
              s->definite_blocks);
    doc_linef(d, "  indirectly lost    %" PRIu64 " bytes in %" PRIu64 " blocks", s->indirect_bytes,
              s->indirect_blocks);
    doc_linef(d, "  still reachable    %" PRIu64 " bytes in %" PRIu64 " blocks", s->reachable_bytes,
              s->reachable_blocks);
    if (s->possible_blocks)
        doc_linef(d, "  possibly           %" PRIu64 " of those blocks are reached through "
                     "interior pointers only",
                  s->possible_blocks);
    if (s->flags & PS_LEAK_F_ABORTED)
        doc_line(d, "  incomplete         the scan could not run (no memory for it): nothing was "
                    "classified");
    if (s->flags & PS_LEAK_F_TURNED_OFF)
        doc_line(d, "  turned off         by the app (__lsan_is_turned_off or detect_leaks=0)");
    if (s->flags & PS_LEAK_F_ON_DEMAND)
        doc_line(d, "  scan               the app's last __lsan_do_*leak_check (no exit scan)");
    if (L->nscans > 1)
        doc_linef(d, "  scans              %" PRIu32 " in the trace (on-demand ones); this is the "
                     "last",
                  L->nscans);
    if (s->unreadable_bytes)
        doc_linef(d, "  unreadable         %" PRIu64 " bytes of blocks and roots were not readable "
                     "and not scanned",
                  s->unreadable_bytes);
    if (s->flags & PS_LEAK_F_UNTRACKED)
        doc_linef(d, "  incomplete         %" PRIu64 " allocations were not tracked (out of memory)",
                  s->untracked);
    if (L->attribution_note)
        doc_linef(d, "  attributed         the replay's blocks differ from the scan's: %s",
                  L->attribution_note);
}

/* A group's line in text: "  #RANK  kind: ..." or, under its holder, "      held: kind: ...". */
static void text_group(doc_t *d, const leak_group_t *g, size_t rank)
{
    char lead[32], poss[96] = "";
    if (rank)
        snprintf(lead, sizeof lead, "  #%zu  ", rank);
    else
        snprintf(lead, sizeof lead, "      held: ");
    if (g->possible_blocks)
        snprintf(poss, sizeof poss, " (%" PRIu64 " reached through interior pointers only)",
                 g->possible_blocks);
    doc_linef(d, "%s%s: %" PRIu64 " blocks, %" PRIu64 " bytes%s%s%s", lead,
              leaks_kind_name(g->kind), g->blocks, g->bytes, poss,
              g->inherited ? " (inherited from the parent process)" : "",
              g->suppressed ? " [suppressed]" : "");
}

static int emit_group(doc_t *d, const leaks_t *L, size_t i, symbols_t *sym, int depth,
                      long (*site_index)(const uint64_t *ips, uint32_t depth, void *arg),
                      void *arg)
{
    const leak_group_t *g = &L->groups[i];
    long site = site_index ? site_index(g->ips, g->depth, arg) : -1;
    return leaks_emit_entry(d, leaks_kind_name(g->kind), g->blocks, g->bytes, g->possible_blocks,
                            g->kind == PS_LEAK_INDIRECT ? g->held_by : -1, site, g->suppressed,
                            g->inherited, sym, g->ips, g->depth, depth);
}

int leaks_emit_groups(doc_t *d, const leaks_t *L, symbols_t *sym, int depth, int top,
                      long (*site_index)(const uint64_t *ips, uint32_t depth, void *arg),
                      void *arg)
{
    text_scan_head(d, L);
    size_t shown = 0;
    int rc = 0;
    for (size_t i = 0; i < L->ngroups && rc == 0; i++) {
        const leak_group_t *g = &L->groups[i];
        /* text lists the top definite (and unheld indirect) groups, each with the indirect
         * ones it holds under it; the data formats have every group once, in order */
        bool listed = g->kind != PS_LEAK_REACHABLE &&
                      !(g->kind == PS_LEAK_INDIRECT && g->held_by >= 0) && shown < (size_t)top;
        doc_only(d, listed ? DOC_ALL : DOC_DATA);
        if (listed)
            text_group(d, g, ++shown);
        if (doc_shown(d))
            rc = emit_group(d, L, i, sym, depth, site_index, arg);
        for (size_t k = 0; listed && rc == 0 && k < L->ngroups; k++)
            if (L->groups[k].kind == PS_LEAK_INDIRECT && L->groups[k].held_by == (long)i) {
                doc_only(d, DOC_TEXT);
                text_group(d, &L->groups[k], 0);
                doc_indent(d, "            ");
                rc = emit_group(d, L, k, sym, depth, site_index, arg);
                doc_indent(d, "        ");
            }
        doc_only(d, DOC_ALL);
    }
    if (rc == 0 && !shown)
        doc_line(d, "  no leaks");
    return rc;
}

int leaks_emit_growth(doc_t *d, const leaks_t *L, symbols_t *sym, int depth, int top)
{
    bool text = L->nsnapshots >= 2; /* text: no section with fewer */
    if (text) {
        doc_linef(d, "\nSUSPECTED LEAKS (live bytes growing across %" PRIu32 " snapshots)",
                  L->nsnapshots);
        if (L->snapshot_note)
            doc_linef(d, "  attributed      %s", L->snapshot_note);
        if (!L->ngrowth)
            doc_line(d, "  none");
    }
    doc_u64(d, "snapshots", L->nsnapshots);
    doc_list(d, "suspected_leaks");
    for (size_t i = 0; i < L->ngrowth; i++) {
        const leak_growth_t *g = &L->growth[i];
        doc_only(d, text && i < (size_t)top ? DOC_ALL : DOC_DATA);
        if (!doc_shown(d))
            continue;
        doc_linef(d, "  #%zu  +%" PRIu64 " bytes (%" PRIu64 " -> %" PRIu64 ", %" PRIu64
                     " blocks live)",
                  i + 1, g->last_bytes - g->first_bytes, g->first_bytes, g->last_bytes,
                  g->last_blocks);
        doc_nl(d);
        doc_obj(d, NULL);
        doc_u64(d, "growth_bytes", g->last_bytes - g->first_bytes);
        doc_u64(d, "first_bytes", g->first_bytes);
        doc_u64(d, "last_bytes", g->last_bytes);
        doc_u64(d, "last_blocks", g->last_blocks);
        int rc = doc_stack(d, "stack", sym, g->ips, g->depth, depth);
        doc_end(d);
        doc_only(d, DOC_ALL);
        if (rc < 0)
            return rc;
    }
    doc_only(d, DOC_ALL);
    doc_end(d);
    return d->err;
}
