/*
 * Shared prelude of the project's own VFIO / iommufd ABI headers (vfio_abi.h, iommufd_abi.h).
 *
 * The headers are usable from C11 (the guest-side probe) and C++17 (the addon). In C++ every
 * name lives in namespace vfio_abi, so the kernel's own <linux/vfio.h> can sit beside them in
 * the ABI cross-check (test/tools/abi_check.cc). Each header keeps three lists as X-macros, so
 * the same text declares the names, asserts the layout, exports the values to JavaScript and
 * drives the cross-check against the kernel headers:
 *   ..._CONSTANTS(X)        X(uapi_name, value)          every mirrored constant
 *   ..._STRUCTS(S)          S(struct_name, sizeof)       every mirrored struct
 *   VFIO_ABI_LAYOUT_<s>(F)  F(struct_name, field, offset) every field of one struct
 * Layout numbers are those of the 64-bit Linux ABI (x86-64, arm64, riscv64, ppc64le, s390x).
 */
#ifndef VFIO_ABI_COMMON_H
#define VFIO_ABI_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h> /* the architecture's _IO() encoding (it differs on powerpc, mips, sparc) */

#ifdef __cplusplus
#define VFIO_ABI_BEGIN namespace vfio_abi {
#define VFIO_ABI_END }
#define VFIO_ABI_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
/* Constants are typed as long long: every uAPI value fits, including VFIO_PCI_DEVID_NOT_OWNED
 * (-1) and VFIO_REGION_TYPE_PCI_VENDOR_TYPE (1 << 31, kept positive here). */
#define VFIO_ABI_DECLARE_CONSTANT(name, value) constexpr long long name = (value);
#else
#define VFIO_ABI_BEGIN
#define VFIO_ABI_END
#define VFIO_ABI_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define VFIO_ABI_DECLARE_CONSTANT(name, value) static const long long name = (value);
#endif

/* _IO(';', 100 + nr): every VFIO ioctl passes its argument untyped and sizes it with argsz. */
#define VFIO_ABI_IO(nr) _IO(';', 100 + (nr))

/* The uAPI's __aligned_u64: 8-byte aligned even where the C ABI aligns u64 to 4 (i386). */
typedef uint64_t vfio_abi_aligned_u64 __attribute__((aligned(8)));

VFIO_ABI_STATIC_ASSERT(sizeof(void*) == 8 && __alignof__(uint64_t) == 8,
                       "the layout numbers in native/abi are those of 64-bit Linux");

/* Checks one field's offset / one struct's size and every field listed for it. */
#define VFIO_ABI_ASSERT_FIELD(s, f, off) VFIO_ABI_STATIC_ASSERT(offsetof(struct s, f) == (off), "offsetof " #s "." #f);
#define VFIO_ABI_ASSERT_STRUCT(s, size)                             \
  VFIO_ABI_STATIC_ASSERT(sizeof(struct s) == (size), "sizeof " #s); \
  VFIO_ABI_LAYOUT_##s(VFIO_ABI_ASSERT_FIELD)

#endif /* VFIO_ABI_COMMON_H */
