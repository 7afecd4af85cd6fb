/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The userspace interface of vfio-pci-wc-sample.
 *
 * THIS IS A SAMPLE, NOT AN UPSTREAM uAPI. Every number below was picked by this project to
 * try two designs for write-combining mappings of PCI BARs through VFIO; no kernel release
 * defines them, and an upstream interface (if one comes) will differ. Userspace must discover
 * them by probing (VFIO_DEVICE_FEATURE with PROBE, the region TYPE capability), never assume
 * them. This header is the one place the sample values live; the library's table mirrors it
 * and its tests check that the two agree.
 */
#ifndef VFIO_PCI_WC_SAMPLE_H
#define VFIO_PCI_WC_SAMPLE_H

#include <linux/types.h>
#include <linux/vfio.h>

/*
 * Design 1, "more regions": for every BAR the driver offers write-combining on, one
 * device-specific region (index VFIO_PCI_NUM_REGIONS and up) whose REGION_INFO carries a
 * VFIO_REGION_INFO_CAP_TYPE with this type and subtype. The region has the size of the BAR and
 * its mmap is a write-combining mapping of the same bytes.
 *
 * The type is a PCI vendor type with vendor 0xffff, an ID the PCI-SIG never assigns, so it
 * cannot collide with a real vendor's regions; the subtype says which BAR ('W' 'C' 0 n).
 */
#define VFIO_WC_SAMPLE_REGION_TYPE (VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0xffff)
#define VFIO_WC_SAMPLE_REGION_SUBTYPE_BASE 0x57430000
#define VFIO_WC_SAMPLE_REGION_SUBTYPE_BAR(bar) \
	(VFIO_WC_SAMPLE_REGION_SUBTYPE_BASE + (bar))

/*
 * Design 2, "mmap cookies": a device feature through which userspace asks for a cookie, a
 * handle meaning "this offset of the device fd maps BAR range [offset, offset + length) with
 * this memory attribute". Upstream numbers features from 0 upwards; the sample takes one from
 * the top of the 16-bit index space.
 *
 * GET (creates): in region_index, memattr, offset, length; out mmap_offset, the offset to
 *   mmap the device fd at. offset and length are page-aligned, length > 0, the range lies in
 *   the BAR, and the BAR is one the driver offers write-combining on. Offsets come from a
 *   dense window after the last region: a freed cookie's offsets are reused first.
 * SET (releases): in mmap_offset of a live cookie (other fields ignored). The offset stops
 *   being mappable at once; the cookie is freed, and its offsets reused, when the last
 *   mapping made from it is unmapped too. Closing the device releases every cookie.
 *
 * Errors: EINVAL for a bad range, an unknown attribute, a BAR without write-combining, or a
 * SET naming no live cookie; ENOSPC when the device holds VFIO_WC_SAMPLE_MAX_COOKIES cookies.
 * An mmap at an offset that no live cookie covers, or that runs past the cookie, is EINVAL.
 */
#define VFIO_WC_SAMPLE_FEATURE_MMAP_COOKIE 0xfc01

/* pgprot_noncached(): uncached-minus (UC-) under x86 PAT, Device memory on arm64 */
#define VFIO_WC_SAMPLE_MEMATTR_NC 0
/* pgprot_writecombine(): write-combining under x86 PAT, Normal-NC on arm64 */
#define VFIO_WC_SAMPLE_MEMATTR_WC 1

#define VFIO_WC_SAMPLE_MAX_COOKIES 256

struct vfio_wc_sample_cookie {
	__u32 region_index; /* a BAR: VFIO_PCI_BAR0_REGION_INDEX .. BAR5 */
	__u32 memattr; /* VFIO_WC_SAMPLE_MEMATTR_* */
	__aligned_u64 offset; /* within the BAR, bytes */
	__aligned_u64 length; /* bytes */
	__aligned_u64 mmap_offset; /* out for GET, in for SET */
};

/*
 * Design 3, "mmappable dma-bufs": the design the kernel list is converging on, in which a BAR
 * mapping is a mapping of a dma-buf and the dma-buf carries the memory attribute.
 *
 * VFIO_DEVICE_FEATURE_DMA_BUF (11, the upstream feature and payload) exports ranges of a BAR
 * the driver offers write-combining on as a dma-buf of this driver's own; that dma-buf can be
 * mmapped (one-range dma-bufs only: the mapping reserves its memory type for one physical
 * range). Its mappings use the dma-buf's memory attribute, NC until changed.
 *
 * DMA_BUF_MEMATTR, SET only: { dmabuf_fd, memattr } sets the attribute of the dma-buf's later
 * mappings (existing mappings keep theirs). ENOENT for an unknown attribute; EINVAL for an fd
 * that is not a dma-buf this device exported; ENODEV once the dma-buf is revoked.
 *
 * DMA_BUF_REVOKE, SET only: { dmabuf_fd } revokes the dma-buf for good: its mappings are
 * zapped (a later access is SIGBUS) and it cannot be mapped again (ENODEV). A device reset
 * (VFIO_DEVICE_RESET, VFIO_DEVICE_PCI_HOT_RESET) and closing the device revoke every dma-buf
 * the device exported. Revoking a revoked dma-buf succeeds.
 *
 * The numbers of the two features are contested upstream, so the sample takes its own, from
 * the same range as the cookie feature, and announces every feature number it answers in the
 * device's sysfs file VFIO_WC_SAMPLE_FEATURES_ATTR, one "NAME number" line each (NAME without
 * the VFIO_DEVICE_FEATURE_ prefix), for userspace that wants to discover rather than be told.
 */
#define VFIO_WC_SAMPLE_FEATURE_DMA_BUF_MEMATTR 0xfc02
#define VFIO_WC_SAMPLE_FEATURE_DMA_BUF_REVOKE 0xfc03
#define VFIO_WC_SAMPLE_FEATURES_ATTR "vfio_features"

struct vfio_wc_sample_dma_buf_memattr {
	__s32 dmabuf_fd;
	__u32 memattr; /* VFIO_WC_SAMPLE_MEMATTR_* */
};

struct vfio_wc_sample_dma_buf_revoke {
	__s32 dmabuf_fd;
};

#endif /* VFIO_PCI_WC_SAMPLE_H */
