/* ci_report.c -- see ci_report.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "ci_report.h"

#include <inttypes.h>
#include <string.h>

#include "jsonout.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

/* ---- SARIF 2.1.0 --------------------------------------------------------------------- */

/* A source path as a URI reference: absolute paths get file://, and every byte outside
 * RFC 3986's unreserved set and '/' is percent-encoded. */
static void sarif_uri(FILE *o, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    fputc('"', o);
    if (path[0] == '/')
        fputs("file://", o);
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p))
            fputc(*p, o);
        else
            fprintf(o, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
    fputc('"', o);
}

static const char *const sarif_rules[][2] = {
    {"perfshim/leak-definite", "Memory definitely lost: no pointer to the block remains"},
    {"perfshim/leak-indirect", "Memory indirectly lost: only lost blocks point to it"},
    {"perfshim/leak-reachable", "Memory still reachable at exit, never freed"},
    {"perfshim/budget", "A perfshim check budget against the baseline was exceeded"},
};

int ci_sarif(FILE *o, const check_result_t *r)
{
    fputs("{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\","
          "\"runs\":[{\"tool\":{\"driver\":{\"name\":\"perfshim\",\"version\":\"" PACKAGE_VERSION
          "\",\"informationUri\":\"https://example.invalid/perfshim\",\"rules\":[",
          o);
    for (size_t i = 0; i < sizeof(sarif_rules) / sizeof(sarif_rules[0]); i++) {
        fprintf(o, "%s{\"id\":\"%s\",\"shortDescription\":{\"text\":\"%s\"}}", i ? "," : "",
                sarif_rules[i][0], sarif_rules[i][1]);
    }
    fputs("]}},\"results\":[", o);
    size_t n = 0;
    for (size_t i = 0; i < r->nleaks; i++) {
        const check_leak_t *l = &r->leaks[i];
        const char *fn = NULL;
        sym_frame_t loc = {0};
        bool have_loc = false;
        for (uint32_t k = 0; k < l->g->depth; k++) {
            sym_frame_t f;
            int rc = symbols_lookup(l->t->sym, l->g->ips[k], &f);
            if (rc < 0)
                return rc;
            if (!fn)
                fn = f.function;
            if (f.file && f.line) {
                loc = f;
                have_loc = true;
                break;
            }
        }
        char msg[512];
        snprintf(msg, sizeof msg, "%" PRIu64 " bytes in %" PRIu64 " blocks %s lost, allocated in %s",
                 l->g->bytes, l->g->blocks,
                 l->g->kind == PS_LEAK_DEFINITE   ? "definitely"
                 : l->g->kind == PS_LEAK_INDIRECT ? "indirectly"
                                                  : "never freed (reachable at exit), not",
                 fn ? fn : "an unknown function");
        int rule = l->g->kind - PS_LEAK_DEFINITE;
        fprintf(o, "%s\n{\"ruleId\":\"%s\",\"ruleIndex\":%d,\"level\":\"%s\",\"message\":{\"text\":",
                n++ ? "," : "", sarif_rules[rule][0], rule,
                l->g->kind == PS_LEAK_REACHABLE ? "warning" : "error");
        jsonout_str(o, msg);
        fprintf(o, "},\"properties\":{\"blocks\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", l->g->blocks,
                l->g->bytes);
        if (have_loc) {
            fputs(",\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":", o);
            sarif_uri(o, loc.file);
            fprintf(o, "},\"region\":{\"startLine\":%" PRIu32 "}}", loc.line);
            if (loc.function) {
                fputs(",\"logicalLocations\":[{\"name\":", o);
                jsonout_str(o, loc.function);
                fputs(",\"kind\":\"function\"}]", o);
            }
            fputs("}]", o);
        }
        fputc('}', o);
    }
    for (size_t i = 0; i < r->nbudgets; i++) {
        const check_budget_t *b = &r->budgets[i];
        if (!b->failed || strncmp(b->name, "max-growth", 10))
            continue;
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %" PRIu64 " %s, limit %" PRIu64 ": exceeded by %" PRIu64,
                 b->name, b->value, b->what, b->limit, b->value - b->limit);
        fprintf(o, "%s\n{\"ruleId\":\"%s\",\"ruleIndex\":3,\"level\":\"error\",\"message\":{\"text\":",
                n++ ? "," : "", sarif_rules[3][0]);
        jsonout_str(o, msg);
        fputs("}}", o);
    }
    fputs("]}]}\n", o);
    return 0;
}

/* ---- JUnit XML ----------------------------------------------------------------------- */

static void xml_str(FILE *o, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '<': fputs("&lt;", o); break;
        case '>': fputs("&gt;", o); break;
        case '&': fputs("&amp;", o); break;
        case '"': fputs("&quot;", o); break;
        case '\'': fputs("&apos;", o); break;
        default:
            if (*p < 0x20 && *p != '\n' && *p != '\t')
                fputc('?', o); /* not allowed in XML 1.0 */
            else if (*p >= 0x80)
                fputc('?', o); /* the file says UTF-8; symbol bytes need not be */
            else
                fputc(*p, o);
        }
    }
}

int ci_junit(FILE *o, const check_result_t *r)
{
    fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<testsuites name=\"perfshim check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n"
               "  <testsuite name=\"perfshim check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
               "skipped=\"0\">\n",
            r->nbudgets, r->nfailed, r->nbudgets, r->nfailed);
    for (size_t i = 0; i < r->nbudgets; i++) {
        const check_budget_t *b = &r->budgets[i];
        fputs("    <testcase classname=\"perfshim.check\" name=\"", o);
        xml_str(o, b->name);
        if (!b->failed) {
            fputs("\"/>\n", o);
            continue;
        }
        char msg[512];
        snprintf(msg, sizeof msg, "%" PRIu64 " %s, limit %" PRIu64 ": exceeded by %" PRIu64 " %s",
                 b->value, b->what, b->limit, b->value - b->limit, b->unit);
        fputs("\">\n      <failure message=\"", o);
        xml_str(o, msg);
        fputs("\" type=\"budget\">", o);
        xml_str(o, msg);
        if (!strncmp(b->name, "max-leaked", 10)) {
            for (size_t k = 0; k < r->nleaks && k < (size_t)r->top; k++) {
                const check_leak_t *l = &r->leaks[k];
                sym_frame_t f = {0};
                if (l->g->depth) {
                    int rc = symbols_lookup(l->t->sym, l->g->ips[0], &f);
                    if (rc < 0)
                        return rc;
                }
                char line[512];
                snprintf(line, sizeof line, "\n#%zu %s: %" PRIu64 " blocks, %" PRIu64 " bytes at %s",
                         k + 1, leaks_kind_name(l->g->kind), l->g->blocks, l->g->bytes,
                         f.function ? f.function : "?");
                xml_str(o, line);
                if (f.file) {
                    snprintf(line, sizeof line, " (%s:%" PRIu32 ")", jsonout_base(f.file), f.line);
                    xml_str(o, line);
                }
            }
        }
        fputs("</failure>\n    </testcase>\n", o);
    }
    fputs("  </testsuite>\n</testsuites>\n", o);
    return 0;
}
