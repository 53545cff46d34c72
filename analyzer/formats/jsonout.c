/* jsonout.c -- see jsonout.h. The formats match report.c's, frame for frame. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "formats/jsonout.h"

#include "analyses/callsite.h"

#include <inttypes.h>
#include <string.h>

void jsonout_str(FILE *o, const char *s)
{
    if (!s) {
        fputs("null", o);
        return;
    }
    fputc('"', o);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", o); break;
        case '\\': fputs("\\\\", o); break;
        case '\n': fputs("\\n", o); break;
        case '\t': fputs("\\t", o); break;
        case '\r': fputs("\\r", o); break;
        default:
            if (*p < 0x20 || *p >= 0x7f)
                fprintf(o, "\\u%04x", *p);
            else
                fputc(*p, o);
        }
    }
    fputc('"', o);
}

const char *jsonout_base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int jsonout_expand(symbols_t *sym, const uint64_t *ips, uint32_t depth, int limit,
                   sym_frame_t *buf, size_t *n, size_t *total)
{
    size_t cap = JSONOUT_MAX_FRAMES;
    if (limit >= 0 && (size_t)limit < cap)
        cap = (size_t)limit;
    *n = *total = 0;
    for (uint32_t i = 0; i < depth; i++) {
        const sym_frame_t *f;
        unsigned k;
        int rc = symbols_frames(sym, ips[i], &f, &k);
        if (rc < 0)
            return rc;
        for (unsigned j = 0; j < k; j++, (*total)++)
            if (*n < cap)
                buf[(*n)++] = f[j];
    }
    return 0;
}

int jsonout_frames(FILE *o, symbols_t *sym, const uint64_t *ips, uint32_t depth, int max_depth)
{
    sym_frame_t fr[JSONOUT_MAX_FRAMES];
    size_t n, total;
    int rc = jsonout_expand(sym, ips, depth, max_depth, fr, &n, &total);
    if (rc < 0)
        return rc;
    fputc('[', o);
    for (size_t i = 0; i < n; i++) {
        const sym_frame_t *f = &fr[i];
        fputs(i ? ",{\"function\":" : "{\"function\":", o);
        jsonout_str(o, f->function);
        fputs(",\"file\":", o);
        jsonout_str(o, f->file);
        fprintf(o, ",\"line\":%" PRIu32 ",\"module\":", f->line);
        jsonout_str(o, f->module);
        fprintf(o, ",\"address\":\"0x%" PRIx64 "\",\"offset\":\"0x%" PRIx64 "\",\"inlined\":%s}",
                f->address, f->module ? f->offset : f->address, f->inlined ? "true" : "false");
    }
    fputc(']', o);
    return 0;
}

int jsonout_text_frames(FILE *o, symbols_t *sym, const uint64_t *ips, uint32_t depth,
                        int max_depth, const char *indent)
{
    if (!depth)
        fprintf(o, "%s[no stack recorded]\n", indent);
    sym_frame_t fr[JSONOUT_MAX_FRAMES];
    size_t n, total;
    /* all frames: with folding, max_depth counts the frames shown, not those folded */
    int rc = jsonout_expand(sym, ips, depth, -1, fr, &n, &total);
    if (rc < 0)
        return rc;
    bool fold = !symbols_options(sym)->show_std_frames;
    size_t shown = 0, folded = 0, i = 0;
    for (; i < n && (max_depth < 0 || shown < (size_t)max_depth); i++) {
        const sym_frame_t *f = &fr[i];
        if (fold && callsite_is_std_frame(f)) {
            folded++;
            continue;
        }
        if (folded)
            fprintf(o, "%s[%zu C++ standard library frame%s folded]\n", indent, folded,
                    folded == 1 ? "" : "s");
        folded = 0;
        shown++;
        fputs(indent, o);
        if (f->function)
            fputs(f->function, o);
        else if (f->module_name)
            fprintf(o, "%s+0x%" PRIx64, f->module_name, f->offset);
        else
            fprintf(o, "0x%" PRIx64, f->address);
        if (f->file)
            fprintf(o, " (%s:%" PRIu32 ")", jsonout_base(f->file), f->line);
        else if (f->function && f->module_name)
            fprintf(o, " (%s+0x%" PRIx64 ")", f->module_name, f->offset);
        if (f->inlined)
            fputs(" [inlined]", o);
        fputc('\n', o);
    }
    if (folded && i == total)
        fprintf(o, "%s[%zu C++ standard library frame%s folded]\n", indent, folded,
                folded == 1 ? "" : "s");
    else if (i < total)
        fprintf(o, "%s... %zu more frames\n", indent, total - i + folded);
    return 0;
}
