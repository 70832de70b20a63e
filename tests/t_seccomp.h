/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A seccomp filter that makes some system calls fail as a container's
 * profile or a limit makes them (tests/stream/t_deny.c runs a command under
 * it; the unit tests install it in a forked test).  Header-only: raw BPF,
 * so the tests need no libseccomp.
 */
#ifndef T_SECCOMP_H
#define T_SECCOMP_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define T_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define T_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define T_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define T_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define T_AUDIT_ARCH AUDIT_ARCH_S390X
#elif defined(__riscv) && __riscv_xlen == 64
#define T_AUDIT_ARCH AUDIT_ARCH_RISCV64
#else
#error "t_seccomp.h: add this architecture's AUDIT_ARCH"
#endif

/* The io_uring numbers are the same on every architecture. */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

#define T_BPF_LOAD_NR						\
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define T_BPF_LOAD_ARCH							\
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS,				\
		 offsetof(struct seccomp_data, arch))
#define T_BPF_DENY(nr, err)						\
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),		\
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err))

#ifndef __NR_clone3
#define __NR_clone3 435
#endif

/*
 * io_uring_setup, io_uring_enter and io_uring_register fail with
 * @uring_err (0: allowed); with @threads every new thread fails (clone3
 * ENOSYS, so that glibc falls back to clone, and clone with CLONE_THREAD
 * EAGAIN, as at a thread or pids limit).  0 or -errno (-EINVAL: this
 * kernel has no seccomp filters).
 */
static inline int t_seccomp_deny(unsigned int uring_err, bool threads)
{
	struct sock_filter insns[20], *p = insns;
	struct sock_fprog prog;

	/* Another ABI (x32, i386 on x86_64) has other numbers: a test
	 * wrapper lets those through rather than guess. */
	*p++ = (struct sock_filter)T_BPF_LOAD_ARCH;
	*p++ = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					    T_AUDIT_ARCH, 1, 0);
	*p++ = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					    SECCOMP_RET_ALLOW);
	*p++ = (struct sock_filter)T_BPF_LOAD_NR;
	if (uring_err) {
		struct sock_filter d[] = {
			T_BPF_DENY(__NR_io_uring_setup, uring_err),
			T_BPF_DENY(__NR_io_uring_enter, uring_err),
			T_BPF_DENY(__NR_io_uring_register, uring_err),
		};

		memcpy(p, d, sizeof(d));
		p += sizeof(d) / sizeof(d[0]);
	}
	if (threads) {
		/* clone3's flags are behind a pointer the filter cannot read */
		struct sock_filter d[] = {
			T_BPF_DENY(__NR_clone3, ENOSYS),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
				 offsetof(struct seccomp_data, args[0])),
			BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAGAIN),
		};

		memcpy(p, d, sizeof(d));
		p += sizeof(d) / sizeof(d[0]);
	}
	*p++ = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					    SECCOMP_RET_ALLOW);
	prog.len = p - insns;
	prog.filter = insns;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0))
		return -errno;
	return 0;
}

#endif
