/* dlo_lib.c -- a library for the dlopen test: allocates in its constructor and destructor and
 * in dlo_work(); the trace must attribute each to these frames, symbolized after dlclose. */
#include <stdlib.h>

void dlo_work(int n);

static void *kept[3];
static void *volatile sink;

__attribute__((noinline)) static void *dlo_ctor_alloc(void) { return malloc(111); }
__attribute__((noinline)) static void *dlo_dtor_alloc(void) { return malloc(222); }
__attribute__((noinline)) static void *dlo_work_alloc(void) { return malloc(333); }

__attribute__((constructor)) static void dlo_ctor(void)
{
    for (int i = 0; i < 3; i++)
        kept[i] = dlo_ctor_alloc();
}

__attribute__((destructor)) static void dlo_dtor(void)
{
    for (int i = 0; i < 3; i++)
        free(kept[i]);
    for (int i = 0; i < 2; i++)
        free(dlo_dtor_alloc());
}

void dlo_work(int n)
{
    for (int i = 0; i < n; i++)
        free(dlo_work_alloc());
}
