/*
 * tests/unit/safeout.c -- the terminal filter (analyzer/safeout.c): which bytes are escaped
 * and which are kept, C1 controls in UTF-8 across the escape, and text passed through as is.
 */
#include <string.h>

#include "safeout.h"
#include "test.h"

static const char *esc(const char *s, size_t n)
{
    static char buf[512];
    safeout_escape(buf, sizeof buf, s, n);
    return buf;
}

TEST(controls_escaped)
{
    expect_str_eq(esc("a\x1b[31mb", 7), "a\\x1b[31mb");
    expect_str_eq(esc("\r\x07\x08\x7f", 4), "\\x0d\\x07\\x08\\x7f");
    expect_str_eq(esc("x\0y", 3), "x\\x00y");
    /* a UTF-8 C1 control (U+009B, CSI) is escaped, both bytes */
    expect_str_eq(esc("\xc2\x9b" "2J", 4), "\\xc2\\x9b2J");
}

TEST(text_kept)
{
    expect_str_eq(esc("line\n\tnext", 10), "line\n\tnext");
    /* UTF-8 that is not a control: kept, also with 0xc2 as its lead byte */
    expect_str_eq(esc("caf\xc3\xa9 \xc2\xa9", 8), "caf\xc3\xa9 \xc2\xa9");
    /* a lone 0xc2 at the end is kept */
    expect_str_eq(esc("a\xc2", 2), "a\xc2");
    /* long input: only the control in the middle changes */
    char big[300];
    memset(big, 'a', sizeof big);
    big[150] = 0x1b;
    const char *o = esc(big, sizeof big);
    expect_u64_eq(strlen(o), 303);
    expect_true(!strncmp(o + 150, "\\x1b", 4));
}

TEST_MAIN(TEST_ENTRY(controls_escaped), TEST_ENTRY(text_kept))
