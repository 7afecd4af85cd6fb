// Plain file-descriptor syscalls: open/close/read/write/pread/pwrite, rlimits, eventfd.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "args.h"
#include "exports.h"

namespace vfio {

namespace {

// glibc declares the rlimit resource as an enum in C++; other C libraries use int.
#if defined(__GLIBC__)
using rlimit_resource = __rlimit_resource_t;
#else
using rlimit_resource = int;
#endif

Napi::Value fd_open(const Napi::CallbackInfo& info) {
  Args a(info);
  std::string path = a.path(0);
  int flags = a.i32(1);
  if (!a.ok()) return a.failure();
  // The mode only matters with O_CREAT: owner-only, as the files this package opens are devices.
  return number(a.env(), sys(open(path.c_str(), flags, 0600)));
}

Napi::Value fd_close(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  return number(a.env(), sys(close(fd)));
}

Napi::Value fd_read(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.bytes(1);
  if (!a.ok()) return a.failure();
  return number(a.env(), sys(read(fd, buf.data, buf.length)));
}

Napi::Value fd_write(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.bytes(1);
  if (!a.ok()) return a.failure();
  return number(a.env(), sys(write(fd, buf.data, buf.length)));
}

// One pread of exactly buf.length bytes: vfio-pci turns a 1/2/4/8-byte aligned access into a
// single device access of that width, so it must not be split or merged here.
Napi::Value fd_pread(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.bytes(1);
  off_t offset = a.off(2);
  if (!a.ok()) return a.failure();
  return number(a.env(), sys(pread(fd, buf.data, buf.length, offset)));
}

Napi::Value fd_pwrite(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.bytes(1);
  off_t offset = a.off(2);
  if (!a.ok()) return a.failure();
  return number(a.env(), sys(pwrite(fd, buf.data, buf.length, offset)));
}

// [cur, max] as bigints (RLIM_INFINITY is 2^64 - 1), or -errno.
Napi::Value fd_getrlimit(const Napi::CallbackInfo& info) {
  Args a(info);
  int resource = a.i32(0);
  if (!a.ok()) return a.failure();
  struct rlimit limit = {};
  int64_t r = sys(getrlimit(static_cast<rlimit_resource>(resource), &limit));
  if (r < 0) return number(a.env(), r);
  Napi::Array pair = Napi::Array::New(a.env(), 2);
  if (pair.Set(0u, bigint(a.env(), limit.rlim_cur)).IsNothing() ||
      pair.Set(1u, bigint(a.env(), limit.rlim_max)).IsNothing()) {
    return a.env().Undefined();  // with the engine's exception pending
  }
  return pair;
}

Napi::Value fd_setrlimit(const Napi::CallbackInfo& info) {
  Args a(info);
  int resource = a.i32(0);
  uint64_t cur = a.u64(1);
  uint64_t max = a.u64(2);
  if (!a.ok()) return a.failure();
  struct rlimit limit = {static_cast<rlim_t>(cur), static_cast<rlim_t>(max)};
  return number(a.env(), sys(setrlimit(static_cast<rlimit_resource>(resource), &limit)));
}

Napi::Value fd_eventfd(const Napi::CallbackInfo& info) {
  Args a(info);
  uint32_t initval = a.u32(0);
  int flags = a.i32(1);
  if (!a.ok()) return a.failure();
  return number(a.env(), sys(eventfd(initval, flags)));
}

}  // namespace

void export_fd(Exports& out) {
  out.fn<fd_open>("open");
  out.fn<fd_close>("close");
  out.fn<fd_read>("read");
  out.fn<fd_write>("write");
  out.fn<fd_pread>("pread");
  out.fn<fd_pwrite>("pwrite");
  out.fn<fd_getrlimit>("getrlimit");
  out.fn<fd_setrlimit>("setrlimit");
  out.fn<fd_eventfd>("eventfd");
}

}  // namespace vfio
