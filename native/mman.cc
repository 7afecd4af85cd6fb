// Memory JavaScript can touch: device mmaps and DMA buffers as external ArrayBuffers.
//
// Lifetime rules (the ArrayBuffer's memory is the only way JS reaches a mapping):
// - munmap()/dma_free() detach the ArrayBuffer, then put private zero pages over the range
//   (mmap MAP_FIXED): the device's or file's pages leave the process at once, and a buffer the
//   detach could not reach (one made by ArrayBuffer.prototype.transfer()) reads zeros and takes
//   writes that go nowhere, instead of faulting or reaching memory mapped there later. If the
//   ArrayBuffer cannot be detached, nothing is unmapped.
// - The address range itself is released (munmap) only when the ArrayBuffer's memory is
//   finalized (V8 frees it when the last ArrayBuffer holding it, a transferred one included,
//   is collected) and the mapping is unmapped, or when the last holder goes: a finalizer alone
//   never unmaps while something could still reach the memory.
// - Node 20 caps external ArrayBuffers at 4 GiB, and a failed creation above the cap runs the
//   finalizer synchronously; lengths are checked first, and a failed creation is undone once.
#include "mman.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "exports.h"
#include "mem_table.h"
#include "sys.h"

namespace vfio {

namespace {

const napi_type_tag kMappingTag = {0x7f1c0a5e2b9d4e31ULL, 0x96a8d3c45e0f7b12ULL};
// Past 1 GiB (the largest page size of x86-64 and 4K-granule arm64) more alignment buys nothing.
constexpr uint64_t kMaxAlign = 1ULL << 30;

uint64_t page_size() { return static_cast<uint64_t>(sysconf(_SC_PAGESIZE)); }
uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) & ~(to - 1); }

// Gives the address range back. Raw munmap, never a failed one on purpose (sys.h): a finalizer
// has nobody to report to.
void release_range(Mapping* m) {
  if (!m->mapped && !m->retired) return;
  ::munmap(m->addr, m->length);
  if (m->retired && m->table != nullptr) m->table->unretired(m);
  m->mapped = m->retired = false;
}

void release(napi_env env, Mapping* m) {
  if (--m->holders > 0) return;
  release_range(m);
  if (m->table != nullptr) m->table->released(m);
  if (m->buffer) napi_delete_reference(env, m->buffer);
  delete m;
}

void finalize_buffer(napi_env env, void*, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  m->buffer_finalized = true;
  // No ArrayBuffer holds the memory any more: a retired range has nobody left to protect.
  if (m->retired) release_range(m);
  release(env, m);
}

void finalize_handle(napi_env env, void* data, void*) { release(env, static_cast<Mapping*>(data)); }

// When the engine refused to create something: its exception if it left one, else -ENOMEM.
napi_value creation_failed(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  return pending ? nullptr : napi_value(number(env, -ENOMEM));
}

// Wraps a fresh mapping into {buffer, handle, id}. On failure whatever was created is left to
// the garbage collector, whose finalizers then unmap.
napi_value wrap(napi_env env, MemTable* table, void* addr, size_t length, Mapping::Kind kind, bool writable) {
  Mapping* m = new Mapping{addr, length, kind, writable, true, false, false, 1, nullptr, nullptr, 0};  // this call
  if (table == nullptr || table->add(m) == 0) {
    release(env, m);
    return number(env, -ENOMEM);
  }
  napi_value buffer = nullptr;
  m->holders++;  // the buffer's memory
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
  Napi::Object result = Napi::Object::New(env);
  bool built = napi_type_tag_object(env, handle, &kMappingTag) == napi_ok &&
               napi_create_reference(env, buffer, 0, &m->buffer) == napi_ok &&
               !result.Set("buffer", buffer).IsNothing() && !result.Set("handle", handle).IsNothing() &&
               !result.Set("id", number(env, static_cast<int64_t>(m->id))).IsNothing();
  release(env, m);
  return built ? napi_value(result) : creation_failed(env);
}

// mmap(MAP_SHARED) at an address aligned to `align` (> page size): reserve length + align of
// address space, map the real thing over the aligned part with MAP_FIXED, give back the rest.
void* map_aligned(int fd, off_t offset, uint64_t length, int prot, uint64_t align) {
  if (align <= page_size()) return sys::mmap(nullptr, length, prot, MAP_SHARED, fd, offset);
  uint64_t span = round_up(length, page_size()) + align;
  void* reserved = sys::mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) return MAP_FAILED;
  uintptr_t start = reinterpret_cast<uintptr_t>(reserved);
  uintptr_t aligned = round_up(start, align);
  void* addr = sys::mmap(reinterpret_cast<void*>(aligned), length, prot, MAP_SHARED | MAP_FIXED, fd, offset);
  if (addr == MAP_FAILED) {
    int saved = errno;
    ::munmap(reserved, span);
    errno = saved;
    return MAP_FAILED;
  }
  uintptr_t end = aligned + round_up(length, page_size());
  // Trimming the reservation: raw munmap, as a failure would leave only unused address space.
  if (aligned > start) ::munmap(reserved, aligned - start);
  if (start + span > end) ::munmap(reinterpret_cast<void*>(end), start + span - end);
  return addr;
}

napi_value mm_mmap(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int fd = a.fd(0);
  off_t offset = a.off(1);
  uint64_t length = a.size(2);
  int prot = a.i32(3);
  uint64_t align = a.size(4);
  a.invalid_unless(length > 0 && length <= kMaxMappingLength);
  // Read and/or write, nothing else: PROT_NONE would make any view fault (write-only pages are
  // readable on x86-64 and arm64, so a write-only region still gives a usable view).
  a.invalid_unless((prot & (PROT_READ | PROT_WRITE)) != 0 && (prot & ~(PROT_READ | PROT_WRITE)) == 0);
  a.invalid_unless(align == 0 || ((align & (align - 1)) == 0 && align <= kMaxAlign));
  if (!a.ok()) return a.failure();
  void* addr = map_aligned(fd, offset, length, prot, align);
  if (addr == MAP_FAILED) return a.result(-errno);
  return wrap(env, a.mems(), addr, length, Mapping::Kind::device, (prot & PROT_WRITE) != 0);
}

// Shared, memfd-backed memory (MAP_SHARED survives fork() without copy-on-write breaking the
// device's view of it), allocated up front so a shortage is an error here, not a SIGBUS later.
void* alloc_shared(uint64_t length, bool hugepages) {
  int fd = sys::memfd_create("vfio-dma", MFD_CLOEXEC | (hugepages ? MFD_HUGETLB : 0));
  if (fd < 0) return MAP_FAILED;
  void* addr = MAP_FAILED;
  if (sys::ftruncate(fd, static_cast<off_t>(length)) == 0 &&
      sys::fallocate(fd, 0, 0, static_cast<off_t>(length)) == 0) {
    addr = sys::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  int saved = errno;
  ::close(fd);  // the mapping keeps the memory; a failure here would change nothing
  errno = saved;
  return addr;
}

napi_value mm_dma_alloc(napi_env env, napi_callback_info info) {
  Args a(env, info);
  uint64_t length = a.size(0);
  bool hugepages = a.boolean(1);
  a.invalid_unless(length > 0 && length <= kMaxMappingLength);
  if (!a.ok()) return a.failure();
  void* addr = alloc_shared(length, hugepages);
  if (addr == MAP_FAILED) return a.result(-errno);
  return wrap(env, a.mems(), addr, length, Mapping::Kind::dma, true);
}

// Private zero pages over a mapped range (MAP_FIXED replaces whatever is there), through
// sys::mmap so that a test can fail it like any other mmap.
bool put_zero_pages(Mapping* m, int prot) {
  return sys::mmap(m->addr, m->length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) !=
         MAP_FAILED;
}

// The protection a mapping was made with.
int mapping_prot(const Mapping* m) { return PROT_READ | (m->writable ? PROT_WRITE : 0); }

// Detach, then retire the range (private zero pages over it); 0 when already unmapped.
int64_t unmap(napi_env env, Mapping* m) {
  if (!m->mapped) return 0;
  napi_value buffer = nullptr;
  if (napi_get_reference_value(env, m->buffer, &buffer) == napi_ok && buffer != nullptr &&
      napi_detach_arraybuffer(env, buffer) != napi_ok) {
    return -EBUSY;  // still reachable and not detachable: unmapping would let a view fault
  }
  // Nothing can reach the memory any more (the ArrayBuffer's memory is finalized): no need to
  // keep the range.
  if (m->buffer_finalized) {
    if (sys::munmap(m->addr, m->length) != 0) return -errno;
  } else {
    // Writable whatever the mapping's protection: a view the detach could not reach takes
    // writes that go nowhere.
    if (!put_zero_pages(m, PROT_READ | PROT_WRITE)) return -errno;
    m->retired = true;
    if (m->table != nullptr) m->table->retired(m);
  }
  m->mapped = m->suspended = false;
  if (m->table != nullptr) m->table->forget_id(m);
  return 0;
}

// A device mapping whose memory is about to stop decoding (vfio-pci then zaps it and answers a
// fault with SIGBUS): its range gets zero pages, so any view reads zeros instead of faulting,
// and the ArrayBuffer stays attached for mem_resume. Idempotent; -EINVAL for a DMA buffer,
// -EBADF once unmapped.
napi_value mm_mem_suspend(napi_env env, napi_callback_info info) {
  Args a(env, info);
  Mapping* m = mem_handle(a, 0);
  if (!a.ok()) return a.failure();
  if (m->kind != Mapping::Kind::device) return a.result(-EINVAL);
  if (!m->mapped) return a.result(-EBADF);
  if (m->suspended) return a.result(0);
  if (!put_zero_pages(m, mapping_prot(m))) return a.result(-errno);
  m->suspended = true;
  return a.result(0);
}

// Maps fd at offset over a suspended range again (the device decodes memory again). A failed
// mmap leaves zero pages there (MAP_FIXED may have removed them), so the range never faults.
napi_value mm_mem_resume(napi_env env, napi_callback_info info) {
  Args a(env, info);
  Mapping* m = mem_handle(a, 0);
  int fd = a.fd(1);
  off_t offset = a.off(2);
  if (!a.ok()) return a.failure();
  if (m->kind != Mapping::Kind::device) return a.result(-EINVAL);
  if (!m->mapped) return a.result(-EBADF);
  if (!m->suspended) return a.result(0);
  int prot = mapping_prot(m);
  if (sys::mmap(m->addr, m->length, prot, MAP_SHARED | MAP_FIXED, fd, offset) == MAP_FAILED) {
    int saved = errno;
    if (!put_zero_pages(m, prot)) saved = errno;
    return a.result(-saved);
  }
  m->suspended = false;
  return a.result(0);
}

napi_value mm_munmap(napi_env env, napi_callback_info info) {
  Args a(env, info);
  Mapping* m = mem_handle(a, 0);
  if (!a.ok()) return a.failure();
  return a.result(unmap(env, m));
}

// Orders write-combined stores before a following doorbell store (another mapping).
napi_value mm_store_fence(napi_env, napi_callback_info) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ __volatile__("sfence" ::: "memory");
#elif defined(__aarch64__)
  __asm__ __volatile__("dmb oshst" ::: "memory");  // stores, outer shareable: devices observe it
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
  return nullptr;
}

// For tests: the instance's mapping table in numbers, {mappings, ids, retired, retiredBytes}.
napi_value mm_mem_stats(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const MemTable* t = a.mems();
  if (t == nullptr) return a.failure();
  Napi::Object o = Napi::Object::New(env);
  bool built = !o.Set("mappings", number(env, t->mappings())).IsNothing() &&
               !o.Set("ids", number(env, t->ids())).IsNothing() &&
               !o.Set("retired", number(env, t->retired_count())).IsNothing() &&
               !o.Set("retiredBytes", number(env, t->retired_bytes())).IsNothing();
  return built ? napi_value(o) : nullptr;
}

// Orders a load of DMA memory (a completion entry's phase bit) before the loads after it.
// x86-64 never reorders loads with other loads: nothing to emit there.
napi_value mm_load_fence(napi_env, napi_callback_info) {
#if defined(__aarch64__)
  __asm__ __volatile__("dmb oshld" ::: "memory");  // loads, outer shareable: what devices wrote
#elif defined(__x86_64__) || defined(__i386__)
  __asm__ __volatile__("" ::: "memory");
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
  return nullptr;
}

}  // namespace

Mapping* mem_handle(Args& a, size_t i) { return static_cast<Mapping*>(a.handle(i, &kMappingTag)); }

void export_mman(Exports& out) {
  // The id table lives as long as the instance and the last mapping registered in it.
  MemTable* table = new MemTable();
  if (napi_set_instance_data(
          out.env(), table, [](napi_env, void* t, void*) { static_cast<MemTable*>(t)->unref(); }, nullptr) != napi_ok) {
    delete table;
    napi_throw_error(out.env(), nullptr, "vfio native: could not keep the mapping table as instance data");
    out.set("mmap", Napi::Value());  // marks the export failed
    return;
  }
  if (out.frame() != nullptr) out.frame()->mems = table;  // for the framed functions' lookups
  out.fn("mmap", mm_mmap);
  out.fn("munmap", mm_munmap);
  out.fn("dma_alloc", mm_dma_alloc);
  out.fn("dma_free", mm_munmap);
  out.fn("mem_suspend", mm_mem_suspend);
  out.fn("mem_resume", mm_mem_resume);
  out.fn("store_fence", mm_store_fence);
  out.fn("__mem_stats", mm_mem_stats);
  out.fn("load_fence", mm_load_fence);
}

}  // namespace vfio
