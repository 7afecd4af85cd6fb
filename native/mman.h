// Mappings (device mmaps and DMA buffers) as other native files see them: through a handle or,
// in the call frame, an id (mem_table.h), never as an address JavaScript could hold.
#ifndef VFIO_NATIVE_MMAN_H
#define VFIO_NATIVE_MMAN_H

#include <cerrno>
#include <cstdint>

#include "args.h"
#include "mem_table.h"

namespace vfio {

// The longest mapping or DMA buffer: what one external ArrayBuffer holds on every supported Node
// line (Node 20's limit; later lines allow more), and the range the width-exact accessors'
// uint32 offset checks cover. JavaScript reads it as constants.MAX_MAPPING_LENGTH.
constexpr uint64_t kMaxMappingLength = 1ULL << 32;

// Argument i as a MemHandle (a TypeError for anything else).
Mapping* mem_handle(Args& a, size_t i);

inline bool mem_range_ok(const Mapping* m, uint64_t offset, uint64_t length) {
  return m->mapped && offset <= m->length && length <= m->length - offset;
}

// The DMA buffer whose id (the `id` dma_alloc returns) is in argument or slot i; -EBADF when the
// id names no live DMA buffer of this instance (a device mapping's id included: the DMA map
// ioctls take only memory this addon allocated for DMA). Inline: it runs on every DMA map.
inline Mapping* dma_buffer_of(Args& a, size_t i) {
  uint64_t id = a.id(i);
  if (!a.ok()) return nullptr;
  MemTable* table = a.mems();
  Mapping* m = table != nullptr ? table->find(id) : nullptr;
  a.fail_unless(m != nullptr && m->kind == Mapping::Kind::dma, EBADF);
  return a.ok() ? m : nullptr;
}

// The address of [offset, offset + length) inside a live mapping, for an ioctl that hands
// memory to the kernel; marks the arguments invalid (and returns 0) when the mapping is already
// unmapped or the range does not fit inside it.
inline uint64_t mem_address(Args& a, const Mapping* m, uint64_t offset, uint64_t length) {
  if (!a.ok() || m == nullptr) return 0;
  a.invalid_unless(mem_range_ok(m, offset, length));
  return a.ok() ? reinterpret_cast<uintptr_t>(m->addr) + offset : 0;
}

}  // namespace vfio

#endif  // VFIO_NATIVE_MMAN_H
