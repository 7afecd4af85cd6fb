// napi_async_work + a deferred Promise, without C++ exceptions (see async_call.h).
#include "async_call.h"

#include <cerrno>

#include "sys.h"

namespace vfio {

namespace {

struct Call {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  std::function<int64_t(const std::vector<int>&)> syscall;
  std::vector<int> own;         // the work's private duplicates of the caller's fds
  int64_t result = -ECANCELED;  // stays so if the work is cancelled before it runs
};

void execute(napi_env, void* data) {
  Call* call = static_cast<Call*>(data);
  call->result = call->syscall(call->own);
}

// Resolves the Promise with the result, closes the duplicates and frees the call.
void settle(napi_env env, Call* call) {
  // Raw close: a duplicate's close has nothing to report and must not be failed on purpose.
  for (int fd : call->own) ::close(fd);
  napi_value value = nullptr;
  // Creating a number only fails while the environment is torn down: nobody is left to tell.
  if (napi_create_double(env, static_cast<double>(call->result), &value) == napi_ok) {
    napi_resolve_deferred(env, call->deferred, value);
  }
  if (call->work) napi_delete_async_work(env, call->work);
  delete call;
}

void complete(napi_env env, napi_status, void* data) { settle(env, static_cast<Call*>(data)); }

}  // namespace

napi_value queue_syscall(napi_env env, const char* name, const std::vector<int>& fds,
                         std::function<int64_t(const std::vector<int>&)> work) {
  napi_value promise = nullptr;
  Call* call = new Call;
  call->syscall = std::move(work);
  if (napi_create_promise(env, &call->deferred, &promise) != napi_ok) {
    delete call;
    return nullptr;  // with the engine's exception pending
  }
  for (int fd : fds) {
    int own = sys::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
      call->result = -errno;
      settle(env, call);
      return promise;
    }
    call->own.push_back(own);
  }
  napi_value resource_name = nullptr;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_async_work(env, nullptr, resource_name, execute, complete, call, &call->work) != napi_ok ||
      napi_queue_async_work(env, call->work) != napi_ok) {
    call->result = -EAGAIN;  // the work could not be queued: settle now, as the syscall never ran
    settle(env, call);
  }
  return promise;
}

}  // namespace vfio
