// Argument unpacking and result conventions shared by every native function.
//
// Contract (lib/addon/native.ts): a wrong JavaScript *type* throws a TypeError; a value of the right
// type that the syscall layer cannot accept (negative fd, lossy bigint, length mismatch,
// out-of-range offset) returns -EINVAL. Args records the first failure and turns every later
// unpack into a no-op, so a native function reads all its arguments and checks once:
//
//   Args a(info);
//   int fd = a.fd(0);
//   uint32_t type = a.u32(1);
//   if (!a.ok()) return a.failure();
#ifndef VFIO_NATIVE_ARGS_H
#define VFIO_NATIVE_ARGS_H

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace vfio {

// A syscall's result as the contract wants it: the value, or -errno. Call it directly on the
// syscall's return so that errno is read before anything else can change it.
inline int64_t sys(int64_t r) { return r < 0 ? -static_cast<int64_t>(errno) : r; }

inline Napi::Value number(Napi::Env env, int64_t v) { return Napi::Number::New(env, static_cast<double>(v)); }

inline Napi::Value bigint(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

// A view of a typed array's memory; data is null (and length 0) for a detached buffer.
template <typename T>
struct Span {
  T* data = nullptr;
  size_t length = 0;  // in elements
};

class Args {
 public:
  explicit Args(const Napi::CallbackInfo& info) : info_(info) {}

  Napi::Env env() const { return info_.Env(); }
  bool ok() const { return state_ == State::ok; }
  // What to return once ok() is false: undefined under a pending TypeError, else -EINVAL.
  Napi::Value failure() const;
  // For checks that need several arguments at once (e.g. offset + length within a mapping).
  void invalid_unless(bool condition) {
    if (!condition && ok()) state_ = State::invalid;
  }

  int32_t fd(size_t i);                // a number, integer, 0 <= fd <= INT32_MAX
  int32_t i32(size_t i);               // a number, integer, within int32
  uint32_t u32(size_t i);              // a number, integer, within uint32
  uint64_t u64(size_t i);              // a bigint, 0 <= v < 2^64, lossless
  int64_t off(size_t i);               // a bigint file offset, 0 <= v <= INT64_MAX
  uint64_t size(size_t i);             // a number, integer, 0 <= v <= 2^53
  bool boolean(size_t i);
  std::string path(size_t i);          // a string without NUL bytes
  Span<uint8_t> bytes(size_t i);       // Uint8Array (or Buffer)
  Span<uint64_t> u64s(size_t i);       // BigUint64Array
  Span<int32_t> i32s(size_t i);        // Int32Array
  bool is_nullish(size_t i) const;     // absent, undefined or null (one typeof)
  Napi::Function function(size_t i);
  // The native object behind a handle created by this addon with the given type tag.
  void* handle(size_t i, const napi_type_tag* tag);

 private:
  enum class State { ok, invalid, thrown };
  Napi::Value at(size_t i) const { return info_[i]; }
  bool usable() const { return state_ == State::ok; }
  void type_error(size_t i, const char* expected);
  void invalid() { if (ok()) state_ = State::invalid; }
  int integer_in(size_t i, double lo, double hi, double* out);
  template <typename T>
  Span<T> typed_array(size_t i, napi_typedarray_type type, const char* expected);

  const Napi::CallbackInfo& info_;
  State state_ = State::ok;
};

}  // namespace vfio

#endif  // VFIO_NATIVE_ARGS_H
