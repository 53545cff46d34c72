/*
 * leaks_text.h -- the leak sections of the text report: "LEAKS (reachability at exit)" (the
 * scan's totals, its top groups with the indirect ones under their holder) and "SUSPECTED
 * LEAKS" (call sites growing across snapshots). The JSON of the same results is emitted by
 * analyses/leaks_emit.c.
 *
 * Contract: analyzer-only. depth: frames per stack; top: groups listed. Without a scan there
 * is no LEAKS section, with fewer than two snapshots no SUSPECTED LEAKS. Returns 0 or a
 * negative PS_E_* from symbolization.
 */
#ifndef PERFSHIM_LEAKS_TEXT_H
#define PERFSHIM_LEAKS_TEXT_H

#include <stdio.h>

#include "analyses/leaks.h"

int leaks_text(FILE *o, const leaks_t *L, symbols_t *sym, int depth, int top);

#endif /* PERFSHIM_LEAKS_TEXT_H */
