// VFIO container, group and device ioctls: one function each, named after the ioctl.
// Device features live in vfio_feature.cc.
#include <string>
#include <utility>

#include "abi/vfio_abi.h"
#include "args.h"
#include "async_call.h"
#include "exports.h"
#include "ioctl.h"
#include "mman.h"

namespace vfio {

namespace {

namespace abi = vfio_abi;

// ---- container ----

Napi::Value vfio_get_api_version(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  return number(a.env(), vfio_ioctl_value(fd, abi::VFIO_GET_API_VERSION, 0));
}

Napi::Value vfio_check_extension(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  uint32_t extension = a.u32(1);
  if (!a.ok()) return a.failure();
  return number(a.env(), vfio_ioctl_value(fd, abi::VFIO_CHECK_EXTENSION, extension));
}

Napi::Value vfio_set_iommu(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  uint32_t type = a.u32(1);
  if (!a.ok()) return a.failure();
  return number(a.env(), vfio_ioctl_value(fd, abi::VFIO_SET_IOMMU, type));
}

Napi::Value vfio_iommu_get_info(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.bytes(1);
  a.invalid_unless(buf.length >= sizeof(abi::vfio_iommu_type1_info) && buf.length <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  return number(a.env(), grow_info_ioctl(fd, abi::VFIO_IOMMU_GET_INFO, buf, sizeof(abi::vfio_iommu_type1_info), -1, 0));
}

// Framed (frame.h). Slots: 0 container fd, 1 the DMA buffer's mapping id, 2 offset, 3 size,
// 4 iova, 5 flags. Result: 0 or -errno.
napi_value vfio_iommu_map_dma(napi_env env, napi_callback_info info) {
  FrameCall c(env, info);
  int fd = c.fd(0);
  Mapping* mem = mem_of(c, 1);
  uint64_t offset = c.u64n(2);
  uint64_t size = c.u64n(3);
  uint64_t iova = c.u64n(4);
  uint32_t flags = c.u32(5);
  uint64_t vaddr = mem_address(c, mem, offset, size);
  if (!c.ok()) return c.done(0);
  abi::vfio_iommu_type1_dma_map map = {sizeof map, flags, vaddr, iova, size};
  return c.done(vfio_ioctl(fd, abi::VFIO_IOMMU_MAP_DMA, &map));
}

// Framed. Slots: 0 container fd, 1 iova, 2 size, 3 flags. Result: 0 or -errno.
napi_value vfio_iommu_unmap_dma(napi_env env, napi_callback_info info) {
  FrameCall c(env, info);
  int fd = c.fd(0);
  uint64_t iova = c.u64n(1);
  uint64_t size = c.u64n(2);
  uint32_t flags = c.u32(3);
  if (!c.ok()) return c.done(0);
  // argsz without a bitmap: the kernel refuses GET_DIRTY_BITMAP rather than read past it.
  abi::vfio_iommu_type1_dma_unmap unmap = {sizeof unmap, flags, iova, size};
  return c.done(vfio_ioctl(fd, abi::VFIO_IOMMU_UNMAP_DMA, &unmap));
}

// ---- group ----

Napi::Value vfio_group_get_status(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  abi::vfio_group_status status = {sizeof status, 0};
  int64_t r = vfio_ioctl(fd, abi::VFIO_GROUP_GET_STATUS, &status);
  return number(a.env(), r < 0 ? r : status.flags);
}

Napi::Value vfio_group_set_container(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  int container = a.fd(1);
  if (!a.ok()) return a.failure();
  return number(a.env(), vfio_ioctl(fd, abi::VFIO_GROUP_SET_CONTAINER, &container));
}

Napi::Value vfio_group_unset_container(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  return number(a.env(), vfio_ioctl_value(fd, abi::VFIO_GROUP_UNSET_CONTAINER, 0));
}

// Opening a device may reset it (FLR can take 100 ms or more): on the thread pool.
Napi::Value vfio_group_get_device_fd(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  std::string name = a.path(1);
  if (!a.ok()) return a.failure();
  return queue_syscall(a.env(), "VFIO_GROUP_GET_DEVICE_FD", [fd, name]() {
    return vfio_ioctl(fd, abi::VFIO_GROUP_GET_DEVICE_FD, name.c_str());
  });
}

// ---- device ----

Napi::Value vfio_device_get_info(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.bytes(1);
  a.invalid_unless(buf.length >= sizeof(abi::vfio_device_info) && buf.length <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  return number(a.env(), grow_info_ioctl(fd, abi::VFIO_DEVICE_GET_INFO, buf, sizeof(abi::vfio_device_info), -1, 0));
}

// Framed (frame.h), argument: the buffer. Slots: 0 device fd, 1 region index. Result: the argsz
// the kernel wants, or -errno.
napi_value vfio_device_get_region_info(napi_env env, napi_callback_info info) {
  FrameCall c(env, info, 1);
  Span<uint8_t> buf = c.bytes(0);
  int fd = c.fd(0);
  uint32_t index = c.u32(1);
  c.invalid_unless(buf.length >= sizeof(abi::vfio_region_info) && buf.length <= UINT32_MAX);
  if (!c.ok()) return c.done(0);
  return c.done(grow_info_ioctl(fd, abi::VFIO_DEVICE_GET_REGION_INFO, buf, sizeof(abi::vfio_region_info),
                                offsetof(abi::vfio_region_info, index), index));
}

Napi::Value vfio_device_get_irq_info(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  uint32_t index = a.u32(1);
  Span<uint8_t> buf = a.bytes(2);
  a.invalid_unless(buf.length >= sizeof(abi::vfio_irq_info) && buf.length <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  std::memcpy(buf.data + offsetof(abi::vfio_irq_info, index), &index, sizeof index);
  return number(a.env(), info_ioctl(fd, abi::VFIO_DEVICE_GET_IRQ_INFO, buf));
}

// The payload's type must match the DATA_* flag and hold exactly count elements.
Napi::Value vfio_device_set_irqs(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  uint32_t flags = a.u32(1);
  uint32_t index = a.u32(2);
  uint32_t start = a.u32(3);
  uint32_t count = a.u32(4);
  const void* data = nullptr;
  size_t data_length = 0;
  switch (flags & abi::VFIO_IRQ_SET_DATA_TYPE_MASK) {
    case abi::VFIO_IRQ_SET_DATA_NONE:
      a.invalid_unless(a.is_nullish(5));
      break;
    case abi::VFIO_IRQ_SET_DATA_BOOL: {
      Span<uint8_t> bools = a.bytes(5);
      a.invalid_unless(bools.length == count);
      data = bools.data;
      data_length = bools.length;
      break;
    }
    case abi::VFIO_IRQ_SET_DATA_EVENTFD: {
      Span<int32_t> fds = a.i32s(5);
      a.invalid_unless(fds.length == count);
      data = fds.data;
      data_length = fds.length * sizeof(int32_t);
      break;
    }
    default:
      a.invalid_unless(false);  // none or several DATA_* bits
  }
  if (!a.ok()) return a.failure();
  abi::vfio_irq_set header = {0, flags, index, start, count};
  header.argsz = static_cast<uint32_t>(sizeof header + data_length);
  std::vector<uint8_t> arg = with_payload(header, data, data_length);
  return number(a.env(), vfio_ioctl(fd, abi::VFIO_DEVICE_SET_IRQS, arg.data()));
}

Napi::Value vfio_device_reset(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  return queue_syscall(a.env(), "VFIO_DEVICE_RESET", [fd]() {
    return vfio_ioctl_value(fd, abi::VFIO_DEVICE_RESET, 0);
  });
}

// ENOSPC with count set when buf is too small for the dependent devices: retry larger.
Napi::Value vfio_device_get_pci_hot_reset_info(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.bytes(1);
  a.invalid_unless(buf.length >= sizeof(abi::vfio_pci_hot_reset_info) && buf.length <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  return number(a.env(), info_ioctl(fd, abi::VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, buf));
}

// groupFds may be empty: with iommufd-bound devices the kernel checks ownership itself.
Napi::Value vfio_device_pci_hot_reset(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  Span<int32_t> groups = a.i32s(1);
  if (!a.ok()) return a.failure();
  size_t groups_length = groups.length * sizeof(int32_t);
  abi::vfio_pci_hot_reset header = {static_cast<uint32_t>(sizeof header + groups_length), 0,
                                    static_cast<uint32_t>(groups.length)};
  std::vector<uint8_t> arg = with_payload(header, groups.data, groups_length);  // copied: JS may change it meanwhile
  return queue_syscall(a.env(), "VFIO_DEVICE_PCI_HOT_RESET", [fd, arg]() {
    return vfio_ioctl(fd, abi::VFIO_DEVICE_PCI_HOT_RESET, arg.data());
  });
}

// ---- iommufd binding of a device cdev ----

// Binding is where a cdev-opened device is really opened (vfio-pci may reset it: an FLR takes
// ~100 ms), so it runs on the thread pool like VFIO_GROUP_GET_DEVICE_FD.
Napi::Value vfio_device_bind_iommufd(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  int iommufd = a.fd(1);
  if (!a.ok()) return a.failure();
  return queue_syscall(a.env(), "VFIO_DEVICE_BIND_IOMMUFD", [fd, iommufd]() -> int64_t {
    abi::vfio_device_bind_iommufd bind = {sizeof bind, 0, iommufd, 0, 0};
    int64_t r = vfio_ioctl(fd, abi::VFIO_DEVICE_BIND_IOMMUFD, &bind);
    return r < 0 ? r : bind.out_devid;
  });
}

Napi::Value vfio_device_attach_iommufd_pt(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  uint32_t pt_id = a.u32(1);
  if (!a.ok()) return a.failure();
  abi::vfio_device_attach_iommufd_pt attach = {sizeof attach, 0, pt_id, 0};
  int64_t r = vfio_ioctl(fd, abi::VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach);
  return number(a.env(), r < 0 ? r : attach.pt_id);
}

Napi::Value vfio_device_detach_iommufd_pt(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  abi::vfio_device_detach_iommufd_pt detach = {sizeof detach, 0, 0};
  return number(a.env(), vfio_ioctl(fd, abi::VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach));
}

}  // namespace

void export_vfio(Exports& out) {
  out.fn<vfio_get_api_version>("VFIO_GET_API_VERSION");
  out.fn<vfio_check_extension>("VFIO_CHECK_EXTENSION");
  out.fn<vfio_set_iommu>("VFIO_SET_IOMMU");
  out.fn<vfio_iommu_get_info>("VFIO_IOMMU_GET_INFO");
  out.framed("VFIO_IOMMU_MAP_DMA", vfio_iommu_map_dma);
  out.framed("VFIO_IOMMU_UNMAP_DMA", vfio_iommu_unmap_dma);
  out.fn<vfio_group_get_status>("VFIO_GROUP_GET_STATUS");
  out.fn<vfio_group_set_container>("VFIO_GROUP_SET_CONTAINER");
  out.fn<vfio_group_unset_container>("VFIO_GROUP_UNSET_CONTAINER");
  out.fn<vfio_group_get_device_fd>("VFIO_GROUP_GET_DEVICE_FD");
  out.fn<vfio_device_get_info>("VFIO_DEVICE_GET_INFO");
  out.framed("VFIO_DEVICE_GET_REGION_INFO", vfio_device_get_region_info);
  out.fn<vfio_device_get_irq_info>("VFIO_DEVICE_GET_IRQ_INFO");
  out.fn<vfio_device_set_irqs>("VFIO_DEVICE_SET_IRQS");
  out.fn<vfio_device_reset>("VFIO_DEVICE_RESET");
  out.fn<vfio_device_get_pci_hot_reset_info>("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO");
  out.fn<vfio_device_pci_hot_reset>("VFIO_DEVICE_PCI_HOT_RESET");
  out.fn<vfio_device_bind_iommufd>("VFIO_DEVICE_BIND_IOMMUFD");
  out.fn<vfio_device_attach_iommufd_pt>("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
  out.fn<vfio_device_detach_iommufd_pt>("VFIO_DEVICE_DETACH_IOMMUFD_PT");
}

}  // namespace vfio
