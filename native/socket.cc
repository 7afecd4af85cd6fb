// UNIX-domain stream sockets with file-descriptor passing (SCM_RIGHTS): what a vfio-user server
// needs and Node's `net` cannot do. One function per syscall, named after it. Every socket the
// addon makes (socket, socketpair, accept) is non-blocking and close-on-exec, and every send and
// receive is MSG_DONTWAIT: the event loop never waits on a peer, it polls (socket_poll.cc).
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "args.h"
#include "exports.h"
#include "socket_sys.h"

namespace vfio {

namespace {

// The kernel's limit of descriptors in one SCM_RIGHTS message (SCM_MAX_FD).
constexpr size_t kMaxFds = 253;
constexpr int kSockFlags = SOCK_CLOEXEC | SOCK_NONBLOCK;

// The socket types this layer makes: a byte stream or a record stream.
bool known_type(uint32_t type) { return type == SOCK_STREAM || type == SOCK_SEQPACKET; }

// A filesystem socket address; false when the path is empty or does not fit sun_path with its
// NUL (the kernel would truncate or reject it, so the caller gets -ENAMETOOLONG / -EINVAL).
int64_t unix_address(const std::string& path, struct sockaddr_un* addr, socklen_t* len) {
  if (path.empty()) return -EINVAL;
  if (path.size() >= sizeof addr->sun_path) return -ENAMETOOLONG;
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size() + 1);
  return 0;
}

napi_value sock_socket(napi_env env, napi_callback_info info) {
  Args a(env, info);
  uint32_t type = a.u32(0);
  a.invalid_unless(known_type(type));
  if (!a.ok()) return a.failure();
  return a.result(errno_or(sys::socket(AF_UNIX, static_cast<int>(type) | kSockFlags, 0)));
}

// out[0], out[1] = the two connected ends; 0 or -errno.
napi_value sock_socketpair(napi_env env, napi_callback_info info) {
  Args a(env, info);
  uint32_t type = a.u32(0);
  Span<int32_t> out = a.i32s(1);
  a.invalid_unless(known_type(type) && out.length >= 2);
  if (!a.ok()) return a.failure();
  int fds[2] = {-1, -1};
  int64_t r = errno_or(sys::socketpair(AF_UNIX, static_cast<int>(type) | kSockFlags, 0, fds));
  if (r == 0) {
    out.data[0] = fds[0];
    out.data[1] = fds[1];
  }
  return a.result(r);
}

napi_value sock_bind(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  std::string path = a.path(1);
  if (!a.ok()) return a.failure();
  struct sockaddr_un addr;
  socklen_t len = 0;
  int64_t r = unix_address(path, &addr, &len);
  if (r < 0) return a.result(r);
  return a.result(errno_or(sys::bind(fd, reinterpret_cast<struct sockaddr*>(&addr), len)));
}

// Non-blocking: -EINPROGRESS never happens for UNIX sockets; -EAGAIN when the listener's
// backlog is full.
napi_value sock_connect(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  std::string path = a.path(1);
  if (!a.ok()) return a.failure();
  struct sockaddr_un addr;
  socklen_t len = 0;
  int64_t r = unix_address(path, &addr, &len);
  if (r < 0) return a.result(r);
  return a.result(errno_or(sys::connect(fd, reinterpret_cast<struct sockaddr*>(&addr), len)));
}

napi_value sock_listen(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  int32_t backlog = a.i32(1);
  a.invalid_unless(backlog >= 0);
  if (!a.ok()) return a.failure();
  return a.result(errno_or(sys::listen(fd, backlog)));
}

// The accepted connection's fd (non-blocking, close-on-exec), or -errno (-EAGAIN: none waiting).
napi_value sock_accept(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  return a.result(errno_or(sys::accept4(fd, kSockFlags)));
}

// how: SHUT_RD, SHUT_WR or SHUT_RDWR.
napi_value sock_shutdown(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  int32_t how = a.i32(1);
  a.invalid_unless(how == SHUT_RD || how == SHUT_WR || how == SHUT_RDWR);
  if (!a.ok()) return a.failure();
  return a.result(errno_or(sys::shutdown(fd, how)));
}

// Sends data, with fds (null or an Int32Array, every entry >= 0, at most 253) as SCM_RIGHTS on
// its first byte. Returns the bytes sent (a stream socket may take fewer than given: the fds
// went with the first of them) or -errno (-EAGAIN: the peer's buffer is full).
napi_value sock_sendmsg(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  Span<uint8_t> data = a.bytes(1);
  bool has_fds = !a.is_nullish(2);
  Span<int32_t> fds = has_fds ? a.i32s(2) : Span<int32_t>();
  a.invalid_unless(fds.length <= kMaxFds);
  for (size_t i = 0; a.ok() && i < fds.length; i++) a.invalid_unless(fds.data[i] >= 0);
  // Descriptors ride on data: a message of none would carry them nowhere.
  a.invalid_unless(data.length > 0 || fds.length == 0);
  if (!a.ok()) return a.failure();
  struct iovec iov = {data.data, data.length};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (fds.length > 0) {
    size_t bytes = sizeof(int) * fds.length;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(bytes);
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(bytes);
    memcpy(CMSG_DATA(c), fds.data, bytes);
  }
  return a.result(errno_or(sys::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL)));
}

// Closes every descriptor a control message carried (raw close: nothing to report to).
void close_passed(struct msghdr* msg) {
  for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
      int passed;
      memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
      ::close(passed);
    }
  }
}

// Receives into buf; descriptors that came with the data go to fds (close-on-exec, in order),
// the rest of fds is set to -1. Returns the bytes received (0: the peer closed) or -errno.
// More descriptors than fds holds (or any the kernel had to drop) is -EMSGSIZE: every
// descriptor that did arrive is closed here, and the bytes are consumed, so the stream is no
// longer in step and the caller drops the connection.
napi_value sock_recvmsg(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.out_bytes(1);
  Span<int32_t> fds = a.i32s(2);
  a.invalid_unless(buf.length > 0 && fds.length <= kMaxFds);
  if (!a.ok()) return a.failure();
  for (size_t i = 0; i < fds.length; i++) fds.data[i] = -1;
  struct iovec iov = {buf.data, buf.length};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  // One slot more than asked for: a sender exceeding the caller's limit shows as a full array.
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * (fds.length + 1));
  ssize_t n = sys::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) return a.result(-errno);
  size_t got = 0;
  bool overflow = (msg.msg_flags & MSG_CTRUNC) != 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int passed;
      memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
      if (got < fds.length) fds.data[got] = passed;
      got++;
    }
  }
  if (got > fds.length) overflow = true;
  if (overflow) {
    close_passed(&msg);
    for (size_t i = 0; i < fds.length; i++) fds.data[i] = -1;
    return a.result(-EMSGSIZE);
  }
  return a.result(n);
}

}  // namespace

void export_socket(Exports& out) {
  out.fn("socket", sock_socket);
  out.fn("socketpair", sock_socketpair);
  out.fn("bind", sock_bind);
  out.fn("connect", sock_connect);
  out.fn("listen", sock_listen);
  out.fn("accept", sock_accept);
  out.fn("shutdown", sock_shutdown);
  out.fn("sendmsg", sock_sendmsg);
  out.fn("recvmsg", sock_recvmsg);
}

}  // namespace vfio
