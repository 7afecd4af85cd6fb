// The syscalls the addon makes, each through one inline wrapper named after it, so that a test
// can fail any of them on purpose (faults.cc, `__faults` in lib/addon/contract.ts): while armed, the
// wrappers count calls and the chosen one fails with the chosen errno, without reaching the
// kernel. Disarmed (always, unless a test arms it) the cost is one relaxed atomic load.
//
// The switch is process-wide, not per addon instance: thread-pool tasks make syscalls too, and
// they hold no environment to look an instance up in.
#ifndef VFIO_NATIVE_SYS_H
#define VFIO_NATIVE_SYS_H

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace vfio {

struct FaultSwitch {
  std::atomic<bool> armed{false};
  std::atomic<uint64_t> calls{0};    // syscalls made since armed
  std::atomic<uint64_t> fail_at{0};  // the call (1-based) that fails; 0 = none
  std::atomic<int> errnum{0};
};
FaultSwitch& fault_switch();

// true (with errno set) when this syscall is the one chosen to fail.
inline bool fault_injected() {
  FaultSwitch& f = fault_switch();
  if (!f.armed.load(std::memory_order_relaxed)) return false;
  uint64_t n = f.calls.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n != f.fail_at.load(std::memory_order_relaxed)) return false;
  errno = f.errnum.load(std::memory_order_relaxed);
  return true;
}

namespace sys {

// glibc declares the rlimit resource as an enum in C++; other C libraries use int.
#if defined(__GLIBC__)
using rlimit_resource = __rlimit_resource_t;
#else
using rlimit_resource = int;
#endif

inline int open(const char* path, int flags, mode_t mode) { return fault_injected() ? -1 : ::open(path, flags, mode); }
// close() releases the descriptor even when it reports an error (Linux): so does a failed one here.
inline int close(int fd) {
  if (!fault_injected()) return ::close(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  return -1;
}
inline ssize_t read(int fd, void* buf, size_t n) { return fault_injected() ? -1 : ::read(fd, buf, n); }
inline ssize_t write(int fd, const void* buf, size_t n) { return fault_injected() ? -1 : ::write(fd, buf, n); }
inline ssize_t pread(int fd, void* buf, size_t n, off_t off) {
  return fault_injected() ? -1 : ::pread(fd, buf, n, off);
}
inline ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  return fault_injected() ? -1 : ::pwrite(fd, buf, n, off);
}
inline int ioctl(int fd, unsigned long request, const void* arg) {
  return fault_injected() ? -1 : ::ioctl(fd, request, arg);
}
inline int ioctl_value(int fd, unsigned long request, unsigned long arg) {
  return fault_injected() ? -1 : ::ioctl(fd, request, arg);
}
inline void* mmap(void* addr, size_t n, int prot, int flags, int fd, off_t off) {
  return fault_injected() ? MAP_FAILED : ::mmap(addr, n, prot, flags, fd, off);
}
inline int munmap(void* addr, size_t n) { return fault_injected() ? -1 : ::munmap(addr, n); }
inline int memfd_create(const char* name, unsigned flags) {
  return fault_injected() ? -1 : ::memfd_create(name, flags);
}
inline int ftruncate(int fd, off_t n) { return fault_injected() ? -1 : ::ftruncate(fd, n); }
inline int fallocate(int fd, int mode, off_t off, off_t n) {
  return fault_injected() ? -1 : ::fallocate(fd, mode, off, n);
}
inline int eventfd(unsigned initval, int flags) { return fault_injected() ? -1 : ::eventfd(initval, flags); }
inline int fcntl(int fd, int cmd) { return fault_injected() ? -1 : ::fcntl(fd, cmd); }
inline int fcntl(int fd, int cmd, long arg) { return fault_injected() ? -1 : ::fcntl(fd, cmd, arg); }
inline ssize_t readlink(const char* path, char* buf, size_t n) {
  return fault_injected() ? -1 : ::readlink(path, buf, n);
}
inline int getrlimit(int resource, struct rlimit* limit) {
  return fault_injected() ? -1 : ::getrlimit(static_cast<rlimit_resource>(resource), limit);
}
inline int setrlimit(int resource, const struct rlimit* limit) {
  return fault_injected() ? -1 : ::setrlimit(static_cast<rlimit_resource>(resource), limit);
}

}  // namespace sys
}  // namespace vfio

#endif  // VFIO_NATIVE_SYS_H
