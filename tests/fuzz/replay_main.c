/* replay_main.c - runs a libFuzzer target without libFuzzer: every argument
 * is a file (one input) or a directory (each regular file in it, sorted by
 * name). Prints one line per input with -v, and "replayed N inputs" at the
 * end; a failing input aborts (the target prints what went wrong, the last
 * "running" line names the file). Used by tests/fuzz/ci.sh with a gcc
 * ASan/UBSan build, so CI needs no clang fuzzer runtime. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int verbose;
static unsigned long replayed;

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); return 1; }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (n == cap) { cap *= 2; buf = realloc(buf, cap); }
    if (!buf) { fprintf(stderr, "out of memory reading %s\n", path); fclose(f); return 1; }
    size_t r = fread(buf + n, 1, cap - n, f);
    if (!r) break;
    n += r;
  }
  fclose(f);
  if (verbose) { fprintf(stderr, "running %s (%zu bytes)\n", path, n); fflush(stderr); }
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  replayed++;
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) { perror(path); return 1; }
  if (!S_ISDIR(st.st_mode)) return run_file(path);
  DIR *d = opendir(path);
  if (!d) { perror(path); return 1; }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) { cap = cap ? cap * 2 : 64; names = realloc(names, cap * sizeof *names); if (!names) return 1; }
    size_t len = strlen(path) + strlen(e->d_name) + 2;
    names[n] = malloc(len);
    if (!names[n]) return 1;
    snprintf(names[n++], len, "%s/%s", path, e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) rc |= run_file(names[i]);
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  int rc = 0, paths = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-v")) { verbose = 1; continue; }
    paths++;
    rc |= run_path(argv[i]);
  }
  if (!paths) { fprintf(stderr, "usage: %s [-v] FILE|DIR...\n", argv[0]); return 2; }
  printf("replayed %lu inputs%s\n", replayed, rc ? " (some could not be read)" : "");
  return rc;
}
