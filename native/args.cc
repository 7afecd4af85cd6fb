// Argument unpacking (see args.h for the conventions).
#include "args.h"

#include <cmath>
#include <cstring>
#include <string>

namespace vfio {

namespace {
constexpr double kMaxSafeInteger = 9007199254740992.0;  // 2^53: every integer below is exact
}

Napi::Value Args::failure() const {
  if (state_ == State::thrown) return env().Undefined();
  return number(env(), -EINVAL);
}

void Args::type_error(size_t i, const char* expected) {
  if (!ok()) return;
  state_ = State::thrown;
  std::string message = "vfio native: argument " + std::to_string(i) + " must be " + expected;
  Napi::TypeError::New(env(), message).ThrowAsJavaScriptException();
}

// The unpackers below make one Node-API call per argument where they can: napi_get_value_double
// and friends report a wrong type themselves, and every extra call (typeof, then get) costs about
// as much again as a small ioctl does (measured: fewer calls made GET_REGION_INFO from
// JavaScript about a third cheaper).

// A JS number that is an integer within [lo, hi]: 1 = yes, 0 = a number out of range or
// fractional, -1 = not a number.
int Args::integer_in(size_t i, double lo, double hi, double* out) {
  double d = 0;
  if (napi_get_value_double(env(), at(i), &d) != napi_ok) return -1;
  if (!std::isfinite(d) || std::trunc(d) != d || d < lo || d > hi) return 0;
  *out = d;
  return 1;
}

int32_t Args::fd(size_t i) {
  if (!usable()) return -1;
  double d = 0;
  int r = integer_in(i, 0, INT32_MAX, &d);
  if (r < 0) return type_error(i, "a number (fd)"), -1;
  if (r == 0) return invalid(), -1;
  return static_cast<int32_t>(d);
}

int32_t Args::i32(size_t i) {
  if (!usable()) return 0;
  double d = 0;
  int r = integer_in(i, INT32_MIN, INT32_MAX, &d);
  if (r < 0) return type_error(i, "a number"), 0;
  if (r == 0) return invalid(), 0;
  return static_cast<int32_t>(d);
}

uint32_t Args::u32(size_t i) {
  if (!usable()) return 0;
  double d = 0;
  int r = integer_in(i, 0, UINT32_MAX, &d);
  if (r < 0) return type_error(i, "a number"), 0;
  if (r == 0) return invalid(), 0;
  return static_cast<uint32_t>(d);
}

uint64_t Args::size(size_t i) {
  if (!usable()) return 0;
  double d = 0;
  int r = integer_in(i, 0, kMaxSafeInteger, &d);
  if (r < 0) return type_error(i, "a number"), 0;
  if (r == 0) return invalid(), 0;
  return static_cast<uint64_t>(d);
}

uint64_t Args::u64(size_t i) {
  if (!usable()) return 0;
  uint64_t v = 0;
  bool lossless = false;
  if (napi_get_value_bigint_uint64(env(), at(i), &v, &lossless) != napi_ok) return type_error(i, "a bigint"), 0;
  if (!lossless) return invalid(), 0;  // negative or >= 2^64
  return v;
}

int64_t Args::off(size_t i) {
  uint64_t v = u64(i);
  if (v > static_cast<uint64_t>(INT64_MAX)) return invalid(), 0;
  return static_cast<int64_t>(v);
}

bool Args::boolean(size_t i) {
  if (!usable()) return false;
  if (!at(i).IsBoolean()) return type_error(i, "a boolean"), false;
  return at(i).As<Napi::Boolean>().Value();
}

std::string Args::path(size_t i) {
  if (!usable()) return std::string();
  if (!at(i).IsString()) return type_error(i, "a string"), std::string();
  std::string s = at(i).As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) return invalid(), std::string();  // the kernel would see a shorter name
  return s;
}

template <typename T>
Span<T> Args::typed_array(size_t i, napi_typedarray_type type, const char* expected) {
  Span<T> span;
  if (!usable()) return span;
  napi_typedarray_type actual;
  size_t length = 0;
  void* data = nullptr;
  // One call answers "is it a typed array", its type, length and memory.
  if (napi_get_typedarray_info(env(), at(i), &actual, &length, &data, nullptr, nullptr) != napi_ok || actual != type) {
    type_error(i, expected);
    return span;
  }
  span.length = length;
  span.data = length ? static_cast<T*>(data) : nullptr;  // a detached buffer has length 0
  return span;
}

Span<uint8_t> Args::bytes(size_t i) { return typed_array<uint8_t>(i, napi_uint8_array, "a Uint8Array"); }
Span<uint64_t> Args::u64s(size_t i) { return typed_array<uint64_t>(i, napi_biguint64_array, "a BigUint64Array"); }
Span<int32_t> Args::i32s(size_t i) { return typed_array<int32_t>(i, napi_int32_array, "an Int32Array"); }

bool Args::is_nullish(size_t i) const {
  napi_valuetype type = napi_undefined;
  napi_typeof(env(), at(i), &type);
  return type == napi_undefined || type == napi_null;
}

Napi::Function Args::function(size_t i) {
  if (!usable()) return Napi::Function();
  if (!at(i).IsFunction()) return type_error(i, "a function"), Napi::Function();
  return at(i).As<Napi::Function>();
}

void* Args::handle(size_t i, const napi_type_tag* tag) {
  if (!usable()) return nullptr;
  bool tagged = false;
  // Fails (napi_object_expected) for anything that is not an object or external.
  if (napi_check_object_type_tag(env(), at(i), tag, &tagged) != napi_ok || !tagged) {
    return type_error(i, "a handle returned by this addon"), nullptr;
  }
  void* data = nullptr;
  if (napi_get_value_external(env(), at(i), &data) != napi_ok) return type_error(i, "a handle returned by this addon"), nullptr;
  return data;
}

}  // namespace vfio
