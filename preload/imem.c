/* imem.c -- see imem.h. Each block carries its mapping length in a 64-byte header. */
#include <config.h>

#include "imem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "prim.h"

#define IMEM_HDR 64

static uint64_t mapped_bytes;

/* NORESERVE mappings are address space touched page by page as used: their owner counts
 * what it uses (stacktab_bytes) instead. */
void *imem_map(size_t size, int noreserve)
{
    void *p = prim_map(size, noreserve);
    if (p && !noreserve)
        __atomic_add_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
    return p;
}

void imem_unmap(void *p, size_t size)
{
    if (!p)
        return;
    prim_unmap(p, size);
    __atomic_sub_fetch(&mapped_bytes, size, __ATOMIC_RELAXED);
}

void *imem_alloc(size_t size)
{
    size_t page = prim_page_size();
    if (size > SIZE_MAX - IMEM_HDR - page)
        return NULL;
    size_t len = (size + IMEM_HDR + page - 1) & ~(page - 1);
    char *p = imem_map(len, 0);
    if (!p)
        return NULL;
    *(size_t *)p = len;
    return p + IMEM_HDR;
}

size_t imem_usable(size_t size)
{
    size_t page = prim_page_size();
    if (size > SIZE_MAX - IMEM_HDR - page)
        return size;
    return ((size + IMEM_HDR + page - 1) & ~(page - 1)) - IMEM_HDR;
}

void imem_free(void *p)
{
    if (!p)
        return;
    char *base = (char *)p - IMEM_HDR;
    imem_unmap(base, *(size_t *)base);
}

uint64_t imem_bytes(void)
{
    return __atomic_load_n(&mapped_bytes, __ATOMIC_RELAXED);
}

/* ---- resident bytes of the shim's own mappings ---------------------------------------- */
static unsigned char res_vec[16384]; /* mincore's vector: 64 MiB of 4 KiB pages per call */
static int res_busy;
static uint64_t res_cached, res_at_ns, res_mapped; /* res_mapped: imem_bytes() at the count */

static void count_resident(uintptr_t lo, uintptr_t hi, void *arg)
{
    uint64_t *sum = arg;
    size_t page = prim_page_size();
    for (uintptr_t p = lo; p < hi;) {
        size_t n = (hi - p + page - 1) / page;
        if (n > sizeof res_vec)
            n = sizeof res_vec;
        if (mincore((void *)p, n * page, res_vec) != 0) {
            if (errno != ENOMEM) /* not unmapped meanwhile: count it all */
                *sum += (uint64_t)n * page;
        } else { /* bit 0 of each byte: 8 pages a step */
            uint64_t pages = 0;
            size_t i = 0;
            for (; i + 8 <= n; i += 8) {
                uint64_t w;
                memcpy(&w, res_vec + i, sizeof w);
                pages += ((w & 0x0101010101010101ull) * 0x0101010101010101ull) >> 56;
            }
            for (; i < n; i++)
                pages += res_vec[i] & 1u;
            *sum += pages * page;
        }
        p += n * page;
    }
}

static uint64_t resident_bytes(uint64_t now_ns, int now)
{
    uint64_t at = __atomic_load_n(&res_at_ns, __ATOMIC_RELAXED);
    if ((!now && at && now_ns - at < IMEM_RESIDENT_EVERY_NS) ||
        __atomic_exchange_n(&res_busy, 1, __ATOMIC_ACQUIRE)) {
        /* the last count, and what was mapped or unmapped since counted as all resident: a
         * thread's event buffer (1 MiB) is written full before the writer has it; left out,
         * a program's first 100 ms of new threads counted as the app's RSS (replay.sh's 3
         * threads: the app's recorded peak 12% too high) */
        uint64_t c = __atomic_load_n(&res_cached, __ATOMIC_RELAXED);
        int64_t d = (int64_t)(imem_bytes() - __atomic_load_n(&res_mapped, __ATOMIC_RELAXED));
        return d >= 0 ? c + (uint64_t)d : (c > (uint64_t)-d ? c - (uint64_t)-d : 0);
    }
    int saved = errno;
    uint64_t sum = 0, mapped = imem_bytes();
    prim_own_each(count_resident, &sum);
    errno = saved;
    __atomic_store_n(&res_mapped, mapped, __ATOMIC_RELAXED);
    __atomic_store_n(&res_cached, sum, __ATOMIC_RELAXED);
    __atomic_store_n(&res_at_ns, now_ns ? now_ns : 1, __ATOMIC_RELAXED);
    __atomic_store_n(&res_busy, 0, __ATOMIC_RELEASE);
    return sum;
}

uint64_t imem_resident_bytes(uint64_t now_ns)
{
    return resident_bytes(now_ns, 0);
}

uint64_t imem_resident_bytes_now(uint64_t now_ns)
{
    return resident_bytes(now_ns, 1);
}
