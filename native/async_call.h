// Slow syscalls (opening a device can reset it; resets can take seconds) run on the libuv
// thread pool and settle a Promise, so the event loop keeps running meanwhile.
#ifndef VFIO_NATIVE_ASYNC_CALL_H
#define VFIO_NATIVE_ASYNC_CALL_H

#include <napi.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace vfio {

// Runs work(own) on the thread pool; the Promise resolves to its result (a value or -errno,
// never a rejection, like every other call of the addon). own[i] is a private duplicate of
// fds[i], made here on the JavaScript thread and closed once the work is done: JavaScript
// closing fds[i] meanwhile (Device.close()), and another file taking its number, cannot make the
// work's syscall reach any file but the one fds[i] named at the call. When a duplicate cannot be
// made (fds[i] is not open: -EBADF) the Promise resolves to that error and no work runs.
// work() must not touch JavaScript values: copy what it needs into the closure first.
napi_value queue_syscall(napi_env env, const char* name, const std::vector<int>& fds,
                         std::function<int64_t(const std::vector<int>& own)> work);

}  // namespace vfio

#endif  // VFIO_NATIVE_ASYNC_CALL_H
