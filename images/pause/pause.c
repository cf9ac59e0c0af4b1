/*
 * pause: the sandbox ("infra") process of a Kubernetes pod.
 *
 * Written for this project from the documented behaviour of kubernetes build/pause/linux/pause.c:
 * it holds the pod's namespaces open and does nothing; exits 0 on SIGINT/SIGTERM; reaps any
 * zombie it inherits as PID 1 (SIGCHLD); `-v` prints the version. Built `gcc -Os -static`.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VERSION
#define VERSION "3.10-chatstack"
#endif

static void on_exit_signal(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static int install(int sig, void (*handler)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) {
      printf("pause.c %s\n", VERSION);
      return 0;
    }
  }
  if (getpid() != 1) {
    fprintf(stderr, "Warning: pause should be the first process\n");
  }
  if (install(SIGINT, on_exit_signal, 0) < 0 || install(SIGTERM, on_exit_signal, 0) < 0) {
    return 1;
  }
  if (install(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART) < 0) {
    return 2;
  }
  for (;;) {
    pause();
  }
  fprintf(stderr, "Error: infinite loop terminated\n");
  return 42;
}
