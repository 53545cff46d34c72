// leakfree_cxx -- a C++ program that frees everything it owns while using what the C++
// runtime keeps: iostream, std::thread, exceptions thrown and caught (the emergency pool),
// std::string, containers, locale, function-local statics. `perfshim check` must pass it
// with a budget of 0 (tests/integration/check.sh).
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static std::string global_name = std::string("a global string long enough to be on the heap");

static const std::string &cached()
{
    static const std::string s(200, 'x'); // a function-local static: reachable at exit
    return s;
}

static int work(int id)
{
    int caught = 0;
    for (int i = 0; i < 200; i++) {
        try {
            std::string msg = "failure number " + std::to_string(i) + " in thread " +
                              std::to_string(id) + " with a long enough text";
            if (i % 3 == 0)
                throw std::runtime_error(msg);
        } catch (const std::exception &e) {
            caught += e.what()[0] == 'f';
        }
        std::vector<std::unique_ptr<int>> v;
        for (int k = 0; k < 10; k++)
            v.push_back(std::make_unique<int>(k));
        std::map<std::string, int> m;
        m["key " + std::to_string(i)] = i;
    }
    return caught;
}

int main()
{
    std::vector<std::thread> ts;
    int results[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++)
        ts.emplace_back([i, &results] { results[i] = work(i); });
    for (auto &t : ts)
        t.join();
    std::ostringstream os;
    os << "leakfree_cxx: caught " << results[0] + results[1] + results[2] + results[3]
       << " exceptions; " << cached().size() << " " << global_name.size();
    std::cout << os.str() << std::endl;
    return 0;
}
