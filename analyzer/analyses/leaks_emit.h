/*
 * leaks_emit.h -- the leak results (analyses/leaks.h) emitted into the document view
 * (core/doc.h): the summary's leak members, the report's "leaks" entries and the
 * "snapshots"/"suspected_leaks" members. docs/json-schema.md is the reference for the keys.
 *
 * Contract: analyzer-only. Every key is written whether or not the trace holds a scan:
 * leaks_emit_summary writes "leak_scan" (whether a scan ran) and the scan's totals and flags,
 * null without one (leak_scans: the count, 0). leaks_emit_entry writes one entry of the
 * report's "leaks" list, the same shape with or without a scan: kind ("definite", "indirect",
 * "reachable", or "not_freed" for a call site's blocks not freed at exit when no scan ran),
 * blocks, bytes, possible_blocks, held_by (index into "leaks" of the holding definite group,
 * or null), site (index into the report's "sites", or null), not_freed_blocks/not_freed_bytes
 * (= blocks/bytes), suppressed, inherited, stack. leaks_emit_groups writes an entry per scan
 * group (site_index maps a call site to "sites", -1: none). leaks_emit_growth writes
 * "snapshots" and "suspected_leaks". depth: frames per stack (< 0: all). The emitters return
 * 0 or a negative PS_E_*. Text (the presentation): leaks_emit_groups is the section "LEAKS
 * (reachability at exit)" (the scan's totals, its top groups with the indirect ones under
 * their holder), leaks_emit_growth "SUSPECTED LEAKS" (with two snapshots or more); top: the
 * groups and sites text lists.
 */
#ifndef PERFSHIM_LEAKS_EMIT_H
#define PERFSHIM_LEAKS_EMIT_H

#include "analyses/leaks.h"
#include "core/doc.h"

void leaks_emit_summary(doc_t *d, const leaks_t *L);
int leaks_emit_entry(doc_t *d, const char *kind, uint64_t blocks, uint64_t bytes,
                     uint64_t possible_blocks, long held_by, long site, bool suppressed,
                     bool inherited, symbols_t *sym, const uint64_t *ips, uint32_t ndepth,
                     int depth);
int leaks_emit_groups(doc_t *d, const leaks_t *L, symbols_t *sym, int depth, int top,
                      long (*site_index)(const uint64_t *ips, uint32_t depth, void *arg),
                      void *arg);
int leaks_emit_growth(doc_t *d, const leaks_t *L, symbols_t *sym, int depth, int top);

#endif /* PERFSHIM_LEAKS_EMIT_H */
