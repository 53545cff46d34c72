/*
 * suppressions -- fuzz target: the LeakSanitizer-style suppressions parser and its pattern
 * matcher (analyzer/suppress.c) on arbitrary text: every parsed pattern is matched against
 * a few names and against the input itself (a worst case for '*' backtracking).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "suppress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    static const char *const names[] = {"main", "/usr/src/app/leak.c", "/usr/lib/libfoo.so.1",
                                        "", "operator new(unsigned long)", "aaaaaaaaaaaaaaaaaaab"};
    suppress_t S = {0};
    char err[256];
    (void)suppress_add_text(&S, text, "fuzz", err, sizeof err);
    for (size_t k = 0; k < S.n; k++) {
        for (size_t j = 0; j < sizeof(names) / sizeof(names[0]); j++)
            (void)suppress_match_pattern(S.patterns[k], names[j]);
        (void)suppress_match_pattern(S.patterns[k], text);
    }
    (void)suppress_match_pattern(text, text);
    suppress_free(&S);
    free(text);
    static int fifo_done;
    if (!fifo_done++) { /* a FIFO is refused, and did not block */
        if (suppress_add_file(&S, fuzz_fifo(), err, sizeof err) == 0)
            abort();
        suppress_free(&S);
    }
    return 0;
}
