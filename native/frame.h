// The call frame: how the hot paths the benchmarks hold to C (DMA map and unmap on both
// backends, region info) pass their numbers.
//
// A Node-API call costs about 10 ns on hardware but about 0.3 us in the emulated host, where a
// MAP_DMA + UNMAP_DMA pair that unpacked its arguments one call each spent a quarter of a 4 KiB
// pair's time crossing from JavaScript. A framed function reads its numbers from a small array
// of doubles that belongs to the addon instance (lib/addon/frame.ts fills it just before the
// call) and leaves its result in it. DMA buffers are named by id (mman.h), a number like the
// others: the DMA functions take no argument at all, and region info takes its buffer. The
// numbers are checked here as strictly as Args checks arguments (integers, in range), so
// JavaScript still hands the kernel nothing unchecked.
//
// Layout, in 8-byte slots, seen from JavaScript as a Float64Array and a BigUint64Array over the
// same memory:
//   0 … 6   the function's numbers (which slot is what: each function says)
//   7       kinds: bit i set = slot i holds a u64 bit pattern (a bigint), not a double
//   8       the result: -errno or a value, a double unless bit 8 of kinds says u64
#ifndef VFIO_NATIVE_FRAME_H
#define VFIO_NATIVE_FRAME_H

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "args.h"

namespace vfio {

class MemTable;

struct Frame {
  static constexpr size_t kSlots = 9;
  static constexpr size_t kArgs = 7;
  static constexpr size_t kKinds = 7;
  static constexpr size_t kResult = 8;
  alignas(8) unsigned char bytes[kSlots * 8];  // what JavaScript sees
  MemTable* mems = nullptr;                     // the instance's mapping ids (mem_table.h)

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

// One framed call: the frame, the object arguments, and the first failure (as Args: after a
// failure every later read is a no-op, and the function checks once).
class FrameCall {
 public:
  // `objects`: how many object arguments the function takes (0 or 1); none are fetched otherwise.
  // Inline, as are done() and the slot readers: under the emulated host each call and return
  // on the DMA path costs a lookup of its own.
  FrameCall(napi_env env, napi_callback_info info, size_t objects = 0) : env_(env) {
    void* data = nullptr;
    argc_ = objects < kMaxObjects ? objects : kMaxObjects;
    // Without object arguments, only the data is asked for: the argument copy is skipped.
    size_t* argc = argc_ > 0 ? &argc_ : nullptr;
    if (napi_get_cb_info(env, info, argc, argc ? argv_ : nullptr, nullptr, &data) != napi_ok || data == nullptr) {
      no_frame();
      return;
    }
    frame_ = static_cast<Frame*>(data);
    if (argc_ > objects) argc_ = objects;  // napi_get_cb_info reports how many were passed
    // The kinds bitmask, read once: lib/addon/frame.ts writes a small integer there.
    double kinds = frame_->f64(Frame::kKinds);
    invalid_unless(kinds >= 0 && kinds < (1 << Frame::kArgs) && static_cast<double>(static_cast<uint32_t>(kinds)) == kinds);
    kinds_ = ok() ? static_cast<uint32_t>(kinds) : 0;
  }

  bool ok() const { return state_ == State::ok; }
  void invalid_unless(bool condition) {
    if (!condition && ok()) state_ = State::invalid;
  }
  // Like invalid_unless, with the errno the result will carry (EINVAL for invalid_unless).
  void fail_unless(bool condition, int errnum) {
    if (!condition && ok()) {
      state_ = State::invalid;
      errno_ = errnum;
    }
  }

  // The slot readers are inline: they run six times per DMA map, and out of line their calls
  // cost as much as their checks.
  int32_t fd(size_t slot) {  // an integer, 0 <= fd <= INT32_MAX
    double d = 0;
    return integer_in(slot, 0, INT32_MAX, &d) ? static_cast<int32_t>(d) : -1;
  }
  uint32_t u32(size_t slot) {  // an integer within uint32
    double d = 0;
    return integer_in(slot, 0, UINT32_MAX, &d) ? static_cast<uint32_t>(d) : 0;
  }
  uint64_t id(size_t slot) {  // an integer 1 <= v < 2^53: a mapping id (mman.h)
    double d = 0;
    return integer_in(slot, 1, 9007199254740991.0, &d) ? static_cast<uint64_t>(d) : 0;
  }
  uint64_t u64n(size_t slot) {  // an integer 0 <= v <= 2^53, or (kinds bit) any u64
    if (!ok()) return 0;
    if (holds_u64(slot)) return frame_->u64(slot);  // a bigint's bits, range-checked in lib/addon/frame.ts
    double d = 0;
    return integer_in(slot, 0, 9007199254740992.0, &d) ? static_cast<uint64_t>(d) : 0;
  }
  // Argument i as a Uint8Array (a TypeError for anything else).
  Span<uint8_t> bytes(size_t i);

  // Stores the result (-EINVAL, or fail_unless's errno, when a check failed) and returns
  // undefined, or nothing under a pending TypeError. A u64 at or above 2^53 is stored as a bit
  // pattern (kinds bit 8).
  napi_value done(int64_t result) {
    if (state_ == State::thrown) return nullptr;
    frame_->set_f64(Frame::kKinds, 0);
    frame_->set_f64(Frame::kResult, static_cast<double>(ok() ? result : -errno_));
    return nullptr;
  }
  napi_value done_u64(uint64_t value);

  // The instance's mapping ids (null only when the call has failed).
  MemTable* mems() const { return frame_ != nullptr ? frame_->mems : nullptr; }

 private:
  enum class State { ok, invalid, thrown };
  void no_frame();  // throws: the function was made without its frame
  bool holds_u64(size_t slot) const { return (kinds_ >> slot & 1) != 0; }
  // A number slot (never a bigint's bits) holding an integer within [lo, hi]. The range test
  // comes first (NaN and infinities fail it), so the integer test can round-trip through int64
  // instead of calling trunc().
  bool integer_in(size_t slot, double lo, double hi, double* out) {
    if (!ok()) return false;
    double d = frame_->f64(slot);
    bool fits = !holds_u64(slot) && d >= lo && d <= hi && static_cast<double>(static_cast<int64_t>(d)) == d;
    invalid_unless(fits);
    *out = d;
    return fits;
  }

  napi_env env_;
  Frame* frame_ = nullptr;
  static constexpr size_t kMaxObjects = 1;
  napi_value argv_[kMaxObjects] = {};
  size_t argc_ = 0;
  uint32_t kinds_ = 0;
  int errno_ = EINVAL;
  State state_ = State::ok;
};


}  // namespace vfio

#endif  // VFIO_NATIVE_FRAME_H
