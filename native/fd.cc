// Plain file-descriptor syscalls: open/close/read/write/pread/pwrite, rlimits, eventfd.
#include "args.h"
#include "exports.h"
#include "sys.h"

namespace vfio {

namespace {

napi_value fd_open(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::string path = a.path(0);
  int flags = a.i32(1);
  if (!a.ok()) return a.failure();
  // The mode only matters with O_CREAT: owner-only, as the files this package opens are devices.
  return a.result(errno_or(sys::open(path.c_str(), flags, 0600)));
}

napi_value fd_close(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  return a.result(errno_or(sys::close(fd)));
}

napi_value fd_read(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.out_bytes(1);
  if (!a.ok()) return a.failure();
  return a.result(errno_or(sys::read(fd, buf.data, buf.length)));
}

napi_value fd_write(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.bytes(1);
  if (!a.ok()) return a.failure();
  return a.result(errno_or(sys::write(fd, buf.data, buf.length)));
}

// One pread of exactly buf.length bytes: vfio-pci turns a 1/2/4/8-byte aligned access into a
// single device access of that width, so it must not be split or merged here.
napi_value fd_pread(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.out_bytes(1);
  off_t offset = a.off(2);
  if (!a.ok()) return a.failure();
  return a.result(errno_or(sys::pread(fd, buf.data, buf.length, offset)));
}

napi_value fd_pwrite(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.bytes(1);
  off_t offset = a.off(2);
  if (!a.ok()) return a.failure();
  return a.result(errno_or(sys::pwrite(fd, buf.data, buf.length, offset)));
}

// [cur, max] as bigints (RLIM_INFINITY is 2^64 - 1), or -errno.
napi_value fd_getrlimit(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int resource = a.i32(0);
  if (!a.ok()) return a.failure();
  struct rlimit limit = {};
  int64_t r = errno_or(sys::getrlimit(resource, &limit));
  if (r < 0) return a.result(r);
  Napi::Array pair = Napi::Array::New(a.env(), 2);
  if (pair.Set(0u, bigint(a.env(), limit.rlim_cur)).IsNothing() ||
      pair.Set(1u, bigint(a.env(), limit.rlim_max)).IsNothing()) {
    return nullptr;  // with the engine's exception pending
  }
  return napi_value(pair);
}

napi_value fd_setrlimit(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int resource = a.i32(0);
  uint64_t cur = a.u64(1);
  uint64_t max = a.u64(2);
  if (!a.ok()) return a.failure();
  struct rlimit limit = {static_cast<rlim_t>(cur), static_cast<rlim_t>(max)};
  return a.result(errno_or(sys::setrlimit(resource, &limit)));
}

napi_value fd_eventfd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  uint32_t initval = a.u32(0);
  int flags = a.i32(1);
  if (!a.ok()) return a.failure();
  return a.result(errno_or(sys::eventfd(initval, flags)));
}

}  // namespace

void export_fd(Exports& out) {
  out.fn("open", fd_open);
  out.fn("close", fd_close);
  out.fn("read", fd_read);
  out.fn("write", fd_write);
  out.fn("pread", fd_pread);
  out.fn("pwrite", fd_pwrite);
  out.fn("getrlimit", fd_getrlimit);
  out.fn("setrlimit", fd_setrlimit);
  out.fn("eventfd", fd_eventfd);
}

}  // namespace vfio
