/*
 * textstack.h -- symbolized stacks as the text reports print them (report, check, locks).
 *
 * Contract: analyzer-only. textstack_frames() writes one line per expanded frame (inlined
 * frames first for each return address, core/doc.h doc_expand), each prefixed by indent: the
 * function, else MODULE+0xOFFSET, else the address; " (file:line)" or " (MODULE+0xOFFSET)";
 * " [inlined]". Unless the symbolizer shows them, runs of C++ standard library frames
 * (callsite_is_std_frame) are folded into one "[N C++ standard library frames folded]" line
 * and max_depth (< 0: all) counts the frames shown; "... N more frames" ends a cut stack,
 * "[no stack recorded]" stands for an empty one. Returns 0 or a negative PS_E_* from
 * symbolization. textstack_base() returns the last path component of p.
 */
#ifndef PERFSHIM_TEXTSTACK_H
#define PERFSHIM_TEXTSTACK_H

#include <stdint.h>
#include <stdio.h>

#include "core/symbols.h"

int textstack_frames(FILE *o, symbols_t *sym, const uint64_t *ips, uint32_t depth,
                     int max_depth, const char *indent);
const char *textstack_base(const char *p);

#endif /* PERFSHIM_TEXTSTACK_H */
