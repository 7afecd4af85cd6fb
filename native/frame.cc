// The call frame (see frame.h): one per addon instance, read by the DMA hot path.
#include "frame.h"

#include <cerrno>
#include <cmath>

#include "exports.h"

namespace vfio {

namespace {

constexpr double kMaxSafeInteger = 9007199254740992.0;  // 2^53, as in Args

void free_frame(void* frame) { delete static_cast<Frame*>(frame); }

}  // namespace

FrameCall::FrameCall(napi_env env, napi_callback_info info) : env_(env) {
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &argc_, argv_, nullptr, &data) != napi_ok || data == nullptr) {
    state_ = State::thrown;
    napi_throw_error(env, nullptr, "vfio native: a framed function was called without its frame");
    return;
  }
  frame_ = static_cast<Frame*>(data);
  if (argc_ > kMaxHandles) argc_ = kMaxHandles;
}

bool FrameCall::holds_u64(size_t slot) const {
  double kinds = frame_->f64(Frame::kKinds);
  return kinds != 0 && (static_cast<uint64_t>(kinds) >> slot & 1) != 0;
}

// A number slot (never a bigint's bits) holding an integer within [lo, hi].
bool FrameCall::integer_in(size_t slot, double lo, double hi, double* out) {
  if (!ok()) return false;
  double d = frame_->f64(slot);
  bool fits = !holds_u64(slot) && std::isfinite(d) && std::trunc(d) == d && d >= lo && d <= hi;
  invalid_unless(fits);
  *out = d;
  return fits;
}

int32_t FrameCall::fd(size_t slot) {
  double d = 0;
  return integer_in(slot, 0, INT32_MAX, &d) ? static_cast<int32_t>(d) : -1;
}

uint32_t FrameCall::u32(size_t slot) {
  double d = 0;
  return integer_in(slot, 0, UINT32_MAX, &d) ? static_cast<uint32_t>(d) : 0;
}

uint64_t FrameCall::u64n(size_t slot) {
  if (!ok()) return 0;
  if (holds_u64(slot)) return frame_->u64(slot);  // a bigint's bits, range-checked in lib/native.ts
  double d = 0;
  return integer_in(slot, 0, kMaxSafeInteger, &d) ? static_cast<uint64_t>(d) : 0;
}

void* FrameCall::handle(size_t i, const napi_type_tag* tag) {
  if (!ok()) return nullptr;
  bool tagged = false;
  void* data = nullptr;
  if (i >= argc_ || napi_check_object_type_tag(env_, argv_[i], tag, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env_, argv_[i], &data) != napi_ok) {
    state_ = State::thrown;
    napi_throw_type_error(env_, nullptr, "vfio native: the handle argument must be a handle returned by this addon");
    return nullptr;
  }
  return data;
}

Span<uint8_t> FrameCall::bytes(size_t i) {
  Span<uint8_t> span;
  if (!ok()) return span;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (i >= argc_ || napi_get_typedarray_info(env_, argv_[i], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    state_ = State::thrown;
    napi_throw_type_error(env_, nullptr, "vfio native: the buffer argument must be a Uint8Array");
    return span;
  }
  span.length = length;
  span.data = length ? static_cast<uint8_t*>(data) : nullptr;  // a detached buffer has length 0
  return span;
}

napi_value FrameCall::done(int64_t result) {
  if (state_ == State::thrown) return nullptr;
  frame_->set_f64(Frame::kKinds, 0);
  frame_->set_f64(Frame::kResult, static_cast<double>(ok() ? result : -EINVAL));
  return nullptr;
}

napi_value FrameCall::done_u64(uint64_t value) {
  if (!ok() || value < (1ULL << 53)) return done(static_cast<int64_t>(value));
  frame_->set_f64(Frame::kKinds, static_cast<double>(1u << Frame::kResult));
  frame_->set_u64(Frame::kResult, value);
  return nullptr;
}

void export_frame(Exports& out) {
  napi_env env = out.env();
  Frame* frame = new Frame{};
  napi_value buffer = nullptr;
  // The frame is native memory freed only with the environment: detaching or dropping the
  // ArrayBuffer in JavaScript cannot leave a framed function writing into freed memory.
  if (napi_add_env_cleanup_hook(env, free_frame, frame) != napi_ok) {
    delete frame;
    out.set("frame", Napi::Value());
    return;
  }
  if (napi_create_external_arraybuffer(env, frame->bytes, sizeof frame->bytes, nullptr, nullptr, &buffer) != napi_ok) {
    out.set("frame", Napi::Value());
    return;
  }
  out.set_frame(frame);
  out.set("frame", Napi::Value(env, buffer));
}

}  // namespace vfio
