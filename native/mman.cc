// Memory JavaScript can touch: device mmaps and DMA buffers as external ArrayBuffers.
//
// Lifetime rules (the ArrayBuffer is the only way JS reaches the memory):
// - munmap()/dma_free() detach the ArrayBuffer first, then unmap: views read as empty and
//   writes go nowhere, instead of faulting. If it cannot be detached, nothing is unmapped.
// - A finalizer alone never unmaps while something could still reach the memory: the
//   ArrayBuffer and the handle each hold the mapping, and only the last release unmaps.
// - Node 20 caps external ArrayBuffers at 4 GiB, and a failed creation above the cap runs the
//   finalizer synchronously; lengths are checked first, and a failed creation is undone once.
#include "mman.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "exports.h"
#include "mem_table.h"

namespace vfio {

namespace {

const napi_type_tag kMappingTag = {0x7f1c0a5e2b9d4e31ULL, 0x96a8d3c45e0f7b12ULL};
constexpr uint64_t kMaxLength = 1ULL << 32;  // Node 20's external ArrayBuffer limit
// Past 1 GiB (the largest page size of x86-64 and 4K-granule arm64) more alignment buys nothing.
constexpr uint64_t kMaxAlign = 1ULL << 30;

uint64_t page_size() { return static_cast<uint64_t>(sysconf(_SC_PAGESIZE)); }
uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) & ~(to - 1); }

// The mapping's id names nothing from now on.
void forget_id(Mapping* m) {
  if (m->table == nullptr) return;
  m->table->remove(m->id);
  m->table->unref();
  m->table = nullptr;
}

void release(napi_env env, Mapping* m) {
  if (--m->holders > 0) return;
  forget_id(m);
  if (m->mapped) munmap(m->addr, m->length);
  if (m->buffer) napi_delete_reference(env, m->buffer);
  delete m;
}

void finalize_buffer(napi_env env, void*, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  m->buffer_finalized = true;
  release(env, m);
}

void finalize_handle(napi_env env, void* data, void*) { release(env, static_cast<Mapping*>(data)); }

// When the engine refused to create something: its exception if it left one, else -ENOMEM.
Napi::Value creation_failed(Napi::Env env) {
  return env.IsExceptionPending() ? env.Undefined() : number(env, -ENOMEM);
}

MemTable* table_of(napi_env env) {
  void* data = nullptr;
  return napi_get_instance_data(env, &data) == napi_ok ? static_cast<MemTable*>(data) : nullptr;
}

// Wraps a fresh mapping into {buffer, handle, id}. On failure whatever was created is left to
// the garbage collector, whose finalizers then unmap.
Napi::Value wrap(Napi::Env env, void* addr, size_t length) {
  Mapping* m = new Mapping{addr, length, true, false, 2, nullptr, nullptr, 0};  // this call + the buffer
  napi_value buffer = nullptr;
  if (napi_create_external_arraybuffer(env, addr, length, finalize_buffer, m, &buffer) != napi_ok) {
    if (!m->buffer_finalized) m->holders--;  // the buffer never existed
    release(env, m);
    return creation_failed(env);
  }
  napi_value handle = nullptr;
  m->holders++;
  if (napi_create_external(env, m, finalize_handle, nullptr, &handle) != napi_ok) {
    m->holders--;
    release(env, m);
    return creation_failed(env);
  }
  MemTable* table = table_of(env);
  m->id = table != nullptr ? table->add(m) : 0;
  if (m->id == 0) {
    release(env, m);  // the handle and the buffer finalizers unmap
    return number(env, -ENOMEM);
  }
  m->table = table;
  table->ref();
  Napi::Object result = Napi::Object::New(env);
  bool built = napi_type_tag_object(env, handle, &kMappingTag) == napi_ok &&
               napi_create_reference(env, buffer, 0, &m->buffer) == napi_ok &&
               !result.Set("buffer", buffer).IsNothing() && !result.Set("handle", handle).IsNothing() &&
               !result.Set("id", number(env, static_cast<int64_t>(m->id))).IsNothing();
  release(env, m);
  return built ? Napi::Value(result) : creation_failed(env);
}

// mmap(MAP_SHARED) at an address aligned to `align` (> page size): reserve length + align of
// address space, map the real thing over the aligned part with MAP_FIXED, give back the rest.
void* map_aligned(int fd, off_t offset, uint64_t length, int prot, uint64_t align) {
  if (align <= page_size()) return mmap(nullptr, length, prot, MAP_SHARED, fd, offset);
  uint64_t span = round_up(length, page_size()) + align;
  void* reserved = mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) return MAP_FAILED;
  uintptr_t start = reinterpret_cast<uintptr_t>(reserved);
  uintptr_t aligned = round_up(start, align);
  void* addr = mmap(reinterpret_cast<void*>(aligned), length, prot, MAP_SHARED | MAP_FIXED, fd, offset);
  if (addr == MAP_FAILED) {
    int saved = errno;
    munmap(reserved, span);
    errno = saved;
    return MAP_FAILED;
  }
  uintptr_t end = aligned + round_up(length, page_size());
  if (aligned > start) munmap(reserved, aligned - start);
  if (start + span > end) munmap(reinterpret_cast<void*>(end), start + span - end);
  return addr;
}

Napi::Value mm_mmap(const Napi::CallbackInfo& info) {
  Args a(info);
  int fd = a.fd(0);
  off_t offset = a.off(1);
  uint64_t length = a.size(2);
  int prot = a.i32(3);
  uint64_t align = a.size(4);
  a.invalid_unless(length > 0 && length <= kMaxLength);
  // Read and/or write, nothing else: PROT_NONE would make any view fault (write-only pages are
  // readable on x86-64 and arm64, so a write-only region still gives a usable view).
  a.invalid_unless((prot & (PROT_READ | PROT_WRITE)) != 0 && (prot & ~(PROT_READ | PROT_WRITE)) == 0);
  a.invalid_unless(align == 0 || ((align & (align - 1)) == 0 && align <= kMaxAlign));
  if (!a.ok()) return a.failure();
  void* addr = map_aligned(fd, offset, length, prot, align);
  if (addr == MAP_FAILED) return number(a.env(), -errno);
  return wrap(a.env(), addr, length);
}

// Shared, memfd-backed memory (MAP_SHARED survives fork() without copy-on-write breaking the
// device's view of it), allocated up front so a shortage is an error here, not a SIGBUS later.
void* alloc_shared(uint64_t length, bool hugepages) {
  int fd = memfd_create("vfio-dma", MFD_CLOEXEC | (hugepages ? MFD_HUGETLB : 0));
  if (fd < 0) return MAP_FAILED;
  void* addr = MAP_FAILED;
  if (ftruncate(fd, static_cast<off_t>(length)) == 0 && fallocate(fd, 0, 0, static_cast<off_t>(length)) == 0) {
    addr = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  int saved = errno;
  close(fd);  // the mapping keeps the memory
  errno = saved;
  return addr;
}

Napi::Value mm_dma_alloc(const Napi::CallbackInfo& info) {
  Args a(info);
  uint64_t length = a.size(0);
  bool hugepages = a.boolean(1);
  a.invalid_unless(length > 0 && length <= kMaxLength);
  if (!a.ok()) return a.failure();
  void* addr = alloc_shared(length, hugepages);
  if (addr == MAP_FAILED) return number(a.env(), -errno);
  return wrap(a.env(), addr, length);
}

// Detach, then unmap; 0 when already unmapped.
int64_t unmap(napi_env env, Mapping* m) {
  if (!m->mapped) return 0;
  napi_value buffer = nullptr;
  if (napi_get_reference_value(env, m->buffer, &buffer) == napi_ok && buffer != nullptr &&
      napi_detach_arraybuffer(env, buffer) != napi_ok) {
    return -EBUSY;  // still reachable and not detachable: unmapping would let a view fault
  }
  int64_t r = sys(munmap(m->addr, m->length));
  if (r == 0) {
    m->mapped = false;
    forget_id(m);
  }
  return r;
}

Napi::Value mm_munmap(const Napi::CallbackInfo& info) {
  Args a(info);
  Mapping* m = mem_handle(a, 0);
  if (!a.ok()) return a.failure();
  return number(a.env(), unmap(a.env(), m));
}

// Orders write-combined stores before a following doorbell store (another mapping).
Napi::Value mm_store_fence(const Napi::CallbackInfo& info) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ __volatile__("sfence" ::: "memory");
#elif defined(__aarch64__)
  __asm__ __volatile__("dmb oshst" ::: "memory");  // stores, outer shareable: devices observe it
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
  return info.Env().Undefined();
}

}  // namespace

Mapping* mem_handle(Args& a, size_t i) { return static_cast<Mapping*>(a.handle(i, &kMappingTag)); }

uint64_t mem_address(Args& a, const Mapping* m, uint64_t offset, uint64_t length) {
  if (!a.ok() || m == nullptr) return 0;
  a.invalid_unless(mem_range_ok(m, offset, length));
  return a.ok() ? reinterpret_cast<uintptr_t>(m->addr) + offset : 0;
}

void export_mman(Exports& out) {
  // The id table lives as long as the instance and the last mapping registered in it.
  MemTable* table = new MemTable();
  if (napi_set_instance_data(out.env(), table, [](napi_env, void* t, void*) { static_cast<MemTable*>(t)->unref(); }, nullptr) != napi_ok) {
    delete table;
    napi_throw_error(out.env(), nullptr, "vfio native: could not keep the mapping table as instance data");
    out.set("mmap", Napi::Value());  // marks the export failed
    return;
  }
  if (out.frame() != nullptr) out.frame()->mems = table;  // for the framed functions' lookups
  out.fn<mm_mmap>("mmap");
  out.fn<mm_munmap>("munmap");
  out.fn<mm_dma_alloc>("dma_alloc");
  out.fn<mm_munmap>("dma_free");
  out.fn<mm_store_fence>("store_fence");
}

}  // namespace vfio
