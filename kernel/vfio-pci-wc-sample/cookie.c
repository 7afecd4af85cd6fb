// SPDX-License-Identifier: GPL-2.0
/*
 * Design 2 of vfio-pci-wc-sample: mmap cookies.
 *
 * A cookie is a handle meaning "this offset of the device fd maps BAR range [offset, offset +
 * length) with this memory attribute". Userspace asks for one through a device feature; the
 * driver allocates page offsets for it in a window of the device fd (the region index after
 * the last region), and an mmap in the window is resolved by looking the offset up, the way
 * RDMA drivers resolve their mmap entries. The region layout never changes: cookies only
 * name ranges of the BARs that are already there.
 *
 * Lifetime: a cookie holds one reference for its handle (dropped by the release SET, or when
 * the device closes) and one per VMA mapping it (dropped at unmap). A released cookie can no
 * longer be mapped; it is freed, and its offsets reused, when the last reference goes. The
 * offsets are allocated lowest-first from a gap-tracking maple tree, so the window stays dense:
 * on 32-bit kernels the whole device fd must fit a 32-bit page offset.
 */
#include <linux/debugfs.h>
#include <linux/kref.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vfio_pci_wc_sample.h"
#include "wc_sample.h"

struct wcs_cookie {
	struct kref ref;
	struct wcs_device *wcs;
	unsigned long start; /* first page, relative to the cookie window */
	unsigned long npages;
	unsigned long bar_pgoff; /* first page within the BAR */
	unsigned int bar;
	u32 memattr;
	bool released; /* the handle is gone: no new mappings */
};

/*
 * A cache of its own (never merged with others), so that unloading the module with a cookie
 * still allocated makes kmem_cache_destroy() warn: the kernel's own leak report. The counters
 * are in debugfs (vfio_pci_wc_sample/stats) for tests that cycle cookies.
 */
static struct kmem_cache *wcs_cookie_cache;
static atomic_long_t wcs_created = ATOMIC_LONG_INIT(0);
static atomic_long_t wcs_freed = ATOMIC_LONG_INIT(0);
static struct dentry *wcs_debugfs;

void wcs_cookies_init(struct wcs_device *wcs)
{
	mutex_init(&wcs->cookie_lock);
	mt_init_flags(&wcs->cookies, MT_FLAGS_ALLOC_RANGE);
}

/* kref release; called with cookie_lock held. */
static void wcs_cookie_free(struct kref *ref)
{
	struct wcs_cookie *c = container_of(ref, struct wcs_cookie, ref);
	struct wcs_device *wcs = c->wcs;

	lockdep_assert_held(&wcs->cookie_lock);
	mtree_erase(&wcs->cookies, c->start);
	wcs->nr_cookies--;
	kmem_cache_free(wcs_cookie_cache, c);
	atomic_long_inc(&wcs_freed);
}

static void wcs_cookie_put(struct wcs_cookie *c)
{
	struct wcs_device *wcs = c->wcs;

	guard(mutex)(&wcs->cookie_lock);
	kref_put(&c->ref, wcs_cookie_free);
}

static int wcs_cookie_create(struct wcs_device *wcs,
			     struct vfio_wc_sample_cookie *req)
{
	struct pci_dev *pdev = wcs->core.pdev;
	unsigned long start;
	struct wcs_cookie *c;
	u64 len;
	int ret;

	if (req->region_index >= PCI_STD_NUM_BARS ||
	    !(wcs->wc_bars & BIT(req->region_index)))
		return -EINVAL;
	if (req->memattr != VFIO_WC_SAMPLE_MEMATTR_NC &&
	    req->memattr != VFIO_WC_SAMPLE_MEMATTR_WC)
		return -EINVAL;
	len = pci_resource_len(pdev, req->region_index);
	if (!req->length || !PAGE_ALIGNED(req->offset) ||
	    !PAGE_ALIGNED(req->length) || req->offset >= len ||
	    req->length > len - req->offset)
		return -EINVAL;

	c = kmem_cache_zalloc(wcs_cookie_cache, GFP_KERNEL_ACCOUNT);
	if (!c)
		return -ENOMEM;
	kref_init(&c->ref);
	c->wcs = wcs;
	c->npages = req->length >> PAGE_SHIFT;
	c->bar_pgoff = req->offset >> PAGE_SHIFT;
	c->bar = req->region_index;
	c->memattr = req->memattr;

	guard(mutex)(&wcs->cookie_lock);
	if (wcs->nr_cookies >= VFIO_WC_SAMPLE_MAX_COOKIES) {
		ret = -ENOSPC;
		goto out_free;
	}
	/* The lowest gap that fits: freed offsets are reused before the window grows. */
	ret = mtree_alloc_range(&wcs->cookies, &start, c, c->npages, 0,
				WCS_INDEX_PAGES - 1, GFP_KERNEL_ACCOUNT);
	if (ret) {
		ret = ret == -EBUSY ? -ENOSPC : ret;
		goto out_free;
	}
	c->start = start;
	wcs->nr_cookies++;
	atomic_long_inc(&wcs_created);
	req->mmap_offset = (u64)(wcs->cookie_base + start) << PAGE_SHIFT;
	return 0;

out_free:
	kmem_cache_free(wcs_cookie_cache, c);
	return ret;
}

static int wcs_cookie_release(struct wcs_device *wcs, u64 mmap_offset)
{
	unsigned long pgoff = mmap_offset >> PAGE_SHIFT;
	struct wcs_cookie *c;

	if (!PAGE_ALIGNED(mmap_offset) || pgoff < wcs->cookie_base)
		return -EINVAL;

	guard(mutex)(&wcs->cookie_lock);
	c = mtree_load(&wcs->cookies, pgoff - wcs->cookie_base);
	if (!c || c->released || c->start != pgoff - wcs->cookie_base)
		return -EINVAL;
	c->released = true;
	kref_put(&c->ref, wcs_cookie_free);
	return 0;
}

int wcs_cookie_feature(struct wcs_device *wcs, u32 flags, void __user *arg,
		       size_t argsz)
{
	struct vfio_wc_sample_cookie req;
	int ret;

	ret = vfio_check_feature(
		flags, argsz, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET,
		sizeof(req));
	if (ret != 1)
		return ret;
	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (flags & VFIO_DEVICE_FEATURE_SET)
		return wcs_cookie_release(wcs, req.mmap_offset);

	ret = wcs_cookie_create(wcs, &req);
	if (ret)
		return ret;
	if (put_user(req.mmap_offset,
		     &((struct vfio_wc_sample_cookie __user *)arg)
			      ->mmap_offset)) {
		wcs_cookie_release(wcs, req.mmap_offset);
		return -EFAULT;
	}
	return 0;
}

/* VMA copies (fork, split) share the cookie: one reference each. */
static void wcs_cookie_vm_open(struct vm_area_struct *vma)
{
	struct wcs_cookie *c = vma->vm_private_data;

	kref_get(&c->ref);
}

static void wcs_cookie_vm_close(struct vm_area_struct *vma)
{
	wcs_cookie_put(vma->vm_private_data);
}

static const struct vm_operations_struct wcs_cookie_vm_ops = {
	.open = wcs_cookie_vm_open,
	.close = wcs_cookie_vm_close,
};

/* An mmap in the cookie window: it must lie inside one live cookie. */
int wcs_cookie_mmap(struct wcs_device *wcs, struct vm_area_struct *vma)
{
	unsigned long rel = vma->vm_pgoff - wcs->cookie_base;
	struct wcs_cookie *c;
	pgprot_t prot;
	int ret;

	scoped_guard(mutex, &wcs->cookie_lock)
	{
		c = mtree_load(&wcs->cookies, rel);
		if (!c || c->released ||
		    vma_pages(vma) > c->start + c->npages - rel)
			return -EINVAL;
		kref_get(&c->ref);
	}

	prot = c->memattr == VFIO_WC_SAMPLE_MEMATTR_WC
		       ? pgprot_writecombine(vma->vm_page_prot)
		       : pgprot_noncached(vma->vm_page_prot);
	ret = wcs_remap_bar(wcs, vma, c->bar, c->bar_pgoff + (rel - c->start),
			    prot);
	if (ret) {
		wcs_cookie_put(c);
		return ret;
	}
	vma->vm_private_data = c;
	vma->vm_ops = &wcs_cookie_vm_ops;
	return 0;
}

/* At close every VMA is gone (each held the device file), so only handles are left. */
void wcs_cookies_release_all(struct wcs_device *wcs)
{
	struct wcs_cookie *c;
	unsigned long index;

	guard(mutex)(&wcs->cookie_lock);
	for (index = 0; (c = mt_find(&wcs->cookies, &index, ULONG_MAX));
	     index = 0) {
		WARN_ON(c->released || kref_read(&c->ref) != 1);
		c->released = true;
		kref_put(&c->ref, wcs_cookie_free);
	}
}

static int wcs_stats_show(struct seq_file *s, void *unused)
{
	long created = atomic_long_read(&wcs_created);
	long freed = atomic_long_read(&wcs_freed);

	seq_printf(s, "created %ld\nfreed %ld\nlive %ld\n", created, freed,
		   created - freed);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(wcs_stats);

int wcs_cookie_cache_create(void)
{
	wcs_cookie_cache = kmem_cache_create("vfio_pci_wc_sample_cookie",
					     sizeof(struct wcs_cookie), 0,
					     SLAB_NO_MERGE, NULL);
	if (!wcs_cookie_cache)
		return -ENOMEM;
	wcs_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("stats", 0444, wcs_debugfs, NULL, &wcs_stats_fops);
	return 0;
}

void wcs_cookie_cache_destroy(void)
{
	debugfs_remove_recursive(wcs_debugfs);
	kmem_cache_destroy(wcs_cookie_cache);
}
