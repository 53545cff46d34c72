/*
 * pressure_emit.h -- the pressure facts (analyses/pressure.h) emitted into the document view
 * (core/doc.h): the report's "pressure" member; docs/json-schema.md is the reference for its
 * keys.
 *
 * Contract: analyzer-only. pressure_emit writes "pressure" with every key present whether or
 * not the analysis ran (P NULL: "available" false, counts 0, lists empty) and whether or not
 * the trace carries the cross-thread flag and the under-lock records (then their counts are
 * null and "cross_thread_available"/"under_lock_available" false). Sites: every site that
 * allocated, by allocations (then bytes, then stack id); peak owners: the sites live at the
 * heap's peak, by their bytes then. Text (the presentation): the section "ALLOCATION
 * PRESSURE": the totals in words, the peak windows, the top sites (top), the peak owners;
 * depth: frames per stack (< 0: all). Returns 0 or a negative PS_E_*.
 */
#ifndef PERFSHIM_PRESSURE_EMIT_H
#define PERFSHIM_PRESSURE_EMIT_H

#include "analyses/pressure.h"
#include "analyses/replay.h"
#include "core/doc.h"

int pressure_emit(doc_t *d, const replay_t *rp, symbols_t *sym, int depth, int top);

#endif /* PERFSHIM_PRESSURE_EMIT_H */
