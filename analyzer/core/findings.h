/*
 * findings.h -- the findings view of the output model: what a check found, one finding per
 * rule applied to one thing (a budget that held or was exceeded, a leak site), with its level,
 * a one-line message and its evidence (a stack, blocks and bytes). Rendered by the findings
 * formats of formats/formats.def: SARIF and JUnit (formats/ci_report.c); the check verdict in
 * text is the document's (cmd/check.c check_emit). The other views are core/doc.h (document) and core/profile.h.
 *
 * Contract: analyzer-only, single-threaded. The producer (cmd/check.c) fills a findings_t with
 * findings_add() (-PS_E_NOMEM when out of memory) and frees it with findings_free(). A finding
 * whose kind is FINDING_BUDGET is a check that ran (failed says whether it held); a
 * FINDING_LEAK is a counted leak site (always failed), in the producer's order (largest
 * first). sym/ips/depth: the stack, innermost first, cut to the call site (depth 0: none).
 */
#ifndef PERFSHIM_FINDINGS_H
#define PERFSHIM_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/symbols.h"

enum finding_kind { FINDING_BUDGET, FINDING_LEAK };
enum finding_level { FINDING_ERROR, FINDING_WARNING };

typedef struct finding_s {
    enum finding_kind kind;
    const char *rule;  /* rule id: "perfshim/leak-definite", ..., "perfshim/budget" */
    int rule_index;    /* the rule's index in the producer's rule list */
    const char *name;  /* what was checked: a budget's name, a leak's kind */
    enum finding_level level;
    bool failed;
    char message[512]; /* one line, no trailing period */
    symbols_t *sym;
    const uint64_t *ips;
    uint32_t depth;
    uint64_t blocks, bytes; /* a leak's */
    const char *trace;      /* the trace it was found in, or NULL */
} finding_t;

typedef struct findings_s {
    finding_t *v;
    size_t n, cap;
    size_t nbudgets, nfailed; /* FINDING_BUDGET findings, and those failed */
    const char *source_root;  /* source paths relative to it (SARIF), or NULL */
    int top;                  /* leak findings a summary lists, at most */
} findings_t;

/* Appends a zeroed finding and returns it in *out. */
int findings_add(findings_t *f, finding_t **out);
void findings_free(findings_t *f);

#endif /* PERFSHIM_FINDINGS_H */
