// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * t_deny_uring [--errno EPERM|ENOSYS] -- cmd args...
 *
 * Run a command in which io_uring_setup, io_uring_enter and
 * io_uring_register fail with the given errno (default EPERM), as under a
 * container runtime's seccomp profile (EPERM) or a kernel built without
 * io_uring (ENOSYS).  A raw seccomp filter, so the test needs no
 * libseccomp.  Exit 127 if the command cannot be run, 77 if this kernel
 * has no seccomp filters, 99 on other setup errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

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
#error "t_deny_uring: add this architecture's AUDIT_ARCH"
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

#define T_EXIT_SKIP 77
#define T_EXIT_ERROR 99
#define T_EXIT_NOCMD 127

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
			 offsetof(struct seccomp_data, nr))
#define LOAD_ARCH BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
			   offsetof(struct seccomp_data, arch))
#define DENY(nr, err) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
		      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err))

static int install_filter(unsigned int errno_val)
{
	struct sock_filter insns[] = {
		/* Another ABI (x32, i386 on x86_64) has other numbers: a
		 * test wrapper lets those through rather than guess. */
		LOAD_ARCH,
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, T_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		LOAD_NR,
		DENY(__NR_io_uring_setup, errno_val),
		DENY(__NR_io_uring_enter, errno_val),
		DENY(__NR_io_uring_register, errno_val),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(insns) / sizeof(insns[0]),
		.filter = insns,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0))
		return -errno;
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: t_deny_uring [--errno EPERM|ENOSYS] -- cmd args...\n");
	return T_EXIT_ERROR;
}

int main(int argc, char **argv)
{
	unsigned int errno_val = EPERM;
	int i, err;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--errno") || i + 1 >= argc)
			return usage();
		i++;
		if (!strcmp(argv[i], "EPERM"))
			errno_val = EPERM;
		else if (!strcmp(argv[i], "ENOSYS"))
			errno_val = ENOSYS;
		else
			return usage();
	}
	if (i >= argc)
		return usage();

	err = install_filter(errno_val);
	if (err == -EINVAL) {
		printf("skip: seccomp filters unavailable\n");
		return T_EXIT_SKIP;
	}
	if (err) {
		fprintf(stderr, "t_deny_uring: seccomp: %s\n", strerror(-err));
		return T_EXIT_ERROR;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "t_deny_uring: %s: %s\n", argv[i], strerror(errno));
	return T_EXIT_NOCMD;
}
