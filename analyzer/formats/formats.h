/*
 * formats.h -- the table of output formats (formats/formats.def) and the lookups the commands
 * make in it: which formats a command accepts, which view each renders, how to open it.
 *
 * Contract: analyzer-only. format_find() returns the entry named `name` that the command
 * (FORMAT_REPORT, FORMAT_CHECK, FORMAT_LOCKS, FORMAT_DIFF or FORMAT_REPLAY) accepts, or NULL
 * after one line on stderr,
 * "perfshim: CMD: unknown --format 'NAME' (one of: ...)". format_help() writes the --format
 * lines of the command's --help from the table. An entry's open() fills the view the entry
 * names (a doc_t, a profile_t, a format_page_t) or, for FORMAT_FINDINGS, writes the findings_t
 * given as view (core/findings.h); it returns 0 or a negative PS_E_*.
 */
#ifndef PERFSHIM_FORMATS_H
#define PERFSHIM_FORMATS_H

#include <stdio.h>

#include "core/doc.h"
#include "core/profile.h"

enum format_view { FORMAT_TEXT, FORMAT_DOC, FORMAT_PROFILE, FORMAT_FINDINGS, FORMAT_PAGE };
enum { FORMAT_REPORT = 1, FORMAT_CHECK = 2, FORMAT_LOCKS = 4, FORMAT_DIFF = 8, FORMAT_REPLAY = 16 };

/* FORMAT_PAGE (a page of both views, formats/html.c): open() fills both; the command writes
 * the document and closes it (doc_close), then writes the profile and closes it
 * (profile_close), which writes the page: always in this order, also after an error. */
typedef struct format_page_s {
    doc_t doc;
    profile_t profile;
} format_page_t;

typedef struct format_s {
    const char *name;
    enum format_view view;
    unsigned commands;
    int (*open)(void *view, FILE *o);
    const char *help;
} format_t;

const format_t *format_find(const char *cmd, unsigned command, const char *name);
void format_help(FILE *f, unsigned command);
/* The names of the formats a command accepts, "text|json|...", in table order. */
void format_names(FILE *f, unsigned command);

#endif /* PERFSHIM_FORMATS_H */
