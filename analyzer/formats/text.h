/*
 * text.h -- the text format (`--format=text`, formats/formats.def): a renderer of the document
 * view (core/doc.h) that writes what a person reads. It shows what the emitters' presentation
 * says (titles, text-only lines, labelled values, tables, stacks) and nothing else of the
 * values: a member without a label or a column is data only.
 *
 * Contract: analyzer-only. text_doc_open() opens the renderer on d, writing to o (0 or
 * -PS_E_NOMEM); text_format() is the table's entry (view: a doc_t). Stacks (text_frames, also
 * the renderer's doc_stack): one line per expanded frame (inlined frames first for each
 * return address, doc_expand), each prefixed by indent: the function (C++ names shortened by
 * core/cxxname.h unless the symbols' options say full_names), else MODULE+0xOFFSET, else the
 * address; " (file:line)" or " (MODULE+0xOFFSET)"; " [inlined]". Unless the symbols' options
 * say show_std_frames, runs of library frames (callsite_is_library_frame: C++ standard
 * library, C library, loader, allocator, shim) are folded into one "… N library frames" line
 * and max_depth (< 0: all) counts the user frames shown; "... N more frames" ends a cut
 * stack, "[no stack recorded]" stands
 * for an empty one. In the renderer max_depth < 0 is TEXT_DEPTH. Returns 0 or a negative
 * PS_E_* from symbolization. text_base() returns the last path component of p.
 */
#ifndef PERFSHIM_TEXT_H
#define PERFSHIM_TEXT_H

#include <stdint.h>
#include <stdio.h>

#include "core/doc.h"
#include "core/symbols.h"

#define TEXT_DEPTH 8 /* frames per stack in text unless --stack-depth says */

int text_doc_open(doc_t *d, FILE *o);
int text_format(void *view, FILE *o);
int text_frames(FILE *o, symbols_t *sym, const uint64_t *ips, uint32_t depth, int max_depth,
                const char *indent);
const char *text_base(const char *p);

#endif /* PERFSHIM_TEXT_H */
