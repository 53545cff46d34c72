/*
 * cxxname.c -- see cxxname.h. One walk over the name; brackets are matched with a small stack
 * in which '<' and '>' are brackets only inside a template argument list (or a lambda's
 * braces), never inside parentheses, where they are comparisons or balanced anyway; an
 * operator name is read whole first, so operator< and operator<< open nothing.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "core/cxxname.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ELL "\xe2\x80\xa6" /* U+2026 HORIZONTAL ELLIPSIS */
#define ANON "(anonymous namespace)"
#define NOT_CLOSED ((size_t)-1)
#define MAX_NEST 64

typedef struct out_s {
    char *p;
    size_t n, len;
} out_t;

static void put(out_t *o, const char *s, size_t k)
{
    if (o->len + k >= o->n)
        k = o->n - 1 - o->len;
    memcpy(o->p + o->len, s, k);
    o->len += k;
    o->p[o->len] = '\0';
}

/* All of s or nothing (a multi-byte "…" is never cut); nothing more after a miss. */
static void put_whole(out_t *o, const char *s, size_t k)
{
    if (o->len + k >= o->n)
        o->n = o->len + 1;
    else
        put(o, s, k);
}

static bool ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

/* The length of the operator name at s[i] ("operator" and, for a symbolic operator, its
 * symbol: "operator<<", "operator()", "operator[]", "operator->*"), or 0 when none starts
 * there. A word operator (new, delete, a conversion) is "operator" alone: the rest reads on. */
static size_t op_len(const char *s, size_t i, size_t len)
{
    if (len - i < 8 || strncmp(s + i, "operator", 8) != 0 || (i && ident(s[i - 1])) ||
        (i + 8 < len && ident(s[i + 8])))
        return 0;
    size_t j = i + 8;
    if (j + 1 < len && ((s[j] == '(' && s[j + 1] == ')') || (s[j] == '[' && s[j + 1] == ']')))
        return j + 2 - i;
    while (j < len && s[j] && strchr("+-*/%^&|~!=<>,", s[j]))
        j++;
    return j - i;
}

/* Just past the group that opens at s[i] ('<', '(', '[' or '{'), or NOT_CLOSED. */
static size_t group_end(const char *s, size_t i, size_t len)
{
    char st[MAX_NEST];
    int top = 0;
    st[top++] = s[i++];
    while (i < len) {
        size_t op = op_len(s, i, len);
        if (op) {
            i += op;
            continue;
        }
        char c = s[i], in = st[top - 1];
        bool angles = in == '<' || in == '{';
        if (c == '(' || c == '[' || c == '{' || (c == '<' && angles)) {
            if (top == MAX_NEST)
                return NOT_CLOSED;
            st[top++] = c;
        } else if (c == ')' || c == ']' || c == '}' || (c == '>' && in == '<')) {
            char want = c == ')' ? '(' : c == ']' ? '[' : c == '}' ? '{' : '<';
            if (in != want)
                return NOT_CLOSED;
            if (--top == 0)
                return i + 1;
        }
        i++;
    }
    return NOT_CLOSED;
}

/* Where the name starts once the return type is dropped: after the last space outside
 * brackets and operator names before the parameter list; 0 without a parameter list. */
static size_t name_start(const char *s, size_t len)
{
    size_t i = 0, start = 0;
    bool in_op = false; /* "operator new", "operator unsigned long": spaces of the name */
    while (i < len) {
        size_t op = op_len(s, i, len);
        if (op) {
            i += op;
            in_op = true;
            continue;
        }
        char c = s[i];
        if (c == '(' && !strncmp(s + i, ANON, strlen(ANON))) {
            i += strlen(ANON);
            continue;
        }
        if (c == '(')
            return start;
        if (c == '<' || c == '[' || c == '{') {
            size_t j = group_end(s, i, len);
            if (j == NOT_CLOSED)
                return 0;
            i = j;
            continue;
        }
        if (c == ' ' && !in_op)
            start = i + 1;
        i++;
    }
    return 0;
}

const char *cxxname_short(const char *name, char *out, size_t n)
{
    out_t o = {out, n, 0};
    size_t len = strlen(name), i = name_start(name, len);
    int brace = 0; /* inside a lambda's {lambda(...)#1}: its parameters do not end the name */
    out[0] = '\0';
    while (i < len) {
        size_t op = op_len(name, i, len);
        if (op) {
            put(&o, name + i, op);
            i += op;
            continue;
        }
        char c = name[i];
        if (c == '(' && !strncmp(name + i, ANON, strlen(ANON))) {
            put(&o, ANON, strlen(ANON));
            i += strlen(ANON);
            continue;
        }
        if (c == '<' || c == '(') {
            size_t j = group_end(name, i, len);
            if (j == NOT_CLOSED)
                break;
            if (c == '<')
                put_whole(&o, "<" ELL ">", 5);
            else
                put_whole(&o, j == i + 2 ? "()" : "(" ELL ")", j == i + 2 ? 2 : 5);
            i = j;
            if (c == '<' || brace || !strncmp(name + i, "::", 2))
                continue;
            /* the end of the function's name: cv/ref qualifiers, noexcept dropped */
            const char *clone = strstr(name + i, " [clone ");
            if (clone)
                put(&o, clone, strlen(clone));
            return out;
        }
        if (c == '{')
            brace++;
        else if (c == '}' && brace)
            brace--;
        put(&o, name + i, 1);
        i++;
    }
    if (i < len) /* brackets that do not balance: not a name this understands */
        snprintf(out, n, "%s", name);
    return out;
}
