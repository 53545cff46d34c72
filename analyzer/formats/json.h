/*
 * json.h -- the JSON renderer of the document view (core/doc.h), written with yajl's streaming
 * generator (Debian libyajl-dev; chosen by measurement, docs/performance.md), and the string
 * rule every JSON output of perfshim follows (docs/json-schema.md "Strings").
 *
 * Contract: analyzer-only. json_doc_open() starts a document on o (compact, a newline where the
 * emitter hints one and at the end); it returns 0 or -PS_E_NOMEM. json_utf8_clean() copies s
 * into buf (cap bytes, NUL included), keeping valid UTF-8 sequences as they are and writing
 * each byte that is not part of one as the four characters \xNN (NN two lower-case hex
 * digits); returns the length written, or the length needed when it does not fit. Control
 * characters are left to the generator, which escapes them (\n, \t, \u00XX).
 */
#ifndef PERFSHIM_JSON_H
#define PERFSHIM_JSON_H

#include <stddef.h>
#include <stdio.h>

#include "core/doc.h"

int json_doc_open(doc_t *d, FILE *o);
size_t json_utf8_clean(const char *s, size_t len, char *buf, size_t cap);

#endif /* PERFSHIM_JSON_H */
