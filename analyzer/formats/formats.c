/* formats.c -- see formats.h: the table is formats.def. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "formats/formats.h"

#include <string.h>

#include "core/doc.h"
#include "core/profile.h"
#include "formats/ci_report.h"
#include "formats/folded.h"
#include "formats/json.h"

/* The table's functions that are not declared by a header (a format that is one file). */
#define X(name, view, commands, fn, help) int fn(void *, FILE *);
#include "formats/formats.def"
#undef X

int json_format(void *view, FILE *o) { return json_doc_open(view, o); }
int folded_format(void *view, FILE *o) { return folded_profile_open(view, o); }
int sarif_format(void *view, FILE *o)
{
    doc_t d;
    int rc = json_doc_open(&d, o);
    if (rc < 0)
        return rc;
    rc = ci_sarif(&d, view);
    int rc2 = doc_close(&d);
    return rc < 0 ? rc : rc2;
}
int junit_format(void *view, FILE *o) { return ci_junit(o, view); }

static const format_t formats[] = {
#define X(name, view, commands, fn, help) {#name, view, commands, fn, help},
#include "formats/formats.def"
#undef X
};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

const format_t *format_find(const char *cmd, unsigned command, const char *name)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if ((formats[i].commands & command) && strcmp(formats[i].name, name) == 0)
            return &formats[i];
    fprintf(stderr, "perfshim: %s: unknown --format '%s' (one of:", cmd, name);
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i].commands & command)
            fprintf(stderr, " %s", formats[i].name);
    fputs(")\n", stderr);
    return NULL;
}

void format_names(FILE *f, unsigned command)
{
    const char *sep = "";
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i].commands & command) {
            fprintf(f, "%s%s", sep, formats[i].name);
            sep = "|";
        }
}

void format_help(FILE *f, unsigned command)
{
    int w = 8; /* the names in one column, as wide as the longest */
    for (size_t i = 0; i < NFORMATS; i++)
        if ((formats[i].commands & command) && (int)strlen(formats[i].name) > w)
            w = (int)strlen(formats[i].name);
    fputs("  --format=NAME              output format:\n", f);
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i].commands & command)
            fprintf(f, "      %-*s %s\n", w, formats[i].name, formats[i].help);
}
