/* unwind.c -- see unwind.h. */
#include <config.h>

#include "unwind.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>

#include "perfshim/compiler.h"

/* [lo, hi): the shim's mapped range; frames there are the hook's own. */
static uintptr_t self_lo, self_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t base = (uintptr_t)arg;
    if (info->dlpi_addr != base)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = base + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (!self_lo || lo < self_lo)
            self_lo = lo;
        if (hi > self_hi)
            self_hi = hi;
    }
    return 1;
}

void unwind_init(void)
{
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    Dl_info di;
    if (dladdr((void *)(uintptr_t)&unwind_capture, &di) && di.dli_fbase)
        dl_iterate_phdr(find_self, di.dli_fbase);
}

int unwind_capture(uint64_t *ips, int max)
{
    void *buf[PS_UNWIND_MAX_SKIP + 256];
    int want = max + PS_UNWIND_MAX_SKIP;
    if (want > (int)PS_ARRAY_LEN(buf))
        want = (int)PS_ARRAY_LEN(buf);
    int n = unw_backtrace(buf, want);
    int skip = 0;
    while (skip < n && (uintptr_t)buf[skip] >= self_lo && (uintptr_t)buf[skip] < self_hi)
        skip++;
    int out = n - skip < max ? n - skip : max;
    for (int i = 0; i < out; i++)
        ips[i] = (uint64_t)(uintptr_t)buf[skip + i];
    return out;
}
