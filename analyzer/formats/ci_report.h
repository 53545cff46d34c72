/*
 * ci_report.h -- `perfshim check` results for CI tools: SARIF 2.1.0 (code-scanning UIs) and
 * JUnit XML (test report viewers).
 *
 * Contract: analyzer-only. ci_sarif() emits one SARIF log into a document (core/doc.h;
 * formats.c renders it as JSON) with one run (tool "perfshim") and
 * one result per counted leak site, located at the source file and line of the first frame
 * that has one (relative to r->source_root with uriBaseId SRCROOT, declared in the run's
 * originalUriBaseIds, when the file lies under it; else an absolute file:// URI), plus one
 * result per exceeded baseline budget (no location); rules carry a help text.
 * ci_suppressions() writes LSan-syntax `leak:^FUNCTION$` lines, one per counted leak site
 * (its stack's first named function), that make the same check pass. ci_junit() writes one <testsuite> with one <testcase> per budget, a
 * <failure> in each exceeded one. Return 0 or a negative PS_E_* from symbolization.
 */
#ifndef PERFSHIM_CI_REPORT_H
#define PERFSHIM_CI_REPORT_H

#include <stdio.h>

#include "analyses/checkres.h"
#include "core/doc.h"

int ci_sarif(doc_t *d, const check_result_t *r);
int ci_junit(FILE *o, const check_result_t *r);
int ci_suppressions(FILE *o, const check_result_t *r);

#endif /* PERFSHIM_CI_REPORT_H */
