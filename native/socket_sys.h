// The socket syscalls the addon makes, each through one inline wrapper named after it, failable
// on purpose through the same fault switch as sys.h (a test counts and fails them in turn).
#ifndef VFIO_NATIVE_SOCKET_SYS_H
#define VFIO_NATIVE_SOCKET_SYS_H

#include <sys/socket.h>

#include "sys.h"

namespace vfio {
namespace sys {

inline int socket(int domain, int type, int protocol) {
  return fault_injected() ? -1 : ::socket(domain, type, protocol);
}
inline int socketpair(int domain, int type, int protocol, int out[2]) {
  return fault_injected() ? -1 : ::socketpair(domain, type, protocol, out);
}
inline int bind(int fd, const struct sockaddr* addr, socklen_t len) {
  return fault_injected() ? -1 : ::bind(fd, addr, len);
}
inline int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  return fault_injected() ? -1 : ::connect(fd, addr, len);
}
inline int listen(int fd, int backlog) { return fault_injected() ? -1 : ::listen(fd, backlog); }
inline int accept4(int fd, int flags) { return fault_injected() ? -1 : ::accept4(fd, nullptr, nullptr, flags); }
inline ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  return fault_injected() ? -1 : ::sendmsg(fd, msg, flags);
}
inline ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
  return fault_injected() ? -1 : ::recvmsg(fd, msg, flags);
}
inline int shutdown(int fd, int how) { return fault_injected() ? -1 : ::shutdown(fd, how); }

}  // namespace sys
}  // namespace vfio

#endif  // VFIO_NATIVE_SOCKET_SYS_H
