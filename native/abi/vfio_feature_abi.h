/*
 * VFIO_DEVICE_FEATURE (Linux include/uapi/linux/vfio.h, 7.3): the flags, feature indexes 0-13
 * and their payload structs. Indexes from 14 on are contested by unmerged series: never assume
 * them. Part of vfio_abi.h (see there).
 */
#ifndef VFIO_ABI_VFIO_FEATURE_H
#define VFIO_ABI_VFIO_FEATURE_H

#ifndef VFIO_ABI_VFIO_H
#error "include abi/vfio_abi.h, which includes this header after the structs it builds on"
#endif

#define VFIO_ABI_FEATURE_CONSTANTS(X)                                        \
  /* the ioctl, flags (index in bits 0-15) and feature indexes */            \
  X(VFIO_DEVICE_FEATURE, VFIO_ABI_IO(17))                                    \
  X(VFIO_DEVICE_FEATURE_MASK, 0xffff)                                        \
  X(VFIO_DEVICE_FEATURE_GET, 1 << 16)                                        \
  X(VFIO_DEVICE_FEATURE_SET, 1 << 17)                                        \
  X(VFIO_DEVICE_FEATURE_PROBE, 1 << 18)                                      \
  X(VFIO_DEVICE_FEATURE_PCI_VF_TOKEN, 0)                                     \
  X(VFIO_DEVICE_FEATURE_MIGRATION, 1)                                        \
  X(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 2)                                 \
  X(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, 3)                                  \
  X(VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP, 4)                      \
  X(VFIO_DEVICE_FEATURE_LOW_POWER_EXIT, 5)                                   \
  X(VFIO_DEVICE_FEATURE_DMA_LOGGING_START, 6)                                \
  X(VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, 7)                                 \
  X(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, 8)                               \
  X(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, 9)                                    \
  X(VFIO_DEVICE_FEATURE_BUS_MASTER, 10)                                      \
  X(VFIO_DEVICE_FEATURE_DMA_BUF, 11)                                         \
  X(VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, 12)                              \
  X(VFIO_DEVICE_FEATURE_ZPCI_ERROR, 13)                                      \
  X(VFIO_MIG_GET_PRECOPY_INFO, VFIO_ABI_IO(21)) /* on a migration data fd */ \
  /* feature payload values */                                               \
  X(VFIO_MIGRATION_STOP_COPY, 1 << 0)                                        \
  X(VFIO_MIGRATION_P2P, 1 << 1)                                              \
  X(VFIO_MIGRATION_PRE_COPY, 1 << 2)                                         \
  X(VFIO_DEVICE_STATE_ERROR, 0)                                              \
  X(VFIO_DEVICE_STATE_STOP, 1)                                               \
  X(VFIO_DEVICE_STATE_RUNNING, 2)                                            \
  X(VFIO_DEVICE_STATE_STOP_COPY, 3)                                          \
  X(VFIO_DEVICE_STATE_RESUMING, 4)                                           \
  X(VFIO_DEVICE_STATE_RUNNING_P2P, 5)                                        \
  X(VFIO_DEVICE_STATE_PRE_COPY, 6)                                           \
  X(VFIO_DEVICE_STATE_PRE_COPY_P2P, 7)                                       \
  X(VFIO_PRECOPY_INFO_REINIT, 1 << 0)                                        \
  X(VFIO_DEVICE_FEATURE_CLEAR_MASTER, 0)                                     \
  X(VFIO_DEVICE_FEATURE_SET_MASTER, 1)

VFIO_ABI_BEGIN

VFIO_ABI_FEATURE_CONSTANTS(VFIO_ABI_DECLARE_CONSTANT)

/* ---- device features ---- */

/* flags = feature index | GET/SET/PROBE; data[] is the feature's payload. */
struct vfio_device_feature {
  uint32_t argsz;
  uint32_t flags;
  uint8_t data[];
};
#define VFIO_ABI_LAYOUT_vfio_device_feature(F) \
  F(vfio_device_feature, argsz, 0)             \
  F(vfio_device_feature, flags, 4)             \
  F(vfio_device_feature, data, 8)

struct vfio_device_feature_migration {
  vfio_abi_aligned_u64 flags;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_migration(F) F(vfio_device_feature_migration, flags, 0)

struct vfio_device_feature_mig_state {
  uint32_t device_state;
  int32_t data_fd;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_mig_state(F) \
  F(vfio_device_feature_mig_state, device_state, 0)      \
  F(vfio_device_feature_mig_state, data_fd, 4)

/* Argument of VFIO_MIG_GET_PRECOPY_INFO on a migration data fd. */
struct vfio_precopy_info {
  uint32_t argsz;
  uint32_t flags;
  vfio_abi_aligned_u64 initial_bytes;
  vfio_abi_aligned_u64 dirty_bytes;
};
#define VFIO_ABI_LAYOUT_vfio_precopy_info(F) \
  F(vfio_precopy_info, argsz, 0)             \
  F(vfio_precopy_info, flags, 4)             \
  F(vfio_precopy_info, initial_bytes, 8)     \
  F(vfio_precopy_info, dirty_bytes, 16)

struct vfio_device_low_power_entry_with_wakeup {
  int32_t wakeup_eventfd;
  uint32_t reserved;
};
#define VFIO_ABI_LAYOUT_vfio_device_low_power_entry_with_wakeup(F) \
  F(vfio_device_low_power_entry_with_wakeup, wakeup_eventfd, 0)    \
  F(vfio_device_low_power_entry_with_wakeup, reserved, 4)

/* ranges is a user pointer to num_ranges vfio_device_feature_dma_logging_range. */
struct vfio_device_feature_dma_logging_control {
  vfio_abi_aligned_u64 page_size;
  uint32_t num_ranges;
  uint32_t __reserved;
  vfio_abi_aligned_u64 ranges;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_dma_logging_control(F) \
  F(vfio_device_feature_dma_logging_control, page_size, 0)         \
  F(vfio_device_feature_dma_logging_control, num_ranges, 8)        \
  F(vfio_device_feature_dma_logging_control, __reserved, 12)       \
  F(vfio_device_feature_dma_logging_control, ranges, 16)

struct vfio_device_feature_dma_logging_range {
  vfio_abi_aligned_u64 iova;
  vfio_abi_aligned_u64 length;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_dma_logging_range(F) \
  F(vfio_device_feature_dma_logging_range, iova, 0)              \
  F(vfio_device_feature_dma_logging_range, length, 8)

/* bitmap is a user pointer to u64 words, one bit per page_size of IOVA. */
struct vfio_device_feature_dma_logging_report {
  vfio_abi_aligned_u64 iova;
  vfio_abi_aligned_u64 length;
  vfio_abi_aligned_u64 page_size;
  vfio_abi_aligned_u64 bitmap;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_dma_logging_report(F) \
  F(vfio_device_feature_dma_logging_report, iova, 0)              \
  F(vfio_device_feature_dma_logging_report, length, 8)            \
  F(vfio_device_feature_dma_logging_report, page_size, 16)        \
  F(vfio_device_feature_dma_logging_report, bitmap, 24)

struct vfio_device_feature_mig_data_size {
  vfio_abi_aligned_u64 stop_copy_length;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_mig_data_size(F) F(vfio_device_feature_mig_data_size, stop_copy_length, 0)

struct vfio_device_feature_bus_master {
  uint32_t op;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_bus_master(F) F(vfio_device_feature_bus_master, op, 0)

struct vfio_region_dma_range {
  uint64_t offset;
  uint64_t length;
};
#define VFIO_ABI_LAYOUT_vfio_region_dma_range(F) \
  F(vfio_region_dma_range, offset, 0)            \
  F(vfio_region_dma_range, length, 8)

/* DMA_BUF (GET): exports nr_ranges slices of one region as a dma-buf; the ioctl returns its fd. */
struct vfio_device_feature_dma_buf {
  uint32_t region_index;
  uint32_t open_flags;
  uint32_t flags;
  uint32_t nr_ranges;
  struct vfio_region_dma_range dma_ranges[];
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_dma_buf(F) \
  F(vfio_device_feature_dma_buf, region_index, 0)      \
  F(vfio_device_feature_dma_buf, open_flags, 4)        \
  F(vfio_device_feature_dma_buf, flags, 8)             \
  F(vfio_device_feature_dma_buf, nr_ranges, 12)        \
  F(vfio_device_feature_dma_buf, dma_ranges, 16)

struct vfio_device_feature_zpci_err {
  vfio_abi_aligned_u64 data;
};
#define VFIO_ABI_LAYOUT_vfio_device_feature_zpci_err(F) F(vfio_device_feature_zpci_err, data, 0)

#define VFIO_ABI_FEATURE_STRUCTS(S)              \
  S(vfio_device_feature, 8)                      \
  S(vfio_device_feature_migration, 8)            \
  S(vfio_device_feature_mig_state, 8)            \
  S(vfio_precopy_info, 24)                       \
  S(vfio_device_low_power_entry_with_wakeup, 8)  \
  S(vfio_device_feature_dma_logging_control, 24) \
  S(vfio_device_feature_dma_logging_range, 16)   \
  S(vfio_device_feature_dma_logging_report, 32)  \
  S(vfio_device_feature_mig_data_size, 8)        \
  S(vfio_device_feature_bus_master, 4)           \
  S(vfio_region_dma_range, 16)                   \
  S(vfio_device_feature_dma_buf, 16)             \
  S(vfio_device_feature_zpci_err, 8)

VFIO_ABI_FEATURE_STRUCTS(VFIO_ABI_ASSERT_STRUCT)

VFIO_ABI_END

#endif /* VFIO_ABI_VFIO_FEATURE_H */
