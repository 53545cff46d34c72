/*
 * diff.h -- `perfshim diff [OPTIONS] BASE NEW`: the heap call sites of two traces matched by
 * their symbolized stack (analyses/sitediff.h): added, removed, grown, shrunk sites and the
 * totals before and after, as text, JSON ("perfshim-diff" version 1, docs/json-schema.md) or
 * a profile with both runs' values (folded now; a differential flame graph later); with
 * --fail-on rules, a CI regression gate.
 *
 * Contract: called from main.c's dispatch with argv[0] = "diff"; returns the exit status:
 * 0 written and no --fail-on rule failed, 1 a --fail-on rule failed (the diff is written all
 * the same), 2 usage error, unreadable input (one line naming the file: missing, not a
 * trace, newer format version) or output error -- the codes of `perfshim check`.
 *
 * JSON key names are an interface: add keys, never rename or remove them.
 */
#ifndef PERFSHIM_DIFF_H
#define PERFSHIM_DIFF_H

int diff_main(int argc, char **argv);

#endif /* PERFSHIM_DIFF_H */
