// Small helpers shared by the ioctl wrappers.
#ifndef VFIO_NATIVE_IOCTL_H
#define VFIO_NATIVE_IOCTL_H

#include <cstdint>
#include <cstring>
#include <vector>

#include "args.h"
#include "sys.h"

namespace vfio {

// ioctl() on one of the uAPI request numbers (declared long long in native/abi), -errno on failure.
inline int64_t vfio_ioctl(int fd, long long request, const void* arg) {
  return errno_or(sys::ioctl(fd, static_cast<unsigned long>(request), arg));
}
inline int64_t vfio_ioctl_value(int fd, long long request, unsigned long arg) {
  return errno_or(sys::ioctl_value(fd, static_cast<unsigned long>(request), arg));
}

// An info ioctl on a caller's output buffer (Args::out_bytes: writable) (struct + room for capabilities): writes argsz
// = the buffer's length, and index (at byte 8) when the struct has one. The kernel fills at most argsz bytes and
// reports in argsz the size it would need, for the caller to retry with.
inline int64_t info_ioctl(int fd, long long request, Span<uint8_t> buf) {
  uint32_t argsz = static_cast<uint32_t>(buf.length);
  std::memcpy(buf.data, &argsz, sizeof argsz);
  return vfio_ioctl(fd, request, buf.data);
}

// The argsz protocol of the info structs (on an output buffer, Args::out_bytes) that grow capability chains (device,
// region, type1 IOMMU), done in one call because each crossing from JavaScript costs more than the ioctl: ask with the
// struct's own size; when the kernel answers with a larger argsz and the buffer has room, ask again with exactly that
// size (so the kernel's argsz bounds the data and nothing stale follows it). `index_at` is the offset of the struct's
// index field, or -1 when it has none. Returns the argsz the kernel wants (more than the buffer holds: grow it and call
// again) or -errno.
inline int64_t grow_info_ioctl(int fd, long long request, Span<uint8_t> buf, uint32_t base, int index_at,
                               uint32_t index) {
  uint32_t argsz = base;
  for (int attempt = 0; attempt < 2; attempt++) {
    std::memset(buf.data, 0, argsz);
    std::memcpy(buf.data, &argsz, sizeof argsz);
    if (index_at >= 0) std::memcpy(buf.data + index_at, &index, sizeof index);
    int64_t r = vfio_ioctl(fd, request, buf.data);
    if (r < 0) return r;
    uint32_t want;
    std::memcpy(&want, buf.data, sizeof want);
    if (want <= argsz || want > buf.length) return want;
    argsz = want;
  }
  return argsz;
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
