// cxx_inline -- a C++ workload with known truth for symbolization: namespaced classes,
// templates, an allocation helper that is always inlined, and std::vector growth.
// Every LINE_* marker sits on the line of the call it names; tests/integration/cxx_report.sh
// checks that `perfshim report --format=json` gives exactly these counts, demangled names,
// the inlined frame and these lines.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace shapes {

struct Node {
    long payload[6]; // 48 bytes
};

// Always inlined into its caller: the report must show it as an inlined frame.
__attribute__((always_inline)) static inline Node *make_node()
{
    return new Node(); // LINE_MAKE_NODE
}

class Pool {
public:
    __attribute__((noinline)) void fill(int n);
    __attribute__((noinline)) void drain();
    std::vector<Node *> nodes;
};

void Pool::fill(int n)
{
    for (int i = 0; i < n; i++) {
        Node *p = make_node(); // LINE_FILL_CALL
        nodes.push_back(p);
    }
}

void Pool::drain()
{
    for (Node *p : nodes)
        delete p;
    nodes.clear();
}

template <typename T> __attribute__((noinline)) T *make_array(std::size_t n)
{
    return static_cast<T *>(std::malloc(n * sizeof(T))); // LINE_MAKE_ARRAY
}

} // namespace shapes

int main(int argc, char **argv)
{
    int n = argc > 1 ? std::atoi(argv[1]) : 1000;
    shapes::Pool pool;
    pool.nodes.reserve(static_cast<std::size_t>(n)); // one vector allocation
    pool.fill(n);
    pool.drain();
    for (int i = 0; i < 25; i++)
        std::free(shapes::make_array<double>(16)); // 25 x 128 bytes
    std::printf("cxx_inline: %d nodes\n", n);
    return 0;
}
