/*
 * jsonw.h -- a JSON writer for the formats that are not the document view (speedscope,
 * chrome-trace): yajl's generator (as formats/json.c) printing to a FILE, strings cleaned
 * by json_utf8_clean (formats/json.h: invalid UTF-8 bytes as \xNN), numbers exact (u64, or a
 * decimal literal).
 *
 * Contract: analyzer-only. jsonw_open() returns 0 or -PS_E_NOMEM; the writing calls keep the
 * first error, which jsonw_close() returns (0 or a negative PS_E_*) after freeing the writer.
 * A key is jsonw_str before its value.
 */
#ifndef PERFSHIM_JSONW_H
#define PERFSHIM_JSONW_H

#include <stdint.h>
#include <stdio.h>

typedef struct jsonw_s jsonw_t;

int jsonw_open(jsonw_t **w, FILE *o);
void jsonw_map(jsonw_t *w);
void jsonw_map_end(jsonw_t *w);
void jsonw_array(jsonw_t *w);
void jsonw_array_end(jsonw_t *w);
void jsonw_str(jsonw_t *w, const char *s); /* NULL: null */
void jsonw_u64(jsonw_t *w, uint64_t v);
/* ns as a number of microseconds with three decimals (Trace Event Format's timestamps). */
void jsonw_us(jsonw_t *w, uint64_t ns);
/* key then value, in one call */
void jsonw_kstr(jsonw_t *w, const char *key, const char *s);
void jsonw_ku64(jsonw_t *w, const char *key, uint64_t v);
int jsonw_close(jsonw_t *w);

#endif /* PERFSHIM_JSONW_H */
