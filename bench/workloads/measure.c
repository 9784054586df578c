/* measure.c - the runner's measuring wrapper (not a workload).
 *
 *   measure [-p PRELOAD] -o OUTFILE -- PROGRAM ARGS...
 *
 * Runs PROGRAM (with LD_PRELOAD=PRELOAD when given, set only in the child, so
 * the wrapper itself never runs under the allocator being measured), waits for
 * it and writes one line to OUTFILE:
 *   MEASURE status=S wall_s=W user_s=U sys_s=Y maxrss_kb=K
 * where K is the peak RSS of PROGRAM or of any child it waited for. Why a
 * wrapper: Linux carries the RSS high-water mark of the process that execs
 * into the exec'ed program, so a child forked from a large runner (python)
 * would report at least the runner's RSS; this wrapper is linked statically
 * and is small. Exit status: PROGRAM's (128+signal when killed). SIGTERM and
 * SIGINT are passed on to PROGRAM. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;

static void forward(int sig) {
  if (child > 0) kill(child, sig);
}

int main(int argc, char **argv) {
  const char *preload = NULL, *out = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "-p") && i + 1 < argc) preload = argv[++i];
    else if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
    else if (!strcmp(argv[i], "--")) { i++; break; }
    else break;
  }
  if (!out || i >= argc) {
    fprintf(stderr, "usage: measure [-p PRELOAD] -o OUTFILE -- PROGRAM ARGS...\n");
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  child = fork();
  if (child < 0) { perror("fork"); return 2; }
  if (child == 0) {
    if (preload) setenv("LD_PRELOAD", preload, 1);
    else unsetenv("LD_PRELOAD");
    execvp(argv[i], argv + i);
    fprintf(stderr, "measure: exec %s: %s\n", argv[i], strerror(errno));
    _exit(127);
  }
  signal(SIGTERM, forward);
  signal(SIGINT, forward);
  int status = 0;
  struct rusage ru;
  while (wait4(child, &status, 0, &ru) < 0) {
    if (errno != EINTR) { perror("wait4"); return 2; }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE *f = fopen(out, "w");
  if (f) {
    fprintf(f, "MEASURE status=%d signal=%d wall_s=%.6f user_s=%.6f sys_s=%.6f maxrss_kb=%ld\n", code,
            WIFSIGNALED(status) ? WTERMSIG(status) : 0, wall,
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6,
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6, ru.ru_maxrss);
    fclose(f);
  }
  return code;
}
