// Interrupt eventfds into the event loop: one uv_poll_t per eventfd, the 8-byte counter read
// natively, the callback run on the loop thread. No thread pool (an armed fs.read per vector
// would pin a pool thread each) and no extra thread.
//
// Lifetime: a Poller lives while its uv handle is open or its JS handle is reachable, whichever
// is longer. Dropping the JS handle does not stop an armed poll (like an event listener, it
// keeps delivering); poll_stop() or environment teardown closes the uv handle.
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "args.h"
#include "exports.h"
#include "sys.h"

namespace vfio {

namespace {

const napi_type_tag kPollerTag = {0x3d5e9a0c71b24f86ULL, 0xb1c07e2d95a4f318ULL};

struct Poller {
  uv_poll_t poll;  // poll.data = this
  napi_env env;
  napi_ref callback = nullptr;
  napi_async_context context = nullptr;
  napi_async_cleanup_hook_handle cleanup = nullptr;
  int fd;
  bool open = true;      // uv_close() not yet called
  bool closed = false;   // the close callback ran: the uv handle is free
  bool js_alive = true;  // the JS handle not yet finalized
};

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

// Stops polling and closes the uv handle; drops the callback. Idempotent.
void close_poller(Poller* p) {
  if (!p->open) return;
  p->open = false;
  uv_poll_stop(&p->poll);
  if (p->callback) napi_delete_reference(p->env, p->callback);
  if (p->context) napi_async_destroy(p->env, p->context);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), on_close);
}

void on_teardown(napi_async_cleanup_hook_handle, void* data) { close_poller(static_cast<Poller*>(data)); }

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

// Readable: read (and so reset) the counter and hand the count to JavaScript. A read error is
// handed over once as -errno and stops the poll, rather than spinning on a broken fd.
void on_readable(uv_poll_t* handle, int status, int) {
  Poller* p = static_cast<Poller*>(handle->data);
  int64_t value;
  uint64_t count = 0;
  if (status < 0) {
    value = status;  // libuv reports -errno on Unix
  } else {
    ssize_t n = sys::read(p->fd, &count, sizeof count);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;  // someone else took the count
    value = n == static_cast<ssize_t>(sizeof count) ? static_cast<int64_t>(count) : (n < 0 ? -errno : -EIO);
  }
  if (value < 0) uv_poll_stop(handle);
  call_js(p, value);
}

Poller* poller_handle(Args& a, size_t i) { return static_cast<Poller*>(a.handle(i, &kPollerTag)); }

// 0 when fd is an open eventfd; -EBADF when it is not open, -EINVAL when it is another file (a
// terminal, a socket: nothing whose flags this addon may change, and nothing that gives an
// 8-byte counter), or the error of the /proc lookup that tells eventfds apart.
int64_t check_eventfd(int fd) {
  if (sys::fcntl(fd, F_GETFD) < 0) return -errno;
  char path[32], target[32] = {};
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = sys::readlink(path, target, sizeof target - 1);
  if (n < 0) return -errno;
  return strcmp(target, "anon_inode:[eventfd]") == 0 ? 0 : -EINVAL;
}

// Non-blocking, so that a wakeup whose count another reader took cannot block the loop. Only
// after check_eventfd(): a bad call must not change another file's flags.
int64_t set_nonblocking(int fd) {
  int flags = sys::fcntl(fd, F_GETFL);
  if (flags < 0 || sys::fcntl(fd, F_SETFL, static_cast<long>(flags | O_NONBLOCK)) < 0) return -errno;
  return 0;
}

// Everything the poller needs from N-API, and its JS handle. false if any step failed (close_poller
// copes with the partial state).
bool attach_js(napi_env env, Poller* p, napi_value cb, napi_value* handle) {
  napi_value name = nullptr;
  return napi_create_reference(env, cb, 1, &p->callback) == napi_ok &&
         napi_create_string_utf8(env, "vfio.poll", NAPI_AUTO_LENGTH, &name) == napi_ok &&
         napi_async_init(env, nullptr, name, &p->context) == napi_ok &&
         napi_add_async_cleanup_hook(env, on_teardown, p, &p->cleanup) == napi_ok &&
         napi_create_external(env, p, finalize_handle, nullptr, handle) == napi_ok &&
         napi_type_tag_object(env, *handle, &kPollerTag) == napi_ok;
}

napi_value poll_start(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  napi_value cb = a.function(1);
  if (!a.ok()) return a.failure();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return a.result(-EINVAL);
  int64_t r = check_eventfd(fd);
  if (r == 0) r = set_nonblocking(fd);
  if (r < 0) return a.result(r);
  Poller* p = new Poller;
  p->env = env;
  p->fd = fd;
  r = uv_poll_init(loop, &p->poll, fd);  // -EEXIST when this loop already polls the fd
  if (r < 0) {
    delete p;  // nothing was registered with the loop
    return a.result(r);
  }
  p->poll.data = p;
  napi_value handle = nullptr;
  r = attach_js(env, p, cb, &handle) ? uv_poll_start(&p->poll, UV_READABLE, on_readable) : -ENOMEM;
  if (r < 0) {
    if (handle == nullptr) p->js_alive = false;  // else its finalizer will say so
    close_poller(p);
    return a.result(r);
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&p->poll));  // idle IRQ handles must not keep the process alive
  return handle;
}

napi_value poll_ref(napi_env env, napi_callback_info info) {
  Args a(env, info);
  Poller* p = poller_handle(a, 0);
  bool ref = a.boolean(1);
  if (!a.ok()) return a.failure();
  if (p->open) {
    uv_handle_t* handle = reinterpret_cast<uv_handle_t*>(&p->poll);
    ref ? uv_ref(handle) : uv_unref(handle);
  }
  return nullptr;
}

napi_value poll_stop(napi_env env, napi_callback_info info) {
  Args a(env, info);
  Poller* p = poller_handle(a, 0);
  if (!a.ok()) return a.failure();
  close_poller(p);
  return nullptr;
}

}  // namespace

void export_eventfd(Exports& out) {
  out.fn("poll_start", poll_start);
  out.fn("poll_ref", poll_ref);
  out.fn("poll_stop", poll_stop);
}

}  // namespace vfio
