// The lifetime and the JavaScript side of a poller (poller.h): shared by every kind, so the
// ownership rules are written once.
#include "poller.h"

#include <uv.h>

#include <cerrno>

namespace vfio {

struct Poller {
  uv_poll_t poll;  // poll.data = this
  napi_env env;
  PollStep step;
  napi_ref callback = nullptr;
  napi_async_context context = nullptr;
  napi_async_cleanup_hook_handle cleanup = nullptr;
  int fd;
  bool open = true;      // uv_close() not yet called
  bool closed = false;   // the close callback ran: the uv handle is free
  bool js_alive = true;  // the JS handle not yet finalized
};

namespace {

void free_if_unused(Poller* p) {
  if (p->closed && !p->js_alive) delete p;
}

void on_close(uv_handle_t* handle) {
  Poller* p = static_cast<Poller*>(handle->data);
  p->closed = true;
  // Unregisters the teardown hook, or tells a running teardown that this handle is done.
  if (p->cleanup) napi_remove_async_cleanup_hook(p->cleanup);
  free_if_unused(p);
}

void on_teardown(napi_async_cleanup_hook_handle, void* data) { poller_close(static_cast<Poller*>(data)); }

void finalize_handle(napi_env, void* data, void*) {
  Poller* p = static_cast<Poller*>(data);
  p->js_alive = false;
  free_if_unused(p);
}

// Calls cb(value) as a top-level callback (microtasks and nextTicks run after it; an exception
// it throws becomes an uncaught exception, as from any event emitter).
void call_js(Poller* p, int64_t value) {
  napi_env env = p->env;
  napi_handle_scope scope = nullptr;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb = nullptr, recv = nullptr, arg = nullptr, result = nullptr;
  if (napi_get_reference_value(env, p->callback, &cb) == napi_ok && cb != nullptr &&
      napi_get_global(env, &recv) == napi_ok &&  // the receiver must be an object
      napi_create_double(env, static_cast<double>(value), &arg) == napi_ok &&
      napi_make_callback(env, p->context, recv, cb, 1, &arg, &result) == napi_pending_exception) {
    napi_value error = nullptr;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

void on_ready(uv_poll_t* handle, int status, int events) {
  Poller* p = static_cast<Poller*>(handle->data);
  int64_t value = 0;
  if (!p->step(p->fd, status, events, &value)) return;
  if (value < 0) uv_poll_stop(handle);
  call_js(p, value);
}

// Everything the poller needs from N-API, and its JS handle. false if any step failed
// (poller_close copes with the partial state).
bool attach_js(napi_env env, Poller* p, const PollKind& kind, napi_value cb, napi_value* handle) {
  napi_value name = nullptr;
  return napi_create_reference(env, cb, 1, &p->callback) == napi_ok &&
         napi_create_string_utf8(env, kind.resource, NAPI_AUTO_LENGTH, &name) == napi_ok &&
         napi_async_init(env, nullptr, name, &p->context) == napi_ok &&
         napi_add_async_cleanup_hook(env, on_teardown, p, &p->cleanup) == napi_ok &&
         napi_create_external(env, p, finalize_handle, nullptr, handle) == napi_ok &&
         napi_type_tag_object(env, *handle, kind.tag) == napi_ok;
}

}  // namespace

int64_t poller_open(napi_env env, const PollKind& kind, int fd, int uv_events, napi_value cb, napi_value* handle) {
  *handle = nullptr;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return -EINVAL;
  Poller* p = new Poller;
  p->env = env;
  p->step = kind.step;
  p->fd = fd;
  int r = kind.socket ? uv_poll_init_socket(loop, &p->poll, fd) : uv_poll_init(loop, &p->poll, fd);
  if (r < 0) {
    delete p;  // nothing was registered with the loop
    return r;
  }
  p->poll.data = p;
  r = attach_js(env, p, kind, cb, handle) ? uv_poll_start(&p->poll, uv_events, on_ready) : -ENOMEM;
  if (r < 0) {
    if (*handle == nullptr) p->js_alive = false;  // else its finalizer will say so
    poller_close(p);
    *handle = nullptr;
    return r;
  }
  if (!kind.keeps_alive) uv_unref(reinterpret_cast<uv_handle_t*>(&p->poll));
  return 0;
}

int64_t poller_watch(Poller* p, int uv_events) {
  if (!p->open) return -EBADF;
  if (uv_events == 0) return uv_poll_stop(&p->poll);
  return uv_poll_start(&p->poll, uv_events, on_ready);
}

void poller_ref(Poller* p, bool ref) {
  if (!p->open) return;
  uv_handle_t* handle = reinterpret_cast<uv_handle_t*>(&p->poll);
  ref ? uv_ref(handle) : uv_unref(handle);
}

void poller_close(Poller* p) {
  if (!p->open) return;
  p->open = false;
  uv_poll_stop(&p->poll);
  if (p->callback) napi_delete_reference(p->env, p->callback);
  if (p->context) napi_async_destroy(p->env, p->context);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), on_close);
}

}  // namespace vfio
