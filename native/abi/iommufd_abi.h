/*
 * The iommufd uAPI as this project uses it, written from the documented interface (Linux
 * include/uapi/linux/iommufd.h, 7.3): IOAS allocation, IOVA ranges, MAP / MAP_FILE / UNMAP,
 * DESTROY, GET_HW_INFO and the no-IOMMU physical-address query. Every struct starts with its
 * own size, which the kernel uses to tell old callers from new ones. See abi_common.h for how
 * the lists below are used.
 */
#ifndef VFIO_ABI_IOMMUFD_H
#define VFIO_ABI_IOMMUFD_H

#include "abi_common.h"

#define VFIO_ABI_IOMMUFD_IO(cmd) _IO(';', (cmd))

#define VFIO_ABI_IOMMUFD_CONSTANTS(X)                     \
  X(IOMMUFD_TYPE, ';')                                    \
  /* command numbers (the low byte of each ioctl) */      \
  X(IOMMUFD_CMD_BASE, 0x80)                               \
  X(IOMMUFD_CMD_DESTROY, 0x80)                            \
  X(IOMMUFD_CMD_IOAS_ALLOC, 0x81)                         \
  X(IOMMUFD_CMD_IOAS_IOVA_RANGES, 0x84)                   \
  X(IOMMUFD_CMD_IOAS_MAP, 0x85)                           \
  X(IOMMUFD_CMD_IOAS_UNMAP, 0x86)                         \
  X(IOMMUFD_CMD_GET_HW_INFO, 0x8a)                        \
  X(IOMMUFD_CMD_IOAS_MAP_FILE, 0x8f)                      \
  X(IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA, 0x95)                \
  /* ioctl numbers */                                     \
  X(IOMMU_DESTROY, VFIO_ABI_IOMMUFD_IO(0x80))             \
  X(IOMMU_IOAS_ALLOC, VFIO_ABI_IOMMUFD_IO(0x81))          \
  X(IOMMU_IOAS_IOVA_RANGES, VFIO_ABI_IOMMUFD_IO(0x84))    \
  X(IOMMU_IOAS_MAP, VFIO_ABI_IOMMUFD_IO(0x85))            \
  X(IOMMU_IOAS_UNMAP, VFIO_ABI_IOMMUFD_IO(0x86))          \
  X(IOMMU_GET_HW_INFO, VFIO_ABI_IOMMUFD_IO(0x8a))         \
  X(IOMMU_IOAS_MAP_FILE, VFIO_ABI_IOMMUFD_IO(0x8f))       \
  X(IOMMU_IOAS_NOIOMMU_GET_PA, VFIO_ABI_IOMMUFD_IO(0x95)) \
  /* IOAS map flags (MAP and MAP_FILE) */                 \
  X(IOMMU_IOAS_MAP_FIXED_IOVA, 1 << 0)                    \
  X(IOMMU_IOAS_MAP_WRITEABLE, 1 << 1)                     \
  X(IOMMU_IOAS_MAP_READABLE, 1 << 2)                      \
  /* GET_HW_INFO */                                       \
  X(IOMMU_HW_INFO_TYPE_NONE, 0)                           \
  X(IOMMU_HW_INFO_TYPE_DEFAULT, 0)                        \
  X(IOMMU_HW_INFO_TYPE_INTEL_VTD, 1)                      \
  X(IOMMU_HW_INFO_TYPE_ARM_SMMUV3, 2)                     \
  X(IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV, 3)                 \
  X(IOMMU_HW_INFO_TYPE_AMD, 4)                            \
  X(IOMMU_HW_CAP_DIRTY_TRACKING, 1 << 0)                  \
  X(IOMMU_HW_CAP_PCI_PASID_EXEC, 1 << 1)                  \
  X(IOMMU_HW_CAP_PCI_PASID_PRIV, 1 << 2)                  \
  X(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, 1 << 3)           \
  X(IOMMU_HW_INFO_FLAG_INPUT_TYPE, 1 << 0)                \
  X(IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17, 1 << 0)

VFIO_ABI_BEGIN

VFIO_ABI_IOMMUFD_CONSTANTS(VFIO_ABI_DECLARE_CONSTANT)

struct iommu_destroy {
  uint32_t size;
  uint32_t id;
};
#define VFIO_ABI_LAYOUT_iommu_destroy(F) \
  F(iommu_destroy, size, 0)              \
  F(iommu_destroy, id, 4)

struct iommu_ioas_alloc {
  uint32_t size;
  uint32_t flags;
  uint32_t out_ioas_id;
};
#define VFIO_ABI_LAYOUT_iommu_ioas_alloc(F) \
  F(iommu_ioas_alloc, size, 0)              \
  F(iommu_ioas_alloc, flags, 4)             \
  F(iommu_ioas_alloc, out_ioas_id, 8)

/* last is inclusive. */
struct iommu_iova_range {
  vfio_abi_aligned_u64 start;
  vfio_abi_aligned_u64 last;
};
#define VFIO_ABI_LAYOUT_iommu_iova_range(F) \
  F(iommu_iova_range, start, 0)             \
  F(iommu_iova_range, last, 8)

/* num_iovas: in, the capacity of allowed_iovas; out, the total (EMSGSIZE when it did not fit). */
struct iommu_ioas_iova_ranges {
  uint32_t size;
  uint32_t ioas_id;
  uint32_t num_iovas;
  uint32_t __reserved;
  vfio_abi_aligned_u64 allowed_iovas;
  vfio_abi_aligned_u64 out_iova_alignment;
};
#define VFIO_ABI_LAYOUT_iommu_ioas_iova_ranges(F) \
  F(iommu_ioas_iova_ranges, size, 0)              \
  F(iommu_ioas_iova_ranges, ioas_id, 4)           \
  F(iommu_ioas_iova_ranges, num_iovas, 8)         \
  F(iommu_ioas_iova_ranges, __reserved, 12)       \
  F(iommu_ioas_iova_ranges, allowed_iovas, 16)    \
  F(iommu_ioas_iova_ranges, out_iova_alignment, 24)

/* iova is an input with IOMMU_IOAS_MAP_FIXED_IOVA, otherwise the kernel's choice on output. */
struct iommu_ioas_map {
  uint32_t size;
  uint32_t flags;
  uint32_t ioas_id;
  uint32_t __reserved;
  vfio_abi_aligned_u64 user_va;
  vfio_abi_aligned_u64 length;
  vfio_abi_aligned_u64 iova;
};
#define VFIO_ABI_LAYOUT_iommu_ioas_map(F) \
  F(iommu_ioas_map, size, 0)              \
  F(iommu_ioas_map, flags, 4)             \
  F(iommu_ioas_map, ioas_id, 8)           \
  F(iommu_ioas_map, __reserved, 12)       \
  F(iommu_ioas_map, user_va, 16)          \
  F(iommu_ioas_map, length, 24)           \
  F(iommu_ioas_map, iova, 32)

/* Like iommu_ioas_map, from a memfd or a supported (e.g. vfio) dma-buf instead of a pointer. */
struct iommu_ioas_map_file {
  uint32_t size;
  uint32_t flags;
  uint32_t ioas_id;
  int32_t fd;
  vfio_abi_aligned_u64 start;
  vfio_abi_aligned_u64 length;
  vfio_abi_aligned_u64 iova;
};
#define VFIO_ABI_LAYOUT_iommu_ioas_map_file(F) \
  F(iommu_ioas_map_file, size, 0)              \
  F(iommu_ioas_map_file, flags, 4)             \
  F(iommu_ioas_map_file, ioas_id, 8)           \
  F(iommu_ioas_map_file, fd, 12)               \
  F(iommu_ioas_map_file, start, 16)            \
  F(iommu_ioas_map_file, length, 24)           \
  F(iommu_ioas_map_file, iova, 32)

struct iommu_ioas_unmap {
  uint32_t size;
  uint32_t ioas_id;
  vfio_abi_aligned_u64 iova;
  vfio_abi_aligned_u64 length;
};
#define VFIO_ABI_LAYOUT_iommu_ioas_unmap(F) \
  F(iommu_ioas_unmap, size, 0)              \
  F(iommu_ioas_unmap, ioas_id, 4)           \
  F(iommu_ioas_unmap, iova, 8)              \
  F(iommu_ioas_unmap, length, 16)

struct iommu_hw_info {
  uint32_t size;
  uint32_t flags;
  uint32_t dev_id;
  uint32_t data_len;
  vfio_abi_aligned_u64 data_uptr;
  union {
    uint32_t in_data_type;
    uint32_t out_data_type;
  };
  uint8_t out_max_pasid_log2;
  uint8_t __reserved[3];
  vfio_abi_aligned_u64 out_capabilities;
};
#define VFIO_ABI_LAYOUT_iommu_hw_info(F)   \
  F(iommu_hw_info, size, 0)                \
  F(iommu_hw_info, flags, 4)               \
  F(iommu_hw_info, dev_id, 8)              \
  F(iommu_hw_info, data_len, 12)           \
  F(iommu_hw_info, data_uptr, 16)          \
  F(iommu_hw_info, in_data_type, 24)       \
  F(iommu_hw_info, out_data_type, 24)      \
  F(iommu_hw_info, out_max_pasid_log2, 28) \
  F(iommu_hw_info, __reserved, 29)         \
  F(iommu_hw_info, out_capabilities, 32)

/* IOMMU_HW_INFO_TYPE_INTEL_VTD payload: the VT-d capability and extended capability registers. */
struct iommu_hw_info_vtd {
  uint32_t flags;
  uint32_t __reserved;
  vfio_abi_aligned_u64 cap_reg;
  vfio_abi_aligned_u64 ecap_reg;
};
#define VFIO_ABI_LAYOUT_iommu_hw_info_vtd(F) \
  F(iommu_hw_info_vtd, flags, 0)             \
  F(iommu_hw_info_vtd, __reserved, 4)        \
  F(iommu_hw_info_vtd, cap_reg, 8)           \
  F(iommu_hw_info_vtd, ecap_reg, 16)

/* No-IOMMU only: length is in (bytes wanted) and out (bytes physically contiguous). */
struct iommu_ioas_noiommu_get_pa {
  uint32_t size;
  uint32_t flags;
  uint32_t ioas_id;
  uint32_t __reserved;
  vfio_abi_aligned_u64 iova;
  vfio_abi_aligned_u64 length;
  vfio_abi_aligned_u64 out_phys;
};
#define VFIO_ABI_LAYOUT_iommu_ioas_noiommu_get_pa(F) \
  F(iommu_ioas_noiommu_get_pa, size, 0)              \
  F(iommu_ioas_noiommu_get_pa, flags, 4)             \
  F(iommu_ioas_noiommu_get_pa, ioas_id, 8)           \
  F(iommu_ioas_noiommu_get_pa, __reserved, 12)       \
  F(iommu_ioas_noiommu_get_pa, iova, 16)             \
  F(iommu_ioas_noiommu_get_pa, length, 24)           \
  F(iommu_ioas_noiommu_get_pa, out_phys, 32)

#define VFIO_ABI_IOMMUFD_STRUCTS(S) \
  S(iommu_destroy, 8)               \
  S(iommu_ioas_alloc, 12)           \
  S(iommu_iova_range, 16)           \
  S(iommu_ioas_iova_ranges, 32)     \
  S(iommu_ioas_map, 40)             \
  S(iommu_ioas_map_file, 40)        \
  S(iommu_ioas_unmap, 24)           \
  S(iommu_hw_info, 40)              \
  S(iommu_hw_info_vtd, 24)          \
  S(iommu_ioas_noiommu_get_pa, 40)

VFIO_ABI_IOMMUFD_STRUCTS(VFIO_ABI_ASSERT_STRUCT)

VFIO_ABI_END

#endif /* VFIO_ABI_IOMMUFD_H */
