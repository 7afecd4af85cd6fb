// The addon's one argument engine: every native function, plain or framed, unpacks and checks
// its arguments through Args and answers through it.
//
// Contract (lib/addon/contract.ts): a wrong JavaScript *type* throws a TypeError ("vfio native: ..."); a
// value of the right type that the syscall layer cannot accept (negative fd, lossy bigint,
// length mismatch, out-of-range offset) is -EINVAL, or the errno a check names (-EBADF for a
// mapping id that names no DMA buffer, -EFAULT for an output buffer the process cannot write).
// Args records the first failure and turns every later unpack into a no-op, so a function reads
// all its arguments and checks once:
//
//   Args a(env, info);
//   int fd = a.fd(0);
//   uint32_t type = a.u32(1);
//   if (!a.ok()) return a.failure();
//   return a.result(ioctl(...));
//
// Where the numbers come from: a plain function's numbers are its JavaScript arguments; a framed
// function's (frame.h) are slots of the call frame, written by lib/addon/frame.ts, and its
// object arguments (a buffer) are its JavaScript arguments. The checks are the same either way.
// Any JavaScript value is survivable: nothing here calls into JavaScript (no getters, no
// conversions), nullish values are checked before a type tag is, and a TypeError is thrown only
// when no exception is pending already.
#ifndef VFIO_NATIVE_ARGS_H
#define VFIO_NATIVE_ARGS_H

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "frame.h"

namespace vfio {

// A syscall's result as the contract wants it: the value, or -errno. Call it directly on the
// syscall's return so that errno is read before anything else can change it.
inline int64_t errno_or(int64_t r) { return r < 0 ? -static_cast<int64_t>(errno) : r; }

inline Napi::Value number(Napi::Env env, int64_t v) {
  napi_value out = nullptr;
  napi_create_double(env, static_cast<double>(v), &out);
  return Napi::Value(env, out);
}

inline Napi::Value bigint(Napi::Env env, uint64_t v) {
  napi_value out = nullptr;
  napi_create_bigint_uint64(env, v, &out);
  return Napi::Value(env, out);
}

// A view of a typed array's memory; data is null (and length 0) for a detached buffer.
template <typename T>
struct Span {
  T* data = nullptr;
  size_t length = 0;  // in elements
};

// Selects the framed constructor.
struct FromFrame {};
constexpr FromFrame kFromFrame{};

class Args {
 public:
  static constexpr size_t kMaxArgs = 7;

  // A plain function: numbers and objects are its JavaScript arguments (absent ones undefined).
  Args(napi_env env, napi_callback_info info) : env_(env) { fetch(info, kMaxArgs); }
  // A framed function: numbers from the frame's slots, then `objects` (0 or 1) JavaScript
  // arguments. Inline, as are the number readers and result(): on the DMA path each call and
  // return costs about as much as the checks themselves.
  Args(napi_env env, napi_callback_info info, FromFrame, size_t objects) : env_(env), framed_(true) {
    fetch(info, objects < kMaxObjectsFramed ? objects : kMaxObjectsFramed);
    if (!ok()) return;
    // The kinds bitmask, read once: lib/addon/frame.ts writes a small integer there.
    double kinds = frame_->f64(Frame::kKinds);
    invalid_unless(kinds >= 0 && kinds < (1 << Frame::kArgs) &&
                   static_cast<double>(static_cast<uint32_t>(kinds)) == kinds);
    kinds_ = ok() ? static_cast<uint32_t>(kinds) : 0;
  }

  Napi::Env env() const { return Napi::Env(env_); }
  bool ok() const { return state_ == State::ok; }
  void invalid_unless(bool condition) { fail_unless(condition, EINVAL); }
  // Like invalid_unless, with the errno the result will carry.
  void fail_unless(bool condition, int errnum) {
    if (!condition && ok()) {
      state_ = State::invalid;
      errno_ = errnum;
    }
  }

  // ---- numbers: argument i of a plain function, slot i of a framed one ----
  int32_t fd(size_t i) { return number_in(i, 0, INT32_MAX, "a number (fd)") ? static_cast<int32_t>(d_) : -1; }
  int32_t i32(size_t i) { return number_in(i, INT32_MIN, INT32_MAX, "a number") ? static_cast<int32_t>(d_) : 0; }
  uint32_t u32(size_t i) { return number_in(i, 0, UINT32_MAX, "a number") ? static_cast<uint32_t>(d_) : 0; }
  // An integer 0 <= v <= 2^53 (lengths).
  uint64_t size(size_t i) { return number_in(i, 0, kTwoTo53, "a number") ? static_cast<uint64_t>(d_) : 0; }
  // An integer 1 <= v < 2^53: a mapping id (mem_table.h).
  uint64_t id(size_t i) { return number_in(i, 1, kTwoTo53 - 1, "a number (id)") ? static_cast<uint64_t>(d_) : 0; }
  // Any u64: a bigint (lossless, 0 <= v < 2^64) or an integer number 0 <= v <= 2^53.
  uint64_t u64(size_t i) {
    if (!ok()) return 0;
    if (framed_) {
      if (holds_u64(i)) return frame_->u64(i);  // a bigint's bits, range-checked in lib/addon/frame.ts
    } else if (is_bigint(i)) {
      return bigint_arg(i);
    }
    return number_in(i, 0, kTwoTo53, "a bigint or a number") ? static_cast<uint64_t>(d_) : 0;
  }
  // A file offset: a u64 at most INT64_MAX.
  int64_t off(size_t i) {
    uint64_t v = u64(i);
    invalid_unless(v <= static_cast<uint64_t>(INT64_MAX));
    return ok() ? static_cast<int64_t>(v) : 0;
  }

  // ---- objects: always JavaScript arguments ----
  bool boolean(size_t i);
  std::string path(size_t i);     // a string without NUL bytes
  Span<uint8_t> bytes(size_t i);  // Uint8Array (or Buffer): input
  Span<uint64_t> u64s(size_t i);  // BigUint64Array: input
  Span<int32_t> i32s(size_t i);   // Int32Array: input
  // Output buffers (the addon or the kernel writes into them): -EFAULT when any byte of one is
  // memory the process cannot write (a read-only mapping).
  Span<uint8_t> out_bytes(size_t i);
  Span<uint64_t> out_u64s(size_t i);
  bool is_nullish(size_t i) const;  // absent, undefined or null
  napi_value function(size_t i);
  // The native object behind a handle this addon created with the given type tag.
  void* handle(size_t i, const napi_type_tag* tag);

  // The instance's mapping table (mem_table.h).
  MemTable* mems() const { return frame_ != nullptr ? frame_->mems : nullptr; }

  // ---- results ----
  // A plain function returns the number (or -errno once a check failed); a framed one stores it
  // in the result slot and returns undefined. Under a pending TypeError: undefined.
  napi_value result(int64_t value) {
    if (state_ == State::thrown) return nullptr;
    int64_t r = ok() ? value : -errno_;
    if (!framed_) return number(env_, r);
    frame_->set_f64(Frame::kKinds, 0);
    frame_->set_f64(Frame::kResult, static_cast<double>(r));
    return nullptr;
  }
  // A u64 result of a framed function: at or above 2^53 it is stored as a bit pattern (bit 8 of
  // kinds says so).
  napi_value result_u64(uint64_t value);
  // What to return once ok() is false.
  napi_value failure() { return result(0); }

 private:
  enum class State { ok, invalid, thrown };
  static constexpr double kTwoTo53 = 9007199254740992.0;
  static constexpr size_t kMaxObjectsFramed = 1;

  void fetch(napi_callback_info info, size_t wanted) {
    void* data = nullptr;
    argc_ = wanted;
    // Without object arguments, only the data is asked for: the argument copy is skipped.
    size_t* argc = wanted > 0 ? &argc_ : nullptr;
    if (napi_get_cb_info(env_, info, argc, argc ? argv_ : nullptr, nullptr, &data) != napi_ok || data == nullptr) {
      no_frame();
      return;
    }
    frame_ = static_cast<Frame*>(data);
    if (argc_ > wanted) argc_ = wanted;  // napi_get_cb_info reports how many were passed
  }
  void no_frame();  // throws: the function was made without its frame
  void type_error(size_t i, const char* expected);
  bool holds_u64(size_t slot) const { return (kinds_ >> slot & 1) != 0; }
  bool is_bigint(size_t i) const;
  uint64_t bigint_arg(size_t i);
  double plain_double(size_t i, bool* is_number);
  napi_value at(size_t i) const { return i < argc_ ? argv_[i] : nullptr; }
  // A number that is an integer within [lo, hi], left in d_. A framed slot holding a bigint's
  // bits, a fraction, NaN or an out-of-range value is invalid; a plain argument that is no
  // number at all is a TypeError. The range test comes first (NaN and infinities fail it), so
  // the integer test can round-trip through int64 instead of calling trunc().
  bool number_in(size_t i, double lo, double hi, const char* expected) {
    if (!ok()) return false;
    double d;
    if (framed_) {
      if (holds_u64(i)) return invalid_unless(false), false;
      d = frame_->f64(i);
    } else {
      bool is_number = false;
      d = plain_double(i, &is_number);
      if (!is_number) return type_error(i, expected), false;
    }
    bool fits = d >= lo && d <= hi && static_cast<double>(static_cast<int64_t>(d)) == d;
    invalid_unless(fits);
    d_ = d;
    return fits;
  }
  template <typename T>
  Span<T> typed_array(size_t i, napi_typedarray_type type, const char* expected);
  bool writable(const void* data, size_t bytes) const;

  napi_env env_;
  Frame* frame_ = nullptr;
  bool framed_ = false;
  napi_value argv_[kMaxArgs] = {};
  size_t argc_ = 0;
  uint32_t kinds_ = 0;
  double d_ = 0;
  int errno_ = EINVAL;
  State state_ = State::ok;
};

}  // namespace vfio

#endif  // VFIO_NATIVE_ARGS_H
