// The argument engine's out-of-line parts (see args.h for the conventions).
#include "args.h"

#include <cmath>
#include <cstring>
#include <string>

#include "mem_table.h"

namespace vfio {

void Args::no_frame() {
  state_ = State::thrown;
  bool pending = false;
  if (napi_is_exception_pending(env_, &pending) == napi_ok && !pending) {
    napi_throw_error(env_, nullptr, "vfio native: a function was called without its frame");
  }
}

void Args::type_error(size_t i, const char* expected) {
  if (!ok()) return;
  state_ = State::thrown;
  // A pending exception stays the one JavaScript sees: throwing over it would fail.
  bool pending = false;
  if (napi_is_exception_pending(env_, &pending) != napi_ok || pending) return;
  std::string message = "vfio native: argument " + std::to_string(i) + " must be " + expected;
  napi_throw_type_error(env_, nullptr, message.c_str());
}

// The unpackers make one Node-API call per argument where they can: napi_get_value_double and
// friends report a wrong type themselves, and every extra call costs about as much again as a
// small ioctl does (docs/dma.md).
double Args::plain_double(size_t i, bool* is_number) {
  double d = 0;
  napi_value v = at(i);
  *is_number = v != nullptr && napi_get_value_double(env_, v, &d) == napi_ok;
  return d;
}

bool Args::is_bigint(size_t i) const {
  napi_valuetype type = napi_undefined;
  napi_value v = at(i);
  return v != nullptr && napi_typeof(env_, v, &type) == napi_ok && type == napi_bigint;
}

uint64_t Args::bigint_arg(size_t i) {
  uint64_t v = 0;
  bool lossless = false;
  if (napi_get_value_bigint_uint64(env_, at(i), &v, &lossless) != napi_ok) return type_error(i, "a bigint"), 0;
  invalid_unless(lossless);  // negative or >= 2^64
  return ok() ? v : 0;
}

bool Args::boolean(size_t i) {
  if (!ok()) return false;
  bool b = false;
  napi_value v = at(i);
  if (v == nullptr || napi_get_value_bool(env_, v, &b) != napi_ok) return type_error(i, "a boolean"), false;
  return b;
}

std::string Args::path(size_t i) {
  if (!ok()) return std::string();
  napi_value v = at(i);
  size_t length = 0;
  if (v == nullptr || napi_get_value_string_utf8(env_, v, nullptr, 0, &length) != napi_ok) {
    return type_error(i, "a string"), std::string();
  }
  std::string s(length, '\0');
  if (napi_get_value_string_utf8(env_, v, &s[0], length + 1, &length) != napi_ok)
    return type_error(i, "a string"), std::string();
  s.resize(length);
  invalid_unless(s.find('\0') == std::string::npos);  // the kernel would see a shorter name
  return ok() ? s : std::string();
}

template <typename T>
Span<T> Args::typed_array(size_t i, napi_typedarray_type type, const char* expected) {
  Span<T> span;
  if (!ok()) return span;
  napi_typedarray_type actual;
  size_t length = 0;
  void* data = nullptr;
  napi_value v = at(i);
  // One call answers "is it a typed array", its type, length and memory.
  if (v == nullptr || napi_get_typedarray_info(env_, v, &actual, &length, &data, nullptr, nullptr) != napi_ok ||
      actual != type) {
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

bool Args::writable(const void* data, size_t bytes) const {
  const MemTable* table = mems();
  return data == nullptr || table == nullptr || table->writable(data, bytes);
}

Span<uint8_t> Args::out_bytes(size_t i) {
  Span<uint8_t> span = bytes(i);
  fail_unless(writable(span.data, span.length), EFAULT);
  return span;
}

Span<uint64_t> Args::out_u64s(size_t i) {
  Span<uint64_t> span = u64s(i);
  fail_unless(writable(span.data, span.length * sizeof(uint64_t)), EFAULT);
  return span;
}

bool Args::is_nullish(size_t i) const {
  napi_valuetype type = napi_undefined;
  napi_value v = at(i);
  if (v == nullptr || napi_typeof(env_, v, &type) != napi_ok) return true;
  return type == napi_undefined || type == napi_null;
}

napi_value Args::function(size_t i) {
  if (!ok()) return nullptr;
  napi_valuetype type = napi_undefined;
  napi_value v = at(i);
  if (v == nullptr || napi_typeof(env_, v, &type) != napi_ok || type != napi_function) {
    return type_error(i, "a function"), nullptr;
  }
  return v;
}

void* Args::handle(size_t i, const napi_type_tag* tag) {
  if (!ok()) return nullptr;
  // Handles are externals. The type is checked first: napi_check_object_type_tag on null or
  // undefined leaves an exception pending, and anything else that is no external is no handle.
  napi_valuetype type = napi_undefined;
  napi_value v = at(i);
  bool tagged = false;
  void* data = nullptr;
  if (v == nullptr || napi_typeof(env_, v, &type) != napi_ok || type != napi_external ||
      napi_check_object_type_tag(env_, v, tag, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env_, v, &data) != napi_ok) {
    return type_error(i, "a handle returned by this addon"), nullptr;
  }
  return data;
}

napi_value Args::result_u64(uint64_t value) {
  if (!ok() || !framed_ || value < (1ULL << 53)) return result(static_cast<int64_t>(value));
  frame_->set_f64(Frame::kKinds, static_cast<double>(1u << Frame::kResult));
  frame_->set_u64(Frame::kResult, value);
  return nullptr;
}

}  // namespace vfio
