/* folded.c -- see folded.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "formats/folded.h"

#include <inttypes.h>
#include <string.h>

static void folded_name(FILE *o, const sym_frame_t *f)
{
    char buf[64];
    const char *s = f->function;
    if (!s) {
        if (f->module_name)
            snprintf(buf, sizeof(buf), "+0x%" PRIx64, f->offset);
        else
            snprintf(buf, sizeof(buf), "0x%" PRIx64, f->address);
        if (f->module_name)
            for (const char *p = f->module_name; *p; p++)
                fputc(*p == ';' || *p == ' ' ? '_' : *p, o);
        s = buf;
    }
    for (; *s; s++)
        fputc(*s == ';' || *s == ' ' ? '_' : *s, o);
}

static int folded_sample(void *ctx, const sym_frame_t *fr, size_t n, const uint64_t *values,
                         size_t select)
{
    FILE *o = ctx;
    uint64_t v = values[select];
    if (!v)
        return 0;
    if (!n)
        fputs("[no stack]", o);
    for (size_t k = n; k-- > 0;) { /* root first */
        folded_name(o, &fr[k]);
        if (k)
            fputc(';', o);
    }
    fprintf(o, " %" PRIu64 "\n", v);
    return 0;
}

static int folded_finish(void *ctx)
{
    (void)ctx;
    return 0;
}

static const profile_ops_t folded_ops = {.sample = folded_sample, .finish = folded_finish};

int folded_profile_open(profile_t *p, FILE *o)
{
    memset(p, 0, sizeof(*p));
    p->ops = &folded_ops;
    p->ctx = o;
    return 0;
}
