// A test-only Node-API module: fork() without exec, which Node itself never does (its child
// processes exec at once), so a test can hold a child that shares the process's memory while
// the parent or the child writes to it. The child only runs async-signal-safe calls (memcpy,
// nanosleep, _exit) and never returns to JavaScript.
#define NAPI_VERSION 8
#include <errno.h>
#include <node_api.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pause_ms(uint32_t ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static napi_value result(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

// forkWrite(target: ArrayBuffer | null, offset: number, bytes: Uint8Array | null, ms: number):
// the child copies `bytes` into `target` at `offset` (when given), stays alive `ms`
// milliseconds, then exits 0. Returns the child's pid, or -errno.
static napi_value fork_write(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void* target = NULL;
  size_t target_len = 0;
  void* bytes = NULL;
  size_t bytes_len = 0;
  uint32_t offset = 0, ms = 0;
  bool is_ab = false, is_ta = false;
  napi_is_arraybuffer(env, argv[0], &is_ab);
  if (is_ab) napi_get_arraybuffer_info(env, argv[0], &target, &target_len);
  napi_is_typedarray(env, argv[2], &is_ta);
  if (is_ta) {
    napi_typedarray_type type;
    napi_value ab;
    size_t off;
    napi_get_typedarray_info(env, argv[2], &type, &bytes_len, &bytes, &ab, &off);
  }
  napi_get_value_uint32(env, argv[1], &offset);
  napi_get_value_uint32(env, argv[3], &ms);
  if (bytes_len > 0 && (target == NULL || offset > target_len || bytes_len > target_len - offset)) {
    return result(env, -EINVAL);
  }
  pid_t pid = fork();
  if (pid < 0) return result(env, -errno);
  if (pid == 0) {
    if (bytes_len > 0) memcpy((char*)target + offset, bytes, bytes_len);
    pause_ms(ms);
    _exit(0);
  }
  return result(env, pid);
}

// waitExit(pid): waits for the child; its exit status, 128+N for a signal, or -errno.
static napi_value wait_exit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t pid = 0;
  napi_get_value_int32(env, argv[0], &pid);
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return result(env, -errno);
  return result(env, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "forkWrite", NAPI_AUTO_LENGTH, fork_write, NULL, &fn);
  napi_set_named_property(env, exports, "forkWrite", fn);
  napi_create_function(env, "waitExit", NAPI_AUTO_LENGTH, wait_exit, NULL, &fn);
  napi_set_named_property(env, exports, "waitExit", fn);
  return exports;
}
