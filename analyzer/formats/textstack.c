/* textstack.c -- see textstack.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "formats/textstack.h"

#include "core/doc.h"

#include "analyses/callsite.h"

#include <inttypes.h>
#include <string.h>

const char *textstack_base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int textstack_frames(FILE *o, symbols_t *sym, const uint64_t *ips, uint32_t depth,
                        int max_depth, const char *indent)
{
    if (!depth)
        fprintf(o, "%s[no stack recorded]\n", indent);
    sym_frame_t fr[DOC_MAX_FRAMES];
    size_t n, total;
    /* all frames: with folding, max_depth counts the frames shown, not those folded */
    int rc = doc_expand(sym, ips, depth, -1, fr, &n, &total);
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
            fprintf(o, " (%s:%" PRIu32 ")", textstack_base(f->file), f->line);
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
