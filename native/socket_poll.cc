// Sockets into the event loop: one uv_poll_t per socket, as eventfd.cc does for interrupt
// eventfds, but the callback gets the readiness (1 readable, 2 writable, 4 peer hung up) and
// does the I/O itself (recvmsg/sendmsg in socket.cc), since what to read depends on the
// protocol. The events watched can change (writable only while output is queued).
//
// Lifetime as in eventfd.cc: a SocketPoller lives while its uv handle is open or its JS handle
// is reachable, whichever is longer; socket_poll_stop() or environment teardown closes the uv
// handle. It never closes the socket itself.
#include <sys/socket.h>
#include <sys/stat.h>
#include <uv.h>

#include <cerrno>

#include "args.h"
#include "exports.h"
#include "sys.h"

namespace vfio {

namespace {

const napi_type_tag kSocketPollerTag = {0x52c1e8a4d07b3f69ULL, 0x8e3b60d2a91f4c57ULL};

constexpr uint32_t kReadable = 1, kWritable = 2, kHangup = 4;

struct SocketPoller {
  uv_poll_t poll;  // poll.data = this
  napi_env env;
  napi_ref callback = nullptr;
  napi_async_context context = nullptr;
  napi_async_cleanup_hook_handle cleanup = nullptr;
  bool open = true;
  bool closed = false;
  bool js_alive = true;
};

void free_if_unused(SocketPoller* p) {
  if (p->closed && !p->js_alive) delete p;
}

void on_close(uv_handle_t* handle) {
  SocketPoller* p = static_cast<SocketPoller*>(handle->data);
  p->closed = true;
  if (p->cleanup) napi_remove_async_cleanup_hook(p->cleanup);
  free_if_unused(p);
}

void close_poller(SocketPoller* p) {
  if (!p->open) return;
  p->open = false;
  uv_poll_stop(&p->poll);
  if (p->callback) napi_delete_reference(p->env, p->callback);
  if (p->context) napi_async_destroy(p->env, p->context);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), on_close);
}

void on_teardown(napi_async_cleanup_hook_handle, void* data) { close_poller(static_cast<SocketPoller*>(data)); }

void finalize_handle(napi_env, void* data, void*) {
  SocketPoller* p = static_cast<SocketPoller*>(data);
  p->js_alive = false;
  free_if_unused(p);
}

// cb(value) as a top-level callback; an exception it throws is an uncaught exception.
void call_js(SocketPoller* p, int64_t value) {
  napi_env env = p->env;
  napi_handle_scope scope = nullptr;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb = nullptr, recv = nullptr, arg = nullptr, result = nullptr;
  if (napi_get_reference_value(env, p->callback, &cb) == napi_ok && cb != nullptr &&
      napi_get_global(env, &recv) == napi_ok && napi_create_double(env, static_cast<double>(value), &arg) == napi_ok &&
      napi_make_callback(env, p->context, recv, cb, 1, &arg, &result) == napi_pending_exception) {
    napi_value error = nullptr;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

// A poll error (-errno) is handed over once and stops the poll rather than spinning.
void on_ready(uv_poll_t* handle, int status, int events) {
  SocketPoller* p = static_cast<SocketPoller*>(handle->data);
  int64_t value = status;
  if (status >= 0) {
    value = ((events & UV_READABLE) ? kReadable : 0) | ((events & UV_WRITABLE) ? kWritable : 0) |
            ((events & UV_DISCONNECT) ? kHangup : 0);
  } else {
    uv_poll_stop(handle);
  }
  call_js(p, value);
}

int uv_events(uint32_t mask) {
  return ((mask & kReadable) ? UV_READABLE : 0) | ((mask & kWritable) ? UV_WRITABLE : 0) |
         ((mask & kHangup) ? UV_DISCONNECT : 0);
}

SocketPoller* poller_handle(Args& a, size_t i) { return static_cast<SocketPoller*>(a.handle(i, &kSocketPollerTag)); }

// 0 when fd is an open socket; -EBADF when not open, -ENOTSOCK for any other file (whose
// readiness this layer has no business watching).
int64_t check_socket(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  return S_ISSOCK(st.st_mode) ? 0 : -ENOTSOCK;
}

bool attach_js(napi_env env, SocketPoller* p, napi_value cb, napi_value* handle) {
  napi_value name = nullptr;
  return napi_create_reference(env, cb, 1, &p->callback) == napi_ok &&
         napi_create_string_utf8(env, "vfio.socket", NAPI_AUTO_LENGTH, &name) == napi_ok &&
         napi_async_init(env, nullptr, name, &p->context) == napi_ok &&
         napi_add_async_cleanup_hook(env, on_teardown, p, &p->cleanup) == napi_ok &&
         napi_create_external(env, p, finalize_handle, nullptr, handle) == napi_ok &&
         napi_type_tag_object(env, *handle, &kSocketPollerTag) == napi_ok;
}

// Watches fd for the events in mask (1|2|4); starts ref'd (a served socket keeps the process
// alive, as a net.Server does). A handle, or -errno (-EEXIST: this loop already polls the fd).
napi_value socket_poll_start(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  uint32_t mask = a.u32(1);
  napi_value cb = a.function(2);
  a.invalid_unless(mask <= (kReadable | kWritable | kHangup));
  if (!a.ok()) return a.failure();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return a.result(-EINVAL);
  int64_t r = check_socket(fd);
  if (r < 0) return a.result(r);
  SocketPoller* p = new SocketPoller;
  p->env = env;
  r = uv_poll_init_socket(loop, &p->poll, fd);
  if (r < 0) {
    delete p;
    return a.result(r);
  }
  p->poll.data = p;
  napi_value handle = nullptr;
  r = attach_js(env, p, cb, &handle) ? uv_poll_start(&p->poll, uv_events(mask), on_ready) : -ENOMEM;
  if (r < 0) {
    if (handle == nullptr) p->js_alive = false;
    close_poller(p);
    return a.result(r);
  }
  return handle;
}

// Changes the events watched; 0 watches nothing (the handle stays open). 0 or -errno.
napi_value socket_poll_events(napi_env env, napi_callback_info info) {
  Args a(env, info);
  SocketPoller* p = poller_handle(a, 0);
  uint32_t mask = a.u32(1);
  a.invalid_unless(mask <= (kReadable | kWritable | kHangup));
  if (!a.ok()) return a.failure();
  if (!p->open) return a.result(-EBADF);
  if (mask == 0) return a.result(uv_poll_stop(&p->poll));
  return a.result(uv_poll_start(&p->poll, uv_events(mask), on_ready));
}

napi_value socket_poll_ref(napi_env env, napi_callback_info info) {
  Args a(env, info);
  SocketPoller* p = poller_handle(a, 0);
  bool ref = a.boolean(1);
  if (!a.ok()) return a.failure();
  if (p->open) {
    uv_handle_t* handle = reinterpret_cast<uv_handle_t*>(&p->poll);
    ref ? uv_ref(handle) : uv_unref(handle);
  }
  return nullptr;
}

napi_value socket_poll_stop(napi_env env, napi_callback_info info) {
  Args a(env, info);
  SocketPoller* p = poller_handle(a, 0);
  if (!a.ok()) return a.failure();
  close_poller(p);
  return nullptr;
}

}  // namespace

void export_socket_poll(Exports& out) {
  out.fn("socket_poll_start", socket_poll_start);
  out.fn("socket_poll_events", socket_poll_events);
  out.fn("socket_poll_ref", socket_poll_ref);
  out.fn("socket_poll_stop", socket_poll_stop);
}

}  // namespace vfio
