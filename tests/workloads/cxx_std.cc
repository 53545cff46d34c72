// cxx_std -- allocations made through the C++ standard library for
// tests/integration/cxx_report.sh: std::vector growth, std::string and std::map nodes, each
// reached from one app function, so that a report with --stack-depth 3 must show the app
// frames (the std:: frames folded) and --show-std-frames the library's.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

__attribute__((noinline)) static void fill_vector(std::vector<long> &v, int n)
{
    for (int i = 0; i < n; i++)
        v.push_back(i); // LINE_PUSH
}

__attribute__((noinline)) static void fill_map(std::map<int, std::string> &m, int n)
{
    for (int i = 0; i < n; i++)
        m[i] = std::string(40, 'x'); // LINE_MAP
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? std::atoi(argv[1]) : 100;
    std::vector<long> v;
    std::map<int, std::string> m;
    fill_vector(v, n);
    fill_map(m, n);
    std::printf("%zu %zu\n", v.size(), m.size());
    return 0;
}
