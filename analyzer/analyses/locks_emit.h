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
#include "core/profile.h"

int locks_emit(doc_t *d, const replay_t *rp, symbols_t *sym, int depth, int top);

/* The lock results on the profile view's time axis (core/profile.h): each thread of the lock
 * analysis (profile_thread: its name, "" when it had none) and each kept wait (rp->locks->waits,
 * the lock waits analysis) as a span of its thread, in start order, times from rp->start_ns:
 * name "KIND 0xADDR at FUNCTION" (the waiter's first frame outside the shim; without one
 * "KIND 0xADDR"), detail that frame as "FUNCTION (FILE:LINE)" (or "MODULE+0xOFFSET", or "").
 * Nothing without lock records. Returns 0 or a negative PS_E_*. */
int locks_emit_waits(profile_t *p, const replay_t *rp, symbols_t *sym);

#endif /* PERFSHIM_LOCKS_EMIT_H */
