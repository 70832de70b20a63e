// SPDX-License-Identifier: GPL-2.0
/*
 * The send: header bytes, a file range and trailer bytes handed to a socket
 * as bvecs with sendmsg(MSG_SPLICE_PAGES).
 *
 * Header and trailer are copied from user space into page-aligned fragments
 * of the kernel's page-fragment allocator (MSG_SPLICE_PAGES refuses slab memory);
 * each skb takes its own page references, so the fragments are released
 * right after the send.  Stream sockets (TCP, AF_UNIX) get the file's
 * page-cache pages themselves, read-only, through splice_direct_to_actor():
 * TCP marks such skbs SKBFL_SHARED_FRAG, so later in-place writers copy
 * first.  UDP does not: the IPv4/IPv6 datagram append paths in this kernel
 * line do not set SKBFL_SHARED_FRAG (the DirtyFrag class of bugs), so for
 * UDP the file range is copied into private fragments and no page-cache
 * page ever reaches a datagram.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bvec.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/in.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <linux/pipe_fs_i.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/splice.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <net/sock.h>

#include "compat.h"
#include "splicemsg.h"

static struct page_frag_cache frag_cache;	/* zero-initialised is valid */
static DEFINE_MUTEX(frag_lock);			/* the cache is not locked */

struct sm_ctx {
	struct socket *sock;
	int msg_flags;		/* MSG_DONTWAIT, MSG_NOSIGNAL */
	bool more;		/* the caller's SPLICEMSG_SEND_MORE */
	struct sm_bytes hdr, trl;
	struct bio_vec *out;	/* scratch for one sendmsg */
	unsigned int max_out;
	size_t file_sent;
	size_t dgram_sent;	/* UDP: the whole datagram's length */
};

int sm_bytes_init(struct sm_bytes *b, unsigned int frags)
{
	memset(b, 0, sizeof(*b));
	if (!frags)
		return 0;
	b->bv = kcalloc(frags, sizeof(*b->bv), GFP_KERNEL);
	b->frags = kcalloc(frags, sizeof(*b->frags), GFP_KERNEL);
	if (!b->bv || !b->frags)
		return -ENOMEM;
	b->max_frags = frags;
	return 0;
}

void sm_bytes_free(struct sm_bytes *b)
{
	unsigned int i;

	for (i = 0; i < b->nr_frags; i++)
		page_frag_free(b->frags[i]);
	kfree(b->bv);
	kfree(b->frags);
}

/*
 * One page-aligned page of fragment memory; page_frag_free() releases the
 * caller's reference, skbs and mappings hold their own.
 */
void *sm_frag_page(void)
{
	void *p;

	mutex_lock(&frag_lock);
	p = page_frag_alloc_align(&frag_cache, PAGE_SIZE, GFP_KERNEL,
				  PAGE_SIZE);
	mutex_unlock(&frag_lock);
	if (p)
		atomic64_inc(&sm_counters.frags_allocated);
	return p;
}

/* A page of fragment memory, appended to @b. */
static void *bytes_grow(struct sm_bytes *b)
{
	u8 *p;

	if (WARN_ON_ONCE(b->nr_frags >= b->max_frags))
		return NULL;
	p = sm_frag_page();
	if (!p)
		return NULL;
	b->frags[b->nr_frags++] = p;
	return p;
}

/* Describe @n bytes at @p (inside the last fragment) as bvecs. */
static void bytes_commit(struct sm_bytes *b, u8 *p, size_t n)
{
	while (n) {
		size_t seg = min_t(size_t, n, PAGE_SIZE - offset_in_page(p));

		bvec_set_page(&b->bv[b->nr_bv++], virt_to_page(p), seg,
			      offset_in_page(p));
		p += seg;
		n -= seg;
		b->len += seg;
	}
}

/*
 * Bytes are packed into whole, page-aligned fragments: one skb frag per
 * page, however the caller split its iovecs.  A 64 KiB datagram (header,
 * file bytes, trailer) then needs 16 frags, within MAX_SKB_FRAGS, where
 * pieces straddling pages could run out of frags (EMSGSIZE).
 */
struct sm_pack {
	struct sm_bytes *b;
	u8 *page;
	size_t used;
};

/* Room at the end of the current page, starting a new one when full. */
static u8 *pack_room(struct sm_pack *p, size_t *room)
{
	if (!p->page || p->used == PAGE_SIZE) {
		if (p->page)
			bytes_commit(p->b, p->page, p->used);
		p->page = bytes_grow(p->b);
		p->used = 0;
		if (!p->page)
			return NULL;
	}
	*room = PAGE_SIZE - p->used;
	return p->page + p->used;
}

static void pack_end(struct sm_pack *p)
{
	if (p->page && p->used)
		bytes_commit(p->b, p->page, p->used);
	p->page = NULL;
}

static int pack_user(struct sm_pack *p, const struct splicemsg_iovec *iov,
		     unsigned int cnt)
{
	unsigned int i;

	for (i = 0; i < cnt; i++) {
		const u8 __user *src = u64_to_user_ptr(iov[i].base);
		size_t left = iov[i].len;

		while (left) {
			size_t room, n;
			u8 *dst = pack_room(p, &room);

			if (!dst)
				return -ENOMEM;
			n = min(left, room);
			if (copy_from_user(dst, src, n))
				return -EFAULT;
			p->used += n;
			src += n;
			left -= n;
		}
	}
	return 0;
}

/* Copy user iovecs into @b. */
int sm_bytes_from_user(struct sm_bytes *b,
		       const struct splicemsg_iovec *iov, unsigned int cnt)
{
	struct sm_pack p = { .b = b };
	int ret = pack_user(&p, iov, cnt);

	pack_end(&p);
	return ret;
}

/* Append the unsent part of @b to ctx->out. */
static unsigned int bytes_emit(struct sm_ctx *ctx, struct sm_bytes *b,
			       unsigned int nr, size_t *len)
{
	size_t skip = b->sent;
	unsigned int i;

	for (i = 0; i < b->nr_bv && nr < ctx->max_out; i++) {
		struct bio_vec bv = b->bv[i];

		if (skip >= bv.bv_len) {
			skip -= bv.bv_len;
			continue;
		}
		bv.bv_offset += skip;
		bv.bv_len -= skip;
		skip = 0;
		ctx->out[nr++] = bv;
		*len += bv.bv_len;
	}
	return nr;
}

/* Mark up to @n bytes of @b sent; returns what is left of @n. */
static size_t bytes_consume(struct sm_bytes *b, size_t n)
{
	size_t k = min_t(size_t, n, b->len - b->sent);

	b->sent += k;
	return n - k;
}

static int sm_sendmsg(struct sm_ctx *ctx, unsigned int nr, size_t len,
		      bool more)
{
	struct msghdr msg = {};

	msg.msg_flags = MSG_SPLICE_PAGES | ctx->msg_flags;
	if (more)
		msg.msg_flags |= MSG_MORE;
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, ctx->out, nr, len);
	return sock_sendmsg(ctx->sock, &msg);
}

/*
 * splice_direct_to_actor() filled its internal pipe with page-cache pages
 * of the file (vfs_splice_read).  Send them behind whatever is left of the
 * header and release what the socket took; returns file bytes consumed or
 * -errno.  Modelled on splice_to_socket() in fs/splice.c, which is static.
 */
static int sm_actor(struct pipe_inode_info *pipe, struct splice_desc *sd)
{
	struct sm_ctx *ctx = sd->u.data;
	unsigned int mask = pipe->ring_size - 1;
	size_t avail = sd->total_len, done = 0;
	int ret = 0;

	while (done < avail) {
		unsigned int tail = pipe->tail, head = pipe->head, nr;
		size_t len = 0, remain = avail - done, n;
		bool more;

		nr = bytes_emit(ctx, &ctx->hdr, 0, &len);
		for (; tail != head && remain && nr < ctx->max_out; tail++) {
			struct pipe_buffer *buf = &pipe->bufs[tail & mask];
			size_t seg;

			if (!buf->len)
				continue;
			ret = pipe_buf_confirm(pipe, buf);
			if (unlikely(ret)) {
				if (ret == -ENODATA)
					ret = 0;
				break;
			}
			seg = min_t(size_t, remain, buf->len);
			bvec_set_page(&ctx->out[nr++], buf->page, seg,
				      buf->offset);
			len += seg;
			remain -= seg;
		}
		if (!len)
			break;
		more = remain || (sd->flags & SPLICE_F_MORE) ||
		       ctx->trl.len || ctx->more;
		ret = sm_sendmsg(ctx, nr, len, more);
		if (ret <= 0)
			break;

		/* header bytes went first, then pipe buffers in order */
		n = bytes_consume(&ctx->hdr, ret);
		done += n;
		tail = pipe->tail;
		while (tail != pipe->head) {
			struct pipe_buffer *buf = &pipe->bufs[tail & mask];
			size_t seg = min_t(size_t, n, buf->len);

			if (!n && buf->len)
				break;
			buf->offset += seg;
			buf->len -= seg;
			n -= seg;
			if (!buf->len) {
				pipe_buf_release(pipe, buf);
				atomic64_inc(&sm_counters.pages_attached);
				tail++;
			}
		}
		pipe->tail = tail;
		ret = 0;
	}
	return done ? done : ret;
}

/* The file ended early after MSG_MORE sends: push what is corked. */
static void sm_splice_eof(struct splice_desc *sd)
{
	struct sm_ctx *ctx = sd->u.data;

	if (!ctx->trl.len && !ctx->more && ctx->sock->ops->splice_eof)
		ctx->sock->ops->splice_eof(ctx->sock);
}

/* Send what is left of header and trailer (trailer only if @trailer). */
static int send_rest(struct sm_ctx *ctx, bool trailer)
{
	int ret = 0;

	for (;;) {
		size_t len = 0, n;
		unsigned int nr;

		nr = bytes_emit(ctx, &ctx->hdr, 0, &len);
		if (trailer)
			nr = bytes_emit(ctx, &ctx->trl, nr, &len);
		if (!len)
			return 0;
		ret = sm_sendmsg(ctx, nr, len, ctx->more);
		if (ret <= 0)
			return ret ? ret : -EIO;
		n = bytes_consume(&ctx->hdr, ret);
		bytes_consume(&ctx->trl, n);
	}
}

static long send_stream(struct sm_ctx *ctx, struct file *file,
			struct splicemsg_send *req)
{
	long ret = 0;

	if (file && req->count) {
		struct splice_desc sd = {
			.total_len = req->count,
			.pos = req->offset,
			.u.data = ctx,
			.splice_eof = sm_splice_eof,
		};

		ret = splice_direct_to_actor(file, &sd, sm_actor);
		if (ret > 0) {
			ctx->file_sent = ret;
			ret = 0;
		}
	}
	if (!ret) {
		/* the trailer follows the whole range, or the file's end */
		bool trailer = ctx->file_sent == req->count ||
			       (file && req->offset + ctx->file_sent >=
				i_size_read(file_inode(file)));

		ret = send_rest(ctx, trailer);
	}
	return ret;
}

/* Copy up to @count file bytes from @pos; returns bytes read or -errno. */
static long pack_file(struct sm_pack *p, struct file *file, loff_t pos,
		      size_t count)
{
	size_t got = 0;

	while (got < count) {
		size_t room, n;
		u8 *dst = pack_room(p, &room);
		ssize_t r;

		if (!dst)
			return -ENOMEM;
		n = min(count - got, room);
		r = kernel_read(file, dst, n, &pos);
		if (r < 0)
			return r;
		p->used += r;
		got += r;
		if ((size_t)r < n)
			break;		/* end of file */
	}
	return got;
}

/* One datagram: header, file bytes (copied: see the top), trailer. */
static long send_dgram(struct sm_ctx *ctx, struct file *file,
		       struct splicemsg_send *req,
		       const struct splicemsg_iovec *iov, size_t hdtr)
{
	struct sm_bytes data;
	struct sm_pack p = { .b = &data };
	size_t len = 0;
	unsigned int nr;
	long ret, got = 0;

	if (hdtr + req->count > SM_MAX_UDP)
		return -EMSGSIZE;
	ret = sm_bytes_init(&data, DIV_ROUND_UP(hdtr + req->count, PAGE_SIZE));
	if (ret)
		goto out;
	ret = pack_user(&p, iov, req->hdr_cnt);
	if (!ret && file && req->count) {
		got = pack_file(&p, file, req->offset, req->count);
		ret = got < 0 ? got : 0;
	}
	if (!ret)
		ret = pack_user(&p, iov + req->hdr_cnt, req->trl_cnt);
	pack_end(&p);
	if (ret)
		goto out;
	nr = bytes_emit(ctx, &data, 0, &len);
	ret = sm_sendmsg(ctx, nr, len, ctx->more);
	if (ret > 0) {
		/* a datagram goes whole or not at all */
		ctx->dgram_sent = ret;
		ctx->file_sent = got;
		ret = 0;
	}
out:
	sm_bytes_free(&data);
	return ret;
}

enum sm_transport { SM_TCP, SM_UDP, SM_UNIX };

static int sock_transport(struct socket *sock)
{
	struct sock *sk = sock->sk;

	if (!sk)
		return -ENOTSOCK;
	if (sk->sk_family == AF_UNIX && sk->sk_type == SOCK_STREAM)
		return SM_UNIX;
	if (sk->sk_family != AF_INET && sk->sk_family != AF_INET6)
		return -EOPNOTSUPP;
	if (sk->sk_type == SOCK_STREAM && sk->sk_protocol == IPPROTO_TCP)
		return SM_TCP;
	if (sk->sk_type == SOCK_DGRAM && sk->sk_protocol == IPPROTO_UDP)
		return SM_UDP;
	return -EOPNOTSUPP;
}

/*
 * @file as a source of @count bytes from @offset, by sendfile(2)'s rules
 * (the send's and REG_FILE's: @flags is either's, OFFPTR the same bit).
 */
int sm_check_file(struct file *file, u32 flags, u64 offset, u64 count)
{
	struct inode *inode = file_inode(file);

	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	if (!S_ISREG(inode->i_mode) || !file->f_op->splice_read)
		return -EINVAL;
	if (offset > (u64)LLONG_MAX - count)
		return -EINVAL;
	/* a stream-like file: sendfile(2) takes no offset for it either */
	if (!(flags & SPLICEMSG_SEND_OFFPTR))
		return file->f_mode & FMODE_PREAD ? 0 : -ESPIPE;
	if (!(file->f_mode & FMODE_PREAD))
		return -EOPNOTSUPP;
	/* sendfile(2)'s rules the module does not reproduce: refused */
	if (file->f_flags & O_DIRECT)
		return -EOPNOTSUPP;
	if (offset + count > (u64)inode->i_sb->s_maxbytes)
		return -EOVERFLOW;
	return 0;
}

/* OFFPTR: the position to start from, from the caller or the file. */
int sm_load_pos(u32 flags, u64 *offset, struct file *file,
		loff_t __user **offp)
{
	loff_t pos;

	*offp = NULL;
	if (!(flags & SPLICEMSG_SEND_OFFPTR))
		return 0;
	if (!*offset) {
		*offset = file ? file->f_pos : 0;
		return 0;
	}
	*offp = u64_to_user_ptr(*offset);
	if (get_user(pos, *offp))
		return -EFAULT;
	*offset = pos;
	return 0;
}

int sm_load_iovecs(struct splicemsg_iovec *iov, u64 uptr, u32 cnt,
		   size_t *bytes)
{
	u32 i;

	if (!cnt)
		return 0;
	if (copy_from_user(iov, u64_to_user_ptr(uptr), cnt * sizeof(*iov)))
		return -EFAULT;
	for (i = 0; i < cnt; i++) {
		if (iov[i].len > SM_MAX_HDTR)
			return -EINVAL;
		*bytes += iov[i].len;
	}
	return 0;
}

void sm_count_error(long err)
{
	switch (err) {
	case -EINVAL:
	case -EMSGSIZE:
	case -EOPNOTSUPP:
	case -ENOTSOCK:
	case -EBADF:
		atomic64_inc(&sm_counters.err_inval);
		break;
	case -EFAULT:
		atomic64_inc(&sm_counters.err_fault);
		break;
	case -EAGAIN:
		atomic64_inc(&sm_counters.err_again);
		break;
	case -EINTR:
	case -ERESTARTSYS:
		atomic64_inc(&sm_counters.err_intr);
		break;
	default:
		atomic64_inc(&sm_counters.err_other);
	}
}

long sm_send(struct splicemsg_send *req, bool from_uring)
{
	struct splicemsg_iovec iov[SM_MAX_IOVECS];
	size_t hbytes = 0, tbytes = 0;
	struct sm_ctx ctx = {};
	struct file *sfile, *file = NULL;
	loff_t __user *offp = NULL;
	long ret, total;
	int transport;

	atomic64_inc(&sm_counters.calls);
	if ((req->flags & ~SPLICEMSG_SEND_FLAGS) || req->reserved[0] ||
	    req->reserved[1] || req->count > SM_MAX_COUNT ||
	    req->hdr_cnt > SM_MAX_IOVECS ||
	    req->trl_cnt > SM_MAX_IOVECS - req->hdr_cnt ||
	    (req->count && req->file_fd < 0)) {
		ret = -EINVAL;
		goto out_err;
	}

	sfile = fget(req->sock_fd);
	if (!sfile) {
		ret = -EBADF;
		goto out_err;
	}
	ctx.sock = sock_from_file(sfile);
	ret = ctx.sock ? sock_transport(ctx.sock) : -ENOTSOCK;
	if (ret < 0)
		goto out_sock;
	transport = ret;
	if (req->count) {
		file = fget(req->file_fd);
		ret = file ? sm_load_pos(req->flags, &req->offset, file,
					 &offp) : -EBADF;
		if (!ret)
			ret = sm_check_file(file, req->flags, req->offset,
					    req->count);
		if (ret)
			goto out_file;
	}

	ret = sm_load_iovecs(iov, req->hdr_iov, req->hdr_cnt, &hbytes);
	if (!ret)
		ret = sm_load_iovecs(iov + req->hdr_cnt, req->trl_iov,
				  req->trl_cnt, &tbytes);
	if (!ret && hbytes + tbytes > SM_MAX_HDTR)
		ret = -EINVAL;
	if (ret)
		goto out_file;
	if (transport != SM_UDP) {
		ret = sm_bytes_init(&ctx.hdr, DIV_ROUND_UP(hbytes, PAGE_SIZE));
		if (!ret)
			ret = sm_bytes_init(&ctx.trl,
					    DIV_ROUND_UP(tbytes, PAGE_SIZE));
		if (!ret)
			ret = sm_bytes_from_user(&ctx.hdr, iov, req->hdr_cnt);
		if (!ret)
			ret = sm_bytes_from_user(&ctx.trl, iov + req->hdr_cnt,
					      req->trl_cnt);
		if (ret)
			goto out_bytes;
		ctx.max_out = ctx.hdr.nr_bv + ctx.trl.nr_bv +
			      PIPE_DEF_BUFFERS;
	} else {
		ctx.max_out = DIV_ROUND_UP(SM_MAX_UDP, PAGE_SIZE);
	}
	ctx.out = kcalloc(ctx.max_out, sizeof(*ctx.out), GFP_KERNEL);
	if (!ctx.out) {
		ret = -ENOMEM;
		goto out_bytes;
	}
	if ((req->flags & SPLICEMSG_SEND_DONTWAIT) ||
	    (sfile->f_flags & O_NONBLOCK))
		ctx.msg_flags |= MSG_DONTWAIT;
	/* An io-wq worker is not the thread to signal. */
	if ((req->flags & SPLICEMSG_SEND_NOSIGNAL) || from_uring)
		ctx.msg_flags |= MSG_NOSIGNAL;
	ctx.more = req->flags & SPLICEMSG_SEND_MORE;

	if (transport == SM_UDP)
		ret = send_dgram(&ctx, file, req, iov, hbytes + tbytes);
	else
		ret = send_stream(&ctx, file, req);

	total = transport == SM_UDP ? ctx.dgram_sent :
		ctx.hdr.sent + ctx.file_sent + ctx.trl.sent;
	req->sent = total;
	req->file_sent = ctx.file_sent;
	req->offset += ctx.file_sent;
	atomic64_add(total, &sm_counters.bytes);
	atomic64_add(ctx.file_sent, &sm_counters.file_bytes);
	/* Like sendfile(2): what went is the answer, not the error. */
	if (total)
		ret = total;
	if (file && (req->flags & SPLICEMSG_SEND_OFFPTR)) {
		/* ... except a position that cannot be written back */
		if (!offp)
			file->f_pos = req->offset;
		else if (put_user((loff_t)req->offset, offp))
			ret = -EFAULT;
	}
	kfree(ctx.out);
out_bytes:
	sm_bytes_free(&ctx.hdr);
	sm_bytes_free(&ctx.trl);
out_file:
	if (file)
		fput(file);
out_sock:
	fput(sfile);
out_err:
	if (ret < 0)
		sm_count_error(ret);
	if (from_uring && ret == -ERESTARTSYS)
		ret = -EINTR;
	return ret;
}

void sm_send_exit(void)
{
	page_frag_cache_drain(&frag_cache);
}
