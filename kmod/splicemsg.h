/* SPDX-License-Identifier: GPL-2.0 */
/* splicemsg.ko internals shared by main.c and send.c. */
#ifndef SPLICEMSG_KMOD_H
#define SPLICEMSG_KMOD_H

#include <linux/atomic.h>
#include <linux/sizes.h>
#include <linux/types.h>

struct bio_vec;
struct file;
struct inode;
struct vm_area_struct;
#include <uapi/linux/splicemsg.h>

#define SM_MAX_IOVECS 16		/* header + trailer iovecs */
#define SM_MAX_HDTR (32U << 10)		/* header + trailer bytes */
#define SM_MAX_UDP 65535U		/* largest datagram payload */
#define SM_MAX_STAGE SZ_1M		/* staging bytes per open file */
#define SM_MAX_STAGE_TOTAL (64UL * SZ_1M)	/* ... and in all open files */
/* sendfile's cap, less room for header and trailer: fits a long */
#define SM_MAX_COUNT ((u64)MAX_RW_COUNT - SM_MAX_HDTR)
/* struct splicemsg_send as API version 1 had it: older callers send this */
#define SM_SEND_SIZE_V1 88

struct sm_counters {
#define SM_KCOUNTER(name) atomic64_t name;
#include "counters.def"
#undef SM_KCOUNTER
};

extern struct sm_counters sm_counters;

/* Validated request; @nosignal forced for io_uring. Returns sent or -errno. */
long sm_send(struct splicemsg_send *req, bool from_uring);
void sm_send_exit(void);
void *sm_frag_page(void);
void sm_count_error(long err);

/*
 * Bytes copied into page fragments (one bvec per whole, page-aligned
 * fragment page), and how many of them went; send.c's, lent to reg.c.
 */
struct sm_bytes {
	struct bio_vec *bv;
	void **frags;
	unsigned int nr_bv, nr_frags, max_frags;
	size_t len, sent;
};

int sm_bytes_init(struct sm_bytes *b, unsigned int frags);
int sm_bytes_from_user(struct sm_bytes *b,
		       const struct splicemsg_iovec *iov, unsigned int cnt);
void sm_bytes_free(struct sm_bytes *b);
int sm_load_iovecs(struct splicemsg_iovec *iov, u64 uptr, u32 cnt,
		   size_t *bytes);
int sm_check_file(struct file *file, u32 flags, u64 offset, u64 count);
int sm_load_pos(u32 flags, u64 *offset, struct file *file,
		loff_t __user **offp);

/*
 * Registered buffers (reg.c, Linux 7.3+: SM_HAVE_REG in compat.h): the
 * URING_CMD sub-commands SPLICEMSG_IOC_REG_FILE, _REG_BYTES and _UNREG.
 */
struct io_uring_cmd;
#define SM_MAX_REG SZ_64M		/* file bytes per registered buffer */
#define SM_MAX_REG_TOTAL SZ_256M	/* ... pages held by all of them */
/* struct splicemsg_reg as API version 1 has it */
#define SM_REG_SIZE_V1 64
int sm_reg_cmd(struct io_uring_cmd *cmd, struct splicemsg_reg *req,
	       unsigned int issue_flags);

/* The mappable staging area of one open /dev/splicemsg (stage.c). */
int sm_stage_open(struct inode *inode, struct file *file);
int sm_stage_release(struct inode *inode, struct file *file);
int sm_stage_mmap(struct file *file, struct vm_area_struct *vma);

#endif
