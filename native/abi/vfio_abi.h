/*
 * The VFIO uAPI as this project uses it, written from the documented interface (Linux
 * include/uapi/linux/vfio.h, 7.3): container, group and device ioctls, info structs and their
 * capabilities, SET_IRQS, hot reset, iommufd binding of a device cdev; device features 0-13 in
 * vfio_feature_abi.h, the type1 container IOMMU in vfio_type1_abi.h and VFIO_DEVICE_IOEVENTFD in
 * vfio_ioeventfd_abi.h, all included at the end,
 * so this header is the whole VFIO uAPI. NVLink2 region caps and the sPAPR/EEH interfaces are left
 * out. The names are the uAPI's; see abi_common.h for how the lists below are used.
 * test/tools/abi_check.cc proves every value and offset against the kernel's own header.
 */
#ifndef VFIO_ABI_VFIO_H
#define VFIO_ABI_VFIO_H

#include "abi_common.h"

#define VFIO_ABI_CORE_CONSTANTS(X)                                 \
  /* API version and VFIO_CHECK_EXTENSION ids */                   \
  X(VFIO_API_VERSION, 0)                                           \
  X(VFIO_TYPE1_IOMMU, 1)                                           \
  X(VFIO_SPAPR_TCE_IOMMU, 2)                                       \
  X(VFIO_TYPE1v2_IOMMU, 3)                                         \
  X(VFIO_DMA_CC_IOMMU, 4)                                          \
  X(VFIO_EEH, 5)                                                   \
  X(VFIO_SPAPR_TCE_v2_IOMMU, 7)                                    \
  X(VFIO_NOIOMMU_IOMMU, 8)                                         \
  X(VFIO_UNMAP_ALL, 9)                                             \
  X(VFIO_UPDATE_VADDR, 10)                                         \
  X(VFIO_TYPE, ';')                                                \
  X(VFIO_BASE, 100)                                                \
  /* ioctl numbers */                                              \
  X(VFIO_GET_API_VERSION, VFIO_ABI_IO(0))                          \
  X(VFIO_CHECK_EXTENSION, VFIO_ABI_IO(1))                          \
  X(VFIO_SET_IOMMU, VFIO_ABI_IO(2))                                \
  X(VFIO_GROUP_GET_STATUS, VFIO_ABI_IO(3))                         \
  X(VFIO_GROUP_SET_CONTAINER, VFIO_ABI_IO(4))                      \
  X(VFIO_GROUP_UNSET_CONTAINER, VFIO_ABI_IO(5))                    \
  X(VFIO_GROUP_GET_DEVICE_FD, VFIO_ABI_IO(6))                      \
  X(VFIO_DEVICE_GET_INFO, VFIO_ABI_IO(7))                          \
  X(VFIO_DEVICE_GET_REGION_INFO, VFIO_ABI_IO(8))                   \
  X(VFIO_DEVICE_GET_IRQ_INFO, VFIO_ABI_IO(9))                      \
  X(VFIO_DEVICE_SET_IRQS, VFIO_ABI_IO(10))                         \
  X(VFIO_DEVICE_RESET, VFIO_ABI_IO(11))                            \
  X(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, VFIO_ABI_IO(12))           \
  X(VFIO_DEVICE_PCI_HOT_RESET, VFIO_ABI_IO(13))                    \
  X(VFIO_DEVICE_BIND_IOMMUFD, VFIO_ABI_IO(18))                     \
  X(VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_ABI_IO(19))                \
  X(VFIO_DEVICE_DETACH_IOMMUFD_PT, VFIO_ABI_IO(20))                \
  /* vfio_group_status.flags */                                    \
  X(VFIO_GROUP_FLAGS_VIABLE, 1 << 0)                               \
  X(VFIO_GROUP_FLAGS_CONTAINER_SET, 1 << 1)                        \
  /* vfio_device_info.flags */                                     \
  X(VFIO_DEVICE_FLAGS_RESET, 1 << 0)                               \
  X(VFIO_DEVICE_FLAGS_PCI, 1 << 1)                                 \
  X(VFIO_DEVICE_FLAGS_PLATFORM, 1 << 2)                            \
  X(VFIO_DEVICE_FLAGS_AMBA, 1 << 3)                                \
  X(VFIO_DEVICE_FLAGS_CCW, 1 << 4)                                 \
  X(VFIO_DEVICE_FLAGS_AP, 1 << 5)                                  \
  X(VFIO_DEVICE_FLAGS_FSL_MC, 1 << 6)                              \
  X(VFIO_DEVICE_FLAGS_CAPS, 1 << 7)                                \
  X(VFIO_DEVICE_FLAGS_CDX, 1 << 8)                                 \
  /* device info capability ids */                                 \
  X(VFIO_DEVICE_INFO_CAP_ZPCI_BASE, 1)                             \
  X(VFIO_DEVICE_INFO_CAP_ZPCI_GROUP, 2)                            \
  X(VFIO_DEVICE_INFO_CAP_ZPCI_UTIL, 3)                             \
  X(VFIO_DEVICE_INFO_CAP_ZPCI_PFIP, 4)                             \
  X(VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP, 5)                       \
  X(VFIO_PCI_ATOMIC_COMP32, 1 << 0)                                \
  X(VFIO_PCI_ATOMIC_COMP64, 1 << 1)                                \
  X(VFIO_PCI_ATOMIC_COMP128, 1 << 2)                               \
  /* vfio_region_info.flags and region capability ids */           \
  X(VFIO_REGION_INFO_FLAG_READ, 1 << 0)                            \
  X(VFIO_REGION_INFO_FLAG_WRITE, 1 << 1)                           \
  X(VFIO_REGION_INFO_FLAG_MMAP, 1 << 2)                            \
  X(VFIO_REGION_INFO_FLAG_CAPS, 1 << 3)                            \
  X(VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1)                           \
  X(VFIO_REGION_INFO_CAP_TYPE, 2)                                  \
  X(VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 3)                         \
  /* region TYPE capability: types and subtypes */                 \
  X(VFIO_REGION_TYPE_PCI_VENDOR_TYPE, 1LL << 31)                   \
  X(VFIO_REGION_TYPE_PCI_VENDOR_MASK, 0xffff)                      \
  X(VFIO_REGION_TYPE_GFX, 1)                                       \
  X(VFIO_REGION_TYPE_CCW, 2)                                       \
  X(VFIO_REGION_TYPE_MIGRATION_DEPRECATED, 3)                      \
  X(VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION, 1)                     \
  X(VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG, 2)                     \
  X(VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG, 3)                      \
  X(VFIO_REGION_SUBTYPE_GFX_EDID, 1)                               \
  X(VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD, 1)                          \
  X(VFIO_REGION_SUBTYPE_CCW_SCHIB, 2)                              \
  X(VFIO_REGION_SUBTYPE_CCW_CRW, 3)                                \
  X(VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED, 1)                   \
  /* vfio_irq_info.flags */                                        \
  X(VFIO_IRQ_INFO_EVENTFD, 1 << 0)                                 \
  X(VFIO_IRQ_INFO_MASKABLE, 1 << 1)                                \
  X(VFIO_IRQ_INFO_AUTOMASKED, 1 << 2)                              \
  X(VFIO_IRQ_INFO_NORESIZE, 1 << 3)                                \
  /* vfio_irq_set.flags */                                         \
  X(VFIO_IRQ_SET_DATA_NONE, 1 << 0)                                \
  X(VFIO_IRQ_SET_DATA_BOOL, 1 << 1)                                \
  X(VFIO_IRQ_SET_DATA_EVENTFD, 1 << 2)                             \
  X(VFIO_IRQ_SET_ACTION_MASK, 1 << 3)                              \
  X(VFIO_IRQ_SET_ACTION_UNMASK, 1 << 4)                            \
  X(VFIO_IRQ_SET_ACTION_TRIGGER, 1 << 5)                           \
  X(VFIO_IRQ_SET_DATA_TYPE_MASK, (1 << 0) | (1 << 1) | (1 << 2))   \
  X(VFIO_IRQ_SET_ACTION_TYPE_MASK, (1 << 3) | (1 << 4) | (1 << 5)) \
  /* vfio-pci region and IRQ indexes */                            \
  X(VFIO_PCI_BAR0_REGION_INDEX, 0)                                 \
  X(VFIO_PCI_BAR1_REGION_INDEX, 1)                                 \
  X(VFIO_PCI_BAR2_REGION_INDEX, 2)                                 \
  X(VFIO_PCI_BAR3_REGION_INDEX, 3)                                 \
  X(VFIO_PCI_BAR4_REGION_INDEX, 4)                                 \
  X(VFIO_PCI_BAR5_REGION_INDEX, 5)                                 \
  X(VFIO_PCI_ROM_REGION_INDEX, 6)                                  \
  X(VFIO_PCI_CONFIG_REGION_INDEX, 7)                               \
  X(VFIO_PCI_VGA_REGION_INDEX, 8)                                  \
  X(VFIO_PCI_NUM_REGIONS, 9)                                       \
  X(VFIO_PCI_INTX_IRQ_INDEX, 0)                                    \
  X(VFIO_PCI_MSI_IRQ_INDEX, 1)                                     \
  X(VFIO_PCI_MSIX_IRQ_INDEX, 2)                                    \
  X(VFIO_PCI_ERR_IRQ_INDEX, 3)                                     \
  X(VFIO_PCI_REQ_IRQ_INDEX, 4)                                     \
  X(VFIO_PCI_NUM_IRQS, 5)                                          \
  /* hot reset */                                                  \
  X(VFIO_PCI_DEVID_OWNED, 0)                                       \
  X(VFIO_PCI_DEVID_NOT_OWNED, -1)                                  \
  X(VFIO_PCI_HOT_RESET_FLAG_DEV_ID, 1 << 0)                        \
  X(VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED, 1 << 1)                  \
  /* iommufd binding of a device cdev */                           \
  X(VFIO_DEVICE_BIND_FLAG_TOKEN, 1 << 0)                           \
  X(VFIO_DEVICE_ATTACH_PASID, 1 << 0)                              \
  X(VFIO_DEVICE_DETACH_PASID, 1 << 0)

VFIO_ABI_BEGIN

VFIO_ABI_CORE_CONSTANTS(VFIO_ABI_DECLARE_CONSTANT)

/* ---- common ---- */

/* Header of every capability in an info chain; next is an offset from the info struct's start. */
struct vfio_info_cap_header {
  uint16_t id;
  uint16_t version;
  uint32_t next;
};
#define VFIO_ABI_LAYOUT_vfio_info_cap_header(F) \
  F(vfio_info_cap_header, id, 0)                \
  F(vfio_info_cap_header, version, 2)           \
  F(vfio_info_cap_header, next, 4)

/* ---- container and group ---- */

struct vfio_group_status {
  uint32_t argsz;
  uint32_t flags;
};
#define VFIO_ABI_LAYOUT_vfio_group_status(F) \
  F(vfio_group_status, argsz, 0)             \
  F(vfio_group_status, flags, 4)

/* ---- device info and device caps ---- */

struct vfio_device_info {
  uint32_t argsz;
  uint32_t flags;
  uint32_t num_regions;
  uint32_t num_irqs;
  uint32_t cap_offset;
  uint32_t pad;
};
#define VFIO_ABI_LAYOUT_vfio_device_info(F) \
  F(vfio_device_info, argsz, 0)             \
  F(vfio_device_info, flags, 4)             \
  F(vfio_device_info, num_regions, 8)       \
  F(vfio_device_info, num_irqs, 12)         \
  F(vfio_device_info, cap_offset, 16)       \
  F(vfio_device_info, pad, 20)

struct vfio_device_info_cap_pci_atomic_comp {
  struct vfio_info_cap_header header;
  uint32_t flags;
  uint32_t reserved;
};
#define VFIO_ABI_LAYOUT_vfio_device_info_cap_pci_atomic_comp(F) \
  F(vfio_device_info_cap_pci_atomic_comp, header, 0)            \
  F(vfio_device_info_cap_pci_atomic_comp, flags, 8)             \
  F(vfio_device_info_cap_pci_atomic_comp, reserved, 12)

/* ---- regions ---- */

struct vfio_region_info {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t cap_offset;
  vfio_abi_aligned_u64 size;
  vfio_abi_aligned_u64 offset; /* where the region starts in the device fd: read it, never compute it */
};
#define VFIO_ABI_LAYOUT_vfio_region_info(F) \
  F(vfio_region_info, argsz, 0)             \
  F(vfio_region_info, flags, 4)             \
  F(vfio_region_info, index, 8)             \
  F(vfio_region_info, cap_offset, 12)       \
  F(vfio_region_info, size, 16)             \
  F(vfio_region_info, offset, 24)

struct vfio_region_sparse_mmap_area {
  vfio_abi_aligned_u64 offset;
  vfio_abi_aligned_u64 size;
};
#define VFIO_ABI_LAYOUT_vfio_region_sparse_mmap_area(F) \
  F(vfio_region_sparse_mmap_area, offset, 0)            \
  F(vfio_region_sparse_mmap_area, size, 8)

struct vfio_region_info_cap_sparse_mmap {
  struct vfio_info_cap_header header;
  uint32_t nr_areas;
  uint32_t reserved;
  struct vfio_region_sparse_mmap_area areas[];
};
#define VFIO_ABI_LAYOUT_vfio_region_info_cap_sparse_mmap(F) \
  F(vfio_region_info_cap_sparse_mmap, header, 0)            \
  F(vfio_region_info_cap_sparse_mmap, nr_areas, 8)          \
  F(vfio_region_info_cap_sparse_mmap, reserved, 12)         \
  F(vfio_region_info_cap_sparse_mmap, areas, 16)

struct vfio_region_info_cap_type {
  struct vfio_info_cap_header header;
  uint32_t type;
  uint32_t subtype;
};
#define VFIO_ABI_LAYOUT_vfio_region_info_cap_type(F) \
  F(vfio_region_info_cap_type, header, 0)            \
  F(vfio_region_info_cap_type, type, 8)              \
  F(vfio_region_info_cap_type, subtype, 12)

/* ---- interrupts ---- */

struct vfio_irq_info {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t count;
};
#define VFIO_ABI_LAYOUT_vfio_irq_info(F) \
  F(vfio_irq_info, argsz, 0)             \
  F(vfio_irq_info, flags, 4)             \
  F(vfio_irq_info, index, 8)             \
  F(vfio_irq_info, count, 12)

/* data[] holds count u8 bools (DATA_BOOL) or count s32 eventfds (DATA_EVENTFD). */
struct vfio_irq_set {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t start;
  uint32_t count;
  uint8_t data[];
};
#define VFIO_ABI_LAYOUT_vfio_irq_set(F) \
  F(vfio_irq_set, argsz, 0)             \
  F(vfio_irq_set, flags, 4)             \
  F(vfio_irq_set, index, 8)             \
  F(vfio_irq_set, start, 12)            \
  F(vfio_irq_set, count, 16)            \
  F(vfio_irq_set, data, 20)

/* ---- PCI hot reset ---- */

/* group_id, or with VFIO_PCI_HOT_RESET_FLAG_DEV_ID a devid (0 owned, -1 not owned). */
struct vfio_pci_dependent_device {
  union {
    uint32_t group_id;
    uint32_t devid;
  };
  uint16_t segment;
  uint8_t bus;
  uint8_t devfn;
};
#define VFIO_ABI_LAYOUT_vfio_pci_dependent_device(F) \
  F(vfio_pci_dependent_device, group_id, 0)          \
  F(vfio_pci_dependent_device, devid, 0)             \
  F(vfio_pci_dependent_device, segment, 4)           \
  F(vfio_pci_dependent_device, bus, 6)               \
  F(vfio_pci_dependent_device, devfn, 7)

struct vfio_pci_hot_reset_info {
  uint32_t argsz;
  uint32_t flags;
  uint32_t count;
  struct vfio_pci_dependent_device devices[];
};
#define VFIO_ABI_LAYOUT_vfio_pci_hot_reset_info(F) \
  F(vfio_pci_hot_reset_info, argsz, 0)             \
  F(vfio_pci_hot_reset_info, flags, 4)             \
  F(vfio_pci_hot_reset_info, count, 8)             \
  F(vfio_pci_hot_reset_info, devices, 12)

struct vfio_pci_hot_reset {
  uint32_t argsz;
  uint32_t flags;
  uint32_t count;
  int32_t group_fds[];
};
#define VFIO_ABI_LAYOUT_vfio_pci_hot_reset(F) \
  F(vfio_pci_hot_reset, argsz, 0)             \
  F(vfio_pci_hot_reset, flags, 4)             \
  F(vfio_pci_hot_reset, count, 8)             \
  F(vfio_pci_hot_reset, group_fds, 12)

/* ---- iommufd binding of a device cdev ---- */

struct vfio_device_bind_iommufd {
  uint32_t argsz;
  uint32_t flags;
  int32_t iommufd;
  uint32_t out_devid;
  vfio_abi_aligned_u64 token_uuid_ptr;
};
#define VFIO_ABI_LAYOUT_vfio_device_bind_iommufd(F) \
  F(vfio_device_bind_iommufd, argsz, 0)             \
  F(vfio_device_bind_iommufd, flags, 4)             \
  F(vfio_device_bind_iommufd, iommufd, 8)           \
  F(vfio_device_bind_iommufd, out_devid, 12)        \
  F(vfio_device_bind_iommufd, token_uuid_ptr, 16)

struct vfio_device_attach_iommufd_pt {
  uint32_t argsz;
  uint32_t flags;
  uint32_t pt_id;
  uint32_t pasid;
};
#define VFIO_ABI_LAYOUT_vfio_device_attach_iommufd_pt(F) \
  F(vfio_device_attach_iommufd_pt, argsz, 0)             \
  F(vfio_device_attach_iommufd_pt, flags, 4)             \
  F(vfio_device_attach_iommufd_pt, pt_id, 8)             \
  F(vfio_device_attach_iommufd_pt, pasid, 12)

struct vfio_device_detach_iommufd_pt {
  uint32_t argsz;
  uint32_t flags;
  uint32_t pasid;
};
#define VFIO_ABI_LAYOUT_vfio_device_detach_iommufd_pt(F) \
  F(vfio_device_detach_iommufd_pt, argsz, 0)             \
  F(vfio_device_detach_iommufd_pt, flags, 4)             \
  F(vfio_device_detach_iommufd_pt, pasid, 8)

#define VFIO_ABI_CORE_STRUCTS(S)              \
  S(vfio_info_cap_header, 8)                  \
  S(vfio_group_status, 8)                     \
  S(vfio_device_info, 24)                     \
  S(vfio_device_info_cap_pci_atomic_comp, 16) \
  S(vfio_region_info, 32)                     \
  S(vfio_region_sparse_mmap_area, 16)         \
  S(vfio_region_info_cap_sparse_mmap, 16)     \
  S(vfio_region_info_cap_type, 16)            \
  S(vfio_irq_info, 16)                        \
  S(vfio_irq_set, 20)                         \
  S(vfio_pci_dependent_device, 8)             \
  S(vfio_pci_hot_reset_info, 12)              \
  S(vfio_pci_hot_reset, 12)                   \
  S(vfio_device_bind_iommufd, 24)             \
  S(vfio_device_attach_iommufd_pt, 16)        \
  S(vfio_device_detach_iommufd_pt, 12)

VFIO_ABI_CORE_STRUCTS(VFIO_ABI_ASSERT_STRUCT)

VFIO_ABI_END

#include "vfio_feature_abi.h"
#include "vfio_ioeventfd_abi.h"
#include "vfio_type1_abi.h"

/* Everything VFIO, for the code that exports or cross-checks all of it. */
#define VFIO_ABI_VFIO_CONSTANTS(X) \
  VFIO_ABI_CORE_CONSTANTS(X) VFIO_ABI_FEATURE_CONSTANTS(X) VFIO_ABI_TYPE1_CONSTANTS(X) VFIO_ABI_IOEVENTFD_CONSTANTS(X)
#define VFIO_ABI_VFIO_STRUCTS(S) \
  VFIO_ABI_CORE_STRUCTS(S) VFIO_ABI_FEATURE_STRUCTS(S) VFIO_ABI_TYPE1_STRUCTS(S) VFIO_ABI_IOEVENTFD_STRUCTS(S)

#endif /* VFIO_ABI_VFIO_H */
