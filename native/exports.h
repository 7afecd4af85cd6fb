// How each source file hands its functions to the addon's exports object (see addon.cc).
#ifndef VFIO_NATIVE_EXPORTS_H
#define VFIO_NATIVE_EXPORTS_H

#include <napi.h>

namespace vfio {

struct Frame;

class Exports {
 public:
  Exports(Napi::Env env, Napi::Object target) : env_(env), target_(target) {}

  // Adds a function under its contract name, with the instance's frame as its data (args.h).
  void fn(const char* name, napi_callback cb) {
    if (ok_ && frame_ == nullptr) {
      // export_frame() did not run first (or failed): say so rather than fail without a reason.
      napi_throw_error(env_, nullptr, "vfio native: a function was exported before the frame");
      ok_ = false;
    }
    napi_value f = nullptr;
    if (ok_ && napi_create_function(env_, name, NAPI_AUTO_LENGTH, cb, frame_, &f) != napi_ok) ok_ = false;
    if (ok_) set(name, Napi::Value(env_, f));
  }
  void set_frame(Frame* frame) { frame_ = frame; }
  Frame* frame() const { return frame_; }
  void set(const char* name, Napi::Value value) {
    if (!ok_ || value.IsEmpty() || target_.Set(name, value).IsNothing()) ok_ = false;
  }
  bool ok() const { return ok_; }
  Napi::Env env() const { return env_; }

 private:
  Napi::Env env_;
  Napi::Object target_;
  Frame* frame_ = nullptr;
  bool ok_ = true;
};

// One per source file. export_frame comes before the others: every function takes the frame.
void export_frame(Exports& out);
void export_fd(Exports& out);
void export_vfio(Exports& out);
void export_vfio_feature(Exports& out);
void export_vfio_ioeventfd(Exports& out);
void export_iommufd(Exports& out);
void export_mman(Exports& out);
void export_eventfd(Exports& out);
void export_socket(Exports& out);
void export_socket_poll(Exports& out);
void export_faults(Exports& out);

}  // namespace vfio

#endif  // VFIO_NATIVE_EXPORTS_H
