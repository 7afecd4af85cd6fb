// Small helpers shared by the ioctl wrappers.
#ifndef VFIO_NATIVE_IOCTL_H
#define VFIO_NATIVE_IOCTL_H

#include <sys/ioctl.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "args.h"

namespace vfio {

// ioctl() on one of the uAPI request numbers (declared long long in native/abi), -errno on failure.
inline int64_t vfio_ioctl(int fd, long long request, const void* arg) {
  return sys(ioctl(fd, static_cast<unsigned long>(request), arg));
}
inline int64_t vfio_ioctl_value(int fd, long long request, unsigned long arg) {
  return sys(ioctl(fd, static_cast<unsigned long>(request), arg));
}

// An info ioctl on a caller's buffer (struct + room for capabilities): writes argsz = the
// buffer's length, and index (at byte 8) when the struct has one. The kernel fills at most argsz
// bytes and reports in argsz the size it would need, for the caller to retry with.
inline int64_t info_ioctl(int fd, long long request, Span<uint8_t> buf) {
  uint32_t argsz = static_cast<uint32_t>(buf.length);
  std::memcpy(buf.data, &argsz, sizeof argsz);
  return vfio_ioctl(fd, request, buf.data);
}

// A fixed struct followed by a variable payload, built in one buffer (struct vfio_irq_set and
// friends end in a flexible array).
template <typename Header>
std::vector<uint8_t> with_payload(const Header& header, const void* payload, size_t payload_length) {
  std::vector<uint8_t> out(sizeof header + payload_length);
  std::memcpy(out.data(), &header, sizeof header);
  if (payload_length) std::memcpy(out.data() + sizeof header, payload, payload_length);
  return out;
}

}  // namespace vfio

#endif  // VFIO_NATIVE_IOCTL_H
