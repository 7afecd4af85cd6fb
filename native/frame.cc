// The call frame (see frame.h): one per addon instance, read by the framed functions (DMA map
// and unmap, region info).
#include "frame.h"

#include <cerrno>

#include "exports.h"

namespace vfio {

namespace {

void free_frame(void* frame) { delete static_cast<Frame*>(frame); }

}  // namespace

FrameCall::FrameCall(napi_env env, napi_callback_info info, size_t objects) : env_(env) {
  void* data = nullptr;
  argc_ = objects < kMaxObjects ? objects : kMaxObjects;
  // Without object arguments, only the data is asked for: the argument copy is skipped.
  size_t* argc = argc_ > 0 ? &argc_ : nullptr;
  if (napi_get_cb_info(env, info, argc, argc ? argv_ : nullptr, nullptr, &data) != napi_ok || data == nullptr) {
    state_ = State::thrown;
    napi_throw_error(env, nullptr, "vfio native: a framed function was called without its frame");
    return;
  }
  frame_ = static_cast<Frame*>(data);
  if (argc_ > objects) argc_ = objects;  // napi_get_cb_info reports how many were passed
  // The kinds bitmask, read once: lib/native-frame.ts writes a small integer there.
  double kinds = frame_->f64(Frame::kKinds);
  invalid_unless(kinds >= 0 && kinds < (1 << Frame::kArgs) && static_cast<double>(static_cast<uint32_t>(kinds)) == kinds);
  kinds_ = ok() ? static_cast<uint32_t>(kinds) : 0;
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
  frame_->set_f64(Frame::kResult, static_cast<double>(ok() ? result : -errno_));
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
