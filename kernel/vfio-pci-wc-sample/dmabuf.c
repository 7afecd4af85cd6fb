// SPDX-License-Identifier: GPL-2.0
/*
 * Design 3 of vfio-pci-wc-sample: mmappable dma-bufs with a memory attribute.
 *
 * VFIO_DEVICE_FEATURE_DMA_BUF exports a BAR range as a dma-buf; here the dma-buf can also be
 * mmapped, with the attribute a separate feature sets (NC until then), and revoked. The
 * dma-buf fd is the cookie: it names the BAR, the range and the attribute.
 *
 * Why the driver exports dma-bufs of its own instead of wrapping the core's: the core's
 * dma_buf_ops have no mmap and are private to it (iommufd recognises a vfio dma-buf by
 * comparing the ops pointer), the core refuses BARs whose kernel mapping the driver gave up
 * (all the BARs it offers WC on), and its revoke list holds only its own dma-bufs. So these
 * dma-bufs are for CPU mappings: importers (RDMA, GPUs, IOMMU_IOAS_MAP_FILE) are refused at
 * attach, and the driver revokes them itself on reset and close.
 *
 * Mappings are populated by the fault handler, never at mmap: mmap reserves the memory type
 * of the VMA's whole physical range (remap_pfn_range tracks it for the VMA's life, so PAT's
 * list shows what the mapping got) and then drops the PTEs it made. Every access therefore
 * passes the revoked check under the dma-buf's lock, including one racing a revoke that ran
 * before the new VMA was linked into the file's mapping tree, where the zap cannot see it.
 */
#include <linux/dma-buf.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vfio_pci_wc_sample.h"
#include "wc_sample.h"

MODULE_IMPORT_NS("DMA_BUF");

struct wcs_dmabuf {
	struct dma_buf *dmabuf;
	/* The exporting device while attached (until revoked by close); NULL after. */
	struct wcs_device *wcs;
	struct list_head elm; /* in wcs->dmabufs, under wcs->dmabuf_lock */
	/* Serialises the attribute, the revoked flag, mmap and faults. */
	struct mutex lock;
	unsigned int bar;
	u32 memattr;
	bool revoked;
	u32 nr_ranges;
	struct vfio_region_dma_range ranges[] __counted_by(nr_ranges);
};

static int wcs_dmabuf_attach(struct dma_buf *dmabuf,
			     struct dma_buf_attachment *attachment)
{
	return -EOPNOTSUPP; /* CPU mappings only; see the header comment */
}

static struct sg_table *wcs_dmabuf_map(struct dma_buf_attachment *attachment,
				       enum dma_data_direction dir)
{
	return ERR_PTR(
		-EOPNOTSUPP); /* never reached: attach refuses every importer */
}

static void wcs_dmabuf_unmap(struct dma_buf_attachment *attachment,
			     struct sg_table *sgt, enum dma_data_direction dir)
{
}

/* Only ever called with the lock held and the dma-buf attached to its device. */
static void wcs_dmabuf_revoke_locked(struct wcs_dmabuf *priv)
{
	lockdep_assert_held(&priv->lock);
	if (priv->revoked)
		return;
	priv->revoked = true;
	/* Every VMA of the dma-buf's file: their next access faults and finds it revoked. */
	unmap_mapping_range(priv->dmabuf->file->f_mapping, 0, 0, true);
}

static vm_fault_t wcs_dmabuf_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct wcs_dmabuf *priv = vma->vm_private_data;
	struct vfio_pci_core_device *vdev;
	unsigned long pfn;

	guard(mutex)(&priv->lock);
	if (priv->revoked)
		return VM_FAULT_SIGBUS;
	/* Not revoked, so still attached: close revokes under this lock before detaching. */
	vdev = &priv->wcs->core;
	pfn = ((pci_resource_start(vdev->pdev, priv->bar) +
		priv->ranges[0].offset) >>
	       PAGE_SHIFT) +
	      vma->vm_pgoff + ((vmf->address - vma->vm_start) >> PAGE_SHIFT);
	guard(rwsem_read)(&vdev->memory_lock);
	return vfio_pci_vmf_insert_pfn(vdev, vmf, pfn, 0);
}

static const struct vm_operations_struct wcs_dmabuf_vm_ops = {
	.fault = wcs_dmabuf_fault,
};

static int wcs_dmabuf_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	struct wcs_dmabuf *priv = dmabuf->priv;
	pgprot_t prot;
	int ret;

	guard(mutex)(&priv->lock);
	if (priv->revoked)
		return -ENODEV;
	/* One VMA reserves one physical range's memory type. */
	if (priv->nr_ranges != 1)
		return -EINVAL;

	prot = priv->memattr == VFIO_WC_SAMPLE_MEMATTR_WC
		       ? pgprot_writecombine(vma->vm_page_prot)
		       : pgprot_noncached(vma->vm_page_prot);
	ret = wcs_remap_bar(
		priv->wcs, vma, priv->bar,
		(priv->ranges[0].offset >> PAGE_SHIFT) + vma->vm_pgoff, prot);
	if (ret)
		return ret;
	/* Keep the reservation (it lives with the VMA), drop the PTEs: faults populate. */
	zap_special_vma_range(vma, vma->vm_start, vma->vm_end - vma->vm_start);
	vma->vm_page_prot = prot;
	vma->vm_private_data = priv;
	vma->vm_ops = &wcs_dmabuf_vm_ops;
	return 0;
}

static void wcs_dmabuf_release(struct dma_buf *dmabuf)
{
	struct wcs_dmabuf *priv = dmabuf->priv;
	struct wcs_device *wcs = priv->wcs;

	/*
	 * Still attached means close skipped it (its file was already going), so the device's
	 * registration reference is still ours to drop, and the device is still there.
	 */
	if (wcs) {
		scoped_guard(mutex, &wcs->dmabuf_lock) list_del(&priv->elm);
		vfio_device_put_registration(&wcs->core.vdev);
	}
	mutex_destroy(&priv->lock);
	kfree(priv);
}

static const struct dma_buf_ops wcs_dmabuf_ops = {
	.attach = wcs_dmabuf_attach,
	.map_dma_buf = wcs_dmabuf_map,
	.unmap_dma_buf = wcs_dmabuf_unmap,
	.release = wcs_dmabuf_release,
	.mmap = wcs_dmabuf_mmap,
};

void wcs_dmabufs_init(struct wcs_device *wcs)
{
	mutex_init(&wcs->dmabuf_lock);
	INIT_LIST_HEAD(&wcs->dmabufs);
}

static int wcs_dmabuf_check_ranges(struct wcs_device *wcs, unsigned int bar,
				   const struct vfio_region_dma_range *ranges,
				   u32 n, size_t *size)
{
	u64 len = pci_resource_len(wcs->core.pdev, bar);
	size_t total = 0;
	u32 i;

	for (i = 0; i < n; i++) {
		const struct vfio_region_dma_range *r = &ranges[i];

		if (!r->length || !PAGE_ALIGNED(r->offset) ||
		    !PAGE_ALIGNED(r->length) || r->offset >= len ||
		    r->length > len - r->offset)
			return -EINVAL;
		if (check_add_overflow(total, (size_t)r->length, &total))
			return -EINVAL;
	}
	*size = total;
	return 0;
}

/* VFIO_DEVICE_FEATURE_DMA_BUF for the BARs the driver took over: the dma-buf is ours. */
int wcs_dmabuf_feature(struct wcs_device *wcs, u32 flags,
		       struct vfio_device_feature_dma_buf __user *arg,
		       size_t argsz)
{
	struct vfio_device_feature_dma_buf req;
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct wcs_dmabuf *priv;
	size_t size;
	int ret;

	ret = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_GET,
				 sizeof(req));
	if (ret != 1)
		return ret;
	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (!req.nr_ranges || req.flags ||
	    (req.open_flags & ~(O_ACCMODE | O_CLOEXEC)))
		return -EINVAL;
	if (req.region_index >= PCI_STD_NUM_BARS ||
	    !(wcs->wc_bars & BIT(req.region_index)))
		return -ENODEV;
	if (req.nr_ranges >
	    (argsz - sizeof(req)) / sizeof(struct vfio_region_dma_range))
		return -EINVAL;

	priv = kzalloc(struct_size(priv, ranges, req.nr_ranges),
		       GFP_KERNEL_ACCOUNT);
	if (!priv)
		return -ENOMEM;
	priv->nr_ranges = req.nr_ranges;
	if (copy_from_user(
		    priv->ranges, arg->dma_ranges,
		    array_size(req.nr_ranges, sizeof(priv->ranges[0])))) {
		ret = -EFAULT;
		goto err_free;
	}
	ret = wcs_dmabuf_check_ranges(wcs, req.region_index, priv->ranges,
				      req.nr_ranges, &size);
	if (ret)
		goto err_free;
	priv->bar = req.region_index;
	priv->memattr = VFIO_WC_SAMPLE_MEMATTR_NC;
	priv->wcs = wcs;
	mutex_init(&priv->lock);

	if (!vfio_device_try_get_registration(&wcs->core.vdev)) {
		ret = -ENODEV;
		goto err_free;
	}
	exp_info.ops = &wcs_dmabuf_ops;
	exp_info.size = size;
	exp_info.flags = req.open_flags;
	exp_info.priv = priv;
	priv->dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(priv->dmabuf)) {
		ret = PTR_ERR(priv->dmabuf);
		vfio_device_put_registration(&wcs->core.vdev);
		goto err_free;
	}
	scoped_guard(mutex, &wcs->dmabuf_lock)
		list_add_tail(&priv->elm, &wcs->dmabufs);

	/* From here dma_buf_put() frees priv through release. */
	ret = dma_buf_fd(priv->dmabuf, req.open_flags);
	if (ret < 0)
		dma_buf_put(priv->dmabuf);
	return ret;

err_free:
	kfree(priv);
	return ret;
}

/* The dma-buf behind @fd if this device exported it (a reference the caller puts), else NULL. */
static struct dma_buf *wcs_dmabuf_get(struct wcs_device *wcs, s32 fd)
{
	struct dma_buf *dmabuf = dma_buf_get(fd);

	if (IS_ERR(dmabuf))
		return NULL;
	if (dmabuf->ops != &wcs_dmabuf_ops ||
	    READ_ONCE(((struct wcs_dmabuf *)dmabuf->priv)->wcs) != wcs) {
		dma_buf_put(dmabuf);
		return NULL;
	}
	return dmabuf;
}

int wcs_dmabuf_memattr_feature(struct wcs_device *wcs, u32 flags,
			       void __user *arg, size_t argsz)
{
	struct vfio_wc_sample_dma_buf_memattr req;
	struct wcs_dmabuf *priv;
	struct dma_buf *dmabuf;
	int ret;

	ret = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_SET,
				 sizeof(req));
	if (ret != 1)
		return ret;
	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.memattr != VFIO_WC_SAMPLE_MEMATTR_NC &&
	    req.memattr != VFIO_WC_SAMPLE_MEMATTR_WC)
		return -ENOENT;
	dmabuf = wcs_dmabuf_get(wcs, req.dmabuf_fd);
	if (!dmabuf)
		return -EINVAL;
	priv = dmabuf->priv;
	scoped_guard(mutex, &priv->lock)
	{
		if (priv->revoked)
			ret = -ENODEV;
		else
			priv->memattr = req.memattr;
	}
	dma_buf_put(dmabuf);
	return ret;
}

int wcs_dmabuf_revoke_feature(struct wcs_device *wcs, u32 flags,
			      void __user *arg, size_t argsz)
{
	struct vfio_wc_sample_dma_buf_revoke req;
	struct wcs_dmabuf *priv;
	struct dma_buf *dmabuf;
	int ret;

	ret = vfio_check_feature(flags, argsz, VFIO_DEVICE_FEATURE_SET,
				 sizeof(req));
	if (ret != 1)
		return ret;
	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	dmabuf = wcs_dmabuf_get(wcs, req.dmabuf_fd);
	if (!dmabuf)
		return -EINVAL;
	priv = dmabuf->priv;
	scoped_guard(mutex, &priv->lock) wcs_dmabuf_revoke_locked(priv);
	dma_buf_put(dmabuf);
	return 0;
}

/*
 * Revokes every dma-buf the device exported (reset); with @detach (close) also lets go of
 * them: they stay valid files, revoked, no longer tied to the device.
 */
void wcs_dmabufs_revoke_all(struct wcs_device *wcs, bool detach)
{
	struct wcs_dmabuf *priv, *tmp;

	guard(mutex)(&wcs->dmabuf_lock);
	list_for_each_entry_safe (priv, tmp, &wcs->dmabufs, elm) {
		/* A dma-buf whose file is already going is left to its release. */
		if (!get_file_active(&priv->dmabuf->file))
			continue;
		scoped_guard(mutex, &priv->lock)
		{
			wcs_dmabuf_revoke_locked(priv);
			if (detach)
				WRITE_ONCE(priv->wcs, NULL);
		}
		if (detach) {
			list_del_init(&priv->elm);
			vfio_device_put_registration(&wcs->core.vdev);
		}
		fput(priv->dmabuf->file);
	}
}
