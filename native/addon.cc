// The addon's entry point: every function of the contract (lib/addon/native.ts) and its constants.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "abi/iommufd_abi.h"
#include "abi/vfio_abi.h"
#include "args.h"
#include "exports.h"
#include "mman.h"

namespace vfio {

namespace {

// constants.abi: every mirrored uAPI constant under its uAPI name, from the ABI headers' lists
// (so nothing mirrored can be missing here).
Napi::Object abi_constants(Napi::Env env, bool* ok) {
  Napi::Object abi = Napi::Object::New(env);
#define VFIO_EXPORT_CONSTANT(name, value) *ok = *ok && !abi.Set(#name, number(env, vfio_abi::name)).IsNothing();
  VFIO_ABI_VFIO_CONSTANTS(VFIO_EXPORT_CONSTANT)
  VFIO_ABI_IOMMUFD_CONSTANTS(VFIO_EXPORT_CONSTANT)
#undef VFIO_EXPORT_CONSTANT
  return abi;
}

// constants.sizes: sizeof each mirrored struct under its uAPI name.
Napi::Object abi_sizes(Napi::Env env, bool* ok) {
  Napi::Object sizes = Napi::Object::New(env);
#define VFIO_EXPORT_SIZE(name, size) *ok = *ok && !sizes.Set(#name, number(env, sizeof(vfio_abi::name))).IsNothing();
  VFIO_ABI_VFIO_STRUCTS(VFIO_EXPORT_SIZE)
  VFIO_ABI_IOMMUFD_STRUCTS(VFIO_EXPORT_SIZE)
#undef VFIO_EXPORT_SIZE
  return sizes;
}

void export_constants(Exports& out) {
  Napi::Env env = out.env();
  Napi::Object c = Napi::Object::New(env);
  const struct {
    const char* name;
    int64_t value;
  } plain[] = {
      {"O_RDONLY", O_RDONLY},
      {"O_WRONLY", O_WRONLY},
      {"O_RDWR", O_RDWR},
      {"O_CLOEXEC", O_CLOEXEC},
      {"O_NONBLOCK", O_NONBLOCK},
      {"PROT_READ", PROT_READ},
      {"PROT_WRITE", PROT_WRITE},
      {"EFD_CLOEXEC", EFD_CLOEXEC},
      {"EFD_NONBLOCK", EFD_NONBLOCK},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
      {"PAGE_SIZE", sysconf(_SC_PAGESIZE)},
      {"SOCK_STREAM", SOCK_STREAM},
      {"SOCK_SEQPACKET", SOCK_SEQPACKET},
      {"MAX_MAPPING_LENGTH", static_cast<int64_t>(kMaxMappingLength)},
  };
  bool ok = true;
  for (const auto& entry : plain) ok = ok && !c.Set(entry.name, number(env, entry.value)).IsNothing();
  Napi::Object abi = abi_constants(env, &ok);
  Napi::Object sizes = abi_sizes(env, &ok);
  ok = ok && !c.Set("abi", abi).IsNothing() && !c.Set("sizes", sizes).IsNothing();
  out.set("constants", ok ? Napi::Value(c) : Napi::Value());
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  Exports out(env, exports);
  export_constants(out);
  export_frame(out);
  export_fd(out);
  export_vfio(out);
  export_vfio_feature(out);
  export_vfio_ioeventfd(out);
  export_iommufd(out);
  export_mman(out);
  export_eventfd(out);
  export_socket(out);
  export_socket_poll(out);
  export_faults(out);
  // A failed step left the engine's exception pending; returning an empty object makes require() throw it.
  return out.ok() ? exports : Napi::Object();
}

}  // namespace vfio

// The module macro pastes its argument into a name: it needs an unqualified function.
static Napi::Object InitVfio(Napi::Env env, Napi::Object exports) { return vfio::init(env, exports); }

NODE_API_MODULE(vfio, InitVfio)
