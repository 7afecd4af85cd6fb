// The call frame (see frame.h): one per addon instance, read by the framed functions (DMA map
// and unmap, region info).
#include "frame.h"

#include <cerrno>

#include "exports.h"

namespace vfio {

namespace {

void free_frame(void* frame) { delete static_cast<Frame*>(frame); }

}  // namespace

void FrameCall::no_frame() {
  state_ = State::thrown;
  napi_throw_error(env_, nullptr, "vfio native: a framed function was called without its frame");
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
