/*
 * locks_emit.h -- the lock results (analyses/locks.h, rp->locks) emitted into the document
 * view (core/doc.h): the members "locks", "condvars", "threads", "lock_order_cycles" and
 * "lock_summary" of an open object, used by `perfshim report` and `perfshim locks`.
 *
 * Contract: analyzer-only. Every member is written, also for a trace without lock records
 * (rp->locks NULL): empty lists and zeros. depth: frames per stack (< 0: all). Returns 0 or a
 * negative PS_E_*. Text (the presentation): the sections "LOCK CONTENTION", "CONDITION
 * VARIABLES", "THREADS", "LOCK ORDER CYCLES", none without lock records; top: the locks,
 * condvars, sites and holders that text lists (the data formats have them all). Key names are an interface (docs/json-schema.md): add, never rename.
 */
#ifndef PERFSHIM_LOCKS_EMIT_H
#define PERFSHIM_LOCKS_EMIT_H

#include "analyses/replay.h"
#include "core/doc.h"

int locks_emit(doc_t *d, const replay_t *rp, symbols_t *sym, int depth, int top);

#endif /* PERFSHIM_LOCKS_EMIT_H */
