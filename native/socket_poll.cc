// Sockets into the event loop (a poller.h kind): the callback gets the readiness (1 readable,
// 2 writable, 4 peer hung up) and does the I/O itself (recvmsg/sendmsg in socket.cc), since
// what to read depends on the protocol. The events watched can change (writable only while
// output is queued).
#include <sys/socket.h>
#include <sys/stat.h>
#include <uv.h>

#include <cerrno>

#include "args.h"
#include "exports.h"
#include "poller.h"

namespace vfio {

namespace {

const napi_type_tag kSocketPollerTag = {0x52c1e8a4d07b3f69ULL, 0x8e3b60d2a91f4c57ULL};

constexpr uint32_t kReadable = 1, kWritable = 2, kHangup = 4;

// The readiness as the mask bits, or the poll error (-errno, handed over once).
bool readiness(int, int status, int events, int64_t* value) {
  if (status < 0) {
    *value = status;  // libuv reports -errno on Unix
    return true;
  }
  *value = ((events & UV_READABLE) ? kReadable : 0) | ((events & UV_WRITABLE) ? kWritable : 0) |
           ((events & UV_DISCONNECT) ? kHangup : 0);
  return true;
}

// Ref'd: a served socket keeps the process alive, as a net.Server does.
const PollKind kSocketPoll = {&kSocketPollerTag, "vfio.socket", true, true, readiness};

int uv_events(uint32_t mask) {
  return ((mask & kReadable) ? UV_READABLE : 0) | ((mask & kWritable) ? UV_WRITABLE : 0) |
         ((mask & kHangup) ? UV_DISCONNECT : 0);
}

Poller* poller_handle(Args& a, size_t i) { return static_cast<Poller*>(a.handle(i, &kSocketPollerTag)); }

// 0 when fd is an open socket; -EBADF when not open, -ENOTSOCK for any other file (whose
// readiness this layer has no business watching).
int64_t check_socket(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  return S_ISSOCK(st.st_mode) ? 0 : -ENOTSOCK;
}

// Watches fd for the events in mask (1|2|4). A handle, or -errno (-EEXIST: this loop already
// polls the fd).
napi_value socket_poll_start(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t mask = a.u32(1);
  napi_value cb = a.function(2);
  a.invalid_unless(mask <= (kReadable | kWritable | kHangup));
  if (!a.ok()) return a.failure();
  int64_t r = check_socket(fd);
  napi_value handle = nullptr;
  if (r == 0) r = poller_open(env, kSocketPoll, fd, uv_events(mask), cb, &handle);
  if (r < 0) return a.result(r);
  return handle;
}

// Changes the events watched; 0 watches nothing (the handle stays open). 0 or -errno.
napi_value socket_poll_events(napi_env env, napi_callback_info info) {
  Args a(env, info);
  Poller* p = poller_handle(a, 0);
  uint32_t mask = a.u32(1);
  a.invalid_unless(mask <= (kReadable | kWritable | kHangup));
  if (!a.ok()) return a.failure();
  return a.result(poller_watch(p, uv_events(mask)));
}

napi_value socket_poll_ref(napi_env env, napi_callback_info info) {
  Args a(env, info);
  Poller* p = poller_handle(a, 0);
  bool ref = a.boolean(1);
  if (!a.ok()) return a.failure();
  poller_ref(p, ref);
  return nullptr;
}

napi_value socket_poll_stop(napi_env env, napi_callback_info info) {
  Args a(env, info);
  Poller* p = poller_handle(a, 0);
  if (!a.ok()) return a.failure();
  poller_close(p);
  return nullptr;
}

}  // namespace

void export_socket_poll(Exports& out) {
  out.fn("socket_poll_start", socket_poll_start);
  out.fn("socket_poll_events", socket_poll_events);
  out.fn("socket_poll_ref", socket_poll_ref);
  out.fn("socket_poll_stop", socket_poll_stop);
}

}  // namespace vfio
