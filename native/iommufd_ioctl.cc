// iommufd ioctls (/dev/iommu): one function each, named after the ioctl.
#include <cerrno>

#include "abi/iommufd_abi.h"
#include "args.h"
#include "exports.h"
#include "ioctl.h"
#include "mman.h"

namespace vfio {

namespace {

namespace abi = vfio_abi;

// An IOVA chosen or confirmed by the kernel (a bigint), or -errno (a number).
napi_value iova_or_error(Napi::Env env, int64_t r, uint64_t iova) { return r < 0 ? number(env, r) : bigint(env, iova); }

napi_value iommu_ioas_alloc(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  if (!a.ok()) return a.failure();
  abi::iommu_ioas_alloc alloc = {sizeof alloc, 0, 0};
  int64_t r = vfio_ioctl(fd, abi::IOMMU_IOAS_ALLOC, &alloc);
  return a.result(r < 0 ? r : alloc.out_ioas_id);
}

napi_value iommu_destroy(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t id = a.u32(1);
  if (!a.ok()) return a.failure();
  abi::iommu_destroy destroy = {sizeof destroy, id};
  return a.result(vfio_ioctl(fd, abi::IOMMU_DESTROY, &destroy));
}

// out = [start0, last0, ...] (BigUint64Array pairs are struct iommu_iova_range[]). Returns the
// total number of ranges, also when out was too small (EMSGSIZE): a result larger than
// out.length / 2 means "call again with more room". The optional alignment[0] receives
// out_iova_alignment (the IOVA granule MAP requires).
napi_value iommu_ioas_iova_ranges(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t ioas_id = a.u32(1);
  Span<uint64_t> out = a.out_u64s(2);
  Span<uint64_t> alignment = a.is_nullish(3) ? Span<uint64_t>{} : a.out_u64s(3);
  a.invalid_unless(out.length % 2 == 0 && out.length / 2 <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  abi::iommu_ioas_iova_ranges ranges = {
      sizeof ranges, ioas_id, static_cast<uint32_t>(out.length / 2), 0, reinterpret_cast<uintptr_t>(out.data), 0};
  int64_t r = vfio_ioctl(fd, abi::IOMMU_IOAS_IOVA_RANGES, &ranges);
  if (r < 0 && r != -EMSGSIZE) return a.result(r);
  if (alignment.length >= 1) alignment.data[0] = ranges.out_iova_alignment;
  return a.result(ranges.num_iovas);
}

// Maps [offset, offset + length) of a mapping (DMA buffer) into the IOAS. Framed (frame.h;
// slots: lib/addon/frame-table.ts). Result: the IOVA used, or -errno.
napi_value iommu_ioas_map(napi_env env, napi_callback_info info) {
  Args a(env, info, kFromFrame, 0);
  int fd = a.fd(0);
  uint32_t ioas_id = a.u32(1);
  Mapping* mem = dma_buffer_of(a, 2);
  uint64_t offset = a.u64(3);
  uint64_t length = a.u64(4);
  uint64_t iova = a.u64(5);
  uint32_t flags = a.u32(6);
  uint64_t user_va = mem_address(a, mem, offset, length);
  if (!a.ok()) return a.failure();
  abi::iommu_ioas_map map = {sizeof map, flags, ioas_id, 0, user_va, length, iova};
  int64_t r = vfio_ioctl(fd, abi::IOMMU_IOAS_MAP, &map);
  return r < 0 ? a.result(r) : a.result_u64(map.iova);
}

// Maps a memfd or a vfio dma-buf (peer-to-peer DMA to a BAR) by fd, no address involved.
napi_value iommu_ioas_map_file(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t ioas_id = a.u32(1);
  int file = a.fd(2);
  uint64_t start = a.u64(3);
  uint64_t length = a.u64(4);
  uint64_t iova = a.u64(5);
  uint32_t flags = a.u32(6);
  if (!a.ok()) return a.failure();
  abi::iommu_ioas_map_file map = {sizeof map, flags, ioas_id, file, start, length, iova};
  int64_t r = vfio_ioctl(fd, abi::IOMMU_IOAS_MAP_FILE, &map);
  return iova_or_error(a.env(), r, map.iova);
}

// Framed (slots: lib/addon/frame-table.ts). Result: 0 or -errno.
napi_value iommu_ioas_unmap(napi_env env, napi_callback_info info) {
  Args a(env, info, kFromFrame, 0);
  int fd = a.fd(0);
  uint32_t ioas_id = a.u32(1);
  uint64_t iova = a.u64(2);
  uint64_t length = a.u64(3);
  if (!a.ok()) return a.failure();
  abi::iommu_ioas_unmap unmap = {sizeof unmap, ioas_id, iova, length};
  return a.result(vfio_ioctl(fd, abi::IOMMU_IOAS_UNMAP, &unmap));
}

// The kernel fills buf with the IOMMU-specific info (zeroing what it has no data for). Returns
// out_data_type; out[0] = out_capabilities, out[1] = data_len the kernel has, out[2] =
// out_max_pasid_log2, each when out is long enough.
napi_value iommu_get_hw_info(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t dev_id = a.u32(1);
  Span<uint8_t> buf = a.out_bytes(2);
  Span<uint64_t> out = a.out_u64s(3);
  a.invalid_unless(buf.length <= UINT32_MAX && out.length >= 1);
  if (!a.ok()) return a.failure();
  abi::iommu_hw_info hw = {};
  hw.size = sizeof hw;
  hw.dev_id = dev_id;
  hw.data_len = static_cast<uint32_t>(buf.length);
  hw.data_uptr = reinterpret_cast<uintptr_t>(buf.data);
  int64_t r = vfio_ioctl(fd, abi::IOMMU_GET_HW_INFO, &hw);
  if (r < 0) return a.result(r);
  const uint64_t fields[] = {hw.out_capabilities, hw.data_len, hw.out_max_pasid_log2};
  for (size_t i = 0; i < out.length && i < 3; i++) out.data[i] = fields[i];
  return a.result(hw.out_data_type);
}

// No-IOMMU only: out[0] = the physical address of iova, out[1] = how many of the length bytes
// from there are physically contiguous. Returns 0 or -errno.
napi_value iommu_ioas_noiommu_get_pa(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t ioas_id = a.u32(1);
  uint64_t iova = a.u64(2);
  uint64_t length = a.u64(3);
  Span<uint64_t> out = a.out_u64s(4);
  a.invalid_unless(out.length >= 2);
  if (!a.ok()) return a.failure();
  abi::iommu_ioas_noiommu_get_pa query = {sizeof query, 0, ioas_id, 0, iova, length, 0};
  int64_t r = vfio_ioctl(fd, abi::IOMMU_IOAS_NOIOMMU_GET_PA, &query);
  if (r >= 0) {
    out.data[0] = query.out_phys;
    out.data[1] = query.length;
  }
  return a.result(r);
}

}  // namespace

void export_iommufd(Exports& out) {
  out.fn("IOMMU_IOAS_ALLOC", iommu_ioas_alloc);
  out.fn("IOMMU_DESTROY", iommu_destroy);
  out.fn("IOMMU_IOAS_IOVA_RANGES", iommu_ioas_iova_ranges);
  out.fn("IOMMU_IOAS_MAP", iommu_ioas_map);
  out.fn("IOMMU_IOAS_MAP_FILE", iommu_ioas_map_file);
  out.fn("IOMMU_IOAS_UNMAP", iommu_ioas_unmap);
  out.fn("IOMMU_GET_HW_INFO", iommu_get_hw_info);
  out.fn("IOMMU_IOAS_NOIOMMU_GET_PA", iommu_ioas_noiommu_get_pa);
}

}  // namespace vfio
