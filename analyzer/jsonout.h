/*
 * jsonout.h -- writing JSON strings and symbolized stacks, shared by the leak section of the
 * report, `perfshim check` and its SARIF output.
 *
 * Contract: analyzer-only. jsonout_str() writes s as a JSON string (NULL -> null; control and
 * non-ASCII bytes as \u00XX, so the output is valid whatever the bytes). jsonout_frames()
 * writes the array of frame objects the report uses ({"function","file","line","module",
 * "address","offset","inlined"}) for at most max_depth frames (< 0: all); text_frames() the
 * report's text lines. Both return 0 or a negative PS_E_* from symbolization.
 */
#ifndef PERFSHIM_JSONOUT_H
#define PERFSHIM_JSONOUT_H

#include <stdint.h>
#include <stdio.h>

#include "symbols.h"

void jsonout_str(FILE *o, const char *s);
int jsonout_frames(FILE *o, symbols_t *sym, const uint64_t *ips, uint32_t depth, int max_depth);
int jsonout_text_frames(FILE *o, symbols_t *sym, const uint64_t *ips, uint32_t depth,
                        int max_depth, const char *indent);
/* The last path component of p. */
const char *jsonout_base(const char *p);

#endif /* PERFSHIM_JSONOUT_H */
