/* deep_lib -- a library the hostproc test opens with RTLD_DEEPBIND: its malloc family binds
 * to libc's unless the shim rebinds it. Its constructor allocates before any rebinding can
 * happen; its destructor frees that block. */
#include <stdlib.h>

static void *ctor_block;
__attribute__((constructor)) static void deep_init(void) { ctor_block = malloc(100); }
__attribute__((destructor)) static void deep_fini(void) { free(ctor_block); }

/* a pointer to malloc in read-only-after-relocation data: an R_X86_64_64 relocation in RELRO */
void *(*const deep_malloc_ptr)(size_t) = malloc;

void *deep_alloc(size_t n) { return deep_malloc_ptr(n); }
void deep_free(void *p) { free(p); }
void *deep_realloc(void *p, size_t n) { return realloc(p, n); }
void *deep_calloc(size_t n, size_t m) { return calloc(n, m); }
