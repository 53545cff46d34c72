/*
 * heap_errors -- three mismatched releases that glibc lets pass (the process exits cleanly,
 * so the exit scan runs): new[] released by delete, malloc by delete, new by free; and, with
 * argument "leak", one definite leak of 100 bytes holding an indirect one of 1000 bytes plus
 * a larger definite leak of 500 bytes holding nothing (the gate lists definite leaks before
 * the indirect ones they hold). For tests/integration/advice.sh.
 */
#include <cstdlib>
#include <cstring>

static void *volatile keep;

__attribute__((noinline)) static void mismatches()
{
    int *volatile a = new int[4];
    delete a; // new[] / delete
    char *volatile m = static_cast<char *>(std::malloc(8));
    delete m; // malloc / delete
    int *volatile b = new int(1);
    std::free(b); // new / free
}

__attribute__((noinline)) static void leak_holder()
{
    void **h = static_cast<void **>(std::malloc(100));
    std::memset(h, 0, 100);
    h[0] = std::malloc(1000); // indirect: only h points to it
    std::memset(h[0], 1, 1000);
    keep = h;
    keep = nullptr;
}

__attribute__((noinline)) static void leak_plain()
{
    char *p = static_cast<char *>(std::malloc(500));
    std::memset(p, 2, 500);
    keep = p;
    keep = nullptr;
}

int main(int argc, char **argv)
{
    mismatches();
    if (argc > 1 && !std::strcmp(argv[1], "leak")) {
        leak_holder();
        leak_plain();
    }
    return 0;
}
