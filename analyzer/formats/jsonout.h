/*
 * jsonout.h -- writing JSON strings and symbolized stacks, shared by the leak section of the
 * report, `perfshim check` and its SARIF output.
 *
 * Contract: analyzer-only. jsonout_str() writes s as a JSON string (NULL -> null; control and
 * non-ASCII bytes as \u00XX, so the output is valid whatever the bytes). jsonout_frames()
 * writes the array of frame objects the report uses ({"function","file","line","module",
 * "address","offset","inlined"}) for at most max_depth frames (< 0: all); text_frames() the
 * report's text lines. Frames are the expanded ones: each return address gives its inlined
 * frames first (symbols_frames), and max_depth counts expanded frames. Both return 0 or a
 * negative PS_E_* from symbolization.
 */
#ifndef PERFSHIM_JSONOUT_H
#define PERFSHIM_JSONOUT_H

#include <stdint.h>
#include <stdio.h>

#include "core/symbols.h"

#define JSONOUT_MAX_FRAMES 512 /* expanded frames shown for one stack, at most */

void jsonout_str(FILE *o, const char *s);
/* Expands ips[0..depth) into frames, innermost first: at most `limit` (< 0: all, and never
 * more than JSONOUT_MAX_FRAMES) into buf, the count there would be in all into *total. */
int jsonout_expand(symbols_t *sym, const uint64_t *ips, uint32_t depth, int limit,
                   sym_frame_t *buf, size_t *n, size_t *total);
int jsonout_frames(FILE *o, symbols_t *sym, const uint64_t *ips, uint32_t depth, int max_depth);
int jsonout_text_frames(FILE *o, symbols_t *sym, const uint64_t *ips, uint32_t depth,
                        int max_depth, const char *indent);
/* The last path component of p. */
const char *jsonout_base(const char *p);

#endif /* PERFSHIM_JSONOUT_H */
