// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel helper, /dev/splicemsg (kmod/): opened once per process and
 * used only after the version handshake.  Its send runs the kernel's own
 * splice path, so a file that shrinks, SIGPIPE and signal restarts behave
 * exactly as in sendfile(2); an ioctl that a SA_RESTART handler interrupts
 * is restarted by the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/splicemsg.h>

#include "sm.h"

static pthread_once_t kmod_once = PTHREAD_ONCE_INIT;
static int kmod_fd = -1;
static int kmod_err = -ENODEV;
static size_t kmod_max;		/* file bytes per send, from the module */
static size_t kmod_max_hdtr;	/* header + trailer bytes per send */
static bool kmod_offptr;	/* it takes sendfile(2)'s offset argument */
static size_t kmod_max_reg;	/* file bytes per REG_FILE, 0 without it */

static void kmod_open(void)
{
	struct splicemsg_version v = { .size = sizeof(v) };
	int fd = sm_sys_openat(AT_FDCWD, SPLICEMSG_DEVICE, O_RDWR | O_CLOEXEC,
			       0);

	if (fd < 0) {
		kmod_err = -errno;
		return;
	}
	if (sm_real.ioctl(fd, SPLICEMSG_IOC_VERSION, &v) < 0 ||
	    v.api_version != SPLICEMSG_API_VERSION ||
	    !(v.features & SPLICEMSG_FEAT_TCP)) {
		sm_warn("%s: API %u, want %u: not used", SPLICEMSG_DEVICE,
			v.api_version, SPLICEMSG_API_VERSION);
		sm_sys_close(fd);
		kmod_err = -EPROTO;
		return;
	}
	sm_fd_adopt(fd, &kmod_fd, NULL);
	kmod_max = v.max_count;
	kmod_max_hdtr = v.max_hdtr;
	kmod_offptr = v.features & SPLICEMSG_FEAT_OFFPTR;
	if (v.features & SPLICEMSG_FEAT_REG)
		kmod_max_reg = v.max_reg;
	kmod_err = 0;
	sm_info("using %s (api %u)", SPLICEMSG_DEVICE, v.api_version);
}

bool sm_kmod_available(void)
{
	pthread_once(&kmod_once, kmod_open);
	return kmod_err == 0;
}

size_t sm_kmod_max_count(void)
{
	return kmod_max;
}

size_t sm_kmod_max_hdtr(void)
{
	return kmod_max_hdtr;
}

bool sm_kmod_offptr(void)
{
	return kmod_offptr;
}

size_t sm_kmod_max_reg(void)
{
	return sm_kmod_available() ? kmod_max_reg : 0;
}

int sm_kmod_fd(void)
{
	return __atomic_load_n(&kmod_fd, __ATOMIC_ACQUIRE);
}

ssize_t sm_kmod_sendfile(int out_fd, int in_fd, uint64_t offset, size_t len,
			 const void *hdr, size_t hdr_len, unsigned int flags,
			 size_t *file_sent, size_t *sent)
{
	struct splicemsg_iovec h = { (uintptr_t)hdr, hdr_len };
	struct splicemsg_send req = {
		.size = sizeof(req),
		.flags = flags,
		.sock_fd = out_fd,
		.file_fd = in_fd,
		.offset = offset,
		.count = len,
		.hdr_iov = (uintptr_t)&h,
		.hdr_cnt = hdr_len ? 1 : 0,
	};
	long ret;

	ret = sm_real.ioctl(__atomic_load_n(&kmod_fd, __ATOMIC_ACQUIRE),
			    SPLICEMSG_IOC_SEND, &req);
	*file_sent = req.file_sent;
	*sent = req.sent;
	return ret < 0 ? -errno : ret;
}
