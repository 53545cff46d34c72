/*
 * tests/unit/cxxname.c -- short C++ names (analyzer/core/cxxname.c) on tricky demangled
 * names: nested templates, operator<, operator<<, template operators, lambdas, anonymous
 * namespaces, function pointers and function types, conversion operators, local classes,
 * clones, return types; C and mangled names unchanged; unbalanced input and small buffers.
 */
#include <string.h>

#include "core/cxxname.h"
#include "test.h"

#define E "\xe2\x80\xa6"

static void check_one(const char *in, const char *want)
{
    char b[512];
    const char *got = cxxname_short(in, b, sizeof b);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "  in:   %s\n", in);
    expect_str_eq(got, want);
}

TEST(templates)
{
    check_one("void std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>("
              "__gnu_cxx::__normal_iterator<int*, std::vector<int, std::allocator<int> > >, "
              "int const&)",
              "std::vector<" E ">::_M_realloc_insert<" E ">(" E ")");
    check_one("std::vector<shapes::Node*, std::allocator<shapes::Node*> >::reserve(unsigned long)",
              "std::vector<" E ">::reserve(" E ")");
    check_one("double* shapes::make_array<double>(unsigned long)",
              "shapes::make_array<" E ">(" E ")");
    check_one("std::map<int, std::pair<int, std::vector<int, std::allocator<int> > >, "
              "std::less<int> >::~map()",
              "std::map<" E ">::~map()");
    check_one("Foo<(3>2)>::bar()", "Foo<" E ">::bar()");
    check_one("unsigned long long Pool<16ul>::size<char>() const", "Pool<" E ">::size<" E ">()");
}

TEST(operators)
{
    check_one("operator<(A const&, B const&)", "operator<(" E ")");
    check_one("bool operator< <int>(Foo<int> const&, Foo<int> const&)", "operator< <" E ">(" E ")");
    check_one("Foo::operator<<(int)", "Foo::operator<<(" E ")");
    check_one("std::basic_ostream<char, std::char_traits<char> >& std::operator<< "
              "<std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&, "
              "char const*)",
              "std::operator<< <" E ">(" E ")");
    check_one("Vec::operator>>=(int)", "Vec::operator>>=(" E ")");
    check_one("operator<=>(A const&, A const&)", "operator<=>(" E ")");
    check_one("Ptr<int>::operator->() const", "Ptr<" E ">::operator->()");
    check_one("Functor::operator()(int, char) const &&", "Functor::operator()(" E ")");
    check_one("Matrix::operator[](unsigned long)", "Matrix::operator[](" E ")");
    check_one("operator new(unsigned long)", "operator new(" E ")");
    check_one("operator delete[](void*, unsigned long)", "operator delete[](" E ")");
    check_one("Foo::operator std::vector<int, std::allocator<int> >() const",
              "Foo::operator std::vector<" E ">()");
    check_one("Foo::operator unsigned long() const", "Foo::operator unsigned long()");
    check_one("std::less<void>::operator()<int&, int&>(int&, int&) const",
              "std::less<" E ">::operator()<" E ">(" E ")");
}

TEST(lambdas_namespaces_locals)
{
    check_one("main::{lambda(int)#1}::operator()(int) const",
              "main::{lambda(" E ")#1}::operator()(" E ")");
    check_one("run()::{lambda()#2}::operator()() const", "run()::{lambda()#2}::operator()()");
    check_one("std::_Function_handler<void (), main::{lambda()#1}>::_M_invoke("
              "std::_Any_data const&)",
              "std::_Function_handler<" E ">::_M_invoke(" E ")");
    check_one("(anonymous namespace)::Pool::grow(unsigned long)",
              "(anonymous namespace)::Pool::grow(" E ")");
    check_one("void (anonymous namespace)::make<int>()", "(anonymous namespace)::make<" E ">()");
    check_one("foo(int)::Local::run()", "foo(" E ")::Local::run()");
    check_one("work() [clone .cold]", "work() [clone .cold]");
    check_one("Big::fill(int) const [clone .constprop.0]", "Big::fill(" E ") [clone .constprop.0]");
}

TEST(function_pointers)
{
    check_one("call_with(void (*)(int), int)", "call_with(" E ")");
    check_one("std::function<void (int)>::operator()(int) const",
              "std::function<" E ">::operator()(" E ")");
    check_one("Table<int (*)(char const*)>::find(char const*)", "Table<" E ">::find(" E ")");
    char b[256]; /* a function returning a function pointer: something short, no crash */
    expect_true(strlen(cxxname_short("int (*get_handler<int>(int))(int)", b, sizeof b)) > 0);
}

TEST(unchanged)
{
    check_one("malloc", "malloc");
    check_one("main", "main");
    check_one("_ZN3foo3barEv", "_ZN3foo3barEv");
    check_one("operators_table", "operators_table");
    check_one("foo<int(", "foo<int(");
    check_one("bar)(", "bar)(");
    check_one("", "");
}

TEST(small_buffer)
{
    char b[8];
    expect_str_eq(cxxname_short("std::vector<int>::push_back(int const&)", b, sizeof b), "std::ve");
    char b13[13]; /* "std::vector<" fits, "<…>" (5 bytes) does not: never half an ellipsis */
    expect_str_eq(cxxname_short("std::vector<int>::size()", b13, sizeof b13), "std::vector");
    char one[1];
    expect_str_eq(cxxname_short("abc", one, 1), "");
    char deep[200], out[64];
    memset(deep, '<', 150); /* deeper than the bracket stack: unchanged, cut to the buffer */
    deep[0] = 'f';
    deep[150] = '\0';
    cxxname_short(deep, out, sizeof out);
    expect_u64_eq(strlen(out), sizeof out - 1);
}

TEST_MAIN(TEST_ENTRY(templates), TEST_ENTRY(operators), TEST_ENTRY(lambdas_namespaces_locals),
          TEST_ENTRY(function_pointers), TEST_ENTRY(unchanged), TEST_ENTRY(small_buffer))
