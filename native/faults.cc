// The fault switch of sys.h, and `__faults`, the test-only function that arms it:
//
//   __faults(n, errno)  from now on, count the addon's syscalls and fail the n-th (1-based)
//                       with errno, once; returns how many the previous arming counted
//   __faults(0, 0)      disarm; returns how many syscalls were counted since the last arming
//
// Arming with an n larger than any flow makes (2^53) counts a flow's syscalls without failing
// one, so a test can then fail each of them in turn. Nothing in the library calls it.
#include "args.h"
#include "exports.h"
#include "sys.h"

namespace vfio {

FaultSwitch& fault_switch() {
  static FaultSwitch faults;
  return faults;
}

namespace {

napi_value faults(napi_env env, napi_callback_info info) {
  Args a(env, info);
  uint64_t nth = a.size(0);
  int32_t errnum = a.i32(1);
  a.invalid_unless(nth == 0 ? errnum == 0 : errnum > 0 && errnum < 4096);
  if (!a.ok()) return a.failure();
  FaultSwitch& f = fault_switch();
  f.armed.store(false, std::memory_order_relaxed);
  uint64_t counted = f.calls.exchange(0, std::memory_order_relaxed);
  f.fail_at.store(nth, std::memory_order_relaxed);
  f.errnum.store(errnum, std::memory_order_relaxed);
  if (nth != 0) f.armed.store(true, std::memory_order_relaxed);
  return a.result(static_cast<int64_t>(counted));
}

}  // namespace

void export_faults(Exports& out) { out.fn("__faults", faults); }

}  // namespace vfio
