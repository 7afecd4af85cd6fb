/* SPDX-License-Identifier: GPL-2.0 */
/* What the C files of vfio-pci-wc-sample share. */
#ifndef WC_SAMPLE_H
#define WC_SAMPLE_H

#include <linux/maple_tree.h>
#include <linux/mutex.h>
#include <linux/vfio_pci_core.h>

/* Pages in one region index of the device fd (VFIO_PCI_OFFSET_SHIFT bits of bytes). */
#define WCS_INDEX_PAGES (1UL << (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT))

struct wcs_device {
	struct vfio_pci_core_device core;
	/*
	 * BARs (bit n: BAR n) the driver offers write-combining on while the device is open.
	 * It owns their mappings: the core's kernel mapping of them is given up at open.
	 */
	u8 wc_bars;
	/* Serialises cookie creation, release, lookup at mmap and the final put. */
	struct mutex cookie_lock;
	/* Live cookies by page offset within the cookie window (gaps tracked: dense allocation). */
	struct maple_tree cookies;
	/* The window's first page offset in the device fd: the region index after the last region. */
	unsigned long cookie_base;
	unsigned int nr_cookies;
	/* Serialises the list of exported dma-bufs (dmabuf.c). */
	struct mutex dmabuf_lock;
	struct list_head dmabufs;
};

static inline struct wcs_device *to_wcs(struct vfio_pci_core_device *vdev)
{
	return container_of(vdev, struct wcs_device, core);
}

int wcs_remap_bar(struct wcs_device *wcs, struct vm_area_struct *vma,
		  unsigned int bar, unsigned long bar_pgoff, pgprot_t prot);

ssize_t wcs_bar_rw(struct vfio_pci_core_device *vdev, unsigned int bar, bool wc,
		   char __user *buf, size_t count, loff_t *ppos, bool iswrite);

int wcs_register_wc_region(struct vfio_pci_core_device *vdev, unsigned int bar);

void wcs_cookies_init(struct wcs_device *wcs);
int wcs_cookie_feature(struct wcs_device *wcs, u32 flags, void __user *arg,
		       size_t argsz);
int wcs_cookie_mmap(struct wcs_device *wcs, struct vm_area_struct *vma);
void wcs_cookies_release_all(struct wcs_device *wcs);
int wcs_cookie_cache_create(void);

void wcs_dmabufs_init(struct wcs_device *wcs);
int wcs_dmabuf_feature(struct wcs_device *wcs, u32 flags,
		       struct vfio_device_feature_dma_buf __user *arg,
		       size_t argsz);
int wcs_dmabuf_memattr_feature(struct wcs_device *wcs, u32 flags,
			       void __user *arg, size_t argsz);
int wcs_dmabuf_revoke_feature(struct wcs_device *wcs, u32 flags,
			      void __user *arg, size_t argsz);
void wcs_dmabufs_revoke_all(struct wcs_device *wcs, bool detach);
void wcs_cookie_cache_destroy(void);

#endif /* WC_SAMPLE_H */
