/*
 * The C side of the interrupt latency benchmark (bench/irq-latency.ts).
 *
 *   irq-epoll writer N GAP_US   fd 3: an eventfd, stdin: one byte per go-ahead. For each go-ahead
 *                               it waits GAP_US (so the reader is asleep in epoll), then adds the
 *                               CLOCK_MONOTONIC time in ns to the eventfd. A reader that finds the
 *                               counter at 0 before each write reads back exactly that time.
 *   irq-epoll baseline N GAP_US the same writer in a child process, and a plain epoll_wait + read
 *                               loop as the reader; prints each wakeup latency in ns, one a line.
 *
 * Node's clock (process.hrtime) is CLOCK_MONOTONIC too, so the JavaScript reader can measure the
 * same interval against the same writer.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int writer(int efd, int go, long n, long gap_us) {
  for (long i = 0; i < n; i++) {
    char c;
    if (read(go, &c, 1) != 1) return 0; /* the reader is gone: stop */
    usleep((useconds_t)gap_us);
    uint64_t t = now_ns();
    if (write(efd, &t, sizeof t) != sizeof t) return 1;
  }
  return 0;
}

static int baseline(long n, long gap_us) {
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int go[2];
  if (efd < 0 || pipe(go) < 0) return perror("eventfd/pipe"), 1;
  pid_t pid = fork();
  if (pid < 0) return perror("fork"), 1;
  if (pid == 0) {
    close(go[1]);
    _exit(writer(efd, go[0], n, gap_us));
  }
  close(go[0]);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = efd};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) < 0) return perror("epoll"), 1;
  uint64_t *lat = calloc((size_t)n, sizeof *lat);
  for (long i = 0; i < n; i++) {
    if (write(go[1], "x", 1) != 1) return perror("go-ahead"), 1;
    struct epoll_event out;
    while (epoll_wait(ep, &out, 1, -1) < 1) {
    }
    uint64_t t0;
    if (read(efd, &t0, sizeof t0) != sizeof t0) return perror("read eventfd"), 1;
    lat[i] = now_ns() - t0;
  }
  close(go[1]);
  waitpid(pid, NULL, 0);
  for (long i = 0; i < n; i++) printf("%llu\n", (unsigned long long)lat[i]);
  free(lat);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s writer|baseline N GAP_US\n", argv[0]);
    return 2;
  }
  long n = atol(argv[2]), gap = atol(argv[3]);
  if (strcmp(argv[1], "writer") == 0) return writer(3, 0, n, gap);
  if (strcmp(argv[1], "baseline") == 0) return baseline(n, gap);
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
