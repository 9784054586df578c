// cxx_sites.cc - C++ new under UMM_TAG=site: blocks made by new / new[] are
// tagged with the caller of new (a site in this program, not libstdc++'s
// operator new); a failing new still throws std::bad_alloc (through
// libstdc++'s operator new) and nothrow new returns nullptr. Writes a json
// dump to argv[1].
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <new>
#include <unistd.h>
#include <vector>
#include <cstdint>

// umm_debug.h's declarations (the .cc build rule has no -Iinclude)
extern "C" {
uint32_t umm_tag_of(const void *p) __attribute__((weak));
int umm_dump(int fd, const char *format) __attribute__((weak));
}

struct Node { Node *next; long payload[5]; };

__attribute__((noinline)) static Node *build(int n) {
  Node *head = nullptr;
  for (int i = 0; i < n; i++) head = new Node{head, {i, 0, 0, 0, 0}};
  return head;
}

int main(int argc, char **argv) {
  int fail = 0;
  Node *list = build(2000);
  int *arr = new int[1000];
  int *nt = new (std::nothrow) int[10];
  bool threw = false;
  try {
    volatile size_t huge = (size_t)1 << 62;
    char *p = new char[huge];
    std::printf("huge new returned %p\n", (void *)p);
  } catch (const std::bad_alloc &) {
    threw = true;
  }
  if (!threw) { std::printf("FAIL: no bad_alloc\n"); fail = 1; }
  volatile size_t huge2 = (size_t)1 << 62;
  char *q = new (std::nothrow) char[huge2];
  if (q) { std::printf("FAIL: nothrow new of 2^62 bytes\n"); fail = 1; }
  if (umm_tag_of && umm_tag_of(list) != umm_tag_of(list->next)) { std::printf("FAIL: one site, two tags\n"); fail = 1; }
  if (umm_tag_of && umm_tag_of(list) == umm_tag_of(arr)) { std::printf("FAIL: two sites, one tag\n"); fail = 1; }
  if (argc > 1 && umm_dump) {
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    umm_dump(fd, "json");
    close(fd);
  }
  while (list) { Node *n = list->next; delete list; list = n; }
  delete[] arr;
  delete[] nt;
  std::printf("%s\n", fail ? "failed" : "ok");
  return fail;
}
