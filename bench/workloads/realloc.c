/* realloc.c - realloc growth: vectors doubling up to a random capacity and
 * halving back down, and strings growing a few bytes at a time (exact-size
 * realloc, like a naive string builder) then freed. Contents are checked
 * after every move. Reports reallocs per second. */
#include "common.h"

#define VECS 32
#define STRS 32

typedef struct {
  char *p;
  size_t cap, limit;
  int growing;
} vec_t;

typedef struct {
  char *p;
  size_t len, limit;
} str_t;

typedef struct {
  long ops;
  uint64_t seed;
  long reallocs;
} job_t;

static void *worker(void *arg) {
  job_t *j = arg;
  uint64_t s = j->seed;
  vec_t v[VECS];
  str_t st[STRS];
  memset(v, 0, sizeof v);
  memset(st, 0, sizeof st);
  long n = 0;
  for (long i = 0; i < j->ops; i++) {
    uint64_t r = rng_next(&s);
    if (r & 1) {                               /* a vector step */
      vec_t *x = &v[(r >> 8) % VECS];
      if (!x->p) {
        x->cap = 16;
        x->limit = (size_t)1024 << ((r >> 20) % 8);    /* 1 KiB .. 128 KiB */
        x->growing = 1;
        x->p = xmalloc(x->cap);
        x->p[0] = 'v';
        continue;
      }
      size_t old = x->cap;
      if (x->growing) x->cap *= 2; else x->cap /= 2;
      char *q = realloc(x->p, x->cap);
      if (!q) bench_fail("realloc");
      if (q[0] != 'v') bench_fail("vector contents lost");
      x->p = q;
      n++;
      if (x->growing) {
        /* touch the new half: the first byte of each page and the last byte */
        for (size_t o = old; o < x->cap; o += 4096) q[o] = 'g';
        q[x->cap - 1] = 'e';
        if (x->cap >= x->limit) x->growing = 0;
      } else if (x->cap <= 16) {
        free(x->p);
        x->p = NULL;
      }
    } else {                                   /* a string step */
      str_t *x = &st[(r >> 8) % STRS];
      if (!x->p) {
        x->limit = 256 + (size_t)((r >> 20) % 32768);
        x->len = 0;
      }
      size_t add = 1 + (size_t)((r >> 40) % 48);
      char *q = realloc(x->p, x->len + add + 1);
      if (!q) bench_fail("realloc");
      if (x->len && (q[0] != 's' || q[x->len - 1] != 's')) bench_fail("string contents lost");
      memset(q + x->len, 's', add);
      x->len += add;
      q[x->len] = 0;
      x->p = q;
      n++;
      if (x->len >= x->limit) {
        free(x->p);
        x->p = NULL;
      }
    }
  }
  for (int k = 0; k < VECS; k++) free(v[k].p);
  for (int k = 0; k < STRS; k++) free(st[k].p);
  j->reallocs = n;
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int T = A.threads;
  long total = bench_scaled(3e6, A.scale, T);
  job_t *jobs = xmalloc(sizeof(job_t) * (size_t)T);
  for (int t = 0; t < T; t++) { jobs[t].ops = total / T; jobs[t].seed = 77 + (uint64_t)t; }
  double t0 = bench_now();
  bench_run_threads(T, worker, jobs, sizeof(job_t));
  double secs = bench_now() - t0;
  double ops = 0;
  for (int t = 0; t < T; t++) ops += (double)jobs[t].reallocs;
  free(jobs);
  bench_report("realloc", &A, secs, ops, "reallocs/s", ops / secs, NULL);
  return 0;
}
