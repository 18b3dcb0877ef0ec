/*
 * The attacker's half of the plugin-swap race (plugin-race.test.ts): swaps
 * two directory entries with renameat2(RENAME_EXCHANGE) as fast as it can,
 * as the unprivileged user it is run as, until SIGTERM or the safety alarm.
 * It prints how many swaps succeeded and how many failed (and the last
 * errno), so the test can tell a real race from one the kernel refused.
 *
 *   rename-exchange PATH_A PATH_B MAX_SECONDS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: rename-exchange PATH_A PATH_B MAX_SECONDS\n");
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGALRM, on_signal);
  alarm((unsigned)atoi(argv[3]));
  unsigned long swaps = 0, failures = 0;
  int last_errno = 0;
  /* Ready: the test starts its tries only once the attacker runs. */
  printf("ready\n");
  fflush(stdout);
  while (!stop) {
    if (renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) == 0) {
      swaps++;
    } else {
      failures++;
      last_errno = errno;
    }
  }
  printf("swaps %lu failures %lu errno %s\n", swaps, failures, last_errno ? strerror(last_errno) : "none");
  return 0;
}
