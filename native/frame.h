// The call frame: how the hot paths the benchmarks hold to C (DMA map and unmap on both
// backends, region info) pass their numbers.
//
// Each Node-API call that unpacks an argument is a crossing of its own, and under emulation those
// crossings are a large share of a small MAP_DMA + UNMAP_DMA pair (docs/measurements.md). A
// framed function reads its numbers from a small array of doubles that belongs to the addon
// instance (lib/addon/frame.ts fills it just before the call) and leaves its result in it. DMA
// buffers are named by id (mman.h), a number like the others: the DMA functions take no
// argument at all, and region info takes its buffer. The numbers are checked by the same engine
// as every argument (args.h: integers, in range), so
// JavaScript still hands the kernel nothing unchecked.
//
// Layout, in 8-byte slots, seen from JavaScript as a Float64Array and a BigUint64Array over the
// same memory:
//   0 … 6   the function's numbers, argument i in slot i (which is what: lib/addon/frame-table.ts,
//           which test/host/frame-table.test.ts checks against each function's reads)
//   7       kinds: bit i set = slot i holds a u64 bit pattern (a bigint), not a double
//   8       the result: -errno or a value, a double unless bit 8 of kinds says u64
#ifndef VFIO_NATIVE_FRAME_H
#define VFIO_NATIVE_FRAME_H

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vfio {

class MemTable;

// One per addon instance, and the data of every function the addon exports (args.h reads it):
// framed functions take their numbers from it, and all of them find the instance's mappings.
struct Frame {
  static constexpr size_t kSlots = 9;
  static constexpr size_t kArgs = 7;
  static constexpr size_t kKinds = 7;
  static constexpr size_t kResult = 8;
  alignas(8) unsigned char bytes[kSlots * 8];  // what JavaScript sees
  MemTable* mems = nullptr;                    // the instance's mapping ids (mem_table.h)

  double f64(size_t slot) const {
    double d;
    std::memcpy(&d, bytes + slot * 8, sizeof d);
    return d;
  }
  uint64_t u64(size_t slot) const {
    uint64_t v;
    std::memcpy(&v, bytes + slot * 8, sizeof v);
    return v;
  }
  void set_f64(size_t slot, double d) { std::memcpy(bytes + slot * 8, &d, sizeof d); }
  void set_u64(size_t slot, uint64_t v) { std::memcpy(bytes + slot * 8, &v, sizeof v); }
};
static_assert(sizeof(Frame::bytes) == 72, "the JavaScript views expect 9 slots of 8 bytes");

}  // namespace vfio

#endif  // VFIO_NATIVE_FRAME_H
