/*
 * VFIO_DEVICE_IOEVENTFD (Linux include/uapi/linux/vfio.h, 7.3): the kernel writes `data`, of the
 * width the flags name, at a device-fd offset whenever the eventfd is signalled. Part of
 * vfio_abi.h (see there).
 */
#ifndef VFIO_ABI_VFIO_IOEVENTFD_H
#define VFIO_ABI_VFIO_IOEVENTFD_H

#ifndef VFIO_ABI_VFIO_H
#error "include abi/vfio_abi.h, which includes this header after the structs it builds on"
#endif

#define VFIO_ABI_IOEVENTFD_CONSTANTS(X)         \
  X(VFIO_DEVICE_IOEVENTFD, VFIO_ABI_IO(16))     \
  /* the write's width: exactly one of these */ \
  X(VFIO_DEVICE_IOEVENTFD_8, 1 << 0)            \
  X(VFIO_DEVICE_IOEVENTFD_16, 1 << 1)           \
  X(VFIO_DEVICE_IOEVENTFD_32, 1 << 2)           \
  X(VFIO_DEVICE_IOEVENTFD_64, 1 << 3)           \
  X(VFIO_DEVICE_IOEVENTFD_SIZE_MASK, 0xf)

VFIO_ABI_BEGIN

VFIO_ABI_IOEVENTFD_CONSTANTS(VFIO_ABI_DECLARE_CONSTANT)

struct vfio_device_ioeventfd {
  uint32_t argsz;
  uint32_t flags;
  vfio_abi_aligned_u64 offset; /* device-fd offset of the write */
  vfio_abi_aligned_u64 data;   /* the value written */
  int32_t fd;                  /* the eventfd; -1 removes the matching ioeventfd */
  uint32_t reserved;
};
#define VFIO_ABI_LAYOUT_vfio_device_ioeventfd(F) \
  F(vfio_device_ioeventfd, argsz, 0)             \
  F(vfio_device_ioeventfd, flags, 4)             \
  F(vfio_device_ioeventfd, offset, 8)            \
  F(vfio_device_ioeventfd, data, 16)             \
  F(vfio_device_ioeventfd, fd, 24)               \
  F(vfio_device_ioeventfd, reserved, 28)

#define VFIO_ABI_IOEVENTFD_STRUCTS(S) S(vfio_device_ioeventfd, 32)

VFIO_ABI_IOEVENTFD_STRUCTS(VFIO_ABI_ASSERT_STRUCT)

VFIO_ABI_END

#endif /* VFIO_ABI_VFIO_IOEVENTFD_H */
