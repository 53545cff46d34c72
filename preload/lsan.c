/* lsan.c -- see lsan.h. */
#include <config.h>

#include "lsan.h"

#include <stdint.h>

#include "leakscan.h"
#include "liveset.h"
#include "options.h"
#include "shim.h"

static int recording(void)
{
    return options.leak_check && __atomic_load_n(&shim_state, __ATOMIC_ACQUIRE) == SHIM_ACTIVE;
}

void __lsan_ignore_object(const void *p)
{
    if (p && recording())
        (void)liveset_set_flags((uint64_t)(uintptr_t)p, LIVESET_F_IGNORED);
}

void __lsan_disable(void)
{
    leakscan_disabled++;
}

void __lsan_enable(void)
{
    if (leakscan_disabled > 0)
        leakscan_disabled--;
}

void __lsan_register_root_region(const void *p, size_t size)
{
    uintptr_t lo = (uintptr_t)p;
    if (size && lo + size > lo)
        (void)leakscan_region(lo, lo + size, 1);
}

void __lsan_unregister_root_region(const void *p, size_t size)
{
    uintptr_t lo = (uintptr_t)p;
    (void)leakscan_region(lo, lo + size, 0);
}

static int do_check(void)
{
    if (!recording())
        return 0;
    int g = shim_tls.guard;
    shim_tls.guard = 1;
    int leaked = leakscan_run_on_demand(shim_self_state());
    shim_tls.guard = g;
    return leaked;
}

void __lsan_do_leak_check(void)
{
    static int done;
    if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        return;
    (void)do_check();
    leakscan_exit_scan_off(); /* as LSan: the end-of-process check will not run */
}

int __lsan_do_recoverable_leak_check(void)
{
    return do_check();
}
