// The call frame (see frame.h): one per addon instance, the data of every exported function.
#include "frame.h"

#include <cerrno>

#include "exports.h"

namespace vfio {

namespace {

void free_frame(void* frame) { delete static_cast<Frame*>(frame); }

}  // namespace

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
