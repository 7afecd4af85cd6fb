/*
 * The type1 IOMMU of a VFIO container (Linux include/uapi/linux/vfio.h, 7.3): GET_INFO and its
 * caps, MAP_DMA, UNMAP_DMA. Part of vfio_abi.h (see there).
 */
#ifndef VFIO_ABI_VFIO_TYPE1_H
#define VFIO_ABI_VFIO_TYPE1_H

#ifndef VFIO_ABI_VFIO_H
#error "include abi/vfio_abi.h, which includes this header after the structs it builds on"
#endif

#define VFIO_ABI_TYPE1_CONSTANTS(X)                           \
  /* ioctl numbers (on the container) */                      \
  X(VFIO_IOMMU_GET_INFO, VFIO_ABI_IO(12))                     \
  X(VFIO_IOMMU_MAP_DMA, VFIO_ABI_IO(13))                      \
  X(VFIO_IOMMU_UNMAP_DMA, VFIO_ABI_IO(14))                    \
  /* type1 IOMMU: info flags and caps, DMA map/unmap flags */ \
  X(VFIO_IOMMU_INFO_PGSIZES, 1 << 0)                          \
  X(VFIO_IOMMU_INFO_CAPS, 1 << 1)                             \
  X(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1)                  \
  X(VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 2)                   \
  X(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 3)                       \
  X(VFIO_DMA_MAP_FLAG_READ, 1 << 0)                           \
  X(VFIO_DMA_MAP_FLAG_WRITE, 1 << 1)                          \
  X(VFIO_DMA_MAP_FLAG_VADDR, 1 << 2)                          \
  X(VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 1 << 0)             \
  X(VFIO_DMA_UNMAP_FLAG_ALL, 1 << 1)                          \
  X(VFIO_DMA_UNMAP_FLAG_VADDR, 1 << 2)

VFIO_ABI_BEGIN

VFIO_ABI_TYPE1_CONSTANTS(VFIO_ABI_DECLARE_CONSTANT)

/* ---- type1 IOMMU (container) ---- */

struct vfio_iommu_type1_info {
  uint32_t argsz;
  uint32_t flags;
  vfio_abi_aligned_u64 iova_pgsizes;
  uint32_t cap_offset;
  uint32_t pad;
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_info(F) \
  F(vfio_iommu_type1_info, argsz, 0)             \
  F(vfio_iommu_type1_info, flags, 4)             \
  F(vfio_iommu_type1_info, iova_pgsizes, 8)      \
  F(vfio_iommu_type1_info, cap_offset, 16)       \
  F(vfio_iommu_type1_info, pad, 20)

/* end is inclusive. */
struct vfio_iova_range {
  uint64_t start;
  uint64_t end;
};
#define VFIO_ABI_LAYOUT_vfio_iova_range(F) \
  F(vfio_iova_range, start, 0)             \
  F(vfio_iova_range, end, 8)

struct vfio_iommu_type1_info_cap_iova_range {
  struct vfio_info_cap_header header;
  uint32_t nr_iovas;
  uint32_t reserved;
  struct vfio_iova_range iova_ranges[];
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_info_cap_iova_range(F) \
  F(vfio_iommu_type1_info_cap_iova_range, header, 0)            \
  F(vfio_iommu_type1_info_cap_iova_range, nr_iovas, 8)          \
  F(vfio_iommu_type1_info_cap_iova_range, reserved, 12)         \
  F(vfio_iommu_type1_info_cap_iova_range, iova_ranges, 16)

struct vfio_iommu_type1_info_cap_migration {
  struct vfio_info_cap_header header;
  uint32_t flags;
  uint64_t pgsize_bitmap;
  uint64_t max_dirty_bitmap_size;
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_info_cap_migration(F) \
  F(vfio_iommu_type1_info_cap_migration, header, 0)            \
  F(vfio_iommu_type1_info_cap_migration, flags, 8)             \
  F(vfio_iommu_type1_info_cap_migration, pgsize_bitmap, 16)    \
  F(vfio_iommu_type1_info_cap_migration, max_dirty_bitmap_size, 24)

/* avail: how many more MAP_DMA mappings the container accepts (the 65535 limit). */
struct vfio_iommu_type1_info_dma_avail {
  struct vfio_info_cap_header header;
  uint32_t avail;
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_info_dma_avail(F) \
  F(vfio_iommu_type1_info_dma_avail, header, 0)            \
  F(vfio_iommu_type1_info_dma_avail, avail, 8)

struct vfio_iommu_type1_dma_map {
  uint32_t argsz;
  uint32_t flags;
  uint64_t vaddr;
  uint64_t iova;
  uint64_t size;
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_dma_map(F) \
  F(vfio_iommu_type1_dma_map, argsz, 0)             \
  F(vfio_iommu_type1_dma_map, flags, 4)             \
  F(vfio_iommu_type1_dma_map, vaddr, 8)             \
  F(vfio_iommu_type1_dma_map, iova, 16)             \
  F(vfio_iommu_type1_dma_map, size, 24)

/* size is written back with the number of bytes unmapped. */
struct vfio_iommu_type1_dma_unmap {
  uint32_t argsz;
  uint32_t flags;
  uint64_t iova;
  uint64_t size;
  uint8_t data[];
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_dma_unmap(F) \
  F(vfio_iommu_type1_dma_unmap, argsz, 0)             \
  F(vfio_iommu_type1_dma_unmap, flags, 4)             \
  F(vfio_iommu_type1_dma_unmap, iova, 8)              \
  F(vfio_iommu_type1_dma_unmap, size, 16)             \
  F(vfio_iommu_type1_dma_unmap, data, 24)

#define VFIO_ABI_TYPE1_STRUCTS(S)             \
  S(vfio_iommu_type1_info, 24)                \
  S(vfio_iova_range, 16)                      \
  S(vfio_iommu_type1_info_cap_iova_range, 16) \
  S(vfio_iommu_type1_info_cap_migration, 32)  \
  S(vfio_iommu_type1_info_dma_avail, 12)      \
  S(vfio_iommu_type1_dma_map, 32)             \
  S(vfio_iommu_type1_dma_unmap, 24)

VFIO_ABI_TYPE1_STRUCTS(VFIO_ABI_ASSERT_STRUCT)

VFIO_ABI_END

#endif /* VFIO_ABI_VFIO_TYPE1_H */
