/*
 * The VFIO uAPI as this project uses it, written from the documented interface (Linux
 * include/uapi/linux/vfio.h, 7.3): container, group and device ioctls, info structs and their
 * capabilities, SET_IRQS, device features 0-13, hot reset, iommufd binding. NVLink2 region caps
 * and the sPAPR/EEH interfaces are left out. The names are the uAPI's; see abi_common.h for how
 * the lists below are used. test/tools/abi_check.cc proves every value and offset against the
 * kernel's own header.
 */
#ifndef VFIO_ABI_VFIO_H
#define VFIO_ABI_VFIO_H

#include "abi_common.h"

/* _IO(';', 100 + nr): every VFIO ioctl passes its argument untyped and sizes it with argsz. */
#define VFIO_ABI_IO(nr) _IO(';', 100 + (nr))

#define VFIO_ABI_VFIO_CONSTANTS(X)                                                   \
  /* API version and VFIO_CHECK_EXTENSION ids */                                     \
  X(VFIO_API_VERSION, 0)                                                             \
  X(VFIO_TYPE1_IOMMU, 1)                                                             \
  X(VFIO_SPAPR_TCE_IOMMU, 2)                                                         \
  X(VFIO_TYPE1v2_IOMMU, 3)                                                           \
  X(VFIO_DMA_CC_IOMMU, 4)                                                            \
  X(VFIO_EEH, 5)                                                                     \
  X(VFIO_SPAPR_TCE_v2_IOMMU, 7)                                                      \
  X(VFIO_NOIOMMU_IOMMU, 8)                                                           \
  X(VFIO_UNMAP_ALL, 9)                                                               \
  X(VFIO_UPDATE_VADDR, 10)                                                           \
  X(VFIO_TYPE, ';')                                                                  \
  X(VFIO_BASE, 100)                                                                  \
  /* ioctl numbers */                                                                \
  X(VFIO_GET_API_VERSION, VFIO_ABI_IO(0))                                            \
  X(VFIO_CHECK_EXTENSION, VFIO_ABI_IO(1))                                            \
  X(VFIO_SET_IOMMU, VFIO_ABI_IO(2))                                                  \
  X(VFIO_GROUP_GET_STATUS, VFIO_ABI_IO(3))                                           \
  X(VFIO_GROUP_SET_CONTAINER, VFIO_ABI_IO(4))                                        \
  X(VFIO_GROUP_UNSET_CONTAINER, VFIO_ABI_IO(5))                                      \
  X(VFIO_GROUP_GET_DEVICE_FD, VFIO_ABI_IO(6))                                        \
  X(VFIO_DEVICE_GET_INFO, VFIO_ABI_IO(7))                                            \
  X(VFIO_DEVICE_GET_REGION_INFO, VFIO_ABI_IO(8))                                     \
  X(VFIO_DEVICE_GET_IRQ_INFO, VFIO_ABI_IO(9))                                        \
  X(VFIO_DEVICE_SET_IRQS, VFIO_ABI_IO(10))                                           \
  X(VFIO_DEVICE_RESET, VFIO_ABI_IO(11))                                              \
  X(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, VFIO_ABI_IO(12))                             \
  X(VFIO_DEVICE_PCI_HOT_RESET, VFIO_ABI_IO(13))                                      \
  X(VFIO_DEVICE_FEATURE, VFIO_ABI_IO(17))                                            \
  X(VFIO_DEVICE_BIND_IOMMUFD, VFIO_ABI_IO(18))                                       \
  X(VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_ABI_IO(19))                                  \
  X(VFIO_DEVICE_DETACH_IOMMUFD_PT, VFIO_ABI_IO(20))                                  \
  X(VFIO_MIG_GET_PRECOPY_INFO, VFIO_ABI_IO(21))                                      \
  X(VFIO_IOMMU_GET_INFO, VFIO_ABI_IO(12))                                            \
  X(VFIO_IOMMU_MAP_DMA, VFIO_ABI_IO(13))                                             \
  X(VFIO_IOMMU_UNMAP_DMA, VFIO_ABI_IO(14))                                           \
  /* vfio_group_status.flags */                                                      \
  X(VFIO_GROUP_FLAGS_VIABLE, 1 << 0)                                                 \
  X(VFIO_GROUP_FLAGS_CONTAINER_SET, 1 << 1)                                          \
  /* vfio_device_info.flags */                                                       \
  X(VFIO_DEVICE_FLAGS_RESET, 1 << 0)                                                 \
  X(VFIO_DEVICE_FLAGS_PCI, 1 << 1)                                                   \
  X(VFIO_DEVICE_FLAGS_PLATFORM, 1 << 2)                                              \
  X(VFIO_DEVICE_FLAGS_AMBA, 1 << 3)                                                  \
  X(VFIO_DEVICE_FLAGS_CCW, 1 << 4)                                                   \
  X(VFIO_DEVICE_FLAGS_AP, 1 << 5)                                                    \
  X(VFIO_DEVICE_FLAGS_FSL_MC, 1 << 6)                                                \
  X(VFIO_DEVICE_FLAGS_CAPS, 1 << 7)                                                  \
  X(VFIO_DEVICE_FLAGS_CDX, 1 << 8)                                                   \
  /* device info capability ids */                                                   \
  X(VFIO_DEVICE_INFO_CAP_ZPCI_BASE, 1)                                               \
  X(VFIO_DEVICE_INFO_CAP_ZPCI_GROUP, 2)                                              \
  X(VFIO_DEVICE_INFO_CAP_ZPCI_UTIL, 3)                                               \
  X(VFIO_DEVICE_INFO_CAP_ZPCI_PFIP, 4)                                               \
  X(VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP, 5)                                         \
  X(VFIO_PCI_ATOMIC_COMP32, 1 << 0)                                                  \
  X(VFIO_PCI_ATOMIC_COMP64, 1 << 1)                                                  \
  X(VFIO_PCI_ATOMIC_COMP128, 1 << 2)                                                 \
  /* vfio_region_info.flags and region capability ids */                             \
  X(VFIO_REGION_INFO_FLAG_READ, 1 << 0)                                              \
  X(VFIO_REGION_INFO_FLAG_WRITE, 1 << 1)                                             \
  X(VFIO_REGION_INFO_FLAG_MMAP, 1 << 2)                                              \
  X(VFIO_REGION_INFO_FLAG_CAPS, 1 << 3)                                              \
  X(VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1)                                             \
  X(VFIO_REGION_INFO_CAP_TYPE, 2)                                                    \
  X(VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 3)                                           \
  /* region TYPE capability: types and subtypes */                                   \
  X(VFIO_REGION_TYPE_PCI_VENDOR_TYPE, 1LL << 31)                                     \
  X(VFIO_REGION_TYPE_PCI_VENDOR_MASK, 0xffff)                                        \
  X(VFIO_REGION_TYPE_GFX, 1)                                                         \
  X(VFIO_REGION_TYPE_CCW, 2)                                                         \
  X(VFIO_REGION_TYPE_MIGRATION_DEPRECATED, 3)                                        \
  X(VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION, 1)                                       \
  X(VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG, 2)                                       \
  X(VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG, 3)                                        \
  X(VFIO_REGION_SUBTYPE_GFX_EDID, 1)                                                 \
  X(VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD, 1)                                            \
  X(VFIO_REGION_SUBTYPE_CCW_SCHIB, 2)                                                \
  X(VFIO_REGION_SUBTYPE_CCW_CRW, 3)                                                  \
  X(VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED, 1)                                     \
  /* vfio_irq_info.flags */                                                          \
  X(VFIO_IRQ_INFO_EVENTFD, 1 << 0)                                                   \
  X(VFIO_IRQ_INFO_MASKABLE, 1 << 1)                                                  \
  X(VFIO_IRQ_INFO_AUTOMASKED, 1 << 2)                                                \
  X(VFIO_IRQ_INFO_NORESIZE, 1 << 3)                                                  \
  /* vfio_irq_set.flags */                                                           \
  X(VFIO_IRQ_SET_DATA_NONE, 1 << 0)                                                  \
  X(VFIO_IRQ_SET_DATA_BOOL, 1 << 1)                                                  \
  X(VFIO_IRQ_SET_DATA_EVENTFD, 1 << 2)                                               \
  X(VFIO_IRQ_SET_ACTION_MASK, 1 << 3)                                                \
  X(VFIO_IRQ_SET_ACTION_UNMASK, 1 << 4)                                              \
  X(VFIO_IRQ_SET_ACTION_TRIGGER, 1 << 5)                                             \
  X(VFIO_IRQ_SET_DATA_TYPE_MASK, (1 << 0) | (1 << 1) | (1 << 2))                     \
  X(VFIO_IRQ_SET_ACTION_TYPE_MASK, (1 << 3) | (1 << 4) | (1 << 5))                   \
  /* vfio-pci region and IRQ indexes */                                              \
  X(VFIO_PCI_BAR0_REGION_INDEX, 0)                                                   \
  X(VFIO_PCI_BAR1_REGION_INDEX, 1)                                                   \
  X(VFIO_PCI_BAR2_REGION_INDEX, 2)                                                   \
  X(VFIO_PCI_BAR3_REGION_INDEX, 3)                                                   \
  X(VFIO_PCI_BAR4_REGION_INDEX, 4)                                                   \
  X(VFIO_PCI_BAR5_REGION_INDEX, 5)                                                   \
  X(VFIO_PCI_ROM_REGION_INDEX, 6)                                                    \
  X(VFIO_PCI_CONFIG_REGION_INDEX, 7)                                                 \
  X(VFIO_PCI_VGA_REGION_INDEX, 8)                                                    \
  X(VFIO_PCI_NUM_REGIONS, 9)                                                         \
  X(VFIO_PCI_INTX_IRQ_INDEX, 0)                                                      \
  X(VFIO_PCI_MSI_IRQ_INDEX, 1)                                                       \
  X(VFIO_PCI_MSIX_IRQ_INDEX, 2)                                                      \
  X(VFIO_PCI_ERR_IRQ_INDEX, 3)                                                       \
  X(VFIO_PCI_REQ_IRQ_INDEX, 4)                                                       \
  X(VFIO_PCI_NUM_IRQS, 5)                                                            \
  /* hot reset */                                                                    \
  X(VFIO_PCI_DEVID_OWNED, 0)                                                         \
  X(VFIO_PCI_DEVID_NOT_OWNED, -1)                                                    \
  X(VFIO_PCI_HOT_RESET_FLAG_DEV_ID, 1 << 0)                                          \
  X(VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED, 1 << 1)                                    \
  /* VFIO_DEVICE_FEATURE: flags and feature indexes */                               \
  X(VFIO_DEVICE_FEATURE_MASK, 0xffff)                                                \
  X(VFIO_DEVICE_FEATURE_GET, 1 << 16)                                                \
  X(VFIO_DEVICE_FEATURE_SET, 1 << 17)                                                \
  X(VFIO_DEVICE_FEATURE_PROBE, 1 << 18)                                              \
  X(VFIO_DEVICE_FEATURE_PCI_VF_TOKEN, 0)                                             \
  X(VFIO_DEVICE_FEATURE_MIGRATION, 1)                                                \
  X(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 2)                                         \
  X(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, 3)                                          \
  X(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP, 4)                              \
  X(VFIO_DEVICE_FEATURE_LOW_POWER_EXIT, 5)                                           \
  X(VFIO_DEVICE_FEATURE_DMA_LOGGING_START, 6)                                        \
  X(VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, 7)                                         \
  X(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, 8)                                       \
  X(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, 9)                                            \
  X(VFIO_DEVICE_FEATURE_BUS_MASTER, 10)                                              \
  X(VFIO_DEVICE_FEATURE_DMA_BUF, 11)                                                 \
  X(VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, 12)                                      \
  X(VFIO_DEVICE_FEATURE_ZPCI_ERROR, 13)                                              \
  /* feature payload values */                                                       \
  X(VFIO_MIGRATION_STOP_COPY, 1 << 0)                                                \
  X(VFIO_MIGRATION_P2P, 1 << 1)                                                      \
  X(VFIO_MIGRATION_PRE_COPY, 1 << 2)                                                 \
  X(VFIO_DEVICE_STATE_ERROR, 0)                                                      \
  X(VFIO_DEVICE_STATE_STOP, 1)                                                       \
  X(VFIO_DEVICE_STATE_RUNNING, 2)                                                    \
  X(VFIO_DEVICE_STATE_STOP_COPY, 3)                                                  \
  X(VFIO_DEVICE_STATE_RESUMING, 4)                                                   \
  X(VFIO_DEVICE_STATE_RUNNING_P2P, 5)                                                \
  X(VFIO_DEVICE_STATE_PRE_COPY, 6)                                                   \
  X(VFIO_DEVICE_STATE_PRE_COPY_P2P, 7)                                               \
  X(VFIO_PRECOPY_INFO_REINIT, 1 << 0)                                                \
  X(VFIO_DEVICE_FEATURE_CLEAR_MASTER, 0)                                             \
  X(VFIO_DEVICE_FEATURE_SET_MASTER, 1)                                               \
  /* iommufd binding of a device cdev */                                             \
  X(VFIO_DEVICE_BIND_FLAG_TOKEN, 1 << 0)                                             \
  X(VFIO_DEVICE_ATTACH_PASID, 1 << 0)                                                \
  X(VFIO_DEVICE_DETACH_PASID, 1 << 0)                                                \
  /* type1 IOMMU: info flags and caps, DMA map/unmap flags */                        \
  X(VFIO_IOMMU_INFO_PGSIZES, 1 << 0)                                                 \
  X(VFIO_IOMMU_INFO_CAPS, 1 << 1)                                                    \
  X(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1)                                         \
  X(VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 2)                                          \
  X(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 3)                                              \
  X(VFIO_DMA_MAP_FLAG_READ, 1 << 0)                                                  \
  X(VFIO_DMA_MAP_FLAG_WRITE, 1 << 1)                                                 \
  X(VFIO_DMA_MAP_FLAG_VADDR, 1 << 2)                                                 \
  X(VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 1 << 0)                                    \
  X(VFIO_DMA_UNMAP_FLAG_ALL, 1 << 1)                                                 \
  X(VFIO_DMA_UNMAP_FLAG_VADDR, 1 << 2)

VFIO_ABI_BEGIN

VFIO_ABI_VFIO_CONSTANTS(VFIO_ABI_DECLARE_CONSTANT)

/* ---- common ---- */

/* Header of every capability in an info chain; next is an offset from the info struct's start. */
struct vfio_info_cap_header {
  uint16_t id;
  uint16_t version;
  uint32_t next;
};
#define VFIO_ABI_LAYOUT_vfio_info_cap_header(F) \
  F(vfio_info_cap_header, id, 0) F(vfio_info_cap_header, version, 2) F(vfio_info_cap_header, next, 4)

/* ---- container and group ---- */

struct vfio_group_status {
  uint32_t argsz;
  uint32_t flags;
};
#define VFIO_ABI_LAYOUT_vfio_group_status(F) F(vfio_group_status, argsz, 0) F(vfio_group_status, flags, 4)

/* ---- device info and device caps ---- */

struct vfio_device_info {
  uint32_t argsz;
  uint32_t flags;
  uint32_t num_regions;
  uint32_t num_irqs;
  uint32_t cap_offset;
  uint32_t pad;
};
#define VFIO_ABI_LAYOUT_vfio_device_info(F)                                             \
  F(vfio_device_info, argsz, 0) F(vfio_device_info, flags, 4)                           \
  F(vfio_device_info, num_regions, 8) F(vfio_device_info, num_irqs, 12)                 \
  F(vfio_device_info, cap_offset, 16) F(vfio_device_info, pad, 20)

struct vfio_device_info_cap_pci_atomic_comp {
  struct vfio_info_cap_header header;
  uint32_t flags;
  uint32_t reserved;
};
#define VFIO_ABI_LAYOUT_vfio_device_info_cap_pci_atomic_comp(F)                         \
  F(vfio_device_info_cap_pci_atomic_comp, header, 0)                                    \
  F(vfio_device_info_cap_pci_atomic_comp, flags, 8)                                     \
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
#define VFIO_ABI_LAYOUT_vfio_region_info(F)                                             \
  F(vfio_region_info, argsz, 0) F(vfio_region_info, flags, 4)                           \
  F(vfio_region_info, index, 8) F(vfio_region_info, cap_offset, 12)                     \
  F(vfio_region_info, size, 16) F(vfio_region_info, offset, 24)

struct vfio_region_sparse_mmap_area {
  vfio_abi_aligned_u64 offset;
  vfio_abi_aligned_u64 size;
};
#define VFIO_ABI_LAYOUT_vfio_region_sparse_mmap_area(F) \
  F(vfio_region_sparse_mmap_area, offset, 0) F(vfio_region_sparse_mmap_area, size, 8)

struct vfio_region_info_cap_sparse_mmap {
  struct vfio_info_cap_header header;
  uint32_t nr_areas;
  uint32_t reserved;
  struct vfio_region_sparse_mmap_area areas[];
};
#define VFIO_ABI_LAYOUT_vfio_region_info_cap_sparse_mmap(F)                             \
  F(vfio_region_info_cap_sparse_mmap, header, 0)                                        \
  F(vfio_region_info_cap_sparse_mmap, nr_areas, 8)                                      \
  F(vfio_region_info_cap_sparse_mmap, reserved, 12)                                     \
  F(vfio_region_info_cap_sparse_mmap, areas, 16)

struct vfio_region_info_cap_type {
  struct vfio_info_cap_header header;
  uint32_t type;
  uint32_t subtype;
};
#define VFIO_ABI_LAYOUT_vfio_region_info_cap_type(F)                                    \
  F(vfio_region_info_cap_type, header, 0) F(vfio_region_info_cap_type, type, 8)         \
  F(vfio_region_info_cap_type, subtype, 12)

/* ---- interrupts ---- */

struct vfio_irq_info {
  uint32_t argsz;
  uint32_t flags;
  uint32_t index;
  uint32_t count;
};
#define VFIO_ABI_LAYOUT_vfio_irq_info(F)                                                \
  F(vfio_irq_info, argsz, 0) F(vfio_irq_info, flags, 4) F(vfio_irq_info, index, 8)      \
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
#define VFIO_ABI_LAYOUT_vfio_irq_set(F)                                                 \
  F(vfio_irq_set, argsz, 0) F(vfio_irq_set, flags, 4) F(vfio_irq_set, index, 8)         \
  F(vfio_irq_set, start, 12) F(vfio_irq_set, count, 16) F(vfio_irq_set, data, 20)

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
#define VFIO_ABI_LAYOUT_vfio_pci_dependent_device(F)                                    \
  F(vfio_pci_dependent_device, group_id, 0) F(vfio_pci_dependent_device, devid, 0)      \
  F(vfio_pci_dependent_device, segment, 4) F(vfio_pci_dependent_device, bus, 6)         \
  F(vfio_pci_dependent_device, devfn, 7)

struct vfio_pci_hot_reset_info {
  uint32_t argsz;
  uint32_t flags;
  uint32_t count;
  struct vfio_pci_dependent_device devices[];
};
#define VFIO_ABI_LAYOUT_vfio_pci_hot_reset_info(F)                                      \
  F(vfio_pci_hot_reset_info, argsz, 0) F(vfio_pci_hot_reset_info, flags, 4)             \
  F(vfio_pci_hot_reset_info, count, 8) F(vfio_pci_hot_reset_info, devices, 12)

struct vfio_pci_hot_reset {
  uint32_t argsz;
  uint32_t flags;
  uint32_t count;
  int32_t group_fds[];
};
#define VFIO_ABI_LAYOUT_vfio_pci_hot_reset(F)                                           \
  F(vfio_pci_hot_reset, argsz, 0) F(vfio_pci_hot_reset, flags, 4)                       \
  F(vfio_pci_hot_reset, count, 8) F(vfio_pci_hot_reset, group_fds, 12)

/* ---- device features ---- */

/* flags = feature index | GET/SET/PROBE; data[] is the feature's payload. */
struct vfio_device_feature {
  uint32_t argsz;
  uint32_t flags;
  uint8_t data[];
};
#define VFIO_ABI_LAYOUT_vfio_device_feature(F) \
  F(vfio_device_feature, argsz, 0) F(vfio_device_feature, flags, 4) F(vfio_device_feature, data, 8)

struct vfio_device_feature_migration {
  vfio_abi_aligned_u64 flags;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_migration(F) F(vfio_device_feature_migration, flags, 0)

struct vfio_device_feature_mig_state {
  uint32_t device_state;
  int32_t data_fd;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_mig_state(F) \
  F(vfio_device_feature_mig_state, device_state, 0) F(vfio_device_feature_mig_state, data_fd, 4)

/* Argument of VFIO_MIG_GET_PRECOPY_INFO on a migration data fd. */
struct vfio_precopy_info {
  uint32_t argsz;
  uint32_t flags;
  vfio_abi_aligned_u64 initial_bytes;
  vfio_abi_aligned_u64 dirty_bytes;
};
#define VFIO_ABI_LAYOUT_vfio_precopy_info(F)                                            \
  F(vfio_precopy_info, argsz, 0) F(vfio_precopy_info, flags, 4)                         \
  F(vfio_precopy_info, initial_bytes, 8) F(vfio_precopy_info, dirty_bytes, 16)

struct vfio_device_low_power_entry_with_wakeup {
  int32_t wakeup_eventfd;
  uint32_t reserved;
};
#define VFIO_ABI_LAYOUT_vfio_device_low_power_entry_with_wakeup(F)                      \
  F(vfio_device_low_power_entry_with_wakeup, wakeup_eventfd, 0)                         \
  F(vfio_device_low_power_entry_with_wakeup, reserved, 4)

/* ranges is a user pointer to num_ranges vfio_device_feature_dma_logging_range. */
struct vfio_device_feature_dma_logging_control {
  vfio_abi_aligned_u64 page_size;
  uint32_t num_ranges;
  uint32_t __reserved;
  vfio_abi_aligned_u64 ranges;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_dma_logging_control(F)                      \
  F(vfio_device_feature_dma_logging_control, page_size, 0)                              \
  F(vfio_device_feature_dma_logging_control, num_ranges, 8)                             \
  F(vfio_device_feature_dma_logging_control, __reserved, 12)                            \
  F(vfio_device_feature_dma_logging_control, ranges, 16)

struct vfio_device_feature_dma_logging_range {
  vfio_abi_aligned_u64 iova;
  vfio_abi_aligned_u64 length;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_dma_logging_range(F)                        \
  F(vfio_device_feature_dma_logging_range, iova, 0)                                     \
  F(vfio_device_feature_dma_logging_range, length, 8)

/* bitmap is a user pointer to u64 words, one bit per page_size of IOVA. */
struct vfio_device_feature_dma_logging_report {
  vfio_abi_aligned_u64 iova;
  vfio_abi_aligned_u64 length;
  vfio_abi_aligned_u64 page_size;
  vfio_abi_aligned_u64 bitmap;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_dma_logging_report(F)                       \
  F(vfio_device_feature_dma_logging_report, iova, 0)                                    \
  F(vfio_device_feature_dma_logging_report, length, 8)                                  \
  F(vfio_device_feature_dma_logging_report, page_size, 16)                              \
  F(vfio_device_feature_dma_logging_report, bitmap, 24)

struct vfio_device_feature_mig_data_size {
  vfio_abi_aligned_u64 stop_copy_length;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_mig_data_size(F) \
  F(vfio_device_feature_mig_data_size, stop_copy_length, 0)

struct vfio_device_feature_bus_master {
  uint32_t op;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_bus_master(F) F(vfio_device_feature_bus_master, op, 0)

struct vfio_region_dma_range {
  uint64_t offset;
  uint64_t length;
};
#define VFIO_ABI_LAYOUT_vfio_region_dma_range(F) \
  F(vfio_region_dma_range, offset, 0) F(vfio_region_dma_range, length, 8)

/* DMA_BUF (GET): exports nr_ranges slices of one region as a dma-buf; the ioctl returns its fd. */
struct vfio_device_feature_dma_buf {
  uint32_t region_index;
  uint32_t open_flags;
  uint32_t flags;
  uint32_t nr_ranges;
  struct vfio_region_dma_range dma_ranges[];
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_dma_buf(F)                                  \
  F(vfio_device_feature_dma_buf, region_index, 0)                                       \
  F(vfio_device_feature_dma_buf, open_flags, 4)                                         \
  F(vfio_device_feature_dma_buf, flags, 8)                                              \
  F(vfio_device_feature_dma_buf, nr_ranges, 12)                                         \
  F(vfio_device_feature_dma_buf, dma_ranges, 16)

struct vfio_device_feature_zpci_err {
  vfio_abi_aligned_u64 data;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_zpci_err(F) F(vfio_device_feature_zpci_err, data, 0)

/* ---- iommufd binding of a device cdev ---- */

struct vfio_device_bind_iommufd {
  uint32_t argsz;
  uint32_t flags;
  int32_t iommufd;
  uint32_t out_devid;
  vfio_abi_aligned_u64 token_uuid_ptr;
};
#define VFIO_ABI_LAYOUT_vfio_device_bind_iommufd(F)                                     \
  F(vfio_device_bind_iommufd, argsz, 0) F(vfio_device_bind_iommufd, flags, 4)           \
  F(vfio_device_bind_iommufd, iommufd, 8) F(vfio_device_bind_iommufd, out_devid, 12)    \
  F(vfio_device_bind_iommufd, token_uuid_ptr, 16)

struct vfio_device_attach_iommufd_pt {
  uint32_t argsz;
  uint32_t flags;
  uint32_t pt_id;
  uint32_t pasid;
};
#define VFIO_ABI_LAYOUT_vfio_device_attach_iommufd_pt(F)                                \
  F(vfio_device_attach_iommufd_pt, argsz, 0) F(vfio_device_attach_iommufd_pt, flags, 4) \
  F(vfio_device_attach_iommufd_pt, pt_id, 8) F(vfio_device_attach_iommufd_pt, pasid, 12)

struct vfio_device_detach_iommufd_pt {
  uint32_t argsz;
  uint32_t flags;
  uint32_t pasid;
};
#define VFIO_ABI_LAYOUT_vfio_device_detach_iommufd_pt(F)                                \
  F(vfio_device_detach_iommufd_pt, argsz, 0) F(vfio_device_detach_iommufd_pt, flags, 4) \
  F(vfio_device_detach_iommufd_pt, pasid, 8)

/* ---- type1 IOMMU (container) ---- */

struct vfio_iommu_type1_info {
  uint32_t argsz;
  uint32_t flags;
  vfio_abi_aligned_u64 iova_pgsizes;
  uint32_t cap_offset;
  uint32_t pad;
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_info(F)                                        \
  F(vfio_iommu_type1_info, argsz, 0) F(vfio_iommu_type1_info, flags, 4)                 \
  F(vfio_iommu_type1_info, iova_pgsizes, 8) F(vfio_iommu_type1_info, cap_offset, 16)    \
  F(vfio_iommu_type1_info, pad, 20)

/* end is inclusive. */
struct vfio_iova_range {
  uint64_t start;
  uint64_t end;
};
#define VFIO_ABI_LAYOUT_vfio_iova_range(F) F(vfio_iova_range, start, 0) F(vfio_iova_range, end, 8)

struct vfio_iommu_type1_info_cap_iova_range {
  struct vfio_info_cap_header header;
  uint32_t nr_iovas;
  uint32_t reserved;
  struct vfio_iova_range iova_ranges[];
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_info_cap_iova_range(F)                         \
  F(vfio_iommu_type1_info_cap_iova_range, header, 0)                                    \
  F(vfio_iommu_type1_info_cap_iova_range, nr_iovas, 8)                                  \
  F(vfio_iommu_type1_info_cap_iova_range, reserved, 12)                                 \
  F(vfio_iommu_type1_info_cap_iova_range, iova_ranges, 16)

struct vfio_iommu_type1_info_cap_migration {
  struct vfio_info_cap_header header;
  uint32_t flags;
  uint64_t pgsize_bitmap;
  uint64_t max_dirty_bitmap_size;
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_info_cap_migration(F)                          \
  F(vfio_iommu_type1_info_cap_migration, header, 0)                                     \
  F(vfio_iommu_type1_info_cap_migration, flags, 8)                                      \
  F(vfio_iommu_type1_info_cap_migration, pgsize_bitmap, 16)                             \
  F(vfio_iommu_type1_info_cap_migration, max_dirty_bitmap_size, 24)

/* avail: how many more MAP_DMA mappings the container accepts (the 65535 limit). */
struct vfio_iommu_type1_info_dma_avail {
  struct vfio_info_cap_header header;
  uint32_t avail;
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_info_dma_avail(F) \
  F(vfio_iommu_type1_info_dma_avail, header, 0) F(vfio_iommu_type1_info_dma_avail, avail, 8)

struct vfio_iommu_type1_dma_map {
  uint32_t argsz;
  uint32_t flags;
  uint64_t vaddr;
  uint64_t iova;
  uint64_t size;
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_dma_map(F)                                     \
  F(vfio_iommu_type1_dma_map, argsz, 0) F(vfio_iommu_type1_dma_map, flags, 4)           \
  F(vfio_iommu_type1_dma_map, vaddr, 8) F(vfio_iommu_type1_dma_map, iova, 16)           \
  F(vfio_iommu_type1_dma_map, size, 24)

/* size is written back with the number of bytes unmapped. */
struct vfio_iommu_type1_dma_unmap {
  uint32_t argsz;
  uint32_t flags;
  uint64_t iova;
  uint64_t size;
  uint8_t data[];
};
#define VFIO_ABI_LAYOUT_vfio_iommu_type1_dma_unmap(F)                                   \
  F(vfio_iommu_type1_dma_unmap, argsz, 0) F(vfio_iommu_type1_dma_unmap, flags, 4)       \
  F(vfio_iommu_type1_dma_unmap, iova, 8) F(vfio_iommu_type1_dma_unmap, size, 16)        \
  F(vfio_iommu_type1_dma_unmap, data, 24)

#define VFIO_ABI_VFIO_STRUCTS(S)                                                     \
  S(vfio_info_cap_header, 8)                                                         \
  S(vfio_group_status, 8)                                                            \
  S(vfio_device_info, 24)                                                            \
  S(vfio_device_info_cap_pci_atomic_comp, 16)                                        \
  S(vfio_region_info, 32)                                                            \
  S(vfio_region_sparse_mmap_area, 16)                                                \
  S(vfio_region_info_cap_sparse_mmap, 16)                                            \
  S(vfio_region_info_cap_type, 16)                                                   \
  S(vfio_irq_info, 16)                                                               \
  S(vfio_irq_set, 20)                                                                \
  S(vfio_pci_dependent_device, 8)                                                    \
  S(vfio_pci_hot_reset_info, 12)                                                     \
  S(vfio_pci_hot_reset, 12)                                                          \
  S(vfio_device_feature, 8)                                                          \
  S(vfio_device_feature_migration, 8)                                                \
  S(vfio_device_feature_mig_state, 8)                                                \
  S(vfio_precopy_info, 24)                                                           \
  S(vfio_device_low_power_entry_with_wakeup, 8)                                      \
  S(vfio_device_feature_dma_logging_control, 24)                                     \
  S(vfio_device_feature_dma_logging_range, 16)                                       \
  S(vfio_device_feature_dma_logging_report, 32)                                      \
  S(vfio_device_feature_mig_data_size, 8)                                            \
  S(vfio_device_feature_bus_master, 4)                                               \
  S(vfio_region_dma_range, 16)                                                       \
  S(vfio_device_feature_dma_buf, 16)                                                 \
  S(vfio_device_feature_zpci_err, 8)                                                 \
  S(vfio_device_bind_iommufd, 24)                                                    \
  S(vfio_device_attach_iommufd_pt, 16)                                               \
  S(vfio_device_detach_iommufd_pt, 12)                                               \
  S(vfio_iommu_type1_info, 24)                                                       \
  S(vfio_iova_range, 16)                                                             \
  S(vfio_iommu_type1_info_cap_iova_range, 16)                                        \
  S(vfio_iommu_type1_info_cap_migration, 32)                                         \
  S(vfio_iommu_type1_info_dma_avail, 12)                                             \
  S(vfio_iommu_type1_dma_map, 32)                                                    \
  S(vfio_iommu_type1_dma_unmap, 24)

VFIO_ABI_VFIO_STRUCTS(VFIO_ABI_ASSERT_STRUCT)

VFIO_ABI_END

#endif /* VFIO_ABI_VFIO_H */
