/*
 * baseline -- fuzz target: the baseline JSON reader of `perfshim check --baseline`
 * (analyzer/baseline.c) on arbitrary bytes, handed over as a file through a memfd.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "baseline.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0)
        fd = memfd_create("fuzz-baseline", 0);
    if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    char path[64], err[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    baseline_t b;
    (void)baseline_load(path, &b, err, sizeof err);
    static int fifo_done;
    if (!fifo_done++ && baseline_load(fuzz_fifo(), &b, err, sizeof err) == 0)
        abort(); /* a FIFO is refused (and did not block) */
    return 0;
}
