// Slow syscalls (opening a device can reset it; resets can take seconds) run on the libuv
// thread pool and settle a Promise, so the event loop keeps running meanwhile.
#ifndef VFIO_NATIVE_ASYNC_CALL_H
#define VFIO_NATIVE_ASYNC_CALL_H

#include <napi.h>

#include <cstdint>
#include <functional>

namespace vfio {

// Runs work() on the thread pool; the Promise resolves to its result (a value or -errno, never
// a rejection, like every other call of the addon). work() must not touch JavaScript values:
// copy what it needs into the closure first.
Napi::Value queue_syscall(Napi::Env env, const char* name, std::function<int64_t()> work);

}  // namespace vfio

#endif  // VFIO_NATIVE_ASYNC_CALL_H
