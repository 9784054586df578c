// cxx.cc - a C++ program for real-cxx.sh: std::string, std::map, std::thread
// and C++17 aligned new (operator new(size_t, align_val_t) -> aligned_alloc).
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

struct alignas(64) Line { char bytes[64]; };
struct alignas(4096) Page { char bytes[4096]; };

static std::atomic<int> misaligned{0};

static std::string work(int id) {
  std::map<std::string, std::vector<int>> m;
  std::string acc;
  for (int i = 0; i < 60000; i++) {
    std::string k = "key" + std::to_string((i * 7919 + id) % 20011);
    m[k].push_back(i);
    if (i % 1000 == 0) acc += k.substr(0, 4);
    if (i % 97 == 0) {
      auto *l = new Line[3];
      auto *p = new Page;
      if (reinterpret_cast<uintptr_t>(l) % 64 || reinterpret_cast<uintptr_t>(p) % 4096) misaligned++;
      l[2].bytes[63] = 1;
      p->bytes[4095] = 2;
      delete[] l;
      delete p;
    }
  }
  auto sp = std::make_shared<std::vector<std::string>>();
  for (auto &kv : m) if (kv.second.size() > 3) sp->push_back(kv.first);
  size_t total = 0;
  for (auto &kv : m) total += kv.second.size();
  return "thread " + std::to_string(id) + ": " + std::to_string(m.size()) + " keys, " + std::to_string(total) +
         " values, " + std::to_string(sp->size()) + " big, acc " + std::to_string(acc.size());
}

int main() {
  std::vector<std::string> out(6);
  std::vector<std::thread> ts;
  for (int i = 0; i < 6; i++) ts.emplace_back([i, &out] { out[i] = work(i); });
  for (auto &t : ts) t.join();
  for (auto &s : out) std::printf("%s\n", s.c_str());
  std::printf("misaligned: %d\n", misaligned.load());
  return misaligned.load() != 0;
}
