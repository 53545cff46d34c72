/* ci_report.c -- see ci_report.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "formats/ci_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "perfshim/errors.h"

#include "formats/text.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

/* ---- SARIF 2.1.0 --------------------------------------------------------------------- */

#define SARIF_ROOT_ID "SRCROOT" /* the uriBaseId of --source-root */

/* Appends path to out (cap bytes, NUL included; cut short when full) as a URI reference:
 * every byte outside RFC 3986's unreserved set and '/' is percent-encoded. */
static void sarif_uri_bytes(char *out, size_t cap, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    for (const unsigned char *p = (const unsigned char *)path; *p && n + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}

/* path with "." and ".." segments and repeated '/' removed, lexically (the file may not
 * exist here: DWARF names it as the compiler saw it, e.g. /src/build/../lib/x.c). */
static void sarif_normalize(const char *path, char *out, size_t cap)
{
    size_t n = 0, root = *path == '/'; /* out[0..root) is the leading '/' */
    if (root)
        out[n++] = '/';
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (!len)
            break;
        size_t seg = n; /* where the last segment written starts */
        while (seg > root && out[seg - 1] != '/')
            seg--;
        bool dotdot = len == 2 && p[0] == '.' && p[1] == '.';
        bool last_dotdot = n - seg == 2 && out[seg] == '.' && out[seg + 1] == '.';
        if (len == 1 && p[0] == '.') {
            /* "." : nothing */
        } else if (dotdot && n > root && !last_dotdot) {
            n = seg > root ? seg - 1 : root; /* drop the last segment and its '/' */
        } else if (dotdot && root) {
            /* "/.." is "/" */
        } else if (n + len + 2 < cap) {
            if (n > root)
                out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
    }
    out[n] = '\0';
}

/* The artifactLocation of a source file: relative to --source-root (uriBaseId SRCROOT) when
 * it lies under it, else an absolute file:// URI (or the path as DWARF gave it). */
static void sarif_artifact(doc_t *d, const char *file, const char *root)
{
    char norm[4096], uri[3 * 4096 + 16] = "";
    sarif_normalize(file, norm, sizeof norm);
    size_t rl = root ? strlen(root) : 0;
    doc_obj(d, "artifactLocation");
    if (root && norm[0] == '/' && !strncmp(norm, root, rl) && (norm[rl] == '/' || rl == 1)) {
        sarif_uri_bytes(uri, sizeof uri, norm + rl + (rl > 1));
        doc_str(d, "uri", uri);
        doc_str(d, "uriBaseId", SARIF_ROOT_ID);
    } else {
        if (norm[0] == '/')
            strcpy(uri, "file://");
        sarif_uri_bytes(uri, sizeof uri, norm[0] ? norm : file);
        doc_str(d, "uri", uri);
    }
    doc_end(d);
}

/* X(id, name, level, short description, help text) -- the rules, one per leak kind and one for
 * a baseline budget, in ruleIndex order (ps_leak_kind - PS_LEAK_DEFINITE, then the budget). */
#define SARIF_RULES(X)                                                                         \
    X("perfshim/leak-definite", "DefinitelyLostMemory", "error",                               \
      "Memory definitely lost: no pointer to the block remains",                               \
      "A block allocated here was still allocated when the program exited and no pointer to "  \
      "it was found in the program's memory (LeakSanitizer's 'direct leak', valgrind's "       \
      "'definitely lost'). Free it on every path, or give it an owner (RAII, a pool). If it "  \
      "is intentional, suppress it: `perfshim check --gen-suppressions FILE` writes "          \
      "LSan-syntax `leak:FUNCTION` lines for `--suppressions FILE`; see perfshim(1).")         \
    X("perfshim/leak-indirect", "IndirectlyLostMemory", "error",                               \
      "Memory indirectly lost: only lost blocks point to it",                                  \
      "A block allocated here is reachable only from blocks that are themselves lost: fixing " \
      "the definite leak that owns it fixes this one too (LeakSanitizer's 'indirect leak').")  \
    X("perfshim/leak-reachable", "StillReachableMemory", "warning",                            \
      "Memory still reachable at exit, never freed",                                           \
      "A block allocated here was never freed but a pointer to it remained at exit (a "        \
      "global cache, a singleton). Counted only with --leak-kinds=reachable.")                 \
    X("perfshim/budget", "BudgetExceeded", "error",                                            \
      "A perfshim check budget against the baseline was exceeded",                             \
      "Peak heap, bytes allocated or allocation count grew beyond --max-growth over the "      \
      "--baseline report. Compare the two reports' top sites to find the growth.")

static const char *const sarif_rule_ids[] = {
#define X(id, name, level, sd, help) id,
    SARIF_RULES(X)
#undef X
};

const char *ci_rule_id(int index)
{
    return sarif_rule_ids[index];
}

static const char *const sarif_rules[][5] = {
#define X(id, name, level, sd, help) {id, name, level, sd, help},
    SARIF_RULES(X)
#undef X
};

static void sarif_text(doc_t *d, const char *key, const char *text)
{
    doc_obj(d, key);
    doc_str(d, "text", text);
    doc_end(d);
}

int ci_sarif(doc_t *d, const findings_t *r)
{
    doc_obj(d, NULL);
    doc_str(d, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
    doc_str(d, "version", "2.1.0");
    doc_list(d, "runs");
    doc_obj(d, NULL);
    doc_obj(d, "tool");
    doc_obj(d, "driver");
    doc_str(d, "name", "perfshim");
    doc_str(d, "version", PACKAGE_VERSION);
    doc_str(d, "semanticVersion", PACKAGE_VERSION);
    /* informationUri is optional in SARIF 2.1.0 and must be a real URI: the project's URL
     * given to configure (AC_INIT), else none rather than a placeholder. */
#ifdef PACKAGE_URL
    if (PACKAGE_URL[0])
        doc_str(d, "informationUri", PACKAGE_URL);
#endif
    doc_list(d, "rules");
    for (size_t i = 0; i < sizeof sarif_rules / sizeof sarif_rules[0]; i++) {
        const char *const *rule = sarif_rules[i];
        doc_obj(d, NULL);
        doc_str(d, "id", rule[0]);
        doc_str(d, "name", rule[1]);
        sarif_text(d, "shortDescription", rule[3]);
        sarif_text(d, "fullDescription", rule[3]);
        sarif_text(d, "help", rule[4]);
        doc_obj(d, "defaultConfiguration");
        doc_str(d, "level", rule[2]);
        doc_end(d);
        doc_obj(d, "properties");
        doc_list(d, "tags");
        doc_str(d, NULL, "memory");
        doc_str(d, NULL, "reliability");
        doc_end(d);
        doc_end(d);
        doc_end(d);
    }
    doc_end(d); /* rules */
    doc_end(d); /* driver */
    doc_end(d); /* tool */
    if (r->source_root) {
        char uri[3 * 4096 + 16] = "file://";
        sarif_uri_bytes(uri, sizeof uri, r->source_root);
        if (strcmp(r->source_root, "/"))
            strcat(uri, "/");
        doc_obj(d, "originalUriBaseIds");
        doc_obj(d, SARIF_ROOT_ID);
        doc_str(d, "uri", uri);
        doc_end(d);
        doc_end(d);
    }
    doc_list(d, "results");
    /* the leaks, then the exceeded budgets against a baseline (the leak budgets' evidence
     * is the leaks themselves) */
    for (size_t i = 0; i < 2 * r->n; i++) {
        const finding_t *f = &r->v[i % r->n];
        if (f->kind != (i < r->n ? FINDING_LEAK : FINDING_BUDGET) ||
            (f->kind == FINDING_BUDGET && (!f->failed || strncmp(f->name, "max-growth", 10))))
            continue;
        sym_frame_t loc = {0};
        bool have_loc = false;
        for (uint32_t k = 0; k < f->depth && !have_loc; k++) {
            int rc = symbols_lookup(f->sym, f->ips[k], &loc);
            if (rc < 0)
                return rc;
            have_loc = loc.file && loc.line;
        }
        doc_nl(d);
        doc_obj(d, NULL);
        doc_str(d, "ruleId", sarif_rule_ids[f->rule_index]);
        doc_u64(d, "ruleIndex", (uint64_t)f->rule_index);
        doc_str(d, "level", f->level == FINDING_WARNING ? "warning" : "error");
        if (f->kind == FINDING_BUDGET) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s: %s", f->name, f->message);
            sarif_text(d, "message", msg);
        } else {
            sarif_text(d, "message", f->message);
        }
        if (f->kind == FINDING_LEAK) {
            doc_obj(d, "properties");
            doc_u64(d, "blocks", f->blocks);
            doc_u64(d, "bytes", f->bytes);
            doc_end(d);
        }
        if (have_loc) {
            doc_list(d, "locations");
            doc_obj(d, NULL);
            doc_obj(d, "physicalLocation");
            sarif_artifact(d, loc.file, r->source_root);
            doc_obj(d, "region");
            doc_u64(d, "startLine", loc.line);
            doc_end(d);
            doc_end(d); /* physicalLocation */
            if (loc.function) {
                doc_list(d, "logicalLocations");
                doc_obj(d, NULL);
                doc_str(d, "name", loc.function);
                doc_str(d, "kind", "function");
                doc_end(d);
                doc_end(d);
            }
            doc_end(d);
            doc_end(d); /* locations */
        }
        doc_end(d);
    }
    doc_end(d); /* results */
    doc_end(d); /* the run */
    doc_end(d); /* runs */
    doc_end(d);
    return d->err;
}

/* ---- suppressions (--gen-suppressions) ------------------------------------------------ */

/* LSan patterns: '*' is a wildcard and '^'/'$' anchor; a name holding one cannot be matched
 * exactly, so those characters become '*' (matching them and a little more). */
static void supp_pattern(FILE *o, const char *name)
{
    for (const char *p = name; *p; p++)
        fputc(*p == '*' || *p == '^' || *p == '$' || *p == '\n' || *p == '#' ? '*' : *p, o);
}

int ci_suppressions(FILE *o, const check_result_t *r)
{
    fprintf(o, "# LeakSanitizer suppressions written by perfshim check --gen-suppressions:\n"
               "# one per leak site it counted (perfshim check --suppressions FILE, or\n"
               "# LSAN_OPTIONS=suppressions=FILE). Each names the first function of the\n"
               "# allocation's stack; edit to taste.\n");
    const char **seen = calloc(r->nleaks ? r->nleaks : 1, sizeof *seen);
    if (!seen)
        return -PS_E_NOMEM;
    size_t nseen = 0;
    for (size_t i = 0; i < r->nleaks; i++) {
        const check_leak_t *l = &r->leaks[i];
        /* the allocation's caller (frame 0, the stack is cut at the allocator): a deeper
         * named frame (main, libc) would suppress far more than this site */
        sym_frame_t f = {0};
        if (l->g->depth) {
            int rc = symbols_lookup(l->t->sym, l->g->ips[0], &f);
            if (rc < 0) {
                free(seen);
                return rc;
            }
        }
        const char *name = f.function;
        bool anchored = name != NULL;
        if (!name) /* no symbol: its module, which suppresses every leak allocated there */
            name = f.module_name;
        fprintf(o, "# %s: %" PRIu64 " bytes in %" PRIu64 " blocks (%s)\n",
                leaks_kind_name(l->g->kind), l->g->bytes, l->g->blocks, l->t->path);
        if (!name) {
            fprintf(o, "# (no function or module known for this stack: not suppressible)\n");
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < nseen && !dup; j++)
            dup = !strcmp(seen[j], name);
        if (dup) {
            fprintf(o, "# (the line above covers it)\n");
            continue;
        }
        seen[nseen++] = name;
        fputs(anchored ? "leak:^" : "leak:", o);
        supp_pattern(o, name);
        fputs(anchored ? "$\n" : "\n", o);
    }
    free(seen);
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

int ci_junit(FILE *o, const findings_t *r)
{
    fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<testsuites name=\"perfshim check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n"
               "  <testsuite name=\"perfshim check\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
               "skipped=\"0\">\n",
            r->nbudgets, r->nfailed, r->nbudgets, r->nfailed);
    for (size_t i = 0; i < r->n; i++) {
        const finding_t *b = &r->v[i];
        if (b->kind != FINDING_BUDGET)
            continue;
        fputs("    <testcase classname=\"perfshim.check\" name=\"", o);
        xml_str(o, b->name);
        if (!b->failed) {
            fputs("\"/>\n", o);
            continue;
        }
        fputs("\">\n      <failure message=\"", o);
        xml_str(o, b->message);
        fputs("\" type=\"budget\">", o);
        xml_str(o, b->message);
        if (!strncmp(b->name, "max-leaked", 10)) {
            size_t k = 0;
            for (size_t j = 0; j < r->n && k < (size_t)r->top; j++) {
                const finding_t *l = &r->v[j];
                if (l->kind != FINDING_LEAK)
                    continue;
                sym_frame_t f = {0};
                if (l->depth) {
                    int rc = symbols_lookup(l->sym, l->ips[0], &f);
                    if (rc < 0)
                        return rc;
                }
                char line[512];
                snprintf(line, sizeof line, "\n#%zu %s: %" PRIu64 " blocks, %" PRIu64 " bytes at %s",
                         ++k, l->name, l->blocks, l->bytes, f.function ? f.function : "?");
                xml_str(o, line);
                if (f.file) {
                    snprintf(line, sizeof line, " (%s:%" PRIu32 ")", text_base(f.file), f.line);
                    xml_str(o, line);
                }
            }
        }
        fputs("</failure>\n    </testcase>\n", o);
    }
    fputs("  </testsuite>\n</testsuites>\n", o);
    return 0;
}
