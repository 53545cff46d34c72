/*
 * tests/unit/text.c -- the text renderer of the document view (analyzer/formats/text.c): one
 * emitter, a new section described once with doc_* calls (a title, labelled values with
 * units, a member for text only and one for data only, a table, stacks), rendered by the text
 * format and by JSON with no other code: each shows its part, and the JSON has none of the
 * presentation (the text-only member is absent, the data-only one present); a section visited
 * twice (doc_hide) lands in the text's place in text and the data's place in JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/doc.h"
#include "core/symbols.h"
#include "formats/json.h"
#include "formats/text.h"
#include "test.h"

static symbols_t *sym;

static void emit_section(doc_t *d)
{
    static const doc_col_t cols[] = {
        {"a", "A", 5, DOC_UNIT_COUNT, "+", NULL},
        {"b", "B", 6, DOC_UNIT_BYTES, NULL, NULL},
        {"r", "R/s", 7, DOC_UNIT_RATE, NULL, "/s"},
    };
    static const uint64_t ips[12] = {0x1000, 0x2000, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    doc_obj(d, NULL);
    doc_title(d, "A NEW SECTION");
    doc_obj(d, "section");
    doc_label(d, "peak", DOC_UNIT_BYTES);
    doc_u64(d, "peak", 1536);
    doc_label(d, "duration", DOC_UNIT_NS);
    doc_u64(d, "duration_ns", 1200);
    doc_label(d, "name", DOC_UNIT_STR);
    doc_str(d, "name", "x");
    doc_u64(d, "data_only", 3); /* no label: data only */
    doc_only(d, DOC_TEXT);
    doc_label(d, "text only", DOC_UNIT_COUNT);
    doc_u64(d, "text_only", 7);
    doc_line(d, "  a line of text");
    doc_only(d, DOC_ALL);
    doc_columns(d, cols, 3, 2000000000);
    doc_list(d, "rows");
    doc_obj(d, NULL);
    doc_u64(d, "a", 1);
    doc_u64(d, "b", 512);
    doc_u64(d, "r", 3000);
    doc_u64(d, "not_a_column", 9);
    doc_end(d);
    doc_obj(d, NULL);
    doc_u64(d, "a", 2);
    doc_null(d, "b");
    doc_u64(d, "r", 0);
    doc_end(d);
    doc_end(d);
    doc_stack(d, "stack", sym, ips, 2, -1);
    doc_indent(d, "    ");
    doc_stack(d, "deep", sym, ips, 12, -1);
    doc_only(d, DOC_DATA);
    doc_stack(d, "empty", sym, ips, 0, -1); /* text says "(no stack)" its own way */
    doc_only(d, DOC_ALL);
    doc_end(d);
    doc_end(d);
}

static char *render(int (*open)(doc_t *, FILE *))
{
    char *text = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&text, &len);
    doc_t d;
    assert_true(open(&d, o) == 0);
    emit_section(&d);
    expect_true(doc_close(&d) == 0);
    fclose(o);
    return text;
}

TEST(text)
{
    char *t = render(text_doc_open);
    expect_str_eq(t, "\nA NEW SECTION\n"
                     "  peak               1.5 KiB\n"
                     "  duration           1.2 us\n"
                     "  name               x\n"
                     "  text only          7\n"
                     "  a line of text\n"
                     "      A      B     R/s\n"
                     "  +   1  512 B 1.5 K/s\n"
                     "  +   2      -  0.0 /s\n"
                     "        0x1000\n        0x2000\n"
                     "    0x1000\n    0x2000\n    0x3\n    0x4\n    0x5\n    0x6\n    0x7\n"
                     "    0x8\n    ... 4 more frames\n");
    free(t);
}

#define FRAME(a) "{\"function\":null,\"file\":null,\"line\":0,\"module\":null,\"address\":\"" a \
                 "\",\"offset\":\"" a "\",\"inlined\":false}"

TEST(json)
{
    char *t = render(json_doc_open);
    expect_str_eq(t, "{\"section\":{\"peak\":1536,\"duration_ns\":1200,\"name\":\"x\","
                     "\"data_only\":3,\"rows\":[{\"a\":1,\"b\":512,\"r\":3000,\"not_a_column\":9},"
                     "{\"a\":2,\"b\":null,\"r\":0}],\"stack\":[" FRAME("0x1000") "," FRAME("0x2000")
                     "],\"deep\":[" FRAME("0x1000") "," FRAME("0x2000") "," FRAME("0x3") ","
                     FRAME("0x4") "," FRAME("0x5") "," FRAME("0x6") "," FRAME("0x7") ","
                     FRAME("0x8") "," FRAME("0x9") "," FRAME("0xa") "," FRAME("0xb") ","
                     FRAME("0xc") "],\"empty\":[]}}\n");
    free(t);
}

/* A section whose place differs: text wants "b" before "a", the data "a" before "b"; the
 * emitter visits "b" twice, hidden from one kind of format each time, and an emitter's own
 * doc_only inside a hidden visit does not show it. */
static void emit_b(doc_t *d)
{
    doc_title(d, "B");
    doc_only(d, DOC_ALL);
    doc_label(d, "b", DOC_UNIT_COUNT);
    doc_u64(d, "b", 2);
    doc_only(d, DOC_ALL);
}

static void emit_two_orders(doc_t *d)
{
    doc_obj(d, NULL);
    doc_hide(d, DOC_DATA);
    emit_b(d);
    doc_hide(d, 0);
    doc_title(d, "A");
    doc_label(d, "a", DOC_UNIT_COUNT);
    doc_u64(d, "a", 1);
    doc_hide(d, DOC_TEXT);
    emit_b(d);
    doc_hide(d, 0);
    doc_end(d);
}

static char *render_with(int (*open)(doc_t *, FILE *), void (*emit)(doc_t *))
{
    char *text = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&text, &len);
    doc_t d;
    assert_true(open(&d, o) == 0);
    emit(&d);
    expect_true(doc_close(&d) == 0);
    fclose(o);
    return text;
}

TEST(two_orders)
{
    char *t = render_with(text_doc_open, emit_two_orders);
    expect_str_eq(t, "\nB\n  b                  2\n\nA\n  a                  1\n");
    free(t);
    t = render_with(json_doc_open, emit_two_orders);
    expect_str_eq(t, "{\"a\":1,\"b\":2}\n");
    free(t);
}

int main(void)
{
    symbols_opts_t so = {.quiet = true};
    if (symbols_open(&sym, NULL, 0, &so) < 0)
        return 1;
    static const test_case tests[] = {TEST_ENTRY(text), TEST_ENTRY(json), TEST_ENTRY(two_orders)};
    int rc = test_run(tests, sizeof tests / sizeof tests[0]);
    symbols_close(sym);
    return rc;
}
