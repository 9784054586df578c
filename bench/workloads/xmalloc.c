/* xmalloc.c - xmalloc-like producer/consumer: pure cross-thread free.
 *
 * max(1,T/2) producers allocate 64-byte objects in batches of BATCH into a
 * bounded shared queue; the other threads (at least one) free them. The batch
 * records themselves are malloc'ed by producers and freed by consumers too.
 * Reports frees per second. */
#include "common.h"

#define BATCH 128
#define QCAP 64
#define OBJ 64

typedef struct batch {
  int n;
  void *p[BATCH];
} batch_t;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t not_empty, not_full;
  batch_t *q[QCAP];
  int head, count;
} Q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0};

static void push(batch_t *b) {
  pthread_mutex_lock(&Q.mu);
  while (Q.count == QCAP) pthread_cond_wait(&Q.not_full, &Q.mu);
  Q.q[(Q.head + Q.count) % QCAP] = b;
  Q.count++;
  pthread_cond_signal(&Q.not_empty);
  pthread_mutex_unlock(&Q.mu);
}

static batch_t *pop(void) {
  pthread_mutex_lock(&Q.mu);
  while (Q.count == 0) pthread_cond_wait(&Q.not_empty, &Q.mu);
  batch_t *b = Q.q[Q.head];
  Q.head = (Q.head + 1) % QCAP;
  Q.count--;
  pthread_cond_signal(&Q.not_full);
  pthread_mutex_unlock(&Q.mu);
  return b;
}

typedef struct {
  long batches;
  long freed;
  long bad;
} job_t;

static void *producer(void *arg) {
  job_t *j = arg;
  for (long i = 0; i < j->batches; i++) {
    batch_t *b = xmalloc(sizeof *b);
    b->n = BATCH;
    for (int k = 0; k < BATCH; k++) {
      long *o = malloc(OBJ);
      if (!o) bench_fail("malloc");
      o[0] = k;
      o[OBJ / sizeof(long) - 1] = i;
      b->p[k] = o;
    }
    push(b);
  }
  return NULL;
}

static void *consumer(void *arg) {
  job_t *j = arg;
  for (;;) {
    batch_t *b = pop();
    if (!b) break;
    for (int k = 0; k < b->n; k++) {
      long *o = b->p[k];
      if (o[0] != k) j->bad++;
      free(o);
    }
    free(b);
    j->freed += BATCH;
  }
  return NULL;
}

int main(int argc, char **argv) {
  bench_args_t A = bench_parse(argc, argv);
  int P = A.threads / 2 > 0 ? A.threads / 2 : 1;
  int C = A.threads - P > 0 ? A.threads - P : 1;
  long total_batches = bench_scaled(12e6 / BATCH, A.scale, P);
  pthread_t *tid = xmalloc(sizeof(pthread_t) * (size_t)(P + C));
  job_t *jobs = calloc((size_t)(P + C), sizeof(job_t));
  if (!jobs) bench_fail("calloc");
  double t0 = bench_now();
  for (int i = 0; i < C; i++) pthread_create(&tid[P + i], NULL, consumer, &jobs[P + i]);
  for (int i = 0; i < P; i++) {
    jobs[i].batches = total_batches / P;
    pthread_create(&tid[i], NULL, producer, &jobs[i]);
  }
  for (int i = 0; i < P; i++) pthread_join(tid[i], NULL);
  for (int i = 0; i < C; i++) push(NULL);
  long freed = 0, bad = 0;
  for (int i = 0; i < C; i++) {
    pthread_join(tid[P + i], NULL);
    freed += jobs[P + i].freed;
    bad += jobs[P + i].bad;
  }
  double secs = bench_now() - t0;
  if (bad) bench_fail("object contents corrupted");
  free(tid);
  free(jobs);
  bench_report("xmalloc", &A, secs, (double)freed, "frees/s", (double)freed / secs,
               "producers=%d consumers=%d", P, C);
  return 0;
}
