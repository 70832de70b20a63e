// SPDX-License-Identifier: GPL-2.0
/*
 * splicemsg.ko: /dev/splicemsg gives user space what it cannot reach
 * itself, sendmsg(MSG_SPLICE_PAGES): header + file range + trailer in one
 * stream of page-backed sends (FreeBSD's sendfile(2) with sf_hdtr), as an
 * ioctl and as IORING_OP_URING_CMD.  ABI: include/uapi/linux/splicemsg.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/io_uring/cmd.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "splicemsg.h"
#include "version.h"

struct sm_counters sm_counters;

#ifdef SM_HAVE_REG
#define SM_FEAT_REG SPLICEMSG_FEAT_REG
#define SM_MAX_REG_BYTES SM_MAX_REG
#else
#define SM_FEAT_REG 0
#define SM_MAX_REG_BYTES 0
#endif
#define SM_FEATURES (SPLICEMSG_FEAT_TCP | SPLICEMSG_FEAT_UDP |		\
		     SPLICEMSG_FEAT_UNIX | SPLICEMSG_FEAT_URING_CMD |	\
		     SPLICEMSG_FEAT_HDTR | SPLICEMSG_FEAT_STAGE |	\
		     SPLICEMSG_FEAT_OFFPTR | SM_FEAT_REG)

/*
 * The caller's struct: its size first, then copy_struct_from_user().
 * *@usize is the caller's size, which is all an answer may write back.
 */
static int get_struct(void *dst, size_t ksize, const void __user *src,
		      size_t min, u32 *usize)
{
	int ret;

	if (get_user(*usize, (const u32 __user *)src))
		return -EFAULT;
	if (*usize < min || *usize > PAGE_SIZE)
		return -EINVAL;
	ret = copy_struct_from_user(dst, ksize, src, *usize);
	return ret == -E2BIG ? -EINVAL : ret;
}

/* Our answer, cut to the caller's struct: what it does not know stays. */
static long put_struct(void __user *dst, const void *src, size_t ksize,
		       u32 usize)
{
	return copy_to_user(dst, src, min_t(size_t, ksize, usize)) ?
	       -EFAULT : 0;
}

static long ioc_version(void __user *arg)
{
	struct splicemsg_version v;
	u32 usize;
	int ret = get_struct(&v, sizeof(v), arg, sizeof(u32), &usize);

	if (ret)
		return ret;
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	v.api_version = SPLICEMSG_API_VERSION;
	v.features = SM_FEATURES;
	v.max_iovecs = SM_MAX_IOVECS;
	v.max_hdtr = SM_MAX_HDTR;
	v.max_count = SM_MAX_COUNT;
	v.max_stage = SM_MAX_STAGE;
	v.max_reg = SM_MAX_REG_BYTES;
	return put_struct(arg, &v, sizeof(v), usize);
}

/* The ABI struct lists the counters in counters.def's order, from calls. */
enum {
#define SM_KCOUNTER(f) SM_KC_##f,
#include "counters.def"
#undef SM_KCOUNTER
};

static long ioc_stats(void __user *arg)
{
	struct splicemsg_stats st;
	u32 usize;
	int ret = get_struct(&st, sizeof(st), arg, sizeof(u32), &usize);

	if (ret)
		return ret;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
#define SM_KCOUNTER(f)							\
	BUILD_BUG_ON(offsetof(struct splicemsg_stats, f) !=		\
		     offsetof(struct splicemsg_stats, calls) +		\
		     sizeof(__u64) * SM_KC_##f);				\
	st.f = atomic64_read(&sm_counters.f);
#include "counters.def"
#undef SM_KCOUNTER
	return put_struct(arg, &st, sizeof(st), usize);
}

/*
 * Results go back into the caller's struct unless nothing went and the
 * answer is an error, which leaves it as it was (bytes that went and an
 * OFFPTR write-back that failed: EFAULT, and the counts are still told).
 * With SPLICEMSG_SEND_OFFPTR the
 * offset field is the caller's pointer (or 0) and stays so: a call the
 * kernel restarts after a signal must read the same pointer again.
 */
static long do_send(void __user *arg, bool from_uring)
{
	struct splicemsg_send __user *u = arg;
	struct splicemsg_send req;
	u64 uoffset;
	u32 usize;
	long ret;

	BUILD_BUG_ON(sizeof(req) < SM_SEND_SIZE_V1);
	ret = get_struct(&req, sizeof(req), arg, SM_SEND_SIZE_V1, &usize);
	if (ret)
		return ret;
	uoffset = req.offset;
	req.sent = 0;		/* out fields: what the caller put there is not ours */
	req.file_sent = 0;
	ret = sm_send(&req, from_uring);
	if (ret < 0 && !req.sent)
		return ret;
	if (req.flags & SPLICEMSG_SEND_OFFPTR)
		req.offset = uoffset;
	if (put_user(req.offset, &u->offset) ||
	    put_user(req.sent, &u->sent) ||
	    put_user(req.file_sent, &u->file_sent))
		return ret > 0 ? ret : -EFAULT;
	return ret;
}

#ifdef SM_HAVE_REG
/*
 * A registration's struct, read where the command runs: inline, or in
 * io-wq after IOSQE_ASYNC or a REG_FILE's -EAGAIN, both of which copy the
 * SQE first on the kernels that have these commands.
 */
static int do_reg(struct io_uring_cmd *ioucmd, void __user *arg,
		  unsigned int issue_flags)
{
	struct splicemsg_reg req;
	u32 usize;
	int ret;

	BUILD_BUG_ON(sizeof(req) != SM_REG_SIZE_V1);
	ret = get_struct(&req, sizeof(req), arg, SM_REG_SIZE_V1, &usize);
	if (ret) {
		sm_count_error(ret);
		return ret;
	}
	return sm_reg_cmd(ioucmd, &req, issue_flags);
}
#endif

static long sm_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case SPLICEMSG_IOC_VERSION:
		return ioc_version(uarg);
	case SPLICEMSG_IOC_SEND:
		return do_send(uarg, false);
	case SPLICEMSG_IOC_STATS:
		return ioc_stats(uarg);
	default:
		return -ENOTTY;
	}
}

/*
 * IORING_OP_URING_CMD: the send may block, so it must come with IOSQE_ASYNC
 * and run in an io-wq worker, which shares the submitter's mm and file
 * table; the return value becomes cqe->res.  An inline non-blocking issue
 * is refused rather than punted with -EAGAIN: Debian's 6.12 then issues
 * the command again from io-wq with ->sqe still pointing into the SQ ring,
 * whose slot the application may have reused by then (a command carried
 * out with another one's pointer); IOSQE_ASYNC copies the SQE at prep.
 */
static int sm_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags)
{
	u64 uptr = READ_ONCE(*sm_sqe_cmd(ioucmd->sqe, u64));

	switch (ioucmd->cmd_op) {
	case SPLICEMSG_IOC_SEND:
		if (issue_flags & IO_URING_F_NONBLOCK)
			return -EINVAL;
		return do_send(u64_to_user_ptr(uptr), true);
#ifdef SM_HAVE_REG
	case SPLICEMSG_IOC_REG_FILE:
	case SPLICEMSG_IOC_REG_BYTES:
	case SPLICEMSG_IOC_UNREG:
		return do_reg(ioucmd, u64_to_user_ptr(uptr), issue_flags);
#endif
	default:
		return -ENOTTY;
	}
}

static const struct file_operations sm_fops = {
	.owner = THIS_MODULE,
	.open = sm_stage_open,
	.release = sm_stage_release,
	.mmap = sm_stage_mmap,
	.unlocked_ioctl = sm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.uring_cmd = sm_uring_cmd,
};

#define SM_ATTR(f)							\
static ssize_t f##_show(struct device *dev,				\
			struct device_attribute *attr, char *buf)	\
{									\
	return sysfs_emit(buf, "%lld\n",				\
			  (long long)atomic64_read(&sm_counters.f));	\
}									\
static DEVICE_ATTR_RO(f)
#define SM_KCOUNTER(f) SM_ATTR(f);
#include "counters.def"
#undef SM_KCOUNTER

static struct attribute *sm_attrs[] = {
#define SM_KCOUNTER(f) &dev_attr_##f.attr,
#include "counters.def"
#undef SM_KCOUNTER
	NULL,
};
ATTRIBUTE_GROUPS(sm);

static struct miscdevice sm_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "splicemsg",
	.fops = &sm_fops,
	.groups = sm_groups,
	.mode = 0666,
};

static int __init sm_init(void)
{
	int ret = misc_register(&sm_misc);

	if (!ret)
		pr_info("/dev/splicemsg ready, api %d\n",
			SPLICEMSG_API_VERSION);
	return ret;
}

static void __exit sm_exit(void)
{
	misc_deregister(&sm_misc);
	sm_send_exit();
}

module_init(sm_init);
module_exit(sm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("header + file + trailer in one sendmsg(MSG_SPLICE_PAGES)");
MODULE_VERSION(SPLICEMSG_VERSION);
