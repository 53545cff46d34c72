/*
 * leak_verdicts -- blocks of every leak verdict, each one's address printed ("NAME 0x..."),
 * for tests/integration/leak_verdicts.sh, which checks the exit scan's LEAK_BLOCKS entries by
 * address (the shim's verdicts, before any analyzer attributes them to sites):
 *   d1 (40, definite) -> i1 (24, indirect) -> i2 (24, indirect)
 *   x (56) allocated before y (72), y -> x -> xi (24): x leads a clique first (address
 *     order), then y's flood takes it in: x and xi indirect, held through x by y (definite)
 *   d2 (88, definite) holds a pointer into i3 (32): i3 indirect, reached through an interior
 *     pointer only (possible)
 *   r1 (104): a global points into it: reachable, possible; r2 (120): reachable (not listed)
 *   b1 (100000, spanning 64 KiB regions): a global points 99000 bytes in (a region where no
 *     block starts below it): reachable, possible; d3 (48, definite) points 70000 bytes into
 *     b2 (100000): indirect, possible
 *   a global array of N pointers to N 16-byte blocks (reachable), and a lost one (w,
 *     definite, its N blocks indirect): N > the scan's work stack (64 Ki), so both floods
 *     overflow it and find the rest again.
 * Definite: d1 d2 y w d3 = 5 blocks, 248 + 8 N bytes; indirect: i1 i2 x xi i3 b2 + N = 6 + N
 * blocks, 100160 + 16 N bytes. With "ondemand", an on-demand scan (__lsan_do_recoverable_leak_
 * check) first: the same verdicts twice.
 * With "register" instead: a block (reg, 48 bytes) whose one pointer is in r15, callee-saved
 * (one the shim's frames on the way to the scan do not save, so only the scan's copy of the
 * registers finds it), while the program calls __lsan_do_recoverable_leak_check: a root, so
 * reachable (no entry); then the same with r15 cleared: definite (the control). The block's
 * address is kept XORed meanwhile (no root) and it is freed after; make() runs as usual, so
 * the exit scan's verdicts are those above.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 70000

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void *volatile g_r2;
static char *volatile g_interior, *volatile g_bigint;
static void **volatile g_wide;

struct blk {
    void *p[2];
};

__attribute__((noipa)) static void *blk(size_t size)
{
    void *volatile p = calloc(1, size); /* not a tail call: a frame of its own */
    return p;
}

__attribute__((noipa)) static void show(const char *name, const void *p)
{
    printf("%s %p\n", name, p);
}

/* Overwrites the dead stack below the caller, where stale copies of lost pointers lie. */
__attribute__((noipa)) static void scrub(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof buf);
}

__attribute__((noipa)) static void make(void)
{
    struct blk *d1 = blk(40), *i1 = blk(24), *i2 = blk(24);
    d1->p[0] = i1;
    i1->p[0] = i2;
    struct blk *x = blk(56), *y = blk(72), *xi = blk(24);
    y->p[0] = x;
    x->p[0] = xi;
    struct blk *d2 = blk(88), *i3 = blk(32);
    d2->p[0] = (char *)i3 + 8;
    char *r1 = blk(104);
    g_interior = r1 + 16;
    g_r2 = blk(120);
    char *b1 = blk(100000);
    g_bigint = b1 + 99000;
    struct blk *d3 = blk(48);
    char *b2 = blk(100000);
    d3->p[0] = b2 + 70000;
    void **wide = blk(N * sizeof(void *)), **w = blk(N * sizeof(void *));
    for (int k = 0; k < N; k++) {
        wide[k] = blk(16);
        w[k] = blk(16);
    }
    g_wide = wide;
    show("d1", d1);
    show("i1", i1);
    show("i2", i2);
    show("x", x);
    show("y", y);
    show("xi", xi);
    show("d2", d2);
    show("i3", i3);
    show("r1", r1);
    show("b1", b1);
    show("d3", d3);
    show("b2", b2);
    show("w", w);
    show("w0", w[0]);
    show("wlast", w[N - 1]);
    puts((uintptr_t)x < (uintptr_t)y ? "order x<y" : "order y<x");
}

#if defined(__x86_64__)
#define HIDE 0x5a5a5a5a5a5a5a5aull
static volatile uintptr_t g_hidden;

/* Calls the on-demand check with v in r15 and nowhere else (the register v came in is
 * zeroed; the red zone skipped, the stack aligned for the call; r12 keeps rsp). */
__attribute__((noipa)) static void check_holding(uintptr_t v)
{
    int (*fn)(void) = __lsan_do_recoverable_leak_check;
    __asm__ volatile("movq %0, %%r15\n\t"
                     "xorl %k0, %k0\n\t"
                     "movq %%rsp, %%r12\n\t"
                     "subq $128, %%rsp\n\t"
                     "andq $-16, %%rsp\n\t"
                     "call *%1\n\t"
                     "movq %%r12, %%rsp\n\t"
                     "xorl %%r15d, %%r15d"
                     : "+r"(v)
                     : "r"(fn)
                     : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r15",
                       "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory",
                       "cc");
}

__attribute__((noipa)) static void in_register(void)
{
    g_hidden = (uintptr_t)blk(48) ^ HIDE;
    printf("reg %p\n", (void *)(g_hidden ^ HIDE));
    fflush(stdout);
    scrub();
    check_holding(g_hidden ^ HIDE);
    check_holding(0);
    free((void *)(g_hidden ^ HIDE));
}
#endif

int main(int argc, char **argv)
{
    make();
    scrub();
    fflush(stdout);
    if (argc > 1 && !strcmp(argv[1], "ondemand") && __lsan_do_recoverable_leak_check)
        (void)__lsan_do_recoverable_leak_check();
#if defined(__x86_64__)
    if (argc > 1 && !strcmp(argv[1], "register") && __lsan_do_recoverable_leak_check)
        in_register();
#endif
    return 0;
}
