/* fork_setup.c - a thread's first allocator call is the free of a 256 MiB
 * block (its own mapping); while that free runs (munmap), signals whose
 * handler mallocs and frees land on the thread, which then sets itself up
 * inside the free's section. Then the main thread forks: the fork must not
 * wait for a section that was left (it waited for ever: the section had been
 * entered through the shared counter and left through the new slot).
 * Exit 0 when the fork returned; fork-setup.sh runs it under a timeout. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int in_free, handled;
static void *big;

static void on_usr1(int sig) {
  (void)sig;
  if (in_free) { free(malloc(24)); handled++; }
}
static void *worker(void *arg) {
  in_free = 1;
  free(big);                                        /* this thread's first allocator call */
  in_free = 0;
  return arg;
}

int main(void) {
  signal(SIGUSR1, on_usr1);
  size_t n = (size_t)256 << 20;
  big = malloc(n);
  if (!big) return 2;
  memset(big, 1, n);                                /* a slow munmap: time for the signals */
  pthread_t th;
  pthread_create(&th, NULL, worker, NULL);
  while (!in_free) {}
  for (int i = 0; i < 200 && in_free; i++) { pthread_kill(th, SIGUSR1); usleep(50); }
  pthread_join(th, NULL);
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  if (pid < 0) return 3;
  int st;
  waitpid(pid, &st, 0);
  printf("fork returned (handler ran %d times during the free)\n", handled);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 4;
}
