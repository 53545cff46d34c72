/* unwind.c -- see unwind.h. */
#include <config.h>

#include "unwind.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "perfshim/compiler.h"
#include "prim.h"

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

/* libunwind (1.6, x86_64) validates the addresses it reads when it falls back from DWARF
 * to frame-pointer guesses by writing one byte of them into a pipe it opens at init (and
 * reopens, at the lowest free numbers, when a read from it fails): descriptors the app can
 * close and reuse, so libunwind would then write process memory into the app's files and read
 * from them (issue 12). Every read goes through the address space's access_mem accessor, so
 * the shim replaces it with one that needs no descriptor: a page already seen readable by
 * this thread (a small per-thread cache) is read directly, any other read is made with
 * process_vm_readv, which fails instead of faulting (where it is refused, e.g. by seccomp,
 * a page is taken as readable when mincore says it is mapped). libunwind's own accessor is
 * then never called for a read, so the pipe it opened at init is closed, unused. */
static unw_accessors_t *acc;
static int (*orig_access_mem)(unw_addr_space_t, unw_word_t, unw_word_t *, int, void *);
static int vm_read_refused;
/* Pages this thread found readable during its current capture (a page seen in an earlier one
 * may be unmapped since: unwind_capture starts a new generation, one increment). */
#define PS_VALID_PAGES 8
static PS_TLS uintptr_t valid_pages[PS_VALID_PAGES];
static PS_TLS uint32_t valid_gens[PS_VALID_PAGES];
static PS_TLS uint32_t valid_gen;
static PS_TLS unsigned valid_next;

/* A page that is mapped (mincore), for where process_vm_readv is refused: what a PROT_NONE
 * page would fault on is then not caught, as with libunwind's own mincore check. */
static int page_mapped(uintptr_t page, uintptr_t last)
{
    unsigned char vec[2];
    return mincore((void *)page, last - page + 4096, vec) == 0;
}

static int access_mem_checked(unw_addr_space_t as, unw_word_t addr, unw_word_t *val,
                              int write, void *arg)
{
    if (write)
        return orig_access_mem(as, addr, val, write, arg);
    uintptr_t page = addr & ~(uintptr_t)4095, last = (addr + sizeof *val - 1) & ~(uintptr_t)4095;
    if (!page)
        return -UNW_EINVAL;
    if (page == last)
        for (unsigned i = 0; i < PS_VALID_PAGES; i++)
            if (valid_pages[i] == page && valid_gens[i] == valid_gen) {
                *val = *(const unw_word_t *)addr;
                return 0;
            }
    int saved = errno, rc = 0; /* the app's errno stays as its call left it */
    int refused = __atomic_load_n(&vm_read_refused, __ATOMIC_RELAXED);
    if (refused || prim_read_self(val, (const void *)addr, sizeof *val) != 0) {
        if (!refused && errno != ENOSYS && errno != EPERM) {
            rc = -UNW_EINVAL; /* not readable */
        } else {
            __atomic_store_n(&vm_read_refused, 1, __ATOMIC_RELAXED);
            if (page_mapped(page, last))
                *val = *(const unw_word_t *)addr;
            else
                rc = -UNW_EINVAL;
        }
    }
    errno = saved;
    if (rc)
        return rc;
    if (page == last) {
        valid_pages[valid_next] = page;
        valid_gens[valid_next] = valid_gen;
        valid_next = (valid_next + 1) % PS_VALID_PAGES;
    }
    return 0;
}

/* The pipe libunwind's init opens takes the two lowest free descriptors, which a probe pipe
 * opened and closed just before finds; they are closed once they are seen to be one
 * non-blocking pipe (an app thread's descriptors opened meanwhile are left alone). */
static int is_unw_pipe(int a, int b)
{
    struct stat sa, sb;
    if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0 || !S_ISFIFO(sa.st_mode) ||
        sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev)
        return 0;
    int fa = fcntl(a, F_GETFL), fb = fcntl(b, F_GETFL);
    return fa >= 0 && fb >= 0 && (fa & O_NONBLOCK) && (fb & O_NONBLOCK) &&
           (fcntl(a, F_GETFD) & FD_CLOEXEC) && (fcntl(b, F_GETFD) & FD_CLOEXEC);
}

void unwind_init(void)
{
    int probe[2];
    int probed = pipe2(probe, O_CLOEXEC) == 0;
    if (probed) {
        close(probe[0]);
        close(probe[1]);
    }
    acc = unw_get_accessors(unw_local_addr_space); /* libunwind's init: its pipe */
    if (acc && acc->access_mem) {
        orig_access_mem = acc->access_mem;
        acc->access_mem = access_mem_checked;
        if (probed && is_unw_pipe(probe[0], probe[1])) {
            close(probe[0]);
            close(probe[1]);
        }
    }
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    Dl_info di;
    if (dladdr((void *)(uintptr_t)&unwind_capture, &di) && di.dli_fbase)
        dl_iterate_phdr(find_self, di.dli_fbase);
}

int unwind_capture(uint64_t *ips, int max)
{
    void *buf[PS_UNWIND_MAX_SKIP + 256];
    valid_gen++;
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
