/*
 * tests/unit/json.c -- the JSON renderer of the document view (analyzer/formats/json.c): the
 * string rule (valid UTF-8 kept, every other byte as \xNN: truncated, overlong, surrogate and
 * out-of-range sequences), controls escaped (C0 by yajl, DEL and C1 here), all 64 bits of an
 * integer, the line-break hint, and a nesting error reported, not written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc.h"
#include "json.h"
#include "test.h"

#define CLEAN(lit) clean(lit, sizeof(lit) - 1)

static const char *clean(const char *s, size_t n)
{
    static char buf[256];
    size_t need = json_utf8_clean(s, n, buf, sizeof buf);
    expect_u64_eq(need, strlen(buf));
    return buf;
}

TEST(utf8_rule)
{
    expect_str_eq(CLEAN("d\xc3\xa9/pr\xc3\xb6g"), "d\xc3\xa9/pr\xc3\xb6g"); /* kept */
    expect_str_eq(CLEAN("\xe2\x82\xac \xf0\x9f\x98\x80"), "\xe2\x82\xac \xf0\x9f\x98\x80");
    expect_str_eq(CLEAN("in\xffvalid"), "in\\xffvalid");
    expect_str_eq(CLEAN("\xc3"), "\\xc3");                       /* cut short */
    expect_str_eq(CLEAN("\xe2\x82"), "\\xe2\\x82");
    expect_str_eq(CLEAN("\xc0\xaf"), "\\xc0\\xaf");              /* overlong '/' */
    expect_str_eq(CLEAN("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");     /* overlong */
    expect_str_eq(CLEAN("\xed\xa0\x80"), "\\xed\\xa0\\x80");     /* a surrogate */
    expect_str_eq(CLEAN("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
    expect_str_eq(CLEAN("\x80x"), "\\x80x");                      /* a lone continuation */
    /* too small a buffer: the length needed, nothing past cap */
    char small[4];
    expect_u64_eq(json_utf8_clean("\xff\xff", 2, small, sizeof small), 8);
}

static char *render(void (*emit)(doc_t *), int *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&text, &len);
    doc_t d;
    assert_true(json_doc_open(&d, o) == 0);
    emit(&d);
    *rc = doc_close(&d);
    fclose(o);
    return text;
}

static void emit_all(doc_t *d)
{
    doc_obj(d, NULL);
    doc_u64(d, "max", UINT64_MAX);
    doc_str(d, "s", "q\"b\\n\nt\t\x01\x7f\xc2\x85\xe2\x82\xac\xff");
    doc_str(d, "null", NULL);
    doc_nl(d);
    doc_list(d, "l");
    doc_bool(d, NULL, true);
    doc_num(d, NULL, "0.2500");
    doc_obj(d, NULL);
    doc_end(d);
    doc_end(d);
    doc_u64_or_null(d, "u", false, 7);
    doc_end(d);
}

TEST(document)
{
    int rc;
    char *t = render(emit_all, &rc);
    expect_true(rc == 0);
    expect_str_eq(t, "{\"max\":18446744073709551615,"
                     "\"s\":\"q\\\"b\\\\n\\nt\\t\\u0001\\u007F\\u0085\xe2\x82\xac\\\\xff\","
                     "\"null\":null,\n\"l\":[true,0.2500,{}],\"u\":null}\n");
    free(t);
}

static void emit_unbalanced(doc_t *d)
{
    doc_obj(d, NULL);
    doc_end(d);
    doc_end(d); /* one close too many */
    doc_u64(d, "after", 1);
}

TEST(nesting_error)
{
    int rc;
    char *t = render(emit_unbalanced, &rc);
    expect_true(rc < 0);
    expect_str_eq(t, "{}\n");
    free(t);
}

TEST_MAIN(TEST_ENTRY(utf8_rule), TEST_ENTRY(document), TEST_ENTRY(nesting_error))
