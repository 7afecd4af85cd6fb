// VFIO container, group and device ioctls: one function each, named after the ioctl.
// Device features live in vfio_feature.cc.
#include <algorithm>
#include <array>
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

napi_value vfio_get_api_version(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  return a.result(vfio_ioctl_value(fd, abi::VFIO_GET_API_VERSION, 0));
}

napi_value vfio_check_extension(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t extension = a.u32(1);
  if (!a.ok()) return a.failure();
  return a.result(vfio_ioctl_value(fd, abi::VFIO_CHECK_EXTENSION, extension));
}

napi_value vfio_set_iommu(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t type = a.u32(1);
  if (!a.ok()) return a.failure();
  return a.result(vfio_ioctl_value(fd, abi::VFIO_SET_IOMMU, type));
}

napi_value vfio_iommu_get_info(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.out_bytes(1);
  a.invalid_unless(buf.length >= sizeof(abi::vfio_iommu_type1_info) && buf.length <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  return a.result(grow_info_ioctl(fd, abi::VFIO_IOMMU_GET_INFO, buf, sizeof(abi::vfio_iommu_type1_info), -1, 0));
}

// Framed (frame.h; slots: lib/addon/frame-table.ts). Result: 0 or -errno.
napi_value vfio_iommu_map_dma(napi_env env, napi_callback_info info) {
  Args a(env, info, kFromFrame, 0);
  int fd = a.fd(0);
  Mapping* mem = dma_buffer_of(a, 1);
  uint64_t offset = a.u64(2);
  uint64_t size = a.u64(3);
  uint64_t iova = a.u64(4);
  uint32_t flags = a.u32(5);
  uint64_t vaddr = mem_address(a, mem, offset, size);
  if (!a.ok()) return a.failure();
  abi::vfio_iommu_type1_dma_map map = {sizeof map, flags, vaddr, iova, size};
  return a.result(vfio_ioctl(fd, abi::VFIO_IOMMU_MAP_DMA, &map));
}

// Framed (slots: lib/addon/frame-table.ts). Result: 0 or -errno.
napi_value vfio_iommu_unmap_dma(napi_env env, napi_callback_info info) {
  Args a(env, info, kFromFrame, 0);
  int fd = a.fd(0);
  uint64_t iova = a.u64(1);
  uint64_t size = a.u64(2);
  uint32_t flags = a.u32(3);
  if (!a.ok()) return a.failure();
  // argsz without a bitmap: the kernel refuses GET_DIRTY_BITMAP rather than read past it.
  abi::vfio_iommu_type1_dma_unmap unmap = {sizeof unmap, flags, iova, size};
  return a.result(vfio_ioctl(fd, abi::VFIO_IOMMU_UNMAP_DMA, &unmap));
}

// ---- group ----

napi_value vfio_group_get_status(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  abi::vfio_group_status status = {sizeof status, 0};
  int64_t r = vfio_ioctl(fd, abi::VFIO_GROUP_GET_STATUS, &status);
  return a.result(r < 0 ? r : status.flags);
}

napi_value vfio_group_set_container(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  int container = a.fd(1);
  if (!a.ok()) return a.failure();
  return a.result(vfio_ioctl(fd, abi::VFIO_GROUP_SET_CONTAINER, &container));
}

napi_value vfio_group_unset_container(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  return a.result(vfio_ioctl_value(fd, abi::VFIO_GROUP_UNSET_CONTAINER, 0));
}

// Opening a device may reset it (FLR can take 100 ms or more): on the thread pool.
napi_value vfio_group_get_device_fd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  std::string name = a.path(1);
  if (!a.ok()) return a.failure();
  return queue_syscall(env, "VFIO_GROUP_GET_DEVICE_FD", {fd}, [name](const std::vector<int>& own) {
    return vfio_ioctl(own[0], abi::VFIO_GROUP_GET_DEVICE_FD, name.c_str());
  });
}

// ---- device ----

napi_value vfio_device_get_info(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.out_bytes(1);
  a.invalid_unless(buf.length >= sizeof(abi::vfio_device_info) && buf.length <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  return a.result(grow_info_ioctl(fd, abi::VFIO_DEVICE_GET_INFO, buf, sizeof(abi::vfio_device_info), -1, 0));
}

// Framed (frame.h; slots: lib/addon/frame-table.ts), argument: the buffer. Result: the argsz the kernel wants,
// or -errno.
napi_value vfio_device_get_region_info(napi_env env, napi_callback_info info) {
  Args a(env, info, kFromFrame, 1);
  Span<uint8_t> buf = a.out_bytes(0);
  int fd = a.fd(0);
  uint32_t index = a.u32(1);
  a.invalid_unless(buf.length >= sizeof(abi::vfio_region_info) && buf.length <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  return a.result(grow_info_ioctl(fd, abi::VFIO_DEVICE_GET_REGION_INFO, buf, sizeof(abi::vfio_region_info),
                                  offsetof(abi::vfio_region_info, index), index));
}

napi_value vfio_device_get_irq_info(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t index = a.u32(1);
  Span<uint8_t> buf = a.out_bytes(2);
  a.invalid_unless(buf.length >= sizeof(abi::vfio_irq_info) && buf.length <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  std::memcpy(buf.data + offsetof(abi::vfio_irq_info, index), &index, sizeof index);
  return a.result(info_ioctl(fd, abi::VFIO_DEVICE_GET_IRQ_INFO, buf));
}

// The payload's type must match the DATA_* flag and hold exactly count elements.
napi_value vfio_device_set_irqs(napi_env env, napi_callback_info info) {
  Args a(env, info);
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
  return a.result(vfio_ioctl(fd, abi::VFIO_DEVICE_SET_IRQS, arg.data()));
}

napi_value vfio_device_reset(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  return queue_syscall(env, "VFIO_DEVICE_RESET", {fd},
                       [](const std::vector<int>& own) { return vfio_ioctl_value(own[0], abi::VFIO_DEVICE_RESET, 0); });
}

// ENOSPC with count set when buf is too small for the dependent devices: retry larger.
napi_value vfio_device_get_pci_hot_reset_info(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  Span<uint8_t> buf = a.out_bytes(1);
  a.invalid_unless(buf.length >= sizeof(abi::vfio_pci_hot_reset_info) && buf.length <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  return a.result(info_ioctl(fd, abi::VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, buf));
}

// groupFds may be empty: with iommufd-bound devices the kernel checks ownership itself. The
// group fds go to the kernel too, as private duplicates like the device fd.
napi_value vfio_device_pci_hot_reset(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  Span<int32_t> groups = a.i32s(1);
  a.invalid_unless(groups.length < 4096);  // more groups than any bus has devices
  if (!a.ok()) return a.failure();
  std::vector<int> fds = {fd};
  fds.insert(fds.end(), groups.data, groups.data + groups.length);  // copied: JS may change them meanwhile
  return queue_syscall(env, "VFIO_DEVICE_PCI_HOT_RESET", fds, [](const std::vector<int>& own) {
    size_t n = own.size() - 1;
    abi::vfio_pci_hot_reset header = {static_cast<uint32_t>(sizeof header + n * sizeof(int32_t)), 0,
                                      static_cast<uint32_t>(n)};
    std::vector<int32_t> group_fds(own.begin() + 1, own.end());
    std::vector<uint8_t> arg = with_payload(header, group_fds.data(), n * sizeof(int32_t));
    return vfio_ioctl(own[0], abi::VFIO_DEVICE_PCI_HOT_RESET, arg.data());
  });
}

// ---- iommufd binding of a device cdev ----

// Binding is where a cdev-opened device is really opened (vfio-pci may reset it: an FLR takes
// ~100 ms), so it runs on the thread pool like VFIO_GROUP_GET_DEVICE_FD.
// An optional third argument, a 16-byte VF token (a UUID's bytes), is copied into the call and
// passed with VFIO_DEVICE_BIND_FLAG_TOKEN: the kernel reads it through token_uuid_ptr, which
// points at that copy, never at JavaScript memory.
napi_value vfio_device_bind_iommufd(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  int iommufd = a.fd(1);
  bool with_token = !a.is_nullish(2);
  std::array<uint8_t, 16> token{};
  if (with_token) {
    Span<uint8_t> t = a.bytes(2);
    a.invalid_unless(t.length == token.size());
    if (a.ok()) std::copy(t.data, t.data + token.size(), token.begin());
  }
  if (!a.ok()) return a.failure();
  return queue_syscall(env, "VFIO_DEVICE_BIND_IOMMUFD", {fd, iommufd},
                       [with_token, token](const std::vector<int>& own) -> int64_t {
                         abi::vfio_device_bind_iommufd bind = {sizeof bind, 0, own[1], 0, 0};
                         if (with_token) {
                           bind.flags = abi::VFIO_DEVICE_BIND_FLAG_TOKEN;
                           bind.token_uuid_ptr = reinterpret_cast<uintptr_t>(token.data());
                         }
                         int64_t r = vfio_ioctl(own[0], abi::VFIO_DEVICE_BIND_IOMMUFD, &bind);
                         return r < 0 ? r : bind.out_devid;
                       });
}

napi_value vfio_device_attach_iommufd_pt(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t pt_id = a.u32(1);
  if (!a.ok()) return a.failure();
  abi::vfio_device_attach_iommufd_pt attach = {sizeof attach, 0, pt_id, 0};
  int64_t r = vfio_ioctl(fd, abi::VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach);
  return a.result(r < 0 ? r : attach.pt_id);
}

napi_value vfio_device_detach_iommufd_pt(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  abi::vfio_device_detach_iommufd_pt detach = {sizeof detach, 0, 0};
  return a.result(vfio_ioctl(fd, abi::VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach));
}

}  // namespace

void export_vfio(Exports& out) {
  out.fn("VFIO_GET_API_VERSION", vfio_get_api_version);
  out.fn("VFIO_CHECK_EXTENSION", vfio_check_extension);
  out.fn("VFIO_SET_IOMMU", vfio_set_iommu);
  out.fn("VFIO_IOMMU_GET_INFO", vfio_iommu_get_info);
  out.fn("VFIO_IOMMU_MAP_DMA", vfio_iommu_map_dma);
  out.fn("VFIO_IOMMU_UNMAP_DMA", vfio_iommu_unmap_dma);
  out.fn("VFIO_GROUP_GET_STATUS", vfio_group_get_status);
  out.fn("VFIO_GROUP_SET_CONTAINER", vfio_group_set_container);
  out.fn("VFIO_GROUP_UNSET_CONTAINER", vfio_group_unset_container);
  out.fn("VFIO_GROUP_GET_DEVICE_FD", vfio_group_get_device_fd);
  out.fn("VFIO_DEVICE_GET_INFO", vfio_device_get_info);
  out.fn("VFIO_DEVICE_GET_REGION_INFO", vfio_device_get_region_info);
  out.fn("VFIO_DEVICE_GET_IRQ_INFO", vfio_device_get_irq_info);
  out.fn("VFIO_DEVICE_SET_IRQS", vfio_device_set_irqs);
  out.fn("VFIO_DEVICE_RESET", vfio_device_reset);
  out.fn("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", vfio_device_get_pci_hot_reset_info);
  out.fn("VFIO_DEVICE_PCI_HOT_RESET", vfio_device_pci_hot_reset);
  out.fn("VFIO_DEVICE_BIND_IOMMUFD", vfio_device_bind_iommufd);
  out.fn("VFIO_DEVICE_ATTACH_IOMMUFD_PT", vfio_device_attach_iommufd_pt);
  out.fn("VFIO_DEVICE_DETACH_IOMMUFD_PT", vfio_device_detach_iommufd_pt);
}

}  // namespace vfio
