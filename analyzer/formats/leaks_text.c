/* leaks_text.c -- see leaks_text.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "formats/leaks_text.h"

#include <inttypes.h>

#include "formats/text.h"

static int leaks_text_group(FILE *o, const leaks_t *L, symbols_t *sym, size_t i, int depth,
                            const char *indent, const char *frame_indent, size_t rank)
{
    const leak_group_t *g = &L->groups[i];
    if (rank)
        fprintf(o, "%s#%zu  ", indent, rank);
    else
        fprintf(o, "%s", indent);
    fprintf(o, "%s: %" PRIu64 " blocks, %" PRIu64 " bytes", leaks_kind_name(g->kind), g->blocks,
            g->bytes);
    if (g->possible_blocks)
        fprintf(o, " (%" PRIu64 " reached through interior pointers only)", g->possible_blocks);
    if (g->inherited)
        fputs(" (inherited from the parent process)", o);
    fputs(g->suppressed ? " [suppressed]\n" : "\n", o);
    return text_frames(o, sym, g->ips, g->depth, depth, frame_indent);
}

int leaks_text(FILE *o, const leaks_t *L, symbols_t *sym, int depth, int top)
{
    /* no scan (PERFSHIM_LEAK_CHECK=0, or no clean exit): no section, the report's "NOT FREED
     * AT EXIT" is then all there is */
    if (L->have_scan) {
        fputs("\nLEAKS (reachability at exit)\n", o);
        const ps_rec_leak_scan_t *s = &L->scan;
        fprintf(o, "  definitely lost    %" PRIu64 " bytes in %" PRIu64 " blocks\n",
                s->definite_bytes, s->definite_blocks);
        fprintf(o, "  indirectly lost    %" PRIu64 " bytes in %" PRIu64 " blocks\n",
                s->indirect_bytes, s->indirect_blocks);
        fprintf(o, "  still reachable    %" PRIu64 " bytes in %" PRIu64 " blocks\n",
                s->reachable_bytes, s->reachable_blocks);
        if (s->possible_blocks)
            fprintf(o, "  possibly           %" PRIu64 " of those blocks are reached through "
                       "interior pointers only\n",
                    s->possible_blocks);
        if (s->flags & PS_LEAK_F_ABORTED)
            fputs("  incomplete         the scan could not run (no memory for it): nothing "
                  "was classified\n",
                  o);
        if (s->flags & PS_LEAK_F_TURNED_OFF)
            fputs("  turned off         by the app (__lsan_is_turned_off or detect_leaks=0)\n", o);
        if (s->flags & PS_LEAK_F_ON_DEMAND)
            fputs("  scan               the app's last __lsan_do_*leak_check (no exit scan)\n",
                  o);
        if (L->nscans > 1)
            fprintf(o, "  scans              %" PRIu32 " in the trace (on-demand ones); this is "
                       "the last\n",
                    L->nscans);
        if (s->unreadable_bytes)
            fprintf(o, "  unreadable         %" PRIu64 " bytes of blocks and roots were not "
                       "readable and not scanned\n",
                    s->unreadable_bytes);
        if (s->flags & PS_LEAK_F_UNTRACKED)
            fprintf(o, "  incomplete         %" PRIu64 " allocations were not tracked (out of "
                       "memory)\n",
                    s->untracked);
        size_t shown = 0;
        for (size_t i = 0; i < L->ngroups && shown < (size_t)top; i++) {
            const leak_group_t *g = &L->groups[i];
            if (g->kind == PS_LEAK_REACHABLE || (g->kind == PS_LEAK_INDIRECT && g->held_by >= 0))
                continue;
            int rc = leaks_text_group(o, L, sym, i, depth, "  ", "        ", ++shown);
            for (size_t k = 0; rc == 0 && k < L->ngroups; k++)
                if (L->groups[k].kind == PS_LEAK_INDIRECT && L->groups[k].held_by == (long)i)
                    rc = leaks_text_group(o, L, sym, k, depth, "      held: ", "            ",
                                          0);
            if (rc < 0)
                return rc;
        }
        if (!shown)
            fputs("  no leaks\n", o);
    }
    if (L->nsnapshots >= 2) {
        fprintf(o, "\nSUSPECTED LEAKS (live bytes growing across %" PRIu32 " snapshots)\n",
                L->nsnapshots);
        if (!L->ngrowth)
            fputs("  none\n", o);
        for (size_t i = 0; i < L->ngrowth && i < (size_t)top; i++) {
            const leak_growth_t *g = &L->growth[i];
            fprintf(o, "  #%zu  +%" PRIu64 " bytes (%" PRIu64 " -> %" PRIu64 ", %" PRIu64
                       " blocks live)\n",
                    i + 1, g->last_bytes - g->first_bytes, g->first_bytes, g->last_bytes,
                    g->last_blocks);
            int rc = text_frames(o, sym, g->ips, g->depth, depth, "        ");
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

