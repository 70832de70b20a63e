// SPDX-License-Identifier: GPL-2.0
/*
 * Registered buffers: a file range's page-cache pages, or bytes copied into
 * page fragments, put into a slot of the submitting ring's buffer table
 * with io_buffer_register_bvec(), for IORING_OP_SEND_ZC / SENDMSG_ZC with
 * IORING_RECVSEND_FIXED_BUF to send.  The buffer is registered with the
 * send direction only (IO_BUF_SOURCE): io_uring refuses any operation that
 * would import it as a destination, so no page-cache page is written
 * through it.  Every page in the buffer carries one reference of ours,
 * dropped once, by the release callback io_uring calls when the buffer's
 * last user lets go; the buffer also holds the /dev/splicemsg file it came
 * through, which keeps the module loaded: the VFS drops that file (and
 * with it the module reference) after the callback has returned, so no
 * instruction of ours runs after the module may go.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bvec.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/io_uring/cmd.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/pipe_fs_i.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "splicemsg.h"

#ifdef SM_HAVE_REG

struct sm_reg {
	struct file *dev;	/* the /dev/splicemsg file: pins the module */
	unsigned int nr, max;
	unsigned long held;	/* pages referenced: bvecs but the zero page */
	unsigned long charged;	/* of the global budget (reg_pages) */
	struct bio_vec bv[];
};

/*
 * Pages held by registered buffers cannot be reclaimed, and io_uring does
 * not charge kernel buffers to anyone's RLIMIT_MEMLOCK: so, as the staging
 * area, all buffers of the system share one budget, charged for the most a
 * buffer may hold before it is filled and cut to what it holds after.
 */
static struct sm_reg *reg_alloc(unsigned int max)
{
	struct sm_reg *reg;

	if (atomic64_add_return(max, &sm_counters.reg_pages) >
	    SM_MAX_REG_TOTAL >> PAGE_SHIFT) {
		atomic64_sub(max, &sm_counters.reg_pages);
		return ERR_PTR(-ENOMEM);
	}
	reg = kvzalloc(struct_size(reg, bv, max), GFP_KERNEL_ACCOUNT);
	if (!reg) {
		atomic64_sub(max, &sm_counters.reg_pages);
		return ERR_PTR(-ENOMEM);
	}
	reg->max = max;
	reg->charged = max;
	return reg;
}

static void reg_trim(struct sm_reg *reg)
{
	atomic64_sub(reg->charged - reg->held, &sm_counters.reg_pages);
	reg->charged = reg->held;
}

/* Drop what the buffer holds: each page once, then the file. */
static void reg_free(struct sm_reg *reg)
{
	struct file *dev = reg->dev;
	unsigned int i;

	for (i = 0; i < reg->nr; i++)
		if (!is_zero_page(reg->bv[i].bv_page))
			put_page(reg->bv[i].bv_page);
	atomic64_sub(reg->charged, &sm_counters.reg_pages);
	kvfree(reg);
	if (dev)
		fput(dev);	/* last: deferred by the VFS, see the top */
}

/* io_uring's release callback: the buffer's last reference went. */
static void reg_release(void *priv)
{
	reg_free(priv);
}

/*
 * splice_direct_to_actor() filled its pipe with the range's pages (one
 * buffer per page or part of one).  Take a reference to each, as a bvec;
 * a page's next part (a splice round that ended inside a page) extends
 * its bvec.  Returns the bytes taken or -errno.
 */
static int reg_actor(struct pipe_inode_info *pipe, struct splice_desc *sd)
{
	struct sm_reg *reg = sd->u.data;
	unsigned int mask = pipe->ring_size - 1;
	size_t done = 0;
	int ret = 0;

	while (pipe->tail != pipe->head) {
		struct pipe_buffer *buf = &pipe->bufs[pipe->tail & mask];
		struct bio_vec *last = reg->nr ? &reg->bv[reg->nr - 1] : NULL;

		if (buf->len) {
			ret = pipe_buf_confirm(pipe, buf);
			if (unlikely(ret)) {
				/* truncated under us: the file ends here */
				if (ret == -ENODATA)
					ret = 0;
				break;
			}
			if (last && last->bv_page == buf->page &&
			    last->bv_offset + last->bv_len == buf->offset) {
				last->bv_len += buf->len;
			} else {
				if (WARN_ON_ONCE(reg->nr == reg->max)) {
					ret = -EOVERFLOW;
					break;
				}
				if (!is_zero_page(buf->page)) {
					get_page(buf->page);
					reg->held++;
				}
				bvec_set_page(&reg->bv[reg->nr++], buf->page,
					      buf->len, buf->offset);
			}
			done += buf->len;
		}
		pipe_buf_release(pipe, buf);
		pipe->tail++;
	}
	return done ? done : ret;
}

/*
 * The range's pages straight from the page cache, when every one up to the
 * end of the range or of the file is there and uptodate: a bvec per page
 * (as the splice read gives them), one folio reference each, the range cut
 * at i_size read after each folio was found, as filemap_splice_read() cuts
 * it.  This is what lets REG_FILE run inline (IO_URING_F_NONBLOCK), where
 * it must not block, and saves the pipe's rounds anywhere.  An overlayfs
 * file's own mapping stays empty: its reads are the real file's
 * (ovl_splice_read), so the real inode's cache is the one taken from --
 * containers serve their files from overlayfs.  Returns the bytes taken,
 * or -EAGAIN with nothing taken (a missing folio, O_DIRECT, DAX): then
 * the filesystem's own splice read does it, from io-wq when inline.
 */
static ssize_t reg_take_cached(struct file *file, struct sm_reg *reg,
			       loff_t pos, size_t len)
{
	struct inode *real = d_real_inode(file->f_path.dentry);
	struct address_space *mapping = real == file_inode(file) ?
					file->f_mapping : real->i_mapping;
	unsigned int first = reg->nr, i;
	loff_t end = pos + len;
	size_t done = 0;

	if ((file->f_flags & O_DIRECT) || IS_DAX(mapping->host))
		return -EAGAIN;
	while (pos < end && pos < i_size_read(real)) {
		struct folio *folio = filemap_get_folio(mapping,
							pos >> PAGE_SHIFT);
		bool ref = true;	/* filemap_get_folio()'s, used first */
		loff_t stop;

		if (IS_ERR(folio))
			goto miss;
		if (!folio_test_uptodate(folio) || folio->mapping != mapping) {
			folio_put(folio);
			goto miss;
		}
		stop = min3(end, i_size_read(real),
			    folio_pos(folio) + (loff_t)folio_size(folio));
		while (pos < stop) {
			size_t off = offset_in_page(pos);
			size_t n = min_t(loff_t, PAGE_SIZE - off, stop - pos);

			if (WARN_ON_ONCE(reg->nr == reg->max))
				break;
			if (!ref)
				folio_get(folio);
			ref = false;
			bvec_set_page(&reg->bv[reg->nr++],
				      folio_page(folio, (pos - folio_pos(folio)) >>
						 PAGE_SHIFT), n, off);
			reg->held++;
			pos += n;
			done += n;
		}
		if (ref)		/* the file ended before this folio */
			folio_put(folio);
		if (pos < stop)		/* the WARN above */
			goto miss;
	}
	if (done)
		file_accessed(file);
	return done;
miss:
	for (i = first; i < reg->nr; i++)
		put_page(reg->bv[i].bv_page);
	reg->held -= reg->nr - first;
	reg->nr = first;
	return -EAGAIN;
}

static int reg_publish(struct io_uring_cmd *cmd, struct sm_reg *reg,
		       u32 index, unsigned int issue_flags)
{
	reg->dev = get_file(cmd->file);
	return io_buffer_register_bvec(cmd, reg->bv, reg->nr, reg_release, reg,
				       IO_BUF_SOURCE, index, issue_flags);
}

/*
 * A buffer for @extra more pages that starts with the bytes of the
 * request's iovecs (none if iov_cnt is 0), copied into page fragments;
 * *@bytes says how many.  The send's header rules: 16 iovecs, 32 KiB.
 */
static struct sm_reg *reg_alloc_bytes(struct splicemsg_reg *req,
				      unsigned int extra, size_t *bytes)
{
	struct splicemsg_iovec iov[SM_MAX_IOVECS];
	struct sm_bytes b;
	struct sm_reg *reg;
	int ret;

	*bytes = 0;
	if (req->iov_cnt > SM_MAX_IOVECS || (!req->iov_cnt && req->iov))
		return ERR_PTR(-EINVAL);
	ret = sm_load_iovecs(iov, req->iov, req->iov_cnt, bytes);
	if (ret)
		return ERR_PTR(ret);
	if (*bytes > SM_MAX_HDTR)
		return ERR_PTR(-EINVAL);
	ret = sm_bytes_init(&b, DIV_ROUND_UP(*bytes, PAGE_SIZE));
	if (!ret)
		ret = sm_bytes_from_user(&b, iov, req->iov_cnt);
	reg = ret ? ERR_PTR(ret) : reg_alloc(b.nr_bv + extra);
	if (!IS_ERR(reg)) {
		/* each fragment is a whole page, one bvec: its reference moves */
		memcpy(reg->bv, b.bv, b.nr_bv * sizeof(*b.bv));
		reg->nr = b.nr_bv;
		reg->held = b.nr_bv;
		b.nr_frags = 0;
	}
	sm_bytes_free(&b);
	return reg;
}

static int reg_file(struct io_uring_cmd *cmd, struct splicemsg_reg *req,
		    unsigned int issue_flags)
{
	struct splice_desc sd = {};
	loff_t __user *offp;
	struct sm_reg *reg;
	struct file *file;
	size_t hbytes;
	ssize_t got;
	int ret;

	if ((req->flags & ~SPLICEMSG_REG_FLAGS) || !req->len ||
	    req->len > SM_MAX_REG)
		return -EINVAL;
	file = fget(req->file_fd);
	if (!file)
		return -EBADF;
	ret = sm_load_pos(req->flags, &req->offset, file, &offp);
	if (!ret)
		ret = sm_check_file(file, req->flags, req->offset, req->len);
	if (ret)
		goto out;
	/* a page per PAGE_SIZE, one more if the range starts inside one */
	reg = reg_alloc_bytes(req, DIV_ROUND_UP(req->len, PAGE_SIZE) + 1,
			      &hbytes);
	if (IS_ERR(reg)) {
		ret = PTR_ERR(reg);
		goto out;
	}
	got = reg_take_cached(file, reg, req->offset, req->len);
	if (got == -EAGAIN && (issue_flags & IO_URING_F_NONBLOCK)) {
		reg_free(reg);
		ret = -EAGAIN;	/* nothing done yet: io-wq starts afresh */
		goto out;
	}
	if (got == -EAGAIN) {
		sd.total_len = req->len;
		sd.pos = req->offset;
		sd.u.data = reg;
		/*
		 * The filesystem's own splice read: its rules for holes, for
		 * reading pages in, and for where the file ends (i_size read
		 * once the pages are uptodate); overlayfs and the like hand
		 * over the real file's.
		 */
		got = splice_direct_to_actor(file, &sd, reg_actor);
	}
	reg_trim(reg);
	/* at the end of the file a header alone is still a buffer */
	if (got < 0 || !(got + hbytes)) {
		reg_free(reg);
		ret = got;
		goto out;
	}
	ret = reg_publish(cmd, reg, req->index, issue_flags);
	if (ret) {
		reg_free(reg);
		goto out;
	}
	/* OFFPTR: as sendfile(2) after a send, the position moves on */
	if (req->flags & SPLICEMSG_REG_OFFPTR) {
		if (!offp) {
			file->f_pos = req->offset + got;
		} else if (put_user((loff_t)(req->offset + got), offp)) {
			/* told nothing went: so nothing stays registered */
			io_buffer_unregister(cmd, req->index, issue_flags);
			ret = -EFAULT;
			goto out;
		}
	}
	ret = hbytes + got;
out:
	fput(file);
	return ret;
}

static int reg_bytes(struct io_uring_cmd *cmd, struct splicemsg_reg *req,
		     unsigned int issue_flags)
{
	struct sm_reg *reg;
	size_t bytes;
	int ret;

	if (req->flags || req->file_fd || req->offset || req->len ||
	    !req->iov_cnt)
		return -EINVAL;
	reg = reg_alloc_bytes(req, 0, &bytes);
	if (IS_ERR(reg))
		return PTR_ERR(reg);
	if (!bytes) {
		reg_free(reg);
		return -EINVAL;
	}
	ret = reg_publish(cmd, reg, req->index, issue_flags);
	if (ret) {
		reg_free(reg);
		return ret;
	}
	return bytes;
}

int sm_reg_cmd(struct io_uring_cmd *cmd, struct splicemsg_reg *req,
	       unsigned int issue_flags)
{
	int ret;

	if (req->pad || req->reserved[0] || req->reserved[1]) {
		ret = -EINVAL;
	} else if (cmd->cmd_op == SPLICEMSG_IOC_REG_FILE) {
		ret = reg_file(cmd, req, issue_flags);
	} else if (cmd->cmd_op == SPLICEMSG_IOC_REG_BYTES) {
		ret = reg_bytes(cmd, req, issue_flags);
	} else if (req->flags || req->file_fd || req->offset || req->len ||
		   req->iov || req->iov_cnt) {
		ret = -EINVAL;
	} else {
		ret = io_buffer_unregister(cmd, req->index, issue_flags);
	}
	/* a REG_FILE sent on to io-wq is not an error */
	if (ret < 0 && ret != -EAGAIN)
		sm_count_error(ret);
	return ret;
}

#endif /* SM_HAVE_REG */
