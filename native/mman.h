// Mappings (device mmaps and DMA buffers) as other native files see them: through a handle,
// never as an address JavaScript could hold.
#ifndef VFIO_NATIVE_MMAN_H
#define VFIO_NATIVE_MMAN_H

#include <cstdint>

#include "args.h"
#include "frame.h"

namespace vfio {

struct Mapping;

// Argument i as a MemHandle (a TypeError for anything else).
Mapping* mem_handle(Args& a, size_t i);

// The address of [offset, offset + length) inside a live mapping, for an ioctl that hands
// memory to the kernel; marks the arguments invalid (and returns 0) when the mapping is already
// unmapped or the range does not fit inside it.
uint64_t mem_address(Args& a, const Mapping* m, uint64_t offset, uint64_t length);

// The same for framed functions (frame.h): the mapping whose id (the `id` dma_alloc and mmap
// return) is in `slot`; -EBADF when the id names no live mapping. Then the range check.
Mapping* mem_of(FrameCall& c, size_t slot);
uint64_t mem_address(FrameCall& c, const Mapping* m, uint64_t offset, uint64_t length);

}  // namespace vfio

#endif  // VFIO_NATIVE_MMAN_H
