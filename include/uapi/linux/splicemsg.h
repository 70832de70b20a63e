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

struct splicemsg_version {
	__u32 size;		/* in: sizeof as known to the caller */
	__u32 api_version;	/* out: SPLICEMSG_API_VERSION */
	__u64 features;		/* out: SPLICEMSG_FEAT_* */
	__u32 max_iovecs;	/* out: header + trailer iovecs per send */
	__u32 max_hdtr;		/* out: header + trailer bytes per send */
	__u64 max_count;	/* out: file bytes per send */
	__u32 max_stage;	/* out: staging bytes per open file */
	__u32 pad;		/* out: zero */
	__u64 reserved[3];	/* out: zero */
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
	__u64 reserved[3];
};

#define SPLICEMSG_IOC_VERSION	_IOWR(SPLICEMSG_IOC_MAGIC, 0, \
				      struct splicemsg_version)
#define SPLICEMSG_IOC_SEND	_IOWR(SPLICEMSG_IOC_MAGIC, 1, \
				      struct splicemsg_send)
#define SPLICEMSG_IOC_STATS	_IOWR(SPLICEMSG_IOC_MAGIC, 2, \
				      struct splicemsg_stats)

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
