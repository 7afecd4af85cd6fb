// Interrupt eventfds into the event loop (a poller.h kind): the 8-byte counter is read natively
// and the count handed to JavaScript. An armed fs.read per vector would pin a thread-pool
// thread each; a poll does not.
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "args.h"
#include "exports.h"
#include "poller.h"
#include "sys.h"

namespace vfio {

namespace {

const napi_type_tag kEventfdPollerTag = {0x3d5e9a0c71b24f86ULL, 0xb1c07e2d95a4f318ULL};

// Readable: read (and so reset) the counter; the count, or -errno once (poller.h stops there).
bool read_counter(int fd, int status, int, int64_t* value) {
  if (status < 0) {
    *value = status;  // libuv reports -errno on Unix
    return true;
  }
  uint64_t count = 0;
  ssize_t n = sys::read(fd, &count, sizeof count);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;  // someone else took the count
  *value = n == static_cast<ssize_t>(sizeof count) ? static_cast<int64_t>(count) : (n < 0 ? -errno : -EIO);
  return true;
}

// Not ref'd: idle IRQ handles must not keep the process alive.
const PollKind kEventfdPoll = {&kEventfdPollerTag, "vfio.poll", false, false, read_counter};

Poller* poller_handle(Args& a, size_t i) { return static_cast<Poller*>(a.handle(i, &kEventfdPollerTag)); }

// 0 when fd is an open eventfd; -EBADF when it is not open, -EINVAL when it is another file (a
// terminal, a socket: nothing whose flags this addon may change, and nothing that gives an
// 8-byte counter), or the error of the /proc lookup that tells eventfds apart.
int64_t check_eventfd(int fd) {
  if (sys::fcntl(fd, F_GETFD) < 0) return -errno;
  char path[32], target[32] = {};
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = sys::readlink(path, target, sizeof target - 1);
  if (n < 0) return -errno;
  return strcmp(target, "anon_inode:[eventfd]") == 0 ? 0 : -EINVAL;
}

// Non-blocking, so that a wakeup whose count another reader took cannot block the loop. Only
// after check_eventfd(): a bad call must not change another file's flags.
int64_t set_nonblocking(int fd) {
  int flags = sys::fcntl(fd, F_GETFL);
  if (flags < 0 || sys::fcntl(fd, F_SETFL, static_cast<long>(flags | O_NONBLOCK)) < 0) return -errno;
  return 0;
}

napi_value poll_start(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  napi_value cb = a.function(1);
  if (!a.ok()) return a.failure();
  int64_t r = check_eventfd(fd);
  if (r == 0) r = set_nonblocking(fd);
  napi_value handle = nullptr;
  if (r == 0) r = poller_open(env, kEventfdPoll, fd, UV_READABLE, cb, &handle);
  if (r < 0) return a.result(r);
  return handle;
}

napi_value poll_ref(napi_env env, napi_callback_info info) {
  Args a(env, info);
  Poller* p = poller_handle(a, 0);
  bool ref = a.boolean(1);
  if (!a.ok()) return a.failure();
  poller_ref(p, ref);
  return nullptr;
}

napi_value poll_stop(napi_env env, napi_callback_info info) {
  Args a(env, info);
  Poller* p = poller_handle(a, 0);
  if (!a.ok()) return a.failure();
  poller_close(p);
  return nullptr;
}

}  // namespace

void export_eventfd(Exports& out) {
  out.fn("poll_start", poll_start);
  out.fn("poll_ref", poll_ref);
  out.fn("poll_stop", poll_stop);
}

}  // namespace vfio
