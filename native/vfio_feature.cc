// VFIO_DEVICE_FEATURE: the generic form (features with plain payloads), the unsafe form (a
// driver's own features), and the features whose payload holds a variable-length list or a user
// pointer, which JavaScript cannot express safely as bytes.
#include <vector>

#include "abi/vfio_abi.h"
#include "args.h"
#include "exports.h"
#include "ioctl.h"

namespace vfio {

namespace {

namespace abi = vfio_abi;

// Runs the feature ioctl with payload after the {argsz, flags} header; returns its result.
int64_t feature_ioctl(int fd, uint32_t flags, const void* payload, size_t payload_length, void* out) {
  abi::vfio_device_feature header = {static_cast<uint32_t>(sizeof header + payload_length), flags};
  std::vector<uint8_t> arg = with_payload(header, payload, payload_length);
  int64_t r = vfio_ioctl(fd, abi::VFIO_DEVICE_FEATURE, arg.data());
  if (out && payload_length) std::memcpy(out, arg.data() + sizeof header, payload_length);
  return r;
}

// The features whose payload is known to be plain values (numbers, a UUID, an fd the kernel
// resolves itself, DMA_BUF's ranges) and never an address, for every driver that offers them:
// only these take a payload through VFIO_DEVICE_FEATURE. Bytes from JavaScript in any other
// payload could hold a user pointer (DMA_LOGGING_START/REPORT do, and a driver's own feature
// may), so those go through their dedicated functions below or, for a driver's own features,
// VFIO_DEVICE_FEATURE_UNSAFE.
constexpr uint32_t kPlainPayload[] = {
    abi::VFIO_DEVICE_FEATURE_PCI_VF_TOKEN,
    abi::VFIO_DEVICE_FEATURE_MIGRATION,
    abi::VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
    abi::VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY,
    abi::VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP,
    abi::VFIO_DEVICE_FEATURE_LOW_POWER_EXIT,
    abi::VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
    abi::VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
    abi::VFIO_DEVICE_FEATURE_BUS_MASTER,
    abi::VFIO_DEVICE_FEATURE_DMA_BUF,
};

bool plain_payload(uint32_t index) {
  for (uint32_t plain : kPlainPayload) {
    if (index == plain) return true;
  }
  return false;
}

// The features no raw payload may reach, not even through the unsafe path: the kernel reads
// addresses from them, which only this addon's dedicated functions set.
bool dedicated(uint32_t index) {
  return index == abi::VFIO_DEVICE_FEATURE_DMA_LOGGING_START || index == abi::VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
}

// DMA_BUF's request counts the ranges that follow it, and the kernel reads that many: the count
// must match the payload, or the kernel would read past it.
bool consistent(uint32_t index, Span<uint8_t> payload) {
  if (index != abi::VFIO_DEVICE_FEATURE_DMA_BUF || payload.length == 0) return true;
  constexpr size_t head = sizeof(abi::vfio_device_feature_dma_buf);
  if (payload.length < head) return false;
  uint32_t nr_ranges;
  std::memcpy(&nr_ranges, payload.data + offsetof(abi::vfio_device_feature_dma_buf, nr_ranges), sizeof nr_ranges);
  return payload.length == head + uint64_t{nr_ranges} * sizeof(abi::vfio_region_dma_range);
}

// The generic call: payload is copied in before the ioctl and back out after it (GET fills
// it). `allowed` says whether this feature may take a payload here.
napi_value feature_call(napi_env env, napi_callback_info info, bool (*allowed)(uint32_t index)) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t flags = a.u32(1);
  Span<uint8_t> payload = a.is_nullish(2) ? Span<uint8_t>() : a.out_bytes(2);
  // No payload (argsz is the header alone): nothing for a driver to read, any feature.
  uint32_t index = flags & abi::VFIO_DEVICE_FEATURE_MASK;
  a.invalid_unless(payload.length == 0 || allowed(index));
  a.invalid_unless(consistent(index, payload));
  a.invalid_unless(payload.length <= UINT32_MAX - sizeof(abi::vfio_device_feature));
  if (!a.ok()) return a.failure();
  return a.result(feature_ioctl(fd, flags, payload.data, payload.length, payload.data));
}

napi_value vfio_device_feature(napi_env env, napi_callback_info info) { return feature_call(env, info, plain_payload); }

// Unsafe by contract (docs/reliability.md): any feature but DMA_LOGGING_START/REPORT, with whatever
// payload the caller vouches for. A driver that reads an address from the payload reads it from
// JavaScript.
napi_value vfio_device_feature_unsafe(napi_env env, napi_callback_info info) {
  return feature_call(env, info, [](uint32_t index) { return !dedicated(index); });
}

// ranges = [offset0, length0, offset1, length1, ...] within the region; returns the dma-buf fd.
napi_value vfio_device_feature_dma_buf(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t region_index = a.u32(1);
  uint32_t open_flags = a.u32(2);
  Span<uint64_t> ranges = a.u64s(3);
  // argsz is a u32: header + request + 16 bytes per range must fit.
  constexpr size_t kMaxRanges =
      (UINT32_MAX - sizeof(abi::vfio_device_feature) - sizeof(abi::vfio_device_feature_dma_buf)) /
      sizeof(abi::vfio_region_dma_range);
  a.invalid_unless(ranges.length % 2 == 0 && ranges.length / 2 <= kMaxRanges);
  if (!a.ok()) return a.failure();
  uint32_t nr_ranges = static_cast<uint32_t>(ranges.length / 2);
  abi::vfio_device_feature_dma_buf request = {region_index, open_flags, 0, nr_ranges};
  // BigUint64Array pairs have exactly the layout of struct vfio_region_dma_range[].
  std::vector<uint8_t> payload = with_payload(request, ranges.data, nr_ranges * sizeof(abi::vfio_region_dma_range));
  uint32_t flags = abi::VFIO_DEVICE_FEATURE_GET | abi::VFIO_DEVICE_FEATURE_DMA_BUF;
  return a.result(feature_ioctl(fd, flags, payload.data(), payload.size(), nullptr));
}

// ranges = [iova0, length0, ...]: the IOVA ranges the device should log writes to. The kernel
// writes back the page size the device chose: to out[0] when out is given.
napi_value vfio_device_feature_dma_logging_start(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint64_t page_size = a.u64(1);
  Span<uint64_t> ranges = a.u64s(2);
  Span<uint64_t> out = a.is_nullish(3) ? Span<uint64_t>() : a.out_u64s(3);
  a.invalid_unless(a.is_nullish(3) || out.length >= 1);
  a.invalid_unless(ranges.length % 2 == 0 && ranges.length / 2 <= UINT32_MAX);
  if (!a.ok()) return a.failure();
  // Copied so that the kernel reads a private array that JavaScript cannot resize meanwhile.
  std::vector<abi::vfio_device_feature_dma_logging_range> list(ranges.length / 2);
  for (size_t i = 0; i < list.size(); i++) list[i] = {ranges.data[2 * i], ranges.data[2 * i + 1]};
  abi::vfio_device_feature_dma_logging_control control = {page_size, static_cast<uint32_t>(list.size()), 0,
                                                          reinterpret_cast<uintptr_t>(list.data())};
  uint32_t flags = abi::VFIO_DEVICE_FEATURE_SET | abi::VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
  int64_t r = feature_ioctl(fd, flags, &control, sizeof control, &control);
  if (r >= 0 && out.data) out.data[0] = control.page_size;
  return a.result(r);
}

// Words needed for one bit per page_size of [iova, iova + length), or 0 when that overflows.
uint64_t bitmap_bytes(uint64_t length, uint64_t page_size) {
  uint64_t pages = length / page_size + (length % page_size != 0);
  return pages > UINT64_MAX - 63 ? 0 : (pages + 63) / 64 * 8;
}

// The kernel ORs dirty bits into bitmap (u64 words; it never clears): it must cover the range
// and be 8-byte aligned, as the kernel updates it a word at a time.
napi_value vfio_device_feature_dma_logging_report(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint64_t iova = a.u64(1);
  uint64_t length = a.u64(2);
  uint64_t page_size = a.u64(3);
  Span<uint8_t> bitmap = a.out_bytes(4);
  a.invalid_unless(page_size != 0 && (page_size & (page_size - 1)) == 0 && length != 0);
  if (a.ok()) {
    uint64_t needed = bitmap_bytes(length, page_size);
    a.invalid_unless(needed != 0 && bitmap.length >= needed && reinterpret_cast<uintptr_t>(bitmap.data) % 8 == 0);
  }
  if (!a.ok()) return a.failure();
  abi::vfio_device_feature_dma_logging_report report = {iova, length, page_size,
                                                        reinterpret_cast<uintptr_t>(bitmap.data)};
  uint32_t flags = abi::VFIO_DEVICE_FEATURE_GET | abi::VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
  return a.result(feature_ioctl(fd, flags, &report, sizeof report, nullptr));
}

}  // namespace

void export_vfio_feature(Exports& out) {
  out.fn("VFIO_DEVICE_FEATURE", vfio_device_feature);
  out.fn("VFIO_DEVICE_FEATURE_UNSAFE", vfio_device_feature_unsafe);
  // The allowlist itself, for the library to tell a caller why a payload is refused.
  Napi::Env env = out.env();
  Napi::Array plain = Napi::Array::New(env);
  bool ok = true;
  for (uint32_t i = 0; ok && i < sizeof kPlainPayload / sizeof kPlainPayload[0]; i++) {
    ok = !plain.Set(i, number(env, kPlainPayload[i])).IsNothing();
  }
  out.set("FEATURE_PLAIN_PAYLOAD", ok ? Napi::Value(plain) : Napi::Value());
  out.fn("VFIO_DEVICE_FEATURE_DMA_BUF", vfio_device_feature_dma_buf);
  out.fn("VFIO_DEVICE_FEATURE_DMA_LOGGING_START", vfio_device_feature_dma_logging_start);
  out.fn("VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT", vfio_device_feature_dma_logging_report);
}

}  // namespace vfio
