// VFIO_DEVICE_IOEVENTFD: the kernel writes a value of one width at a device-fd offset whenever an
// eventfd is signalled (or, with fd -1, stops doing so for the matching registration).
#include "abi/vfio_abi.h"
#include "args.h"
#include "exports.h"
#include "ioctl.h"

namespace vfio {

namespace {

namespace abi = vfio_abi;

// (deviceFd, flags, offset, data, eventfd): flags carry the width; eventfd is -1 to remove.
napi_value vfio_device_ioeventfd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t flags = a.u32(1);
  uint64_t offset = a.u64(2);
  uint64_t data = a.u64(3);
  int32_t eventfd = a.i32(4);
  a.invalid_unless(eventfd >= -1);
  if (!a.ok()) return a.failure();
  abi::vfio_device_ioeventfd arg = {};
  arg.argsz = sizeof arg;
  arg.flags = flags;
  arg.offset = offset;
  arg.data = data;
  arg.fd = eventfd;
  return a.result(vfio_ioctl(fd, abi::VFIO_DEVICE_IOEVENTFD, &arg));
}

}  // namespace

void export_vfio_ioeventfd(Exports& out) { out.fn("VFIO_DEVICE_IOEVENTFD", vfio_device_ioeventfd); }

}  // namespace vfio
