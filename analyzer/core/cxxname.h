/*
 * cxxname.h -- short C++ names for the text reports: a demangled name made readable at a
 * glance, the full name staying in JSON (and in text with --full-names).
 *
 *     void std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>(
 *         __gnu_cxx::__normal_iterator<int*, std::vector<int, std::allocator<int> > >, int const&)
 *  -> std::vector<…>::_M_realloc_insert<…>(…)
 *
 * Rules: template argument lists collapse to "<…>"; a function's parameter list to "(…)"
 * ("()" when it has none), also a lambda's ("{lambda(…)#1}"), and what follows it (const,
 * &, noexcept) is dropped unless it is "::" (a name local to the function goes on) or a
 * "[clone .cold]" suffix (kept); the return type a template function's name starts with is
 * dropped. Operator names stay whole: operator<, operator<<, operator< <…> (a template
 * operator<), operator(), operator->, operator new[], conversion operators (their type's
 * template arguments collapse). "(anonymous namespace)" stays as it is. A name that is not a
 * C++ demangled name (C functions, mangled names) comes out unchanged, as does any name with
 * brackets that do not balance (never a crash, never more than n bytes).
 *
 * Contract: pure, any thread. cxxname_short() writes at most n bytes (NUL included) into out
 * and returns out (n >= 1). "…" is U+2026 in UTF-8.
 */
#ifndef PERFSHIM_CXXNAME_H
#define PERFSHIM_CXXNAME_H

#include <stddef.h>

const char *cxxname_short(const char *name, char *out, size_t n);

#endif /* PERFSHIM_CXXNAME_H */
