// Mappings (device mmaps and DMA buffers) as other native files see them: through a handle or,
// in the call frame, an id (mem_table.h), never as an address JavaScript could hold.
#ifndef VFIO_NATIVE_MMAN_H
#define VFIO_NATIVE_MMAN_H

#include <cerrno>
#include <cstdint>

#include "args.h"
#include "frame.h"
#include "mem_table.h"

namespace vfio {

// Argument i as a MemHandle (a TypeError for anything else).
Mapping* mem_handle(Args& a, size_t i);

// The address of [offset, offset + length) inside a live mapping, for an ioctl that hands
// memory to the kernel; marks the arguments invalid (and returns 0) when the mapping is already
// unmapped or the range does not fit inside it.
uint64_t mem_address(Args& a, const Mapping* m, uint64_t offset, uint64_t length);

inline bool mem_range_ok(const Mapping* m, uint64_t offset, uint64_t length) {
  return m->mapped && offset <= m->length && length <= m->length - offset;
}

// The same for framed functions (frame.h), inline: the mapping whose id (the `id` dma_alloc and
// mmap return) is in `slot`, -EBADF when the id names no live mapping; then the range check.
inline Mapping* mem_of(FrameCall& c, size_t slot) {
  uint64_t id = c.id(slot);
  if (!c.ok()) return nullptr;
  MemTable* table = c.mems();
  Mapping* m = table != nullptr ? table->find(id) : nullptr;
  c.fail_unless(m != nullptr, EBADF);
  return m;
}

inline uint64_t mem_address(FrameCall& c, const Mapping* m, uint64_t offset, uint64_t length) {
  if (!c.ok() || m == nullptr) return 0;
  c.invalid_unless(mem_range_ok(m, offset, length));
  return c.ok() ? reinterpret_cast<uintptr_t>(m->addr) + offset : 0;
}

}  // namespace vfio

#endif  // VFIO_NATIVE_MMAN_H
