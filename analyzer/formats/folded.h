/*
 * folded.h -- folded stacks (Brendan Gregg's flamegraph.pl input), the renderer of the profile
 * view (core/profile.h): one line per stack, root first, frames joined by ';', then a space and
 * the selected sample type's value; stacks whose value is 0 are left out, a stack without
 * frames is "[no stack]". A frame is its function, else MODULE+0xOFFSET, else 0xADDRESS, with
 * ';' and ' ' replaced by '_'.
 *
 * Contract: analyzer-only. folded_profile_open() returns 0 or -PS_E_NOMEM.
 */
#ifndef PERFSHIM_FOLDED_H
#define PERFSHIM_FOLDED_H

#include <stdio.h>

#include "core/profile.h"

int folded_profile_open(profile_t *p, FILE *o);

#endif /* PERFSHIM_FOLDED_H */
