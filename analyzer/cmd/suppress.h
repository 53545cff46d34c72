/*
 * suppress.h -- LeakSanitizer-style suppressions: `leak:PATTERN` lines.
 *
 * Contract: analyzer-only. suppress_add_text() parses a suppressions text (a file's content or
 * the app's __lsan_default_suppressions() string): one `TYPE:PATTERN` per line, '#' comments
 * and blank lines ignored, types other than `leak` ignored (LSan files are shared with other
 * sanitizers). A pattern matches like LSan's: '*' matches any run of characters, a leading
 * '^' / trailing '$' anchor it, otherwise it may match anywhere in the name. A leak group is
 * suppressed when a pattern matches the function name, the source file path or the module
 * path of any frame of its call stack. Returns 0, or -PS_E_INVAL with one line in err naming
 * the source and line; -PS_E_NOMEM.
 */
#ifndef PERFSHIM_SUPPRESS_H
#define PERFSHIM_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "analyses/leaks.h"
#include "core/symbols.h"

typedef struct suppress_s {
    char **patterns;
    size_t n, cap;
    size_t *hits; /* groups matched per pattern */
} suppress_t;

int suppress_add_text(suppress_t *S, const char *text, const char *source, char *err,
                      size_t errlen);
int suppress_add_file(suppress_t *S, const char *path, char *err, size_t errlen);
bool suppress_match_pattern(const char *pattern, const char *s);
/* Marks the matching groups of L suppressed. Returns 0 or a negative PS_E_*. */
int suppress_apply(suppress_t *S, leaks_t *L, symbols_t *sym);
void suppress_free(suppress_t *S);

#endif /* PERFSHIM_SUPPRESS_H */
