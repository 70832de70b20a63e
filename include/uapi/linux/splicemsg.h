/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR LGPL-2.1-or-later */
/*
 * splicemsg.ko <-> user space ABI: the only one, shared by the module and
 * libsplicemsg.  Rules (Documentation/process/botching-up-ioctls.rst):
 * fixed-size fields, pointers as __u64, explicit padding, reserved fields
 * that must be zero, and a leading size field so structs can grow: the
 * kernel accepts a smaller struct from older user space (missing fields are
 * zero) and a larger one only if the bytes it does not know are zero.
 * An answer is written back only as far as the caller's size.
 */
#ifndef _UAPI_LINUX_SPLICEMSG_H
#define _UAPI_LINUX_SPLICEMSG_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define SPLICEMSG_DEVICE "/dev/splicemsg"
#define SPLICEMSG_API_VERSION 1
#define SPLICEMSG_IOC_MAGIC 0xb5

/* features */
#define SPLICEMSG_FEAT_TCP		(1ULL << 0)
#define SPLICEMSG_FEAT_UDP		(1ULL << 1)
#define SPLICEMSG_FEAT_UNIX		(1ULL << 2)
#define SPLICEMSG_FEAT_URING_CMD	(1ULL << 3)
#define SPLICEMSG_FEAT_HDTR		(1ULL << 4)
#define SPLICEMSG_FEAT_STAGE		(1ULL << 5)	/* mmap staging area */
#define SPLICEMSG_FEAT_OFFPTR		(1ULL << 6)	/* SEND_OFFPTR */
#define SPLICEMSG_FEAT_REG		(1ULL << 7)	/* REG_FILE, REG_BYTES */

struct splicemsg_version {
	__u32 size;		/* in: sizeof as known to the caller */
	__u32 api_version;	/* out: SPLICEMSG_API_VERSION */
	__u64 features;		/* out: SPLICEMSG_FEAT_* */
	__u32 max_iovecs;	/* out: header + trailer iovecs per send */
	__u32 max_hdtr;		/* out: header + trailer bytes per send */
	__u64 max_count;	/* out: file bytes per send */
	__u32 max_stage;	/* out: staging bytes per open file */
	__u32 pad;		/* out: zero */
	__u64 max_reg;		/* out: file bytes per REG_FILE (0: no REG) */
	__u64 reserved[2];	/* out: zero */
};

struct splicemsg_iovec {
	__u64 base;		/* user pointer */
	__u64 len;
};

/* send flags */
#define SPLICEMSG_SEND_MORE	(1U << 0)	/* more follows: MSG_MORE */
#define SPLICEMSG_SEND_DONTWAIT	(1U << 1)	/* MSG_DONTWAIT */
#define SPLICEMSG_SEND_NOSIGNAL	(1U << 2)	/* no SIGPIPE on EPIPE */
/*
 * sendfile(2)'s offset argument: @offset is a user pointer to a loff_t,
 * read before anything is sent (EFAULT) and written back after (EFAULT
 * even though bytes went, as sendfile(2)), or 0 for the file's own
 * position, used and advanced; the field itself is left as it was, so a
 * call restarted after a signal reads the same pointer.  In this mode the
 * module refuses, before sending a byte, what it does not do exactly as
 * sendfile(2) would (O_DIRECT or stream-like files: EOPNOTSUPP; ranges
 * beyond the filesystem's maximum file size: EOVERFLOW), so a caller can
 * leave those to sendfile(2).
 */
#define SPLICEMSG_SEND_OFFPTR	(1U << 3)
#define SPLICEMSG_SEND_FLAGS	(SPLICEMSG_SEND_MORE |			\
				 SPLICEMSG_SEND_DONTWAIT |		\
				 SPLICEMSG_SEND_NOSIGNAL |		\
				 SPLICEMSG_SEND_OFFPTR)

/*
 * Send header iovecs, then @count bytes of @file_fd from @offset, then
 * trailer iovecs, as one stream of MSG_SPLICE_PAGES sends (one datagram on
 * UDP).  Returns the total bytes sent (header + file + trailer) or -errno;
 * a partial send returns its count like sendfile(2), with @offset advanced
 * by the file bytes sent (without OFFPTR) and @sent / @file_sent filled
 * in.  An error with nothing sent leaves the struct as it was.
 */
struct splicemsg_send {
	__u32 size;		/* in: sizeof as known to the caller */
	__u32 flags;		/* in: SPLICEMSG_SEND_* */
	__s32 sock_fd;		/* in: TCP, UDP (connected) or AF_UNIX stream */
	__s32 file_fd;		/* in: regular file open for reading, or -1 */
	__u64 offset;		/* in/out: file offset (or see OFFPTR) */
	__u64 count;		/* in: file bytes (0: none) */
	__u64 hdr_iov;		/* in: struct splicemsg_iovec[hdr_cnt] */
	__u64 trl_iov;		/* in: struct splicemsg_iovec[trl_cnt] */
	__u32 hdr_cnt;
	__u32 trl_cnt;
	__u64 sent;		/* out: total bytes sent */
	__u64 file_sent;	/* out: file bytes sent */
	__u64 reserved[2];	/* in: must be zero */
};

/* counters, also in /sys/class/misc/splicemsg/ */
struct splicemsg_stats {
	__u32 size;
	__u32 pad;		/* zero */
	__u64 calls;
	__u64 bytes;
	__u64 file_bytes;
	__u64 pages_attached;	/* page-cache pages handed to sockets */
	__u64 frags_allocated;	/* page fragments for header/trailer/UDP */
	__u64 err_inval;	/* rejected arguments */
	__u64 err_fault;
	__u64 err_again;
	__u64 err_intr;
	__u64 err_other;
	__u64 stage_pages;	/* pages held by staging areas now */
	__u64 reg_pages;	/* pages held by registered buffers now */
	__u64 reserved[2];
};

#define SPLICEMSG_IOC_VERSION	_IOWR(SPLICEMSG_IOC_MAGIC, 0, \
				      struct splicemsg_version)
#define SPLICEMSG_IOC_SEND	_IOWR(SPLICEMSG_IOC_MAGIC, 1, \
				      struct splicemsg_send)
#define SPLICEMSG_IOC_STATS	_IOWR(SPLICEMSG_IOC_MAGIC, 2, \
				      struct splicemsg_stats)

/*
 * Registered buffers (SPLICEMSG_FEAT_REG; Linux 7.3 and later): the module
 * puts pages into a slot of the submitting ring's buffer table (made with
 * IORING_REGISTER_BUFFERS2 and IORING_RSRC_REGISTER_SPARSE, or
 * io_uring_register_buffers_sparse()), from which IORING_OP_SEND_ZC or
 * IORING_OP_SENDMSG_ZC with IORING_RECVSEND_FIXED_BUF sends them, with
 * sqe->addr (and iovec bases) as offsets from 0 in the buffer.  The
 * buffer is registered for sending only: an operation that would write
 * into it (READ_FIXED, RECV with a fixed buffer, ...) fails with EFAULT,
 * so page-cache pages are never written through it.  Each is
 * IORING_OP_URING_CMD only (as an ioctl: ENOTTY) with sqe->cmd_op set to
 * the command and the first 8 bytes of sqe->cmd holding a user pointer to
 * struct splicemsg_reg, valid until the CQE.  A buffer lives until it is
 * unregistered (SPLICEMSG_IOC_UNREG, IORING_UNREGISTER_BUFFERS, ring exit)
 * and the last request using it completes; until then it holds a
 * reference to each of its pages and to the /dev/splicemsg file it came
 * through (so the module stays loaded).
 *
 * SPLICEMSG_IOC_REG_FILE: @len bytes of @file_fd from @offset, as the
 * file's page-cache pages (read in where needed; pages of holes the
 * filesystem gives as the zero page), cut at the end of the file as
 * sendfile(2) cuts it.  The pages are the file's: bytes written to the
 * file after the registration are what a later send sends, and a file
 * truncated afterwards keeps the registered length (bytes of a page the
 * truncation zeroes read as zero).  cqe->res: the bytes registered, 0 at
 * or past the end of the file (nothing registered, the slot stays free),
 * or -errno.  It runs inline when every page of the range is in the page
 * cache, and from io-wq otherwise (and with IOSQE_ASYNC).
 * SPLICEMSG_REG_OFFPTR: @offset is sendfile(2)'s offset argument, as with
 * SPLICEMSG_SEND_OFFPTR, advanced by the file bytes registered.  With
 * @iov_cnt, the bytes of @iov (as REG_BYTES takes them) come first in the
 * buffer and cqe->res counts them too: a response's header and body in
 * one buffer, for one SEND_ZC (io_uring takes one buffer per request);
 * at or past the end of the file the header alone is registered.
 *
 * SPLICEMSG_IOC_REG_BYTES: the bytes of @iov[@iov_cnt] (at most
 * max_iovecs iovecs and max_hdtr bytes, as for a send's header and
 * trailer) copied into page fragments.  cqe->res: the bytes registered.
 *
 * SPLICEMSG_IOC_UNREG: empties slot @index of a kernel-registered buffer;
 * in-flight sends keep it alive until they complete.
 *
 * Fields a command does not name must be zero; errors: EBADF (a bad
 * file_fd or one not open for reading), EINVAL (anything else invalid,
 * including an index beyond the table), EBUSY (the slot is taken), EFAULT,
 * ENOMEM (all registered buffers of the system share 256 MiB of pages).
 */
#define SPLICEMSG_REG_OFFPTR	SPLICEMSG_SEND_OFFPTR
#define SPLICEMSG_REG_FLAGS	SPLICEMSG_REG_OFFPTR

struct splicemsg_reg {
	__u32 size;		/* in: sizeof as known to the caller */
	__u32 flags;		/* in: SPLICEMSG_REG_* (REG_FILE) */
	__s32 file_fd;		/* in: regular file open for reading (REG_FILE) */
	__u32 index;		/* in: slot in the ring's buffer table */
	__u64 offset;		/* in: file offset, or see OFFPTR (REG_FILE) */
	__u64 len;		/* in: bytes, 1 to max_reg (REG_FILE) */
	__u64 iov;		/* in: struct splicemsg_iovec[iov_cnt] */
	__u32 iov_cnt;		/* in: REG_BYTES: 1 or more; REG_FILE: 0 or more */
	__u32 pad;		/* in: zero */
	__u64 reserved[2];	/* in: zero */
};

#define SPLICEMSG_IOC_REG_FILE	_IOW(SPLICEMSG_IOC_MAGIC, 3, \
				     struct splicemsg_reg)
#define SPLICEMSG_IOC_REG_BYTES	_IOW(SPLICEMSG_IOC_MAGIC, 4, \
				     struct splicemsg_reg)
#define SPLICEMSG_IOC_UNREG	_IOW(SPLICEMSG_IOC_MAGIC, 5, \
				     struct splicemsg_reg)

/*
 * IORING_OP_URING_CMD on an open /dev/splicemsg: sqe->cmd_op =
 * SPLICEMSG_IOC_SEND and the first 8 bytes of sqe->cmd hold a user pointer
 * to struct splicemsg_send, which must stay valid until the CQE; cqe->res
 * is the ioctl's return value.  The send may block, so the SQE must carry
 * IOSQE_ASYNC (else cqe->res is -EINVAL): io_uring then copies the SQE
 * before the command runs in an io-wq worker, which some kernels (Debian's
 * 6.12) do not do for a command punted from an inline issue.  SIGPIPE is
 * never raised from io_uring.
 */

/*
 * The staging area: mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
 * dev_fd, 0) on an open /dev/splicemsg maps len bytes (a multiple of the
 * page size, at most max_stage) of zeroed pages taken from the kernel's
 * page-fragment allocator, once per open file (EBUSY after that).  The
 * pages are ordinary kernel pages, so io_uring can register them as fixed
 * (bvec-backed) buffers (IORING_REGISTER_BUFFERS) and send from them with
 * IORING_OP_SEND_ZC + IORING_RECVSEND_FIXED_BUF.  They live until the last
 * of the mapping, the open file, io_uring's pin and in-flight skbs lets go.
 * The mapping has no fault handler: a range unmapped from it (munmap,
 * MADV_DONTNEED, the old range of MREMAP_DONTUNMAP) raises SIGBUS when
 * touched.  Every open file draws on one budget of staging pages for the
 * whole system (ENOMEM when it is spent).
 */

#endif /* _UAPI_LINUX_SPLICEMSG_H */
