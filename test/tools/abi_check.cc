// Compile-only proof that native/abi mirrors the kernel's uAPI: every constant, struct size,
// alignment, field offset and field size must equal the value in the kernel's own
// <linux/vfio.h> and <linux/iommufd.h>. Build: g++ -std=c++17 -fsyntax-only -I native
// -I <uapi include dir> test/tools/abi_check.cc (test/host/abi.test.ts does this).
#include <cstddef>
#include <cstdint>

#include "abi/iommufd_abi.h"
#include "abi/vfio_abi.h"

// Copy our constants under prefixed names first: once the kernel headers are in, the plain
// names are the kernel's macros and `vfio_abi::NAME` would no longer spell ours.
#define OURS(name, value) constexpr long long ours_##name = vfio_abi::name;
VFIO_ABI_VFIO_CONSTANTS(OURS)
VFIO_ABI_IOMMUFD_CONSTANTS(OURS)
#undef OURS

#include <linux/iommufd.h>
#include <linux/vfio.h>

// The kernel spells some flags (1 << 31) as int and some values as enums: compare the 32-bit
// patterns, which is what crosses the ioctl boundary. Ours must fit 32 bits to begin with.
#define SAME_CONSTANT(name, value)                                                  \
  static_assert(ours_##name >= INT32_MIN && ours_##name <= UINT32_MAX, #name " fits 32 bits"); \
  static_assert(static_cast<uint32_t>(ours_##name) == static_cast<uint32_t>(name), #name);
VFIO_ABI_VFIO_CONSTANTS(SAME_CONSTANT)
VFIO_ABI_IOMMUFD_CONSTANTS(SAME_CONSTANT)

// sizeof a member, or 0 for a flexible array member (which has no size). A template argument
// drops the aligned(8) of __aligned_u64; only the size is read here (alignment is checked
// through offsets and alignof of the struct), so that warning says nothing useful.
#pragma GCC diagnostic ignored "-Wignored-attributes"
template <typename T> struct member_size { static constexpr size_t value = sizeof(T); };
template <typename T> struct member_size<T[]> { static constexpr size_t value = 0; };
#define MEMBER_SIZE(type, f) member_size<decltype(type::f)>::value

#define SAME_FIELD(s, f, off)                                                       \
  static_assert(offsetof(vfio_abi::s, f) == offsetof(::s, f), "offsetof " #s "." #f); \
  static_assert(MEMBER_SIZE(vfio_abi::s, f) == MEMBER_SIZE(::s, f), "sizeof " #s "." #f);
#define SAME_STRUCT(s, size)                                                        \
  static_assert(sizeof(vfio_abi::s) == sizeof(::s), "sizeof " #s);                  \
  static_assert(alignof(vfio_abi::s) == alignof(::s), "alignof " #s);               \
  VFIO_ABI_LAYOUT_##s(SAME_FIELD)
VFIO_ABI_VFIO_STRUCTS(SAME_STRUCT)
VFIO_ABI_IOMMUFD_STRUCTS(SAME_STRUCT)
