/*
 * callsite.c -- see callsite.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "analyses/callsite.h"

#include <string.h>

static bool callsite_is_alloc_fn(const char *fn)
{
    static const char *const names[] = {
        "malloc", "calloc", "realloc", "free", "reallocarray", "posix_memalign",
        "aligned_alloc", "memalign", "valloc", "pvalloc", "__libc_malloc", "__libc_calloc",
        "__libc_realloc", "__libc_free", "__libc_memalign", "__libc_valloc", "__libc_pvalloc",
        "__posix_memalign", "__libc_reallocarray",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(fn, names[i]))
            return true;
    return false;
}

/* C++ allocation functions, demangled ("operator new(unsigned long)") or not ("_Znwm"). */
static bool callsite_is_cxx_alloc_fn(const char *fn)
{
    return !strncmp(fn, "operator new", 12) || !strncmp(fn, "operator delete", 15) ||
           !strncmp(fn, "_Znw", 4) || !strncmp(fn, "_Zna", 4) || !strncmp(fn, "_Zdl", 4) ||
           !strncmp(fn, "_Zda", 4);
}

bool callsite_is_own_frame(const sym_frame_t *f)
{
    if (!f->module_name)
        return false;
    if (!strncmp(f->module_name, "libperfshim", 11))
        return true;
    if (!f->function)
        return false;
    bool libc = !strncmp(f->module_name, "libc.so", 7) || !strncmp(f->module_name, "libc-", 5);
    if (libc)
        return callsite_is_alloc_fn(f->function);
    return !strncmp(f->module_name, "libstdc++", 9) && callsite_is_cxx_alloc_fn(f->function);
}

/* The qualified name of a demangled function: what precedes its parameter list, without the
 * return type a template function's demangled name starts with ("void std::vector<int>::
 * _M_realloc_insert<int>(...)"). Angle brackets nest; an operator's '<' or '(' is rare
 * enough in std:: frames that a wrong cut only shows one frame more. Sets *len. */
static const char *callsite_qualified(const char *fn, size_t *len)
{
    const char *start = fn;
    int angle = 0;
    const char *p = fn;
    for (; *p; p++) {
        if (*p == '<')
            angle++;
        else if (*p == '>' && angle)
            angle--;
        else if (*p == '(' && !angle)
            break;
        else if (*p == ' ' && !angle)
            start = p + 1; /* what came before was the return type */
    }
    *len = (size_t)(p - start);
    return start;
}

bool callsite_is_std_frame(const sym_frame_t *f)
{
    static const char *const ns[] = {"std::", "__gnu_cxx::", "__cxxabiv1::", "__gnu_debug::"};
    if (f->function) {
        size_t len;
        const char *q = callsite_qualified(f->function, &len);
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            if (len > strlen(ns[i]) && !strncmp(q, ns[i], strlen(ns[i])))
                return true;
    }
    /* inlined from the library's headers (/usr/include/c++/12/bits/...), or libstdc++ code */
    if (f->file && strstr(f->file, "/include/c++/"))
        return true;
    return f->module_name && !strncmp(f->module_name, "libstdc++", 9);
}

bool callsite_is_library_module(const char *module_name)
{
    static const char *const mods[] = {"libc.so",     "libc-",       "ld-linux",
                                       "ld64.so",     "libjemalloc", "libtcmalloc",
                                       "libmimalloc", "libperfshim", "libstdc++"};
    for (size_t i = 0; module_name && i < sizeof mods / sizeof mods[0]; i++)
        if (!strncmp(module_name, mods[i], strlen(mods[i])))
            return true;
    return false;
}

bool callsite_is_library_frame(const sym_frame_t *f)
{
    if (callsite_is_library_module(f->module_name))
        return true;
    if (callsite_is_std_frame(f) || callsite_is_own_frame(f))
        return true;
    return f->function && !strcmp(f->function, "_start");
}

int callsite_cut(symbols_t *sym, const replay_t *rp, uint32_t id, const uint64_t **ips,
                 uint32_t *depth)
{
    const replay_stack_t *st = id ? replay_stack(rp, id) : NULL;
    *ips = NULL;
    *depth = 0;
    if (!st)
        return 0;
    uint32_t skip = 0;
    for (; skip + 1 < st->depth; skip++) { /* keep at least one frame */
        sym_frame_t f;
        int rc = symbols_lookup(sym, st->ips[skip], &f);
        if (rc < 0)
            return rc;
        if (!callsite_is_own_frame(&f))
            break;
    }
    *ips = st->ips + skip;
    *depth = st->depth - skip;
    return 0;
}

int callsite_emit_stack(doc_t *d, const char *key, const replay_t *rp, symbols_t *sym, uint32_t id,
                        int depth)
{
    const replay_stack_t *st = id ? replay_stack(rp, id) : NULL;
    return doc_stack(d, key, sym, st ? st->ips : NULL, st ? st->depth : 0, depth);
}
