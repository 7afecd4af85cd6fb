// C baselines for the benchmarks, run in the same process as the JavaScript under test so the
// ratio compares like with like (same mapping, same machine state). Bench-only: not part of the
// vfio addon, never shipped.
#include <errno.h>
#include <napi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "abi/vfio_abi.h"

namespace {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// Returns the ArrayBuffer's memory, or nullptr (after throwing) if the arguments are wrong.
volatile uint32_t* reg32(const Napi::CallbackInfo& info, size_t* words) {
  if (info.Length() < 3 || !info[0].IsArrayBuffer() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(info.Env(), "(buffer, offset, iterations) expected").ThrowAsJavaScriptException();
    return nullptr;
  }
  auto ab = info[0].As<Napi::ArrayBuffer>();
  uint32_t off = info[1].As<Napi::Number>().Uint32Value();
  if (off % 4 != 0 || off + 4 > ab.ByteLength()) {
    Napi::RangeError::New(info.Env(), "offset outside the buffer").ThrowAsJavaScriptException();
    return nullptr;
  }
  *words = ab.ByteLength() / 4;
  return reinterpret_cast<volatile uint32_t*>(static_cast<uint8_t*>(ab.Data()) + off);
}

// Nanoseconds for `iterations` volatile 32-bit stores to one register.
Napi::Value write32_loop(const Napi::CallbackInfo& info) {
  size_t words;
  volatile uint32_t* r = reg32(info, &words);
  if (!r) return info.Env().Undefined();
  uint32_t n = info[2].As<Napi::Number>().Uint32Value();
  uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; i++) *r = i;
  return Napi::Number::New(info.Env(), double(now_ns() - t0));
}

// Nanoseconds for `iterations` volatile 32-bit loads of one register.
Napi::Value read32_loop(const Napi::CallbackInfo& info) {
  size_t words;
  volatile uint32_t* r = reg32(info, &words);
  if (!r) return info.Env().Undefined();
  uint32_t n = info[2].As<Napi::Number>().Uint32Value();
  uint32_t sink = 0;
  uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; i++) sink += *r;
  uint64_t dt = now_ns() - t0;
  (void)sink;
  return Napi::Number::New(info.Env(), double(dt));
}

// Nanoseconds for `iterations` GET_REGION_INFO round trips done the way the library does them:
// ask with the base size, re-ask with the argsz the kernel wants, walk the capability chain.
Napi::Value region_info_loop(const Napi::CallbackInfo& info) {
  using vfio_abi::vfio_region_info;
  using vfio_abi::vfio_info_cap_header;
  int fd = info[0].As<Napi::Number>().Int32Value();
  uint32_t index = info[1].As<Napi::Number>().Uint32Value();
  uint32_t n = info[2].As<Napi::Number>().Uint32Value();
  uint32_t caps_seen = 0;
  uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; i++) {
    vfio_region_info base{};
    base.argsz = sizeof base;
    base.index = index;
    if (ioctl(fd, vfio_abi::VFIO_DEVICE_GET_REGION_INFO, &base) != 0) return Napi::Number::New(info.Env(), -1);
    if (base.argsz <= sizeof base) continue;
    uint32_t size = base.argsz;
    auto* full = static_cast<vfio_region_info*>(calloc(1, size));
    full->argsz = size;
    full->index = index;
    if (ioctl(fd, vfio_abi::VFIO_DEVICE_GET_REGION_INFO, full) == 0) {
      for (uint32_t off = full->cap_offset, hops = 0; off && off + sizeof(vfio_info_cap_header) <= size && hops < 64; hops++) {
        vfio_info_cap_header h;
        memcpy(&h, reinterpret_cast<uint8_t*>(full) + off, sizeof h);
        caps_seen += h.id;
        off = h.next;
      }
    }
    free(full);
  }
  uint64_t dt = now_ns() - t0;
  (void)caps_seen;
  return Napi::Number::New(info.Env(), double(dt));
}

// Nanoseconds for `iterations` VFIO_IOMMU_MAP_DMA + UNMAP_DMA pairs of the first `length` bytes
// of `buffer` (the same DMA buffer the Node side maps) at a fixed IOVA; -errno on failure.
Napi::Value dma_map_loop(const Napi::CallbackInfo& info) {
  using vfio_abi::vfio_iommu_type1_dma_map;
  using vfio_abi::vfio_iommu_type1_dma_unmap;
  if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsArrayBuffer() || !info[2].IsNumber() ||
      !info[3].IsNumber() || !info[4].IsNumber()) {
    Napi::TypeError::New(info.Env(), "(containerFd, buffer, length, iova, iterations) expected").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto ab = info[1].As<Napi::ArrayBuffer>();
  uint64_t length = uint64_t(info[2].As<Napi::Number>().Int64Value());
  uint64_t iova = uint64_t(info[3].As<Napi::Number>().Int64Value());
  uint32_t n = info[4].As<Napi::Number>().Uint32Value();
  if (length == 0 || length > ab.ByteLength()) {
    Napi::RangeError::New(info.Env(), "length outside the buffer").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  uint64_t vaddr = reinterpret_cast<uintptr_t>(ab.Data());
  uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; i++) {
    vfio_iommu_type1_dma_map map{sizeof map, vfio_abi::VFIO_DMA_MAP_FLAG_READ | vfio_abi::VFIO_DMA_MAP_FLAG_WRITE, vaddr, iova, length};
    if (ioctl(fd, vfio_abi::VFIO_IOMMU_MAP_DMA, &map) != 0) return Napi::Number::New(info.Env(), -errno);
    vfio_iommu_type1_dma_unmap unmap{sizeof unmap, 0, iova, length};
    if (ioctl(fd, vfio_abi::VFIO_IOMMU_UNMAP_DMA, &unmap) != 0) return Napi::Number::New(info.Env(), -errno);
  }
  return Napi::Number::New(info.Env(), double(now_ns() - t0));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("write32_loop", Napi::Function::New(env, write32_loop));
  exports.Set("read32_loop", Napi::Function::New(env, read32_loop));
  exports.Set("region_info_loop", Napi::Function::New(env, region_info_loop));
  exports.Set("dma_map_loop", Napi::Function::New(env, dma_map_loop));
  return exports;
}

}  // namespace

NODE_API_MODULE(vfio_bench, Init)
