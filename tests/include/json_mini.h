/*
 * json_mini.h -- a small JSON parser for tests that check the analyzer's JSON output
 * (test-only names, exempt from the module prefix rule).
 *
 * Contract: json_parse() builds a tree from a NUL-terminated text and returns it, or NULL
 * with a one-line message in err (position and what was expected). Strict enough for tests:
 * rejects trailing garbage, bad escapes, unterminated strings and control bytes in strings.
 * Integers that fit are kept exactly in .u (non-negative) / .i; every number also in .d.
 * \u escapes become UTF-8 (surrogate pairs joined). json_free(NULL) is fine.
 */
#ifndef PERFSHIM_JSON_MINI_H
#define PERFSHIM_JSON_MINI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_s json_t;
struct json_s {
    json_type type;
    bool b, is_int;
    uint64_t u;
    int64_t i;
    double d;
    char *s;      /* JSON_STRING */
    json_t **v;   /* JSON_ARRAY / JSON_OBJECT members */
    char **keys;  /* JSON_OBJECT */
    size_t n;
};

json_t *json_parse(const char *text, char *err, size_t errlen);
void json_free(json_t *j);
/* Member of an object (NULL if absent or j is not an object). */
const json_t *json_get(const json_t *j, const char *key);
/* Element i of an array (NULL if out of range or j is not an array). */
const json_t *json_at(const json_t *j, size_t i);
/* Shortcuts: a member's unsigned integer (UINT64_MAX if missing or not one), string (NULL). */
uint64_t json_u64(const json_t *j, const char *key);
const char *json_str_of(const json_t *j, const char *key);

#endif /* PERFSHIM_JSON_MINI_H */
