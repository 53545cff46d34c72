/*
 * ci_report.h -- the findings of `perfshim check` (core/findings.h) for CI tools: SARIF 2.1.0
 * (code-scanning UIs) and JUnit XML (test report viewers); and the suppressions that would
 * make a check pass.
 *
 * Contract: analyzer-only. ci_sarif() emits one SARIF log into a document (core/doc.h;
 * formats.c renders it as JSON) with one run (tool "perfshim"), one result per leak finding,
 * located at the source file and line of the first frame that has one (relative to
 * f->source_root with uriBaseId SRCROOT, declared in the run's originalUriBaseIds, when the
 * file lies under it; else an absolute file:// URI), plus one result per exceeded baseline
 * budget (no location); rules carry a help text; a finding's rule_index is its index in
 * ci_rule_id()'s list. ci_junit() writes one <testsuite> with one <testcase> per budget
 * finding, a <failure> in each exceeded one (a leak budget's lists the top leak findings).
 * ci_suppressions() writes LSan-syntax `leak:^FUNCTION$` lines, one per counted leak site
 * (its stack's first named function), that make the same check pass. Return 0 or a negative
 * PS_E_* from symbolization. ci_rule_id(i): the SARIF rule ids, one per leak kind
 * (ps_leak_kind - PS_LEAK_DEFINITE) then the budget (CI_RULE_BUDGET).
 */
#ifndef PERFSHIM_CI_REPORT_H
#define PERFSHIM_CI_REPORT_H

#include <stdio.h>

#include "analyses/checkres.h"
#include "core/doc.h"
#include "core/findings.h"

#define CI_RULE_BUDGET 3

int ci_sarif(doc_t *d, const findings_t *r);
int ci_junit(FILE *o, const findings_t *r);
const char *ci_rule_id(int index);
int ci_suppressions(FILE *o, const check_result_t *r);

#endif /* PERFSHIM_CI_REPORT_H */
