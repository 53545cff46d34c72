/* C++ exceptions run in libgcc_s's unwinder under the shim as natively (issue 12). A C program
 * (no libgcc_s of its own, as an interpreter loading a C++ extension) dlopens a C++ module
 * (tests/integration/cxx_exc_mod.cc, RTLD_GLOBAL) that throws and catches in four threads,
 * fails a nothrow and a plain new and rethrows a std::exception_ptr; then it names the module
 * that _Unwind_RaiseException resolves to in the process. A shim that brings libunwind.so.8
 * into the global scope (as a NEEDED library) makes that libunwind, whose _Unwind_* then run
 * the app's exceptions under the shim's lock hooks. Usage: cxx_exc MODULE.so; the shell test
 * cxx_exc.sh runs it natively and under the shim and compares output and status. alarm():
 * a hang fails. */
#include <config.h>

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    alarm(20);
    if (argc != 2) {
        fprintf(stderr, "usage: cxx_exc MODULE.so\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 99;
    }
    int (*run)(void) = (int (*)(void))dlsym(h, "cxx_exc_run");
    if (!run)
        return 99;
    int rc = run();
    Dl_info di;
    void *f = dlsym(RTLD_DEFAULT, "_Unwind_RaiseException");
    const char *mod = f && dladdr(f, &di) && di.dli_fname ? di.dli_fname : "(none)";
    const char *base = strrchr(mod, '/');
    printf("_Unwind_RaiseException: %s\n", base ? base + 1 : mod);
    fflush(stdout);
    return rc;
}
