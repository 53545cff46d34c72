/*
 * vfork_exit -- a vfork child that fails to exec and calls _exit shares the parent's memory:
 * the parent's trace must go on and end normally, with the allocations made after the child.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test.h"

__attribute__((noinline)) void *after_vfork(void) { return malloc(77); }

static void run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    free(malloc(10));
    pid_t pid = vfork();
    if (pid == 0) {
        execl("/nonexistent/program", "x", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    for (int i = 0; i < 5; i++)
        free(after_vfork());
}

static int check(trace_t *unused, const char *path)
{
    (void)unused;
    int status = harness_record(path, NULL, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fprintf(stderr, "workload failed: %d\n", status), 1;
    trace_t t;
    if (trace_load(path, &t) != 0)
        return 1;
    uint64_t n = trace_count_site(&t, "after_vfork", EV_ALLOC, PS_FN_MALLOC, NULL);
    int fails = !t.have_end || n != 5 || t.end.events != t.chunk_events;
    fprintf(stderr, "vfork_exit: end=%d after_vfork=%" PRIu64 " (want 5): %s\n", t.have_end, n,
            fails ? "FAIL" : "ok");
    trace_free(&t);
    if (!fails)
        unlink(path);
    return fails;
}

int main(int argc, char **argv)
{
    return harness_main(argc, argv, run, check);
}
