// cxx_work.cc -- the C++ half of the cxx_ops test: every form of operator new/delete called
// from its own named function a known number of times, deliberate mismatches, std::bad_alloc,
// and exceptions thrown through frames that allocate. Entry points have C linkage.
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <vector>

#define NOINLINE extern "C" __attribute__((noinline))

static void *volatile sink;
static volatile size_t huge = (size_t)1 << 46; // 64 TiB: malloc fails, operator new throws

NOINLINE void *cx_new(void) { return ::operator new(48); }
NOINLINE void *cx_new_b(void) { return ::operator new(48); }
NOINLINE void *cx_new_nothrow(void) { return ::operator new(64, std::nothrow); }
NOINLINE void *cx_new_aligned(void) { return ::operator new(128, std::align_val_t(64)); }
NOINLINE void *cx_new_aligned_b(void) { return ::operator new(128, std::align_val_t(64)); }
NOINLINE void *cx_new_aligned_nothrow(void)
{
    return ::operator new(256, std::align_val_t(128), std::nothrow);
}
NOINLINE void *cx_new_array(void) { return ::operator new[](100); }
NOINLINE void *cx_new_array_b(void) { return ::operator new[](100); }
NOINLINE void *cx_new_array_nothrow(void) { return ::operator new[](200, std::nothrow); }
NOINLINE void *cx_new_array_aligned(void) { return ::operator new[](300, std::align_val_t(64)); }
NOINLINE void *cx_new_array_aligned_b(void)
{
    return ::operator new[](300, std::align_val_t(64));
}
NOINLINE void *cx_new_array_aligned_nothrow(void)
{
    return ::operator new[](400, std::align_val_t(256), std::nothrow);
}

struct S48 {
    char b[48];
};
NOINLINE S48 *cx_expr_new(void) { return new S48(); }
NOINLINE int *cx_expr_new_array(void) { return new int[25]; }

// deliberate mismatches (glibc tolerates them: every form ends in malloc/free)
NOINLINE void *cx_mm_new_array(void) { return ::operator new[](32); }
NOINLINE void cx_mm_delete_scalar(void *p) { ::operator delete(p); }
NOINLINE void cx_mm_free(void *p) { free(p); }
NOINLINE void *cx_mm_malloc(void) { return malloc(40); }
NOINLINE void *cx_mm_new(void) { return ::operator new(24); }

NOINLINE int cx_bad_alloc(void)
{
    try {
        sink = ::operator new[](huge);
    } catch (const std::bad_alloc &) {
        return 1;
    }
    return 0;
}

NOINLINE void cx_thrower(int depth)
{
    std::unique_ptr<S48> keep(new S48()); // freed while the exception unwinds this frame
    std::vector<int> v(10);               // 40 bytes through operator new
    if (depth == 0)
        throw std::runtime_error("through allocating frames");
    cx_thrower(depth - 1);
}

extern "C" int cx_run(void)
{
    int caught = 0;
    for (int i = 0; i < 5; i++) ::operator delete(cx_new());
    for (int i = 0; i < 6; i++) ::operator delete(cx_new_b(), 48);
    for (int i = 0; i < 4; i++) ::operator delete(cx_new_nothrow(), std::nothrow);
    for (int i = 0; i < 3; i++) ::operator delete(cx_new_aligned(), std::align_val_t(64));
    for (int i = 0; i < 2; i++) ::operator delete(cx_new_aligned_b(), 128, std::align_val_t(64));
    for (int i = 0; i < 2; i++)
        ::operator delete(cx_new_aligned_nothrow(), std::align_val_t(128), std::nothrow);
    for (int i = 0; i < 7; i++) ::operator delete[](cx_new_array());
    for (int i = 0; i < 3; i++) ::operator delete[](cx_new_array_b(), 100);
    for (int i = 0; i < 4; i++) ::operator delete[](cx_new_array_nothrow(), std::nothrow);
    for (int i = 0; i < 3; i++) ::operator delete[](cx_new_array_aligned(), std::align_val_t(64));
    for (int i = 0; i < 2; i++)
        ::operator delete[](cx_new_array_aligned_b(), 300, std::align_val_t(64));
    for (int i = 0; i < 2; i++)
        ::operator delete[](cx_new_array_aligned_nothrow(), std::align_val_t(256), std::nothrow);
    for (int i = 0; i < 10; i++) delete cx_expr_new();
    for (int i = 0; i < 10; i++) delete[] cx_expr_new_array();
    for (int i = 0; i < 3; i++) cx_mm_delete_scalar(cx_mm_new_array());
    for (int i = 0; i < 2; i++) cx_mm_free(cx_mm_new_array());
    for (int i = 0; i < 4; i++) cx_mm_delete_scalar(cx_mm_malloc());
    cx_mm_free(cx_mm_new());
    for (int i = 0; i < 2; i++) caught += cx_bad_alloc();
    for (int i = 0; i < 3; i++) {
        try {
            cx_thrower(2);
        } catch (const std::runtime_error &) {
            caught++;
        }
    }
    return caught; // 2 bad_alloc + 3 runtime_error
}
