#!/usr/bin/env bash
# A C++ program (std::string, std::map, std::thread, C++17 aligned new): same output with and without umm.
# Then a program linked with a shared library that brings its own operator
# new/delete pair (a tag word before each block, checked by its delete): the
# preload exports new and must export the matching deletes too, or the
# library's delete gets umm's blocks and aborts.
set -u
. tests/preload/lib.bash
compare cxx "$B/tests/preload/cxx" || exit 1

cat >"$TMPD/ownnew.cc" <<'CC'
#include <cstdio>
#include <cstdlib>
#include <new>
static const unsigned long OWN = 0x6f776e6e6577ul;
void *operator new(std::size_t n) {
  unsigned long *p = static_cast<unsigned long *>(std::malloc(n + 16));
  if (!p) throw std::bad_alloc();
  p[0] = OWN;
  return p + 2;
}
void *operator new[](std::size_t n) { return operator new(n); }
void operator delete(void *q) noexcept {
  if (!q) return;
  unsigned long *p = static_cast<unsigned long *>(q) - 2;
  if (p[0] != OWN) { std::fprintf(stderr, "ownnew: delete of a block its new did not make\n"); std::abort(); }
  std::free(p);
}
void operator delete[](void *q) noexcept { operator delete(q); }
void operator delete(void *q, std::size_t) noexcept { operator delete(q); }
void operator delete[](void *q, std::size_t) noexcept { operator delete(q); }
CC
cat >"$TMPD/usenew.cc" <<'CC'
#include <cstdio>
#include <map>
#include <string>
#include <vector>
int main() {
  std::map<int, std::string> m;
  for (int i = 0; i < 2000; i++) m[i] = std::string(40 + i % 100, 'a' + i % 26);
  std::vector<int *> v;
  for (int i = 0; i < 1000; i++) v.push_back(new int[i % 50 + 1]);
  for (int *p : v) delete[] p;
  size_t n = 0;
  for (auto &kv : m) n += kv.second.size();
  std::printf("%zu %zu\n", m.size(), n);
}
CC
g++ -O1 -shared -fPIC -o "$TMPD/libownnew.so" "$TMPD/ownnew.cc" &&
  g++ -O1 -o "$TMPD/usenew" "$TMPD/usenew.cc" -L"$TMPD" -lownnew -Wl,-rpath,"$TMPD" ||
  { echo "FAIL: building the own-new/delete library"; exit 1; }
compare ownnew "$TMPD/usenew"
