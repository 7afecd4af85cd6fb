// SPDX-License-Identifier: GPL-2.0
/*
 * Design 1 of vfio-pci-wc-sample: "more regions". For every BAR the driver offers
 * write-combining on, one device-specific region of the BAR's size, announced through
 * VFIO_REGION_INFO_CAP_TYPE (the core adds the capability from the type and subtype given at
 * registration). Its mmap maps the same bytes as the BAR, write-combining; its pread/pwrite go
 * through a WC kernel mapping. Userspace finds it by walking REGION_INFO: nothing else is new.
 */
#include <linux/mm.h>
#include <linux/vfio.h>

#include "vfio_pci_wc_sample.h"
#include "wc_sample.h"

static unsigned int wcs_region_bar(struct vfio_pci_region *region)
{
	return region->subtype - VFIO_WC_SAMPLE_REGION_SUBTYPE_BASE;
}

static ssize_t wcs_region_rw(struct vfio_pci_core_device *vdev,
			     char __user *buf, size_t count, loff_t *ppos,
			     bool iswrite)
{
	unsigned int index =
		VFIO_PCI_OFFSET_TO_INDEX(*ppos) - VFIO_PCI_NUM_REGIONS;

	return wcs_bar_rw(vdev, wcs_region_bar(&vdev->region[index]), true, buf,
			  count, ppos, iswrite);
}

static int wcs_region_mmap(struct vfio_pci_core_device *vdev,
			   struct vfio_pci_region *region,
			   struct vm_area_struct *vma)
{
	return wcs_remap_bar(to_wcs(vdev), vma, wcs_region_bar(region),
			     vma->vm_pgoff % WCS_INDEX_PAGES,
			     pgprot_writecombine(vma->vm_page_prot));
}

static void wcs_region_release(struct vfio_pci_core_device *vdev,
			       struct vfio_pci_region *region)
{
	/* Nothing to free: the region's BAR is encoded in its subtype. */
}

static const struct vfio_pci_regops wcs_region_ops = {
	.rw = wcs_region_rw,
	.mmap = wcs_region_mmap,
	.release = wcs_region_release,
};

int wcs_register_wc_region(struct vfio_pci_core_device *vdev, unsigned int bar)
{
	return vfio_pci_core_register_dev_region(
		vdev, VFIO_WC_SAMPLE_REGION_TYPE,
		VFIO_WC_SAMPLE_REGION_SUBTYPE_BAR(bar), &wcs_region_ops,
		pci_resource_len(vdev->pdev, bar),
		VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			VFIO_REGION_INFO_FLAG_MMAP,
		NULL);
}
