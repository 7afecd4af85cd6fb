// The kernel-driver baseline of bench/nvme.ts: 4 KiB random reads with O_DIRECT on a block
// device, QD requests kept in flight through Linux native AIO (io_setup/io_submit/io_getevents,
// the engine fio calls libaio), for a number of seconds. Prints "<completions> <seconds>".
// fio is not in the emulated host's userland; this is the same I/O pattern in a few lines.
//
//   nvme-direct /dev/nvme0n1 QD SECONDS
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096
#define MAX_QD 256

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_random(void) {  // xorshift64: cheap, and the same cost on every request
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s DEVICE QD SECONDS\n", argv[0]);
    return 2;
  }
  int qd = atoi(argv[2]);
  double seconds = atof(argv[3]);
  if (qd < 1 || qd > MAX_QD || seconds <= 0) {
    fprintf(stderr, "QD must be 1-%d and SECONDS positive\n", MAX_QD);
    return 2;
  }
  int fd = open(argv[1], O_RDONLY | O_DIRECT);
  if (fd < 0) {
    perror(argv[1]);
    return 1;
  }
  uint64_t bytes = 0;
  if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
    perror("BLKGETSIZE64");
    return 1;
  }
  uint64_t blocks = bytes / BLOCK;
  aio_context_t ctx = 0;
  if (syscall(SYS_io_setup, qd, &ctx) != 0) {
    perror("io_setup");
    return 1;
  }
  static struct iocb cbs[MAX_QD];
  static struct iocb *ptrs[MAX_QD];
  static struct io_event events[MAX_QD];
  void *buf;
  if (posix_memalign(&buf, BLOCK, (size_t)qd * BLOCK) != 0) return 1;
  for (int i = 0; i < qd; i++) {
    memset(&cbs[i], 0, sizeof cbs[i]);
    cbs[i].aio_fildes = fd;
    cbs[i].aio_lio_opcode = IOCB_CMD_PREAD;
    cbs[i].aio_buf = (uint64_t)(uintptr_t)((char *)buf + (size_t)i * BLOCK);
    cbs[i].aio_nbytes = BLOCK;
    cbs[i].aio_data = i;
    cbs[i].aio_offset = (next_random() % blocks) * BLOCK;
    ptrs[i] = &cbs[i];
  }
  double start = now(), end = start + seconds;
  uint64_t done = 0;
  if (syscall(SYS_io_submit, ctx, qd, ptrs) != qd) {
    perror("io_submit");
    return 1;
  }
  int inflight = qd;
  while (inflight > 0) {
    long n = syscall(SYS_io_getevents, ctx, 1, qd, events, NULL);
    if (n < 0) {
      perror("io_getevents");
      return 1;
    }
    inflight -= n;
    int again = 0;
    for (long i = 0; i < n; i++) {
      if ((long)events[i].res != BLOCK) {
        fprintf(stderr, "read failed: %lld\n", (long long)events[i].res);
        return 1;
      }
      done++;
      struct iocb *cb = &cbs[events[i].data];
      if (now() < end) {
        cb->aio_offset = (next_random() % blocks) * BLOCK;
        ptrs[again++] = cb;
      }
    }
    if (again && syscall(SYS_io_submit, ctx, again, ptrs) != again) {
      perror("io_submit");
      return 1;
    }
    inflight += again;
  }
  printf("%llu %.6f\n", (unsigned long long)done, now() - start);
  return 0;
}
