// One fd watched by the event loop: a uv_poll_t whose readiness runs a per-kind read step on the
// loop thread and hands the step's number to a JavaScript callback. No thread pool and no extra
// thread. eventfd.cc (interrupt counters) and socket_poll.cc (vfio-user sockets) are its kinds;
// each keeps its own type tag, so a handle of one kind is refused by the other's functions.
//
// Lifetime: a Poller lives while its uv handle is open or its JS handle is reachable, whichever
// is longer. Dropping the JS handle does not stop an armed poll (like an event listener, it
// keeps delivering); poller_close() or environment teardown closes the uv handle. It never
// closes the fd.
#ifndef VFIO_NATIVE_POLLER_H
#define VFIO_NATIVE_POLLER_H

#include <node_api.h>

#include <cstdint>

namespace vfio {

struct Poller;

// Runs on the loop thread when the fd is ready (status 0, events UV_*) or the poll failed
// (status -errno). Sets *value to the number for JavaScript and returns true, or returns false
// to skip this wakeup. A negative *value stops the poll after it is handed over, rather than
// spinning on a broken fd.
using PollStep = bool (*)(int fd, int status, int events, int64_t* value);

struct PollKind {
  const napi_type_tag* tag;  // the tag of this kind's JS handles
  const char* resource;      // the async resource name async_hooks see
  bool socket;               // uv_poll_init_socket rather than uv_poll_init
  bool keeps_alive;          // whether a new poll is ref'd (poller_ref changes it later)
  PollStep step;
};

// Starts watching fd for uv_events (UV_* bits) on env's loop, calling cb(value) for each step
// that yields a value. 0 and *handle set to the tagged JS handle, or -errno (-EEXIST: this loop
// already polls the fd) with nothing left behind.
int64_t poller_open(napi_env env, const PollKind& kind, int fd, int uv_events, napi_value cb, napi_value* handle);

// Changes the events watched; 0 stops watching (the handle stays open). 0, or -errno (-EBADF
// once closed).
int64_t poller_watch(Poller* p, int uv_events);

// Whether an open poll keeps the process alive. No effect once closed.
void poller_ref(Poller* p, bool ref);

// Stops polling, closes the uv handle and drops the callback. Idempotent.
void poller_close(Poller* p);

}  // namespace vfio

#endif  // VFIO_NATIVE_POLLER_H
