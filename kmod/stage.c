// SPDX-License-Identifier: GPL-2.0
/*
 * The staging area: zeroed pages from the page-fragment allocator, mapped
 * into the process by mmap() on /dev/splicemsg, so user space can register
 * them with io_uring as fixed buffers and stage headers where both it and
 * the network stack reach them without a copy.
 *
 * Each page is a page-aligned PAGE_SIZE fragment of one of the allocator's
 * (usually order-3 compound) pages, inserted with vm_insert_pages() the way
 * TCP's zero-copy receive maps skb fragments: the mapping takes its own
 * folio references, so it is neither VM_PFNMAP nor VM_IO (it is
 * VM_MIXEDMAP, which is why fork copies its PTEs and mlock, KSM and
 * khugepaged leave it alone), and
 * pin_user_pages(FOLL_LONGTERM) -- what IORING_REGISTER_BUFFERS does --
 * accepts it (a VM_PFNMAP remap_pfn_range() mapping would be refused with
 * EFAULT).  The file keeps the allocator's reference until release; every
 * mapping, io_uring pin and skb holds its own, so the memory lives exactly
 * as long as its last user: the allocator's lifetime is the page refcount.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#include "compat.h"
#include "splicemsg.h"

struct sm_stage {
	struct mutex lock;	/* mmap against mmap; release is last */
	void **frags;
	unsigned long nr;
};

int sm_stage_open(struct inode *inode, struct file *file)
{
	struct sm_stage *st = kzalloc(sizeof(*st), GFP_KERNEL);

	if (!st)
		return -ENOMEM;
	mutex_init(&st->lock);
	file->private_data = st;
	return 0;
}

static void stage_free(void **frags, unsigned long nr)
{
	unsigned long i;

	for (i = 0; frags && i < nr && frags[i]; i++)
		page_frag_free(frags[i]);
	kvfree(frags);
	atomic64_sub(nr, &sm_counters.stage_pages);
}

int sm_stage_release(struct inode *inode, struct file *file)
{
	struct sm_stage *st = file->private_data;

	stage_free(st->frags, st->nr);
	mutex_destroy(&st->lock);
	kfree(st);
	return 0;
}

/* Reserve @nr pages of the global budget, so open files cannot pin RAM. */
static int stage_reserve(unsigned long nr)
{
	if (atomic64_add_return(nr, &sm_counters.stage_pages) >
	    SM_MAX_STAGE_TOTAL >> PAGE_SHIFT) {
		atomic64_sub(nr, &sm_counters.stage_pages);
		return -ENOMEM;
	}
	return 0;
}

static int stage_fill(void **frags, struct page **pages, unsigned long nr)
{
	unsigned long i;

	for (i = 0; i < nr; i++) {
		frags[i] = sm_frag_page();
		if (!frags[i])
			return -ENOMEM;
		/* fragment memory is recycled kernel memory */
		clear_page(frags[i]);
		pages[i] = virt_to_page(frags[i]);
	}
	return 0;
}

int sm_stage_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct sm_stage *st = file->private_data;
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned long nr = len >> PAGE_SHIFT, done;
	struct page **pages = NULL;
	void **frags = NULL;
	int ret;

	/* shared only: a private COW copy would not be the staged page */
	if (vma->vm_pgoff || !(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (!nr || len > SM_MAX_STAGE)
		return -EINVAL;
	mutex_lock(&st->lock);
	ret = -EBUSY;
	if (st->frags)
		goto out_unlock;
	ret = stage_reserve(nr);
	if (ret)
		goto out_unlock;
	ret = -ENOMEM;
	frags = kvcalloc(nr, sizeof(*frags), GFP_KERNEL);
	pages = kvcalloc(nr, sizeof(*pages), GFP_KERNEL);
	if (!frags || !pages)
		goto out_free;
	ret = stage_fill(frags, pages, nr);
	if (ret)
		goto out_free;
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	done = nr;
	ret = vm_insert_pages(vma, vma->vm_start, pages, &done);
	if (ret)
		goto out_free;	/* mmap fails; the unmap drops inserted refs */
	st->frags = frags;
	st->nr = nr;
out_free:
	if (ret)
		stage_free(frags, nr);	/* also returns the reservation */
	kvfree(pages);
out_unlock:
	mutex_unlock(&st->lock);
	return ret;
}
