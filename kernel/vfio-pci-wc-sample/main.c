// SPDX-License-Identifier: GPL-2.0
/*
 * vfio-pci-wc-sample: a SAMPLE vfio-pci variant driver with write-combining (WC) mappings of
 * prefetchable BARs, offered through three designs argued for VFIO (see vfio_pci_wc_sample.h):
 * a device-specific region per BAR whose mmap is WC, mmap cookies handed out by a device
 * feature, and mmappable dma-bufs whose memory attribute a device feature sets. It exists so
 * that userspace code for all three can run against real kernel code and real x86 PAT memory
 * types. Its numbers are not upstream uAPI.
 *
 * Everything else is vfio-pci: the driver binds only through driver_override and passes all
 * other operations to vfio_pci_core.
 *
 * Why the driver takes over the BARs it offers WC on
 * --------------------------------------------------
 * x86 PAT keeps one memory type per reserved physical range: a mapping that overlaps a
 * reservation gets the type already reserved, whatever it asked for. At open, the core maps
 * every BAR into the kernel (one uncached reservation covering the whole BAR), so any later
 * WC mapping of that BAR would silently be uncached. For each BAR it offers WC on, this driver
 * therefore gives up the core's kernel mapping after vfio_pci_core_enable() (keeping the
 * resource claimed) and does that BAR's accesses itself: every user mapping reserves the
 * memory type of its own range (remap_pfn_range tracks it until the last unmap), and
 * pread/pwrite map one page at a time. Different ranges of one BAR can then hold different
 * types, and where mappings overlap the first reservation wins, which PAT's list shows.
 *
 * Costs of that, acceptable in a sample and documented in its README: the core refuses
 * ioeventfds on those BARs (it needs its kernel mapping for them), and the WC region and cookie
 * mappings are populated at mmap and not revoked when the core zaps BAR mappings (reset, memory
 * decoding turned off); plain BAR mappings are, as with vfio-pci. dma-buf export of those BARs
 * is the driver's own (dmabuf.c): the core would refuse them, and its dma-bufs cannot be
 * mmapped.
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pm_runtime.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include "vfio_pci_wc_sample.h"
#include "wc_sample.h"

/*
 * Whether the driver offers WC on a BAR: prefetchable memory, whole pages, no MSI-X table, and
 * mapped by the core at enable. (Called before vfio_pci_core_finish_enable(), which is where
 * the core works out bar_mmap_supported; whole pages are what that needs for these BARs.)
 */
static bool wcs_bar_wc_capable(struct vfio_pci_core_device *vdev,
			       unsigned int bar)
{
	struct pci_dev *pdev = vdev->pdev;
	unsigned long flags = pci_resource_flags(pdev, bar);

	return (flags & IORESOURCE_MEM) && (flags & IORESOURCE_PREFETCH) &&
	       !pdev->non_mappable_bars && bar != vdev->msix_bar &&
	       PAGE_ALIGNED(pci_resource_start(pdev, bar)) &&
	       PAGE_ALIGNED(pci_resource_len(pdev, bar)) &&
	       !IS_ERR_OR_NULL(vdev->barmap[bar]);
}

/*
 * Maps pages [bar_pgoff, bar_pgoff + vma pages) of a BAR into the whole VMA with @prot.
 * remap_pfn_range reserves the range's memory type in PAT for the VMA's life: PAT answers
 * with the type already reserved where the range overlaps another reservation.
 */
int wcs_remap_bar(struct wcs_device *wcs, struct vm_area_struct *vma,
		  unsigned int bar, unsigned long bar_pgoff, pgprot_t prot)
{
	struct vfio_pci_core_device *vdev = &wcs->core;
	struct pci_dev *pdev = vdev->pdev;
	unsigned long bar_pages = pci_resource_len(pdev, bar) >> PAGE_SHIFT;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (bar_pgoff >= bar_pages || vma_pages(vma) > bar_pages - bar_pgoff)
		return -EINVAL;

	/* The same rule as the core's fault handler: no mapping while memory decoding is off. */
	guard(rwsem_read)(&vdev->memory_lock);
	if (!__vfio_pci_memory_enabled(vdev))
		return -EIO;
	return io_remap_pfn_range(
		vma, vma->vm_start,
		(pci_resource_start(pdev, bar) >> PAGE_SHIFT) + bar_pgoff,
		vma->vm_end - vma->vm_start, prot);
}

/*
 * Plain BAR mappings are zapped by the core on reset and when memory decoding is turned off
 * (it zaps every BAR offset of the device fd); their next access faults here and is mapped
 * again, with the type their own reservation still holds, or SIGBUS while memory is off.
 */
static vm_fault_t wcs_bar_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vfio_pci_core_device *vdev = vma->vm_private_data;
	unsigned int bar = vma->vm_pgoff / WCS_INDEX_PAGES;
	unsigned long pfn =
		(pci_resource_start(vdev->pdev, bar) >> PAGE_SHIFT) +
		vma->vm_pgoff % WCS_INDEX_PAGES +
		((vmf->address - vma->vm_start) >> PAGE_SHIFT);

	guard(rwsem_read)(&vdev->memory_lock);
	return vfio_pci_vmf_insert_pfn(vdev, vmf, pfn, 0);
}

static const struct vm_operations_struct wcs_bar_vm_ops = {
	.fault = wcs_bar_fault,
};

/*
 * pread/pwrite of a taken-over BAR, through a kernel mapping of one page at a time: a page
 * never straddles two PAT reservations, so each mapping gets the page's current type (or a
 * transient one of @wc's kind where nothing is reserved).
 */
ssize_t wcs_bar_rw(struct vfio_pci_core_device *vdev, unsigned int bar, bool wc,
		   char __user *buf, size_t count, loff_t *ppos, bool iswrite)
{
	resource_size_t start = pci_resource_start(vdev->pdev, bar);
	resource_size_t len = pci_resource_len(vdev->pdev, bar);
	loff_t pos = *ppos & VFIO_PCI_OFFSET_MASK;
	size_t done = 0;

	if (pos >= len)
		return -EINVAL;
	count = min_t(size_t, count, len - pos);

	while (done < count) {
		loff_t at = pos + done;
		loff_t page = round_down(at, PAGE_SIZE);
		size_t chunk =
			min_t(size_t, count - done, page + PAGE_SIZE - at);
		void __iomem *io;
		ssize_t n;

		io = wc ? ioremap_wc(start + page, PAGE_SIZE)
			: ioremap(start + page, PAGE_SIZE);
		if (!io)
			return done ? done : -ENOMEM;
		n = vfio_pci_core_do_io_rw(vdev, true, io, buf + done,
					   at - page, chunk, 0, 0, iswrite,
					   VFIO_PCI_IO_WIDTH_8);
		iounmap(io);
		if (n < 0)
			return done ? done : n;
		done += n;
	}
	*ppos += done;
	return done;
}

/* --- open and close ---------------------------------------------------------------------- */

/* Returns the BARs taken over at open to the core's bookkeeping (the claim is ours to drop). */
static void wcs_give_back_bars(struct wcs_device *wcs)
{
	unsigned int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++)
		if (wcs->wc_bars & BIT(bar))
			pci_release_selected_regions(wcs->core.pdev, BIT(bar));
	wcs->wc_bars = 0;
}

static int wcs_take_bars(struct wcs_device *wcs)
{
	struct vfio_pci_core_device *vdev = &wcs->core;
	unsigned int bar;
	int ret;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		if (!wcs_bar_wc_capable(vdev, bar))
			continue;
		/*
		 * Drop the core's whole-BAR uncached kernel mapping (and with it the PAT
		 * reservation) but keep the resource claimed; the core skips BARs whose
		 * map is an error pointer, so close gives the claim back (wcs_give_back_bars).
		 */
		pci_iounmap(vdev->pdev, vdev->barmap[bar]);
		vdev->barmap[bar] = IOMEM_ERR_PTR(-EBUSY);
		wcs->wc_bars |= BIT(bar);

		ret = wcs_register_wc_region(vdev, bar);
		if (ret)
			return ret;
	}
	return 0;
}

static int wcs_open_device(struct vfio_device *core_vdev)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);
	struct wcs_device *wcs = to_wcs(vdev);
	int ret;

	ret = vfio_pci_core_enable(vdev);
	if (ret)
		return ret;

	ret = wcs_take_bars(wcs);
	if (ret) {
		vfio_pci_core_disable(vdev);
		wcs_give_back_bars(wcs);
		return ret;
	}
	/* Cookies live in the region index after the last region: no region offset moves. */
	wcs->cookie_base =
		(VFIO_PCI_NUM_REGIONS + vdev->num_regions) * WCS_INDEX_PAGES;

	vfio_pci_core_finish_enable(vdev);
	return 0;
}

static void wcs_close_device(struct vfio_device *core_vdev)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);
	struct wcs_device *wcs = to_wcs(vdev);

	/*
	 * Every mapping of the device fd held it open, so none is left: only cookie handles are.
	 * Exported dma-bufs can outlive the device: they are revoked and let go of.
	 */
	wcs_cookies_release_all(wcs);
	wcs_dmabufs_revoke_all(wcs, true);
	vfio_pci_core_close_device(core_vdev);
	wcs_give_back_bars(wcs);
}

/* --- the device fd ----------------------------------------------------------------------- */

static bool wcs_owns_bar(struct wcs_device *wcs, unsigned int index)
{
	return index < PCI_STD_NUM_BARS && (wcs->wc_bars & BIT(index));
}

static ssize_t wcs_rw(struct vfio_device *core_vdev, char __user *buf,
		      size_t count, loff_t *ppos, bool iswrite)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);
	unsigned int index = VFIO_PCI_OFFSET_TO_INDEX(*ppos);
	ssize_t ret;

	if (!wcs_owns_bar(to_wcs(vdev), index))
		return iswrite ? vfio_pci_core_write(core_vdev, buf, count,
						     ppos)
			       : vfio_pci_core_read(core_vdev, buf, count,
						    ppos);

	/* As the core does around its own BAR accesses. */
	ret = pm_runtime_resume_and_get(&vdev->pdev->dev);
	if (ret)
		return -EIO;
	ret = wcs_bar_rw(vdev, index, false, buf, count, ppos, iswrite);
	pm_runtime_put(&vdev->pdev->dev);
	return ret;
}

static ssize_t wcs_read(struct vfio_device *core_vdev, char __user *buf,
			size_t count, loff_t *ppos)
{
	return count ? wcs_rw(core_vdev, buf, count, ppos, false) : 0;
}

static ssize_t wcs_write(struct vfio_device *core_vdev, const char __user *buf,
			 size_t count, loff_t *ppos)
{
	return count ? wcs_rw(core_vdev, (char __user *)buf, count, ppos, true)
		     : 0;
}

static int wcs_mmap(struct vfio_device *core_vdev, struct vm_area_struct *vma)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);
	struct wcs_device *wcs = to_wcs(vdev);
	unsigned long index = vma->vm_pgoff / WCS_INDEX_PAGES;
	int ret;

	if (vma->vm_pgoff >= wcs->cookie_base)
		return wcs_cookie_mmap(wcs, vma);
	if (!wcs_owns_bar(wcs, index))
		return vfio_pci_core_mmap(
			core_vdev, vma); /* WC regions: wcs_region_mmap */

	ret = wcs_remap_bar(wcs, vma, index, vma->vm_pgoff % WCS_INDEX_PAGES,
			    pgprot_noncached(vma->vm_page_prot));
	if (ret)
		return ret;
	vma->vm_private_data = vdev;
	vma->vm_ops = &wcs_bar_vm_ops;
	return 0;
}

static int wcs_device_feature(struct vfio_device *core_vdev, u32 flags,
			      void __user *arg, size_t argsz)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);
	struct wcs_device *wcs = to_wcs(vdev);

	switch (flags & VFIO_DEVICE_FEATURE_MASK) {
	case VFIO_WC_SAMPLE_FEATURE_MMAP_COOKIE:
		return wcs_cookie_feature(wcs, flags, arg, argsz);
	case VFIO_DEVICE_FEATURE_DMA_BUF:
		/* The core offers none (no pci_ops), and would refuse the BARs taken over. */
		return wcs_dmabuf_feature(wcs, flags, arg, argsz);
	case VFIO_WC_SAMPLE_FEATURE_DMA_BUF_MEMATTR:
		return wcs_dmabuf_memattr_feature(wcs, flags, arg, argsz);
	case VFIO_WC_SAMPLE_FEATURE_DMA_BUF_REVOKE:
		return wcs_dmabuf_revoke_feature(wcs, flags, arg, argsz);
	}
	return vfio_pci_core_ioctl_feature(core_vdev, flags, arg, argsz);
}

/* A reset revokes the exported dma-bufs first: none is mapped while the device resets. */
static long wcs_ioctl(struct vfio_device *core_vdev, unsigned int cmd,
		      unsigned long arg)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);

	if (cmd == VFIO_DEVICE_RESET || cmd == VFIO_DEVICE_PCI_HOT_RESET)
		wcs_dmabufs_revoke_all(to_wcs(vdev), false);
	return vfio_pci_core_ioctl(core_vdev, cmd, arg);
}

static int wcs_init_dev(struct vfio_device *core_vdev)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);

	wcs_cookies_init(to_wcs(vdev));
	wcs_dmabufs_init(to_wcs(vdev));
	return vfio_pci_core_init_dev(core_vdev);
}

static void wcs_release_dev(struct vfio_device *core_vdev)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);

	mutex_destroy(&to_wcs(vdev)->cookie_lock);
	mutex_destroy(&to_wcs(vdev)->dmabuf_lock);
	vfio_pci_core_release_dev(core_vdev);
}

static const struct vfio_device_ops wcs_ops = {
	.name = "vfio-pci-wc-sample",
	.init = wcs_init_dev,
	.release = wcs_release_dev,
	.open_device = wcs_open_device,
	.close_device = wcs_close_device,
	.ioctl = wcs_ioctl,
	.get_region_info_caps = vfio_pci_ioctl_get_region_info,
	.device_feature = wcs_device_feature,
	.read = wcs_read,
	.write = wcs_write,
	.mmap = wcs_mmap,
	.request = vfio_pci_core_request,
	.match = vfio_pci_core_match,
	.match_token_uuid = vfio_pci_core_match_token_uuid,
	.bind_iommufd = vfio_iommufd_physical_bind,
	.unbind_iommufd = vfio_iommufd_physical_unbind,
	.attach_ioas = vfio_iommufd_physical_attach_ioas,
	.detach_ioas = vfio_iommufd_physical_detach_ioas,
};

/* --- the PCI driver ---------------------------------------------------------------------- */

static int wcs_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct wcs_device *wcs;
	int ret;

	wcs = vfio_alloc_device(wcs_device, core.vdev, &pdev->dev, &wcs_ops);
	if (IS_ERR(wcs))
		return PTR_ERR(wcs);

	dev_set_drvdata(&pdev->dev, &wcs->core);
	ret = vfio_pci_core_register_device(&wcs->core);
	if (ret)
		vfio_put_device(&wcs->core.vdev);
	return ret;
}

static void wcs_remove(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(&pdev->dev);

	vfio_pci_core_unregister_device(vdev);
	vfio_put_device(&vdev->vdev);
}

/*
 * The announcement of the feature numbers the driver answers, so userspace can discover them
 * instead of being told: one "NAME number" line each, in the device's sysfs directory.
 */
static ssize_t vfio_features_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	return sysfs_emit(
		buf,
		"DMA_BUF %u\nWC_SAMPLE_MMAP_COOKIE %u\nDMA_BUF_MEMATTR %u\nDMA_BUF_REVOKE %u\n",
		VFIO_DEVICE_FEATURE_DMA_BUF, VFIO_WC_SAMPLE_FEATURE_MMAP_COOKIE,
		VFIO_WC_SAMPLE_FEATURE_DMA_BUF_MEMATTR,
		VFIO_WC_SAMPLE_FEATURE_DMA_BUF_REVOKE);
}
static DEVICE_ATTR_RO(vfio_features);

static struct attribute *wcs_dev_attrs[] = {
	&dev_attr_vfio_features.attr,
	NULL,
};
ATTRIBUTE_GROUPS(wcs_dev);

/* Any device, but only when userspace names this driver in driver_override. */
static const struct pci_device_id wcs_table[] = {
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(PCI_ANY_ID, PCI_ANY_ID) }, {}
};
MODULE_DEVICE_TABLE(pci, wcs_table);

static struct pci_driver wcs_driver = {
	.name = KBUILD_MODNAME,
	.id_table = wcs_table,
	.probe = wcs_probe,
	.remove = wcs_remove,
	.err_handler = &vfio_pci_core_err_handlers,
	.dev_groups = wcs_dev_groups,
	.driver_managed_dma = true,
};

static int __init wcs_init(void)
{
	int ret = wcs_cookie_cache_create();

	if (ret)
		return ret;
	ret = pci_register_driver(&wcs_driver);
	if (ret)
		wcs_cookie_cache_destroy();
	return ret;
}

static void __exit wcs_exit(void)
{
	pci_unregister_driver(&wcs_driver);
	/* Warns (the kernel's own leak report) if any cookie was never freed. */
	wcs_cookie_cache_destroy();
}

module_init(wcs_init);
module_exit(wcs_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION(
	"SAMPLE vfio-pci variant driver: write-combining BAR mappings through WC regions, mmap cookies and mmappable dma-bufs (not an upstream uAPI)");
