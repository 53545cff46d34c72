// cxx_service -- issue 18's "realistic C++ program with repeated stacks" for the trace-size
// comparison with heaptrack (docs/performance.md): a request loop as a small service runs
// it. Each request is a line of text that is split into std::string tokens (a
// std::vector<std::string>), parsed into a std::map of fields, looked up in an LRU cache
// (std::unordered_map of std::string keys to shared_ptr'd entries, a std::list for the order,
// bounded: the evicted entries are freed), and answered with a response string built by
// appending (std::string growth). Most blocks live for one request; the cache's live for
// thousands. The same few call paths allocate over and over. A fixed seed makes every run
// identical; prints a checksum.
// Usage: cxx_service [requests=200000] [cache entries=20000]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

static uint64_t seed = 0x9e3779b97f4a7c15ull;
static uint64_t rnd()
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

struct entry {
    std::string key, value;
    std::vector<uint32_t> hits;
};

struct cache {
    size_t cap;
    std::list<std::string> order; // most recent first
    std::unordered_map<std::string, std::pair<std::shared_ptr<entry>, std::list<std::string>::iterator>> map;

    std::shared_ptr<entry> get(const std::string &k)
    {
        auto it = map.find(k);
        if (it == map.end())
            return nullptr;
        order.splice(order.begin(), order, it->second.second);
        return it->second.first;
    }
    void put(const std::string &k, std::shared_ptr<entry> e)
    {
        order.push_front(k);
        map[k] = {std::move(e), order.begin()};
        if (map.size() > cap) {
            map.erase(order.back());
            order.pop_back();
        }
    }
};

__attribute__((noinline)) static std::string make_request(uint64_t r)
{
    static const char *verbs[] = {"GET", "PUT", "DEL", "STAT"};
    std::string s = verbs[r & 3];
    s += " /users/";
    s += std::to_string((r >> 8) % 50000);
    s += "/profile?fields=name,email,created&session=";
    s += std::to_string(r >> 40);
    return s;
}

__attribute__((noinline)) static std::vector<std::string> split(const std::string &s)
{
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == ' ' || c == '/' || c == '?' || c == '&' || c == ',') {
            if (!cur.empty())
                out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty())
        out.push_back(cur);
    return out;
}

__attribute__((noinline)) static std::map<std::string, std::string>
parse(const std::vector<std::string> &tok)
{
    std::map<std::string, std::string> f;
    f["verb"] = tok.empty() ? "" : tok[0];
    for (size_t i = 1; i + 1 < tok.size(); i += 2)
        f[tok[i]] = tok[i + 1];
    return f;
}

__attribute__((noinline)) static std::string respond(const std::map<std::string, std::string> &f,
                                                     const entry &e)
{
    std::string out = "{";
    for (const auto &kv : f) {
        out += "\"" + kv.first + "\": \"" + kv.second + "\", ";
    }
    out += "\"value\": \"" + e.value + "\"}";
    return out;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    cache c;
    c.cap = argc > 2 ? (size_t)atol(argv[2]) : 20000;
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) {
        uint64_t r = rnd();
        std::string req = make_request(r);
        std::vector<std::string> tok = split(req);
        std::map<std::string, std::string> f = parse(tok);
        std::string key = f["verb"] == "GET" ? f["users"] : f["users"] + "#w";
        std::shared_ptr<entry> e = c.get(key);
        if (!e || f["verb"] == "PUT") {
            e = std::make_shared<entry>();
            e->key = key;
            e->value = std::string(16 + (r >> 50) % 200, 'a' + (char)(r % 26));
            c.put(key, e);
        }
        e->hits.push_back((uint32_t)i);
        std::string out = respond(f, *e);
        sum += out.size() + e->hits.size();
    }
    printf("checksum %llu\n", (unsigned long long)sum);
    return 0;
}
