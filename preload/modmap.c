/* modmap.c -- see modmap.h. */
#include <config.h>

#include "modmap.h"

#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <string.h>

#include "prim.h"

#define MAX_SEGS 16

static const char *exe_path = "";
static uint32_t epoch_next;
static uint64_t last_gen; /* adds + subs when the last map was emitted (+1: 0 = none) */

typedef struct emit_ctx_s {
    tstate_t *st;
    uint32_t epoch, count;
    int counting;
} emit_ctx_t;

void modmap_set_exe(const char *exe)
{
    exe_path = exe;
}

static uint32_t find_build_id(const struct dl_phdr_info *info, const unsigned char **out)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        const unsigned char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const unsigned char *name = p + sizeof *nh;
            const unsigned char *desc = name + ((nh->n_namesz + 3) & ~3u);
            const unsigned char *next = desc + ((nh->n_descsz + 3) & ~3u);
            if (next > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0 && nh->n_descsz <= 255) {
                *out = desc;
                return nh->n_descsz;
            }
            p = next;
        }
    }
    return 0;
}

static int emit_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    emit_ctx_t *c = arg;
    (void)size;
    if (c->counting) {
        c->count++;
        return 0;
    }
    const char *path = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : exe_path;
    uint32_t path_len = (uint32_t)strnlen(path, PERFSHIM_MAX_PATH);
    const unsigned char *bid = NULL;
    uint32_t bid_len = find_build_id(info, &bid);
    ps_segment_t segs[MAX_SEGS];
    uint16_t nseg = 0;
    for (int i = 0; i < info->dlpi_phnum && nseg < MAX_SEGS; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD)
            segs[nseg++] = (ps_segment_t){ph->p_vaddr, ph->p_memsz, ph->p_flags, 0};
    }
    uint32_t len = (uint32_t)sizeof(ps_rec_module_t) + nseg * (uint32_t)sizeof(ps_segment_t) +
                   bid_len + path_len;
    unsigned char *p = tstate_reserve(c->st, len);
    if (!p)
        return 1;
    ps_rec_module_t m = {.h = {PS_REC_MODULE, 0, (uint16_t)len},
                         .epoch = c->epoch,
                         .base = info->dlpi_addr,
                         .nseg = nseg,
                         .buildid_len = (uint8_t)bid_len,
                         .path_len = (uint16_t)path_len};
    memcpy(p, &m, sizeof m);
    memcpy(p + sizeof m, segs, nseg * sizeof(ps_segment_t));
    memcpy(p + sizeof m + nseg * sizeof(ps_segment_t), bid, bid_len);
    memcpy(p + sizeof m + nseg * sizeof(ps_segment_t) + bid_len, path, path_len);
    tstate_commit(c->st, len);
    return 0;
}

void modmap_emit(tstate_t *st)
{
    emit_ctx_t c = {.st = st, .counting = 1};
    dl_iterate_phdr(emit_one, &c);
    c.epoch = __atomic_fetch_add(&epoch_next, 1, __ATOMIC_RELAXED);
    unsigned char *p = tstate_reserve(st, sizeof(ps_rec_modmap_t));
    if (!p)
        return;
    ps_rec_modmap_t r = {.h = {PS_REC_MODMAP, 0, sizeof r},
                         .epoch = c.epoch,
                         .ts = prim_now_ns(),
                         .count = c.count};
    memcpy(p, &r, sizeof r);
    tstate_commit(st, sizeof r);
    c.counting = 0;
    dl_iterate_phdr(emit_one, &c);
}

static int read_gen(struct dl_phdr_info *info, size_t size, void *arg)
{
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        *(uint64_t *)arg = info->dlpi_adds * 2 + info->dlpi_subs + 1;
    return 1;
}

void modmap_after_fork_child(void)
{
    last_gen = 0;
}

void modmap_refresh(tstate_t *st)
{
    uint64_t gen = 0;
    dl_iterate_phdr(read_gen, &gen);
    uint64_t last = __atomic_load_n(&last_gen, __ATOMIC_ACQUIRE);
    if (gen == last || !gen)
        return;
    if (__atomic_compare_exchange_n(&last_gen, &last, gen, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        modmap_emit(st);
}
