// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * syscall(2) and prctl(2): a raw system call the application makes through
 * libc gets the care of the libc call it stands for -- a write waits for
 * held bytes, a close or dup2 keeps the descriptor table honest, a new
 * descriptor is recorded -- and a seccomp filter's arrival ends everything
 * the shim does on its own (init.c: sm_sandbox).  A system call made with
 * an instruction of the application's own is not seen (docs/semantics.md, Known
 * differences).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "sm.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

/* The descriptor a write-like call writes to, or -1. */
static long written_fd(long nr, const long *a)
{
	switch (nr) {
	case SYS_write:
	case SYS_writev:
	case SYS_pwritev:
	case SYS_pwritev2:
	case SYS_sendto:
	case SYS_sendmsg:
	case SYS_sendmmsg:
	case SYS_sendfile:
		return a[0];
	case SYS_splice:
		return a[2];
	default:
		return -1;
	}
}

/*
 * A new process with a copy of ours, which glibc's fork handlers never see:
 * it would send the held bytes a second time (init.c: sm_fork_prepare).
 * With CLONE_VM it shares our memory, and what is held is held once.
 */
static bool copies_process(long nr, const long *a)
{
	uint64_t flags;

	switch (nr) {
	case SYS_fork:
		return true;
	case SYS_clone:
		return !(a[0] & CLONE_VM);
	case SYS_clone3:
		return (unsigned long)a[1] >= sizeof(flags) &&
		       !sm_copy_in(&flags, (const void *)a[0], sizeof(flags)) &&
		       !(flags & CLONE_VM);
	default:
		return false;
	}
}

long sm_syscall_before(long nr, const long *a)
{
	long fd = written_fd(nr, a);

	if (fd >= 0)
		return sm_hold_before_write(fd, 0);
	if (copies_process(nr, a)) {
		sm_fork_prepare();
		return 0;
	}
	switch (nr) {
	case SYS_close:
		return sm_fd_close(a[0]);
	case SYS_dup2:
	case SYS_dup3:
		return sm_fd_dup_onto(a[0], a[1]);
	case SYS_shutdown:
		sm_hold_shutdown(a[0], a[1]);
		return 0;
	case SYS_truncate:
	case SYS_ftruncate:
	case SYS_fallocate:
	case SYS_copy_file_range:
		sm_fd_files_changed();
		return 0;
	case SYS_close_range:
		sm_hold_flush_all();
		sm_fd_forget_range(a[0], a[1]);
		return 0;
	case SYS_seccomp:
		if (a[0] == SECCOMP_SET_MODE_STRICT ||
		    a[0] == SECCOMP_SET_MODE_FILTER)
			sm_sandbox();
		return 0;
	case SYS_prctl:
		if (a[0] == PR_SET_SECCOMP)
			sm_sandbox();
		return 0;
	case SYS_chroot:
		sm_stats_before_chroot();
		return 0;
	default:
		return 0;
	}
}

void sm_syscall_after(long nr, const long *a, long ret)
{
	int sv[2];

	if (copies_process(nr, a)) {
		if (ret)	/* the parent's, failed or not */
			sm_fork_parent();
		else
			sm_fork_child();
		return;
	}
	if (ret < 0)
		return;
	switch (nr) {
	case SYS_dup:
	case SYS_dup2:
	case SYS_dup3:
		sm_fd_dup(a[0], ret);
		break;
	case SYS_fcntl:
		if (a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC)
			sm_fd_dup(a[0], ret);
		if (a[1] == F_SETFL)
			sm_fd_setfl(a[0], false, a[2], ret);
		break;
	case SYS_ioctl:
		if (a[1] == FIONBIO &&
		    !sm_copy_in(&sv[0], (const void *)a[2], sizeof(int)))
			sm_fd_setfl(a[0], true, sv[0], ret);
		break;
	case SYS_socket:
		sm_fd_socket(ret, a[0], a[1], a[2]);
		break;
	/* the peer's address, if any, is asked for again: its room is
	 * not known here */
	case SYS_accept4:
		sm_fd_accepted(a[0], ret, SM_SOCK_FL(a[3]), NULL, 0, NULL);
		break;
	case SYS_accept:
		sm_fd_accepted(a[0], ret, SM_SOCK_FL(0), NULL, 0, NULL);
		break;
	case SYS_setsockopt:
		sm_fd_sockopt_set(a[0], a[1], a[2]);
		if (a[1] == IPPROTO_TCP && a[2] == TCP_CORK && a[4] >= 4 &&
		    !sm_copy_in(&sv[0], (const void *)a[3], sizeof(int)))
			sm_hold_cork_applied(a[0], sv[0] != 0);
		else
			sm_hold_sockopt_applied(a[0]);
		break;
	case SYS_socketpair:
		if (!sm_copy_in(sv, (const void *)a[3], sizeof(sv))) {
			sm_fd_born(sv[0], SM_SOCK_FL(a[1]));
			sm_fd_born(sv[1], SM_SOCK_FL(a[1]));
		}
		break;
	default:
		break;
	}
}

struct clone_call {
	int (*fn)(void *);
	void *arg;
};

/* The child's first steps: it runs on a copy of the parent's memory. */
static int clone_child(void *p)
{
	struct clone_call *c = p;

	sm_fork_child();
	return c->fn(c->arg);
}

/*
 * glibc's clone(), returning -errno: without CLONE_VM the child is a process of its own, so
 * it gets a fork's care.  The call struct is on the parent's stack, which
 * the child's copy of memory still holds when it starts.
 */
int sm_clone(int (*fn)(void *), void *stack, int flags, void *arg,
	     void *const opt[3])
{
	struct clone_call c = { fn, arg };
	int ret;

	if (flags & CLONE_VM) {
		ret = sm_real.clone(fn, stack, flags, arg, opt[0], opt[1],
				    opt[2]);
		return ret < 0 ? -errno : ret;
	}
	sm_fork_prepare();
	ret = sm_real.clone(clone_child, stack, flags, &c, opt[0], opt[1],
			    opt[2]);
	if (ret < 0)
		ret = -errno;
	sm_fork_parent();
	return ret;
}
