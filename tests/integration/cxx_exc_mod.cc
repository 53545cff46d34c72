// C++ exceptions under the shim (issue 12), the module tests/integration/cxx_exc dlopens:
// thrown and caught in several threads, a failing nothrow new, a failing plain new
// (std::bad_alloc), std::current_exception and rethrow. Prints the same lines natively and
// under the shim.

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static volatile std::size_t huge = SIZE_MAX / 2; // volatile: the compiler cannot fold the new

static int __attribute__((noinline)) thrower(int i)
{
    if (i % 3 == 0)
        throw std::runtime_error("r" + std::to_string(i));
    if (i % 3 == 1)
        throw i;
    return i;
}

static void worker(int id, long *sum)
{
    long s = 0;
    for (int i = 0; i < 300; i++) {
        try {
            s += thrower(i + id);
        } catch (const std::runtime_error &e) {
            s += (long)std::strlen(e.what());
        } catch (int v) {
            s += v;
        }
    }
    *sum = s;
}

extern "C" int cxx_exc_run(void);
extern "C" int cxx_exc_run(void)
{
    std::vector<std::thread> ts;
    long sums[4] = {0};
    for (int t = 0; t < 4; t++)
        ts.emplace_back(worker, t, &sums[t]);
    for (auto &t : ts)
        t.join();
    for (int t = 0; t < 4; t++)
        std::printf("thread %d: %ld\n", t, sums[t]);

    char *p = new (std::nothrow) char[huge];
    std::printf("nothrow new: %s\n", p ? "non-null" : "nullptr");
    delete[] p;

    try {
        char *q = new char[huge];
        std::printf("new: %p\n", (void *)q);
        delete[] q;
    } catch (const std::bad_alloc &e) {
        std::printf("new: bad_alloc\n");
    }

    std::exception_ptr ep;
    try {
        throw std::logic_error("kept");
    } catch (...) {
        ep = std::current_exception();
    }
    try {
        std::rethrow_exception(ep);
    } catch (const std::logic_error &e) {
        std::printf("rethrown: %s\n", e.what());
    }

    return 3;
}
