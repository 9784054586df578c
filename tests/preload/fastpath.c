/* fastpath.c - tiny malloc/free loop for counting fast-path instructions:
 *   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
 *     env LD_PRELOAD=build/libumm_preload.so build/tests/preload/fastpath 1000000
 *   callgrind_annotate --inclusive=yes /tmp/cg.out | grep -E 'malloc|free'
 * (cost of malloc and free divided by the number of iterations). Run with
 * no argument it is a quick sanity test (exit 0). */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  void *volatile sink;
  for (long i = 0; i < n; i++) {
    void *p = malloc(32);
    sink = p;
    free(p);
  }
  (void)sink;
  return 0;
}
