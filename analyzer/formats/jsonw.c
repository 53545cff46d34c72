/* jsonw.c -- see jsonw.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "formats/jsonw.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "formats/json.h"
#include "perfshim/errors.h"

struct jsonw_s {
    yajl_gen g;
    FILE *o;
    int err;
    char *buf; /* json_utf8_clean's output */
    size_t cap;
};

static void jsonw_print(void *ctx, const char *s, size_t len)
{
    jsonw_t *w = ctx;
    fwrite(s, 1, len, w->o);
}

static void jsonw_rc(jsonw_t *w, yajl_gen_status st)
{
    if (st != yajl_gen_status_ok && !w->err)
        w->err = st == yajl_gen_in_error_state ? -PS_E_NOMEM : -PS_E_INVAL;
}

int jsonw_open(jsonw_t **out, FILE *o)
{
    jsonw_t *w = calloc(1, sizeof *w);
    if (!w || !(w->buf = malloc(w->cap = 256)) || !(w->g = yajl_gen_alloc(NULL))) {
        if (w)
            free(w->buf);
        free(w);
        return -PS_E_NOMEM;
    }
    w->o = o;
    yajl_gen_config(w->g, yajl_gen_print_callback, jsonw_print, w);
    *out = w;
    return 0;
}

void jsonw_map(jsonw_t *w) { jsonw_rc(w, yajl_gen_map_open(w->g)); }
void jsonw_map_end(jsonw_t *w) { jsonw_rc(w, yajl_gen_map_close(w->g)); }
void jsonw_array(jsonw_t *w) { jsonw_rc(w, yajl_gen_array_open(w->g)); }
void jsonw_array_end(jsonw_t *w) { jsonw_rc(w, yajl_gen_array_close(w->g)); }

void jsonw_str(jsonw_t *w, const char *s)
{
    if (!s) {
        jsonw_rc(w, yajl_gen_null(w->g));
        return;
    }
    size_t len = strlen(s), need = json_utf8_clean(s, len, w->buf, w->cap);
    if (need >= w->cap) {
        char *b = realloc(w->buf, need + 1);
        if (!b) {
            if (!w->err)
                w->err = -PS_E_NOMEM;
            return;
        }
        w->buf = b;
        w->cap = need + 1;
        json_utf8_clean(s, len, w->buf, w->cap);
    }
    jsonw_rc(w, yajl_gen_string(w->g, (const unsigned char *)w->buf, need));
}

void jsonw_u64(jsonw_t *w, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRIu64, v);
    jsonw_rc(w, yajl_gen_number(w->g, b, (size_t)n));
}

void jsonw_us(jsonw_t *w, uint64_t ns)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
    jsonw_rc(w, yajl_gen_number(w->g, b, (size_t)n));
}

void jsonw_kstr(jsonw_t *w, const char *key, const char *s)
{
    jsonw_str(w, key);
    jsonw_str(w, s);
}

void jsonw_ku64(jsonw_t *w, const char *key, uint64_t v)
{
    jsonw_str(w, key);
    jsonw_u64(w, v);
}

int jsonw_close(jsonw_t *w)
{
    int rc = w->err;
    if (rc == 0)
        fputc('\n', w->o);
    yajl_gen_free(w->g);
    free(w->buf);
    free(w);
    return rc;
}
