/* SPDX-License-Identifier: GPL-2.0 */
/* splicemsg.ko internals shared by main.c and send.c. */
#ifndef SPLICEMSG_KMOD_H
#define SPLICEMSG_KMOD_H

#include <linux/atomic.h>
#include <linux/sizes.h>
#include <linux/types.h>

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

/* The mappable staging area of one open /dev/splicemsg (stage.c). */
int sm_stage_open(struct inode *inode, struct file *file);
int sm_stage_release(struct inode *inode, struct file *file);
int sm_stage_mmap(struct file *file, struct vm_area_struct *vma);

#endif
