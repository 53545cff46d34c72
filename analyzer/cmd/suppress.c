/* suppress.c -- see suppress.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cmd/suppress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/infile.h"
#include "perfshim/errors.h"

/* '*' wildcard match of p against the whole of s (iterative, with one backtrack point). */
static bool glob_full(const char *p, const char *pe, const char *s, const char *se)
{
    const char *star = NULL, *ss = NULL;
    while (s < se) {
        if (p < pe && *p == '*') {
            star = p++;
            ss = s;
        } else if (p < pe && *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++ss;
        } else {
            return false;
        }
    }
    while (p < pe && *p == '*')
        p++;
    return p == pe;
}

bool suppress_match_pattern(const char *pattern, const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(pattern);
    bool start = n && pattern[0] == '^', end = n > (size_t)start && pattern[n - 1] == '$';
    const char *p = pattern + start, *pe = pattern + n - end;
    const char *se = s + strlen(s);
    /* unanchored ends behave as if the pattern began / ended with '*' */
    if (start && end)
        return glob_full(p, pe, s, se);
    for (const char *from = s; from <= se; from++) {
        if (end) {
            if (glob_full(p, pe, from, se))
                return true;
        } else {
            for (const char *to = se; to >= from; to--)
                if (glob_full(p, pe, from, to))
                    return true;
        }
        if (start)
            break;
    }
    return false;
}

static int suppress_push(suppress_t *S, const char *p, size_t len)
{
    if (S->n == S->cap) {
        size_t cap = S->cap ? S->cap * 2 : 16;
        char **v = realloc(S->patterns, cap * sizeof(*v));
        if (!v)
            return -PS_E_NOMEM;
        S->patterns = v;
        size_t *h = realloc(S->hits, cap * sizeof(*h));
        if (!h)
            return -PS_E_NOMEM;
        S->hits = h;
        S->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c)
        return -PS_E_NOMEM;
    memcpy(c, p, len);
    c[len] = 0;
    S->hits[S->n] = 0;
    S->patterns[S->n++] = c;
    return 0;
}

int suppress_add_text(suppress_t *S, const char *text, const char *source, char *err,
                      size_t errlen)
{
    unsigned line = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        line++;
        const char *b = p, *t = p + len;
        while (b < t && (*b == ' ' || *b == '\t'))
            b++;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r'))
            t--;
        p = e ? e + 1 : p + len;
        if (b == t || *b == '#')
            continue;
        const char *colon = memchr(b, ':', (size_t)(t - b));
        if (!colon || colon == b || colon + 1 == t) {
            snprintf(err, errlen, "%s:%u: not a TYPE:PATTERN suppression: %.*s", source, line,
                     (int)(t - b), b);
            return -PS_E_INVAL;
        }
        if ((size_t)(colon - b) != 4 || memcmp(b, "leak", 4))
            continue; /* another sanitizer's */
        int rc = suppress_push(S, colon + 1, (size_t)(t - colon - 1));
        if (rc < 0) {
            snprintf(err, errlen, "%s", ps_strerror(rc));
            return rc;
        }
    }
    return 0;
}

int suppress_add_file(suppress_t *S, const char *path, char *err, size_t errlen)
{
    FILE *f = infile_fopen(path, err, errlen); /* a FIFO would block: regular files only */
    if (!f)
        return -PS_E_OPEN;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (n + 2 > cap) {
            if (cap >= (16u << 20)) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: larger than 16 MiB", path);
                return -PS_E_LIMIT;
            }
            cap = cap ? cap * 2 : 4096;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: %s", path, ps_strerror(PS_E_NOMEM));
                return -PS_E_NOMEM;
            }
            buf = b;
        }
        if (c == 0) {
            free(buf);
            fclose(f);
            snprintf(err, errlen, "%s: not a text file", path);
            return -PS_E_INVAL;
        }
        buf[n++] = (char)c;
    }
    fclose(f);
    if (!buf)
        return 0;
    buf[n] = 0;
    int rc = suppress_add_text(S, buf, path, err, errlen);
    free(buf);
    return rc;
}

int suppress_apply(suppress_t *S, leaks_t *L, symbols_t *sym)
{
    for (size_t g = 0; g < L->ngroups; g++) {
        leak_group_t *lg = &L->groups[g];
        for (uint32_t i = 0; i < lg->depth && !lg->suppressed; i++) {
            const sym_frame_t *fr;
            unsigned nf;
            int rc = symbols_frames(sym, lg->ips[i], &fr, &nf);
            if (rc < 0)
                return rc;
            for (unsigned j = 0; j < nf && !lg->suppressed; j++) { /* inlined frames too */
                const sym_frame_t *f = &fr[j];
                for (size_t k = 0; k < S->n; k++) {
                    const char *pat = S->patterns[k];
                    if (suppress_match_pattern(pat, f->function) ||
                        suppress_match_pattern(pat, f->file) ||
                        suppress_match_pattern(pat, f->module)) {
                        lg->suppressed = true;
                        S->hits[k]++;
                        break;
                    }
                }
            }
        }
    }
    return 0;
}

void suppress_free(suppress_t *S)
{
    for (size_t i = 0; i < S->n; i++)
        free(S->patterns[i]);
    free(S->patterns);
    free(S->hits);
    memset(S, 0, sizeof(*S));
}
